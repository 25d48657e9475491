//! Incoming media: remote track → (light poll task) → decoder thread → sink.
//!
//! The poll task only reassembles and hands over: webrtc-rs queues 256 events per remote track
//! and drops beyond that, so nothing slow may happen there. Video frames go to a decoder thread
//! through a small bounded queue; audio packets go into the jitter buffer, which a playout thread
//! drains every 20 ms into the speaker (or analyser).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::events::{CallEvent, CallEvents};
use super::link::LinkStats;
use super::media_setup::{MediaSetup, OpenedSpeaker, RgbaFrame, SpeakerChoice};
use super::media_stats::MediaCounters;
use super::participant::Participant;
use super::vp8_assembler::{Assembled, AssembledFrame, Vp8Assembler};
use crate::media::audio_analyzer::rms_dbfs;
use crate::media::convert::i420_to_rgba_vec;
use crate::media::jitter_buffer::{JitterBuffer, JitterConfig, Playout};
use crate::media::opus_codec::{Decoded, OpusDecoder};
use crate::media::pacer::Pacer;
use crate::media::test_pattern::read_marker_frame;
use crate::media::vp8::Vp8Decoder;
use crate::media::{now_us, AudioSink, MediaError};

/// Frames waiting for the decoder; a decoder this far behind drops and asks for a keyframe.
/// Room for the frames that pile up behind a hole while its repair is on the way (up to the
/// repair window, 800 ms at 30 fps): they are released together when it arrives.
const DECODE_QUEUE: usize = 32;
/// Keyframe requests go out at most this often, and this often while the decoder waits for one
/// (libwebrtc's rate) — or once per round trip and a half when that is longer: asking again
/// before the keyframe could arrive only makes the sender spend its budget on another.
const PLI_INTERVAL: Duration = Duration::from_millis(300);

fn pli_interval(link: &LinkStats) -> Duration {
    PLI_INTERVAL.max(link.rtt().unwrap_or_default().mul_f64(1.5))
}
/// How often the video task looks at the clock when no packet arrives.
const VIDEO_TICK: Duration = Duration::from_millis(50);

/// Which of someone's videos a track is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoKind {
    Camera,
    Screen,
}

/// Starts receiving a remote track from `participant`; a video track is their camera or their
/// shared screen (`video`).
pub async fn start(
    track: Arc<dyn TrackRemote>,
    video: VideoKind,
    setup: &MediaSetup,
    participant: &Participant,
    link: Arc<LinkStats>,
    events: CallEvents,
) {
    match track.kind().await {
        RtpCodecKind::Video => start_video(track, video, participant, link, events),
        RtpCodecKind::Audio => start_audio(track, setup, participant, events),
        _ => {}
    }
}

fn start_video(
    track: Arc<dyn TrackRemote>,
    video: VideoKind,
    participant: &Participant,
    link: Arc<LinkStats>,
    events: CallEvents,
) {
    let (frames, queue) = sync_channel::<AssembledFrame>(DECODE_QUEUE);
    let broken = Arc::new(AtomicBool::new(false));
    let (slot, counters) = match video {
        VideoKind::Camera => (participant.frames.clone(), participant.counters.clone()),
        VideoKind::Screen => (
            Some(participant.share.frames.clone()),
            participant.share.counters.clone(),
        ),
    };
    {
        let (counters, broken) = (counters.clone(), broken.clone());
        std::thread::Builder::new()
            .name("video-decode".into())
            .spawn(move || decode_video(queue, slot, video, &counters, &broken, events))
            .expect("spawn the decoder thread");
    }
    tokio::spawn(async move {
        let media_ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
        let mut assembler = Vp8Assembler::new();
        let mut last_pli: Option<Instant> = None;
        let mut tick = tokio::time::interval(VIDEO_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let out = tokio::select! {
                event = track.poll() => match event {
                    None => break,
                    Some(TrackRemoteEvent::OnRtpPacket(packet)) => {
                        let h = &packet.header;
                        assembler.push(h.sequence_number, h.timestamp, h.marker, &packet.payload, Instant::now())
                    }
                    Some(_) => continue,
                },
                _ = tick.tick() => {
                    assembler.set_max_gap_wait(link.repair_window());
                    assembler.tick(Instant::now())
                }
            };
            // While nothing is decodable (before the first keyframe, after a frame was given up,
            // after a decoding error) ask for a keyframe, again every PLI_INTERVAL until it comes.
            let mut want_keyframe =
                assembler.waiting_for_keyframe() || broken.swap(false, Ordering::Relaxed);
            for item in out {
                match item {
                    Assembled::Frame(frame) => match frames.try_send(frame) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_)) => want_keyframe = true,
                        Err(TrySendError::Disconnected(_)) => return,
                    },
                    Assembled::NeedKeyframe => want_keyframe = true,
                }
            }
            if want_keyframe && last_pli.is_none_or(|t| t.elapsed() >= pli_interval(&link)) {
                last_pli = Some(Instant::now());
                counters.keyframe_requested();
                let pli = PictureLossIndication {
                    sender_ssrc: 0,
                    media_ssrc,
                };
                if let Err(e) = track.write_rtcp(vec![Box::new(pli)]).await {
                    tracing::debug!(error = %e, "sending a PLI");
                }
            }
        }
    });
}

