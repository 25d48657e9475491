//! Outgoing media: source → encoder thread → local track. One thread per kind; each opens its
//! source itself (a camera can take a while) and blocks only on the source's own pace.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use super::events::CallEvent;
use super::media_setup::{AudioChoice, MediaSetup, RgbaFrame, VideoChoice};
use super::media_stats::MediaCounters;
use super::peer::{BitrateLimits, LocalTrack};
use crate::media::convert::i420_to_rgba_vec;
use crate::media::frame::BLOCK_US;
use crate::media::opus_codec::OpusEncoder;
use crate::media::vp8::{Vp8Config, Vp8Encoder};

/// Keyframes forced by requests come at most this often (a PLI storm must not turn every frame
/// into a keyframe).
const MIN_KEYFRAME_INTERVAL: Duration = Duration::from_millis(250);
/// The encoder aims a little under the congestion controller's target: the pacer has no headroom.
const TARGET_SHARE: f64 = 0.9;
const OPUS_BITRATE: i32 = 32_000;

/// Switches the threads read each frame.
#[derive(Debug, Default)]
pub struct SendGate {
    /// Media flows only once the connection is up (earlier writes are dropped anyway).
    pub connected: AtomicBool,
    pub audio_muted: AtomicBool,
    pub video_muted: AtomicBool,
    pub keyframe_wanted: AtomicBool,
    stop: AtomicBool,
}

pub struct SendPipeline {
    pub gate: Arc<SendGate>,
    threads: Vec<JoinHandle<()>>,
}

pub struct SendTargets {
    pub video: Arc<LocalTrack>,
    pub audio: Arc<LocalTrack>,
    pub target_bps: Arc<AtomicU64>,
    pub limits: BitrateLimits,
}

impl SendPipeline {
    pub fn start(
        setup: &MediaSetup,
        targets: SendTargets,
        counters: Arc<MediaCounters>,
        gate: Arc<SendGate>,
        events: mpsc::UnboundedSender<CallEvent>,
    ) -> SendPipeline {
        let runtime = Handle::current();
        let mut threads = Vec::new();
        if setup.video != VideoChoice::None {
            let (choice, gate, counters, events, runtime) = (
                setup.video.clone(),
                gate.clone(),
                counters.clone(),
                events.clone(),
                runtime.clone(),
            );
            let self_view = setup.local_frames.clone();
            let (track, target_bps, limits) = (targets.video, targets.target_bps, targets.limits);
            threads.push(
                std::thread::Builder::new()
                    .name("video-send".into())
                    .spawn(move || {
                        let video = VideoSender {
                            choice,
                            gate,
                            counters,
                            track,
                            target_bps,
                            limits,
                            runtime,
                            self_view,
                        };
                        if let Err(why) = video.run() {
                            let _ = events.send(CallEvent::Error(why));
                        }
                    })
                    .expect("spawn the video thread"),
            );
        }
        if setup.audio != AudioChoice::None {
            let (choice, gate, counters, track) =
                (setup.audio.clone(), gate.clone(), counters, targets.audio);
            threads.push(
                std::thread::Builder::new()
                    .name("audio-send".into())
                    .spawn(move || {
                        if let Err(why) = send_audio(choice, &gate, &counters, &track, runtime) {
                            let _ = events.send(CallEvent::Error(why));
                        }
                    })
                    .expect("spawn the audio thread"),
            );
        }
        SendPipeline { gate, threads }
    }

    /// Stops the threads; each notices within one frame. The gate can serve a new pipeline.
    pub fn stop(self) {
        self.gate.stop.store(true, Ordering::SeqCst);
        for thread in self.threads {
            let _ = thread.join();
        }
        self.gate.stop.store(false, Ordering::SeqCst);
    }
}

struct VideoSender {
    choice: VideoChoice,
    gate: Arc<SendGate>,
    counters: Arc<MediaCounters>,
    track: Arc<LocalTrack>,
    target_bps: Arc<AtomicU64>,
    limits: BitrateLimits,
    runtime: Handle,
    self_view: Option<Arc<crate::media::frame_slot::FrameSlot<RgbaFrame>>>,
}

