//! The call engine: one task that owns the call's legs, the room it is in, and the one send
//! pipeline that serves every leg. Commands come in on a channel, signaling events and peer
//! events (tagged with their connection) arrive on theirs; each goes to the leg it concerns,
//! and everything the UI or CLI should know goes out as [`CallEvent`]s.
//!
//! A two-party call is one leg with no room. In a room (protocol version 2) there is a leg per
//! other member; the later joiner dials, and legs from members are taken without ringing.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signaling_client::protocol::ClientMessage;
use signaling_client::{IceServer, RejectReason, Signaling, SignalingEvent, SignalingEvents};
use tokio::sync::mpsc;
use webrtc::peer_connection::{RTCIceConnectionState, RTCPeerConnectionState};

use super::control::{ControlMessage, Parsed, OUR_FEATURES};
use super::events::{CallEvent, CallEvents, EndReason, EndedBy, MediaKind};
use super::leg::{ConnectionPlan, Leg};
use super::link::LinkStats;
use super::media_setup::MediaSetup;
use super::media_stats::MediaCounters;
use super::participant::Participant;
use super::peer::{BitrateLimits, ConnectionId, NetworkSettings, PeerEvent, PeerEvents};
use super::receive_pipeline;
use super::room::Room;
use super::screen_pipeline::{
    ScreenChoice, ScreenPipeline, ScreenTarget, ShareCounters, DEFAULT_SHARE_FPS,
};
use super::send_pipeline::{Outlets, SendGate, SendPipeline};
use super::session::{
    Action, CallCommand, PeerNotice, Session, CONNECT_TIMEOUT, DEFAULT_NO_ANSWER,
};
use super::transfer::message::FileMessage;
use super::transfer::FileSettings;
use crate::media::frame_slot::FrameSlot;

/// Commands waiting for the engine's task, at most.
const COMMAND_QUEUE: usize = 256;
/// Legs at most: a room of the protocol's largest size, less ourselves.
const MAX_LEGS: usize = 15;
/// People kept in a call's list, at most: those who left go first (a room with much coming and
/// going must not grow it without end).
const MAX_PARTICIPANTS: usize = 64;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub network: NetworkSettings,
    pub bitrate: BitrateLimits,
    /// A caller gives up after this long without an answer.
    pub no_answer: Duration,
    /// An accepted call with no connection after this long ends.
    pub connect_timeout: Duration,
    pub stats_interval: Duration,
    /// The ICE servers came from the signaling server: fresh credentials it sends (on
    /// reconnecting, or before they expire) replace them for the connections made after.
    pub server_ice: bool,
    /// Where received files go, and whether offers are taken without asking.
    pub files: FileSettings,
    /// Start with do not disturb on (see `CallCommand::DoNotDisturb`).
    pub do_not_disturb: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            network: NetworkSettings::default(),
            bitrate: BitrateLimits::default(),
            no_answer: DEFAULT_NO_ANSWER,
            connect_timeout: CONNECT_TIMEOUT,
            stats_interval: Duration::from_secs(1),
            server_ice: false,
            files: FileSettings::default(),
            do_not_disturb: false,
        }
    }
}

/// What our person says to a file transfer.
enum FileAnswer {
    Accept,
    Decline,
    Cancel,
}

/// What the engine's task takes in.
enum EngineCommand {
    Call(CallCommand),
    /// Other sources or sinks: used from the next call, and at once for the current call's
    /// sources.
    SetMedia(Box<MediaSetup>),
}

/// What the engine shows its handle about the current (or last) call.
#[derive(Default)]
struct Shared {
    /// What our encoders made.
    sent: Arc<MediaCounters>,
    /// What our screen sender made.
    share_sent: Arc<ShareCounters>,
    /// Everyone else in it, in the order their legs began (those who left stay listed).
    participants: Vec<Arc<Participant>>,
}

/// The handle the UI or CLI keeps: commands in, figures to read.
#[derive(Clone)]
pub struct CallEngine {
    commands: mpsc::Sender<EngineCommand>,
    shared: Arc<Mutex<Shared>>,
}

impl CallEngine {
    /// Starts the engine on the current tokio runtime; its events queue for the returned
    /// receiver.
    pub fn start(
        signaling: Arc<dyn Signaling>,
        signaling_events: SignalingEvents,
        setup: MediaSetup,
        config: EngineConfig,
    ) -> (CallEngine, mpsc::Receiver<CallEvent>) {
        let (events, event_rx) = CallEvents::channel();
        let engine = Self::start_into(signaling, signaling_events, setup, config, events);
        (engine, event_rx)
    }

    /// Starts the engine on the current tokio runtime; its events go to `events`.
    pub fn start_into(
        signaling: Arc<dyn Signaling>,
        signaling_events: SignalingEvents,
        setup: MediaSetup,
        config: EngineConfig,
        events: CallEvents,
    ) -> CallEngine {
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let (peer_events, peer_rx) = PeerEvents::channel();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let dnd = config.do_not_disturb;
        let task = EngineTask {
            signaling,
            setup,
            config,
            events,
            legs: Vec::new(),
            room: None,
            peer_events,
            next_connection: 0,
            sender: None,
            outlets: Arc::new(Outlets::default()),
            gate: Arc::new(SendGate::default()),
            muted: (false, false),
            screen: None,
            do_not_disturb: dnd,
            active: false,
            adding: None,
            shared: shared.clone(),
        };
        tokio::spawn(task.run(command_rx, signaling_events, peer_rx));
        CallEngine { commands, shared }
    }

