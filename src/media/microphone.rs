//! Microphone capture via cpal, delivered as 48 kHz mono 20 ms blocks.

use std::sync::Arc;
use std::time::Duration;

use cpal::traits::DeviceTrait;

use super::audio_device::{
    f32_to_i16, find_device, list_devices, mix_to_mono, pick_config, stream_config,
    AudioDeviceInfo, LinearResampler, SampleRing, StreamThread,
};
use super::error::{DeviceKind, MediaError, Result};
use super::frame::{now_us, AudioBlock, BLOCK_SAMPLES, SAMPLE_RATE};
use super::traits::AudioSource;

const KIND: DeviceKind = DeviceKind::Microphone;
/// Ring capacity: 500 ms. If the engine stalls longer, old audio is dropped
/// (stale speech is worse than a gap).
const RING_SAMPLES: usize = SAMPLE_RATE as usize / 2;
/// How long `next_block` waits before declaring the device dead.
const STALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Lists capture devices.
pub fn list_microphones() -> Result<Vec<AudioDeviceInfo>> {
    list_devices(KIND)
}

/// An open capture stream. Blocks from [`AudioSource::next_block`] come at
/// the device's pace.
#[derive(Debug)]
pub struct Microphone {
    ring: Arc<SampleRing>,
    name: String,
    device_format: String,
    _stream: StreamThread,
}

impl Microphone {
    /// Opens the device called `name`, or the default one for `None`. If
    /// the default device cannot be opened we try ALSA's "pulse" device
    /// before giving up (with PulseAudio running, "default" is normally
    /// routed there already).
    pub fn open(name: Option<&str>) -> Result<Self> {
        match (Self::open_exact(name), name) {
            (Err(e), None) => Self::open_exact(Some("pulse")).map_err(|_| e),
            (r, _) => r,
        }
    }

    fn open_exact(name: Option<&str>) -> Result<Self> {
        let ring = Arc::new(SampleRing::new(RING_SAMPLES));
        let cb_ring = ring.clone();
        let name = name.map(str::to_string);
        let (stream, (name, device_format)) = StreamThread::spawn(KIND, move || {
            let device = find_device(KIND, name.as_deref())?;
            let dev_name = device.name().unwrap_or_else(|_| "?".into());
            let ranges = device
                .supported_input_configs()
                .map_err(|e| MediaError::device_failed(KIND, e))?
                .collect();
            let supported = pick_config(KIND, ranges)?;
            let config = stream_config(&supported);
            let channels = config.channels as usize;
            let mut resampler = LinearResampler::new(config.sample_rate.0, SAMPLE_RATE);
            let mut scratch = Vec::with_capacity(4096);
            let err_ring = cb_ring.clone();
            let stream = device
                .build_input_stream_raw(
                    &config,
                    supported.sample_format(),
                    move |data: &cpal::Data, _: &cpal::InputCallbackInfo| {
                        scratch.clear();
                        mix_to_mono(data, channels, &mut |x| {
                            resampler.push(x, |y| scratch.push(f32_to_i16(y)))
                        });
                        cb_ring.push(scratch.drain(..));
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
        Ok(Microphone {
            ring,
            name,
            device_format,
            _stream: stream,
        })
    }

    /// Device name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the device delivers before conversion, e.g. "44100 Hz, 2 ch, F32".
    pub fn device_format(&self) -> &str {
        &self.device_format
    }

    /// Samples dropped because the engine did not keep up.
    pub fn dropped_samples(&self) -> u64 {
        self.ring.dropped()
    }
}

impl AudioSource for Microphone {
    fn next_block(&mut self) -> Result<AudioBlock> {
        match self.ring.pop_block(STALL_TIMEOUT) {
            Some((samples, queued_after)) => {
                // The block's first sample was captured before everything
                // still queued behind it and the block itself.
                let age_us = (queued_after + BLOCK_SAMPLES) as u64 * 1_000_000 / SAMPLE_RATE as u64;
                Ok(AudioBlock {
                    samples,
                    capture_us: now_us().saturating_sub(age_us),
                })
            }
            None => Err(MediaError::device_failed(
                KIND,
                self.ring
                    .error()
                    .unwrap_or_else(|| format!("no audio for {STALL_TIMEOUT:?}")),
            )),
        }
    }
}
