//! Our shared screen: X11 → its own VP8 encoder (screen-content mode) → the screen track of
//! every leg that has one (a leg gets it by renegotiating, see `Peer::set_sharing`). Encoded
//! once for all legs, like the camera.
//!
//! Screens are still most of the time: a picture that did not change is not sent, except once a
//! second (the encoder sharpens a still picture frame after frame, and a late joiner or a lost
//! packet needs something to decode).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::runtime::Handle;

use super::events::{CallEvent, CallEvents};
use super::peer::BitrateLimits;
use super::send_pipeline::Outlets;
use crate::media::screen::ScreenSource;
use crate::media::traits::VideoSource;
use crate::media::vp8::{Vp8Config, Vp8Encoder};
use crate::media::{now_us, VideoFrame};

/// Frames a second of a shared screen, by default (text wants sharpness, not motion).
pub const DEFAULT_SHARE_FPS: u32 = 10;
/// What a share may use at most: a 1080p screen of text is sharp at this rate.
const MAX_SHARE_BPS: f64 = 2_500_000.0;
/// Of what the weakest leg allows video, the screen takes this part while shared (the camera
/// keeps the rest: people still see each other).
pub const SCREEN_PART: f64 = 0.7;
/// A still screen is sent again this often.
const REFRESH: Duration = Duration::from_secs(1);
/// Forced keyframes at most this often.
const MIN_KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);

/// Which screen to share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScreenTarget {
    /// An X11 display (`:1`); `None` for this session's.
    pub display: Option<String>,
    /// One of its monitors (by name, or index in `media::screen::list_monitors`); `None`: the
    /// whole screen.
    pub monitor: Option<String>,
}

/// What to share, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenChoice {
    pub target: ScreenTarget,
    pub fps: u32,
}

/// What the screen sender did, for the report and the note's figures.
#[derive(Debug, Default)]
pub struct ShareCounters {
    /// Frames at least one connection took.
    pub frames_sent: AtomicU64,
    /// Pictures not sent because nothing changed.
    pub frames_unchanged: AtomicU64,
    /// Time spent capturing, converting and encoding, µs (CPU per frame = this / frames).
    pub work_us: AtomicU64,
    pub keyframes: AtomicU64,
    /// The size sent, width << 32 | height.
    size: AtomicU64,
}

