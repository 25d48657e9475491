//! peercall: peer-to-peer video calls, natively.
//!
//! - [`server`]: the signaling server (`peercall serve`, and embedded in the app): peers register,
//!   see who is online, and relay call setup to each other over WebSocket.
//! - [`call`]: the call engine: a call's state machine, its WebRTC connection and media.
//! - The `signaling-client` crate holds the wire protocol, its rules (the switchboard the server
//!   runs) and the `Signaling` trait with its transports.
//!
//! Data flows one way: commands in (CLI, window) → engine → network; events out the other way.

pub mod call;
pub mod server;
