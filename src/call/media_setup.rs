//! Which sources and sinks a call uses, parsed from the command line or settings, and opened
//! fresh for each call (the camera's light is on only while in a call).

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use crate::media::audio_analyzer::AudioAnalyzer;
use crate::media::camera::{CameraSelector, CameraSource, CaptureSize};
use crate::media::frame_slot::{FrameSlot, Waker};
use crate::media::microphone::Microphone;
use crate::media::speaker::Speaker;
use crate::media::test_pattern::TestPatternSource;
use crate::media::tone::ToneSource;
use crate::media::voice::cleaned_microphone::CleanedMicrophone;
use crate::media::voice::{Stages, Voice};
use crate::media::vp8::MAX_DECODED_SIZE;
use crate::media::{AudioBlock, AudioSink, AudioSource, MediaError, VideoSource};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoChoice {
    None,
    /// The moving test pattern that carries its frame counter and capture time.
    Synthetic {
        width: u32,
        height: u32,
        fps: u32,
    },
    Camera {
        index: Option<u32>,
        hd: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum AudioChoice {
    None,
    Synthetic {
        hz: f64,
    },
    /// A tone spoken in syllables, like a voice (for measuring echo and noise suppression).
    Voice {
        hz: f64,
    },
    Microphone {
        name: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeakerChoice {
    None,
    /// Analyse what arrives (level, frequency) instead of playing it.
    Analyzer,
    Device {
        name: Option<String>,
    },
}

impl FromStr for VideoChoice {
    type Err = String;

    /// `none`, `synthetic[:WxH@FPS]`, `camera[:N]`, `camera-hd[:N]`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, arg) = s.split_once(':').map_or((s, None), |(k, a)| (k, Some(a)));
        match kind {
            "none" => Ok(VideoChoice::None),
            "synthetic" => {
                let Some(arg) = arg else {
                    return Ok(VideoChoice::Synthetic {
                        width: 640,
                        height: 480,
                        fps: 30,
                    });
                };
                let parse = || -> Option<(u32, u32, u32)> {
                    let (size, fps) = arg.split_once('@').unwrap_or((arg, "30"));
                    let (w, h) = size.split_once('x')?;
                    Some((w.parse().ok()?, h.parse().ok()?, fps.parse().ok()?))
                };
                let Some((width, height, fps)) = parse() else {
                    return Err(format!("expected synthetic:WIDTHxHEIGHT@FPS, got {s:?}"));
                };
                // What the other side decodes (up to 4K, either way round) at a sane rate.
                let (max_w, max_h) = MAX_DECODED_SIZE;
                let fits = (32..=max_w).contains(&width)
                    && (16..=max_w).contains(&height)
                    && u64::from(width) * u64::from(height) <= u64::from(max_w) * u64::from(max_h);
                if !fits || !(1..=120).contains(&fps) {
                    return Err(format!(
                        "synthetic video from 32x16 to {max_w}x{max_h} at 1 to 120 fps, got {s:?}"
                    ));
                }
                Ok(VideoChoice::Synthetic { width, height, fps })
            }
            "camera" | "camera-hd" => Ok(VideoChoice::Camera {
                index: match arg {
                    Some(n) => Some(
                        n.parse()
                            .map_err(|_| format!("bad camera number in {s:?}"))?,
                    ),
                    None => None,
                },
                hd: kind == "camera-hd",
            }),
            _ => Err(format!(
                "unknown video source {s:?}: use none, synthetic[:WxH@FPS] or camera[:N]"
            )),
        }
    }
}

impl FromStr for AudioChoice {
    type Err = String;

    /// `none`, `synthetic[:HZ]`, `voice[:HZ]`, `mic[:NAME]`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, arg) = s.split_once(':').map_or((s, None), |(k, a)| (k, Some(a)));
        let hz = || match arg {
            Some(hz) => hz
                .parse()
                .ok()
                .filter(|hz: &f64| (20.0..=20_000.0).contains(hz))
                .ok_or_else(|| format!("a tone is 20 to 20000 Hz, got {s:?}")),
            None => Ok(440.0),
        };
        match kind {
            "none" => Ok(AudioChoice::None),
            "synthetic" => Ok(AudioChoice::Synthetic { hz: hz()? }),
            "voice" => Ok(AudioChoice::Voice { hz: hz()? }),
            "mic" => Ok(AudioChoice::Microphone {
                name: arg.map(str::to_string),
            }),
            _ => Err(format!(
                "unknown audio source {s:?}: use none, synthetic[:HZ], voice[:HZ] or mic[:NAME]"
            )),
        }
    }
}

impl FromStr for SpeakerChoice {
    type Err = String;

    /// `speaker[:NAME]`, `analyzer`, `none`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "analyzer" => Ok(SpeakerChoice::Analyzer),
            None if s == "none" => Ok(SpeakerChoice::None),
            None if s == "speaker" => Ok(SpeakerChoice::Device { name: None }),
            Some(("speaker", name)) => Ok(SpeakerChoice::Device {
                name: Some(name.to_string()),
            }),
            _ => Err(format!(
                "unknown speaker {s:?}: use speaker[:NAME], analyzer or none"
            )),
        }
    }
}

