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
/// How long a closed connection waits for the client's answering close frame.
const CLOSE_LINGER: std::time::Duration = std::time::Duration::from_secs(1);
/// A batch that cannot be written for this long means a client that stopped reading: close.
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn serve(socket: WebSocket, hub: Arc<Hub>) {
    let limits = hub.limits();
    let (client, mut outbox) = hub.join();
    let mut stop = hub.shutdown_signal();
    let (mut sink, mut stream) = socket.split();
    let mut bucket = TokenBucket::new(RATE_LIMIT_PER_SEC, BURST, Instant::now());
    let register_by = tokio::time::sleep(limits.register_within);
    tokio::pin!(register_by);
    let mut registration_checked = false;
    let mut idle = tokio::time::interval(limits.idle_ping);
    idle.tick().await;
    let mut last_heard = Instant::now();
    let mut flood = Flood::default();
    tracing::debug!(client, "connected");
    let close = loop {
        tokio::select! {
            queued = outbox.recv() => {
                let Some(first) = queued else {
                    break Some((POLICY, "too slow to keep up, or taken over by a newer connection"));
                };
                let write = async {
                    sink.feed(Message::Text(first)).await?;
                    for _ in 1..WRITE_BATCH {
                        let Some(next) = outbox.try_recv() else { break };
                        sink.feed(Message::Text(next)).await?;
                    }
                    sink.flush().await
                };
                match tokio::time::timeout(WRITE_TIMEOUT, write).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break None,
                    Err(_) => {
                        tracing::debug!(client, "not reading: closing");
                        break None;
                    }
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
                let now = Instant::now();
                last_heard = now;
                let text = match frame {
                    Message::Text(text) => Some(text),
                    Message::Binary(_) => None,
                    // Answers to our pings cost nothing; a client's own pings (answered by the
                    // WebSocket layer) count against its rate like any frame.
                    Message::Pong(_) | Message::Close(_) => continue,
                    Message::Ping(_) => {
                        if bucket.check(now) != Verdict::Allow
                            && flood.dropped(now, limits.flood_close_after)
                        {
                            break Some((POLICY, "flooding"));
                        }
                        continue;
                    }
                };
                if text.as_ref().is_some_and(|t| t.len() > MAX_FRAME_BYTES) {
                    break Some((TOO_BIG, "frame over 64 KiB"));
                }
                match bucket.check(now) {
                    Verdict::Allow => {}
                    Verdict::Drop { notify } => {
                        if flood.dropped(now, limits.flood_close_after) {
                            break Some((POLICY, "flooding"));
                        }
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
            _ = &mut register_by, if !registration_checked => {
                registration_checked = true;
                if !hub.is_registered(client) {
                    break Some((POLICY, "not registered in time"));
                }
            }
            _ = idle.tick() => {
                let silent = last_heard.elapsed();
                if silent >= limits.idle_ping * 3 {
                    tracing::debug!(client, ?silent, "silent client: closing");
                    break None;
                }
                if silent >= limits.idle_ping
                    && sink.send(Message::Ping(Default::default())).await.is_err()
                {
                    break None;
                }
            }
            _ = stop.changed() => break Some((GOING_AWAY, "server shutting down")),
        }
    };
    hub.leave(client);
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        if sink.send(Message::Close(Some(frame))).await.is_ok() {
            // Read on until the client answers the close (briefly): a socket closed with
            // unread frames in it resets the connection, and the client never sees why.
            let drain = async {
                while let Some(Ok(m)) = stream.next().await {
                    if matches!(m, Message::Close(_)) {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(CLOSE_LINGER, drain).await;
        }
    }
    tracing::debug!(client, "disconnected");
}

/// How long a client has been over its rate: since the first drop with no drop-free second
/// after it.
#[derive(Default)]
struct Flood {
    since: Option<Instant>,
    last_drop: Option<Instant>,
}

impl Flood {
    /// A frame was dropped now; true once that has gone on for `allowed`.
    fn dropped(&mut self, now: Instant, allowed: std::time::Duration) -> bool {
        let second = std::time::Duration::from_secs(1);
        if self
            .last_drop
            .is_none_or(|t| now.saturating_duration_since(t) > second)
        {
            self.since = Some(now);
        }
        self.last_drop = Some(now);
        self.since
            .is_some_and(|since| now.saturating_duration_since(since) >= allowed)
    }
}

/// tungstenite refuses frames over the configured maximum before we see them.
fn is_too_big(error: axum::Error) -> bool {
    let inner = error.into_inner();
    matches!(
        inner.downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Capacity(_))
    )
}
