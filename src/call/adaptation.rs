//! At what size and rate the video is encoded for the bitrate the link allows, as libwebrtc's
//! "balanced" degradation does: below what a size needs, step down a rung (3/4, 1/2, 3/8 of the
//! source's width and height); when the smallest rung is still too much, halve the frame rate.
//! Down quickly (a thin link must be fitted within a second or two), up slowly and with a margin
//! (a rung up costs a keyframe). Pure: time and bitrate are inputs.

use std::time::{Duration, Instant};

/// Rungs of the ladder, as fractions of the source's width and height.
const RUNGS: [(u32, u32); 4] = [(1, 1), (3, 4), (1, 2), (3, 8)];
/// Bits each pixel of each frame needs for a picture worth watching (VP8, realtime): VGA at 30
/// fps wants about 460 kbit/s, 720p about 1.4 Mbit/s.
const BITS_PER_PIXEL: f64 = 0.05;
/// How long the bitrate must stay below a rung's need before stepping down.
const DOWN_AFTER: Duration = Duration::from_millis(500);
/// How long it must stay above the next rung's need (× [`UP_MARGIN`]) before stepping up.
const UP_AFTER: Duration = Duration::from_secs(2);
const UP_MARGIN: f64 = 1.3;

/// What to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeFormat {
    pub width: u32,
    pub height: u32,
    /// Encode every `frame_divisor`-th frame of the source.
    pub frame_divisor: u32,
}

#[derive(Debug)]
pub struct VideoAdaptation {
    source: (u32, u32),
    fps: u32,
    /// Rung index; one past the last rung means the smallest size at half the frame rate.
    level: usize,
    below_since: Option<Instant>,
    above_since: Option<Instant>,
}

impl VideoAdaptation {
    pub fn new(width: u32, height: u32, fps: u32) -> Self {
        VideoAdaptation {
            source: (width, height),
            fps: fps.max(1),
            level: 0,
            below_since: None,
            above_since: None,
        }
    }

    fn rung_size(&self, level: usize) -> (u32, u32) {
        let (num, den) = RUNGS[level.min(RUNGS.len() - 1)];
        let even = |v: u32| ((v * num / den) & !1).max(2);
        (even(self.source.0), even(self.source.1))
    }

    /// Bits a second `level` needs.
    fn need(&self, level: usize) -> f64 {
        let (w, h) = self.rung_size(level);
        let fps = if level >= RUNGS.len() {
            self.fps as f64 / 2.0
        } else {
            self.fps as f64
        };
        w as f64 * h as f64 * fps * BITS_PER_PIXEL
    }

    pub fn format(&self) -> EncodeFormat {
        let (width, height) = self.rung_size(self.level);
        EncodeFormat {
            width,
            height,
            frame_divisor: if self.level >= RUNGS.len() { 2 } else { 1 },
        }
    }

    /// The format for the video bitrate now available.
    pub fn update(&mut self, now: Instant, video_bps: f64) -> EncodeFormat {
        let lowest = RUNGS.len();
        if self.level < lowest && video_bps < self.need(self.level) {
            self.above_since = None;
            let since = *self.below_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= DOWN_AFTER {
                self.level += 1;
                self.below_since = None;
            }
        } else if self.level > 0 && video_bps > self.need(self.level - 1) * UP_MARGIN {
            self.below_since = None;
            let since = *self.above_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= UP_AFTER {
                self.level -= 1;
                self.above_since = None;
            }
        } else {
            self.below_since = None;
            self.above_since = None;
        }
        self.format()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &mut VideoAdaptation, t: &mut Instant, seconds: f64, bps: f64) -> EncodeFormat {
        let end = *t + Duration::from_secs_f64(seconds);
        let mut format = a.format();
        while *t < end {
            *t += Duration::from_millis(33);
            format = a.update(*t, bps);
        }
        format
    }

    #[test]
    fn a_thin_link_steps_down_fast_and_a_wide_one_back_up_slowly() {
        let mut t = Instant::now();
        let mut a = VideoAdaptation::new(640, 480, 30);
        assert_eq!(run(&mut a, &mut t, 2.0, 1_000_000.0).width, 640);
        // 380 kbit/s: too little for VGA at 30 fps, enough for 480×360.
        let thin = run(&mut a, &mut t, 1.0, 380_000.0);
        assert_eq!((thin.width, thin.height, thin.frame_divisor), (480, 360, 1));
        // 60 kbit/s: the smallest size, then half the frame rate.
        let starved = run(&mut a, &mut t, 3.0, 60_000.0);
        assert_eq!(
            (starved.width, starved.height, starved.frame_divisor),
            (240, 180, 2)
        );
        // Plenty again: back up one rung per UP_AFTER, not at once.
        let after_one = run(&mut a, &mut t, 2.5, 2_000_000.0);
        assert_eq!(after_one.frame_divisor, 1);
        assert_eq!(after_one.width, 240);
        assert_eq!(run(&mut a, &mut t, 10.0, 2_000_000.0).width, 640);
    }

    #[test]
    fn a_short_dip_changes_nothing() {
        let mut t = Instant::now();
        let mut a = VideoAdaptation::new(1280, 720, 30);
        run(&mut a, &mut t, 1.0, 3_000_000.0);
        run(&mut a, &mut t, 0.3, 500_000.0);
        assert_eq!(run(&mut a, &mut t, 1.0, 3_000_000.0).width, 1280);
    }
}
