//! Shared plumbing for cpal audio devices: device lookup, sample format and
//! channel conversion, a linear resampler and a bounded sample ring.
//!
//! Linux routing, as found on Debian with pulseaudio + libasound2-plugins:
//! cpal uses ALSA, and /etc/alsa/conf.d/99-pulse.conf makes ALSA's
//! "default" device PulseAudio whenever a pulse server is running (no
//! ~/.asoundrc needed). So the default input/output is pulse's default
//! source/sink; a null sink's monitor works as a virtual microphone. The
//! device named "pulse" is the explicit fallback if "default" fails.
//!
//! Device I/O runs on cpal's callback thread; the engine talks to it through
//! a [`SampleRing`] that never grows (it drops the oldest samples), so a
//! stalled consumer cannot eat memory or build up latency without bound.

use std::collections::VecDeque;
use std::sync::{mpsc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{
    FromSample, Sample, SampleFormat, SampleRate, SupportedStreamConfig, SupportedStreamConfigRange,
};

use super::error::{DeviceKind, MediaError, Result};
use super::frame::{BLOCK_SAMPLES, SAMPLE_RATE};

/// A device as listed to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioDeviceInfo {
    pub name: String,
    pub is_default: bool,
}

fn devices(kind: DeviceKind) -> Result<(Vec<cpal::Device>, Option<String>)> {
    let host = cpal::default_host();
    let (list, default) = match kind {
        DeviceKind::Microphone => (host.input_devices(), host.default_input_device()),
        _ => (host.output_devices(), host.default_output_device()),
    };
    let list = list.map_err(|e| MediaError::device_failed(kind, e))?;
    Ok((list.collect(), default.and_then(|d| d.name().ok())))
}

/// Lists input (`Microphone`) or output (`Speaker`) devices.
pub fn list_devices(kind: DeviceKind) -> Result<Vec<AudioDeviceInfo>> {
    let (list, default) = devices(kind)?;
    Ok(list
        .iter()
        .filter_map(|d| d.name().ok())
        .map(|name| AudioDeviceInfo {
            is_default: Some(&name) == default.as_ref(),
            name,
        })
        .collect())
}

/// Finds a device by exact name, or the system default for `None`.
pub(crate) fn find_device(kind: DeviceKind, name: Option<&str>) -> Result<cpal::Device> {
    let host = cpal::default_host();
    match name {
        None => {
            let d = match kind {
                DeviceKind::Microphone => host.default_input_device(),
                _ => host.default_output_device(),
            };
            d.ok_or(MediaError::NoDevice(kind))
        }
        Some(name) => {
            let (list, _) = devices(kind)?;
            list.into_iter()
                .find(|d| d.name().is_ok_and(|n| n == name))
                .ok_or_else(|| MediaError::DeviceNotFound {
                    kind,
                    name: name.to_string(),
                })
        }
    }
}

/// Picks the stream format closest to what we want (48 kHz, mono, f32/i16)
/// among what the device supports.
pub(crate) fn pick_config(
    kind: DeviceKind,
    ranges: Vec<SupportedStreamConfigRange>,
) -> Result<SupportedStreamConfig> {
    let want = SampleRate(SAMPLE_RATE);
    let score = |r: &SupportedStreamConfigRange| {
        let rate_ok = r.min_sample_rate() <= want && want <= r.max_sample_rate();
        let fmt_ok = matches!(r.sample_format(), SampleFormat::F32 | SampleFormat::I16);
        (rate_ok as u8) * 4 + (r.channels() == 1) as u8 * 2 + fmt_ok as u8
    };
    let best = ranges
        .into_iter()
        .filter(|r| is_supported_format(r.sample_format()) && r.channels() > 0)
        .max_by_key(score)
        .ok_or_else(|| MediaError::Unsupported(format!("{kind} offers no usable format")))?;
    Ok(best
        .try_with_sample_rate(want)
        .unwrap_or_else(|| best.with_max_sample_rate()))
}

