//! Headless calls (`peercall call` / `peercall answer`): the call engine with no window, driven by
//! flags, writing a JSON [`report::Report`]. Tests, benchmarks and scripts use it.

pub mod report;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use signaling_client::manual::blob::MAX_BLOB_BYTES;
use signaling_client::{Endpoint, IceServer, ManualSignaling, Opened, SignalingKind, TlsTrust};
use tokio::sync::mpsc;

use crate::call::link::LinkStats;
use crate::call::media_setup::{AudioChoice, MediaSetup, SpeakerChoice, VideoChoice};
use crate::call::media_stats::MediaCounters;
use crate::call::participant::Participant;
use crate::call::peer::NetworkSettings;
use crate::call::screen_pipeline::ShareCounters;
use crate::call::{
    CallCommand, CallEngine, CallEvent, Direction, EngineConfig, FileEvent, FileSettings, FileStop,
    MediaKind,
};
use report::{
    Ended, FileReport, Freezes, ParticipantAudio, ParticipantLink, ParticipantReport,
    ParticipantShare, ParticipantVideo, RemoteEvent, Report, ShareReceived, ShareReport, ShareSent,
    TimelinePoint,
};

/// What a headless run does.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Dial this peer.
    Call { dial: String },
    /// Wait for a call and let it ring `ring` long; then take it when `auto_accept`, else
    /// decline it.
    Answer { auto_accept: bool, ring: Duration },
    /// Join (or create) a room, and once in it, invite `invite`.
    Room {
        name: String,
        invite: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct HeadlessOptions {
    /// Which kind of server `server` is.
    pub signaling: SignalingKind,
    pub server: String,
    /// The room a socket.io 1-to-1 server lists us in.
    pub room: Option<String>,
    pub id: Option<String>,
    pub mode: Mode,
    pub video: VideoChoice,
    pub audio: AudioChoice,
    /// How a microphone is cleaned.
    pub audio_processing: crate::media::voice::Stages,
    /// Tones to follow in what the others send (Hz).
    pub measure_tones: Vec<f64>,
    pub speaker: SpeakerChoice,
    /// Seconds of connected media, then hang up; `None`: until the other side ends the call.
    pub duration: Option<f64>,
    pub mute_audio_at: Option<f64>,
    pub mute_video_at: Option<f64>,
    /// Unmute again this many seconds after muting (so a test sees media stop and resume).
    pub unmute_after: Option<f64>,
    /// Send this chat line this many seconds into the call.
    pub chat_at: Option<(f64, String)>,
    /// Add this person to the call this many seconds into it.
    pub add_at: Option<(f64, String)>,
    pub network: NetworkSettings,
    /// How long a callee waits for a call before giving up.
    pub wait: Duration,
    /// Which `wss://` server certificates to accept.
    pub tls: TlsTrust,
    /// Calls to run one after another before exiting (a long-lived callee for soak tests).
    pub calls: u32,
    /// Offer these files `send_at` seconds into the call.
    pub send_files: Vec<std::path::PathBuf>,
    pub send_at: f64,
    /// Cancel every running transfer this many seconds into the call.
    pub cancel_file_at: Option<f64>,
    /// Where received files go; offers are declined unless `auto_accept`.
    pub files: FileSettings,
    /// Share a screen `share.at` seconds into the call (and stop `share.stop_at`).
    pub share: ShareOptions,
    /// Frames a second of our shared screen (`None`: the default).
    pub share_fps: Option<u32>,
    /// The ceiling on what our camera sends, from the start, and a new one some seconds in.
    pub video_quality: Option<crate::call::VideoQuality>,
    pub quality_at: Option<(f64, crate::call::VideoQuality)>,
    /// Write the other side's last shared-screen picture here (PNG) when the call ends.
    pub save_frame: Option<std::path::PathBuf>,
}

/// `--share-screen`, `--share-monitor`, `--share-at`, `--stop-share-at`.
#[derive(Debug, Clone, Default)]
pub struct ShareOptions {
    /// What to share, if anything.
    pub target: Option<crate::call::ScreenTarget>,
    pub at: f64,
    pub stop_at: Option<f64>,
}

fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Sending => "sent",
        Direction::Receiving => "received",
    }
}

/// The other side's messages kept in a report, at most (a chatty or hostile peer sends more);
/// the same bound keeps the lists of path breaks.
const MAX_REMOTE_EVENTS: usize = 1000;

/// When the steady part of a call starts (ms after connecting), for `p95_steady`.
const STEADY_AFTER_MS: f64 = 3000.0;

