//! An audio sink that measures what it receives: level, dominant frequency,
//! block count and gaps. Used by tests and the call statistics view.

use std::collections::VecDeque;

use super::error::Result;
use super::frame::{now_us, AudioBlock, BLOCK_US, SAMPLE_RATE};
use super::tone::SYNC_MARK_HZ;
use super::tone_meter::{ToneLevels, ToneMeter};
use super::traits::AudioSink;

/// Sync marks are looked for in windows this long (5 ms).
const MARK_WINDOW: usize = 240;
/// Share of a window's energy at the mark's frequency (normalised so a pure tone there gives
/// 1/8) above which the window holds a mark.
const MARK_SHARE: f64 = 0.06;
/// Marks come once a second; anything closer to the last onset is the same mark.
const MARK_SPACING_US: u64 = 500_000;
const MAX_MARK_DELAYS: usize = 10_000;

/// RMS level in dBFS (0 dBFS = full-scale square wave; silence = -inf is
/// reported as -120).
pub fn rms_dbfs(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return -120.0;
    }
    let sum: f64 = samples.iter().map(|&s| (s as f64).powi(2)).sum();
    let rms = (sum / samples.len() as f64).sqrt() / 32768.0;
    if rms <= 1e-6 {
        -120.0
    } else {
        (20.0 * rms.log10()) as f32
    }
}

/// Power of `samples` (Hann-windowed) at `freq_hz`, by the Goertzel algorithm.
pub(crate) fn goertzel_power(samples: &[f32], window: &[f32], freq_hz: f64) -> f64 {
    let w = std::f64::consts::TAU * freq_hz / SAMPLE_RATE as f64;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for (&x, &win) in samples.iter().zip(window) {
        let s0 = (x * win) as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

pub(crate) fn hann(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let x = std::f32::consts::TAU * i as f32 / (n.max(2) - 1) as f32;
            0.5 - 0.5 * x.cos()
        })
        .collect()
}

/// Frequency (Hz) of the strongest tone between `min_hz` and `max_hz`, or
/// `None` for (near) silence. A coarse Goertzel scan on a short slice finds
/// the region, a fine scan over all samples finds the peak to ~0.25 Hz.
pub fn dominant_frequency(samples: &[i16], min_hz: f64, max_hz: f64) -> Option<f64> {
    if samples.len() < 1024 || rms_dbfs(samples) < -70.0 || min_hz >= max_hz {
        return None;
    }
    let all: Vec<f32> = samples.iter().map(|&s| s as f32 / 32768.0).collect();
    // Coarse: three slices of 2048 samples (mainlobe of about ±47 Hz), 10 Hz steps, powers
    // summed: a short burst at another frequency (a sync mark) fills one slice at most.
    let slice = 2048.min(all.len());
    let starts = [0, (all.len() - slice) / 2, all.len() - slice];
    let win_short = hann(slice);
    let mut best = (min_hz, -1.0);
    let mut f = min_hz;
    while f <= max_hz {
        let p: f64 = starts
            .iter()
            .map(|&s| goertzel_power(&all[s..s + slice], &win_short, f))
            .sum();
        if p > best.1 {
            best = (f, p);
        }
        f += 10.0;
    }
    // Fine: at most one second of samples, ±40 Hz in 0.25 Hz steps.
    let long = &all[all.len().saturating_sub(SAMPLE_RATE as usize)..];
    let win_long = hann(long.len());
    let mut fine = (best.0, -1.0);
    let mut f = (best.0 - 40.0).max(min_hz);
    while f <= (best.0 + 40.0).min(max_hz) {
        let p = goertzel_power(long, &win_long, f);
        if p > fine.1 {
            fine = (f, p);
        }
        f += 0.25;
    }
    Some(fine.0)
}

/// Sink that keeps the last `history` samples and counts blocks and gaps.
#[derive(Debug)]
pub struct AudioAnalyzer {
    history: VecDeque<i16>,
    capacity: usize,
    blocks: u64,
    gaps: u64,
    last_capture_us: Option<u64>,
    in_mark: bool,
    last_onset_us: Option<u64>,
    mark_delays_us: Vec<u64>,
    /// A window that was no mark has played (so the next mark's start is seen).
    heard_tone: bool,
    /// Chosen tones measured over time, when asked for.
    tones: Option<ToneMeter>,
}

