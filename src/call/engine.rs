//! The call engine: one task that owns the session, the peer connection and the media
//! pipelines. Commands come in on a channel, signaling events and peer events arrive on theirs,
//! and everything the UI or CLI should know goes out as [`CallEvent`]s.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signaling_client::{Signaling, SignalingEvent, SignalingEvents};
use tokio::sync::mpsc;
use webrtc::peer_connection::{RTCIceConnectionState, RTCPeerConnectionState, StatsSelector};

use super::events::{CallEvent, CallEvents, CallStats};
use super::link::LinkStats;
use super::media_setup::MediaSetup;
use super::media_stats::MediaCounters;
use super::peer::{BitrateLimits, NetworkSettings, Peer, PeerEvent, PeerEvents};
use super::receive_pipeline;
use super::send_pipeline::{SendGate, SendPipeline, SendTargets};
use super::session::{
    Action, CallCommand, PeerNotice, Session, CONNECT_TIMEOUT, DEFAULT_NO_ANSWER,
};

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub network: NetworkSettings,
    pub bitrate: BitrateLimits,
    /// A caller gives up after this long without an answer.
    pub no_answer: Duration,
    /// An accepted call with no connection after this long ends.
    pub connect_timeout: Duration,
    pub stats_interval: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            network: NetworkSettings::default(),
            bitrate: BitrateLimits::default(),
            no_answer: DEFAULT_NO_ANSWER,
            connect_timeout: CONNECT_TIMEOUT,
            stats_interval: Duration::from_secs(1),
        }
    }
}

/// What the engine's task takes in.
enum EngineCommand {
    Call(CallCommand),
    /// Other sources or sinks: used from the next call, and at once for the current call's
    /// sources.
    SetMedia(Box<MediaSetup>),
}

/// The handle the UI or CLI keeps: commands in, counters to read.
#[derive(Clone)]
pub struct CallEngine {
    commands: mpsc::UnboundedSender<EngineCommand>,
    counters: Arc<Mutex<Arc<MediaCounters>>>,
    link: Arc<Mutex<Option<Arc<LinkStats>>>>,
}

