//! Synthetic video source whose pictures carry a machine-readable marker.
//!
//! Each frame shows moving diagonal stripes and a moving bar (so the encoder
//! has real work) and, across the middle of the picture, a 16x8 grid of big
//! black/white cells encoding the frame counter (u32), the capture time
//! (u64 µs) and a CRC-32 of both. Cell positions are fractions of the frame
//! size, so [`read_marker`] works on a picture of any size: a decoded frame,
//! a scaled copy, or a screenshot cropped a few pixels off. The CRC makes a
//! bad read return `None` rather than a wrong number.

use std::time::Duration;

use super::error::{MediaError, Result};
use super::frame::{now_us, VideoFrame};
use super::pacer::Pacer;
use super::traits::VideoSource;

const COLS: usize = 16;
const ROWS: usize = 8;
const DATA_BITS: usize = 96;
const BITS: usize = COLS * ROWS; // 96 data + 32 CRC
/// Code area as fractions (numerator / DEN) of width and height.
const DEN: usize = 100;
const LEFT: usize = 4;
const RIGHT: usize = 96;
const TOP: usize = 20;
const BOTTOM: usize = 80;
/// Luma of a 1 and a 0 cell (limited range white/black).
const WHITE: u8 = 235;
const BLACK: u8 = 16;

/// What a marker carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub counter: u32,
    pub capture_us: u64,
}

/// Renders test-pattern frames of a fixed size (unpaced; see
/// [`TestPatternSource`] for the real-time source).
#[derive(Debug, Clone)]
pub struct TestPattern {
    width: u32,
    height: u32,
}

impl TestPattern {
    /// Sizes below 32x16 leave cells too small to be useful.
    pub fn new(width: u32, height: u32) -> Result<Self> {
        if width < 32 || height < 16 || width > 8192 || height > 8192 {
            return Err(MediaError::Unsupported(format!(
                "test pattern size {width}x{height}"
            )));
        }
        Ok(TestPattern { width, height })
    }

    /// Draws frame number `counter` with its capture time.
    pub fn render(&self, counter: u32, capture_us: u64) -> VideoFrame {
        let mut f = VideoFrame::black(self.width, self.height, capture_us);
        let (w, h) = (self.width as usize, self.height as usize);
        let t = counter as usize;
        // Moving background: diagonal stripes plus a vertical bar that
        // sweeps across, so every frame differs from the last.
        let bar_w = (w / 10).max(1);
        let bar_x = (t * 7) % w;
        for y in 0..h {
            let row = &mut f.y[y * w..(y + 1) * w];
            for (x, p) in row.iter_mut().enumerate() {
                let stripe = ((x + y * 2 + t * 5) % 96) as u8; // 0..95
                let in_bar = (x + w - bar_x) % w < bar_w;
                *p = if in_bar { 200 } else { 40 + stripe };
            }
        }
        let (cw, ch) = (f.chroma_width(), f.chroma_height());
        for y in 0..ch {
            for x in 0..cw {
                f.u[y * cw + x] = 128 + ((x + t * 3) % 64) as u8 - 32;
                f.v[y * cw + x] = 128 + ((y + t * 2) % 64) as u8 - 32;
            }
        }
        self.draw_marker(&mut f, counter, capture_us);
        f
    }

