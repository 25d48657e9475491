//! HTTP routes: the WebSocket endpoint, a health check, and the browser client (`assets/web/`,
//! embedded in the binary so `peercall serve` and the app's embedded server need no files).

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use signaling_client::protocol::{MAX_FRAME_BYTES, PROTOCOL_VERSION};

use super::connection;
use super::hub::Hub;

/// The browser client's files: (URL path, content type, body).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../../assets/web/index.html"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/web/style.css"),
    ),
    (
        "/signaling.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/signaling.js"),
    ),
    (
        "/media.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/media.js"),
    ),
    (
        "/files.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/files.js"),
    ),
    (
        "/call.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/call.js"),
    ),
    (
        "/ui.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/ui.js"),
    ),
    (
        "/room.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/room.js"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/app.js"),
    ),
];

const READ_BUFFER: usize = 4 * 1024;
const WRITE_BUFFER: usize = 8 * 1024;

pub fn router(hub: Arc<Hub>) -> Router {
    let mut router = Router::new();
    for &(path, content_type, body) in ASSETS {
        router = router.route(
            path,
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, content_type),
                        // Small files, rebuilt with the binary: always fetch the current ones.
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    body,
                )
            }),
        );
    }
    router
        .route("/health", get(health))
        .route("/ws", get(upgrade))
        .with_state(hub)
}

async fn health(State(hub): State<Arc<Hub>>) -> impl IntoResponse {
    let (peers, calls, rooms) = hub.counts();
    Json(serde_json::json!({
        "status": "ok",
        "protocol": PROTOCOL_VERSION,
        "peers": peers,
        "calls": calls,
        "rooms": rooms,
    }))
}

async fn upgrade(ws: WebSocketUpgrade, State(hub): State<Arc<Hub>>) -> Response {
    if hub.connections() >= hub.limits().max_connections {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many connections; try again later",
        )
            .into_response();
    }
    // Small buffers: most connections are idle, and 128 KiB each (the default) would make 10 000
    // of them cost gigabytes. Frames up to the 64 KiB limit still arrive whole.
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_frame_size(MAX_FRAME_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| connection::serve(socket, hub))
        .into_response()
}