/// Connects, registers, then runs `options.calls` calls one after another on the same
/// connection and engine (as the window does), handing each call's report to `on_report` as it
/// ends.
pub async fn run(
    options: HeadlessOptions,
    mut on_report: impl FnMut(Report),
) -> anyhow::Result<()> {
    let endpoint = Endpoint {
        kind: options.signaling,
        server: options.server.clone(),
        room: options.room.clone(),
        tls: options.tls,
    };
    let opened = endpoint.open().await?;
    if let Opened::Manual(manual) = &opened {
        exchange_lines_on_stdio(manual);
    }
    let signaling = opened.signaling();
    let events = signaling
        .take_events()
        .ok_or_else(|| anyhow::anyhow!("signaling events already taken"))?;
    let registration = signaling.register(options.id.clone()).await?;
    tracing::info!(id = %registration.id, signaling = %options.signaling, "registered");
    let mut network = options.network.clone();
    let mut server_ice = false;
    if network.ice_servers.is_empty() {
        network.ice_servers = registration.ice_servers.clone();
        server_ice = true;
    }
    let voice = crate::media::voice::Voice::new(options.audio_processing);
    let setup = MediaSetup {
        share_fps: options.share_fps,
        quality: options.video_quality,
        measure_tones: options.measure_tones.clone(),
        voice: voice.clone(),
        ..MediaSetup::new(
            options.video.clone(),
            options.audio.clone(),
            options.speaker.clone(),
        )
    };
    let mut config = EngineConfig {
        network,
        server_ice,
        files: options.files.clone(),
        ..EngineConfig::default()
    };
    if let Some(patience) = options.signaling.setup_patience() {
        config.connect_timeout = patience;
    }
    let (engine, mut calls) = CallEngine::start(signaling, events, setup, config);
    for _ in 0..options.calls.max(1) {
        let report = one_call(&options, &engine, &mut calls, &voice).await?;
        on_report(report);
    }
    Ok(())
}

/// Manual signaling without a window: our line goes to stdout as it is ready, and lines read
/// from stdin are pasted (what does not read as one is said on stderr, and reading goes on).
fn exchange_lines_on_stdio(manual: &Arc<ManualSignaling>) {
    let mut lines = manual.lines();
    tokio::spawn(async move {
        while lines.changed().await.is_ok() {
            if let Some(line) = lines.borrow_and_update().clone() {
                println!("{line}");
            }
        }
    });
    // A thread of its own, not tokio's stdin: a read blocked on a terminal would hold the
    // runtime's shutdown, and the process would not exit when the call ends.
    let manual = manual.clone();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        while let Some(line) = read_line_within(&mut stdin, MAX_BLOB_BYTES) {
            let line = match line {
                Ok(line) if line.trim().is_empty() => continue,
                Ok(line) => line,
                Err(len) => {
                    eprintln!("peercall: cannot use that line: it is over {len} bytes long");
                    continue;
                }
            };
            match manual.paste(&line) {
                Ok(()) => tracing::info!("pasted line taken"),
                Err(why) => eprintln!("peercall: cannot use that line: {why}"),
            }
        }
    });
}

/// The next line of `input`, kept only up to `max` bytes (a longer one is skipped to its end and
/// given as `Err(max)`); `None` at the end of input.
fn read_line_within(
    input: &mut impl std::io::BufRead,
    max: usize,
) -> Option<Result<String, usize>> {
    use std::io::{BufRead, Read};
    let mut line = Vec::new();
    let read = input
        .by_ref()
        .take(max as u64 + 1)
        .read_until(b'\n', &mut line)
        .ok()?;
    if read == 0 {
        return None;
    }
    if line.len() > max && !line.ends_with(b"\n") {
        // Skip the rest of the long line, without keeping it.
        let mut rest = Vec::new();
        loop {
            rest.clear();
            match input.by_ref().take(64 * 1024).read_until(b'\n', &mut rest) {
                Ok(0) | Err(_) => break,
                Ok(_) if rest.ends_with(b"\n") => break,
                Ok(_) => {}
            }
        }
        return Some(Err(max));
    }
    Some(Ok(String::from_utf8_lossy(&line).into_owned()))
}

