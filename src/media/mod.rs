//! The media engine: capture, coding and playback of audio and video.
//!
//! Data flow for one call:
//!
//! ```text
//! send:    VideoSource (camera | test_pattern) --VideoFrame(I420)--> Vp8Encoder --EncodedFrame--> RTP track
//!          AudioSource (microphone | tone) --AudioBlock(20 ms)--> OpusEncoder --packet--> RTP track
//! receive: RTP track --VP8 frame--> Vp8Decoder --VideoFrame--> convert::i420_to_rgba --> FrameSlot --> UI
//!          RTP track --packet--> JitterBuffer --Playout--> OpusDecoder --AudioBlock--> AudioSink (speaker | analyzer)
//! ```
//!
//! Sources block and pace themselves (real time); codecs and the jitter
//! buffer are pure, clock-free logic; device I/O runs on its own threads
//! behind bounded ring buffers. Times are µs since the UNIX epoch
//! ([`frame::now_us`]) so two processes can measure glass-to-glass latency.
//!
//! Files: `frame` (units + constants), `error`, `traits` (source/sink
//! traits), `pacer` (absolute-schedule sleeping), `convert` (pixel formats),
//! `test_pattern` and `tone` (synthetic sources), `camera`, `microphone`,
//! `speaker` with `audio_device` (cpal/nokhwa devices), `vp8`,
//! `screen` (X11 capture), `opus_codec`, `jitter_buffer`, `audio_analyzer`, `frame_slot`, `scale` (downscaling for
//! thin links).

pub mod audio_analyzer;
pub(crate) mod audio_device;
pub mod camera;
pub mod convert;
pub(crate) mod error;
pub(crate) mod frame;
pub mod frame_slot;
pub mod jitter_buffer;
pub mod microphone;
pub mod opus_codec;
pub(crate) mod pacer;
pub mod scale;
pub mod screen;
pub mod speaker;
pub mod test_pattern;
pub mod tone;
pub mod tone_meter;
pub(crate) mod traits;
pub mod voice;
pub mod vp8;

pub use error::{DeviceKind, MediaError, Result};
pub use frame::{now_us, AudioBlock, VideoFrame, BLOCK_SAMPLES, SAMPLE_RATE};
pub use traits::{AudioSink, AudioSource, VideoSource};
