//! Synthetic sine-tone audio source for tests and "no microphone" calls.
//!
//! With sync marks, the first [`SYNC_MARK_US`] of every wall-clock second is a
//! [`SYNC_MARK_HZ`] tone instead: a receiver that finds a mark's onset knows it was captured on
//! the second, and so how late it plays (the video's test pattern carries its capture time the
//! same way, which gives the lip-sync offset).

use std::f64::consts::TAU;
use std::time::Duration;

use super::error::{MediaError, Result};
use super::frame::{now_us, AudioBlock, BLOCK_SAMPLES, BLOCK_US, SAMPLE_RATE};
use super::pacer::Pacer;
use super::traits::AudioSource;

/// Frequency of the sync marks: far from the tones the tests use (440, 1000 Hz).
pub const SYNC_MARK_HZ: f64 = 3000.0;
/// Length of a sync mark.
pub const SYNC_MARK_US: u64 = 40_000;

/// A sine tone at a fixed frequency and amplitude.
#[derive(Debug)]
pub struct ToneSource {
    freq_hz: f64,
    sync_marks: bool,
    amplitude: f64,
    phase: f64,
    /// `None` = unpaced: blocks come as fast as they are asked for, with
    /// synthetic capture times (for tests faster than real time).
    pacer: Option<Pacer>,
    /// Spoken like a voice: syllables and pauses, not one steady note (a steady note is what a
    /// noise suppressor learns as noise).
    syllables: bool,
    blocks: u64,
    start_us: u64,
}

impl ToneSource {
    /// `amplitude` is linear full scale (0..=1). Paced sources deliver one
    /// block every 20 ms on an absolute schedule.
    pub fn new(freq_hz: f64, amplitude: f64, paced: bool) -> Result<Self> {
        let nyquist = SAMPLE_RATE as f64 / 2.0;
        if !(freq_hz > 0.0 && freq_hz < nyquist && (0.0..=1.0).contains(&amplitude)) {
            return Err(MediaError::Unsupported(format!(
                "tone {freq_hz} Hz at amplitude {amplitude}"
            )));
        }
        Ok(ToneSource {
            freq_hz,
            sync_marks: false,
            amplitude,
            phase: 0.0,
            pacer: paced.then(|| Pacer::new(Duration::from_micros(BLOCK_US))),
            syllables: false,
            blocks: 0,
            start_us: now_us(),
        })
    }

    /// Puts a sync mark on every wall-clock second.
    pub fn with_sync_marks(mut self) -> Self {
        self.sync_marks = true;
        self
    }

    /// Speaks the tone in syllables: [`SYLLABLE_US`] on, [`PAUSE_US`] off, with soft edges, the
    /// pitch moving within ±4.5 % of the frequency.
    pub fn with_syllables(mut self) -> Self {
        self.syllables = true;
        self
    }

    pub fn frequency(&self) -> f64 {
        self.freq_hz
    }
}

impl AudioSource for ToneSource {
    fn next_block(&mut self) -> Result<AudioBlock> {
        let capture_us = match &mut self.pacer {
            Some(p) => {
                p.wait();
                now_us()
            }
            None => self.start_us + self.blocks * BLOCK_US,
        };
        let mut block = AudioBlock::silence(capture_us);
        let scale = self.amplitude * i16::MAX as f64;
        for (i, s) in block.samples.iter_mut().take(BLOCK_SAMPLES).enumerate() {
            let at_us = capture_us + i as u64 * 1_000_000 / SAMPLE_RATE as u64;
            let freq = if self.sync_marks && at_us % 1_000_000 < SYNC_MARK_US {
                SYNC_MARK_HZ
            } else {
                self.freq_hz
            };
            let freq = if self.syllables {
                freq * syllable_pitch(
                    self.blocks * BLOCK_US + i as u64 * 1_000_000 / SAMPLE_RATE as u64,
                )
            } else {
                freq
            };
            let step = TAU * freq / SAMPLE_RATE as f64;
            let envelope = if self.syllables {
                syllable_envelope(
                    self.blocks * BLOCK_US + i as u64 * 1_000_000 / SAMPLE_RATE as u64,
                )
            } else {
                1.0
            };
            // A voice is its pitch and overtones: the 2nd and 3rd harmonics, softer.
            let wave = if self.syllables {
                (self.phase.sin() + 0.5 * (2.0 * self.phase).sin() + 0.3 * (3.0 * self.phase).sin())
                    / 1.2
            } else {
                self.phase.sin()
            };
            *s = (wave * scale * envelope).round() as i16;
            // Keep the phase small so precision does not degrade over hours.
            self.phase = (self.phase + step) % TAU;
        }
        self.blocks += 1;
        Ok(block)
    }
}

