//! How far the speaker's reference leads its own echo in the microphone, measured from the two
//! signals: the echo canceller learns one delay, and a sound server that skips (a speaker stream
//! that ran dry, a microphone that lost samples under load) moves it at once, so the echo comes
//! back until the canceller has learned again. This finds the delay as it is, so the reference
//! can be moved back to where the canceller expects it.
//!
//! Both signals are brought down to 2 kHz (voices carry their pitch well below 1 kHz) and the
//! last second of microphone is correlated with the reference at each lead from
//! [`MIN_LEAD_MS`] to [`MAX_LEAD_MS`]; the best normalised correlation wins if it is clear.

use std::collections::VecDeque;

use super::FRAME_SAMPLES;

/// 48 kHz → 2 kHz.
const DECIMATION: usize = 24;
const RATE_HZ: usize = 48_000 / DECIMATION;
/// Samples of the decimated signals per millisecond.
const PER_MS: usize = RATE_HZ / 1000;
/// The microphone span correlated (half a second: a syllable or two of speech, and a move is
/// seen within that).
const WINDOW: usize = RATE_HZ / 2;
/// The leads searched: the reference up to 100 ms behind its echo (which the microphone's hold
/// can make up) to 300 ms ahead.
const MIN_LEAD_MS: i32 = -100;
const MAX_LEAD_MS: i32 = 300;
const MIN_LEAD: i64 = MIN_LEAD_MS as i64 * PER_MS as i64;
const MAX_LEAD: i64 = MAX_LEAD_MS as i64 * PER_MS as i64;
/// A lead is believed only with a normalised correlation this high. An echo through a room is
/// the reference filtered; a near-end talker or noise lowers the figure (a talker 9 dB over
/// the echo: 0.34), and unrelated signals over a second read under 0.1.
const MIN_CORRELATION: f64 = 0.25;
/// Spans whose reference is quieter than this (mean square, -50 dBFS) are not searched: there
/// is nothing to find.
const MIN_REFERENCE_POWER: f64 = 1e-5;
/// Estimates are made every this many frames (200 ms).
const ESTIMATE_EVERY_FRAMES: usize = 20;

/// One estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Lead {
    /// How far the reference is ahead of its echo, ms (negative: behind).
    pub ms: f64,
    /// Its normalised correlation, 0..1.
    pub correlation: f64,
}

/// Both signals, decimated, as they were paired frame by frame.
#[derive(Debug)]
pub(crate) struct EchoDelay {
    /// The reference, oldest first: the microphone's window plus the leads searched.
    reference: VecDeque<f32>,
    microphone: VecDeque<f32>,
    frames: usize,
    /// The last estimate's correlation at each lead, from [`MIN_LEAD`].
    correlations: Vec<f64>,
}

impl Default for EchoDelay {
    fn default() -> Self {
        EchoDelay {
            reference: VecDeque::with_capacity(Self::REFERENCE_LEN),
            microphone: VecDeque::with_capacity(WINDOW + (-MIN_LEAD) as usize),
            frames: 0,
            correlations: Vec::with_capacity((MAX_LEAD - MIN_LEAD + 1) as usize),
        }
    }
}

impl EchoDelay {
    const REFERENCE_LEN: usize = WINDOW + (MAX_LEAD - MIN_LEAD) as usize;
    const MICROPHONE_LEN: usize = WINDOW + (-MIN_LEAD) as usize;

    /// The next 10 ms of each (silence for a reference that had nothing); an estimate now and
    /// then, when the reference had something to find.
    pub(crate) fn add(
        &mut self,
        reference: &[f32; FRAME_SAMPLES],
        microphone: &[f32; FRAME_SAMPLES],
    ) -> Option<Lead> {
        push_decimated(&mut self.reference, reference, Self::REFERENCE_LEN);
        push_decimated(&mut self.microphone, microphone, Self::MICROPHONE_LEN);
        self.frames += 1;
        if !self.frames.is_multiple_of(ESTIMATE_EVERY_FRAMES)
            || self.reference.len() < Self::REFERENCE_LEN
            || self.microphone.len() < Self::MICROPHONE_LEN
        {
            return None;
        }
        self.estimate()
    }

    /// The last estimate's correlation at `ms` of lead (0 outside the leads searched): how well
    /// another lead explains the same echo.
    pub(crate) fn correlation_at(&self, ms: f64) -> f64 {
        let i = (ms * PER_MS as f64).round() as i64 - MIN_LEAD;
        usize::try_from(i)
            .ok()
            .and_then(|i| self.correlations.get(i))
            .copied()
            .unwrap_or(0.0)
    }

