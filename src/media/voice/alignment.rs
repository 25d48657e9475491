//! Keeps the speaker's reference ahead of its echo, by a lead the echo canceller handles, in
//! what the canceller is given, whatever the devices' latency.
//!
//! The canceller (WebRTC's, delay-agnostic) finds and follows the echo's delay itself within a
//! span, and learns it again when it moves a little; but an echo that comes before its
//! reference cannot be cancelled at all, and one far behind (a sound server with long buffers:
//! measured 400 ms here once, with 7 dB removed) is beyond what it finds well. So the lead is
//! measured from the signals themselves ([`EchoDelay`], on the streams as they come) and only
//! when it is out of [`MIN_VIEW_MS`]..[`MAX_VIEW_MS`] are the lines moved, to put it at
//! [`TARGET_LEAD_MS`]. Moving for less did harm: each move is a jump the canceller has to learn
//! again, and a voice's pitch repeats every few ms, so the best reading wanders by a period
//! (measured with three 100 ms stalls of the process: the echo left went from -87..-100 dBFS
//! to -59..-17 with moves at a 2 ms tolerance).
//!
//! What the canceller sees: `lead = measured + hold − delay`, with the microphone held `hold`
//! samples (never under [`MIN_HOLD_MS`]: before the first measurement, that is what keeps the
//! reference ahead; see `cleaned_microphone`) and the reference delayed `delay`.

use std::collections::VecDeque;

use super::echo_delay::{EchoDelay, Lead};
use super::FRAME_SAMPLES;

const PER_MS: f64 = 48.0;
/// The lead the canceller is given when the lines move: ahead enough that an echo never comes
/// before its reference, close enough that the canceller's filter spans it (what a 20 ms hold
/// gives on the test loop).
const TARGET_LEAD_MS: f64 = 30.0;
/// The leads the canceller is left to handle itself (measured on the test loop: 20 dB removed
/// with the reference 0.3 ms ahead, all of it from 14 ms).
const MIN_VIEW_MS: f64 = 10.0;
const MAX_VIEW_MS: f64 = 80.0;
/// The microphone is always held back this much (see `cleaned_microphone`).
const MIN_HOLD_MS: f64 = 20.0;
/// Bounds of either line: beyond them the echo path is not one a room makes.
const MAX_HOLD_MS: f64 = 150.0;
const MAX_DELAY_MS: f64 = 400.0;
/// A reading out of the band is believed when the one before agrees within [`AGREE_MS`] and
/// it explains the echo clearly better than the lead the lines are set for
/// ([`CLEARLY_BETTER`] times the correlation).
const AGREE_MS: f64 = 1.0;
const CLEARLY_BETTER: f64 = 1.15;

/// The two delay lines and what decides them.
#[derive(Debug)]
pub(crate) struct Alignment {
    /// Microphone samples held back, oldest first; its length is the hold.
    held: VecDeque<f32>,
    /// Reference samples delayed, oldest first; its length is the delay.
    delayed: VecDeque<f32>,
    estimator: EchoDelay,
    /// The last reading, waiting for one that agrees.
    last: Option<Lead>,
    /// The measured lead the lines were last set for.
    set_for_ms: Option<f64>,
    moves: u64,
}

impl Default for Alignment {
    fn default() -> Self {
        let mut held = VecDeque::with_capacity((MAX_HOLD_MS * PER_MS) as usize + FRAME_SAMPLES);
        held.resize((MIN_HOLD_MS * PER_MS) as usize, 0.0);
        Alignment {
            held,
            delayed: VecDeque::with_capacity((MAX_DELAY_MS * PER_MS) as usize + FRAME_SAMPLES),
            estimator: EchoDelay::default(),
            last: None,
            set_for_ms: None,
            moves: 0,
        }
    }
}

/// What one call of [`Alignment::pair`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Moved {
    /// The measured lead before the move (when there was one) and now, ms.
    pub from_ms: Option<f64>,
    pub to_ms: f64,
    pub hold_ms: f64,
    pub delay_ms: f64,
}

