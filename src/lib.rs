//! peercall: peer-to-peer video calls, natively.
//!
//! - [`media`]: sources (camera, screen, microphone, synthetic), the microphone's cleaning (echo
//!   cancellation fed by what the speakers play, noise suppression, gain: `media::voice`), codecs
//!   (VP8, Opus), the audio jitter buffer and sinks (speaker, analyser, the frame slot the window
//!   draws from).
//! - [`call`]: the call engine: a call is a room of legs, one per other person (a two-party call
//!   is one leg), each a state machine with its own WebRTC connection; one send pipeline encodes
//!   once for every leg, and each leg's received media has its own pipeline and sinks. Files go
//!   on data channels of their own per transfer; a shared screen is a second video track each
//!   connection gets by renegotiating; each connection has a verification code.
//! - [`headless`]: `peercall call` / `answer`: the engine without a window, writing a JSON report.
//! - [`server`]: the signaling server (`peercall serve`, and embedded in the app): peers register,
//!   see who is online, join rooms, and relay call setup to each other over WebSocket.
//! - [`ui`]: the desktop window (eframe): state, views, and a backend on its own runtime.
//! - The `signaling-client` crate holds the wire protocol, its rules (the switchboard the server
//!   runs) and the `Signaling` trait with its transports.
//!
//! Data flows one way. Media: source (a microphone cleaned on the way, against the speakers'
//! output) → encoder thread → every leg's WebRTC track → network → remote track → decoder
//! thread → that person's sink (a frame slot that wakes the window; the speaker, whose device
//! callback taps what it plays for the echo canceller). Control: commands in (CLI, window) →
//! engine → signaling / data channel; events out the other way.

pub mod call;
pub mod headless;
pub mod media;
pub mod server;
pub mod ui;