    pub fn send(&self, command: CallCommand) {
        self.command(EngineCommand::Call(command));
    }

    /// Switches camera, microphone or speaker; a call in progress switches its sources now.
    pub fn set_media(&self, setup: MediaSetup) {
        self.command(EngineCommand::SetMedia(Box::new(setup)));
    }

    /// Queues `command` for the engine's task; one that finds the queue full is dropped and
    /// logged (commands come at a human rate: a full queue is an engine that stopped).
    fn command(&self, command: EngineCommand) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.commands.try_send(command) {
            tracing::warn!("the call engine's command queue is full: a command is dropped");
        }
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What our encoders made in the current (or last) call.
    pub fn sent(&self) -> Arc<MediaCounters> {
        self.shared().sent.clone()
    }

    /// What our screen sender made in the current (or last) call.
    pub fn share_sent(&self) -> Arc<ShareCounters> {
        self.shared().share_sent.clone()
    }

    /// Everyone else in the current (or last) call, in the order they came.
    pub fn participants(&self) -> Vec<Arc<Participant>> {
        self.shared().participants.clone()
    }

    /// The media received from the first other person of the current (or last) call: in a
    /// two-party call, the other side.
    pub fn counters(&self) -> Arc<MediaCounters> {
        self.participants()
            .first()
            .map(|p| p.counters.clone())
            .unwrap_or_default()
    }

    /// The link to the first other person.
    pub fn link(&self) -> Option<Arc<LinkStats>> {
        self.participants().first().and_then(|p| p.link())
    }
}

struct EngineTask {
    signaling: Arc<dyn Signaling>,
    setup: MediaSetup,
    config: EngineConfig,
    events: CallEvents,
    legs: Vec<Leg>,
    room: Option<Room>,
    /// Where connections send their events (each tagged with its number).
    peer_events: PeerEvents,
    next_connection: ConnectionId,
    sender: Option<SendPipeline>,
    outlets: Arc<Outlets>,
    gate: Arc<SendGate>,
    /// Our microphone and camera, as the user set them: the engine owns them, the legs are told.
    muted: (bool, bool),
    /// Our shared screen's sender, while we share.
    screen: Option<ScreenPipeline>,
    /// Do not disturb: whoever rings is told we are busy.
    do_not_disturb: bool,
    /// A call is on (from the first leg or the room, until its `Ended` is said).
    active: bool,
    /// A two-party call becoming a room to add someone: the room we opened, and whom to add.
    adding: Option<(String, String)>,
    shared: Arc<Mutex<Shared>>,
}

