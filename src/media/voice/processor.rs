//! What cleans the microphone: WebRTC's audio processing (the 0.3 release Debian ships, through
//! `webrtc-audio-processing`) for its echo canceller with delay estimation, noise suppressor
//! and high-pass filter, then our own gain control ([`super::gain`]). Chosen by measurement
//! over the pure-Rust `aec3` port (its delay estimator did not lock on voiced sound with a
//! near-end talker) and `nnnoiseless` (noise only); the figures are in issue 15's note.

use webrtc_audio_processing as apm;

use super::gain::GainControl;
use super::level::{mean_square, to_dbfs};
use super::{Stages, FRAME_SAMPLES};

pub struct Processor {
    apm: apm::Processor,
    gain: GainControl,
    stages: Stages,
    /// Microphone frames left in which the far end's echo can still be heard (counted down from
    /// [`ECHO_TAIL_FRAMES`] after each speaker frame with the far end talking).
    echo_tail: u32,
}

/// The far end is talking when its frame is louder than this, dBFS.
const FAR_ACTIVE_DBFS: f64 = -50.0;
/// Its echo is heard for this long after (the echo path's delay and the room's reverberation;
/// 200 ms).
const ECHO_TAIL_FRAMES: u32 = 20;
/// A microphone frame the canceller and suppressor took this much off, with the far end
/// talking, is the far end's echo (a person in the room would have kept most of it).
const ECHO_REMOVED_DB: f64 = 10.0;

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor")
            .field("stages", &self.stages)
            .finish()
    }
}

/// The echo canceller's own view of how it does.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EchoReading {
    pub erle_db: Option<f64>,
    pub delay_ms: Option<f64>,
}

impl Processor {
    pub fn new(stages: Stages) -> Result<Processor, String> {
        let apm = apm::Processor::new(&apm::InitializationConfig {
            num_capture_channels: 1,
            num_render_channels: 1,
            ..Default::default()
        })
        .map_err(|e| format!("audio processing: {e:?}"))?;
        let mut p = Processor {
            apm,
            gain: GainControl::default(),
            stages: Stages::NONE,
            echo_tail: 0,
        };
        p.set_stages(stages);
        Ok(p)
    }

    pub(crate) fn stages(&self) -> Stages {
        self.stages
    }

    pub(crate) fn set_stages(&mut self, stages: Stages) {
        self.stages = stages;
        self.apm.set_config(apm::Config {
            echo_cancellation: stages.echo.then_some(apm::EchoCancellation {
                suppression_level: apm::EchoCancellationSuppressionLevel::Moderate,
                // Delay estimation: whatever the device and sound server add.
                enable_delay_agnostic: true,
                enable_extended_filter: true,
                stream_delay_ms: None,
            }),
            noise_suppression: stages.noise.then_some(apm::NoiseSuppression {
                suppression_level: apm::NoiseSuppressionLevel::High,
            }),
            enable_high_pass_filter: stages.echo || stages.noise,
            ..Default::default()
        });
    }

    /// 10 ms of what the speakers played (samples in -1..1); whether the far end is talking in
    /// it.
    pub fn render(&mut self, frame: &mut [f32; FRAME_SAMPLES]) -> bool {
        let far_active = to_dbfs(mean_square(frame)) > FAR_ACTIVE_DBFS;
        if far_active {
            self.echo_tail = ECHO_TAIL_FRAMES;
        }
        if self.stages.echo {
            if let Err(e) = self.apm.process_render_frame(frame) {
                tracing::debug!(error = ?e, "audio processing: speaker frame");
            }
        }
        far_active
    }

    /// 10 ms of microphone, cleaned in place.
    pub fn capture(&mut self, frame: &mut [f32; FRAME_SAMPLES]) {
        if !self.stages.any() {
            return;
        }
        // Only the gain control asks whether a frame is the far end's echo.
        let judge_echo = self.stages.gain && self.stages.echo && self.echo_tail > 0;
        let before_dbfs = judge_echo.then(|| to_dbfs(mean_square(frame)));
        if self.stages.echo || self.stages.noise {
            if let Err(e) = self.apm.process_capture_frame(frame) {
                tracing::debug!(error = ?e, "audio processing: microphone frame");
            }
        }
        let echo_left = before_dbfs
            .is_some_and(|before| to_dbfs(mean_square(frame)) < before - ECHO_REMOVED_DB);
        self.echo_tail = self.echo_tail.saturating_sub(1);
        if self.stages.gain {
            self.gain.process(frame, !echo_left);
        }
    }

    /// The gain control's gain now, dB (while it runs).
    pub(crate) fn gain_db(&self) -> Option<f64> {
        self.stages.gain.then(|| self.gain.gain_db())
    }

    /// The library's echo figures; it gives -100 for "no valid value yet".
    pub(crate) fn echo_reading(&self) -> EchoReading {
        if !self.stages.echo {
            return EchoReading::default();
        }
        let stats = self.apm.get_stats();
        EchoReading {
            erle_db: stats.echo_return_loss_enhancement.filter(|&v| v > -100.0),
            delay_ms: stats.delay_median_ms.filter(|&d| d >= 0).map(f64::from),
        }
    }
}