impl VideoSender {
    fn run(self) -> Result<(), String> {
        let mut source = match self.choice.open() {
            Ok(Some(source)) => source,
            Ok(None) => return Ok(()),
            Err(e) => return Err(format!("{e}; the call goes on without video")),
        };
        let (width, height) = source.size();
        let fps = self.choice.fps().max(1);
        let frame_time = Duration::from_secs_f64(1.0 / fps as f64);
        let start_kbps = self.limits.start_bps / 1000;
        // As libwebrtc: the encoder may skip a frame rather than overshoot the budget; a frame
        // over budget would wait in the pacer, and every frame after it with it.
        let config = Vp8Config {
            frame_dropping: true,
            ..Vp8Config::new(width, height, fps, start_kbps)
        };
        let mut encoder =
            Vp8Encoder::new(&config).map_err(|e| format!("the video encoder: {e}"))?;
        let mut was_sending = false;
        let mut last_forced: Option<Instant> = None;
        while !self.gate.stop.load(Ordering::Relaxed) {
            let frame = source
                .next_frame()
                .map_err(|e| format!("{e}; the call goes on without video"))?;
            if let Some(slot) = &self.self_view {
                if let Ok(pixels) = i420_to_rgba_vec(&frame) {
                    slot.publish(RgbaFrame {
                        width: frame.width,
                        height: frame.height,
                        pixels,
                    });
                }
            }
            let sending = self.gate.connected.load(Ordering::Relaxed)
                && !self.gate.video_muted.load(Ordering::Relaxed);
            if !sending {
                was_sending = false;
                continue;
            }
            // A keyframe when media (re)starts, and on request at a bounded rate.
            let mut force = !was_sending;
            was_sending = true;
            if self.gate.keyframe_wanted.load(Ordering::Relaxed)
                && last_forced.is_none_or(|t| t.elapsed() >= MIN_KEYFRAME_INTERVAL)
            {
                self.gate.keyframe_wanted.store(false, Ordering::Relaxed);
                MediaCounters::add(&self.counters.keyframes_forced, 1);
                force = true;
            }
            if force {
                last_forced = Some(Instant::now());
            }
            let target = self.target_bps.load(Ordering::Relaxed) as f64 * TARGET_SHARE;
            let kbps = (target as u32 / 1000)
                .clamp(self.limits.min_bps / 1000, self.limits.max_bps / 1000);
            if kbps.abs_diff(encoder.bitrate_kbps()) * 20 > encoder.bitrate_kbps() {
                let _ = encoder.set_bitrate(kbps);
            }
            let encoded = encoder
                .encode(&frame, force)
                .map_err(|e| format!("the video encoder failed: {e}"))?;
            for frame in encoded {
                let write = self.track.write(Bytes::from(frame.data), frame_time);
                if let Err(e) = self.runtime.block_on(write) {
                    tracing::debug!(error = %e, "video write");
                }
                MediaCounters::add(&self.counters.frames_sent, 1);
            }
        }
        Ok(())
    }
}

fn send_audio(
    choice: AudioChoice,
    gate: &SendGate,
    counters: &MediaCounters,
    track: &LocalTrack,
    runtime: Handle,
) -> Result<(), String> {
    let mut source = match choice.open() {
        Ok(Some(source)) => source,
        Ok(None) => return Ok(()),
        Err(e) => return Err(format!("{e}; the call goes on without your audio")),
    };
    let mut encoder =
        OpusEncoder::new(OPUS_BITRATE).map_err(|e| format!("the audio encoder: {e}"))?;
    let block_time = Duration::from_micros(BLOCK_US);
    while !gate.stop.load(Ordering::Relaxed) {
        let block = source
            .next_block()
            .map_err(|e| format!("{e}; the call goes on without your audio"))?;
        if !gate.connected.load(Ordering::Relaxed) || gate.audio_muted.load(Ordering::Relaxed) {
            continue;
        }
        let packet = encoder
            .encode(&block)
            .map_err(|e| format!("the audio encoder failed: {e}"))?;
        if let Err(e) = runtime.block_on(track.write(Bytes::from(packet), block_time)) {
            tracing::debug!(error = %e, "audio write");
        }
        MediaCounters::add(&counters.blocks_sent, 1);
    }
    Ok(())
}