impl EngineTask {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<EngineCommand>,
        mut signaling: SignalingEvents,
        mut peer_events: mpsc::Receiver<(ConnectionId, PeerEvent)>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut stats = tokio::time::interval(self.config.stats_interval);
        loop {
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
                Some((connection, event)) = peer_events.recv() => {
                    self.peer_event(connection, event).await;
                }
                _ = tick.tick() => {
                    if self.screen.as_ref().is_some_and(ScreenPipeline::has_stopped) {
                        // The capture failed (it said why): the legs stop carrying it.
                        self.stop_sharing(false).await;
                    }
                    let now = Instant::now();
                    for key in 0..self.legs.len() {
                        if let Some(why) = self.legs[key].share_deadline(now) {
                            self.emit(CallEvent::Error(why));
                        }
                        let actions = self.legs[key].session.tick(now);
                        self.carry_out(key, actions).await;
                    }
                    self.drop_ended_legs().await;
                }
                _ = stats.tick() => self.sample_stats().await,
            }
        }
        // The owner is gone: leave any call properly.
        self.command(CallCommand::HangUp).await;
    }

    fn emit(&self, event: CallEvent) {
        self.events.send(event);
    }

    fn in_call(&self) -> bool {
        !self.legs.is_empty() || self.room.is_some()
    }

    async fn command(&mut self, command: CallCommand) {
        let now = Instant::now();
        match command {
            CallCommand::Dial(peer) => self.dial(peer).await,
            CallCommand::JoinRoom(room) => self.join_room(room).await,
            CallCommand::Accept | CallCommand::Decline => {
                // The one leg that rings.
                if let Some(key) = self.legs.iter().position(|l| l.session.is_ringing()) {
                    let actions = self.legs[key].session.command(command, now);
                    self.carry_out(key, actions).await;
                }
            }
            CallCommand::DoNotDisturb(on) => {
                self.do_not_disturb = on;
                self.emit(CallEvent::DoNotDisturb(on));
            }
            CallCommand::ShareScreen(target) => self.share_screen(target).await,
            CallCommand::StopSharing => self.stop_sharing(true).await,
            CallCommand::VideoQuality(quality) => {
                self.setup.quality = quality;
                self.gate.set_quality(quality);
            }
            CallCommand::SendFile(path) => self.send_file(path).await,
            CallCommand::AcceptFile(id) => self.answer_file(&id, FileAnswer::Accept).await,
            CallCommand::DeclineFile(id) => self.answer_file(&id, FileAnswer::Decline).await,
            CallCommand::CancelFile(id) => self.answer_file(&id, FileAnswer::Cancel).await,
            CallCommand::HangUp => {
                // Out of the room first: then the last leg's end is the call's.
                self.leave_room().await;
                for key in 0..self.legs.len() {
                    let actions = self.legs[key].session.command(CallCommand::HangUp, now);
                    self.carry_out(key, actions).await;
                }
                if self.legs.is_empty() {
                    self.call_over(String::new(), EndedBy::Local, EndReason::HungUp);
                }
            }
            command => {
                match &command {
                    CallCommand::MuteAudio(m) => {
                        self.muted.0 = *m;
                        self.gate.audio_muted.store(*m, Ordering::Relaxed);
                        self.emit(CallEvent::LocalMuted {
                            kind: MediaKind::Audio,
                            muted: *m,
                        });
                    }
                    CallCommand::MuteVideo(m) => {
                        self.muted.1 = *m;
                        self.gate.video_muted.store(*m, Ordering::Relaxed);
                        self.emit(CallEvent::LocalMuted {
                            kind: MediaKind::Video,
                            muted: *m,
                        });
                    }
                    _ => {}
                }
                for key in 0..self.legs.len() {
                    let actions = self.legs[key].session.command(command.clone(), now);
                    self.carry_out(key, actions).await;
                }
            }
        }
        self.drop_ended_legs().await;
    }

    /// Shares `display` with everyone in the call: each leg's connection gets a screen track
    /// (a renegotiation) and the other side is told (`screen_share`).
    async fn share_screen(&mut self, target: ScreenTarget) {
        if !self.legs.iter().any(|l| l.peer.is_some()) {
            self.emit(CallEvent::Error(
                "a screen can be shared in a call only".into(),
            ));
            return;
        }
        if let Some(screen) = self.screen.take() {
            let _ = tokio::task::spawn_blocking(move || screen.stop()).await;
        }
        let counters = Arc::new(ShareCounters::default());
        self.shared().share_sent = counters.clone();
        let choice = ScreenChoice {
            target,
            fps: self.setup.share_fps.unwrap_or(DEFAULT_SHARE_FPS),
        };
        self.screen = Some(ScreenPipeline::start(
            choice,
            self.outlets.clone(),
            self.config.bitrate,
            counters,
            self.events.clone(),
        ));
        self.gate.sharing.store(true, Ordering::Relaxed);
        for key in 0..self.legs.len() {
            if let Some(why) = self.legs[key].share(true).await {
                self.emit(CallEvent::Error(why));
            }
        }
        self.emit(CallEvent::Sharing(true));
    }

    /// Stops sharing: the legs drop their screen tracks (renegotiating) and say so. `said`:
    /// our person asked (a failed capture said `Sharing(false)` itself).
    async fn stop_sharing(&mut self, said: bool) {
        let Some(screen) = self.screen.take() else {
            return;
        };
        let _ = tokio::task::spawn_blocking(move || screen.stop()).await;
        self.gate.sharing.store(false, Ordering::Relaxed);
        for key in 0..self.legs.len() {
            self.legs[key].share(false).await;
        }
        if said {
            self.emit(CallEvent::Sharing(false));
        }
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Offers `path` to everyone in the call (each leg its own transfer); a leg whose control
    /// channel is not open yet offers it once it is.
    async fn send_file(&mut self, path: std::path::PathBuf) {
        let mut offered = 0;
        for key in 0..self.legs.len() {
            let leg = &mut self.legs[key];
            if leg.peer.is_none() || leg.session.peer().is_none() {
                continue;
            }
            let ready = leg
                .peer
                .as_ref()
                .is_some_and(|p| p.control_channel().is_some());
            let result = if ready {
                self.offer_file(key, path.clone())
            } else {
                leg.transfers.queue(path.clone())
            };
            match result {
                Ok(()) => offered += 1,
                Err(why) => self.emit(CallEvent::Error(why)),
            }
        }
        if offered == 0 {
            self.emit(CallEvent::Error(
                "a file can be sent to someone in a call only".into(),
            ));
        }
    }

    /// Starts leg `key`'s transfer of `path` (its control channel is open).
    fn offer_file(&mut self, key: usize, path: std::path::PathBuf) -> Result<(), String> {
        let leg = &mut self.legs[key];
        let (Some(peer), Some(peer_id)) = (leg.peer.as_ref(), leg.session.peer()) else {
            return Err("the call ended".into());
        };
        let control = peer
            .control_channel()
            .ok_or("the call's control channel is not open")?;
        let pc = peer.connection().clone();
        let peer_id = peer_id.to_string();
        let id = leg
            .transfers
            .send(path.clone(), &peer_id, pc, control, self.events.clone())?;
        tracing::info!(%id, to = %peer_id, file = %path.display(), "offering a file");
        Ok(())
    }

    /// Our person answers or cancels transfer `id`, whichever leg it is on.
    async fn answer_file(&mut self, id: &str, answer: FileAnswer) {
        let Some(key) = self.legs.iter().position(|l| l.transfers.has(id)) else {
            tracing::debug!(%id, "no such transfer (it ended?)");
            return;
        };
        let leg = &mut self.legs[key];
        let peer_id = leg.peer_id().unwrap_or_default().to_string();
        let reply = match answer {
            FileAnswer::Accept => leg.transfers.accept(id, &self.config.files),
            FileAnswer::Decline => leg.transfers.decline(id, &peer_id, &self.events),
            FileAnswer::Cancel => leg.transfers.cancel(id, &peer_id, &self.events),
        };
        self.reply_file(key, reply).await;
    }

    /// Says a transfer's answer to leg `key`'s other side.
    async fn reply_file(&mut self, key: usize, reply: Option<FileMessage>) {
        let Some(reply) = reply else {
            return;
        };
        if let Some(peer) = self.legs[key].peer.as_mut() {
            let text = ControlMessage::File(reply).to_json();
            if let Err(e) = peer.send_control(&text).await {
                tracing::debug!(error = %e, "a file answer was not sent");
            }
        }
    }

    /// A two-party call when idle; in a room, an invitation into it (Add person); in a
    /// two-party call, the call becomes a room first (see [`Self::add_to_call`]).
    async fn dial(&mut self, peer: String) {
        let room = match &self.room {
            Some(room) => Some(room.name.clone()),
            None if self.legs.is_empty() => None,
            None => return self.add_to_call(peer).await,
        };
        if self.legs.iter().any(|l| l.peer_id() == Some(peer.as_str())) {
            self.emit(CallEvent::Error(format!("{peer} is in the call already")));
            return;
        }
        if self.legs.len() >= MAX_LEGS {
            self.emit(CallEvent::Error(format!(
                "the call holds {MAX_LEGS} others at most"
            )));
            return;
        }
        let key = self.new_leg(room);
        let actions = self.legs[key]
            .session
            .command(CallCommand::Dial(peer), Instant::now());
        self.carry_out(key, actions).await;
    }

    /// Adding someone to a two-party call: we open a room, tell the other side to join it (on
    /// the data channel, `join_room`), and invite the new person into it once we are in.
    async fn add_to_call(&mut self, peer: String) {
        if self.adding.is_some() || self.legs.iter().any(|l| l.peer_id() == Some(peer.as_str())) {
            self.emit(CallEvent::Error(format!(
                "{peer} is being added, or is in the call"
            )));
            return;
        }
        let name = format!("call-{}", &signaling_client::ids::random_call_id()[..12]);
        let join = ClientMessage::Join { room: name.clone() };
        if let Err(e) = self.signaling.send(join).await {
            self.emit(CallEvent::Error(format!(
                "cannot add {peer}: this signaling server has no rooms ({e})"
            )));
            return;
        }
        self.adding = Some((name, peer));
    }

    async fn join_room(&mut self, room: String) {
        if self.in_call() {
            self.emit(CallEvent::Error("already in a call: hang up first".into()));
            return;
        }
        self.begin_call();
        let message = ClientMessage::Join { room };
        if let Err(e) = self.signaling.send(message).await {
            let reason = EndReason::Failed(format!("could not join the room: {e}"));
            self.call_over(String::new(), EndedBy::Local, reason);
        }
    }

    async fn leave_room(&mut self) {
        if let Some(room) = self.room.take() {
            let message = ClientMessage::Leave { room: room.name };
            if let Err(e) = self.signaling.send(message).await {
                tracing::debug!(error = %e, "leaving the room");
            }
        }
    }

    /// A fresh call: new counters, nobody in it yet.
    fn begin_call(&mut self) {
        self.active = true;
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.sent = Arc::new(MediaCounters::default());
        shared.share_sent = Arc::new(ShareCounters::default());
        shared.participants.clear();
    }

    fn new_leg(&mut self, room: Option<String>) -> usize {
        if self.legs.is_empty() && self.room.is_none() {
            self.begin_call();
        }
        let session = Session::new(self.config.no_answer)
            .with_connect_timeout(self.config.connect_timeout)
            .with_room(room)
            .with_muted(self.muted.0, self.muted.1);
        self.legs.push(Leg::new(session));
        self.legs.len() - 1
    }

    async fn set_media(&mut self, setup: MediaSetup) {
        self.gate.set_quality(setup.quality);
        let same_sources = setup.video == self.setup.video
            && setup.audio == self.setup.audio
            && setup.speaker == self.setup.speaker;
        self.setup = setup;
        if same_sources {
            // Only the quality changed (or nothing): the pipeline follows the gate.
            return;
        }
        let Some(sender) = self.sender.take() else {
            return;
        };
        let _ = tokio::task::spawn_blocking(move || sender.stop()).await;
        // The same gate: mute state carries over; the new source starts on a keyframe.
        self.sender = Some(self.start_sending());
    }

    fn start_sending(&self) -> SendPipeline {
        let sent = self
            .shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sent
            .clone();
        SendPipeline::start(
            &self.setup,
            self.outlets.clone(),
            self.config.bitrate,
            sent,
            self.gate.clone(),
            self.events.clone(),
        )
    }

    async fn signaling_event(&mut self, event: SignalingEvent) {
        match event {
            SignalingEvent::Registered(r) => {
                self.server_ice(r.ice_servers);
                self.emit(CallEvent::Registered { id: r.id })
            }
            SignalingEvent::Reconnected(r) => {
                self.server_ice(r.ice_servers.clone());
                self.emit(CallEvent::Registered { id: r.id.clone() });
                // A call connecting again offers anew: what it sent may have died with the old
                // connection.
                self.tell_every_leg(SignalingEvent::Reconnected(r)).await;
            }
            SignalingEvent::IceServers(servers) => self.server_ice(servers),
            SignalingEvent::Incoming {
                from,
                call_id,
                room,
            } => self.incoming(from, call_id, room).await,
            SignalingEvent::Room { room, members } => self.room_joined(room, members).await,
            SignalingEvent::MemberJoined { room, id } => {
                if let Some(ours) = self.room.as_mut().filter(|r| r.name == room) {
                    ours.member_joined(&id);
                    self.emit(CallEvent::MemberJoined(id));
                }
            }
            SignalingEvent::MemberLeft { room, id } => {
                if let Some(ours) = self.room.as_mut().filter(|r| r.name == room) {
                    ours.member_left(&id);
                    self.emit(CallEvent::MemberLeft(id));
                }
                self.end_if_alone().await;
            }
            SignalingEvent::Error {
                code,
                message,
                call_id: None,
                room: Some(room),
            } => {
                tracing::info!(%code, %room, "the room refused us");
                if self.legs.is_empty() {
                    self.room = None;
                    let reason = EndReason::Failed(format!("{code}: {message}"));
                    self.call_over(String::new(), EndedBy::Local, reason);
                }
            }
            SignalingEvent::Error {
                code,
                message,
                call_id: None,
                ..
            } => self.emit(CallEvent::Error(format!("signaling: {code}: {message}"))),
            SignalingEvent::Disconnected { reason } => {
                self.emit(CallEvent::SignalingLost {
                    reason: reason.clone(),
                });
                let event = SignalingEvent::Disconnected { reason };
                self.tell_every_leg(event).await;
            }
            event => {
                // The rest concern one call: its leg.
                let key = event_call_id(&event)
                    .and_then(|id| self.legs.iter().position(|l| l.session.is_call(id)));
                match key {
                    Some(key) => {
                        let actions = self.legs[key].session.signaling(event);
                        self.carry_out(key, actions).await;
                    }
                    None => tracing::debug!(?event, "for no call of ours"),
                }
            }
        }
        self.drop_ended_legs().await;
    }

    /// Fresh ICE servers from the signaling server, for the legs made from now on (a leg's
    /// TURN allocation keeps its own credentials alive by refreshing it with the TURN server).
    fn server_ice(&mut self, servers: Vec<IceServer>) {
        if self.config.server_ice && !servers.is_empty() {
            tracing::debug!(
                count = servers.len(),
                "ICE servers from the signaling server"
            );
            self.config.network.ice_servers = servers;
        }
    }

    async fn tell_every_leg(&mut self, event: SignalingEvent) {
        for key in 0..self.legs.len() {
            let actions = self.legs[key].session.signaling(event.clone());
            self.carry_out(key, actions).await;
        }
    }

    /// A leg from a member of our room is taken at once; otherwise it rings when we are free.
    async fn incoming(&mut self, from: String, call_id: String, room: Option<String>) {
        let leg_of_ours = self
            .room
            .as_ref()
            .is_some_and(|r| r.takes_leg(room.as_deref(), &from));
        let free = !self.in_call() && self.legs.len() < MAX_LEGS && !self.do_not_disturb;
        if !leg_of_ours && !free {
            tracing::info!(%from, dnd = self.do_not_disturb, "busy: a call rang while we are in one (or do not disturb)");
            let reject = ClientMessage::Reject {
                call_id,
                reason: RejectReason::Busy,
            };
            if let Err(e) = self.signaling.send(reject).await {
                tracing::debug!(error = %e, "answering busy");
            }
            self.emit(CallEvent::MissedWhileBusy { peer: from });
            return;
        }
        let key = self.new_leg(room.clone());
        let event = SignalingEvent::Incoming {
            from,
            call_id,
            room,
        };
        let mut actions = self.legs[key].session.signaling(event);
        if leg_of_ours {
            // No ringing: a member of our room.
            actions.retain(|a| !matches!(a, Action::Emit(CallEvent::Incoming { .. })));
            actions.extend(
                self.legs[key]
                    .session
                    .command(CallCommand::Accept, Instant::now()),
            );
        }
        self.carry_out(key, actions).await;
    }

    /// We are in a room: dial everyone already there whom we have no leg with. Told again for
    /// the same room (transports whose dialect has the older members offer to a newcomer), the
    /// members are added and dialled.
    async fn room_joined(&mut self, name: String, members: Vec<String>) {
        if self.legs.is_empty() && self.room.is_none() {
            self.begin_call();
        }
        match self.room.as_mut().filter(|r| r.name == name) {
            Some(room) => {
                for member in &members {
                    room.member_joined(member);
                    self.events.send(CallEvent::MemberJoined(member.clone()));
                }
            }
            None => {
                // An invitation we accepted is now a leg of this room.
                self.room = Some(Room::joined(name.clone(), members.clone()));
                self.emit(CallEvent::RoomJoined {
                    room: name.clone(),
                    members: members.clone(),
                });
            }
        }
        // The room we opened to add someone: the others come along, and the new one is invited.
        if let Some((room, peer)) = self.adding.take_if(|(room, _)| *room == name) {
            let join = super::control::ControlMessage::JoinRoom(room.clone()).to_json();
            for key in 0..self.legs.len() {
                let actions = self.legs[key]
                    .session
                    .command(CallCommand::RawControl(join.clone()), Instant::now());
                self.carry_out(key, actions).await;
            }
            let key = self.new_leg(Some(room));
            let actions = self.legs[key]
                .session
                .command(CallCommand::Dial(peer), Instant::now());
            self.carry_out(key, actions).await;
        }
        let Some(room) = &self.room else { return };
        let to_dial: Vec<String> = room
            .to_dial(|m| self.legs.iter().any(|l| l.peer_id() == Some(m)))
            .into_iter()
            .filter(|m| members.contains(m))
            .collect();
        for member in to_dial {
            if self.legs.len() >= MAX_LEGS {
                tracing::warn!(%member, "a leg beyond {MAX_LEGS}: not dialled");
                break;
            }
            let key = self.new_leg(Some(name.clone()));
            let actions = self.legs[key]
                .session
                .command(CallCommand::Dial(member), Instant::now());
            self.carry_out(key, actions).await;
        }
    }

    async fn peer_event(&mut self, connection: ConnectionId, event: PeerEvent) {
        let Some(key) = self
            .legs
            .iter()
            .position(|l| l.connection == connection && connection != 0)
        else {
            return; // a closed connection's last words
        };
        let notice = match event {
            PeerEvent::LocalDescription(sdp) => PeerNotice::LocalDescription(sdp),
            PeerEvent::LocalCandidate(c) => PeerNotice::LocalCandidate(c),
            PeerEvent::IceState(RTCIceConnectionState::Connected) => PeerNotice::IceConnected,
            PeerEvent::IceState(RTCIceConnectionState::Disconnected) => PeerNotice::IceDisconnected,
            PeerEvent::IceState(_) => return,
            PeerEvent::State(RTCPeerConnectionState::Connected) => {
                self.legs[key].connected();
                let leg = &self.legs[key];
                if let (Some(peer), Some(id)) = (leg.peer.as_ref(), leg.peer_id()) {
                    if let Some(code) = peer.verification_code().await {
                        let peer = id.to_string();
                        self.emit(CallEvent::Verification { peer, code });
                    }
                }
                PeerNotice::Connected
            }
            PeerEvent::State(RTCPeerConnectionState::Failed) => {
                PeerNotice::Failed("ICE or DTLS failed: no path to the other side".into())
            }
            PeerEvent::State(_) => return,
            PeerEvent::Track(track) => {
                let Some(video) = self.legs[key].video_kind(&track).await else {
                    return;
                };
                let leg = &self.legs[key];
                let (Some(peer), Some(participant)) = (leg.peer.as_ref(), &leg.participant) else {
                    return;
                };
                let link = peer.link.clone();
                let events = self.events.clone();
                receive_pipeline::start(track, video, &self.setup, participant, link, events).await;
                return;
            }
            PeerEvent::ControlChannel(channel) => {
                if let Some(peer) = self.legs[key].peer.as_mut() {
                    peer.adopt_control(channel);
                }
                return;
            }
            PeerEvent::ResolvedCandidate(candidate) => {
                if let Some(peer) = self.legs[key].peer.as_mut() {
                    if let Err(e) = peer.add_remote_candidate(Some(candidate)).await {
                        tracing::debug!(error = %e, "ignoring a resolved candidate");
                    }
                }
                return;
            }
            PeerEvent::ControlOpen => {
                self.legs[key].control_opened();
                if let Some(peer) = self.legs[key].peer.as_mut() {
                    let features = OUR_FEATURES.iter().map(|f| f.to_string()).collect();
                    let said = ControlMessage::Features(features).to_json();
                    if let Err(e) = peer.send_control(&said).await {
                        tracing::debug!(error = %e, "features not sent");
                    }
                    peer.control_opened().await;
                }
                for path in self.legs[key].transfers.take_queued() {
                    if let Err(why) = self.offer_file(key, path) {
                        self.emit(CallEvent::Error(why));
                    }
                }
                PeerNotice::ControlOpen
            }
            PeerEvent::Control(Parsed::Message(ControlMessage::File(message))) => {
                let leg = &mut self.legs[key];
                let peer_id = leg.peer_id().unwrap_or_default().to_string();
                let reply =
                    leg.transfers
                        .remote(message, &self.config.files, &peer_id, &self.events);
                self.reply_file(key, reply).await;
                return;
            }
            PeerEvent::FileChannel { id, channel } => {
                let leg = &mut self.legs[key];
                let peer_id = leg.peer_id().unwrap_or_default().to_string();
                let control = leg.peer.as_ref().and_then(|p| p.control_channel());
                leg.transfers
                    .channel(&id, channel, control, &peer_id, self.events.clone());
                return;
            }
            PeerEvent::Control(Parsed::Message(ControlMessage::Features(features))) => {
                tracing::debug!(?features, "the other side's app can do");
                if let Some(why) = self.legs[key].remote_features(features).await {
                    self.emit(CallEvent::Error(why));
                }
                return;
            }
            PeerEvent::Control(Parsed::Message(ControlMessage::ScreenShare(on))) => {
                let leg = &self.legs[key];
                if let (Some(participant), Some(peer)) = (&leg.participant, leg.peer_id()) {
                    participant.share.set_on(on);
                    let peer = peer.to_string();
                    self.emit(CallEvent::RemoteSharing { peer, on });
                }
                return;
            }
            PeerEvent::Control(parsed) => PeerNotice::Control(parsed),
            PeerEvent::ControlClosed => PeerNotice::ControlClosed,
            PeerEvent::KeyframeRequest => {
                self.gate.keyframe_wanted.store(true, Ordering::Relaxed);
                return;
            }
            PeerEvent::ShareKeyframeRequest => {
                if let Some(screen) = &self.screen {
                    screen.gate.keyframe_wanted.store(true, Ordering::Relaxed);
                }
                return;
            }
            PeerEvent::Error(why) => {
                self.emit(CallEvent::Error(why));
                return;
            }
        };
        let actions = self.legs[key].session.peer_notice(notice, Instant::now());
        self.carry_out(key, actions).await;
        self.drop_ended_legs().await;
    }

    /// Carries out what leg `key`'s session asked for.
    async fn carry_out(&mut self, key: usize, actions: Vec<Action>) {
        // Actions can produce more (a bad SDP fails the call): work through them in order.
        let mut queue = std::collections::VecDeque::from(actions);
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Signal(message) => {
                    if let Err(e) = self.signaling.send(message).await {
                        tracing::warn!(error = %e, "signaling send failed");
                    }
                }
                Action::Emit(event) => {
                    if matches!(event, CallEvent::Ended { .. }) {
                        // Its transfers end first (and say so): the call's end is the last word.
                        let leg = &mut self.legs[key];
                        let peer_id = leg.peer_id().unwrap_or_default().to_string();
                        leg.transfers.close(&peer_id, &self.events).await;
                    }
                    self.leg_event(key, event)
                }
                Action::StartPeer { role, .. } => {
                    if let Err(why) = self.start_peer(key, role).await {
                        let notice = PeerNotice::Failed(why);
                        queue.extend(self.legs[key].session.peer_notice(notice, Instant::now()));
                    }
                }
                Action::ApplyRemoteDescription(sdp) => {
                    let Some(peer) = self.legs[key].peer.as_mut() else {
                        continue;
                    };
                    if let Err(e) = peer.apply_remote(sdp).await {
                        let notice = PeerNotice::Failed(e.to_string());
                        queue.extend(self.legs[key].session.peer_notice(notice, Instant::now()));
                    }
                    // An exchange that was waiting may have given the connection its screen track.
                    self.legs[key].follow_screen();
                }
                Action::AddRemoteCandidate(candidate) => {
                    if let Some(peer) = self.legs[key].peer.as_mut() {
                        if let Err(e) = peer.add_remote_candidate(candidate).await {
                            tracing::debug!(error = %e, "ignoring a remote candidate");
                        }
                    }
                }
                Action::SendControl(message) => {
                    if let Some(peer) = self.legs[key].peer.as_mut() {
                        if let Err(e) = peer.send_control(&message).await {
                            tracing::debug!(error = %e, ?message, "control message not sent");
                        }
                    }
                }
                Action::SendChat(text) => {
                    if let Some(peer) = self.legs[key].peer.as_mut() {
                        if let Err(e) = peer.send_chat(&text).await {
                            tracing::debug!(error = %e, "chat line not sent");
                        }
                    }
                }
                Action::ClosePeer => self.legs[key].close_peer(&self.outlets).await,
                Action::ProbeSignaling => self.signaling.probe(),
                Action::JoinRoom(room) => {
                    if self.room.is_none() {
                        tracing::info!(%room, "the call becomes a room: joining it");
                        let join = ClientMessage::Join { room };
                        if let Err(e) = self.signaling.send(join).await {
                            tracing::warn!(error = %e, "cannot join the room the call became");
                        }
                    }
                }
            }
        }
    }

    /// A leg's event, as the call as a whole tells it: in a room, a leg ending is someone
    /// leaving (the call ends with the last).
    fn leg_event(&mut self, key: usize, event: CallEvent) {
        match event {
            CallEvent::Ended { peer, by, reason } => {
                // (The leg is closed and its person marked gone in `drop_ended_legs`.)
                let others_remain = self
                    .legs
                    .iter()
                    .enumerate()
                    .any(|(k, l)| k != key && l.session.in_call());
                // In a room a leg ending is someone leaving: the room ends the call once it has
                // emptied (an invitation declined while alone in it ends nothing).
                if others_remain || self.room.is_some() {
                    self.emit(CallEvent::ParticipantLeft { peer, reason });
                } else {
                    self.call_over(peer, by, reason);
                }
            }
            event => self.emit(event),
        }
    }

    /// The call is over: said once.
    fn call_over(&mut self, peer: String, by: EndedBy, reason: EndReason) {
        if std::mem::take(&mut self.active) {
            self.emit(CallEvent::Ended { peer, by, reason });
        }
    }

    async fn start_peer(&mut self, key: usize, role: super::session::Role) -> Result<(), String> {
        if self.legs[key].participant.is_none() {
            let id = self.legs[key].peer_id().unwrap_or_default().to_string();
            let frames = self
                .setup
                .frames_waker
                .clone()
                .map(|wake| Arc::new(FrameSlot::with_waker(wake)));
            let share_frames = match self.setup.frames_waker.clone() {
                Some(wake) => FrameSlot::with_waker(wake),
                None => FrameSlot::new(),
            };
            let participant = Arc::new(Participant::new(&id, frames, share_frames));
            let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
            if shared.participants.len() >= MAX_PARTICIPANTS {
                if let Some(gone) = shared.participants.iter().position(|p| p.left().is_some()) {
                    shared.participants.remove(gone);
                }
            }
            shared.participants.push(participant.clone());
            drop(shared);
            self.legs[key].participant = Some(participant);
        }
        self.next_connection += 1;
        let plan = ConnectionPlan {
            role,
            connection: self.next_connection,
            network: &self.config.network,
            bitrate: self.config.bitrate,
            chat: self.signaling.chat_channel(),
            events: self.peer_events.clone(),
            outlets: &self.outlets,
        };
        self.legs[key].start_peer(plan).await?;
        if self.screen.is_some() {
            if let Some(why) = self.legs[key].share(true).await {
                self.emit(CallEvent::Error(why));
            }
        }
        if self.sender.is_none() {
            self.gate = Arc::new(SendGate::default());
            self.gate.audio_muted.store(self.muted.0, Ordering::Relaxed);
            self.gate.video_muted.store(self.muted.1, Ordering::Relaxed);
            self.gate.set_quality(self.setup.quality);
            self.sender = Some(self.start_sending());
        }
        Ok(())
    }

    /// Legs whose session ended are closed and forgotten; with the last, our media stops.
    async fn drop_ended_legs(&mut self) {
        let mut key = 0;
        while key < self.legs.len() {
            if self.legs[key].session.in_call() {
                key += 1;
                continue;
            }
            let mut leg = self.legs.remove(key);
            leg.close_peer(&self.outlets).await;
            if let Some(participant) = &leg.participant {
                participant.set_left();
            }
        }
        if self.legs.is_empty() {
            self.stop_sending().await;
            self.stop_sharing(true).await;
        }
        self.end_if_alone().await;
    }

    /// In a room whose others all left, with no leg left: the call is over.
    async fn end_if_alone(&mut self) {
        // Someone who just opened a room waits for others: only a room that has emptied ends.
        let emptied = self.room.as_ref().is_some_and(Room::emptied) && self.legs.is_empty();
        if emptied {
            self.leave_room().await;
            self.call_over(String::new(), EndedBy::Remote, EndReason::HungUp);
        }
    }

    async fn stop_sending(&mut self) {
        if let Some(sender) = self.sender.take() {
            // Joining waits at most a frame; keep the runtime's threads free meanwhile.
            let _ = tokio::task::spawn_blocking(move || sender.stop()).await;
        }
    }

    async fn sample_stats(&mut self) {
        let sent = self
            .shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sent
            .clone();
        // The first leg's figures are the call's (a two-party call's only leg); every leg
        // keeps its own in its participant.
        for key in 0..self.legs.len() {
            let (stats, said) = self.legs[key].sample_stats(&sent).await;
            for event in said {
                self.emit(event);
            }
            if let (0, Some(stats)) = (key, stats) {
                self.emit(CallEvent::Stats(stats));
            }
        }
    }
}

/// The call a signaling event concerns.
fn event_call_id(event: &SignalingEvent) -> Option<&str> {
    match event {
        SignalingEvent::Accepted { call_id, .. }
        | SignalingEvent::OfferComing { call_id, .. }
        | SignalingEvent::Rejected { call_id, .. }
        | SignalingEvent::Signal { call_id, .. }
        | SignalingEvent::Hangup { call_id, .. }
        | SignalingEvent::Incoming { call_id, .. } => Some(call_id),
        SignalingEvent::Error {
            call_id: Some(call_id),
            ..
        } => Some(call_id),
        _ => None,
    }
}