impl CallEngine {
    /// Starts the engine on the current tokio runtime.
    pub fn start(
        signaling: Arc<dyn Signaling>,
        signaling_events: SignalingEvents,
        setup: MediaSetup,
        config: EngineConfig,
    ) -> (CallEngine, mpsc::Receiver<CallEvent>) {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events, event_rx) = CallEvents::channel();
        let counters = Arc::new(Mutex::new(Arc::new(MediaCounters::default())));
        let link = Arc::new(Mutex::new(None));
        let task = EngineTask {
            session: Session::new(config.no_answer).with_connect_timeout(config.connect_timeout),
            signaling,
            setup,
            config,
            events,
            peer: None,
            peer_events: None,
            sender: None,
            gate: Arc::new(SendGate::default()),
            counters: counters.clone(),
            link: link.clone(),
            last_sample: None,
            refused_seconds: (0, 0),
        };
        tokio::spawn(task.run(command_rx, signaling_events));
        (
            CallEngine {
                commands,
                counters,
                link,
            },
            event_rx,
        )
    }

    pub fn send(&self, command: CallCommand) {
        let _ = self.commands.send(EngineCommand::Call(command));
    }

    /// Switches camera, microphone or speaker; a call in progress switches its sources now.
    pub fn set_media(&self, setup: MediaSetup) {
        let _ = self.commands.send(EngineCommand::SetMedia(Box::new(setup)));
    }

    /// The counters of the current (or last) call's media.
    pub fn counters(&self) -> Arc<MediaCounters> {
        self.counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The link figures of the current (or last) call's connection.
    pub fn link(&self) -> Option<Arc<LinkStats>> {
        self.link.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Transport byte counts at the previous stats sample, for bitrates.
struct StatsSample {
    at: Instant,
    bytes_out: u64,
    bytes_in: u64,
    frames_in: u64,
    frames_out: u64,
    /// Frames and audio blocks the encoders made, and those the connection accepted.
    encoded: (u64, u64),
    accepted: (u64, u64),
}

struct EngineTask {
    session: Session,
    signaling: Arc<dyn Signaling>,
    setup: MediaSetup,
    config: EngineConfig,
    events: CallEvents,
    peer: Option<Peer>,
    peer_events: Option<mpsc::Receiver<PeerEvent>>,
    sender: Option<SendPipeline>,
    gate: Arc<SendGate>,
    counters: Arc<Mutex<Arc<MediaCounters>>>,
    link: Arc<Mutex<Option<Arc<LinkStats>>>>,
    last_sample: Option<StatsSample>,
    /// Seconds in a row in which encoded media was refused by the connection, per kind.
    refused_seconds: (u32, u32),
}

impl EngineTask {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<EngineCommand>,
        mut signaling: SignalingEvents,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut stats = tokio::time::interval(self.config.stats_interval);
        loop {
            let peer_event = async {
                match self.peer_events.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = commands.recv() => match command {
                    None => break,
                    Some(EngineCommand::Call(command)) => self.command(command).await,
                    Some(EngineCommand::SetMedia(setup)) => self.set_media(*setup).await,
                },
                event = signaling.recv() => {
                    let Some(event) = event else { break };
                    self.signaling_event(event).await;
                }
                Some(event) = peer_event => self.peer_event(event).await,
                _ = tick.tick() => {
                    let actions = self.session.tick(Instant::now());
                    self.carry_out(actions).await;
                }
                _ = stats.tick() => self.sample_stats().await,
            }
        }
        // The owner is gone: leave any call properly.
        if self.session.in_call() {
            let actions = self.session.command(CallCommand::HangUp, Instant::now());
            self.carry_out(actions).await;
        }
    }

    fn emit(&self, event: CallEvent) {
        self.events.send(event);
    }

    async fn command(&mut self, command: CallCommand) {
        match &command {
            CallCommand::MuteAudio(m) => self.gate.audio_muted.store(*m, Ordering::Relaxed),
            CallCommand::MuteVideo(m) => self.gate.video_muted.store(*m, Ordering::Relaxed),
            _ => {}
        }
        let actions = self.session.command(command, Instant::now());
        self.carry_out(actions).await;
    }

    async fn set_media(&mut self, setup: MediaSetup) {
        self.setup = setup;
        let (Some(peer), Some(sender)) = (self.peer.as_ref(), self.sender.take()) else {
            return;
        };
        let peer: &Peer = peer;
        let _ = tokio::task::spawn_blocking(move || sender.stop()).await;
        // The same gate: connected and mute state carry over; the new source starts on a keyframe.
        self.sender = Some(self.start_sending(peer, self.counters()));
    }

    fn start_sending(&self, peer: &Peer, counters: Arc<MediaCounters>) -> SendPipeline {
        SendPipeline::start(
            &self.setup,
            SendTargets {
                video: peer.video.clone(),
                audio: peer.audio.clone(),
                link: peer.link.clone(),
                limits: self.config.bitrate,
            },
            counters,
            self.gate.clone(),
            self.events.clone(),
        )
    }

    async fn signaling_event(&mut self, event: SignalingEvent) {
        match &event {
            SignalingEvent::Registered(r) | SignalingEvent::Reconnected(r) => {
                self.emit(CallEvent::Registered { id: r.id.clone() })
            }
            SignalingEvent::Peers(peers) => self.emit(CallEvent::Peers(peers.clone())),
            SignalingEvent::PeerJoined(id) => self.emit(CallEvent::PeerJoined(id.clone())),
            SignalingEvent::PeerLeft(id) => self.emit(CallEvent::PeerLeft(id.clone())),
            SignalingEvent::Disconnected { reason } => self.emit(CallEvent::SignalingLost {
                reason: reason.clone(),
            }),
            SignalingEvent::Error {
                code,
                message,
                call_id: None,
                ..
            } => self.emit(CallEvent::Error(format!("signaling: {code}: {message}"))),
            _ => {}
        }
        let actions = self.session.signaling(event);
        self.carry_out(actions).await;
    }

    async fn peer_event(&mut self, event: PeerEvent) {
        let notice = match event {
            PeerEvent::LocalDescription(sdp) => PeerNotice::LocalDescription(sdp),
            PeerEvent::LocalCandidate(c) => PeerNotice::LocalCandidate(c),
            PeerEvent::IceState(RTCIceConnectionState::Connected) => PeerNotice::IceConnected,
            PeerEvent::IceState(_) => return,
            PeerEvent::State(RTCPeerConnectionState::Connected) => {
                let dtls_client = self.peer.as_ref().is_some_and(Peer::dtls_client);
                tracing::debug!(dtls_client, "connected");
                self.gate.set_connected(dtls_client);
                PeerNotice::Connected
            }
            PeerEvent::State(RTCPeerConnectionState::Failed) => {
                PeerNotice::Failed("ICE or DTLS failed: no path to the other side".into())
            }
            PeerEvent::State(_) => return,
            PeerEvent::Track(track) => {
                let Some(peer) = self.peer.as_ref() else {
                    return;
                };
                let (counters, link) = (self.counters(), peer.link.clone());
                receive_pipeline::start(track, &self.setup, counters, link, self.events.clone())
                    .await;
                return;
            }
            PeerEvent::ControlChannel(channel) => {
                if let Some(peer) = self.peer.as_mut() {
                    peer.adopt_control(channel);
                }
                return;
            }
            PeerEvent::ResolvedCandidate(candidate) => {
                if let Some(peer) = self.peer.as_mut() {
                    if let Err(e) = peer.add_remote_candidate(Some(candidate)).await {
                        tracing::debug!(error = %e, "ignoring a resolved candidate");
                    }
                }
                return;
            }
            PeerEvent::ControlOpen => {
                if let Some(peer) = self.peer.as_mut() {
                    peer.control_opened().await;
                }
                PeerNotice::ControlOpen
            }
            PeerEvent::Control(parsed) => PeerNotice::Control(parsed),
            PeerEvent::ControlClosed => PeerNotice::ControlClosed,
            PeerEvent::KeyframeRequest => {
                self.gate.keyframe_wanted.store(true, Ordering::Relaxed);
                return;
            }
            PeerEvent::Error(why) => {
                self.emit(CallEvent::Error(why));
                return;
            }
        };
        let actions = self.session.peer_notice(notice, Instant::now());
        self.carry_out(actions).await;
    }

    fn counters(&self) -> Arc<MediaCounters> {
        self.counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn carry_out(&mut self, actions: Vec<Action>) {
        // Actions can produce more (a bad SDP fails the call): work through them in order.
        let mut queue = std::collections::VecDeque::from(actions);
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Signal(message) => {
                    if let Err(e) = self.signaling.send(message).await {
                        tracing::warn!(error = %e, "signaling send failed");
                    }
                }
                Action::Emit(event) => self.emit(event),
                Action::StartPeer { role, .. } => {
                    if let Err(why) = self.start_peer(role).await {
                        queue.extend(
                            self.session
                                .peer_notice(PeerNotice::Failed(why), Instant::now()),
                        );
                    }
                }
                Action::ApplyRemoteDescription(sdp) => {
                    let Some(peer) = self.peer.as_mut() else {
                        continue;
                    };
                    if let Err(e) = peer.apply_remote(sdp).await {
                        queue.extend(
                            self.session
                                .peer_notice(PeerNotice::Failed(e.to_string()), Instant::now()),
                        );
                    }
                }
                Action::AddRemoteCandidate(candidate) => {
                    if let Some(peer) = self.peer.as_mut() {
                        if let Err(e) = peer.add_remote_candidate(candidate).await {
                            tracing::debug!(error = %e, "ignoring a remote candidate");
                        }
                    }
                }
                Action::SendControl(message) => {
                    if let Some(peer) = self.peer.as_mut() {
                        if let Err(e) = peer.send_control(&message).await {
                            tracing::debug!(error = %e, ?message, "control message not sent");
                        }
                    }
                }
                Action::SendChat(text) => {
                    if let Some(peer) = self.peer.as_mut() {
                        if let Err(e) = peer.send_chat(&text).await {
                            tracing::debug!(error = %e, "chat line not sent");
                        }
                    }
                }
                Action::ClosePeer => self.close_peer().await,
            }
        }
    }

    async fn start_peer(&mut self, role: super::session::Role) -> Result<(), String> {
        self.close_peer().await;
        let (tx, rx) = PeerEvents::channel();
        self.peer_events = Some(rx);
        let counters = Arc::new(MediaCounters::default());
        *self.counters.lock().unwrap_or_else(|p| p.into_inner()) = counters.clone();
        self.setup
            .analyzer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reset();
        let chat = self.signaling.chat_channel();
        let peer = Peer::start(role, &self.config.network, self.config.bitrate, chat, tx)
            .await
            .map_err(|e| e.to_string())?;
        self.gate = Arc::new(SendGate::default());
        let (audio_muted, video_muted) = self.session.muted();
        self.gate.audio_muted.store(audio_muted, Ordering::Relaxed);
        self.gate.video_muted.store(video_muted, Ordering::Relaxed);
        self.sender = Some(self.start_sending(&peer, counters));
        *self.link.lock().unwrap_or_else(|p| p.into_inner()) = Some(peer.link.clone());
        self.peer = Some(peer);
        self.last_sample = None;
        self.refused_seconds = (0, 0);
        Ok(())
    }

    async fn close_peer(&mut self) {
        if let Some(sender) = self.sender.take() {
            // Joining waits at most a frame; keep the runtime's threads free meanwhile.
            let _ = tokio::task::spawn_blocking(move || sender.stop()).await;
        }
        if let Some(peer) = self.peer.take() {
            peer.close().await;
        }
        self.peer_events = None;
    }

    async fn sample_stats(&mut self) {
        let Some(peer) = self.peer.as_ref() else {
            return;
        };
        if !self.gate.is_connected() {
            return;
        }
        let now = Instant::now();
        let report = peer.connection().get_stats(now, StatsSelector::None).await;
        let pair = report.candidate_pairs().find(|p| p.nominated);
        let rtt_ms = pair
            .map(|p| p.current_round_trip_time * 1000.0)
            .filter(|rtt| *rtt > 0.0);
        let (bytes_out, bytes_in) = pair.map_or((0, 0), |p| (p.bytes_sent, p.bytes_received));
        let packets_lost = report
            .inbound_rtp_streams()
            .map(|s| s.received_rtp_stream_stats.packets_lost)
            .sum();
        let counters = self.counters();
        let frames_in = MediaCounters::get(&counters.frames_decoded);
        let frames_out = MediaCounters::get(&counters.frames_sent);
        let encoded = (frames_out, MediaCounters::get(&counters.blocks_sent));
        let accepted = (
            LinkStats::get(&peer.link.video_frames_accepted),
            LinkStats::get(&peer.link.audio_packets_accepted),
        );
        let mut stats = CallStats {
            rtt_ms,
            packets_lost,
            target_kbps: LinkStats::get(&peer.link.target_bps) as f64 / 1000.0,
            ..CallStats::default()
        };
        if let Some(last) = &self.last_sample {
            let secs = now.duration_since(last.at).as_secs_f64().max(0.001);
            stats.bitrate_out_kbps =
                bytes_out.saturating_sub(last.bytes_out) as f64 * 8.0 / 1000.0 / secs;
            stats.bitrate_in_kbps =
                bytes_in.saturating_sub(last.bytes_in) as f64 * 8.0 / 1000.0 / secs;
            stats.fps_in = frames_in.saturating_sub(last.frames_in) as f64 / secs;
            stats.fps_out = frames_out.saturating_sub(last.frames_out) as f64 / secs;
            let refused = |made: u64, made_before: u64, taken: u64, taken_before: u64| {
                made.saturating_sub(made_before) >= 5 && taken == taken_before
            };
            let (video, audio) = (
                refused(encoded.0, last.encoded.0, accepted.0, last.accepted.0),
                refused(encoded.1, last.encoded.1, accepted.1, last.accepted.1),
            );
            self.refused_seconds.0 = if video { self.refused_seconds.0 + 1 } else { 0 };
            self.refused_seconds.1 = if audio { self.refused_seconds.1 + 1 } else { 0 };
        }
        for (seconds, kind) in [
            (self.refused_seconds.0, "video"),
            (self.refused_seconds.1, "audio"),
        ] {
            // Said once, after two seconds of it.
            if seconds == 2 {
                self.emit(CallEvent::Error(format!(
                    "our {kind} does not reach the connection: it refuses every packet the \
                     encoder makes (a codec or payload type the other side did not agree to)"
                )));
            }
        }
        self.last_sample = Some(StatsSample {
            at: now,
            bytes_out,
            bytes_in,
            frames_in,
            frames_out,
            encoded,
            accepted,
        });
        self.emit(CallEvent::Stats(stats));
    }
}