/// Runs one call to its end and returns its report.
async fn one_call(
    options: &HeadlessOptions,
    engine: &CallEngine,
    calls: &mut mpsc::Receiver<CallEvent>,
    voice: &crate::media::voice::Voice,
) -> anyhow::Result<Report> {
    let mut run = Run::new(options);
    match &options.mode {
        Mode::Call { dial } => {
            run.start = Some(Instant::now());
            engine.send(CallCommand::Dial(dial.clone()));
        }
        Mode::Room { name, .. } => {
            run.start = Some(Instant::now());
            engine.send(CallCommand::JoinRoom(name.clone()));
        }
        Mode::Answer { .. } => {}
    }
    let wait_deadline = Instant::now() + options.wait;
    let mut timeline = tokio::time::interval(Duration::from_millis(250));
    loop {
        // A callee waits for a call only so long; after that only scheduled commands wake us.
        let idle = if run.start.is_none() {
            wait_deadline
        } else {
            Instant::now() + Duration::from_secs(3600)
        };
        let next = run.next_deadline().unwrap_or(idle).min(idle);
        let event = tokio::select! {
            event = calls.recv() => event,
            _ = timeline.tick() => {
                let share = engine.participants().first().map(|p| p.share.counters.clone());
                run.sample(&engine.sent(), &engine.counters(), share.as_deref(), engine.link().as_deref());
                continue;
            }
            _ = tokio::time::sleep_until(next.into()) => {
                if run.start.is_none() && Instant::now() >= wait_deadline {
                    anyhow::bail!("no call arrived within {:?}", options.wait);
                }
                for command in run.due_commands(Instant::now()) {
                    engine.send(command);
                }
                continue;
            }
        };
        let Some(event) = event else {
            anyhow::bail!("the call engine stopped");
        };
        if run.on_event(event, engine) {
            break;
        }
    }
    // Let the last frames and audio drain into the counters.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let counters = engine.counters();
    let participants = engine.participants();
    let mut report = run.report;
    fill_participants(&mut report, &participants, run.start);
    fill_media(&mut report, &engine.sent(), &counters, run.start);
    if let Some(from) = run.steady_latency_from {
        report.video.latency_ms.p95_steady = counters.latency_p95_since(from).0;
    }
    if let Some(link) = engine.link() {
        fill_link(&mut report, &link);
    }
    if let Some(first) = participants.first() {
        let analyzer = first.analyzer.lock().unwrap_or_else(|p| p.into_inner());
        report.audio.tone_hz = analyzer.dominant_frequency();
        report.audio.level_dbfs = (analyzer.blocks() > 0).then(|| analyzer.level_dbfs() as f64);
        report.av_sync_ms = av_sync_ms(analyzer.mark_delays_us(), &counters);
        report.audio.tones_dbfs = tones_report(
            &analyzer.tone_levels(),
            &options.measure_tones,
            report.setup_ms.connected_unix_ms,
        );
    }
    if let AudioChoice::Microphone { .. } = options.audio {
        report.audio.processing = Some(processing_report(voice));
    }
    report.share = share_report(
        &engine.share_sent(),
        run.sharing_since.map(|(_, unix_ms)| unix_ms),
        participants.first().map(|p| &p.share),
        run.remote_share_on,
        options.save_frame.as_deref(),
    );
    report.process = report::ProcessCost::now();
    Ok(report)
}

/// The measured tones, timed from when media connected.
fn tones_report(
    levels: &[crate::media::tone_meter::ToneLevels],
    freqs: &[f64],
    connected_unix_ms: Option<f64>,
) -> Vec<report::TonesPoint> {
    let Some(connected) = connected_unix_ms else {
        return Vec::new();
    };
    levels
        .iter()
        .map(|l| report::TonesPoint {
            t_ms: (l.end_unix_ms - connected).round(),
            tones: l
                .tones_dbfs
                .iter()
                .zip(freqs)
                .map(|(&db, hz)| (format!("{hz}"), (db * 10.0).round() / 10.0))
                .collect(),
            level_dbfs: (l.level_dbfs * 10.0).round() / 10.0,
        })
        .collect()
}

/// What cleaned our microphone, and how it did.
fn processing_report(voice: &crate::media::voice::Voice) -> report::ProcessingReport {
    let stats = voice.stats.snapshot();
    let round = |v: Option<f64>| v.map(|v| (v * 10.0).round() / 10.0);
    report::ProcessingReport {
        stages: voice.stages.get().names(),
        engine: crate::media::voice::ENGINE,
        frames: stats.frames,
        frames_without_reference: stats.frames_without_reference,
        reference_since_unix_ms: stats.reference_since_unix_ms,
        input_dbfs: round(stats.input_dbfs),
        output_dbfs: round(stats.output_dbfs),
        erle_db: round(stats.erle_db),
        delay_ms: stats.delay_ms,
        realignments: stats.realignments,
        gain_db: round(stats.gain_db),
        us_per_frame: round(stats.us_per_frame),
    }
}

