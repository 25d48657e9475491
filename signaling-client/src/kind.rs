//! Which kind of signaling server a peer talks to: peercall's own, or one of the designs people
//! already run. The command line and the settings name them; each maps to a transport.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignalingKind {
    /// A peercall server over WebSocket: presence, ringing, decline, busy.
    #[default]
    Peercall,
    /// An HTTP call-code server (`webrtc_call`): both sides dial the same code.
    CallCode,
    /// A socket.io room of two (`webrtc_primer`): both sides dial the same room.
    SocketIoRoom,
    /// A socket.io 1-to-1 server with a user list (socket.io 1.x/2.x too): dial an account.
    SocketIo1v1,
    /// A socket.io mesh-room server (the mesh demos): join a room, a group call.
    SocketIoMesh,
    /// No server: a line copied each way by the people calling.
    Manual,
}

impl SignalingKind {
    pub const ALL: [SignalingKind; 6] = [
        SignalingKind::Peercall,
        SignalingKind::CallCode,
        SignalingKind::SocketIoRoom,
        SignalingKind::SocketIo1v1,
        SignalingKind::SocketIoMesh,
        SignalingKind::Manual,
    ];

    /// The name on the command line and in the settings.
    pub fn name(self) -> &'static str {
        match self {
            SignalingKind::Peercall => "peercall",
            SignalingKind::CallCode => "webrtc-call",
            SignalingKind::SocketIoRoom => "socketio-room",
            SignalingKind::SocketIo1v1 => "socketio-1v1",
            SignalingKind::SocketIoMesh => "socketio-mesh",
            SignalingKind::Manual => "manual",
        }
    }

    /// What the user dials through it.
    pub fn dials(self) -> &'static str {
        match self {
            SignalingKind::Peercall => "a peer ID",
            SignalingKind::CallCode => "a call code (both sides dial the same)",
            SignalingKind::SocketIoRoom => "a room name (both sides dial the same)",
            SignalingKind::SocketIo1v1 => "an account in the room",
            SignalingKind::SocketIoMesh => "nobody: join a room, everyone in it is in the call",
            SignalingKind::Manual => "nobody: copy your line to the other side, paste theirs",
        }
    }

    /// How long a call set up through it may take to connect (`None`: the engine's default).
    /// People copying lines by hand take minutes, not seconds.
    pub fn setup_patience(self) -> Option<Duration> {
        match self {
            SignalingKind::Manual => Some(Duration::from_secs(600)),
            _ => None,
        }
    }

    /// Whether a lost server connection comes back by itself: peercall's reconnects, and
    /// the call-code and room transports connect per call anyway. A socket.io 1-to-1 session
    /// (our place in the user list) has to be opened again.
    pub fn resumes_by_itself(self) -> bool {
        self != SignalingKind::SocketIo1v1
    }

    /// Whether its calls are rooms joined by name (`--room`), not dialled.
    pub fn has_rooms(self) -> bool {
        matches!(self, SignalingKind::Peercall | SignalingKind::SocketIoMesh)
    }

    /// Whether it uses a server address at all.
    pub fn has_server(self) -> bool {
        self != SignalingKind::Manual
    }
}

impl fmt::Display for SignalingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SignalingKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        SignalingKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = SignalingKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown signaling {s:?}: use one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for kind in SignalingKind::ALL {
            assert_eq!(kind.name().parse::<SignalingKind>(), Ok(kind));
        }
        assert!("carrier-pigeon".parse::<SignalingKind>().is_err());
    }
}