fn decode_video(
    queue: Receiver<AssembledFrame>,
    slot: Option<Arc<crate::media::frame_slot::FrameSlot<RgbaFrame>>>,
    video: VideoKind,
    counters: &MediaCounters,
    broken: &AtomicBool,
    events: CallEvents,
) {
    let mut decoder = match Vp8Decoder::new() {
        Ok(d) => d,
        Err(e) => {
            events.send(CallEvent::Error(format!("the video decoder: {e}")));
            return;
        }
    };
    // After a frame that did not decode, what follows refers to a broken picture: only a
    // keyframe starts over (and the poll task keeps asking for one).
    let mut awaiting_keyframe = false;
    let mut shown_size = None;
    for frame in queue {
        if awaiting_keyframe && !frame.keyframe {
            broken.store(true, Ordering::Relaxed);
            continue;
        }
        let decoded = match decoder.decode(&frame.data, 0) {
            Ok(Some(decoded)) => decoded,
            Ok(None) => continue,
            Err(e) => {
                if matches!(e, MediaError::TooLarge { .. }) {
                    MediaCounters::add(&counters.frames_rejected, 1);
                }
                tracing::debug!(error = %e, "undecodable VP8 frame");
                awaiting_keyframe = true;
                broken.store(true, Ordering::Relaxed);
                continue;
            }
        };
        awaiting_keyframe = false;
        counters.frame_decoded(
            (decoded.width, decoded.height),
            read_marker_frame(&decoded),
            now_us(),
        );
        if let Some(slot) = &slot {
            if let Ok(pixels) = i420_to_rgba_vec(&decoded) {
                let (width, height) = (decoded.width, decoded.height);
                slot.publish(RgbaFrame {
                    width,
                    height,
                    pixels,
                });
                if video == VideoKind::Camera && shown_size != Some((width, height)) {
                    shown_size = Some((width, height));
                    events.send(CallEvent::RemoteFrame { width, height });
                }
            }
        }
    }
}

fn start_audio(
    track: Arc<dyn TrackRemote>,
    setup: &MediaSetup,
    participant: &Participant,
    events: CallEvents,
) {
    let jitter = Arc::new(Mutex::new(JitterBuffer::new(JitterConfig::default())));
    let stop = Arc::new(AtomicBool::new(false));
    // Each person's audio is analysed on its own (their tone, their level); a device plays
    // every stream, and the sound system mixes them.
    let speaker = match setup.speaker {
        SpeakerChoice::Analyzer => {
            let analyzer = participant.analyzer.clone();
            let mut a = analyzer.lock().unwrap_or_else(|p| p.into_inner());
            a.measure_tones(&setup.measure_tones);
            drop(a);
            Ok(OpenedSpeaker::Analyzer(analyzer))
        }
        _ => setup.open_speaker(),
    };
    let counters = participant.counters.clone();
    {
        let (jitter, stop) = (jitter.clone(), stop.clone());
        std::thread::Builder::new()
            .name("audio-playout".into())
            .spawn(move || {
                let mut speaker = match speaker {
                    Ok(s) => s,
                    Err(e) => {
                        events.send(CallEvent::Error(format!(
                            "{e}; you will not hear the other side"
                        )));
                        super::media_setup::OpenedSpeaker::None
                    }
                };
                play_audio(&jitter, &stop, &mut speaker, &counters)
            })
            .expect("spawn the playout thread");
    }
    tokio::spawn(async move {
        while let Some(event) = track.poll().await {
            if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                if packet.payload.is_empty() {
                    continue;
                }
                let h = &packet.header;
                jitter.lock().unwrap_or_else(|p| p.into_inner()).push(
                    h.sequence_number,
                    h.timestamp,
                    packet.payload.to_vec(),
                    now_us(),
                );
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
}

fn play_audio(
    jitter: &Mutex<JitterBuffer>,
    stop: &AtomicBool,
    speaker: &mut dyn AudioSink,
    counters: &MediaCounters,
) {
    let mut decoder = match OpusDecoder::new() {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "no audio decoder");
            return;
        }
    };
    let mut pacer = Pacer::new(Duration::from_millis(20));
    while !stop.load(Ordering::Relaxed) {
        pacer.wait();
        let playout = jitter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop(now_us());
        if playout == Playout::Silence {
            counters.audio_played(None);
            counters.set_audio_level(-120.0);
            continue;
        }
        let (block, decoded) = decoder.decode_playout(&playout);
        counters.audio_played(Some(decoded));
        // What they said, not what concealment made up: a guessed block leaves the level to fall.
        let level = match decoded {
            Decoded::Packet | Decoded::Fec => rms_dbfs(&block.samples),
            Decoded::Concealed | Decoded::Silence => -120.0,
        };
        counters.set_audio_level(level);
        if let Err(e) = speaker.play(&block) {
            tracing::debug!(error = %e, "speaker");
        }
    }
}
