//! peercall's signaling: how two peers find each other and exchange call setup.
//!
//! - [`protocol`]: the wire messages of protocol v1 (serde); the server uses these same types.
//! - [`ids`]: what a peer ID and a call ID may be, and random ones.
//! - [`switchboard`]: the protocol's rules as a pure state machine (registrations, calls, relay,
//!   timeouts): messages and the time in, deliveries out. The server and `MemorySignaling` run it.
//! - [`signaling`]: the [`Signaling`] trait the call engine talks to, and its events.
//! - Transports: [`WsSignaling`] (WebSocket to a peercall server, reconnecting; [`tls`] says
//!   which `wss://` / `https://` certificates it trusts), [`CallCodeSignaling`] (HTTP call-code
//!   servers, polled), [`SocketIoRoomSignaling`] and [`SocketIo1v1Signaling`] (socket.io
//!   servers, Engine.IO v4 and v3), [`ManualSignaling`] (no server: a line copied each way; the description
//!   waits for its candidates in `gathered`) and [`MemorySignaling`] (in-process, for tests).
//!   [`open`] turns a kind and an address into one of them.
//!
//! Data flows one way: commands go in as trait calls, everything the other side says comes out as
//! [`SignalingEvent`]s on one stream.

pub mod call_code;
mod call_task;
mod gathered;
pub mod ids;
pub mod kind;
pub mod manual;
pub mod memory;
pub mod open;
pub mod protocol;
pub mod signaling;
pub mod socketio;
pub mod switchboard;
pub mod tls;
pub mod ws;

pub use call_code::CallCodeSignaling;
pub use kind::SignalingKind;
pub use manual::ManualSignaling;
pub use memory::{MemoryNetwork, MemorySignaling};
pub use open::{Endpoint, Opened};
pub use protocol::{
    ClientMessage, ErrorCode, HangupReason, IceCandidate, IceServer, RejectReason, SdpKind,
    ServerMessage, SessionDescription, SignalData,
};
pub use signaling::{Registration, Signaling, SignalingError, SignalingEvent, SignalingEvents};
pub use socketio::{SocketIo1v1Signaling, SocketIoMeshSignaling, SocketIoRoomSignaling};
pub use switchboard::{Switchboard, SwitchboardConfig};
pub use tls::TlsTrust;
pub use ws::{WsOptions, WsSignaling};
