//! peercall's signaling: how peers find each other and exchange call setup. Despite the name it
//! holds three things, used by three parties:
//!
//! - The wire protocol, version 2 ([`protocol`]: the messages as Rust types; [`ids`]: what a peer
//!   ID, call ID and room name may be). The server, every transport and the tests use these.
//! - Its rules ([`switchboard`]: registrations, calls, rooms, relay, timeouts as a pure state
//!   machine, messages and the time in, deliveries out). The server (`src/server`) and
//!   [`MemorySignaling`] run this one copy, so they cannot drift.
//! - The client side, which the call engine uses through the [`Signaling`] trait and its
//!   [`SignalingEvent`]s ([`signaling`]), and its transports: [`WsSignaling`] (WebSocket to a
//!   peercall server, reconnecting; [`tls`] says which `wss://` / `https://` certificates it
//!   trusts), [`CallCodeSignaling`] (HTTP call-code servers, polled), [`SocketIoRoomSignaling`],
//!   [`SocketIo1v1Signaling`] and [`SocketIoMeshSignaling`] (socket.io servers: rooms of two,
//!   1-to-1 user lists, mesh rooms; Engine.IO v4 and v3), [`ManualSignaling`] (no server: a line
//!   copied each way; a description waits for its candidates in `gathered`) and
//!   [`MemorySignaling`] (in-process, for tests). [`kind`] names them and [`open`] turns a kind
//!   and an address into one.
//!
//! Data flows one way: commands go in as trait calls, everything the other side says about calls
//! comes out as [`SignalingEvent`]s on one stream (to the call engine); who is online is kept
//! apart, in a [`Presence`] the window watches ([`Signaling::presence`]).

pub mod call_code;
mod call_task;
mod gathered;
pub mod ids;
pub mod kind;
pub mod manual;
pub mod memory;
pub mod open;
pub mod presence;
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
pub use presence::{Presence, PresenceWatch};
pub use protocol::{
    ClientMessage, ErrorCode, HangupReason, IceCandidate, IceServer, RejectReason, SdpKind,
    ServerMessage, SessionDescription, SignalData,
};
pub use signaling::{Registration, Signaling, SignalingError, SignalingEvent, SignalingEvents};
pub use socketio::{SocketIo1v1Signaling, SocketIoMeshSignaling, SocketIoRoomSignaling};
pub use switchboard::{Switchboard, SwitchboardConfig};
pub use tls::TlsTrust;
pub use ws::{WsOptions, WsSignaling};