impl fmt::Display for VideoChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VideoChoice::None => f.write_str("none"),
            VideoChoice::Synthetic { width, height, fps } => {
                write!(f, "synthetic:{width}x{height}@{fps}")
            }
            VideoChoice::Camera { index: None, hd } => {
                f.write_str(if *hd { "camera-hd" } else { "camera" })
            }
            VideoChoice::Camera { index: Some(n), hd } => {
                write!(f, "{}:{n}", if *hd { "camera-hd" } else { "camera" })
            }
        }
    }
}

impl fmt::Display for SpeakerChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpeakerChoice::None => f.write_str("none"),
            SpeakerChoice::Analyzer => f.write_str("analyzer"),
            SpeakerChoice::Device { name: None } => f.write_str("speaker"),
            SpeakerChoice::Device { name: Some(n) } => write!(f, "speaker:{n}"),
        }
    }
}

impl fmt::Display for AudioChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AudioChoice::None => f.write_str("none"),
            AudioChoice::Synthetic { hz } => write!(f, "synthetic:{hz}"),
            AudioChoice::Voice { hz } => write!(f, "voice:{hz}"),
            AudioChoice::Microphone { name: None } => f.write_str("mic"),
            AudioChoice::Microphone { name: Some(n) } => write!(f, "mic:{n}"),
        }
    }
}

impl VideoChoice {
    pub fn open(&self) -> Result<Option<Box<dyn VideoSource>>, MediaError> {
        Ok(match self {
            VideoChoice::None => None,
            VideoChoice::Synthetic { width, height, fps } => {
                Some(Box::new(TestPatternSource::new(*width, *height, *fps)?))
            }
            VideoChoice::Camera { index, hd } => {
                let selector = index.map_or(CameraSelector::Default, CameraSelector::Index);
                let size = if *hd {
                    CaptureSize::Hd720
                } else {
                    CaptureSize::Vga
                };
                Some(Box::new(CameraSource::open(&selector, size)?))
            }
        })
    }

    pub fn fps(&self) -> u32 {
        match self {
            VideoChoice::Synthetic { fps, .. } => *fps,
            _ => 30,
        }
    }
}

impl AudioChoice {
    /// Opens the source; a microphone is cleaned as `voice` says.
    pub fn open(&self, voice: &Arc<Voice>) -> Result<Option<Box<dyn AudioSource>>, MediaError> {
        Ok(match self {
            AudioChoice::None => None,
            AudioChoice::Synthetic { hz } => {
                Some(Box::new(ToneSource::new(*hz, 0.3, true)?.with_sync_marks()))
            }
            AudioChoice::Voice { hz } => {
                Some(Box::new(ToneSource::new(*hz, 0.3, true)?.with_syllables()))
            }
            AudioChoice::Microphone { name } => {
                let mic = Box::new(Microphone::open(name.as_deref())?);
                Some(Box::new(CleanedMicrophone::new(mic, voice.clone())))
            }
        })
    }
}

/// Where decoded remote audio goes. The analyser is shared so a report can read it.
pub enum OpenedSpeaker {
    None,
    Analyzer(Arc<Mutex<AudioAnalyzer>>),
    Device(Speaker),
}

impl AudioSink for OpenedSpeaker {
    fn play(&mut self, block: &AudioBlock) -> crate::media::Result<()> {
        match self {
            OpenedSpeaker::None => Ok(()),
            OpenedSpeaker::Analyzer(a) => a.lock().unwrap_or_else(|p| p.into_inner()).play(block),
            OpenedSpeaker::Device(s) => s.play(block),
        }
    }
}

