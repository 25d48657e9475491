//! socket.io signaling servers people already run (see `docs/transports.md`):
//!
//! - [`engine_io`]: Engine.IO v3 / v4 and socket.io framing, pure; [`client`] runs it over a
//!   WebSocket.
//! - [`room`]: the rules of rooms of two (`create or join`, `message`), pure;
//!   [`room_transport`] is the [`crate::Signaling`] transport built on them
//!   ([`SocketIoRoomSignaling`]): one socket.io connection per call.
//! - [`one_to_one`]: the rules of 1-to-1 servers with a user list (`join`, `apply`, `reply`,
//!   `1v1offer`…), pure; [`one_to_one_transport`] is [`SocketIo1v1Signaling`]: one
//!   socket.io v3 connection for the session.
//! - [`mesh`]: the rules of mesh rooms (`room`, `new`, `webrtc`, `leave`), pure;
//!   [`mesh_transport`] is [`SocketIoMeshSignaling`]: one connection per visit to a room.

pub mod client;
pub mod engine_io;
pub mod mesh;
pub mod mesh_transport;
pub mod one_to_one;
pub mod one_to_one_transport;
pub mod room;
pub mod room_transport;

pub use mesh_transport::SocketIoMeshSignaling;
pub use one_to_one_transport::SocketIo1v1Signaling;
pub use room_transport::SocketIoRoomSignaling;

use serde_json::Value;
use tokio::sync::mpsc;

use crate::presence::Presence;
use crate::signaling::SignalingEvent;

/// What a dialect's rules ask for: an event for the server (name, its one argument), or one
/// for the call engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Emit(&'static str, Value),
    Event(SignalingEvent),
    /// The others online now, in full (for the dialects that list them).
    Presence(Vec<String>),
}

/// The connection to the server is gone.
pub(crate) struct Gone;

/// A transport's way to its session task: empty until a session runs, emptied to end it.
pub(crate) struct CommandSlot<C>(std::sync::Mutex<Option<mpsc::Sender<C>>>);

impl<C> Default for CommandSlot<C> {
    fn default() -> Self {
        CommandSlot(std::sync::Mutex::new(None))
    }
}

impl<C> CommandSlot<C> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<mpsc::Sender<C>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set(&self, commands: mpsc::Sender<C>) {
        *self.lock() = Some(commands);
    }

    /// Drops the way in: the session task ends.
    pub(crate) fn clear(&self) {
        self.lock().take();
    }

    /// Queues `command`; refused when no session runs or its queue is full.
    pub(crate) fn send(&self, command: C) -> Result<(), crate::SignalingError> {
        let commands = self.lock();
        let commands = commands
            .as_ref()
            .ok_or(crate::SignalingError::NotConnected)?;
        commands
            .try_send(command)
            .map_err(|_| crate::SignalingError::NotConnected)
    }
}

/// Carries `outs` out in order: emits to the server, events to the engine (each shown to
/// `seen` first), the list of who is online to `presence`.
pub(crate) async fn deliver(
    outs: Vec<Out>,
    outgoing: &client::Outgoing,
    events: &mpsc::Sender<SignalingEvent>,
    presence: Option<&Presence>,
    mut seen: impl FnMut(&SignalingEvent),
) -> Result<(), Gone> {
    for out in outs {
        match out {
            Out::Emit(name, arg) => outgoing
                .send((name.to_string(), vec![arg]))
                .await
                .map_err(|_| Gone)?,
            Out::Event(event) => {
                seen(&event);
                let _ = events.send(event).await;
            }
            Out::Presence(peers) => {
                if let Some(presence) = presence {
                    presence.replace(peers);
                }
            }
        }
    }
    Ok(())
}
