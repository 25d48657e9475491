//! What the media pipelines count, for the stats events and the headless report. Decoded frames
//! of the test pattern carry their counter and capture time, so loss and glass-to-glass latency
//! are measured on what was really decoded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::media::opus_codec::Decoded;
use crate::media::test_pattern::Marker;

/// Latency samples kept at most (an hour at 30 fps is 108 000).
const MAX_LATENCY_SAMPLES: usize = 200_000;
/// A freeze is a wait for the next frame longer than this many average frame intervals, or the
/// average plus [`FREEZE_MARGIN`] (the definition of W3C's `freezeCount`).
const FREEZE_INTERVALS: f64 = 3.0;
const FREEZE_MARGIN: Duration = Duration::from_millis(150);

#[derive(Debug, Default)]
pub struct MediaCounters {
    pub frames_sent: AtomicU64,
    /// Source frames not sent: the link could not take them (frame rate reduced, the pacer's
    /// queue was long, or the encoder's rate control dropped them).
    pub frames_skipped: AtomicU64,
    pub blocks_sent: AtomicU64,
    pub frames_decoded: AtomicU64,
    /// Frames refused because they declared a picture larger than we decode.
    pub frames_rejected: AtomicU64,
    /// Audio blocks decoded from their own packet.
    pub blocks_decoded: AtomicU64,
    /// Lost audio blocks recovered from the next packet's redundancy (Opus in-band FEC).
    pub fec_recovered: AtomicU64,
    /// Lost audio blocks extrapolated (packet-loss concealment), or packets that did not decode.
    pub blocks_concealed: AtomicU64,
    /// Keyframe requests we sent (PLI) and received.
    pub keyframes_requested: AtomicU64,
    pub keyframes_forced: AtomicU64,
    /// The size of the last frame encoded (width << 32 | height), 0 before the first.
    sent_size: AtomicU64,
    /// How loud the received audio is now, dBFS × 100 below zero (a peak that falls 1 dB a
    /// block): the speaking indicator.
    audio_level_down_cb: AtomicU64,
    received: Mutex<Received>,
    playout: Mutex<Playout>,
}

/// Silences in what the speaker got, once audio had started.
#[derive(Debug, Default)]
struct Playout {
    started: bool,
    silent_ticks: u64,
    longest_silence_ticks: u64,
}

#[derive(Debug, Default)]
struct Received {
    first_frame: Option<Instant>,
    size: Option<(u32, u32)>,
    last_counter: Option<u32>,
    counters_read: u64,
    counter_gaps: u64,
    latencies_ms: Vec<f64>,
    last_frame: Option<Instant>,
    /// Running average of the interval between decoded frames, seconds.
    average_interval: Option<f64>,
    freezes: u64,
    longest_freeze: Duration,
}

/// A summary of the received video's markers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReceivedVideo {
    pub first_frame: Option<Instant>,
    /// The size of the last decoded frame.
    pub size: Option<(u32, u32)>,
    pub last_frame: Option<Instant>,
    pub counters_read: u64,
    /// Frames missing between consecutive decoded counters.
    pub counter_gaps: u64,
    pub last_counter: Option<u32>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    /// Waits for the next frame that a viewer sees as a freeze, and the longest wait of all.
    pub freezes: u64,
    pub longest_freeze: Duration,
}

