//! The signaling server, in small layers (as tokio's mini-redis):
//!
//! - [`web`]: HTTP routes (`/ws`, `/health`, `/` the browser client);
//! - [`connection`]: one WebSocket: size and rate limits, parsing, writing;
//! - [`hub`]: shared state: the protocol's `Switchboard` plus an outbox per connection;
//! - [`rate_limit`]: the per-connection token bucket.
//!
//! A frame flows connection → hub (switchboard decides) → the outboxes of the recipients →
//! their connections.

pub mod connection;
pub mod hub;
pub mod rate_limit;
pub mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use signaling_client::protocol::RING_TIMEOUT_SECS;
use signaling_client::{IceServer, SwitchboardConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use hub::Hub;

pub const DEFAULT_BIND: &str = "0.0.0.0:8480";

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    pub ice_servers: Vec<IceServer>,
    pub ring_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: DEFAULT_BIND.parse().expect("valid default address"),
            ice_servers: Vec::new(),
            ring_timeout: Duration::from_secs(RING_TIMEOUT_SECS),
        }
    }
}

/// A bound, not yet serving, signaling server.
pub struct Server {
    listener: TcpListener,
    hub: Arc<Hub>,
}

impl Server {
    pub async fn bind(config: ServerConfig) -> std::io::Result<Server> {
        let listener = TcpListener::bind(config.bind).await?;
        let hub = Hub::new(SwitchboardConfig {
            ice_servers: config.ice_servers,
            ring_timeout: config.ring_timeout,
        });
        Ok(Server { listener, hub })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then closes every WebSocket (1001) and returns.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let hub = self.hub.clone();
        tokio::spawn(hub.clone().run_ring_timeouts());
        let app = web::router(hub.clone());
        let result = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                hub.shut_down();
            })
            .await;
        result
    }

    /// Serves in the background (tests, the app's embedded server); stops when the handle drops.
    pub fn spawn(self) -> RunningServer {
        let addr = self.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.serve(async move {
            let _ = stopped.await;
        }));
        RunningServer {
            addr,
            stop: Some(stop),
            task,
        }
    }
}

pub struct RunningServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
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