    fn draw_marker(&self, f: &mut VideoFrame, counter: u32, capture_us: u64) {
        let bits = encode_bits(Marker {
            counter,
            capture_us,
        });
        let (w, h) = (f.width as usize, f.height as usize);
        let (x0, x1) = (w * LEFT / DEN, w * RIGHT / DEN);
        let (y0, y1) = (h * TOP / DEN, h * BOTTOM / DEN);
        for y in y0..y1 {
            let row = (y - y0) * ROWS / (y1 - y0);
            for x in x0..x1 {
                let col = (x - x0) * COLS / (x1 - x0);
                f.y[y * w + x] = if bits[row * COLS + col] { WHITE } else { BLACK };
            }
        }
        let cw = f.chroma_width();
        for y in y0 / 2..y1.div_ceil(2).min(f.chroma_height()) {
            for x in x0 / 2..x1.div_ceil(2).min(cw) {
                f.u[y * cw + x] = 128;
                f.v[y * cw + x] = 128;
            }
        }
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    // Plain bitwise CRC-32 (IEEE); 12 bytes per frame, speed is irrelevant.
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn payload(m: Marker) -> [u8; 12] {
    let mut p = [0u8; 12];
    p[..4].copy_from_slice(&m.counter.to_be_bytes());
    p[4..].copy_from_slice(&m.capture_us.to_be_bytes());
    p
}

fn encode_bits(m: Marker) -> [bool; BITS] {
    let p = payload(m);
    let crc = crc32(&p).to_be_bytes();
    let mut bits = [false; BITS];
    for (i, byte) in p.iter().chain(crc.iter()).enumerate() {
        for b in 0..8 {
            bits[i * 8 + b] = byte & (0x80 >> b) != 0;
        }
    }
    bits
}

fn decode_bits(bits: &[bool; BITS]) -> Option<Marker> {
    let mut bytes = [0u8; BITS / 8];
    for (i, byte) in bytes.iter_mut().enumerate() {
        for b in 0..8 {
            if bits[i * 8 + b] {
                *byte |= 0x80 >> b;
            }
        }
    }
    let p: [u8; 12] = bytes[..DATA_BITS / 8].try_into().ok()?;
    let crc = u32::from_be_bytes(bytes[DATA_BITS / 8..].try_into().ok()?);
    if crc32(&p) != crc {
        return None;
    }
    Some(Marker {
        counter: u32::from_be_bytes(p[..4].try_into().ok()?),
        capture_us: u64::from_be_bytes(p[4..].try_into().ok()?),
    })
}

/// Reads the marker from a picture of any size given a function returning
/// the luma at (x, y).
fn read_with(width: usize, height: usize, luma: impl Fn(usize, usize) -> u8) -> Option<Marker> {
    if width < 32 || height < 16 {
        return None;
    }
    let (x0, x1) = (width * LEFT / DEN, width * RIGHT / DEN);
    let (y0, y1) = (height * TOP / DEN, height * BOTTOM / DEN);
    let (cell_w, cell_h) = (
        (x1 - x0) as f32 / COLS as f32,
        (y1 - y0) as f32 / ROWS as f32,
    );
    // Sample only the central 40% of each cell: survives blur at cell edges,
    // scaling, and the picture being shifted by a few pixels.
    let (hw, hh) = ((cell_w * 0.2).max(0.5), (cell_h * 0.2).max(0.5));
    let mut avg = [0f32; BITS];
    for row in 0..ROWS {
        for col in 0..COLS {
            let cx = x0 as f32 + (col as f32 + 0.5) * cell_w;
            let cy = y0 as f32 + (row as f32 + 0.5) * cell_h;
            let (xa, xb) = ((cx - hw).round() as usize, (cx + hw).round() as usize);
            let (ya, yb) = ((cy - hh).round() as usize, (cy + hh).round() as usize);
            let (mut sum, mut n) = (0u32, 0u32);
            for y in ya..yb.min(height) {
                for x in xa..xb.min(width) {
                    sum += luma(x, y) as u32;
                    n += 1;
                }
            }
            if n == 0 {
                return None;
            }
            avg[row * COLS + col] = sum as f32 / n as f32;
        }
    }
    let lo = avg.iter().copied().fold(f32::MAX, f32::min);
    let hi = avg.iter().copied().fold(f32::MIN, f32::max);
    let contrast = hi - lo;
    if contrast < 80.0 {
        return None;
    }
    let threshold = (hi + lo) / 2.0;
    let mut bits = [false; BITS];
    for (bit, a) in bits.iter_mut().zip(avg) {
        // A cell near the threshold means we are not looking at the code
        // (or it is badly damaged): refuse rather than guess.
        if (a - threshold).abs() < contrast * 0.2 {
            return None;
        }
        *bit = a > threshold;
    }
    decode_bits(&bits)
}

/// Reads the marker from a luma (grey) plane of any size; `stride` is the
/// distance between rows in bytes. `None` if absent or damaged.
pub fn read_marker(luma: &[u8], width: u32, height: u32, stride: usize) -> Option<Marker> {
    let (w, h) = (width as usize, height as usize);
    if stride < w || luma.len() < stride * (h.max(1) - 1) + w {
        return None;
    }
    read_with(w, h, |x, y| luma[y * stride + x])
}

/// Reads the marker from a tightly packed RGBA picture (e.g. a screenshot).
pub fn read_marker_rgba(rgba: &[u8], width: u32, height: u32) -> Option<Marker> {
    let (w, h) = (width as usize, height as usize);
    if rgba.len() < w * h * 4 {
        return None;
    }
    read_with(w, h, |x, y| {
        let p = &rgba[(y * w + x) * 4..];
        ((66 * p[0] as u32 + 129 * p[1] as u32 + 25 * p[2] as u32 + 128) >> 8) as u8 + 16
    })
}

/// Reads the marker from an I420 frame's luma plane.
pub fn read_marker_frame(frame: &VideoFrame) -> Option<Marker> {
    read_marker(&frame.y, frame.width, frame.height, frame.width as usize)
}

/// Real-time test-pattern source: `fps` frames per second on an absolute
/// schedule, each stamped with its capture time.
#[derive(Debug)]
pub struct TestPatternSource {
    pattern: TestPattern,
    fps: u32,
    counter: u32,
    pacer: Pacer,
}

impl TestPatternSource {
    pub fn new(width: u32, height: u32, fps: u32) -> Result<Self> {
        if fps == 0 || fps > 240 {
            return Err(MediaError::Unsupported(format!("{fps} fps")));
        }
        Ok(TestPatternSource {
            pattern: TestPattern::new(width, height)?,
            fps,
            counter: 0,
            pacer: Pacer::new(Duration::from_nanos(1_000_000_000 / fps as u64)),
        })
    }
}

impl VideoSource for TestPatternSource {
    fn next_frame(&mut self) -> Result<VideoFrame> {
        self.pacer.wait();
        let f = self.pattern.render(self.counter, now_us());
        self.counter = self.counter.wrapping_add(1);
        Ok(f)
    }

    fn describe(&self) -> String {
        format!(
            "test pattern {}x{}@{}",
            self.pattern.width, self.pattern.height, self.fps
        )
    }

    fn size(&self) -> (u32, u32) {
        (self.pattern.width, self.pattern.height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trips_on_raw_frame() {
        let p = TestPattern::new(640, 480).unwrap();
        for (c, t) in [(0, 0), (1, 1_700_000_000_123_456), (u32::MAX, u64::MAX)] {
            let f = p.render(c, t);
            assert_eq!(
                read_marker_frame(&f),
                Some(Marker {
                    counter: c,
                    capture_us: t
                })
            );
        }
    }

    #[test]
    fn small_and_odd_sizes_work() {
        let p = TestPattern::new(97, 61).unwrap();
        let f = p.render(42, 4242);
        assert!(f.validate().is_ok());
        assert_eq!(read_marker_frame(&f).map(|m| m.counter), Some(42));
    }

    #[test]
    fn damaged_or_missing_marker_reads_none() {
        let p = TestPattern::new(320, 240).unwrap();
        let mut f = p.render(7, 77);
        // Flip one cell (top-left of the grid) fully.
        let (x, y) = (320 * LEFT / DEN + 3, 240 * TOP / DEN + 3);
        let cell = f.y[y * 320 + x];
        let flipped = if cell > 128 { BLACK } else { WHITE };
        for yy in y..y + 8 {
            for xx in x..x + 10 {
                f.y[yy * 320 + xx] = flipped;
            }
        }
        assert_eq!(read_marker_frame(&f), None);
        let grey = vec![128u8; 320 * 240];
        assert_eq!(read_marker(&grey, 320, 240, 320), None);
        assert_eq!(read_marker(&grey, 320, 240, 100), None, "bad stride");
        assert_eq!(read_marker_rgba(&[0; 10], 320, 240), None);
    }

    #[test]
    fn background_moves() {
        let p = TestPattern::new(160, 120).unwrap();
        let (a, b) = (p.render(1, 0), p.render(2, 0));
        let differing = a.y.iter().zip(&b.y).filter(|(x, y)| x != y).count();
        assert!(differing > 160 * 120 / 4, "{differing}");
    }

    #[test]
    fn source_is_paced() {
        let mut s = TestPatternSource::new(64, 48, 100).unwrap();
        let t0 = std::time::Instant::now();
        let mut last = 0;
        for i in 0..11 {
            let f = s.next_frame().unwrap();
            assert_eq!(read_marker_frame(&f).unwrap().counter, i);
            assert!(f.capture_us >= last);
            last = f.capture_us;
        }
        assert!(t0.elapsed() >= Duration::from_millis(100));
        assert_eq!(s.size(), (64, 48));
    }
}
