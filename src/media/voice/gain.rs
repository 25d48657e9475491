//! Automatic gain control: brings speech to [`TARGET_DBFS`] whatever the microphone's level.
//!
//! Our own, small: WebRTC 0.3's adaptive digital gain control (without an analog volume to
//! steer) raised a -40 dBFS talker by only 8 dB on the test loop, whatever its compression
//! gain. This one follows the level of speech (frames well above the noise floor), moves its
//! gain towards the target at a bounded rate, holds it through pauses and noise (so silence is
//! not pumped up) and through what is left of the far end's echo (told by the processor), and
//! never lets a peak clip.

use super::level::{from_dbfs, mean_square, to_dbfs};

/// Speech is brought to this RMS level.
pub const TARGET_DBFS: f64 = -20.0;
/// The most and least gain applied.
const MAX_GAIN_DB: f64 = 30.0;
const MIN_GAIN_DB: f64 = -20.0;
/// How far the gain moves per 10 ms frame of speech: up 25 dB a second of speech, down 50
/// (speech is a third to a half of a talker's frames).
const RISE_DB: f64 = 0.25;
const FALL_DB: f64 = 0.5;
/// A frame is speech when it is this far above the noise floor (and above [`SILENCE_DBFS`]).
const SPEECH_OVER_FLOOR_DB: f64 = 9.0;
const SILENCE_DBFS: f64 = -70.0;
/// The noise floor follows quieter frames at once and louder ones at 10 dB a second (a
/// syllable lifts it 2 dB; a pause brings it back).
const FLOOR_RISE_DB: f64 = 0.1;
/// The speech level follows speech frames with this weight per frame (~0.3 s).
const SPEECH_WEIGHT: f64 = 0.03;
/// Peaks stay under this (linear full scale).
const PEAK_LIMIT: f32 = 0.9;

#[derive(Debug)]
pub(crate) struct GainControl {
    gain_db: f64,
    /// The noise floor; the first frame's level to begin with.
    floor_db: Option<f64>,
    speech_db: Option<f64>,
}

impl Default for GainControl {
    fn default() -> Self {
        GainControl {
            gain_db: 0.0,
            floor_db: None,
            speech_db: None,
        }
    }
}

impl GainControl {
    /// The gain applied now, dB.
    pub(crate) fn gain_db(&self) -> f64 {
        self.gain_db
    }

    /// Applies the gain to one frame (samples in -1..1), after learning from it if `learn` (not
    /// when the frame is what is left of the far end's echo: raising that would bring the echo
    /// back).
    pub(crate) fn process(&mut self, frame: &mut [f32], learn: bool) {
        let level = to_dbfs(mean_square(frame));
        let floor = match self.floor_db {
            Some(floor) if level >= floor => floor + FLOOR_RISE_DB,
            _ => level.max(SILENCE_DBFS - 30.0),
        };
        self.floor_db = Some(floor);
        let speech = learn && level > SILENCE_DBFS && level > floor + SPEECH_OVER_FLOOR_DB;
        let before = self.gain_db;
        if speech {
            let speech_db = match self.speech_db {
                // Averaged as power, so loud syllables count as loud.
                Some(s) => {
                    to_dbfs(from_dbfs(s) * (1.0 - SPEECH_WEIGHT) + from_dbfs(level) * SPEECH_WEIGHT)
                }
                None => level,
            };
            self.speech_db = Some(speech_db);
            let wanted = (TARGET_DBFS - speech_db).clamp(MIN_GAIN_DB, MAX_GAIN_DB);
            self.gain_db += (wanted - self.gain_db).clamp(-FALL_DB, RISE_DB);
        }
        // No peak past the limit: the gain drops at once for a frame that would clip.
        let peak = frame.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
        if peak > 0.0 {
            let headroom = 20.0 * f64::from(PEAK_LIMIT / peak).log10();
            self.gain_db = self.gain_db.min(headroom);
        }
        // A rise is spread over the frame, so it does not click; a fall holds for all of it, so
        // no sample passes the limit.
        let to = db_to_gain(self.gain_db);
        let from = if self.gain_db < before {
            to
        } else {
            db_to_gain(before)
        };
        let n = frame.len().max(1) as f32;
        for (i, x) in frame.iter_mut().enumerate() {
            let g = from + (to - from) * (i + 1) as f32 / n;
            *x = (*x * g).clamp(-1.0, 1.0);
        }
    }
}

fn db_to_gain(db: f64) -> f32 {
    10f64.powf(db / 20.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::ToneSource;
    use crate::media::traits::AudioSource;

    /// 10 ms frames of a spoken tone at `amplitude`, with `noise` (uniform) added.
    fn frames(amplitude: f64, seconds: usize) -> Vec<[f32; 480]> {
        let mut voice = ToneSource::new(660.0, amplitude, false)
            .unwrap()
            .with_syllables();
        let mut out = Vec::new();
        for _ in 0..seconds * 50 {
            let block = voice.next_block().unwrap();
            for half in block.samples.chunks_exact(480) {
                let mut f = [0.0f32; 480];
                for (o, &s) in f.iter_mut().zip(half) {
                    *o = s as f32 / 32768.0;
                }
                out.push(f);
            }
        }
        out
    }

    fn speech_level(frames: &[[f32; 480]]) -> f64 {
        let loud: Vec<f64> = frames
            .iter()
            .map(|f| to_dbfs(mean_square(f)))
            .filter(|&l| l > -90.0)
            .collect();
        to_dbfs(loud.iter().map(|&l| from_dbfs(l)).sum::<f64>() / loud.len() as f64)
    }

    #[test]
    fn a_quiet_talker_is_raised_to_the_target_within_three_seconds() {
        // Amplitude 0.013: speech at about -40 dBFS.
        let mut input = frames(0.013, 6);
        assert!((speech_level(&input) - -40.0).abs() < 2.0);
        let mut agc = GainControl::default();
        for f in &mut input {
            agc.process(f, true);
        }
        let after_3s = speech_level(&input[300..]);
        assert!(
            (after_3s - TARGET_DBFS).abs() <= 2.0,
            "speech at {after_3s:.1} dBFS"
        );
    }

    #[test]
    fn a_loud_talker_is_lowered_and_never_clips() {
        let mut input = frames(0.7, 4);
        let mut agc = GainControl::default();
        for f in &mut input {
            agc.process(f, true);
        }
        let peak = input.iter().flatten().fold(0.0f32, |m, &x| m.max(x.abs()));
        assert!(peak <= PEAK_LIMIT + 1e-3, "peak {peak}");
        let level = speech_level(&input[200..]);
        assert!(
            (level - TARGET_DBFS).abs() <= 2.0,
            "speech at {level:.1} dBFS"
        );
    }

    #[test]
    fn noise_alone_is_not_raised() {
        let mut agc = GainControl::default();
        let mut seed = 1u32;
        for _ in 0..500 {
            let mut f = [0.0f32; 480];
            for x in &mut f {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                *x = ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.06;
            }
            agc.process(&mut f, true);
        }
        assert!(agc.gain_db().abs() < 1.0, "gain {}", agc.gain_db());
    }

    #[test]
    fn the_echo_left_is_not_raised() {
        // What the canceller leaves of a far-end voice: quiet syllables, above silence.
        let mut input = frames(0.0005, 6);
        assert!(speech_level(&input) > -70.0);
        let mut agc = GainControl::default();
        for f in &mut input {
            agc.process(f, false);
        }
        assert_eq!(agc.gain_db(), 0.0);
    }
}
