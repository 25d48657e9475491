//! Measures the level of chosen tones in received audio, window by window: how loud the other
//! side's echo of our own 440 Hz voice is, and how loud their 660 Hz talker, over time. A tone
//! is measured over a band of ±[`BAND`] around its frequency, so a voice whose pitch moves (as
//! `voice:HZ` does) is measured whole.

use std::collections::VecDeque;

use super::audio_analyzer::{goertzel_power, hann, rms_dbfs};
use super::frame::SAMPLE_RATE;

/// One measuring window: half a second.
pub const WINDOW_SAMPLES: usize = SAMPLE_RATE as usize / 2;
/// Windows kept: ten minutes.
const MAX_WINDOWS: usize = 1200;
/// Half the width of a tone's band, as a share of its frequency.
pub const BAND: f64 = 0.06;
/// What silence reads as, like [`rms_dbfs`].
const FLOOR_DBFS: f64 = -120.0;

/// One window's levels, in dBFS of RMS (a pure tone reads the same as its [`rms_dbfs`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ToneLevels {
    /// Wall clock at the window's end, ms since the UNIX epoch.
    pub end_unix_ms: f64,
    /// The level of each tone, in the order they were asked for.
    pub tones_dbfs: Vec<f64>,
    /// Everything in the window.
    pub level_dbfs: f64,
}

#[derive(Debug)]
pub struct ToneMeter {
    freqs: Vec<f64>,
    window: Vec<f32>,
    pending: Vec<i16>,
    levels: VecDeque<ToneLevels>,
}

impl ToneMeter {
    pub fn new(freqs: &[f64]) -> ToneMeter {
        ToneMeter {
            freqs: freqs.to_vec(),
            window: hann(WINDOW_SAMPLES),
            pending: Vec::with_capacity(WINDOW_SAMPLES),
            levels: VecDeque::new(),
        }
    }

    pub fn freqs(&self) -> &[f64] {
        &self.freqs
    }

    /// Takes samples that played at `now_unix_ms` (the end of the last one).
    pub fn push(&mut self, samples: &[i16], now_unix_ms: f64) {
        for (i, &s) in samples.iter().enumerate() {
            self.pending.push(s);
            if self.pending.len() == WINDOW_SAMPLES {
                let left = (samples.len() - i - 1) as f64 * 1000.0 / SAMPLE_RATE as f64;
                self.close_window(now_unix_ms - left);
            }
        }
    }

    fn close_window(&mut self, end_unix_ms: f64) {
        let x: Vec<f32> = self.pending.iter().map(|&s| s as f32 / 32768.0).collect();
        let tones_dbfs = self
            .freqs
            .iter()
            .map(|&f| tone_dbfs(&x, &self.window, f))
            .collect();
        let level_dbfs = rms_dbfs(&self.pending) as f64;
        self.pending.clear();
        if self.levels.len() == MAX_WINDOWS {
            self.levels.pop_front();
        }
        self.levels.push_back(ToneLevels {
            end_unix_ms,
            tones_dbfs,
            level_dbfs,
        });
    }

    /// The windows measured so far, oldest first.
    pub fn levels(&self) -> impl Iterator<Item = &ToneLevels> {
        self.levels.iter()
    }
}

/// The RMS level of what lies within ±[`BAND`] of `freq_hz`: the DFT bins of the band summed
/// (Goertzel at each), scaled by Parseval for a Hann window (Σw² = 3N/8, half the energy of a
/// real signal in positive frequencies), so a sine reads as its RMS.
fn tone_dbfs(x: &[f32], window: &[f32], freq_hz: f64) -> f64 {
    let n = x.len() as f64;
    let bin_hz = SAMPLE_RATE as f64 / n;
    let first = ((freq_hz * (1.0 - BAND)) / bin_hz).floor() as i64;
    let last = ((freq_hz * (1.0 + BAND)) / bin_hz).ceil() as i64;
    let energy: f64 = (first.max(1)..=last)
        .map(|k| goertzel_power(x, window, k as f64 * bin_hz))
        .sum();
    let mean_square = 16.0 * energy / (3.0 * n * n);
    if mean_square <= 1e-12 {
        FLOOR_DBFS
    } else {
        10.0 * mean_square.log10()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::ToneSource;
    use crate::media::traits::AudioSource;

    fn mix(a: &[i16], b: &[i16]) -> Vec<i16> {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| x.saturating_add(y))
            .collect()
    }

    #[test]
    fn each_tone_is_measured_at_its_own_level() {
        // 440 Hz at amplitude 0.3 (-13.5 dBFS) and 660 Hz at 0.03 (-33.5 dBFS), mixed.
        let mut loud = ToneSource::new(440.0, 0.3, false).unwrap();
        let mut quiet = ToneSource::new(660.0, 0.03, false).unwrap();
        let mut meter = ToneMeter::new(&[440.0, 660.0, 1000.0]);
        for i in 0..50 {
            let block = mix(
                &loud.next_block().unwrap().samples,
                &quiet.next_block().unwrap().samples,
            );
            meter.push(&block, 1000.0 + 20.0 * (i + 1) as f64);
        }
        let levels: Vec<_> = meter.levels().cloned().collect();
        assert_eq!(levels.len(), 2, "a second is two windows");
        assert_eq!(levels[0].end_unix_ms, 1500.0);
        for l in &levels {
            let [a, b, c] = l.tones_dbfs[..] else {
                panic!("three tones: {l:?}")
            };
            assert!((a - -13.5).abs() < 0.3, "440 Hz read {a}");
            assert!((b - -33.5).abs() < 0.3, "660 Hz read {b}");
            assert!(c < -80.0, "1000 Hz (absent) read {c}");
            assert!((l.level_dbfs - -13.5).abs() < 0.3, "level {}", l.level_dbfs);
        }
    }
}
