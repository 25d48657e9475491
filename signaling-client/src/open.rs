//! From a kind and an address to a transport: one place for the command line and the window.

use std::sync::Arc;

use crate::kind::SignalingKind;
use crate::manual::ManualSignaling;
use crate::signaling::{Signaling, SignalingError};
use crate::tls::TlsTrust;
use crate::ws::{WsOptions, WsSignaling};
use crate::{
    CallCodeSignaling, SocketIo1v1Signaling, SocketIoMeshSignaling, SocketIoRoomSignaling,
};

/// Where and how to signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub kind: SignalingKind,
    /// The server's address (unused by [`SignalingKind::Manual`]).
    pub server: String,
    /// The room a socket.io 1-to-1 server lists us in.
    pub room: Option<String>,
    pub tls: TlsTrust,
}

/// An open transport. Copy-paste signaling is kept by its own type too: whoever runs it shows
/// the line to copy and hands over what was pasted.
pub enum Opened {
    Server(Arc<dyn Signaling>),
    Manual(Arc<ManualSignaling>),
}

impl Opened {
    pub fn signaling(&self) -> Arc<dyn Signaling> {
        match self {
            Opened::Server(s) => s.clone(),
            Opened::Manual(m) => m.clone(),
        }
    }
}

impl Endpoint {
    /// The problem with this endpoint, in words, before anything is tried.
    pub fn problem(&self) -> Option<String> {
        let server = self.server.trim();
        let schemes: &[&str] = match self.kind {
            SignalingKind::Manual => return None,
            SignalingKind::Peercall => &["ws://", "wss://"],
            _ => &["http://", "https://"],
        };
        if !schemes.iter().any(|s| server.starts_with(s)) {
            return Some(format!(
                "a {} server's address starts with {}",
                self.kind,
                schemes.join(" or ")
            ));
        }
        if self.kind == SignalingKind::SocketIo1v1
            && self.room.as_deref().is_none_or(|r| r.trim().is_empty())
        {
            return Some(
                "a socketio-1v1 server needs a room to join (--room, or Room in the settings)"
                    .into(),
            );
        }
        None
    }

    /// Connects (peercall's own server) or prepares (the others connect per call, or on
    /// registration).
    pub async fn open(&self) -> Result<Opened, SignalingError> {
        if let Some(problem) = self.problem() {
            return Err(SignalingError::Misconfigured(problem));
        }
        let server = self.server.trim();
        let tls = self.tls;
        Ok(match self.kind {
            SignalingKind::Peercall => {
                let options = WsOptions {
                    tls,
                    ..WsOptions::default()
                };
                Opened::Server(Arc::new(WsSignaling::connect(server, options).await?))
            }
            SignalingKind::CallCode => {
                Opened::Server(Arc::new(CallCodeSignaling::new(server, tls)?))
            }
            SignalingKind::SocketIoRoom => {
                Opened::Server(Arc::new(SocketIoRoomSignaling::new(server, tls)?))
            }
            SignalingKind::SocketIo1v1 => {
                let room = self.room.as_deref().unwrap_or_default().trim();
                Opened::Server(Arc::new(SocketIo1v1Signaling::new(server, room, tls)?))
            }
            SignalingKind::SocketIoMesh => {
                Opened::Server(Arc::new(SocketIoMeshSignaling::new(server, tls)?))
            }
            SignalingKind::Manual => Opened::Manual(Arc::new(ManualSignaling::new())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(kind: SignalingKind, server: &str, room: Option<&str>) -> Endpoint {
        Endpoint {
            kind,
            server: server.into(),
            room: room.map(str::to_string),
            tls: TlsTrust::default(),
        }
    }

    #[test]
    fn each_kind_names_what_its_address_needs() {
        use SignalingKind::*;
        assert_eq!(endpoint(Peercall, "wss://x/ws", None).problem(), None);
        assert!(endpoint(Peercall, "http://x", None)
            .problem()
            .unwrap()
            .contains("ws://"));
        assert_eq!(endpoint(CallCode, "http://x/call", None).problem(), None);
        assert!(endpoint(SocketIoRoom, "ws://x", None)
            .problem()
            .unwrap()
            .contains("http://"));
        assert!(endpoint(SocketIo1v1, "http://x", Some(" "))
            .problem()
            .unwrap()
            .contains("room"));
        assert_eq!(endpoint(SocketIo1v1, "http://x", Some("r")).problem(), None);
        assert_eq!(endpoint(Manual, "", None).problem(), None);
    }

    #[tokio::test]
    async fn a_bad_address_is_refused_before_anything_is_tried() {
        let opened = endpoint(SignalingKind::CallCode, "ftp://x", None)
            .open()
            .await;
        assert!(matches!(opened, Err(SignalingError::Misconfigured(_))));
    }
}