impl AudioAnalyzer {
    /// Keeps up to `history_ms` of audio for level/frequency analysis.
    pub fn new(history_ms: u32) -> Self {
        let capacity = (SAMPLE_RATE as usize * history_ms as usize / 1000).max(1);
        AudioAnalyzer {
            history: VecDeque::with_capacity(capacity),
            capacity,
            blocks: 0,
            gaps: 0,
            last_capture_us: None,
            in_mark: false,
            last_onset_us: None,
            mark_delays_us: Vec::new(),
            heard_tone: false,
            tones: None,
        }
    }

    /// Measures these tones' levels over time from now on (see [`Self::tone_levels`]).
    pub fn measure_tones(&mut self, freqs: &[f64]) {
        if freqs.is_empty() || self.tones.as_ref().is_some_and(|t| t.freqs() == freqs) {
            return;
        }
        self.tones = Some(ToneMeter::new(freqs));
    }

    /// The measured tones' levels, window by window (empty unless asked for).
    pub fn tone_levels(&self) -> Vec<ToneLevels> {
        self.tones
            .as_ref()
            .map(|t| t.levels().cloned().collect())
            .unwrap_or_default()
    }

    /// How late each sync mark played after it was captured (on the second), µs: the audio's
    /// end-to-end delay, when the other side sends a tone with sync marks.
    pub fn mark_delays_us(&self) -> &[u64] {
        &self.mark_delays_us
    }

    /// Plays `block` as if it reached the speaker at `now_us` (wall clock).
    pub fn play_at(&mut self, block: &AudioBlock, now_us: u64) {
        if let (Some(last), c) = (self.last_capture_us, block.capture_us) {
            if c != 0 && c > last + BLOCK_US * 3 / 2 {
                self.gaps += 1;
            }
        }
        if block.capture_us != 0 {
            self.last_capture_us = Some(block.capture_us);
        }
        self.blocks += 1;
        if let Some(tones) = &mut self.tones {
            tones.push(&block.samples, now_us as f64 / 1000.0);
        }
        let window = hann(MARK_WINDOW);
        for (i, chunk) in block.samples.chunks_exact(MARK_WINDOW).enumerate() {
            let at = now_us + (i * MARK_WINDOW) as u64 * 1_000_000 / SAMPLE_RATE as u64;
            // Sync marks are timing, not sound: level and frequency are measured without them.
            if self.is_mark(chunk, &window, at) {
                continue;
            }
            for &s in chunk {
                if self.history.len() == self.capacity {
                    self.history.pop_front();
                }
                self.history.push_back(s);
            }
        }
    }

    /// Whether this window is (part of) a sync mark; records the delay of a mark's onset.
    fn is_mark(&mut self, chunk: &[i16], window: &[f32], at: u64) -> bool {
        let x: Vec<f32> = chunk.iter().map(|&s| s as f32 / 32768.0).collect();
        let energy: f64 = x.iter().map(|&v| (v as f64) * (v as f64)).sum();
        let share = if energy > 1e-6 {
            goertzel_power(&x, window, SYNC_MARK_HZ) / (energy * MARK_WINDOW as f64)
        } else {
            0.0
        };
        let mark = share > MARK_SHARE;
        // An onset is a mark after tone: a stream that begins inside a mark did not see it
        // start, and would read it late.
        if mark && !self.in_mark && self.heard_tone {
            let fresh = self
                .last_onset_us
                .is_none_or(|last| at.saturating_sub(last) >= MARK_SPACING_US);
            if fresh && self.mark_delays_us.len() < MAX_MARK_DELAYS {
                self.last_onset_us = Some(at);
                // Captured on a whole second, so the part past the second is the delay (as
                // long as it stays under a second).
                self.mark_delays_us.push(at % 1_000_000);
            }
        }
        self.in_mark = mark;
        self.heard_tone |= !mark;
        mark
    }

    /// Blocks received so far.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Times the capture clock jumped more than 1.5 blocks between two
    /// consecutive blocks (missing audio upstream).
    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// The kept samples, oldest first.
    pub fn samples(&self) -> Vec<i16> {
        self.history.iter().copied().collect()
    }

