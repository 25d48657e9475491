//! A socket.io connection over WebSocket: [`super::engine_io`]'s rules with a socket and a clock.
//! Events to emit go in on a channel; what the server says comes out on another. Dropping the
//! sender closes the connection (that is how a call leaves its room).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;

use super::engine_io::{Session, Step, Version};
use crate::signaling::SignalingError;
use crate::tls::TlsTrust;

/// A frame from a signaling server, at most (an SDP is a few KiB).
const MAX_FRAME_BYTES: usize = 1024 * 1024;
/// Events waiting to go out, or for the consumer, at most.
const QUEUE: usize = 256;
/// Connecting, at most.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Connected,
    Event {
        name: String,
        args: Vec<Value>,
    },
    /// The connection is over, in words.
    Closed(String),
}

/// Events to emit: (name, arguments).
pub type Outgoing = mpsc::Sender<(String, Vec<Value>)>;

/// `http(s)://host:port[/…]` (or `ws(s)://`) → the server's socket.io WebSocket endpoint.
pub fn endpoint(base: &str, version: Version) -> Result<String, SignalingError> {
    let bad = || SignalingError::BadUrl(base.to_string());
    let mut url = url::Url::parse(base).map_err(|_| bad())?;
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return Err(bad()),
    };
    url.set_scheme(scheme).map_err(|_| bad())?;
    url.set_path("/socket.io/");
    url.set_query(Some(&format!("EIO={}&transport=websocket", version.eio())));
    Ok(url.to_string())
}

/// Opens the connection; the task behind it runs until the server or we close it.
pub async fn connect(
    base: &str,
    version: Version,
    trust: TlsTrust,
) -> Result<(Outgoing, mpsc::Receiver<Incoming>), SignalingError> {
    let url = endpoint(base, version)?;
    let mut config = WebSocketConfig::default();
    config.max_frame_size = Some(MAX_FRAME_BYTES);
    config.max_message_size = Some(MAX_FRAME_BYTES);
    let connector = trust.client_config().map(Connector::Rustls);
    let unreachable = |reason: String| SignalingError::Unreachable {
        url: base.to_string(),
        reason,
    };
    let (socket, _) = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::connect_async_tls_with_config(&url, Some(config), true, connector),
    )
    .await
    .map_err(|_| unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))?
    .map_err(|e| unreachable(e.to_string()))?;
    let (out_tx, out_rx) = mpsc::channel(QUEUE);
    let (in_tx, in_rx) = mpsc::channel(QUEUE);
    tokio::spawn(run(socket, version, out_rx, in_tx));
    Ok((out_tx, in_rx))
}

async fn run<S>(
    socket: tokio_tungstenite::WebSocketStream<S>,
    version: Version,
    mut outgoing: mpsc::Receiver<(String, Vec<Value>)>,
    incoming: mpsc::Sender<Incoming>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = socket.split();
    let mut session = Session::new(version, Instant::now());
    loop {
        let steps = tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => session.frame(&text, Instant::now()),
                Some(Ok(Message::Close(_))) | None => {
                    vec![Step::Closed("the server closed the connection".into())]
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => vec![Step::Closed(format!("the connection broke: {e}"))],
            },
            command = outgoing.recv() => match command {
                Some((name, args)) => session.emit(&name, &args),
                None => {
                    let _ = sink.send(Message::Close(None)).await;
                    return;
                }
            },
            _ = tokio::time::sleep_until(session.next_tick().into()) => session.tick(Instant::now()),
        };
        for step in steps {
            let event = match step {
                Step::Send(frame) => {
                    if let Err(e) = sink.send(Message::Text(frame.into())).await {
                        let _ = incoming
                            .send(Incoming::Closed(format!("the connection broke: {e}")))
                            .await;
                        return;
                    }
                    continue;
                }
                Step::Connected => Incoming::Connected,
                Step::Event { name, args } => Incoming::Event { name, args },
                Step::Closed(why) => {
                    let _ = incoming.send(Incoming::Closed(why)).await;
                    let _ = sink.send(Message::Close(None)).await;
                    return;
                }
            };
            if incoming.send(event).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_of_both_versions() {
        assert_eq!(
            endpoint("https://h:8443", Version::V4).unwrap(),
            "wss://h:8443/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            endpoint("http://h:3000/app", Version::V3).unwrap(),
            "ws://h:3000/socket.io/?EIO=3&transport=websocket"
        );
        assert!(endpoint("ftp://h", Version::V4).is_err());
        assert!(endpoint("nonsense", Version::V4).is_err());
    }
}