impl Alignment {
    /// Takes the next 10 ms of microphone and of reference (silence when nothing plays) as they
    /// came, and leaves in their place what the canceller is to be given.
    /// The lead is measured only when `measure` (the echo canceller runs).
    pub(crate) fn pair(
        &mut self,
        microphone: &mut [f32; FRAME_SAMPLES],
        reference: &mut [f32; FRAME_SAMPLES],
        measure: bool,
    ) -> Option<Moved> {
        let moved = measure
            .then(|| self.estimator.add(reference, microphone))
            .flatten()
            .and_then(|lead| self.consider(lead));
        through(&mut self.held, microphone);
        through(&mut self.delayed, reference);
        moved
    }

    /// How many times the lines were moved.
    pub(crate) fn moves(&self) -> u64 {
        self.moves
    }

    fn consider(&mut self, lead: Lead) -> Option<Moved> {
        tracing::trace!(
            lead_ms = lead.ms,
            correlation = lead.correlation,
            "echo lead"
        );
        let agreed = self
            .last
            .replace(lead)
            .is_some_and(|last| (last.ms - lead.ms).abs() <= AGREE_MS);
        let seen_ms = lead.ms + (self.held.len() as f64 - self.delayed.len() as f64) / PER_MS;
        if !agreed || (MIN_VIEW_MS..=MAX_VIEW_MS).contains(&seen_ms) {
            return None;
        }
        // Never set, the lines hold what the default gives.
        let current_ms = self.set_for_ms.unwrap_or(TARGET_LEAD_MS - MIN_HOLD_MS);
        if lead.correlation < CLEARLY_BETTER * self.estimator.correlation_at(current_ms) {
            return None;
        }
        let from_ms = self.set_for_ms.replace(lead.ms);
        // hold − delay has to be TARGET − measured.
        let excess = ((TARGET_LEAD_MS - lead.ms) * PER_MS).round() as i64;
        let min_hold = (MIN_HOLD_MS * PER_MS) as i64;
        let hold = excess.max(min_hold).min((MAX_HOLD_MS * PER_MS) as i64);
        let delay = (hold - excess).clamp(0, (MAX_DELAY_MS * PER_MS) as i64);
        resize_front(&mut self.held, hold as usize);
        resize_front(&mut self.delayed, delay as usize);
        self.moves += 1;
        Some(Moved {
            from_ms,
            to_ms: lead.ms,
            hold_ms: hold as f64 / PER_MS,
            delay_ms: delay as f64 / PER_MS,
        })
    }
}

/// Passes `frame` through `line`: it goes in at the back and the oldest come out.
fn through(line: &mut VecDeque<f32>, frame: &mut [f32; FRAME_SAMPLES]) {
    line.extend(frame.iter().copied());
    for (out, x) in frame.iter_mut().zip(line.drain(..FRAME_SAMPLES)) {
        *out = x;
    }
}

