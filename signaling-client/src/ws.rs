//! `WsSignaling`: the protocol over a WebSocket (`ws://` or `wss://`) to a peercall server.
//!
//! One task owns the socket: commands come in on a channel, server messages go out as events.
//! When the socket is lost the task reports `Disconnected`, reconnects with exponential backoff,
//! registers the same ID again and reports `Reconnected`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::presence::{Presence, PresenceWatch};
use crate::protocol::{
    ClientMessage, ErrorCode, ServerMessage, MAX_SERVER_FRAME_BYTES, PROTOCOL_VERSION,
};
use crate::signaling::{
    Registration, Signaling, SignalingError, SignalingEvent, SignalingEvents, EVENT_QUEUE,
};
use crate::tls::TlsTrust;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How the transport behaves when the server goes away.
#[derive(Debug, Clone)]
pub struct WsOptions {
    pub reconnect: bool,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// A ping this often keeps NAT bindings open and finds a dead server.
    pub ping_interval: Duration,
    /// Which `wss://` certificates to accept (a LAN server's is often self-signed).
    pub tls: TlsTrust,
    /// How long a [`Signaling::probe`] waits for the server to answer before the connection
    /// counts as dead. Short: a live connection found dead costs only a reconnect that takes
    /// its registration over (`resume`).
    pub probe_timeout: Duration,
}

impl Default for WsOptions {
    fn default() -> Self {
        WsOptions {
            reconnect: true,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            ping_interval: Duration::from_secs(15),
            tls: TlsTrust::WebPki,
            probe_timeout: Duration::from_secs(1),
        }
    }
}

type PendingRegister = oneshot::Sender<Result<Registration, SignalingError>>;

#[derive(Default)]
struct Shared {
    connected: AtomicBool,
    /// The ID to take again after a reconnect.
    id: Mutex<Option<String>>,
    /// The server's secret for taking our registration over from a new connection.
    resume: Mutex<Option<String>>,
    /// Set by [`Signaling::probe`]: check the connection now.
    probe: tokio::sync::Notify,
    pending_register: Mutex<Option<PendingRegister>>,
    presence: Presence,
}

