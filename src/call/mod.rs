//! The call engine: one call = one WebRTC peer connection + its `system_channel` control channel.
//!
//! - [`session`]: the call state machine, pure: commands, signaling events and peer notices in;
//!   actions and [`CallEvent`]s out.
//! - [`control`]: the data-channel control messages (PROTOCOL.md §2).
//! - [`vp8_assembler`]: RTP packets → whole VP8 frames, emitted on the marker bit.
//! - [`peer`]: one webrtc-rs peer connection: tracks, control channel, congestion control; its
//!   callbacks become [`peer::PeerEvent`]s ([`keyframe_tap`] lets PLI / FIR through to us).
//! - [`send_pipeline`]: source → encoder thread → local track, following the bitrate target.
//! - [`receive_pipeline`]: remote track → light poll task → decoder / playout thread → sink.
//! - [`media_setup`]: which sources and sinks a call opens; [`media_stats`]: what media counts.
//! - [`engine`]: the task tying them together: [`CallCommand`]s in, [`CallEvent`]s out.
//! - [`events`]: what the engine tells the UI / CLI.

pub mod control;
pub mod engine;
pub mod events;
pub mod keyframe_tap;
pub mod media_setup;
pub mod media_stats;
pub mod peer;
pub mod receive_pipeline;
pub mod send_pipeline;
pub mod session;
pub mod vp8_assembler;

pub use engine::{CallEngine, EngineConfig};
pub use events::{CallEvent, CallStats, EndReason, EndedBy, MediaKind};
pub use session::{CallCommand, Role};
