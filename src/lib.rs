//! peercall: peer-to-peer video calls, natively.
//!
//! - [`media`]: sources (camera, microphone, synthetic), codecs (VP8, Opus), the audio jitter
//!   buffer and sinks (speaker, analyser, the frame slot the window draws from).
//! - [`call`]: the call engine: a call's state machine, its WebRTC connection and the media
//!   pipelines between the two.
//! - [`headless`]: `peercall call` / `answer`: the engine without a window, writing a JSON report.
//! - [`server`]: the signaling server (`peercall serve`, and embedded in the app): peers register,
//!   see who is online, and relay call setup to each other over WebSocket.
//! - [`ui`]: the desktop window (eframe): state, views, and a backend on its own runtime.
//! - The `signaling-client` crate holds the wire protocol, its rules (the switchboard the server
//!   runs) and the `Signaling` trait with its transports.
//!
//! Data flows one way. Media: source → encoder thread → WebRTC track → network → remote track →
//! decoder thread → sink. Control: commands in (CLI, window) → engine → signaling / data channel;
//! events out the other way.

pub mod call;
pub mod headless;
pub mod media;
pub mod server;
pub mod ui;
