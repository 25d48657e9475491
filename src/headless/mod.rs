//! Headless calls (`peercall call` / `peercall answer`): the call engine with no window, driven by
//! flags, writing a JSON [`report::Report`]. Tests, benchmarks and scripts use it.

pub mod report;

use std::sync::Arc;
use std::time::{Duration, Instant};

use signaling_client::{IceServer, Signaling, TlsTrust, WsOptions, WsSignaling};

use crate::call::media_setup::{AudioChoice, MediaSetup, SpeakerChoice, VideoChoice};
use crate::call::media_stats::MediaCounters;
use crate::call::peer::NetworkSettings;
use crate::call::{CallCommand, CallEngine, CallEvent, EngineConfig, MediaKind};
use report::{Ended, RemoteEvent, Report, TimelinePoint};

/// What a headless run does.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Dial this peer.
    Call { dial: String },
    /// Wait for a call and let it ring `ring` long; then take it when `auto_accept`, else
    /// decline it.
    Answer { auto_accept: bool, ring: Duration },
}

#[derive(Debug, Clone)]
pub struct HeadlessOptions {
    pub server: String,
    pub id: Option<String>,
    pub mode: Mode,
    pub video: VideoChoice,
    pub audio: AudioChoice,
    pub speaker: SpeakerChoice,
    /// Seconds of connected media, then hang up; `None`: until the other side ends the call.
    pub duration: Option<f64>,
    pub mute_audio_at: Option<f64>,
    pub mute_video_at: Option<f64>,
    /// Unmute again this many seconds after muting (so a test sees media stop and resume).
    pub unmute_after: Option<f64>,
    pub network: NetworkSettings,
    /// How long a callee waits for a call before giving up.
    pub wait: Duration,
    /// Which `wss://` server certificates to accept.
    pub tls: TlsTrust,
}

/// Connects, registers, runs one call, and returns its report.
pub async fn run(options: HeadlessOptions) -> anyhow::Result<Report> {
    let ws_options = WsOptions {
        tls: options.tls,
        ..WsOptions::default()
    };
    let signaling = WsSignaling::connect(&options.server, ws_options).await?;
    let events = signaling
        .take_events()
        .ok_or_else(|| anyhow::anyhow!("signaling events already taken"))?;
    let registration = signaling.register(options.id.clone()).await?;
    tracing::info!(id = %registration.id, "registered");
    let mut network = options.network.clone();
    if network.ice_servers.is_empty() {
        network.ice_servers = registration.ice_servers.clone();
    }
    let setup = MediaSetup::new(
        options.video.clone(),
        options.audio.clone(),
        options.speaker.clone(),
    );
    let analyzer = setup.analyzer.clone();
    let config = EngineConfig {
        network,
        ..EngineConfig::default()
    };
    let signaling: Arc<dyn Signaling> = Arc::new(signaling);
    let (engine, mut calls) = CallEngine::start(signaling, events, setup, config);
    let mut run = Run::new(&options);
    if let Mode::Call { dial } = &options.mode {
        run.start = Some(Instant::now());
        engine.send(CallCommand::Dial(dial.clone()));
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
                run.sample(&engine.counters());
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
        if run.on_event(event, &engine) {
            break;
        }
    }
    // Let the last frames and audio drain into the counters.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let counters = engine.counters();
    let analyzer = analyzer.lock().unwrap_or_else(|p| p.into_inner());
    let mut report = run.report;
    fill_media(&mut report, &counters, run.start);
    report.audio.tone_hz = analyzer.dominant_frequency();
    report.audio.level_dbfs = (analyzer.blocks() > 0).then(|| analyzer.level_dbfs() as f64);
    let (cpu_s, peak_rss_mb) = report::process_cost();
    report.cpu_s = cpu_s;
    report.peak_rss_mb = peak_rss_mb;
    Ok(report)
}

/// The state of one headless call as events arrive.
struct Run {
    mode: Mode,
    duration: Option<f64>,
    mute_audio_at: Option<f64>,
    mute_video_at: Option<f64>,
    unmute_after: Option<f64>,
    /// The dial, or `incoming`: what setup times count from.
    start: Option<Instant>,
    /// When media connected: what `--duration` and the mute times count from.
    connected: Option<Instant>,
    /// (when, command) still to send.
    scheduled: Vec<(Instant, CallCommand)>,
    report: Report,
}

impl Run {
    fn new(options: &HeadlessOptions) -> Run {
        Run {
            mode: options.mode.clone(),
            duration: options.duration,
            mute_audio_at: options.mute_audio_at,
            mute_video_at: options.mute_video_at,
            unmute_after: options.unmute_after,
            start: None,
            connected: None,
            scheduled: Vec::new(),
            report: Report {
                role: match options.mode {
                    Mode::Call { .. } => "caller",
                    Mode::Answer { .. } => "callee",
                },
                ..Report::default()
            },
        }
    }