/// The stream settings for `supported`, with a device buffer of about 20 ms where the device
/// takes one: the default can be hundreds of ms, which is that much more delay between talking
/// and being heard, and an echo path longer than the echo canceller follows well.
pub(crate) fn stream_config(supported: &SupportedStreamConfig) -> cpal::StreamConfig {
    let mut config = supported.config();
    let want = config.sample_rate.0 / 50;
    if let cpal::SupportedBufferSize::Range { min, max } = supported.buffer_size() {
        config.buffer_size = cpal::BufferSize::Fixed(want.clamp(*min, (*max).max(*min)));
    }
    config
}

pub(crate) fn is_supported_format(f: SampleFormat) -> bool {
    use SampleFormat::*;
    matches!(f, I8 | I16 | I32 | I64 | U8 | U16 | U32 | U64 | F32 | F64)
}

/// Linear-interpolating resampler, streaming (state carries over calls).
/// Good enough for speech; a tone keeps its frequency exactly.
#[derive(Debug, Clone)]
pub struct LinearResampler {
    /// Input samples advanced per output sample.
    step: f64,
    pos: f64,
    prev: f32,
    cur: f32,
}

impl LinearResampler {
    pub fn new(from_rate: u32, to_rate: u32) -> Self {
        LinearResampler {
            step: from_rate.max(1) as f64 / to_rate.max(1) as f64,
            pos: 0.0,
            prev: 0.0,
            cur: 0.0,
        }
    }

    /// Push style: feed one input sample, get zero or more output samples.
    pub fn push(&mut self, x: f32, mut emit: impl FnMut(f32)) {
        self.prev = self.cur;
        self.cur = x;
        while self.pos < 1.0 {
            emit(self.prev + (self.cur - self.prev) * self.pos as f32);
            self.pos += self.step;
        }
        self.pos -= 1.0;
    }

    /// Pull style: produce one output sample, pulling inputs from `next`.
    pub fn pull(&mut self, mut next: impl FnMut() -> f32) -> f32 {
        while self.pos >= 1.0 {
            self.prev = self.cur;
            self.cur = next();
            self.pos -= 1.0;
        }
        let y = self.prev + (self.cur - self.prev) * self.pos as f32;
        self.pos += self.step;
        y
    }
}

