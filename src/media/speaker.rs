//! Audio playback via cpal from 48 kHz mono 20 ms blocks.

use std::sync::Arc;

use cpal::traits::DeviceTrait;

use super::audio_device::{
    find_device, list_devices, pick_config, stream_config, write_from_mono, AudioDeviceInfo,
    LinearResampler, SampleRing, StreamThread,
};
use super::error::{DeviceKind, MediaError, Result};
use super::frame::{AudioBlock, SAMPLE_RATE};
use super::traits::AudioSink;
use super::voice::EchoTap;

const KIND: DeviceKind = DeviceKind::Speaker;
/// Ring capacity: 500 ms; more queued audio is only added latency, so the
/// oldest is dropped.
const RING_SAMPLES: usize = SAMPLE_RATE as usize / 2;

/// Lists playback devices.
pub fn list_speakers() -> Result<Vec<AudioDeviceInfo>> {
    list_devices(KIND)
}

/// An open playback stream. [`AudioSink::play`] queues a block and returns;
/// the device callback drains the queue at its own pace (silence on
/// underrun). Feed it by polling [`Speaker::buffered_ms`] and popping the
/// jitter buffer whenever it falls below ~40 ms.
#[derive(Debug)]
pub struct Speaker {
    ring: Arc<SampleRing>,
    name: String,
    device_format: String,
    _stream: StreamThread,
}

impl Speaker {
    /// Opens the device called `name`, or the default one for `None`
    /// (falling back to ALSA's "pulse" device, as [`super::microphone::Microphone::open`]).
    pub fn open(name: Option<&str>) -> Result<Self> {
        Self::open_feeding(name, None)
    }

    /// As [`Self::open`], and hands `echo` what the device callback plays, as it plays it (the
    /// echo canceller's reference).
    pub fn open_feeding(name: Option<&str>, echo: Option<Arc<EchoTap>>) -> Result<Self> {
        match (Self::open_exact(name, echo.clone()), name) {
            (Err(e), None) => Self::open_exact(Some("pulse"), echo).map_err(|_| e),
            (r, _) => r,
        }
    }

    fn open_exact(name: Option<&str>, echo: Option<Arc<EchoTap>>) -> Result<Self> {
        let ring = Arc::new(SampleRing::new(RING_SAMPLES));
        let cb_ring = ring.clone();
        let name = name.map(str::to_string);
        let (stream, (name, device_format)) = StreamThread::spawn(KIND, move || {
            let device = find_device(KIND, name.as_deref())?;
            let dev_name = device.name().unwrap_or_else(|_| "?".into());
            let ranges = device
                .supported_output_configs()
                .map_err(|e| MediaError::device_failed(KIND, e))?
                .collect();
            let supported = pick_config(KIND, ranges)?;
            let config = stream_config(&supported);
            let channels = config.channels as usize;
            let mut resampler = LinearResampler::new(SAMPLE_RATE, config.sample_rate.0);
            let mut mono = Vec::with_capacity(4096);
            let mut played = Vec::with_capacity(4096);
            let err_ring = cb_ring.clone();
            let stream = device
                .build_output_stream_raw(
                    &config,
                    supported.sample_format(),
                    move |data: &mut cpal::Data, _: &cpal::OutputCallbackInfo| {
                        let frames = data.len() / channels.max(1);
                        mono.clear();
                        played.clear();
                        cb_ring.pull_resampled(
                            &mut resampler,
                            frames,
                            |y| mono.push(y),
                            |x| played.push(x),
                        );
                        write_from_mono(data, channels, &mono);
                        if let Some(echo) = &echo {
                            echo.played(&played);
                        }
                    },
                    move |e| err_ring.set_error(e.to_string()),
                    None,
                )
                .map_err(|e| MediaError::device_failed(KIND, e))?;
            let fmt = format!(
                "{} Hz, {} ch, {:?}",
                config.sample_rate.0,
                channels,
                supported.sample_format()
            );
            Ok((stream, (dev_name, fmt)))
        })?;
        Ok(Speaker {
            ring,
            name,
            device_format,
            _stream: stream,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the device plays after conversion, e.g. "44100 Hz, 2 ch, F32".
    pub fn device_format(&self) -> &str {
        &self.device_format
    }

    /// Audio queued and not yet handed to the device, in milliseconds.
    pub fn buffered_ms(&self) -> u32 {
        (self.ring.len() as u64 * 1000 / SAMPLE_RATE as u64) as u32
    }

    /// Device callbacks that found the queue short (played silence).
    pub fn underruns(&self) -> u64 {
        self.ring.underruns()
    }
}

impl AudioSink for Speaker {
    fn play(&mut self, block: &AudioBlock) -> Result<()> {
        if let Some(e) = self.ring.error() {
            return Err(MediaError::device_failed(KIND, e));
        }
        self.ring.push(block.samples.iter().copied());
        Ok(())
    }
}
