//! What the media pipelines count, for the stats events and the headless report. Decoded frames
//! of the test pattern carry their counter and capture time, so loss and glass-to-glass latency
//! are measured on what was really decoded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::media::test_pattern::Marker;

/// Latency samples kept at most (an hour at 30 fps is 108 000).
const MAX_LATENCY_SAMPLES: usize = 200_000;

#[derive(Debug, Default)]
pub struct MediaCounters {
    pub frames_sent: AtomicU64,
    pub blocks_sent: AtomicU64,
    pub frames_decoded: AtomicU64,
    pub blocks_decoded: AtomicU64,
    /// Keyframe requests we sent (PLI) and received.
    pub keyframes_requested: AtomicU64,
    pub keyframes_forced: AtomicU64,
    received: Mutex<Received>,
}

#[derive(Debug, Default)]
struct Received {
    first_frame: Option<Instant>,
    size: Option<(u32, u32)>,
    last_counter: Option<u32>,
    counters_read: u64,
    counter_gaps: u64,
    latencies_ms: Vec<f64>,
}

/// A summary of the received video's markers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReceivedVideo {
    pub first_frame: Option<Instant>,
    /// The size of the last decoded frame.
    pub size: Option<(u32, u32)>,
    pub counters_read: u64,
    /// Frames missing between consecutive decoded counters.
    pub counter_gaps: u64,
    pub last_counter: Option<u32>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
}

impl MediaCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// One decoded frame of `size`, with its marker when it carries one.
    pub fn frame_decoded(&self, size: (u32, u32), marker: Option<Marker>, now_us: u64) {
        Self::add(&self.frames_decoded, 1);
        let mut r = self.received.lock().unwrap_or_else(|p| p.into_inner());
        r.first_frame.get_or_insert_with(Instant::now);
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
            counters_read: r.counters_read,
            counter_gaps: r.counter_gaps,
            last_counter: r.last_counter,
            latency_p50_ms: pick(0.5),
            latency_p95_ms: pick(0.95),
        }
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
}
