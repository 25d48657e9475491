//! What the speakers actually play, for the echo canceller: each open speaker stream feeds a tap
//! from its device callback (so the timing is the device's), and the microphone's side takes
//! one 10 ms frame of all of them summed for each 10 ms of microphone audio.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

use super::FRAME_SAMPLES;

/// A tap holds at most this much (400 ms): audio the microphone side did not take in that time
/// is too old to cancel anything, and is dropped oldest first.
const TAP_CAPACITY: usize = 48 * 400;

/// A tap is read once it holds this much (20 ms: a microphone block, and a speaker callback's
/// worth), from its newest samples: the reference has to reach the echo canceller before its
/// echo does (see `cleaned_microphone`), so what the tap holds is kept small, but a block read
/// must find its two frames there.
const CUSHION: usize = 48 * 30;

/// A tap that owes more than this (20 ms: what two devices' callbacks falling differently can
/// explain) has fallen behind for good (the process or the sound server stalled, and the
/// speaker now plays later): it starts again, as a new stream does. Before, the debt stayed
/// forever (each read found the tap empty, as every sample that came paid the debt) and the
/// canceller was given silence for the rest of the call.
const MAX_OWED: usize = 48 * 20;

/// One speaker stream's played samples, 48 kHz mono, oldest first. The reader takes exactly as
/// many samples as the microphone gave it, so the two streams keep the offset they started with
/// (the echo canceller learns one delay): a read that finds the tap short pads with silence and
/// owes the samples, which are dropped as they come; one that would owe more than [`MAX_OWED`]
/// starts the tap again from its newest samples (the offset is then measured again, see
/// `alignment`).
#[derive(Debug, Default)]
pub struct EchoTap {
    state: Mutex<TapState>,
}

#[derive(Debug, Default)]
struct TapState {
    samples: VecDeque<f32>,
    started: bool,
    owed: usize,
}

impl EchoTap {
    /// Called from the device callback with what it just handed the device.
    pub fn played(&self, samples: &[f32]) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let owed = s.owed.min(samples.len());
        s.owed -= owed;
        let samples = &samples[owed..];
        let overflow = (s.samples.len() + samples.len())
            .saturating_sub(TAP_CAPACITY)
            .min(s.samples.len());
        s.samples.drain(..overflow);
        s.samples.extend(
            samples
                .iter()
                .skip(samples.len().saturating_sub(TAP_CAPACITY)),
        );
    }

    /// Adds the next `out.len()` samples into `out`; false until the tap has started.
    fn take_into(&self, out: &mut [f32]) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !s.started {
            if s.samples.len() < CUSHION {
                return false;
            }
            // Start from the newest: what waited longer only takes lead from the reference.
            let stale = s.samples.len() - CUSHION;
            s.samples.drain(..stale);
            s.started = true;
        }
        let n = out.len().min(s.samples.len());
        for (o, x) in out.iter_mut().zip(s.samples.drain(..n)) {
            *o += x;
        }
        s.owed += out.len() - n;
        if s.owed > MAX_OWED {
            tracing::debug!(
                owed = s.owed,
                "echo reference: the speaker fell behind; its tap starts again"
            );
            s.owed = 0;
            s.started = false;
        } else if n < out.len() {
            tracing::debug!(
                short = out.len() - n,
                "echo reference: the speaker's samples came late"
            );
        }
        true
    }
}

/// Every speaker stream of the app (one per person heard), kept as long as the stream is open.
#[derive(Debug, Default)]
pub struct EchoReference {
    taps: Mutex<Vec<Weak<EchoTap>>>,
}

impl EchoReference {
    /// A tap for a speaker stream opening now; it stops counting when the stream drops it.
    pub fn tap(&self) -> Arc<EchoTap> {
        let tap = Arc::new(EchoTap::default());
        let mut taps = self.taps.lock().unwrap_or_else(|p| p.into_inner());
        taps.retain(|t| t.strong_count() > 0);
        taps.push(Arc::downgrade(&tap));
        tap
    }

    /// The next 10 ms of everything played, summed; `None` when no stream had 10 ms to give
    /// (nothing playing, or a stream not started yet).
    pub fn next_frame(&self) -> Option<[f32; FRAME_SAMPLES]> {
        let mut frame = [0.0; FRAME_SAMPLES];
        let taps = self.taps.lock().unwrap_or_else(|p| p.into_inner());
        let mut any = false;
        for tap in taps.iter().filter_map(Weak::upgrade) {
            any |= tap.take_into(&mut frame);
        }
        any.then_some(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_summed_frame_by_frame_from_their_newest_and_bounded() {
        let reference = EchoReference::default();
        let a = reference.tap();
        let b = reference.tap();
        let len = |t: &EchoTap| t.state.lock().unwrap().samples.len();
        assert!(reference.next_frame().is_none(), "nothing played yet");
        // a has played more than the cushion: it starts from its newest 20 ms.
        a.played(&[0.1; FRAME_SAMPLES]);
        a.played(&[0.25; CUSHION]);
        b.played(&[0.5; CUSHION - 1]);
        let first = reference.next_frame().unwrap();
        assert_eq!(first[0], 0.25, "a from its newest, b still waits");
        assert_eq!(len(&a), CUSHION - FRAME_SAMPLES);
        b.played(&[0.5; 1]);
        assert_eq!(reference.next_frame().unwrap()[0], 0.75, "both now");
        // b runs short: silence in its place, and the samples it owes are skipped as they come
        // (so it keeps its place against the microphone).
        while len(&b) > 0 {
            a.played(&[0.25; FRAME_SAMPLES]);
            reference.next_frame();
        }
        a.played(&[0.25; FRAME_SAMPLES]);
        assert_eq!(
            reference.next_frame().unwrap()[0],
            0.25,
            "a alone, b padded"
        );
        b.played(&[0.9; FRAME_SAMPLES]);
        b.played(&[0.5; 10]);
        assert_eq!(len(&b), 10, "the owed frame was dropped as it came");
        // A tap keeps the newest 400 ms.
        a.played(&vec![0.1; TAP_CAPACITY + 100]);
        a.played(&[0.2; 480]);
        assert_eq!(len(&a), TAP_CAPACITY);
        assert_eq!(*a.state.lock().unwrap().samples.back().unwrap(), 0.2);
        // A closed stream no longer counts.
        drop(b);
        drop(a);
        let c = reference.tap();
        assert_eq!(reference.taps.lock().unwrap().len(), 1);
        drop(c);
    }
}