impl Shared {
    fn take_pending(&self) -> Option<PendingRegister> {
        self.pending_register
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

pub struct WsSignaling {
    commands: mpsc::Sender<ClientMessage>,
    events: Mutex<Option<SignalingEvents>>,
    shared: Arc<Shared>,
}

impl WsSignaling {
    /// Opens the socket; fails at once when the server cannot be reached.
    pub async fn connect(url: &str, options: WsOptions) -> Result<WsSignaling, SignalingError> {
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(SignalingError::BadUrl(url.to_string()));
        }
        let socket = open(url, options.tls).await?;
        let (commands, command_rx) = mpsc::channel(256);
        let (event_tx, event_rx) = mpsc::channel(EVENT_QUEUE);
        let shared = Arc::new(Shared::default());
        shared.connected.store(true, Ordering::SeqCst);
        tokio::spawn(run(
            url.to_string(),
            options,
            socket,
            command_rx,
            event_tx,
            shared.clone(),
        ));
        Ok(WsSignaling {
            commands,
            events: Mutex::new(Some(event_rx)),
            shared,
        })
    }

    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Signaling for WsSignaling {
    async fn register(&self, id: Option<String>) -> Result<Registration, SignalingError> {
        let (tx, rx) = oneshot::channel();
        *self
            .shared
            .pending_register
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(tx);
        // Rooms are ours to join: version 2.
        self.send(ClientMessage::Register {
            id,
            protocol: Some(PROTOCOL_VERSION),
        })
        .await?;
        let registration = rx.await.map_err(|_| SignalingError::NotConnected)??;
        *self.shared.id.lock().unwrap_or_else(|p| p.into_inner()) = Some(registration.id.clone());
        Ok(registration)
    }

    async fn send(&self, message: ClientMessage) -> Result<(), SignalingError> {
        if !self.is_connected() {
            return Err(SignalingError::NotConnected);
        }
        self.commands
            .send(message)
            .await
            .map_err(|_| SignalingError::NotConnected)
    }

    fn take_events(&self) -> Option<SignalingEvents> {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn presence(&self) -> Option<PresenceWatch> {
        Some(self.shared.presence.watch())
    }

    fn probe(&self) {
        if self.is_connected() {
            self.shared.probe.notify_one();
        }
    }
}

async fn open(url: &str, trust: TlsTrust) -> Result<Socket, SignalingError> {
    let mut config = WebSocketConfig::default();
    config.max_frame_size = Some(MAX_SERVER_FRAME_BYTES);
    config.max_message_size = Some(MAX_SERVER_FRAME_BYTES);
    // `None` keeps tokio-tungstenite's own choice (WebPKI roots for wss://).
    let connector = trust.client_config().map(Connector::Rustls);
    let (socket, _) =
        tokio_tungstenite::connect_async_tls_with_config(url, Some(config), true, connector)
            .await
            .map_err(|e| SignalingError::Unreachable {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
    Ok(socket)
}

/// Credentials that work for `ttl_secs` are renewed after three quarters of it (10 s at least,
/// so a server handing out very short ones is not asked in a loop).
fn refresh_after(ttl_secs: u64) -> Duration {
    Duration::from_secs(ttl_secs * 3 / 4).max(Duration::from_secs(10))
}

/// Sleeps until `at`; never wakes without one.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Why [`pump`] returned.
enum Ended {
    /// The `WsSignaling` was dropped.
    Dropped,
    Lost(String),
}

async fn run(
    url: String,
    options: WsOptions,
    first: Socket,
    mut commands: mpsc::Receiver<ClientMessage>,
    events: mpsc::Sender<SignalingEvent>,
    shared: Arc<Shared>,
) {
    let mut socket = Some(first);
    let mut rejoining = false;
    loop {
        let ws = match socket.take() {
            Some(ws) => ws,
            None => match reconnect(&url, &options, &mut commands).await {
                Some(ws) => ws,
                None => return,
            },
        };
        let again = shared.id.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match pump(
            ws,
            &options,
            &mut commands,
            &events,
            &shared,
            rejoining,
            again,
        )
        .await
        {
            Ended::Dropped => return,
            Ended::Lost(reason) => {
                shared.connected.store(false, Ordering::SeqCst);
                shared.presence.clear();
                if let Some(pending) = shared.take_pending() {
                    let _ = pending.send(Err(SignalingError::NotConnected));
                }
                tracing::info!(%reason, "signaling connection lost");
                if events
                    .send(SignalingEvent::Disconnected { reason })
                    .await
                    .is_err()
                    || !options.reconnect
                {
                    return;
                }
                rejoining = true;
            }
        }
    }
}

/// Tries again with exponential backoff until it connects or the owner is dropped.
async fn reconnect(
    url: &str,
    options: &WsOptions,
    commands: &mut mpsc::Receiver<ClientMessage>,
) -> Option<Socket> {
    let mut backoff = options.backoff_min;
    loop {
        tokio::select! {
            command = commands.recv() => {
                // Sends while disconnected are refused up front; one that raced in is stale.
                command.as_ref()?;
                continue;
            }
            _ = tokio::time::sleep(backoff) => {}
        }
        match open(url, options.tls).await {
            Ok(ws) => return Some(ws),
            Err(e) => {
                tracing::debug!(error = %e, ?backoff, "reconnect failed");
                backoff = (backoff * 2).min(options.backoff_max);
            }
        }
    }
}

async fn pump(
    mut ws: Socket,
    options: &WsOptions,
    commands: &mut mpsc::Receiver<ClientMessage>,
    events: &mpsc::Sender<SignalingEvent>,
    shared: &Shared,
    mut rejoining: bool,
    id: Option<String>,
) -> Ended {
    if rejoining {
        let token = shared
            .resume
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // With the server's secret, our calls and room carry over to this connection even if
        // the server has not yet noticed the old one is dead.
        let register = match (id.clone(), token) {
            (Some(id), Some(token)) => ClientMessage::Resume {
                id,
                token,
                protocol: Some(PROTOCOL_VERSION),
            },
            (id, _) => ClientMessage::Register {
                id,
                protocol: Some(PROTOCOL_VERSION),
            },
        };
        if let Err(e) = ws.send(Message::text(register.to_json())).await {
            return Ended::Lost(e.to_string());
        }
    }
    let mut ping = tokio::time::interval(options.ping_interval);
    ping.tick().await;
    let mut since_last_frame = 0u32;
    // When to ask for fresh TURN credentials (before the server's expire).
    let mut refresh_at: Option<tokio::time::Instant> = None;
    // A probe is out: the server must have said something by then.
    let mut probe_deadline: Option<tokio::time::Instant> = None;
    loop {
        let refresh = sleep_until(refresh_at);
        let probe_expired = sleep_until(probe_deadline);
        tokio::select! {
            () = shared.probe.notified(), if probe_deadline.is_none() => {
                probe_deadline = Some(tokio::time::Instant::now() + options.probe_timeout);
                if let Err(e) = ws.send(Message::Ping(Default::default())).await {
                    return Ended::Lost(e.to_string());
                }
            }
            () = probe_expired => {
                return Ended::Lost(format!(
                    "the server did not answer within {:?} (the network changed?)",
                    options.probe_timeout
                ));
            }
            () = refresh => {
                refresh_at = None;
                if let Err(e) = ws.send(Message::text(ClientMessage::RefreshIce.to_json())).await {
                    return Ended::Lost(e.to_string());
                }
            }
            command = commands.recv() => {
                let Some(command) = command else {
                    let _ = ws.close(None).await;
                    return Ended::Dropped;
                };
                if let Err(e) = ws.send(Message::text(command.to_json())).await {
                    return Ended::Lost(e.to_string());
                }
            }
            _ = ping.tick() => {
                since_last_frame += 1;
                // Three intervals without a frame (pongs included): the server is gone.
                if since_last_frame > 3 {
                    return Ended::Lost("the server stopped answering".into());
                }
                if let Err(e) = ws.send(Message::Ping(Default::default())).await {
                    return Ended::Lost(e.to_string());
                }
            }
            frame = ws.next() => {
                since_last_frame = 0;
                probe_deadline = None;
                let text = match frame {
                    None => return Ended::Lost("the server closed the connection".into()),
                    Some(Err(e)) => return Ended::Lost(e.to_string()),
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => {
                        let why = frame.map(|f| format!("closed by the server: {} {}", u16::from(f.code), f.reason))
                            .unwrap_or_else(|| "closed by the server".into());
                        return Ended::Lost(why);
                    }
                    Some(Ok(_)) => continue,
                };
                let message = match ServerMessage::parse(&text) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "ignoring a server message we do not understand");
                        continue;
                    }
                };
                if let ServerMessage::Registered { ice_ttl: Some(ttl), .. }
                | ServerMessage::IceServers { ice_ttl: Some(ttl), .. } = &message
                {
                    refresh_at = Some(tokio::time::Instant::now() + refresh_after(*ttl));
                }
                let event = match message {
                    ServerMessage::Registered { id, ice_servers, resume, .. } => {
                        *shared.resume.lock().unwrap_or_else(|p| p.into_inner()) = resume;
                        let registration = Registration { id, ice_servers };
                        if let Some(pending) = shared.take_pending() {
                            let _ = pending.send(Ok(registration.clone()));
                        }
                        if rejoining {
                            rejoining = false;
                            shared.connected.store(true, Ordering::SeqCst);
                            SignalingEvent::Reconnected(registration)
                        } else {
                            SignalingEvent::Registered(registration)
                        }
                    }
                    ServerMessage::Error { code, message, call_id: None, .. }
                        if matches!(code, ErrorCode::IdTaken | ErrorCode::InvalidId | ErrorCode::BadMessage) || rejoining =>
                    {
                        if rejoining {
                            // The old connection may not have been noticed as gone yet: retry.
                            return Ended::Lost(format!("could not register again: {message}"));
                        }
                        if let Some(pending) = shared.take_pending() {
                            let _ = pending.send(Err(SignalingError::Refused { code, message: message.clone() }));
                        }
                        SignalingEvent::Error { code, message, call_id: None, room: None }
                    }
                    other => match shared.presence.take(other).and_then(SignalingEvent::from_server) {
                        Some(event) => event,
                        None => continue,
                    },
                };
                if events.send(event).await.is_err() {
                    let _ = ws.close(None).await;
                    return Ended::Dropped;
                }
            }
        }
    }
}
