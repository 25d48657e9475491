//! The call engine: a call is a room of one or more legs, one per other person; each leg is a
//! WebRTC peer connection with its `system_channel` control channel. A two-party call is a room
//! of one leg with no name.
//!
//! - [`session`]: one leg's state machine, pure: commands, signaling events and peer notices in;
//!   actions and [`CallEvent`]s out.
//! - [`room`]: who else is in our room and the mesh's rules (who dials whom), pure.
//! - [`participant`]: what the UI and the report read about each other person.
//! - [`control`]: the data-channel control messages (PROTOCOL.md §2).
//! - [`vp8_assembler`]: RTP packets → whole VP8 frames, emitted on the marker bit.
//! - [`peer`]: one webrtc-rs peer connection: tracks, control channel; its callbacks become
//!   [`peer::PeerEvent`]s.
//! - [`link`]: what keeps a call going on a real link, inside the connection's RTP chain:
//!   congestion control, pacing, NACK with RTX, keyframe requests reaching the encoder.
//! - [`send_pipeline`]: source → encoder thread → every leg's local track (encoded once), following
//!   the weakest leg's bitrate target;
//!   [`adaptation`] picks the size and frame rate the bitrate allows, within the [`quality`]
//!   people chose.
//! - [`screen_pipeline`]: the shared screen → its own encoder (screen-content mode, low frame
//!   rate, nothing sent while the screen is still) → every leg's screen track; a leg gets the
//!   track by renegotiating its connection ([`sdp`] tells a renegotiation from a restart).
//! - [`receive_pipeline`]: remote track → light poll task → decoder / playout thread → sink.
//! - [`mdns`]: the other side's `.local` candidates resolved when one arrives.
//! - [`media_setup`]: which sources and sinks a call opens; [`media_stats`]: what media counts.
//! - [`engine`]: the task tying them together: routes signaling and peer events to legs, runs
//!   one send pipeline for all of them; [`CallCommand`]s in, [`CallEvent`]s out.
//! - [`transfer`]: files sent in a call, each on a data channel of its own.
//! - [`verify`]: the code people read to each other to know nobody sits in the middle.
//! - [`events`]: what the engine tells the UI / CLI.

pub(crate) mod adaptation;
pub mod control;
pub(crate) mod engine;
pub(crate) mod events;
pub(crate) mod leg;
pub(crate) mod link;
pub(crate) mod mdns;
pub mod media_setup;
pub mod media_stats;
pub(crate) mod participant;
pub mod peer;
pub mod quality;
pub(crate) mod receive_pipeline;
pub(crate) mod room;
pub(crate) mod screen_pipeline;
pub(crate) mod sdp;
pub(crate) mod send_pipeline;
pub(crate) mod session;
pub mod transfer;
pub mod verify;
pub mod vp8_assembler;

pub use engine::{CallEngine, EngineConfig};
pub use events::{CallEvent, CallEvents, CallStats, EndReason, EndedBy, IcePath, MediaKind};
pub use link::LinkStats;
pub use participant::Participant;
pub use quality::VideoQuality;
pub use screen_pipeline::ScreenTarget;
pub use session::{CallCommand, Role};
pub use transfer::{Direction, FileEvent, FileSettings, FileStop};
