//! The call engine: one call = one WebRTC peer connection + its `system_channel` control channel.
//!
//! - [`session`]: the call state machine, pure: commands, signaling events and peer notices in;
//!   actions and [`CallEvent`]s out.
//! - [`control`]: the data-channel control messages (PROTOCOL.md §2).
//! - [`vp8_assembler`]: RTP packets → whole VP8 frames, emitted on the marker bit.
//! - [`peer`]: one webrtc-rs peer connection: tracks, control channel; its callbacks become
//!   [`peer::PeerEvent`]s.
//! - [`link`]: what keeps a call going on a real link, inside the connection's RTP chain:
//!   congestion control, pacing, NACK with RTX, keyframe requests reaching the encoder.
//! - [`send_pipeline`]: source → encoder thread → local track, following the bitrate target;
//!   [`adaptation`] picks the size and frame rate the bitrate allows.
//! - [`receive_pipeline`]: remote track → light poll task → decoder / playout thread → sink.
//! - [`mdns`]: the other side's `.local` candidates resolved when one arrives.
//! - [`media_setup`]: which sources and sinks a call opens; [`media_stats`]: what media counts.
//! - [`engine`]: the task tying them together: [`CallCommand`]s in, [`CallEvent`]s out.
//! - [`events`]: what the engine tells the UI / CLI.

pub(crate) mod adaptation;
pub mod control;
pub mod engine;
pub mod events;
pub mod link;
pub(crate) mod mdns;
pub mod media_setup;
pub mod media_stats;
pub mod peer;
pub mod receive_pipeline;
pub mod send_pipeline;
pub mod session;
pub mod vp8_assembler;

pub use engine::{CallEngine, EngineConfig};
pub use events::{CallEvent, CallEvents, CallStats, EndReason, EndedBy, MediaKind};
pub use session::{CallCommand, Role};
