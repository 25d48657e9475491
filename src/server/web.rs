//! HTTP routes: the WebSocket endpoint, a health check, and the browser client page.

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use signaling_client::protocol::{MAX_FRAME_BYTES, PROTOCOL_VERSION};

use super::connection;
use super::hub::Hub;

const INDEX_HTML: &str = include_str!("../../assets/web/index.html");

pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/health", get(health))
        .route("/ws", get(upgrade))
        .with_state(hub)
}

async fn index() -> Html<&'static str> {
    Html(INDEX_HTML)
}

async fn health(State(hub): State<Arc<Hub>>) -> impl IntoResponse {
    let (peers, calls) = hub.counts();
    Json(serde_json::json!({
        "status": "ok",
        "protocol": PROTOCOL_VERSION,
        "peers": peers,
        "calls": calls,
    }))
}

async fn upgrade(ws: WebSocketUpgrade, State(hub): State<Arc<Hub>>) -> impl IntoResponse {
    ws.max_frame_size(MAX_FRAME_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| connection::serve(socket, hub))
}