/// What was shared either way: ours as sent, the first other person's as received (its last
/// picture saved as PNG when asked).
fn share_report(
    sent: &ShareCounters,
    started_unix_ms: Option<f64>,
    theirs: Option<&crate::call::participant::SharedScreen>,
    their_share_on: Option<Instant>,
    save_frame: Option<&std::path::Path>,
) -> ShareReport {
    let frames_sent = sent.frames_sent.load(Ordering::Relaxed);
    let sent = started_unix_ms.map(|started_unix_ms| ShareSent {
        started_unix_ms,
        frames_sent,
        frames_unchanged: sent.frames_unchanged.load(Ordering::Relaxed),
        keyframes: sent.keyframes.load(Ordering::Relaxed),
        size: sent.size().map(|(w, h)| [w, h]),
        work_ms_per_frame: (frames_sent > 0)
            .then(|| sent.work_us.load(Ordering::Relaxed) as f64 / 1000.0 / frames_sent as f64),
    });
    let received = theirs.and_then(|share| {
        let frames_decoded = MediaCounters::get(&share.counters.frames_decoded);
        if frames_decoded == 0 && their_share_on.is_none() {
            return None;
        }
        let video = share.counters.received_video();
        let fps = match (video.first_frame, video.last_frame) {
            (Some(first), Some(last)) if frames_decoded > 1 && last > first => {
                Some((frames_decoded - 1) as f64 / last.duration_since(first).as_secs_f64())
            }
            _ => None,
        };
        let unix_ms_of = |t: Instant| {
            crate::media::now_us() as f64 / 1000.0 - t.elapsed().as_secs_f64() * 1000.0
        };
        let saved_frame = save_frame.and_then(|path| {
            let (_, frame) = share.frames.take_newer(0)?;
            match save_png(path, &frame) {
                Ok(()) => Some(path.display().to_string()),
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "saving the shared screen");
                    None
                }
            }
        });
        Some(ShareReceived {
            frames_decoded,
            size: video.size.map(|(w, h)| [w, h]),
            fps,
            first_frame_ms: video
                .first_frame
                .zip(their_share_on)
                .map(|(f, on)| f.saturating_duration_since(on).as_secs_f64() * 1000.0),
            first_frame_unix_ms: video.first_frame.map(unix_ms_of),
            on_at_end: share.is_on(),
            saved_frame,
        })
    });
    ShareReport { sent, received }
}

/// An RGBA picture as a PNG file.
fn save_png(
    path: &std::path::Path,
    frame: &crate::call::media_setup::RgbaFrame,
) -> anyhow::Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, frame.width, frame.height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&frame.pixels)?;
    Ok(())
}

/// The state of one headless call as events arrive.
struct Run {
    mode: Mode,
    duration: Option<f64>,
    mute_audio_at: Option<f64>,
    mute_video_at: Option<f64>,
    unmute_after: Option<f64>,
    chat_at: Option<(f64, String)>,
    add_at: Option<(f64, String)>,
    send_files: Vec<std::path::PathBuf>,
    send_at: f64,
    cancel_file_at: Option<f64>,
    share: ShareOptions,
    quality_at: Option<(f64, crate::call::VideoQuality)>,
    /// When we started sharing, and when the first other person said they share.
    sharing_since: Option<(Instant, f64)>,
    remote_share_on: Option<Instant>,
    auto_accept_files: bool,
    /// Transfers under way (offered either way, not yet ended), and when to cancel them.
    transfers: Vec<String>,
    cancel_files: Option<Instant>,
    /// The dial, or `incoming`: what setup times count from.
    start: Option<Instant>,
    /// When media connected: what `--duration` and the mute times count from.
    connected: Option<Instant>,
    /// (when, command) still to send.
    scheduled: Vec<(Instant, CallCommand)>,
    report: Report,
    /// Bytes sent and latency samples seen at the previous timeline sample.
    last_bytes_sent: u64,
    last_latency_index: usize,
    /// Latency samples before the steady part of the call (see `Latency::p95_steady`).
    steady_latency_from: Option<usize>,
}

impl Run {
    fn new(options: &HeadlessOptions) -> Run {
        Run {
            mode: options.mode.clone(),
            duration: options.duration,
            mute_audio_at: options.mute_audio_at,
            mute_video_at: options.mute_video_at,
            unmute_after: options.unmute_after,
            chat_at: options.chat_at.clone(),
            add_at: options.add_at.clone(),
            send_files: options.send_files.clone(),
            send_at: options.send_at,
            cancel_file_at: options.cancel_file_at,
            share: options.share.clone(),
            quality_at: options.quality_at,
            sharing_since: None,
            remote_share_on: None,
            auto_accept_files: options.files.auto_accept,
            transfers: Vec::new(),
            cancel_files: None,
            start: None,
            connected: None,
            scheduled: Vec::new(),
            last_bytes_sent: 0,
            last_latency_index: 0,
            steady_latency_from: None,
            report: Report {
                signaling: options.signaling.name(),
                role: match options.mode {
                    Mode::Call { .. } => "caller",
                    Mode::Answer { .. } => "callee",
                    Mode::Room { .. } => "member",
                },
                ..Report::default()
            },
        }
    }

