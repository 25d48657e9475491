//! The video quality people choose: a ceiling on the height and frame rate we send
//! (360p/480p/720p/1080p, 15/30 fps). Congestion control may send less, never more. Pure.

use std::fmt;
use std::str::FromStr;

use super::adaptation::EncodeFormat;

/// At most this tall and this many frames a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoQuality {
    pub height: u32,
    pub fps: u32,
}

impl VideoQuality {
    /// What the window offers.
    pub const CHOICES: [VideoQuality; 8] = [
        VideoQuality::new(360, 15),
        VideoQuality::new(360, 30),
        VideoQuality::new(480, 15),
        VideoQuality::new(480, 30),
        VideoQuality::new(720, 15),
        VideoQuality::new(720, 30),
        VideoQuality::new(1080, 15),
        VideoQuality::new(1080, 30),
    ];

    pub const fn new(height: u32, fps: u32) -> VideoQuality {
        VideoQuality { height, fps }
    }

    /// A camera must be opened in HD to give this much.
    pub fn wants_hd(&self) -> bool {
        self.height > 480
    }

    /// `format` (what the link allows) within this ceiling, for a source of `source` size at
    /// `source_fps`: smaller pictures keep their shape; the frame rate drops by whole divisors.
    pub fn limit(&self, format: EncodeFormat, source: (u32, u32), source_fps: u32) -> EncodeFormat {
        let mut out = format;
        if format.height > self.height {
            let scale = self.height as f64 / format.height as f64;
            out.width = ((format.width as f64 * scale) as u32 & !1).max(2);
            out.height = (self.height & !1).max(2);
        }
        // Never wider than the source either (a portrait source stays within it).
        out.width = out.width.min(source.0);
        out.height = out.height.min(source.1);
        let divisor = source_fps.max(1).div_ceil(self.fps.max(1));
        out.frame_divisor = out.frame_divisor.max(divisor);
        out
    }
}

impl fmt::Display for VideoQuality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}p{}", self.height, self.fps)
    }
}

impl FromStr for VideoQuality {
    type Err = String;

    /// `720p30`, `360p15`, …: one of [`VideoQuality::CHOICES`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        VideoQuality::CHOICES
            .into_iter()
            .find(|q| q.to_string() == s)
            .ok_or_else(|| {
                let all: Vec<String> = VideoQuality::CHOICES
                    .iter()
                    .map(|q| q.to_string())
                    .collect();
                format!("video quality {s:?}: one of {}", all.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(width: u32, height: u32, frame_divisor: u32) -> EncodeFormat {
        EncodeFormat {
            width,
            height,
            frame_divisor,
        }
    }

    #[test]
    fn a_ceiling_scales_down_keeping_the_shape_and_divides_the_frame_rate() {
        let q = VideoQuality::new(360, 15);
        assert_eq!(
            q.limit(format(1280, 720, 1), (1280, 720), 30),
            format(640, 360, 2)
        );
        // Already below it: only the frame rate.
        assert_eq!(
            q.limit(format(320, 180, 1), (1280, 720), 30),
            format(320, 180, 2)
        );
        // Congestion control halved the rate already: it stays halved.
        assert_eq!(
            q.limit(format(480, 270, 2), (1280, 720), 30),
            format(480, 270, 2)
        );
        let q = VideoQuality::new(1080, 30);
        assert_eq!(
            q.limit(format(640, 480, 1), (640, 480), 30),
            format(640, 480, 1)
        );
        // A 15 fps source at a 30 fps ceiling sends every frame.
        assert_eq!(
            q.limit(format(640, 480, 1), (640, 480), 15),
            format(640, 480, 1)
        );
        // 4:3 at 480p.
        let q = VideoQuality::new(480, 30);
        assert_eq!(
            q.limit(format(1280, 960, 1), (1280, 960), 30),
            format(640, 480, 1)
        );
    }

    #[test]
    fn qualities_are_written_as_people_say_them() {
        for q in VideoQuality::CHOICES {
            assert_eq!(q.to_string().parse::<VideoQuality>(), Ok(q));
        }
        assert_eq!("720p30".parse(), Ok(VideoQuality::new(720, 30)));
        assert!("720p60".parse::<VideoQuality>().is_err());
        assert!("".parse::<VideoQuality>().is_err());
        assert!(VideoQuality::new(720, 15).wants_hd());
        assert!(!VideoQuality::new(480, 30).wants_hd());
    }
}