impl ShareCounters {
    pub fn size(&self) -> Option<(u32, u32)> {
        let v = self.size.load(Ordering::Relaxed);
        (v != 0).then_some(((v >> 32) as u32, v as u32))
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Switches the thread reads.
#[derive(Debug, Default)]
pub struct ShareGate {
    pub keyframe_wanted: AtomicBool,
    stop: AtomicBool,
}

pub struct ScreenPipeline {
    pub gate: Arc<ShareGate>,
    thread: JoinHandle<()>,
}

impl ScreenPipeline {
    /// Starts capturing `choice`; a screen that cannot be opened says so as an `Error` and
    /// `Sharing(false)`.
    pub fn start(
        choice: ScreenChoice,
        outlets: Arc<Outlets>,
        limits: BitrateLimits,
        counters: Arc<ShareCounters>,
        events: CallEvents,
    ) -> ScreenPipeline {
        let gate = Arc::new(ShareGate::default());
        let sender = ScreenSender {
            gate: gate.clone(),
            outlets,
            limits,
            counters,
            runtime: Handle::current(),
        };
        let thread = std::thread::Builder::new()
            .name("screen-send".into())
            .spawn(move || {
                if let Err(why) = sender.run(&choice) {
                    events.send(CallEvent::Error(format!("screen sharing stopped: {why}")));
                    events.send(CallEvent::Sharing(false));
                }
            })
            .expect("spawn the screen thread");
        ScreenPipeline { gate, thread }
    }

    /// Stops the thread (it notices within a frame) and waits for it.
    pub fn stop(self) {
        self.gate.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
    }

    /// Whether the thread stopped by itself (the screen went away).
    pub fn has_stopped(&self) -> bool {
        self.thread.is_finished()
    }
}

struct ScreenSender {
    gate: Arc<ShareGate>,
    outlets: Arc<Outlets>,
    limits: BitrateLimits,
    counters: Arc<ShareCounters>,
    runtime: Handle,
}

impl ScreenSender {
    fn run(self, choice: &ScreenChoice) -> Result<(), String> {
        let fps = choice.fps.clamp(1, 30);
        let target = &choice.target;
        let mut source =
            ScreenSource::open(target.display.as_deref(), target.monitor.as_deref(), fps)
                .map_err(|e| e.to_string())?;
        tracing::info!(screen = %source.describe(), fps, "sharing the screen");
        let (width, height) = source.size();
        let start_kbps = ((self.limits.start_bps as f64 * SCREEN_PART) / 1000.0) as u32;
        let config = Vp8Config {
            screen_content: true,
            ..Vp8Config::new(width, height, fps, start_kbps.max(100))
        };
        let mut encoder = Vp8Encoder::new(&config).map_err(|e| format!("the encoder: {e}"))?;
        self.counters.size.store(
            (u64::from(width) << 32) | u64::from(height),
            Ordering::Relaxed,
        );
        let mut last: Option<VideoFrame> = None;
        let mut last_sent: Option<Instant> = None;
        let mut last_forced: Option<Instant> = None;
        while !self.gate.stop.load(Ordering::Relaxed) {
            source.wait();
            let legs: Vec<_> = self
                .outlets
                .flowing()
                .into_iter()
                .filter(|leg| leg.screen().is_some())
                .collect();
            if legs.is_empty() {
                // Nobody takes it (yet): no grab, no hash.
                continue;
            }
            let work = Instant::now();
            let changed = source.next_changed().map_err(|e| e.to_string())?;
            let mut new_leg = false;
            for leg in &legs {
                new_leg |= !leg.screen_started.swap(true, Ordering::Relaxed);
            }
            let wanted = self.gate.keyframe_wanted.load(Ordering::Relaxed)
                && last_forced.is_none_or(|t| t.elapsed() >= MIN_KEYFRAME_INTERVAL);
            let refresh = last_sent.is_none_or(|t| t.elapsed() >= REFRESH);
            let picture = match changed {
                Some(frame) => {
                    last = Some(frame);
                    last.as_ref()
                }
                None if refresh || wanted || new_leg => {
                    // Stamped now: the encoder's rate control gives a picture the time since
                    // the last one, and a still screen sharpens with it.
                    if let Some(last) = last.as_mut() {
                        last.capture_us = now_us();
                    }
                    last.as_ref()
                }
                None => {
                    ShareCounters::add(&self.counters.frames_unchanged, 1);
                    None
                }
            };
            let Some(picture) = picture else {
                continue;
            };
            let force = new_leg || wanted || last_sent.is_none();
            if force {
                self.gate.keyframe_wanted.store(false, Ordering::Relaxed);
                last_forced = Some(Instant::now());
                ShareCounters::add(&self.counters.keyframes, 1);
            }
            let video_bps = legs
                .iter()
                .map(|leg| leg.video_bps(self.limits))
                .fold(f64::INFINITY, f64::min);
            let kbps = ((video_bps * SCREEN_PART).min(MAX_SHARE_BPS) / 1000.0) as u32;
            if kbps.abs_diff(encoder.bitrate_kbps()) * 20 > encoder.bitrate_kbps() {
                let _ = encoder.set_bitrate(kbps.max(50));
            }
            let encoded = encoder
                .encode(picture, force)
                .map_err(|e| format!("the encoder failed: {e}"))?;
            // RTP time follows the wall clock: frames come irregularly.
            let duration = last_sent.map_or(Duration::from_millis(100), |t| t.elapsed());
            last_sent = Some(Instant::now());
            ShareCounters::add(&self.counters.work_us, work.elapsed().as_micros() as u64);
            for frame in encoded {
                tracing::debug!(bytes = frame.data.len(), force, "screen frame");
                let data = Bytes::from(frame.data);
                let mut taken = false;
                for leg in &legs {
                    let Some(track) = leg.screen() else { continue };
                    match self.runtime.block_on(track.write(data.clone(), duration)) {
                        Ok(()) => taken = true,
                        Err(e) => tracing::debug!(error = %e, "screen write"),
                    }
                }
                // Counted when a connection took it, not when it was encoded.
                if taken {
                    ShareCounters::add(&self.counters.frames_sent, 1);
                }
            }
        }
        Ok(())
    }
}