    fn ms_since_start(&self) -> Option<f64> {
        self.start.map(|s| s.elapsed().as_secs_f64() * 1000.0)
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.scheduled
            .iter()
            .map(|(t, _)| *t)
            .chain(self.cancel_files)
            .min()
    }

    fn due_commands(&mut self, now: Instant) -> Vec<CallCommand> {
        let (due, later): (Vec<_>, Vec<_>) = self.scheduled.drain(..).partition(|(t, _)| *t <= now);
        self.scheduled = later;
        let mut due: Vec<CallCommand> = due.into_iter().map(|(_, c)| c).collect();
        if self.cancel_files.is_some_and(|t| t <= now) {
            self.cancel_files = None;
            due.extend(self.transfers.iter().cloned().map(CallCommand::CancelFile));
        }
        due
    }

    /// A transfer moved on: its end goes into the report.
    fn on_file(&mut self, peer: String, event: FileEvent, engine: &CallEngine) {
        match event {
            FileEvent::Offered { id, name, size } => {
                tracing::info!(%peer, %name, size, "a file is offered");
                self.transfers.push(id.clone());
                if !self.auto_accept_files {
                    engine.send(CallCommand::DeclineFile(id));
                }
            }
            FileEvent::Offering { id, .. } => self.transfers.push(id),
            FileEvent::Progress { .. } => {}
            FileEvent::Done {
                id,
                direction,
                name,
                size,
                path,
                secs,
            } => {
                tracing::info!(%peer, %name, size, secs, "file transfer done");
                self.transfers.retain(|t| *t != id);
                self.report.files.push(FileReport {
                    peer,
                    direction: direction_name(direction),
                    name,
                    size,
                    outcome: "done",
                    detail: None,
                    path: path.map(|p| p.display().to_string()),
                    secs: Some(secs),
                    mbps: (secs > 0.0).then(|| size as f64 * 8.0 / secs / 1e6),
                });
            }
            FileEvent::Stopped {
                id,
                direction,
                name,
                why,
            } => {
                tracing::info!(%peer, %name, %why, "file transfer stopped");
                self.transfers.retain(|t| *t != id);
                let outcome = match &why {
                    FileStop::Declined => "declined",
                    FileStop::CancelledByUs(_) => "cancelled",
                    FileStop::CancelledByThem(_) => "cancelled_by_them",
                    FileStop::Failed(_) => "failed",
                };
                self.report.files.push(FileReport {
                    peer,
                    direction: direction_name(direction),
                    name,
                    size: 0,
                    outcome,
                    detail: Some(why.to_string()),
                    path: None,
                    secs: None,
                    mbps: None,
                });
            }
        }
    }

