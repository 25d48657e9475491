//! The call engine: one call = one WebRTC peer connection + its `system_channel` control channel.
//!
//! - [`session`]: the call state machine, pure: commands, signaling events and peer notices in;
//!   actions and [`CallEvent`]s out.
//! - [`control`]: the data-channel control messages (PROTOCOL.md §2).
//! - [`vp8_assembler`]: RTP packets → whole VP8 frames, emitted on the marker bit.
//! - [`events`]: what the engine tells the UI / CLI.

pub mod control;
pub mod events;
pub mod keyframe_tap;
pub mod peer;
pub mod session;
pub mod vp8_assembler;

pub use events::{CallEvent, CallStats, EndReason, EndedBy, MediaKind};
pub use session::{CallCommand, Role};