/// A syllable's length and the pause after it.
pub const SYLLABLE_US: u64 = 200_000;
pub const PAUSE_US: u64 = 300_000;
const EDGE_US: u64 = 15_000;

/// How far a spoken tone's pitch is from its frequency `at_us` after it began (a factor):
/// each syllable on its own note within ±3 %, gliding up 3 % through it, as speech does (a
/// noise suppressor takes one note repeated for noise).
fn syllable_pitch(at_us: u64) -> f64 {
    let period = SYLLABLE_US + PAUSE_US;
    let syllable = (at_us / period) as f64;
    let through = (at_us % period) as f64 / SYLLABLE_US as f64;
    1.0 + 0.03 * (syllable * 2.4).sin() + 0.03 * (through.min(1.0) - 0.5)
}

/// The loudness of a spoken tone `at_us` after it began: a raised-cosine rise and fall around
/// each syllable.
fn syllable_envelope(at_us: u64) -> f64 {
    let t = at_us % (SYLLABLE_US + PAUSE_US);
    let edge = |d: u64| 0.5 - 0.5 * (std::f64::consts::PI * d as f64 / EDGE_US as f64).cos();
    match t {
        t if t < EDGE_US => edge(t),
        t if t < SYLLABLE_US - EDGE_US => 1.0,
        t if t < SYLLABLE_US => edge(SYLLABLE_US - t),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_is_continuous_across_blocks() {
        let mut t = ToneSource::new(1000.0, 0.5, false).unwrap();
        let a = t.next_block().unwrap();
        let b = t.next_block().unwrap();
        assert_eq!(b.capture_us - a.capture_us, BLOCK_US);
        // 1 kHz at 48 kHz: 48 samples per period, 960 = 20 periods, so the
        // next block starts where the first did.
        assert!((a.samples[0] as i32 - b.samples[0] as i32).abs() <= 2);
        let peak = a.samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((16_000..=16_400).contains(&peak), "{peak}");
    }

    #[test]
    fn a_spoken_tone_has_syllables_and_pauses() {
        let mut t = ToneSource::new(440.0, 0.5, false).unwrap().with_syllables();
        // 500 ms = 25 blocks: 10 of syllable (the first and last with an edge), 15 of pause.
        let levels: Vec<f32> = (0..25)
            .map(|_| crate::media::audio_analyzer::rms_dbfs(&t.next_block().unwrap().samples))
            .collect();
        assert!(levels[1..9].iter().all(|&l| l > -10.0), "{levels:?}");
        assert!(levels[10..25].iter().all(|&l| l < -90.0), "{levels:?}");
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(ToneSource::new(0.0, 0.5, false).is_err());
        assert!(ToneSource::new(30_000.0, 0.5, false).is_err());
        assert!(ToneSource::new(440.0, 2.0, false).is_err());
    }

    #[test]
    fn paced_tone_runs_in_real_time() {
        let mut t = ToneSource::new(440.0, 0.1, true).unwrap();
        let start = std::time::Instant::now();
        for _ in 0..6 {
            t.next_block().unwrap();
        }
        assert!(start.elapsed() >= Duration::from_millis(100));
    }
}