    /// Returns true when the run is over.
    fn on_event(&mut self, event: CallEvent, engine: &CallEngine) -> bool {
        match event {
            // In a room, legs to the members follow: the first is who the call was with.
            CallEvent::Calling { peer, .. } if self.report.peer.is_none() => {
                self.report.peer = Some(peer);
                self.report.setup_ms.ringing = self.ms_since_start();
            }
            CallEvent::Incoming { peer, .. } => {
                self.start = Some(Instant::now());
                self.report.peer = Some(peer);
                self.report.setup_ms.ringing = Some(0.0);
                if let Mode::Answer { auto_accept, ring } = self.mode {
                    let answer = if auto_accept {
                        CallCommand::Accept
                    } else {
                        CallCommand::Decline
                    };
                    if ring.is_zero() {
                        engine.send(answer);
                    } else {
                        self.scheduled.push((Instant::now() + ring, answer));
                    }
                }
            }
            CallEvent::Accepted { .. } if self.report.setup_ms.accepted.is_none() => {
                self.report.setup_ms.accepted = self.ms_since_start()
            }
            CallEvent::RoomJoined { room, .. } => {
                self.report.room = Some(room);
                if let Mode::Room {
                    invite: Some(invite),
                    ..
                } = &self.mode
                {
                    engine.send(CallCommand::Dial(invite.clone()));
                }
            }
            CallEvent::PathLost { peer } => {
                tracing::info!(%peer, "the path broke: connecting again");
                self.report.ice_restarts += 1;
                let at = self.connected_ms();
                // The first ones are kept (a flapping link must not grow the report without end).
                if self.report.path_lost_ms.len() < MAX_REMOTE_EVENTS {
                    self.report.path_lost_ms.push(at);
                }
            }
            CallEvent::PathRestored { peer, after } => {
                tracing::info!(%peer, ?after, "connected again");
                if self.report.reconnect_ms.len() < MAX_REMOTE_EVENTS {
                    self.report.reconnect_ms.push(after.as_secs_f64() * 1000.0);
                }
            }
            CallEvent::Reconnecting { why } => {
                tracing::info!(%why, "connecting again");
                self.report.setup_ms.reconnects += 1;
            }
            CallEvent::IceConnected if self.report.setup_ms.ice_connected.is_none() => {
                self.report.setup_ms.ice_connected = self.ms_since_start();
            }
            CallEvent::Connected { .. } if self.connected.is_none() => {
                tracing::info!("media connected");
                let now = Instant::now();
                self.connected = Some(now);
                self.report.setup_ms.connected = self.ms_since_start();
                self.report.setup_ms.connected_unix_ms =
                    Some(crate::media::now_us() as f64 / 1000.0);
                let at = |secs: f64| now + Duration::from_secs_f64(secs.max(0.0));
                if let Some(d) = self.duration {
                    self.scheduled.push((at(d), CallCommand::HangUp));
                }
                if let Some(t) = self.mute_audio_at {
                    self.scheduled.push((at(t), CallCommand::MuteAudio(true)));
                    if let Some(u) = self.unmute_after {
                        self.scheduled
                            .push((at(t + u), CallCommand::MuteAudio(false)));
                    }
                }
                if let Some(t) = self.mute_video_at {
                    self.scheduled.push((at(t), CallCommand::MuteVideo(true)));
                    if let Some(u) = self.unmute_after {
                        self.scheduled
                            .push((at(t + u), CallCommand::MuteVideo(false)));
                    }
                }
                if let Some((t, id)) = &self.add_at {
                    self.scheduled.push((at(*t), CallCommand::Dial(id.clone())));
                }
                if let Some((t, text)) = &self.chat_at {
                    self.scheduled
                        .push((at(*t), CallCommand::Chat(text.clone())));
                }
                for path in &self.send_files {
                    self.scheduled
                        .push((at(self.send_at), CallCommand::SendFile(path.clone())));
                }
                self.cancel_files = self.cancel_file_at.map(at);
                if let Some((t, quality)) = self.quality_at {
                    let change = CallCommand::VideoQuality(Some(quality));
                    self.scheduled.push((at(t), change));
                }
                if let Some(target) = &self.share.target {
                    let share = CallCommand::ShareScreen(target.clone());
                    self.scheduled.push((at(self.share.at), share));
                    if let Some(stop) = self.share.stop_at {
                        self.scheduled.push((at(stop), CallCommand::StopSharing));
                    }
                }
            }
            CallEvent::Sharing(on) => {
                if on {
                    let unix_ms = crate::media::now_us() as f64 / 1000.0;
                    self.sharing_since.get_or_insert((Instant::now(), unix_ms));
                }
                self.remote_event(RemoteEvent {
                    from: None,
                    t_ms: self.connected_ms(),
                    code: "sharing".into(),
                    value: on.into(),
                    text: None,
                });
            }
            CallEvent::RemoteSharing { peer, on } => {
                let first = self.report.peer.as_ref().is_none_or(|p| *p == peer);
                if on && first {
                    self.remote_share_on.get_or_insert(Instant::now());
                }
                self.remote_event(RemoteEvent {
                    from: Some(peer),
                    t_ms: self.connected_ms(),
                    code: "screen_share".into(),
                    value: on.into(),
                    text: None,
                });
            }
            CallEvent::RemoteMuted { peer, kind, muted } => {
                let code = match kind {
                    MediaKind::Audio => "mute_audio",
                    MediaKind::Video => "mute_video",
                };
                self.remote_event(RemoteEvent {
                    from: Some(peer),
                    t_ms: self.connected_ms(),
                    code: code.into(),
                    value: muted.into(),
                    text: None,
                });
            }
            CallEvent::Chat { peer, text } => self.remote_event(RemoteEvent {
                from: Some(peer),
                t_ms: self.connected_ms(),
                code: "chat".into(),
                value: text.clone().into(),
                text: Some(text),
            }),
            CallEvent::Stats(stats) => {
                let s = &mut self.report.stats;
                s.rtt_ms = stats.rtt_ms.or(s.rtt_ms);
                s.packets_lost = Some(stats.packets_lost);
                s.bitrate_out_kbps = Some(stats.bitrate_out_kbps);
                s.bitrate_in_kbps = Some(stats.bitrate_in_kbps);
                s.target_kbps = Some(stats.target_kbps);
                if stats.path.is_some() {
                    self.report.path = stats.path;
                }
            }
            CallEvent::Error(why) => {
                tracing::warn!(%why, "call");
                self.report.errors.push(why);
            }
            CallEvent::Ended { by, reason, .. } => {
                self.report.ended = Some(Ended {
                    by: by.as_str(),
                    reason: reason.code().to_string(),
                    detail: reason.to_string(),
                    at_unix_ms: crate::media::now_us() as f64 / 1000.0,
                });
                return true;
            }
            CallEvent::SignalingLost { reason } => {
                self.report.errors.push(format!("signaling lost: {reason}"));
            }
            CallEvent::File { peer, event } => self.on_file(peer, event, engine),
            CallEvent::Verification { peer, code } => {
                tracing::info!(%peer, %code, "verification code");
                let first = self.report.peer.as_ref().is_none_or(|p| *p == peer);
                if first {
                    self.report.verification_code = Some(code);
                }
            }
            _ => {}
        }
        false
    }

