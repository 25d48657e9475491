//! One WebSocket connection: frames in (size limit, rate limit, parsing), the hub's messages out.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use signaling_client::protocol::{MAX_FRAME_BYTES, RATE_LIMIT_PER_SEC};
use signaling_client::{ClientMessage, ErrorCode, ServerMessage};

use super::hub::Hub;
use super::rate_limit::{TokenBucket, Verdict};

/// Room for a call's burst of candidates above the sustained rate.
const BURST: u32 = 2 * RATE_LIMIT_PER_SEC;

/// Close codes (RFC 6455).
const GOING_AWAY: u16 = 1001;
const POLICY: u16 = 1008;
const TOO_BIG: u16 = 1009;

/// Writes to the socket are batched: up to this many queued frames per flush.
const WRITE_BATCH: usize = 64;

pub async fn serve(socket: WebSocket, hub: Arc<Hub>) {
    let (client, mut outbox) = hub.join();
    let mut stop = hub.shutdown_signal();
    let (mut sink, mut stream) = socket.split();
    let mut bucket = TokenBucket::new(RATE_LIMIT_PER_SEC, BURST, Instant::now());
    tracing::debug!(client, "connected");
    let close = loop {
        tokio::select! {
            queued = outbox.recv() => {
                let Some(first) = queued else {
                    break Some((POLICY, "too slow to keep up"));
                };
                let mut result = sink.feed(Message::Text(first)).await;
                for _ in 1..WRITE_BATCH {
                    let Ok(next) = outbox.try_recv() else { break };
                    if result.is_err() {
                        break;
                    }
                    result = sink.feed(Message::Text(next)).await;
                }
                if result.is_err() || sink.flush().await.is_err() {
                    break None;
                }
            }
            frame = stream.next() => {
                let frame = match frame {
                    None | Some(Ok(Message::Close(_))) => break None,
                    Some(Err(e)) => {
                        if is_too_big(e) {
                            break Some((TOO_BIG, "frame over 64 KiB"));
                        }
                        break None;
                    }
                    Some(Ok(frame)) => frame,
                };
                let text = match frame {
                    Message::Text(text) => Some(text),
                    Message::Binary(_) => None,
                    Message::Ping(_) | Message::Pong(_) | Message::Close(_) => continue,
                };
                if text.as_ref().is_some_and(|t| t.len() > MAX_FRAME_BYTES) {
                    break Some((TOO_BIG, "frame over 64 KiB"));
                }
                match bucket.check(Instant::now()) {
                    Verdict::Allow => {}
                    Verdict::Drop { notify } => {
                        if notify {
                            hub.send_to(client, ServerMessage::error(
                                ErrorCode::RateLimited,
                                "more than 50 messages a second: the excess is dropped",
                                None,
                            ));
                        }
                        continue;
                    }
                }
                let parsed = match &text {
                    Some(text) => ClientMessage::parse(text),
                    None => Err("binary frames are not part of the protocol; send JSON text".into()),
                };
                match parsed {
                    Ok(message) => hub.handle(client, message),
                    Err(why) => hub.send_to(client, ServerMessage::error(ErrorCode::BadMessage, why, None)),
                }
            }
            _ = stop.changed() => break Some((GOING_AWAY, "server shutting down")),
        }
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = sink.send(Message::Close(Some(frame))).await;
    }
    hub.leave(client);
    tracing::debug!(client, "disconnected");
}

/// tungstenite refuses frames over the configured maximum before we see them.
fn is_too_big(error: axum::Error) -> bool {
    let inner = error.into_inner();
    matches!(
        inner.downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Capacity(_))
    )
}