impl MediaCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// A frame of `size` went to the encoder.
    pub fn frame_encoded(&self, size: (u32, u32)) {
        let packed = (size.0 as u64) << 32 | size.1 as u64;
        self.sent_size.store(packed, Ordering::Relaxed);
    }

    pub fn sent_size(&self) -> Option<(u32, u32)> {
        match self.sent_size.load(Ordering::Relaxed) {
            0 => None,
            packed => Some(((packed >> 32) as u32, packed as u32)),
        }
    }

    /// A keyframe request sent to the other side.
    pub fn keyframe_requested(&self) {
        Self::add(&self.keyframes_requested, 1);
    }

    /// One 20 ms tick of playout: what was played, or `None` for nothing (waiting for audio).
    pub fn audio_played(&self, decoded: Option<Decoded>) {
        let counter = match decoded {
            Some(Decoded::Packet) => Some(&self.blocks_decoded),
            Some(Decoded::Fec) => Some(&self.fec_recovered),
            Some(Decoded::Concealed) => Some(&self.blocks_concealed),
            Some(Decoded::Silence) | None => None,
        };
        let mut p = self.playout.lock().unwrap_or_else(|p| p.into_inner());
        match counter {
            Some(counter) => {
                Self::add(counter, 1);
                p.started = true;
                p.silent_ticks = 0;
            }
            None if p.started => {
                p.silent_ticks += 1;
                p.longest_silence_ticks = p.longest_silence_ticks.max(p.silent_ticks);
            }
            None => {}
        }
    }

    /// The level of the block just played (dBFS); the shown level holds peaks and falls 1 dB
    /// a block.
    pub fn set_audio_level(&self, dbfs: f32) {
        let now = (-dbfs.clamp(-120.0, 0.0) * 100.0) as u64;
        let shown = self.audio_level_down_cb.load(Ordering::Relaxed);
        // 0 is "never set": start from silence.
        let fallen = if shown == 0 {
            12_000
        } else {
            (shown + 100).min(12_000)
        };
        self.audio_level_down_cb
            .store(now.min(fallen).max(1), Ordering::Relaxed);
    }

    /// How loud the received audio is now, dBFS (-120 when silent or none yet).
    pub fn audio_level_dbfs(&self) -> f32 {
        match self.audio_level_down_cb.load(Ordering::Relaxed) {
            0 => -120.0,
            cb => -(cb as f32) / 100.0,
        }
    }

    /// The longest stretch without any audio to play (not even concealment) once audio had
    /// started.
    pub fn longest_audio_silence(&self) -> Duration {
        let p = self.playout.lock().unwrap_or_else(|p| p.into_inner());
        Duration::from_millis(p.longest_silence_ticks * 20)
    }

    /// One decoded frame of `size`, with its marker when it carries one.
    pub fn frame_decoded(&self, size: (u32, u32), marker: Option<Marker>, now_us: u64) {
        Self::add(&self.frames_decoded, 1);
        let mut r = self.received.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        r.first_frame.get_or_insert(now);
        r.frame_interval(now);
        r.size = Some(size);
        let Some(marker) = marker else { return };
        r.counters_read += 1;
        if let Some(last) = r.last_counter {
            let step = marker.counter.wrapping_sub(last);
            // Only forward steps count as gaps; a restarted source starts over.
            if (2..1_000_000).contains(&step) {
                r.counter_gaps += (step - 1) as u64;
            }
        }
        r.last_counter = Some(marker.counter);
        if r.latencies_ms.len() < MAX_LATENCY_SAMPLES && now_us >= marker.capture_us {
            r.latencies_ms
                .push((now_us - marker.capture_us) as f64 / 1000.0);
        }
    }

    /// The 95th percentile of the latencies of frames decoded since the `from`-th, and the
    /// index to continue from (for latency over time).
    pub fn latency_p95_since(&self, from: usize) -> (Option<f64>, usize) {
        let r = self.received.lock().unwrap_or_else(|p| p.into_inner());
        let mut recent: Vec<f64> = r.latencies_ms.get(from..).unwrap_or_default().to_vec();
        recent.sort_by(|a, b| a.total_cmp(b));
        let p95 = (!recent.is_empty())
            .then(|| recent[((recent.len() - 1) as f64 * 0.95).round() as usize]);
        (p95, r.latencies_ms.len())
    }

    pub fn received_video(&self) -> ReceivedVideo {
        let r = self.received.lock().unwrap_or_else(|p| p.into_inner());
        let mut sorted = r.latencies_ms.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let pick = |q: f64| {
            (!sorted.is_empty()).then(|| sorted[((sorted.len() - 1) as f64 * q).round() as usize])
        };
        ReceivedVideo {
            first_frame: r.first_frame,
            size: r.size,
            last_frame: r.last_frame,
            counters_read: r.counters_read,
            counter_gaps: r.counter_gaps,
            last_counter: r.last_counter,
            latency_p50_ms: pick(0.5),
            latency_p95_ms: pick(0.95),
            freezes: r.freezes,
            longest_freeze: r.longest_freeze,
        }
    }
}

impl Received {
    /// Times the wait since the previous frame; a long one is a freeze.
    fn frame_interval(&mut self, now: Instant) {
        let Some(last) = self.last_frame.replace(now) else {
            return;
        };
        let interval = now.saturating_duration_since(last);
        if let Some(average) = self.average_interval {
            let average = Duration::from_secs_f64(average);
            if interval > (average.mul_f64(FREEZE_INTERVALS)).max(average + FREEZE_MARGIN) {
                self.freezes += 1;
            }
        }
        self.longest_freeze = self.longest_freeze.max(interval);
        let seconds = interval.as_secs_f64();
        self.average_interval = Some(match self.average_interval {
            None => seconds,
            Some(a) => 0.9 * a + 0.1 * seconds,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_and_latency_come_from_markers() {
        let c = MediaCounters::default();
        for (counter, capture, now) in [
            (0u32, 1_000u64, 41_000u64),
            (1, 2_000, 52_000),
            (4, 3_000, 33_000),
        ] {
            c.frame_decoded(
                (640, 480),
                Some(Marker {
                    counter,
                    capture_us: capture,
                }),
                now,
            );
        }
        c.frame_decoded((320, 240), None, 0);
        let r = c.received_video();
        assert_eq!(MediaCounters::get(&c.frames_decoded), 4);
        assert_eq!(r.counters_read, 3);
        assert_eq!(r.size, Some((320, 240)));
        assert_eq!(r.counter_gaps, 2);
        assert_eq!(r.latency_p50_ms, Some(40.0));
        assert_eq!(r.latency_p95_ms, Some(50.0));
    }

    #[test]
    fn a_long_wait_between_frames_is_a_freeze() {
        let mut r = Received::default();
        let t0 = Instant::now();
        for i in 0..30 {
            r.frame_interval(t0 + Duration::from_millis(33 * i));
        }
        assert_eq!(r.freezes, 0);
        let after = t0 + Duration::from_millis(33 * 29 + 400);
        r.frame_interval(after);
        r.frame_interval(after + Duration::from_millis(33));
        assert_eq!(r.freezes, 1);
        assert_eq!(r.longest_freeze, Duration::from_millis(400));
    }

    #[test]
    fn audio_counts_say_where_each_block_came_from_and_silences_are_timed() {
        let c = MediaCounters::default();
        c.audio_played(None); // before audio starts: not a silence
        for decoded in [
            Decoded::Packet,
            Decoded::Fec,
            Decoded::Concealed,
            Decoded::Packet,
        ] {
            c.audio_played(Some(decoded));
        }
        for _ in 0..6 {
            c.audio_played(None);
        }
        c.audio_played(Some(Decoded::Packet));
        assert_eq!(MediaCounters::get(&c.blocks_decoded), 3);
        assert_eq!(MediaCounters::get(&c.fec_recovered), 1);
        assert_eq!(MediaCounters::get(&c.blocks_concealed), 1);
        assert_eq!(c.longest_audio_silence(), Duration::from_millis(120));
    }
}