/// Makes `line` `len` long at its front, the end that comes out next: longer plays silence
/// first, shorter skips what waited longest.
fn resize_front(line: &mut VecDeque<f32>, len: usize) {
    if len < line.len() {
        line.drain(..line.len() - len);
    } else {
        for _ in line.len()..len {
            line.push_front(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Speech-like sound at sample `i`: 300 ms syllables of noise (a hash of `i`, so the echo
    /// is the same function later) shaped low by a pitch, 200 ms pauses.
    fn voice(i: usize) -> f32 {
        let t = i as f64 / 48_000.0;
        if (t * 2.0).fract() >= 0.6 {
            return 0.0;
        }
        let mut h = (i as u64 / 6).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
        let noise = (h % 1000) as f64 / 1000.0 - 0.5;
        (0.4 * noise + 0.2 * (std::f64::consts::TAU * 210.0 * t).sin()) as f32
    }

    /// The lead of `reference` over its echo in `microphone`, by brute force at full rate, ms.
    fn lead_of(reference: &[f32], microphone: &[f32]) -> f64 {
        let n = microphone.len();
        let mut best = (0i64, f64::MIN);
        for lead in -48 * 40..48 * 200i64 {
            let dot: f64 = (0..n)
                .filter_map(|i| {
                    let j = i as i64 - lead;
                    (j >= 0 && (j as usize) < n)
                        .then(|| f64::from(microphone[i]) * f64::from(reference[j as usize]))
                })
                .sum();
            if dot > best.1 {
                best = (lead, dot);
            }
        }
        best.0 as f64 / PER_MS
    }

    /// Runs 6 s in which the echo's path is `path_ms` (how much later than its reference it
    /// comes, by count) and then jumps to `then_ms`; returns the moves and the lead the
    /// canceller was given over the last second.
    fn run(path_ms: f64, then_ms: f64) -> (Vec<Moved>, f64) {
        let mut alignment = Alignment::default();
        let mut moves = Vec::new();
        let (mut given_mic, mut given_ref) = (Vec::new(), Vec::new());
        for f in 0..600 {
            let path = if f < 300 { path_ms } else { then_ms };
            let lag = (path * PER_MS) as i64;
            let mut reference = [0.0f32; FRAME_SAMPLES];
            let mut mic = [0.0f32; FRAME_SAMPLES];
            for k in 0..FRAME_SAMPLES {
                let i = (f * FRAME_SAMPLES + k) as i64;
                reference[k] = voice(i as usize);
                mic[k] = if i >= lag {
                    0.5 * voice((i - lag) as usize)
                } else {
                    0.0
                };
            }
            moves.extend(alignment.pair(&mut mic, &mut reference, true));
            if f >= 575 {
                given_mic.extend(mic);
                given_ref.extend(reference);
            }
        }
        (moves, lead_of(&given_ref, &given_mic))
    }

    #[test]
    fn a_voice_a_pitch_period_off_does_not_move_it() {
        // A steady pitch reads about as well a period (4.8 ms) either side of its echo.
        let mut alignment = Alignment::default();
        for f in 0..800 {
            let mut reference = [0.0f32; FRAME_SAMPLES];
            let mut mic = [0.0f32; FRAME_SAMPLES];
            for k in 0..FRAME_SAMPLES {
                let t = (f * FRAME_SAMPLES + k) as f64 / 48_000.0;
                let tone = |t: f64| (0.3 * (std::f64::consts::TAU * 210.0 * t).sin()) as f32;
                reference[k] = tone(t);
                mic[k] = 0.5 * tone(t - 0.010) + tone(t * 1.37) * 0.5;
            }
            assert_eq!(alignment.pair(&mut mic, &mut reference, true), None);
        }
        assert!(alignment.last.is_some(), "the lead was read, and left");
    }

    #[test]
    fn a_lead_out_of_the_band_is_brought_to_the_target_and_one_in_it_left() {
        // (path before, after the jump; the lead the canceller should see at the end)
        for (path, then, seen) in [
            (10.0, 10.0, 30.0),
            // A small move is the canceller's own to follow.
            (10.0, 20.5, 40.5),
            (10.0, 70.0, TARGET_LEAD_MS),
            (10.0, -15.0, TARGET_LEAD_MS),
            (120.0, 120.0, TARGET_LEAD_MS),
            (-15.0, 40.0, TARGET_LEAD_MS),
        ] {
            let (moves, given) = run(path, then);
            assert!(
                (given - seen).abs() <= 1.0,
                "path {path} → {then} ms: the canceller saw {given} ms, not {seen}; {moves:?}"
            );
            assert!(moves.len() <= 2, "{moves:?}");
            assert!(
                moves
                    .iter()
                    .all(|m| m.hold_ms >= MIN_HOLD_MS && m.delay_ms >= 0.0),
                "{moves:?}"
            );
        }
    }
}