/// A decoded remote frame as RGBA, for the window.
#[derive(Debug, Clone)]
pub struct RgbaFrame {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// Everything media a call needs, chosen once and opened per call.
#[derive(Clone)]
pub struct MediaSetup {
    pub video: VideoChoice,
    pub audio: AudioChoice,
    pub speaker: SpeakerChoice,
    /// The analyser `SpeakerChoice::Analyzer` feeds (kept across calls; reset per call).
    pub analyzer: Arc<Mutex<AudioAnalyzer>>,
    /// Someone draws the others' video (the window): each other person's frames then go to a
    /// slot of their own, which calls this as each frame arrives. `None`: nobody draws them.
    pub frames_waker: Option<Waker>,
    /// Where the window picks up our own frames (the self-view).
    pub local_frames: Option<Arc<FrameSlot<RgbaFrame>>>,
    /// Frames a second of a screen we share; `None`: the default.
    pub share_fps: Option<u32>,
    /// The ceiling on what our camera sends (`None`: what the link allows).
    pub quality: Option<super::quality::VideoQuality>,
    /// Tones whose level the analyser follows over time in what others send (Hz).
    pub measure_tones: Vec<f64>,
    /// How the microphone is cleaned (echo, noise, gain), fed by every speaker we open.
    pub voice: Arc<Voice>,
}

impl MediaSetup {
    pub fn new(video: VideoChoice, audio: AudioChoice, speaker: SpeakerChoice) -> Self {
        MediaSetup {
            video,
            audio,
            speaker,
            analyzer: Arc::new(Mutex::new(AudioAnalyzer::new(2000))),
            frames_waker: None,
            local_frames: None,
            share_fps: None,
            quality: None,
            measure_tones: Vec::new(),
            voice: Voice::new(Stages::default()),
        }
    }

    pub fn open_speaker(&self) -> Result<OpenedSpeaker, MediaError> {
        Ok(match &self.speaker {
            SpeakerChoice::None => OpenedSpeaker::None,
            SpeakerChoice::Analyzer => OpenedSpeaker::Analyzer(self.analyzer.clone()),
            SpeakerChoice::Device { name } => {
                let echo = self.voice.reference.tap();
                OpenedSpeaker::Device(Speaker::open_feeding(name.as_deref(), Some(echo))?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_print_back() {
        for s in [
            "none",
            "synthetic:1280x720@30",
            "camera",
            "camera:1",
            "camera-hd:0",
        ] {
            assert_eq!(s.parse::<VideoChoice>().unwrap().to_string(), s);
        }
        assert_eq!(
            "synthetic".parse::<VideoChoice>().unwrap(),
            VideoChoice::Synthetic {
                width: 640,
                height: 480,
                fps: 30
            }
        );
        for s in [
            "none",
            "synthetic:1000",
            "voice:440",
            "mic",
            "mic:USB Audio",
        ] {
            assert_eq!(s.parse::<AudioChoice>().unwrap().to_string(), s);
        }
        // Found by fuzzing the settings file: sizes and rates no source or decoder takes.
        for bad in [
            "synthetic:640",
            "synthetic:axb@3",
            "webcam",
            "camera:x",
            "synthetic:0x0@0",
            "synthetic:640x480@0",
            "synthetic:99999x99999@30",
            "synthetic:3840x3840@30",
            "synthetic:640x480@100000",
        ] {
            assert!(bad.parse::<VideoChoice>().is_err(), "{bad}");
        }
        for bad in ["synthetic:5", "speaker", "synthetic:abc"] {
            assert!(bad.parse::<AudioChoice>().is_err(), "{bad}");
        }
    }

    #[test]
    fn no_camera_is_a_typed_error_not_a_panic() {
        // This machine has no camera; a machine with one opens it.
        let camera = VideoChoice::Camera {
            index: Some(7),
            hd: false,
        };
        // nokhwa's camera 7 is /dev/video7 on Linux.
        let present = std::path::Path::new("/dev/video7").exists();
        match camera.open() {
            Ok(_) => assert!(present, "opened a camera that is not there"),
            Err(e) => {
                assert!(!present, "camera 7 is there but did not open: {e}");
                assert!(e.to_string().contains("camera"), "{e}");
            }
        }
    }
}
