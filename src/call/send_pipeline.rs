//! Outgoing media: source → encoder thread → the local tracks of every leg whose connection is
//! up ([`Outlets`]). Encoded once for all legs; the bitrate follows the weakest leg. One thread
//! per kind; each opens its source itself (a camera can take a while) and blocks only on the
//! source's own pace.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::runtime::Handle;

use super::adaptation::VideoAdaptation;
use super::events::{CallEvent, CallEvents};
use super::link::pacer::PACING_FACTOR;
use super::link::LinkStats;
use super::media_setup::{AudioChoice, MediaSetup, RgbaFrame, VideoChoice};
use super::media_stats::MediaCounters;
use super::peer::{BitrateLimits, LocalTrack};
use super::quality::VideoQuality;
use crate::media::convert::i420_to_rgba_vec;
use crate::media::frame::BLOCK_US;
use crate::media::opus_codec::OpusEncoder;
use crate::media::scale::downscale;
use crate::media::voice::Voice;
use crate::media::vp8::{Vp8Config, Vp8Encoder};

/// Keyframes forced by requests come at most this often (a PLI storm must not turn every frame
/// into a keyframe).
const MIN_KEYFRAME_INTERVAL: Duration = Duration::from_millis(250);
/// What audio takes of the target, with its packet overhead (Opus 32 kbit/s in 50 packets a
/// second of RTP, SRTP, UDP and IP headers).
const AUDIO_SHARE_BPS: f64 = 32_000.0 + 50.0 * 60.0 * 8.0;
/// The video encoder aims this far under what is left: its rate control overshoots a little.
const VIDEO_HEADROOM: f64 = 0.9;
/// A new frame is skipped while the pacer holds more than this much sending time: encoding it
/// would only make it wait (libwebrtc's pacer push-back).
const MAX_PACER_QUEUE: Duration = Duration::from_millis(100);
const OPUS_BITRATE: i32 = 32_000;

/// The DTLS server waits this long at most for the first packet from the other side after
/// connecting (the handshake's retransmission interval).
const WAIT_FOR_REMOTE: Duration = Duration::from_secs(1);

/// Switches the threads read each frame.
#[derive(Debug, Default)]
pub struct SendGate {
    pub audio_muted: AtomicBool,
    pub video_muted: AtomicBool,
    pub keyframe_wanted: AtomicBool,
    /// Our screen is shared: the camera keeps what the screen leaves it.
    pub sharing: AtomicBool,
    /// The quality chosen: at most this tall and this many frames a second (0: no ceiling).
    max_height: AtomicU32,
    max_fps: AtomicU32,
    stop: AtomicBool,
}

impl SendGate {
    pub fn set_quality(&self, quality: Option<VideoQuality>) {
        let (height, fps) = quality.map_or((0, 0), |q| (q.height, q.fps));
        self.max_height.store(height, Ordering::Relaxed);
        self.max_fps.store(fps, Ordering::Relaxed);
    }

    fn quality(&self) -> Option<VideoQuality> {
        let height = self.max_height.load(Ordering::Relaxed);
        (height > 0).then(|| VideoQuality::new(height, self.max_fps.load(Ordering::Relaxed)))
    }
}

/// One leg's way out: its tracks, its link (target bitrate, loss, pacer queue), and whether its
/// connection is up.
pub struct Outlet {
    pub video: Arc<LocalTrack>,
    pub audio: Arc<LocalTrack>,
    pub link: Arc<LinkStats>,
    /// Media flows only once the connection is up (earlier writes are dropped anyway): since
    /// when, and whether we are the DTLS client.
    connected_at: Mutex<Option<(Instant, bool)>>,
    /// The video sender gave this leg its first keyframe.
    started: AtomicBool,
    /// The track our shared screen goes on, once the connection has one.
    screen: Mutex<Option<Arc<LocalTrack>>>,
    /// The screen sender gave this leg its first keyframe (on the current screen track).
    pub screen_started: AtomicBool,
}

impl Outlet {
    pub fn new(video: Arc<LocalTrack>, audio: Arc<LocalTrack>, link: Arc<LinkStats>) -> Outlet {
        Outlet {
            video,
            audio,
            link,
            connected_at: Mutex::new(None),
            started: AtomicBool::new(false),
            screen: Mutex::new(None),
            screen_started: AtomicBool::new(false),
        }
    }

