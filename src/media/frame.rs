//! The raw media units that flow between sources, codecs and sinks.

use std::time::{SystemTime, UNIX_EPOCH};

use super::error::{MediaError, Result};

/// Audio sample rate used everywhere inside the engine (Opus' native rate).
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one [`AudioBlock`]: 20 ms at 48 kHz, one Opus frame.
pub const BLOCK_SAMPLES: usize = 960;
/// Duration of one [`AudioBlock`] in microseconds.
pub const BLOCK_US: u64 = 20_000;

/// Wall-clock time in microseconds since the UNIX epoch.
///
/// Wall clock (not `Instant`) so that two processes on one machine can
/// compare capture and display times for glass-to-glass latency.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// One video picture in I420 (YUV 4:2:0, BT.601 limited range).
///
/// Planes are **tightly packed**: `y` is `width * height` bytes with stride
/// `width`; `u` and `v` are `chroma_width() * chroma_height()` bytes with
/// stride `chroma_width()`, where chroma sizes round up for odd sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoFrame {
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
    /// Capture time, microseconds since the UNIX epoch (see [`now_us`]).
    pub capture_us: u64,
}

impl VideoFrame {
    /// A black frame (Y=16, U=V=128) of the given size.
    pub fn black(width: u32, height: u32, capture_us: u64) -> Self {
        let (cw, ch) = chroma_size(width, height);
        VideoFrame {
            width,
            height,
            y: vec![16; width as usize * height as usize],
            u: vec![128; cw * ch],
            v: vec![128; cw * ch],
            capture_us,
        }
    }

    /// Builds a frame from planes, checking that their sizes fit.
    pub fn from_planes(
        width: u32,
        height: u32,
        y: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
        capture_us: u64,
    ) -> Result<Self> {
        let f = VideoFrame {
            width,
            height,
            y,
            u,
            v,
            capture_us,
        };
        f.validate()?;
        Ok(f)
    }

    /// Width of the U and V planes.
    pub fn chroma_width(&self) -> usize {
        chroma_size(self.width, self.height).0
    }

    /// Height of the U and V planes.
    pub fn chroma_height(&self) -> usize {
        chroma_size(self.width, self.height).1
    }

    /// Checks the plane sizes against width/height (fields are public, so
    /// consumers that index planes call this first).
    pub fn validate(&self) -> Result<()> {
        if self.width == 0 || self.height == 0 {
            return Err(MediaError::InvalidInput("empty frame".into()));
        }
        let (cw, ch) = chroma_size(self.width, self.height);
        let ysz = self.width as usize * self.height as usize;
        if self.y.len() != ysz || self.u.len() != cw * ch || self.v.len() != cw * ch {
            return Err(MediaError::InvalidInput(format!(
                "plane sizes {}/{}/{} do not fit {}x{} I420",
                self.y.len(),
                self.u.len(),
                self.v.len(),
                self.width,
                self.height
            )));
        }
        Ok(())
    }
}

/// Chroma plane size for a 4:2:0 picture (rounds up for odd sizes).
pub fn chroma_size(width: u32, height: u32) -> (usize, usize) {
    (width.div_ceil(2) as usize, height.div_ceil(2) as usize)
}

/// 20 ms of 48 kHz mono audio as signed 16-bit samples.
///
/// i16 because that is what Opus codes natively and what most devices
/// deliver; it halves ring-buffer memory compared to f32.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioBlock {
    pub samples: [i16; BLOCK_SAMPLES],
    /// Capture time of the first sample, microseconds since the UNIX epoch;
    /// 0 when unknown (e.g. concealed audio).
    pub capture_us: u64,
}

impl AudioBlock {
    /// A block of digital silence.
    pub fn silence(capture_us: u64) -> Self {
        AudioBlock {
            samples: [0; BLOCK_SAMPLES],
            capture_us,
        }
    }

    /// Builds a block from exactly [`BLOCK_SAMPLES`] samples.
    pub fn from_slice(samples: &[i16], capture_us: u64) -> Result<Self> {
        let samples: [i16; BLOCK_SAMPLES] = samples.try_into().map_err(|_| {
            MediaError::InvalidInput(format!(
                "audio block needs {BLOCK_SAMPLES} samples, got {}",
                samples.len()
            ))
        })?;
        Ok(AudioBlock {
            samples,
            capture_us,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_sizes_round_chroma_up() {
        let f = VideoFrame::black(5, 3, 0);
        assert_eq!((f.chroma_width(), f.chroma_height()), (3, 2));
        assert_eq!(f.u.len(), 6);
        assert!(f.validate().is_ok());
    }

    #[test]
    fn bad_planes_are_rejected() {
        let r = VideoFrame::from_planes(4, 4, vec![0; 15], vec![0; 4], vec![0; 4], 0);
        assert!(matches!(r, Err(MediaError::InvalidInput(_))));
        assert!(AudioBlock::from_slice(&[0; 959], 0).is_err());
        assert!(AudioBlock::from_slice(&[0; 960], 0).is_ok());
    }
}