    fn ms_since_start(&self) -> Option<f64> {
        self.start.map(|s| s.elapsed().as_secs_f64() * 1000.0)
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.scheduled.iter().map(|(t, _)| *t).min()
    }

    fn due_commands(&mut self, now: Instant) -> Vec<CallCommand> {
        let (due, later): (Vec<_>, Vec<_>) = self.scheduled.drain(..).partition(|(t, _)| *t <= now);
        self.scheduled = later;
        due.into_iter().map(|(_, c)| c).collect()
    }

    /// Returns true when the run is over.
    fn on_event(&mut self, event: CallEvent, engine: &CallEngine) -> bool {
        match event {
            CallEvent::Calling { peer, .. } => {
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
            CallEvent::Accepted { .. } => self.report.setup_ms.accepted = self.ms_since_start(),
            CallEvent::IceConnected if self.report.setup_ms.ice_connected.is_none() => {
                self.report.setup_ms.ice_connected = self.ms_since_start();
            }
            CallEvent::Connected { .. } => {
                let now = Instant::now();
                self.connected = Some(now);
                self.report.setup_ms.connected = self.ms_since_start();
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
            }
            CallEvent::RemoteMuted { kind, muted } => {
                let code = match kind {
                    MediaKind::Audio => "mute_audio",
                    MediaKind::Video => "mute_video",
                };
                self.report.remote_events.push(RemoteEvent {
                    t_ms: self.connected_ms(),
                    code: code.into(),
                    value: muted.into(),
                });
            }
            CallEvent::Chat { text } => self.report.remote_events.push(RemoteEvent {
                t_ms: self.connected_ms(),
                code: "chat".into(),
                value: text.into(),
            }),
            CallEvent::Stats(stats) => {
                let s = &mut self.report.stats;
                s.rtt_ms = stats.rtt_ms.or(s.rtt_ms);
                s.packets_lost = Some(stats.packets_lost);
                s.bitrate_out_kbps = Some(stats.bitrate_out_kbps);
                s.bitrate_in_kbps = Some(stats.bitrate_in_kbps);
                s.target_kbps = Some(stats.target_kbps);
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
                });
                return true;
            }
            CallEvent::SignalingLost { reason } => {
                self.report.errors.push(format!("signaling lost: {reason}"));
            }
            _ => {}
        }
        false
    }

    fn sample(&mut self, counters: &MediaCounters) {
        if self.connected.is_some() && self.report.ended.is_none() {
            let t_ms = self.connected_ms();
            self.report.timeline.push(TimelinePoint {
                t_ms,
                frames_decoded: MediaCounters::get(&counters.frames_decoded),
                blocks_decoded: MediaCounters::get(&counters.blocks_decoded),
            });
        }
    }

    /// Remote events are timed from when media connected (what the mute flags count from).
    fn connected_ms(&self) -> f64 {
        self.connected
            .map_or(0.0, |c| c.elapsed().as_secs_f64() * 1000.0)
    }
}

fn fill_media(report: &mut Report, counters: &MediaCounters, start: Option<Instant>) {
    let received = counters.received_video();
    let v = &mut report.video;
    v.size = received.size.map(|(w, h)| [w, h]);
    v.frames_sent = MediaCounters::get(&counters.frames_sent);
    v.frames_decoded = MediaCounters::get(&counters.frames_decoded);
    v.counters_read = received.counters_read;
    v.counter_gaps = (received.counters_read > 0).then_some(received.counter_gaps);
    v.last_counter = received.last_counter;
    v.keyframes_requested = MediaCounters::get(&counters.keyframes_requested);
    v.keyframes_sent_on_request = MediaCounters::get(&counters.keyframes_forced);
    v.latency_ms.p50 = received.latency_p50_ms;
    v.latency_ms.p95 = received.latency_p95_ms;
    report.audio.blocks_sent = MediaCounters::get(&counters.blocks_sent);
    report.audio.blocks_decoded = MediaCounters::get(&counters.blocks_decoded);
    if let (Some(start), Some(first)) = (start, received.first_frame) {
        report.setup_ms.first_frame =
            Some(first.saturating_duration_since(start).as_secs_f64() * 1000.0);
    }
}

/// `--ice-server` values as the protocol's shape.
pub fn ice_servers(urls: &[String]) -> Vec<IceServer> {
    urls.iter().map(|u| IceServer::from_url(u)).collect()
}