    fn estimate(&mut self) -> Option<Lead> {
        let reference = self.reference.make_contiguous();
        // Nothing played (the far end silent: half of most calls): no window of it can hold
        // enough to find, so the search is skipped.
        let reference_power: f64 = reference.iter().map(|&x| f64::from(x).powi(2)).sum();
        if reference_power < MIN_REFERENCE_POWER * WINDOW as f64 {
            return None;
        }
        let microphone = self.microphone.make_contiguous();
        // The newest microphone sample pairs with the newest reference sample; the window ends
        // -MIN_LEAD samples before the newest so the reference can also be looked for after it.
        let mic = &microphone[..WINDOW];
        let mic_power: f64 = mic.iter().map(|&x| f64::from(x).powi(2)).sum();
        let mic_end = reference.len() as i64 + MIN_LEAD; // index in `reference` of mic's end
        let mut best: Option<(i64, f64)> = None;
        let mut most_reference_power: f64 = 0.0;
        self.correlations.clear();
        for lead in MIN_LEAD..=MAX_LEAD {
            let end = (mic_end - lead) as usize;
            let r = &reference[end - WINDOW..end];
            let (mut dot, mut power) = (0.0f64, 0.0f64);
            for (&m, &x) in mic.iter().zip(r) {
                dot += f64::from(m) * f64::from(x);
                power += f64::from(x).powi(2);
            }
            most_reference_power = most_reference_power.max(power);
            let norm = (mic_power * power).sqrt();
            let c = if norm > 0.0 { dot / norm } else { 0.0 };
            self.correlations.push(c);
            if norm > 0.0 && best.is_none_or(|(_, b)| c > b) {
                best = Some((lead, c));
            }
        }
        if most_reference_power / (WINDOW as f64) < MIN_REFERENCE_POWER {
            return None;
        }
        let (lead, correlation) = best?;
        (correlation >= MIN_CORRELATION).then_some(Lead {
            ms: lead as f64 / PER_MS as f64,
            correlation,
        })
    }
}

/// Appends `frame` averaged down by [`DECIMATION`], keeping the newest `len`.
fn push_decimated(to: &mut VecDeque<f32>, frame: &[f32; FRAME_SAMPLES], len: usize) {
    for chunk in frame.chunks_exact(DECIMATION) {
        if to.len() == len {
            to.pop_front();
        }
        to.push_back(chunk.iter().sum::<f32>() / DECIMATION as f32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A voice-like signal: a pitch that wanders, in syllables.
    fn voice(n: usize) -> Vec<f32> {
        let mut phase = 0.0f64;
        (0..n)
            .map(|i| {
                let t = i as f64 / 48_000.0;
                let hz = 220.0 * (1.0 + 0.05 * (t * 3.1).sin());
                phase += std::f64::consts::TAU * hz / 48_000.0;
                let on = (t * 2.0).fract() < 0.5;
                if on {
                    (0.3 * phase.sin() + 0.1 * (2.0 * phase).sin()) as f32
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Pairs `reference` with a microphone hearing it `lead_ms` later at half the level, plus
    /// `near` (a near-end sound), and returns the estimates with the correlation each found at
    /// the true lead.
    fn run(lead_ms: f64, near: impl Fn(usize) -> f32) -> Vec<(Lead, f64)> {
        let reference = voice(48_000 * 4);
        let lag = (lead_ms * 48.0).round() as i64;
        let mut delay = EchoDelay::default();
        let mut found = Vec::new();
        for (f, r) in reference.chunks_exact(FRAME_SAMPLES).enumerate() {
            let mut mic = [0.0f32; FRAME_SAMPLES];
            for (k, m) in mic.iter_mut().enumerate() {
                let i = (f * FRAME_SAMPLES + k) as i64 - lag;
                let echo = usize::try_from(i)
                    .ok()
                    .and_then(|i| reference.get(i))
                    .copied();
                *m = 0.5 * echo.unwrap_or(0.0) + near(f * FRAME_SAMPLES + k);
            }
            if let Some(lead) = delay.add(r.try_into().unwrap(), &mic) {
                found.push((lead, delay.correlation_at(lead_ms)));
            }
        }
        found
    }

    #[test]
    fn finds_the_lead_of_an_echo() {
        for lead_ms in [-5.0, 0.0, 32.0, 117.5, 280.0] {
            let found = run(lead_ms, |_| 0.0);
            assert!(found.len() >= 8, "{lead_ms} ms: {found:?}");
            for (f, _) in &found {
                assert!((f.ms - lead_ms).abs() <= 1.0, "{lead_ms} ms: {f:?}");
                assert!(f.correlation > 0.9, "{f:?}");
            }
        }
    }

    #[test]
    fn a_near_end_talker_louder_than_the_echo_leaves_it_found() {
        let found = run(40.0, |i| {
            (0.3 * (std::f64::consts::TAU * 330.0 * i as f64 / 48_000.0).sin()) as f32
        });
        assert!(found.len() >= 12, "{found:?}");
        let right = found
            .iter()
            .filter(|(f, _)| (f.ms - 40.0).abs() <= 1.0)
            .count();
        assert!(right * 10 >= found.len() * 8, "{found:?}");
        // A voice's pitch repeats: the best can be a period off, but never clearly better than
        // the true lead (which is what moving the alignment asks for).
        for (f, at_true) in &found {
            assert!(
                *at_true >= f.correlation * 0.95,
                "{f:?}: {at_true} at 40 ms"
            );
        }
    }

    #[test]
    fn nothing_is_claimed_without_a_reference_or_an_echo() {
        let mut delay = EchoDelay::default();
        let silent = [0.0f32; FRAME_SAMPLES];
        let mut hum = [0.0f32; FRAME_SAMPLES];
        for (k, h) in hum.iter_mut().enumerate() {
            *h = 0.2 * (k as f32 * 0.05).sin();
        }
        for _ in 0..400 {
            assert_eq!(delay.add(&silent, &hum), None, "silent reference");
        }
        // A reference the microphone does not hear.
        let reference = voice(48_000 * 4);
        for r in reference.chunks_exact(FRAME_SAMPLES) {
            assert_eq!(delay.add(r.try_into().unwrap(), &silent), None);
        }
    }
}
