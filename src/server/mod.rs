//! The signaling server, in small layers (as tokio's mini-redis):
//!
//! - [`web`]: HTTP routes (`/ws`, `/health`, `/` the browser client);
//! - [`connection`]: one WebSocket: size and rate limits, parsing, writing;
//! - [`hub`]: shared state: the protocol's `Switchboard` plus an outbox per connection;
//! - [`outbox`]: one connection's frames waiting to be written, bounded in frames and bytes;
//! - [`limits`]: what one connection, and the server, may take;
//! - [`rate_limit`]: the per-connection token bucket;
//! - [`tls`]: optional HTTPS/WSS on the same port (self-signed or PEM files).
//!
//! A frame flows connection → hub (switchboard decides) → the outboxes of the recipients →
//! their connections.

pub(crate) mod connection;
pub(crate) mod hub;
pub mod limits;
pub(crate) mod outbox;
pub(crate) mod rate_limit;
pub mod tls;
pub(crate) mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use signaling_client::protocol::RING_TIMEOUT_SECS;
use signaling_client::switchboard::TurnConfig;
use signaling_client::{IceServer, SwitchboardConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use hub::Hub;
pub use limits::Limits;
use tls::{TlsIdentity, TlsListener};

pub const DEFAULT_BIND: &str = "0.0.0.0:8480";

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    pub ice_servers: Vec<IceServer>,
    /// TURN servers sharing a secret with us: each client gets its own expiring credentials.
    pub turn: Option<TurnConfig>,
    pub ring_timeout: Duration,
    /// People a room holds at most (`--max-room`).
    pub max_room: usize,
    /// Serve https:// and wss:// with this certificate instead of plain HTTP.
    pub tls: Option<TlsIdentity>,
    pub limits: Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: DEFAULT_BIND.parse().expect("valid default address"),
            ice_servers: Vec::new(),
            turn: None,
            ring_timeout: Duration::from_secs(RING_TIMEOUT_SECS),
            max_room: signaling_client::protocol::DEFAULT_MAX_ROOM,
            tls: None,
            limits: Limits::default(),
        }
    }
}

/// A bound, not yet serving, signaling server.
pub struct Server {
    listener: TcpListener,
    hub: Arc<Hub>,
    tls: Option<TlsIdentity>,
    /// A second address serving the same hub with TLS (the app's embedded server: plain for
    /// this computer, https for browsers on the LAN).
    also_tls: Option<(TcpListener, TlsIdentity)>,
}

impl Server {
    pub async fn bind(config: ServerConfig) -> std::io::Result<Server> {
        let listener = TcpListener::bind(config.bind).await?;
        let hub = Hub::new(
            SwitchboardConfig {
                ice_servers: config.ice_servers,
                turn: config.turn,
                ring_timeout: config.ring_timeout,
                max_room: config.max_room,
            },
            config.limits,
        );
        Ok(Server {
            listener,
            hub,
            tls: config.tls,
            also_tls: None,
        })
    }

    /// Also listens on `bind` with TLS, for the same clients, calls and rooms.
    pub async fn also_tls(
        &mut self,
        bind: SocketAddr,
        identity: TlsIdentity,
    ) -> std::io::Result<()> {
        self.also_tls = Some((TcpListener::bind(bind).await?, identity));
        Ok(())
    }

    /// The TLS address of [`Server::also_tls`].
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.also_tls
            .as_ref()
            .and_then(|(l, _)| l.local_addr().ok())
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The page's address, e.g. `https://127.0.0.1:8480`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme(), self.local_addr())
    }

    /// Serves until `shutdown` completes, then closes every WebSocket (1001) and returns.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let hub = self.hub.clone();
        tokio::spawn(hub.clone().run_ring_timeouts());
        let app = web::router(hub.clone());
        if let Some((tcp, identity)) = self.also_tls {
            let listener = TlsListener::new(tcp, &identity)?;
            let mut stop = hub.shutdown_signal();
            let app = app.clone();
            tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|stopping| *stopping).await;
                };
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await
                {
                    tracing::warn!(error = %e, "the TLS listener stopped");
                }
            });
        }
        let shutdown = async move {
            shutdown.await;
            hub.shut_down();
        };
        match self.tls {
            Some(identity) => {
                let listener = TlsListener::new(self.listener, &identity)?;
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            None => {
                axum::serve(self.listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        }
    }

    /// Serves in the background (tests, the app's embedded server); stops when the handle drops.
    pub fn spawn(self) -> RunningServer {
        let addr = self.local_addr();
        let tls = self.tls.is_some();
        let tls_addr = self.tls_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.serve(async move {
            let _ = stopped.await;
        }));
        RunningServer {
            addr,
            tls,
            tls_addr,
            stop: Some(stop),
            task,
        }
    }
}

pub struct RunningServer {
    pub addr: SocketAddr,
    pub tls: bool,
    /// The second, TLS address ([`Server::also_tls`]).
    pub tls_addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    pub fn ws_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}/ws", self.addr)
    }

    /// The browser client's address.
    pub fn page_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/", self.addr)
    }

    /// Stops accepting, closes every connection, and waits until done.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