    /// RMS level of the kept samples.
    pub fn level_dbfs(&self) -> f32 {
        rms_dbfs(&self.samples())
    }

    /// Dominant frequency of the kept samples within 50 Hz..8 kHz.
    pub fn dominant_frequency(&self) -> Option<f64> {
        dominant_frequency(&self.samples(), 50.0, 8000.0)
    }

    /// Clears history and counters.
    pub fn reset(&mut self) {
        let freqs = self.tones.as_ref().map(|t| t.freqs().to_vec());
        *self = AudioAnalyzer::new((self.capacity * 1000 / SAMPLE_RATE as usize) as u32);
        if let Some(freqs) = freqs {
            self.measure_tones(&freqs);
        }
    }
}

impl AudioSink for AudioAnalyzer {
    fn play(&mut self, block: &AudioBlock) -> Result<()> {
        self.play_at(block, now_us());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::ToneSource;
    use crate::media::traits::AudioSource;

    fn tone(freq: f64, blocks: usize) -> AudioAnalyzer {
        let mut t = ToneSource::new(freq, 0.3, false).unwrap();
        let mut a = AudioAnalyzer::new(1000);
        for _ in 0..blocks {
            a.play(&t.next_block().unwrap()).unwrap();
        }
        a
    }

    #[test]
    fn finds_tone_frequencies() {
        for f in [440.0, 1000.0, 123.4, 3150.0] {
            let a = tone(f, 50);
            let got = a.dominant_frequency().unwrap();
            assert!((got - f).abs() < 1.0, "{f} Hz read as {got}");
        }
    }

    #[test]
    fn sync_marks_are_found_once_each_and_give_the_delay() {
        // A marked tone (marks on its capture clock's whole seconds), each block played 130 ms
        // after its capture.
        let mut tone = ToneSource::new(440.0, 0.3, false)
            .unwrap()
            .with_sync_marks();
        let mut a = AudioAnalyzer::new(1000);
        let mut played = 0;
        // The stream begins inside a mark: that one's start was not heard, so it does not
        // count; the whole marks after it do.
        let inside = |b: &AudioBlock| {
            let into = b.capture_us % 1_000_000;
            // Well into a mark (its start long gone), wherever the blocks fall in the second.
            (10_000..crate::media::tone::SYNC_MARK_US).contains(&into)
        };
        let mut first = tone.next_block().unwrap();
        while !inside(&first) {
            first = tone.next_block().unwrap();
        }
        a.play_at(&first, first.capture_us + 130_000);
        while a.mark_delays_us().len() < 3 {
            let block = tone.next_block().unwrap();
            a.play_at(&block, block.capture_us + 130_000);
            played += 1;
            assert!(played < 400, "marks not found: {:?}", a.mark_delays_us());
        }
        for &d in a.mark_delays_us() {
            assert!((125_000..=140_000).contains(&d), "{:?}", a.mark_delays_us());
        }
        // Marks take 4 % of the time: the tone is still what dominates.
        assert!((a.dominant_frequency().unwrap() - 440.0).abs() < 1.0);
    }

    #[test]
    fn level_and_counters() {
        let a = tone(440.0, 10);
        // Sine at 0.3 FS: RMS = 0.3/sqrt(2) -> -13.5 dBFS.
        assert!((a.level_dbfs() + 13.5).abs() < 0.2, "{}", a.level_dbfs());
        assert_eq!((a.blocks(), a.gaps()), (10, 0));
        let mut s = AudioAnalyzer::new(100);
        s.play(&AudioBlock::silence(1_000_000)).unwrap();
        s.play(&AudioBlock::silence(1_060_000)).unwrap();
        for i in 1..=8 {
            s.play(&AudioBlock::silence(1_060_000 + i * BLOCK_US))
                .unwrap();
        }
        assert_eq!((s.gaps(), s.blocks()), (1, 10));
        assert_eq!(s.level_dbfs(), -120.0);
        assert_eq!(s.dominant_frequency(), None);
        assert_eq!(s.samples().len(), 4800, "history is bounded");
    }
}