    /// Keeps the other side's message, up to [`MAX_REMOTE_EVENTS`]; counts the rest.
    fn remote_event(&mut self, event: RemoteEvent) {
        if self.report.remote_events.len() < MAX_REMOTE_EVENTS {
            self.report.remote_events.push(event);
        } else {
            self.report.remote_events_dropped += 1;
        }
    }

    fn sample(
        &mut self,
        ours: &MediaCounters,
        counters: &MediaCounters,
        share: Option<&MediaCounters>,
        link: Option<&LinkStats>,
    ) {
        if self.connected.is_none() || self.report.ended.is_some() {
            return;
        }
        let t_ms = self.connected_ms();
        let (target_kbps, bytes_sent) = link.map_or((0.0, 0), |l| {
            (
                LinkStats::get(&l.target_bps) as f64 / 1000.0,
                LinkStats::get(&l.bytes_sent),
            )
        });
        let interval_s = self
            .report
            .timeline
            .last()
            .map_or(t_ms, |p| t_ms - p.t_ms)
            .max(1.0)
            / 1000.0;
        let sent = bytes_sent.saturating_sub(self.last_bytes_sent);
        self.last_bytes_sent = bytes_sent;
        let (latency_p95_ms, next) = counters.latency_p95_since(self.last_latency_index);
        self.last_latency_index = next;
        if t_ms >= STEADY_AFTER_MS && self.steady_latency_from.is_none() {
            self.steady_latency_from = Some(next);
        }
        self.report.timeline.push(TimelinePoint {
            t_ms,
            frames_decoded: MediaCounters::get(&counters.frames_decoded),
            blocks_decoded: MediaCounters::get(&counters.blocks_decoded),
            frames_sent: link.map_or(0, |l| LinkStats::get(&l.video_frames_accepted)),
            keyframes_requested: MediaCounters::get(&counters.keyframes_requested),
            target_kbps,
            bitrate_out_kbps: sent as f64 * 8.0 / 1000.0 / interval_s,
            sent_size: ours.sent_size().map(|(w, h)| [w, h]),
            latency_p95_ms,
            share_frames_decoded: share.map_or(0, |s| MediaCounters::get(&s.frames_decoded)),
        });
    }

    /// Remote events are timed from when media connected (what the mute flags count from).
    fn connected_ms(&self) -> f64 {
        self.connected
            .map_or(0.0, |c| c.elapsed().as_secs_f64() * 1000.0)
    }
}

/// Each other person, on their own decoded streams.
fn fill_participants(
    report: &mut Report,
    participants: &[Arc<Participant>],
    start: Option<Instant>,
) {
    let ms_since_start =
        |t: Instant| start.map(|s| t.saturating_duration_since(s).as_secs_f64() * 1000.0);
    for p in participants {
        let received = p.counters.received_video();
        let analyzer = p.analyzer.lock().unwrap_or_else(|e| e.into_inner());
        let link = p.link().map(|link| {
            let lasted = p
                .left()
                .unwrap_or_else(Instant::now)
                .saturating_duration_since(p.joined)
                .as_secs_f64();
            ParticipantLink {
                sent_kbps: (lasted > 0.0)
                    .then(|| LinkStats::get(&link.bytes_sent) as f64 * 8.0 / 1000.0 / lasted),
                target_kbps: Some(LinkStats::get(&link.target_bps) as f64 / 1000.0),
                rtt_ms: link.rtt().map(|rtt| rtt.as_secs_f64() * 1000.0),
            }
        });
        report.participants.push(ParticipantReport {
            id: p.id.clone(),
            link: link.unwrap_or_default(),
            video: ParticipantVideo {
                first_frame_ms: received.first_frame.and_then(ms_since_start),
                frames_decoded: MediaCounters::get(&p.counters.frames_decoded),
                counters_read: received.counters_read,
                counter_gaps: (received.counters_read > 0).then_some(received.counter_gaps),
                last_counter: received.last_counter,
                size: received.size.map(|(w, h)| [w, h]),
                latency_ms: report::Latency {
                    p50: received.latency_p50_ms,
                    p95: received.latency_p95_ms,
                    p95_steady: None,
                },
            },
            audio: ParticipantAudio {
                blocks_decoded: MediaCounters::get(&p.counters.blocks_decoded),
                tone_hz: analyzer.dominant_frequency(),
                level_dbfs: (analyzer.blocks() > 0).then(|| analyzer.level_dbfs() as f64),
            },
            remote_events: report
                .remote_events
                .iter()
                .filter(|e| e.from.as_deref() == Some(p.id.as_str()))
                .cloned()
                .collect(),
            joined_ms: ms_since_start(p.joined),
            left_ms: p.left().and_then(ms_since_start),
            share: ParticipantShare {
                frames_decoded: MediaCounters::get(&p.share.counters.frames_decoded),
                size: p.share.counters.received_video().size.map(|(w, h)| [w, h]),
                on_at_end: p.share.is_on(),
            },
        });
    }
    if report.peer.is_none() {
        report.peer = participants.first().map(|p| p.id.clone());
    }
}

