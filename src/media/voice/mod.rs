//! Cleaning the microphone before it is sent, as a browser does: echo cancellation (fed with
//! what the speakers play), noise suppression, automatic gain control and a high-pass filter,
//! in 10 ms frames at 48 kHz.
//!
//! - [`echo_reference`]: the speakers' device callbacks → the far-end reference.
//! - [`alignment`]: keeps that reference a lead ahead of its echo the canceller handles, the lead
//!   measured from the two signals by [`echo_delay`].
//! - [`stages`]: which parts run (settings, `--audio-processing`), switchable live.
//! - [`processor`]: the library doing the work, one 10 ms frame at a time, and [`gain`], our own
//!   gain control after it.
//! - [`cleaned_microphone`]: an audio source that is the microphone, processed; it keeps the
//!   [`VoiceStats`] the stats view and the report read.
//!
//! Data: microphone → [`cleaned_microphone::CleanedMicrophone`] (with the reference's frame for
//! each of its frames, both through the alignment's delay lines) → the Opus encoder.

mod alignment;
pub mod cleaned_microphone;
mod echo_delay;
pub mod echo_reference;
pub(crate) mod gain;
mod level;
pub mod processor;
pub mod stages;
mod stats;

use std::sync::Arc;

pub use echo_reference::{EchoReference, EchoTap};
pub use stages::Stages;
pub use stats::{VoiceStats, VoiceStatsSnapshot};

/// The library doing the work, as the report names it.
pub const ENGINE: &str = "webrtc-audio-processing 0.3 + peercall gain control";

/// One processing frame: 10 ms at 48 kHz.
pub const FRAME_SAMPLES: usize = 480;

/// What a call's audio processing shares with the rest of the app: which stages run (the window
/// changes them live), the speakers' reference, and what it measured.
#[derive(Debug, Default)]
pub struct Voice {
    pub stages: stages::LiveStages,
    pub reference: EchoReference,
    pub stats: VoiceStats,
}

impl Voice {
    pub fn new(stages: Stages) -> Arc<Voice> {
        Arc::new(Voice {
            stages: stages::LiveStages::new(stages),
            ..Voice::default()
        })
    }
}
