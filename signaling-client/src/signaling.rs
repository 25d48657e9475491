//! The `Signaling` trait: what the call engine needs from any transport.

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::ids::random_call_id;
use crate::presence::PresenceWatch;
use crate::protocol::{
    ClientMessage, ErrorCode, HangupReason, IceServer, RejectReason, ServerMessage, SignalData,
};

/// What a successful registration gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub id: String,
    pub ice_servers: Vec<IceServer>,
}

/// Everything that can come from the signaling side, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalingEvent {
    Registered(Registration),
    /// Fresh TURN credentials (the same servers), for connections made from now on.
    IceServers(Vec<IceServer>),
    Incoming {
        from: String,
        call_id: String,
        /// A leg of this room (from a member), or an invitation into it.
        room: Option<String>,
    },
    /// We are in `room`, with these others (earliest first).
    Room {
        room: String,
        members: Vec<String>,
    },
    MemberJoined {
        room: String,
        id: String,
    },
    MemberLeft {
        room: String,
        id: String,
    },
    Accepted {
        from: String,
        call_id: String,
    },
    /// In the call we dialled, the other side makes the offer and we answer it: transports
    /// whose rooms decide who offers by who came first (call codes, socket.io rooms). Stands for
    /// `Accepted` too.
    OfferComing {
        from: String,
        call_id: String,
    },
    Rejected {
        from: String,
        call_id: String,
        reason: RejectReason,
    },
    Signal {
        from: String,
        call_id: String,
        data: SignalData,
    },
    Hangup {
        from: String,
        call_id: String,
        reason: Option<HangupReason>,
    },
    Error {
        code: ErrorCode,
        message: String,
        call_id: Option<String>,
        room: Option<String>,
    },
    /// The transport lost the server; calls through it are over. It is trying to reconnect.
    Disconnected {
        reason: String,
    },
    /// The transport is back and registered again under the same ID.
    Reconnected(Registration),
}

impl SignalingEvent {
    /// The event a server message is for the engine; presence messages are none (they go to
    /// [`crate::presence::Presence`]).
    pub fn from_server(message: ServerMessage) -> Option<Self> {
        Some(match message {
            ServerMessage::Peers { .. }
            | ServerMessage::PeerJoined { .. }
            | ServerMessage::PeerLeft { .. } => return None,
            ServerMessage::IceServers { ice_servers, .. } => {
                SignalingEvent::IceServers(ice_servers)
            }
            ServerMessage::Registered {
                id, ice_servers, ..
            } => SignalingEvent::Registered(Registration { id, ice_servers }),
            ServerMessage::Incoming {
                from,
                call_id,
                room,
            } => SignalingEvent::Incoming {
                from,
                call_id,
                room,
            },
            ServerMessage::Room { room, members } => SignalingEvent::Room { room, members },
            ServerMessage::MemberJoined { room, id } => SignalingEvent::MemberJoined { room, id },
            ServerMessage::MemberLeft { room, id } => SignalingEvent::MemberLeft { room, id },
            ServerMessage::Accepted { from, call_id } => SignalingEvent::Accepted { from, call_id },
            ServerMessage::Rejected {
                from,
                call_id,
                reason,
            } => SignalingEvent::Rejected {
                from,
                call_id,
                reason,
            },
            ServerMessage::Signal {
                from,
                call_id,
                data,
            } => SignalingEvent::Signal {
                from,
                call_id,
                data,
            },
            ServerMessage::Hangup {
                from,
                call_id,
                reason,
            } => SignalingEvent::Hangup {
                from,
                call_id,
                reason,
            },
            ServerMessage::Error {
                code,
                message,
                call_id,
                room,
            } => SignalingEvent::Error {
                code,
                message,
                call_id,
                room,
            },
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignalingError {
    #[error("cannot reach the signaling server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("not connected to the signaling server")]
    NotConnected,
    #[error("the server refused the registration ({code}): {message}")]
    Refused { code: ErrorCode, message: String },
    #[error("invalid server address {0:?}")]
    BadUrl(String),
    /// The choice of transport and address does not fit together (said in words).
    #[error("{0}")]
    Misconfigured(String),
    #[error("signaling protocol error: {0}")]
    Protocol(String),
}

/// Events are handed to one consumer through a bounded channel.
pub type SignalingEvents = mpsc::Receiver<SignalingEvent>;

/// How many events may wait for the consumer before the transport waits (back-pressure).
pub const EVENT_QUEUE: usize = 1024;

/// A way to find peers and exchange call setup with them. Commands are methods; everything the
/// other side says arrives as a [`SignalingEvent`] on the stream from [`Signaling::take_events`].
#[async_trait]
pub trait Signaling: Send + Sync {
    /// Takes `id` (or a generated one when `None`) on the server.
    async fn register(&self, id: Option<String>) -> Result<Registration, SignalingError>;

    /// Sends one protocol message as it is.
    async fn send(&self, message: ClientMessage) -> Result<(), SignalingError>;

    /// The event stream; there is one, so only the first call gets it.
    fn take_events(&self) -> Option<SignalingEvents>;

    /// The network may have changed under us (a call's media path broke): check the connection
    /// to the server now rather than at the next keepalive, and connect again if it is dead.
    /// Transports without a lasting connection have nothing to check.
    fn probe(&self) {}

    /// Who else is online, where the dialect lists them (`None`: it has no such list).
    fn presence(&self) -> Option<PresenceWatch> {
        None
    }

    /// The label of a data channel this dialect's own clients chat on in plain text (the
    /// caller opens it instead of `system_channel`, so mute states do not cross: the dialect
    /// has none); `None`: chat travels as control messages on `system_channel`.
    fn chat_channel(&self) -> Option<&'static str> {
        None
    }

    /// Rings `to` under a fresh random call ID, which is returned.
    async fn dial(&self, to: &str) -> Result<String, SignalingError> {
        let call_id = random_call_id();
        self.send(ClientMessage::Call {
            to: to.to_string(),
            call_id: call_id.clone(),
            room: None,
        })
        .await?;
        Ok(call_id)
    }

    async fn accept(&self, call_id: &str) -> Result<(), SignalingError> {
        self.send(ClientMessage::Accept {
            call_id: call_id.to_string(),
        })
        .await
    }

    async fn reject(&self, call_id: &str, reason: RejectReason) -> Result<(), SignalingError> {
        self.send(ClientMessage::Reject {
            call_id: call_id.to_string(),
            reason,
        })
        .await
    }

    async fn signal(&self, call_id: &str, data: SignalData) -> Result<(), SignalingError> {
        self.send(ClientMessage::Signal {
            call_id: call_id.to_string(),
            data,
        })
        .await
    }

    async fn hangup(&self, call_id: &str) -> Result<(), SignalingError> {
        self.send(ClientMessage::Hangup {
            call_id: call_id.to_string(),
        })
        .await
    }
}
