//! Downscaling I420 frames by area averaging: each output sample is the mean of the source
//! samples it covers (fixed point, 16 fractional bits), which keeps edges and the test pattern's
//! marker readable, unlike skipping samples. Used when the link is too thin for the source size.

use super::error::{MediaError, Result};
use super::frame::{chroma_size, VideoFrame};

/// `frame` scaled to `width`×`height` (no larger than the source).
pub fn downscale(frame: &VideoFrame, width: u32, height: u32) -> Result<VideoFrame> {
    frame.validate()?;
    if width == 0 || height == 0 || width > frame.width || height > frame.height {
        return Err(MediaError::InvalidInput(format!(
            "cannot scale {}x{} to {width}x{height}",
            frame.width, frame.height
        )));
    }
    if (width, height) == (frame.width, frame.height) {
        return Ok(frame.clone());
    }
    let (scw, sch) = chroma_size(frame.width, frame.height);
    let (dcw, dch) = chroma_size(width, height);
    Ok(VideoFrame {
        width,
        height,
        y: plane(
            &frame.y,
            frame.width as usize,
            frame.height as usize,
            width as usize,
            height as usize,
        ),
        u: plane(&frame.u, scw, sch, dcw, dch),
        v: plane(&frame.v, scw, sch, dcw, dch),
        capture_us: frame.capture_us,
    })
}

/// Which source samples one output sample covers: the first and last, and their weights in
/// 1/65536 of a sample (the ones between count fully).
#[derive(Debug, Clone, Copy)]
struct Span {
    first: usize,
    last: usize,
    first_weight: u64,
    last_weight: u64,
}

impl Span {
    /// The weighted sum of `sample(i)` over the span, in 1/65536.
    fn sum(&self, sample: impl Fn(usize) -> u64) -> u64 {
        if self.first == self.last {
            return sample(self.first) * self.first_weight;
        }
        let middle: u64 = (self.first + 1..self.last).map(&sample).sum();
        sample(self.first) * self.first_weight
            + middle * 65_536
            + sample(self.last) * self.last_weight
    }
}

/// The spans of `dst` output samples over `src` source samples, and the width of each (the
/// same for all) in 1/65536.
fn spans(src: usize, dst: usize) -> (Vec<Span>, u64) {
    let step = ((src as u64) << 16) / dst as u64;
    let spans = (0..dst as u64)
        .map(|i| {
            let (start, end) = (i * step, (i + 1) * step);
            let first = (start >> 16) as usize;
            let last = (((end - 1) >> 16) as usize).min(src - 1);
            if first == last {
                Span {
                    first,
                    last,
                    first_weight: end - start,
                    last_weight: 0,
                }
            } else {
                Span {
                    first,
                    last,
                    first_weight: ((first as u64 + 1) << 16) - start,
                    last_weight: end - ((last as u64) << 16),
                }
            }
        })
        .collect();
    (spans, step)
}

fn plane(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    let (xs, x_step) = spans(sw, dw);
    let (ys, y_step) = spans(sh, dh);
    // Each source row averaged horizontally first, kept ×256 for precision.
    let mut rows = vec![0u64; sh * dw];
    for y in 0..sh {
        let line = &src[y * sw..(y + 1) * sw];
        for (x, span) in xs.iter().enumerate() {
            rows[y * dw + x] = span.sum(|i| line[i] as u64) * 256 / x_step;
        }
    }
    let mut out = vec![0u8; dw * dh];
    for (y, span) in ys.iter().enumerate() {
        for x in 0..dw {
            let value = span.sum(|r| rows[r * dw + x]) / y_step;
            out[y * dw + x] = ((value + 128) / 256).min(255) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::test_pattern::{read_marker_frame, TestPattern};

    #[test]
    fn flat_stays_flat_and_halving_averages_pairs() {
        let mut f = VideoFrame::black(8, 4, 7);
        f.y = (0..32).map(|i| if i % 2 == 0 { 0 } else { 200 }).collect();
        let half = downscale(&f, 4, 2).unwrap();
        assert!(half.y.iter().all(|&v| v == 100), "{:?}", half.y);
        assert!(half.u.iter().all(|&v| v == 128));
        assert_eq!(half.capture_us, 7);
        let three_quarters = downscale(&VideoFrame::black(640, 480, 0), 480, 360).unwrap();
        assert!(three_quarters.y.iter().all(|&v| v == 16));
        three_quarters.validate().unwrap();
    }

    #[test]
    fn the_test_pattern_marker_survives_every_step_of_the_ladder() {
        let pattern = TestPattern::new(640, 480).unwrap();
        let frame = pattern.render(4242, 123_456_789);
        for (w, h) in [(480, 360), (320, 240), (240, 180)] {
            let small = downscale(&frame, w, h).unwrap();
            let marker =
                read_marker_frame(&small).unwrap_or_else(|| panic!("no marker at {w}x{h}"));
            assert_eq!((marker.counter, marker.capture_us), (4242, 123_456_789));
        }
    }

    #[test]
    fn upscaling_and_empty_sizes_are_refused() {
        let f = VideoFrame::black(64, 48, 0);
        assert!(downscale(&f, 128, 48).is_err());
        assert!(downscale(&f, 0, 48).is_err());
    }
}