/// The call's media: what we sent, and what came from the first other person.
fn fill_media(
    report: &mut Report,
    sent: &MediaCounters,
    counters: &MediaCounters,
    start: Option<Instant>,
) {
    let received = counters.received_video();
    let v = &mut report.video;
    v.size = received.size.map(|(w, h)| [w, h]);
    v.frames_encoded = MediaCounters::get(&sent.frames_sent);
    v.frames_decoded = MediaCounters::get(&counters.frames_decoded);
    v.counters_read = received.counters_read;
    v.counter_gaps = (received.counters_read > 0).then_some(received.counter_gaps);
    v.last_counter = received.last_counter;
    v.keyframes_requested = MediaCounters::get(&counters.keyframes_requested);
    v.keyframes_sent_on_request = MediaCounters::get(&sent.keyframes_forced);
    v.frames_skipped = MediaCounters::get(&sent.frames_skipped);
    v.frames_rejected = MediaCounters::get(&counters.frames_rejected);
    v.latency_ms.p50 = received.latency_p50_ms;
    v.latency_ms.p95 = received.latency_p95_ms;
    v.freezes = Freezes {
        count: received.freezes,
        longest_ms: received.longest_freeze.as_secs_f64() * 1000.0,
    };
    let a = &mut report.audio;
    a.blocks_encoded = MediaCounters::get(&sent.blocks_sent);
    a.blocks_decoded = MediaCounters::get(&counters.blocks_decoded);
    a.blocks_concealed = MediaCounters::get(&counters.blocks_concealed);
    a.longest_silence_ms = counters.longest_audio_silence().as_secs_f64() * 1000.0;
    report.stats.fec_recovered = MediaCounters::get(&counters.fec_recovered);
    if let (Some(start), Some(first)) = (start, received.first_frame) {
        report.setup_ms.first_frame =
            Some(first.saturating_duration_since(start).as_secs_f64() * 1000.0);
    }
}

fn fill_link(report: &mut Report, link: &LinkStats) {
    report.video.frames_sent = LinkStats::get(&link.video_frames_accepted);
    report.audio.blocks_sent = LinkStats::get(&link.audio_packets_accepted);
    let s = &mut report.stats;
    s.nack_sent = LinkStats::get(&link.nack_sent);
    s.nack_repaired = LinkStats::get(&link.nack_repaired);
    s.rtx_sent = LinkStats::get(&link.rtx_sent);
    s.rtx_dropped = LinkStats::get(&link.rtx_dropped);
    s.pacer_dropped = LinkStats::get(&link.pacer_dropped);
}

/// Lip sync: how much later the audio plays than the video shows, ms (negative: audio first).
/// Audio's delay comes from the sync marks the other side's tone carries on each second, the
/// video's from the capture times its test pattern carries; both are medians.
fn av_sync_ms(mark_delays_us: &[u64], counters: &MediaCounters) -> Option<f64> {
    let video_ms = counters.received_video().latency_p50_ms?;
    let mut delays = mark_delays_us.to_vec();
    if delays.is_empty() {
        return None;
    }
    delays.sort_unstable();
    let audio_ms = delays[delays.len() / 2] as f64 / 1000.0;
    Some(audio_ms - video_ms)
}

/// `--ice-server` values as the protocol's shape.
pub fn ice_servers(urls: &[String]) -> Vec<IceServer> {
    urls.iter().map(|u| IceServer::from_url(u)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_lines_are_read_within_a_limit() {
        let long = "x".repeat(100);
        let text = format!("short\n{long}\nafter\nlast");
        let mut input = std::io::Cursor::new(text.into_bytes());
        let mut read = || read_line_within(&mut input, 10);
        assert_eq!(read(), Some(Ok("short\n".into())));
        assert_eq!(read(), Some(Err(10)), "the long line is skipped whole");
        assert_eq!(read(), Some(Ok("after\n".into())));
        assert_eq!(read(), Some(Ok("last".into())));
        assert_eq!(read(), None);
    }
}