pub(crate) fn f32_to_i16(x: f32) -> i16 {
    (x * 32767.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Bounded FIFO of 48 kHz mono samples between a device callback and the
/// engine. Full → the oldest samples are dropped.
#[derive(Debug)]
pub struct SampleRing {
    inner: Mutex<RingState>,
    ready: Condvar,
    capacity: usize,
}

#[derive(Debug, Default)]
struct RingState {
    samples: VecDeque<i16>,
    dropped: u64,
    underruns: u64,
    error: Option<String>,
}

impl SampleRing {
    pub fn new(capacity: usize) -> Self {
        SampleRing {
            inner: Mutex::new(RingState::default()),
            ready: Condvar::new(),
            capacity: capacity.max(BLOCK_SAMPLES),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RingState> {
        // Every update is self-contained; a poisoned lock holds valid data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends samples, dropping the oldest beyond capacity.
    pub fn push(&self, samples: impl IntoIterator<Item = i16>) {
        let mut s = self.lock();
        for x in samples {
            if s.samples.len() == self.capacity {
                s.samples.pop_front();
                s.dropped += 1;
            }
            s.samples.push_back(x);
        }
        drop(s);
        self.ready.notify_all();
    }

    /// Waits up to `timeout` for one block's worth. Returns the block and
    /// how many samples are still queued after it.
    pub fn pop_block(&self, timeout: Duration) -> Option<([i16; BLOCK_SAMPLES], usize)> {
        let s = self.lock();
        let (mut s, _) = self
            .ready
            .wait_timeout_while(s, timeout, |s| {
                s.samples.len() < BLOCK_SAMPLES && s.error.is_none()
            })
            .unwrap_or_else(|e| e.into_inner());
        if s.samples.len() < BLOCK_SAMPLES {
            return None;
        }
        let mut block = [0i16; BLOCK_SAMPLES];
        for (b, x) in block.iter_mut().zip(s.samples.drain(..BLOCK_SAMPLES)) {
            *b = x;
        }
        Some((block, s.samples.len()))
    }

    /// Fills `out` from the queue, padding with silence on underrun.
    #[cfg(test)]
    pub fn pop_into(&self, out: &mut [i16]) {
        let mut s = self.lock();
        let n = out.len().min(s.samples.len());
        for (o, x) in out.iter_mut().zip(s.samples.drain(..n)) {
            *o = x;
        }
        if n < out.len() {
            out[n..].fill(0);
            s.underruns += 1;
        }
    }

    /// Produces `n` output samples by pulling queued samples through
    /// `resampler`, under one lock; silence (and an underrun count) when the
    /// queue runs dry. `taken` sees each queued sample (or silence) as it is used.
    pub(crate) fn pull_resampled(
        &self,
        resampler: &mut LinearResampler,
        n: usize,
        mut emit: impl FnMut(f32),
        mut taken: impl FnMut(f32),
    ) {
        let mut s = self.lock();
        let mut short = false;
        for _ in 0..n {
            let y = resampler.pull(|| {
                let x = match s.samples.pop_front() {
                    Some(x) => x as f32 / 32768.0,
                    None => {
                        short = true;
                        0.0
                    }
                };
                taken(x);
                x
            });
            emit(y);
        }
        if short {
            s.underruns += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.lock().samples.len()
    }

    /// Samples dropped because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Times a reader found fewer samples than it needed.
    pub fn underruns(&self) -> u64 {
        self.lock().underruns
    }

    pub(crate) fn set_error(&self, e: String) {
        self.lock().error = Some(e);
        self.ready.notify_all();
    }

    pub(crate) fn error(&self) -> Option<String> {
        self.lock().error.clone()
    }
}

/// Calls `emit` with each frame of `data` averaged down to one channel, as
/// f32 in -1..1, whatever the device's sample format.
pub(crate) fn mix_to_mono(data: &cpal::Data, channels: usize, emit: &mut impl FnMut(f32)) {
    fn go<T: cpal::SizedSample>(data: &cpal::Data, channels: usize, emit: &mut impl FnMut(f32))
    where
        f32: FromSample<T>,
    {
        let Some(samples) = data.as_slice::<T>() else {
            return;
        };
        let ch = channels.max(1);
        for frame in samples.chunks_exact(ch) {
            let sum: f32 = frame.iter().map(|&x| <f32 as Sample>::from_sample(x)).sum();
            emit(sum / ch as f32);
        }
    }
    match data.sample_format() {
        SampleFormat::I8 => go::<i8>(data, channels, emit),
        SampleFormat::I16 => go::<i16>(data, channels, emit),
        SampleFormat::I32 => go::<i32>(data, channels, emit),
        SampleFormat::I64 => go::<i64>(data, channels, emit),
        SampleFormat::U8 => go::<u8>(data, channels, emit),
        SampleFormat::U16 => go::<u16>(data, channels, emit),
        SampleFormat::U32 => go::<u32>(data, channels, emit),
        SampleFormat::U64 => go::<u64>(data, channels, emit),
        SampleFormat::F32 => go::<f32>(data, channels, emit),
        SampleFormat::F64 => go::<f64>(data, channels, emit),
        _ => {} // rejected when the stream was opened (is_supported_format)
    }
}

/// Writes mono f32 samples to every channel of `data` in its sample format.
pub(crate) fn write_from_mono(data: &mut cpal::Data, channels: usize, mono: &[f32]) {
    fn go<T: cpal::SizedSample + FromSample<f32>>(
        data: &mut cpal::Data,
        channels: usize,
        mono: &[f32],
    ) {
        let Some(out) = data.as_slice_mut::<T>() else {
            return;
        };
        for (frame, &x) in out.chunks_exact_mut(channels.max(1)).zip(mono) {
            frame.fill(<T as Sample>::from_sample(x.clamp(-1.0, 1.0)));
        }
    }
    match data.sample_format() {
        SampleFormat::I8 => go::<i8>(data, channels, mono),
        SampleFormat::I16 => go::<i16>(data, channels, mono),
        SampleFormat::I32 => go::<i32>(data, channels, mono),
        SampleFormat::I64 => go::<i64>(data, channels, mono),
        SampleFormat::U8 => go::<u8>(data, channels, mono),
        SampleFormat::U16 => go::<u16>(data, channels, mono),
        SampleFormat::U32 => go::<u32>(data, channels, mono),
        SampleFormat::U64 => go::<u64>(data, channels, mono),
        SampleFormat::F32 => go::<f32>(data, channels, mono),
        SampleFormat::F64 => go::<f64>(data, channels, mono),
        _ => {}
    }
}

/// Owns a cpal stream on a dedicated thread (cpal streams are not `Send`
/// on every platform), so the owning Microphone/Speaker can be `Send`.
/// Dropping it stops the stream and joins the thread.
#[derive(Debug)]
pub(crate) struct StreamThread {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl StreamThread {
    /// Runs `build` on a new thread, starts the stream it returns, and hands
    /// back `build`'s info (or its error).
    pub(crate) fn spawn<I: Send + 'static>(
        kind: DeviceKind,
        build: impl FnOnce() -> Result<(cpal::Stream, I)> + Send + 'static,
    ) -> Result<(Self, I)> {
        let (res_tx, res_rx) = mpsc::sync_channel(1);
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name(format!("peercall-{kind}"))
            .spawn(move || {
                let (stream, info) = match build() {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = res_tx.send(Err(e));
                        return;
                    }
                };
                if let Err(e) = stream.play() {
                    let _ = res_tx.send(Err(MediaError::device_failed(kind, e)));
                    return;
                }
                let _ = res_tx.send(Ok(info));
                // Park until the owner goes away (sender dropped).
                let _ = stop_rx.recv();
                drop(stream);
            })
            .map_err(|e| MediaError::device_failed(kind, e))?;
        let result = res_rx
            .recv()
            .unwrap_or_else(|_| Err(MediaError::device_failed(kind, "audio thread died")));
        match result {
            Ok(info) => Ok((
                StreamThread {
                    stop: Some(stop_tx),
                    handle: Some(handle),
                },
                info,
            )),
            Err(e) => {
                let _ = handle.join();
                Err(e)
            }
        }
    }
}

impl Drop for StreamThread {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::audio_analyzer::dominant_frequency;

    fn sine(rate: u32, freq: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (std::f64::consts::TAU * freq * i as f64 / rate as f64).sin() as f32 * 0.5)
            .collect()
    }

    #[test]
    fn push_resampler_keeps_frequency_and_rate() {
        for rate in [44_100, 16_000, 96_000, 48_000] {
            let input = sine(rate, 1000.0, rate as usize); // 1 s
            let mut r = LinearResampler::new(rate, SAMPLE_RATE);
            let mut out = Vec::new();
            for &x in &input {
                r.push(x, |y| out.push(f32_to_i16(y)));
            }
            assert!(
                (out.len() as i64 - 48_000).abs() <= 2,
                "{rate}: {}",
                out.len()
            );
            let f = dominant_frequency(&out, 50.0, 8000.0).unwrap();
            assert!((f - 1000.0).abs() < 2.0, "{rate}: {f}");
        }
    }

    #[test]
    fn pull_resampler_produces_requested_rate() {
        let input = sine(SAMPLE_RATE, 440.0, 48_000);
        let mut it = input.iter().copied();
        let mut r = LinearResampler::new(SAMPLE_RATE, 44_100);
        let out: Vec<i16> = (0..44_100)
            .map(|_| f32_to_i16(r.pull(|| it.next().unwrap_or(0.0))))
            .collect();
        assert!(it.next().is_some_and(|_| it.count() < 5));
        // Read it back as if it were 48 kHz: 440 * 48000/44100.
        let f = dominant_frequency(&out, 50.0, 8000.0).unwrap();
        assert!((f - 440.0 * 48_000.0 / 44_100.0).abs() < 2.0, "{f}");
    }

    #[test]
    fn ring_is_bounded_and_drops_oldest() {
        let ring = SampleRing::new(2000);
        ring.push((0..3000).map(|i| i as i16));
        assert_eq!(ring.len(), 2000);
        assert_eq!(ring.dropped(), 1000);
        let (block, left) = ring.pop_block(Duration::ZERO).unwrap();
        assert_eq!((block[0], left), (1000, 1040));
        assert!(ring.pop_block(Duration::from_millis(1)).is_some());
        assert!(ring.pop_block(Duration::from_millis(1)).is_none());
        let mut out = [7i16; 100];
        ring.pop_into(&mut out);
        assert_eq!((out[0], out[79]), (2920, 2999));
        assert_eq!(out[80..], [0i16; 20]);
        assert_eq!(ring.underruns(), 1);
    }
}