    /// The connection's screen track (a new one starts on a keyframe), or none.
    pub fn set_screen(&self, track: Option<Arc<LocalTrack>>) {
        let mut screen = self.screen.lock().unwrap_or_else(|p| p.into_inner());
        let same = match (&*screen, &track) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            self.screen_started.store(false, Ordering::Relaxed);
            *screen = track;
        }
    }

    pub fn screen(&self) -> Option<Arc<LocalTrack>> {
        self.screen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The connection is up on our side; `dtls_client` as the peer knows it.
    pub fn set_connected(&self, dtls_client: bool) {
        let mut at = self.connected_at.lock().unwrap_or_else(|p| p.into_inner());
        at.get_or_insert_with(|| (Instant::now(), dtls_client));
    }

    pub fn is_connected(&self) -> bool {
        self.connected_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Whether media may flow: connected, and the other side is up too. The DTLS server
    /// finishes its handshake first, a whole retransmission interval (1 s) first when the last
    /// handshake packet is lost, and what it sent meanwhile the client could not decrypt,
    /// keyframe included. So the client sends at once (when it is up, the server is), and the
    /// server once a packet from the client arrives, or after [`WAIT_FOR_REMOTE`].
    fn media_may_flow(&self) -> bool {
        let at = *self.connected_at.lock().unwrap_or_else(|p| p.into_inner());
        at.is_some_and(|(t, client)| {
            client || LinkStats::get(&self.link.rtp_received) > 0 || t.elapsed() >= WAIT_FOR_REMOTE
        })
    }

    /// What video may use of this leg's target, within the limits.
    pub(crate) fn video_bps(&self, limits: BitrateLimits) -> f64 {
        let target = LinkStats::get(&self.link.target_bps) as f64;
        ((target - AUDIO_SHARE_BPS) * VIDEO_HEADROOM)
            .clamp(limits.min_bps as f64 * 0.5, limits.max_bps as f64)
    }

    /// Whether this leg's pacer holds more than [`MAX_PACER_QUEUE`] of sending.
    fn pacer_is_full(&self) -> bool {
        let queued_bits = LinkStats::get(&self.link.pacer_queued_bytes) as f64 * 8.0;
        let rate = LinkStats::get(&self.link.target_bps) as f64 * PACING_FACTOR;
        queued_bits > rate * MAX_PACER_QUEUE.as_secs_f64()
    }
}

/// The legs media goes to; the engine adds and removes them as legs come and go.
#[derive(Default)]
pub struct Outlets(Mutex<Vec<Arc<Outlet>>>);

impl Outlets {
    pub fn add(&self, outlet: Arc<Outlet>) {
        self.lock().push(outlet);
    }

    pub fn remove(&self, outlet: &Arc<Outlet>) {
        self.lock().retain(|o| !Arc::ptr_eq(o, outlet));
    }

    /// The legs media may flow to now.
    pub(crate) fn flowing(&self) -> Vec<Arc<Outlet>> {
        self.lock()
            .iter()
            .filter(|o| o.media_may_flow())
            .cloned()
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Outlet>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct SendPipeline {
    pub gate: Arc<SendGate>,
    threads: Vec<JoinHandle<()>>,
}

impl SendPipeline {
    pub fn start(
        setup: &MediaSetup,
        outlets: Arc<Outlets>,
        limits: BitrateLimits,
        counters: Arc<MediaCounters>,
        gate: Arc<SendGate>,
        events: CallEvents,
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
            let outlets = outlets.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("video-send".into())
                    .spawn(move || {
                        let video = VideoSender {
                            choice,
                            gate,
                            counters,
                            outlets,
                            limits,
                            runtime,
                            self_view,
                        };
                        if let Err(why) = video.run() {
                            events.send(CallEvent::Error(why));
                        }
                    })
                    .expect("spawn the video thread"),
            );
        }
        if setup.audio != AudioChoice::None {
            let (choice, gate, counters) = (setup.audio.clone(), gate.clone(), counters);
            let voice = setup.voice.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("audio-send".into())
                    .spawn(move || {
                        let audio = AudioSender {
                            gate: &gate,
                            counters: &counters,
                            outlets: &outlets,
                            runtime,
                        };
                        if let Err(why) = audio.run(choice, &voice) {
                            events.send(CallEvent::Error(why));
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
    outlets: Arc<Outlets>,
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
        let mut adaptation = VideoAdaptation::new(width, height, fps);
        let start_kbps = (self.limits.start_bps as f64 * VIDEO_HEADROOM / 1000.0) as u32;
        // Made at the source's size: libvpx can step down from it and back, never above it.
        // As libwebrtc: the encoder may skip a frame rather than overshoot the budget; a frame
        // over budget would wait in the pacer, and every frame after it with it.
        let config = Vp8Config {
            frame_dropping: true,
            ..Vp8Config::new(width, height, fps, start_kbps.max(1))
        };
        let mut encoder =
            Vp8Encoder::new(&config).map_err(|e| format!("the video encoder: {e}"))?;
        let mut was_sending = false;
        let mut last_forced: Option<Instant> = None;
        let mut frame_number = 0u64;
        while !self.gate.stop.load(Ordering::Relaxed) {
            let frame = source
                .next_frame()
                .map_err(|e| format!("{e}; the call goes on without video"))?;
            frame_number += 1;
            if let Some(slot) = &self.self_view {
                if let Ok(pixels) = i420_to_rgba_vec(&frame) {
                    slot.publish(RgbaFrame {
                        width: frame.width,
                        height: frame.height,
                        pixels,
                    });
                }
            }
            let legs = self.outlets.flowing();
            if legs.is_empty() || self.gate.video_muted.load(Ordering::Relaxed) {
                was_sending = false;
                continue;
            }
            // The weakest leg sets the pace: every leg gets the same encoding.
            let mut video_bps = legs
                .iter()
                .map(|leg| leg.video_bps(self.limits))
                .fold(f64::INFINITY, f64::min);
            if self.gate.sharing.load(Ordering::Relaxed) {
                video_bps *= 1.0 - super::screen_pipeline::SCREEN_PART;
            }
            let format = adaptation.update(Instant::now(), video_bps);
            // Never above the quality chosen.
            let format = match self.gate.quality() {
                Some(quality) => quality.limit(format, (width, height), fps),
                None => format,
            };
            // A keyframe when media (re)starts, a leg joins or the size changes, and on request
            // at a bounded rate.
            let resized = (format.width, format.height) != encoder.size();
            // Every new leg marked (not only the first found), and each gets the keyframe.
            let mut new_leg = false;
            for leg in &legs {
                new_leg |= !leg.started.swap(true, Ordering::Relaxed);
            }
            let mut force = !was_sending || resized || new_leg;
            was_sending = true;
            if self.gate.keyframe_wanted.load(Ordering::Relaxed)
                && last_forced.is_none_or(|t| t.elapsed() >= MIN_KEYFRAME_INTERVAL)
            {
                self.gate.keyframe_wanted.store(false, Ordering::Relaxed);
                MediaCounters::add(&self.counters.keyframes_forced, 1);
                force = true;
            }
            if !force
                && (!frame_number.is_multiple_of(format.frame_divisor as u64)
                    || legs.iter().any(|leg| leg.pacer_is_full()))
            {
                MediaCounters::add(&self.counters.frames_skipped, 1);
                continue;
            }
            if force {
                last_forced = Some(Instant::now());
            }
            if resized {
                encoder
                    .set_size(format.width, format.height)
                    .map_err(|e| format!("the video encoder: {e}"))?;
            }
            let kbps = (video_bps / 1000.0) as u32;
            if kbps.abs_diff(encoder.bitrate_kbps()) * 20 > encoder.bitrate_kbps() {
                let _ = encoder.set_bitrate(kbps.max(1));
            }
            let scaled;
            let picture = if (frame.width, frame.height) == (format.width, format.height) {
                &frame
            } else {
                scaled = downscale(&frame, format.width, format.height)
                    .map_err(|e| format!("scaling the video: {e}"))?;
                &scaled
            };
            self.counters.frame_encoded((picture.width, picture.height));
            let encoded = encoder
                .encode(picture, force)
                .map_err(|e| format!("the video encoder failed: {e}"))?;
            if encoded.is_empty() {
                // The encoder's rate control dropped it to stay within the budget.
                MediaCounters::add(&self.counters.frames_skipped, 1);
            }
            for frame in encoded {
                let data = Bytes::from(frame.data);
                for leg in &legs {
                    let write = leg
                        .video
                        .write(data.clone(), frame_time * format.frame_divisor);
                    if let Err(e) = self.runtime.block_on(write) {
                        tracing::debug!(error = %e, "video write");
                    }
                }
                MediaCounters::add(&self.counters.frames_sent, 1);
            }
        }
        Ok(())
    }
}

struct AudioSender<'a> {
    gate: &'a SendGate,
    counters: &'a MediaCounters,
    outlets: &'a Outlets,
    runtime: Handle,
}

impl AudioSender<'_> {
    fn run(self, choice: AudioChoice, voice: &Arc<Voice>) -> Result<(), String> {
        let mut source = match choice.open(voice) {
            Ok(Some(source)) => source,
            Ok(None) => return Ok(()),
            Err(e) => return Err(format!("{e}; the call goes on without your audio")),
        };
        let mut encoder =
            OpusEncoder::new(OPUS_BITRATE).map_err(|e| format!("the audio encoder: {e}"))?;
        let block_time = Duration::from_micros(BLOCK_US);
        let mut loss_percent = None;
        while !self.gate.stop.load(Ordering::Relaxed) {
            let block = source
                .next_block()
                .map_err(|e| format!("{e}; the call goes on without your audio"))?;
            let legs = self.outlets.flowing();
            if legs.is_empty() || self.gate.audio_muted.load(Ordering::Relaxed) {
                continue;
            }
            // Opus puts as much redundancy (in-band FEC) in as the loss the other sides report
            // (the worst of them); at least a little, so a first loss is covered too.
            let worst = legs
                .iter()
                .map(|leg| LinkStats::get(&leg.link.loss_permille))
                .max()
                .unwrap_or(0);
            let loss = (worst / 10).clamp(5, 30) as i32;
            if loss_percent != Some(loss) {
                loss_percent = Some(loss);
                let _ = encoder.set_packet_loss_perc(loss);
            }
            let packet = encoder
                .encode(&block)
                .map_err(|e| format!("the audio encoder failed: {e}"))?;
            let packet = Bytes::from(packet);
            for leg in &legs {
                if let Err(e) = self
                    .runtime
                    .block_on(leg.audio.write(packet.clone(), block_time))
                {
                    tracing::debug!(error = %e, "audio write");
                }
            }
            MediaCounters::add(&self.counters.blocks_sent, 1);
        }
        Ok(())
    }
}
