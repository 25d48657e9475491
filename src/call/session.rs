//! The call state machine: one peer's view of its (at most one) call, as pure logic.
//!
//! Inputs are the user's commands, what signaling says, and what the peer connection reports;
//! outputs are [`Action`]s for the engine to carry out (send a signaling message, start or close
//! the peer connection, apply remote SDP, send a control message) and [`CallEvent`]s for the UI.
//! No sockets, no clock: time comes in with [`Session::tick`], as in RingRTC and str0m.

use std::time::{Duration, Instant};

use signaling_client::ids::random_call_id;
use signaling_client::{
    ClientMessage, ErrorCode, HangupReason, IceCandidate, RejectReason, SdpKind,
    SessionDescription, SignalData, SignalingEvent,
};

use super::control::{ControlMessage, Parsed};
use super::events::{CallEvent, EndReason, EndedBy, MediaKind};

/// A caller gives up after this long without an answer.
pub const DEFAULT_NO_ANSWER: Duration = Duration::from_secs(45);
/// How long DTLS may take once ICE found a path before the caller starts the connection over.
/// Lossy links need a retransmission or two (1 s each); webrtc-rs's DTLS sometimes never
/// completes under loss, and reports that only after 8 s.
pub const DTLS_SETUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections tried per call before it fails.
pub const MAX_CONNECTION_ATTEMPTS: u32 = 3;
/// How long a callee whose connection failed waits for the caller's new offer.
pub const NEW_OFFER_WAIT: Duration = Duration::from_secs(10);
/// An accepted call that has no connection after this long ends.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A connected call whose path was lost gets this long to connect again (the caller's new
/// connection up, or the callee's new offer in and connected); then the other side is gone.
/// With ICE's 2 s to notice, a vanished peer ends the call within 10 s.
pub const RESTART_WAIT: Duration = Duration::from_secs(7);
/// The other side closed its connection (the data channel closed) while the call is on: a
/// hang-up says so through signaling within this long; otherwise its path broke (it closes and
/// waits for us to connect again), and we connect again at once instead of waiting for ICE to
/// notice the silence.
pub const CONTROL_CLOSED_GRACE: Duration = Duration::from_millis(400);
/// A caller connecting again after its path broke offers anew when no answer came this long
/// after its last offer: that offer may have gone into a signaling connection that died with
/// the old network (the other side's, or ours before we noticed). An answer takes a round trip
/// through the server.
pub const REOFFER_AFTER: Duration = Duration::from_millis(1500);

/// Signals held while a call rings (the early offer and its candidates), at most, and their
/// bytes; beyond that they are dropped (a real caller sends one offer and a handful).
pub const MAX_EARLY_SIGNALS: usize = 100;
pub const MAX_EARLY_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Creates the offer and the control channel.
    Caller,
    Callee,
}

/// What the user asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallCommand {
    /// A two-party call; in a room, an invitation into it.
    Dial(String),
    /// Join (or create) a room by name: a group call with whoever is in it.
    JoinRoom(String),
    Accept,
    Decline,
    HangUp,
    MuteAudio(bool),
    MuteVideo(bool),
    Chat(String),
    /// Do not disturb: calls that ring are answered busy (and reported as missed).
    DoNotDisturb(bool),
    /// Offer this file to everyone in the call.
    SendFile(std::path::PathBuf),
    /// Answer an offered file (by its transfer ID), or stop one.
    AcceptFile(String),
    DeclineFile(String),
    CancelFile(String),
    /// Share a screen (or one of its monitors) with everyone in the call, and stop sharing it.
    ShareScreen(super::screen_pipeline::ScreenTarget),
    StopSharing,
    /// The ceiling on what our camera sends, from now on (`None`: what the link allows).
    VideoQuality(Option<super::quality::VideoQuality>),
    /// Sends this text as it is on the control channel: for diagnostics and tests of how the
    /// other side copes with what it does not expect.
    RawControl(String),
}

/// What the peer connection reports.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerNotice {
    LocalDescription(SessionDescription),
    /// `None`: gathering finished.
    LocalCandidate(Option<IceCandidate>),
    IceConnected,
    /// ICE heard nothing from the other side for a while (the path broke: a network change).
    IceDisconnected,
    Connected,
    ControlOpen,
    Control(Parsed),
    /// The data channel closed after it was open.
    ControlClosed,
    Failed(String),
}

/// What the engine must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Signal(ClientMessage),
    StartPeer {
        call_id: String,
        role: Role,
    },
    ApplyRemoteDescription(SessionDescription),
    AddRemoteCandidate(Option<IceCandidate>),
    /// A control-channel message, as its JSON text.
    SendControl(String),
    /// A chat line: on the transport's own chat channel if it has one, else as control.
    SendChat(String),
    ClosePeer,
    /// The network may have changed: have the signaling transport check its connection now.
    ProbeSignaling,
    /// The other side turned the call into a room: join it.
    JoinRoom(String),
    Emit(CallEvent),
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Idle,
    /// We dialled; `accepted` once the callee took it.
    Outgoing {
        call_id: String,
        peer: String,
        since: Instant,
        accepted: bool,
    },
    /// Someone rings us; their early offer and candidates wait here until the user accepts.
    Ringing {
        call_id: String,
        peer: String,
        early: Vec<SignalData>,
    },
    /// Accepted, as callee.
    Answered {
        call_id: String,
        peer: String,
    },
}

#[derive(Debug)]
pub struct Session {
    phase: Phase,
    no_answer: Duration,
    connect_timeout: Duration,
    audio_muted: bool,
    video_muted: bool,
    connected: bool,
    /// The room this call is a leg of (its `call` says so).
    room: Option<String>,
    /// The other side's microphone and camera are both off: it sends no media, so a silent
    /// path is no sign of a broken one (only ICE's own checks cross it, seconds apart).
    remote_muted: (bool, bool),
    /// The signaling server went away during this connected call: it goes on peer to peer,
    /// and only the data channel can say the other side left.
    signaling_lost: bool,
    setup: Setup,
}

/// How the current call's connection is coming along, until it first connects.
#[derive(Debug, Default, Clone, PartialEq)]
struct Setup {
    /// Connections started in this call.
    attempts: u32,
    /// ICE found a path for the current connection.
    ice_connected: bool,
    /// When the call was (first seen) accepted, for [`CONNECT_TIMEOUT`].
    accepted_at: Option<Instant>,
    /// When DTLS must be up by (caller, once ICE connected).
    dtls_deadline: Option<Instant>,
    /// Callee: the other side's offer was applied to the current connection.
    offer_applied: bool,
    /// Callee: the connection failed and was closed; waiting since then for a new offer.
    awaiting_offer_since: Option<Instant>,
    /// A connected call lost its path (at this moment) and is connecting again.
    restarting: Option<Instant>,
    /// The data channel closed while connected and no hang-up has come (yet) through signaling.
    control_closed_at: Option<Instant>,
    /// Callee: the caller started over a connected call (its path broke and we had not
    /// noticed); `restarting` is set from the next notice, which comes with the time.
    restart_from_offer: bool,
    /// Caller, connecting again: when the current offer was made (first seen by a tick), for
    /// [`REOFFER_AFTER`].
    offered_at: Option<Instant>,
    /// Caller: the answer to the current offer arrived.
    answered: bool,
    /// The other side's ICE username fragment on the current connection: an offer with the
    /// same one renegotiates (a screen shared), a new one restarts.
    remote_ufrag: Option<String>,
}

impl Session {
    pub fn new(no_answer: Duration) -> Self {
        Session {
            phase: Phase::Idle,
            no_answer,
            connect_timeout: CONNECT_TIMEOUT,
            audio_muted: false,
            video_muted: false,
            connected: false,
            room: None,
            remote_muted: (false, false),
            signaling_lost: false,
            setup: Setup::default(),
        }
    }

    /// A leg of `room`: its dial is marked with the room.
    pub fn with_room(mut self, room: Option<String>) -> Self {
        self.room = room;
        self
    }

    /// Starts out muted as the call already is (a leg that joins a call in progress).
    pub fn with_muted(mut self, audio: bool, video: bool) -> Self {
        self.audio_muted = audio;
        self.video_muted = video;
        self
    }

    /// How long an accepted call may go without a connection (default [`CONNECT_TIMEOUT`]).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn in_call(&self) -> bool {
        self.phase != Phase::Idle
    }

    pub fn call_id(&self) -> Option<&str> {
        match &self.phase {
            Phase::Idle => None,
            Phase::Outgoing { call_id, .. }
            | Phase::Ringing { call_id, .. }
            | Phase::Answered { call_id, .. } => Some(call_id),
        }
    }

    pub fn peer(&self) -> Option<&str> {
        match &self.phase {
            Phase::Idle => None,
            Phase::Outgoing { peer, .. }
            | Phase::Ringing { peer, .. }
            | Phase::Answered { peer, .. } => Some(peer),
        }
    }

    /// Whether a peer connection exists (after dialling, or after accepting).
    fn has_peer(&self) -> bool {
        matches!(self.phase, Phase::Outgoing { .. } | Phase::Answered { .. })
    }

    /// One command from the user, each to its handler; one that does not fit the call's state
    /// is logged.
    pub fn command(&mut self, command: CallCommand, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match command {
            CallCommand::Dial(peer) => self.dial(peer, now, &mut out),
            CallCommand::Accept if self.is_ringing() => self.accept(now, &mut out),
            CallCommand::Decline if self.is_ringing() => self.decline(&mut out),
            CallCommand::HangUp if self.in_call() => self.hang_up(&mut out),
            CallCommand::MuteAudio(muted) => {
                self.audio_muted = muted;
                self.tell(ControlMessage::MuteAudio(muted).to_json(), &mut out);
            }
            CallCommand::MuteVideo(muted) => {
                self.video_muted = muted;
                self.tell(ControlMessage::MuteVideo(muted).to_json(), &mut out);
            }
            CallCommand::Chat(text) if self.has_peer() => out.push(Action::SendChat(text)),
            CallCommand::RawControl(text) => self.tell(text, &mut out),
            // Joining a room is the engine's; the rest does not fit this state.
            command => self.unexpected(&command),
        }
        out
    }

    /// Says `text` on the control channel, once there is a connection to say it on.
    fn tell(&self, text: String, out: &mut Vec<Action>) {
        if self.has_peer() {
            out.push(Action::SendControl(text));
        }
    }

    fn dial(&mut self, peer: String, now: Instant, out: &mut Vec<Action>) {
        if self.in_call() {
            out.push(Action::Emit(CallEvent::Error(
                "already in a call: hang up first".into(),
            )));
            return;
        }
        let call_id = random_call_id();
        out.push(Action::Signal(ClientMessage::Call {
            to: peer.clone(),
            call_id: call_id.clone(),
            room: self.room.clone(),
        }));
        out.push(Action::StartPeer {
            call_id: call_id.clone(),
            role: Role::Caller,
        });
        out.push(Action::Emit(CallEvent::Calling {
            peer: peer.clone(),
            call_id: call_id.clone(),
        }));
        self.connected = false;
        self.setup = Setup {
            attempts: 1,
            ..Setup::default()
        };
        self.phase = Phase::Outgoing {
            call_id,
            peer,
            since: now,
            accepted: false,
        };
    }

    /// Takes the ringing call; what arrived while it rang is applied now.
    fn accept(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Phase::Ringing {
            call_id,
            peer,
            early,
        } = std::mem::replace(&mut self.phase, Phase::Idle)
        else {
            return;
        };
        out.push(Action::Signal(ClientMessage::Accept {
            call_id: call_id.clone(),
        }));
        out.push(Action::StartPeer {
            call_id: call_id.clone(),
            role: Role::Callee,
        });
        out.push(Action::Emit(CallEvent::Accepted { peer: peer.clone() }));
        self.connected = false;
        self.setup = Setup {
            attempts: 1,
            accepted_at: Some(now),
            ..Setup::default()
        };
        self.phase = Phase::Answered { call_id, peer };
        for data in early {
            out.extend(self.remote_signal(data));
        }
    }

    fn decline(&mut self, out: &mut Vec<Action>) {
        if let Phase::Ringing { call_id, .. } = &self.phase {
            out.push(Action::Signal(ClientMessage::Reject {
                call_id: call_id.clone(),
                reason: RejectReason::Declined,
            }));
            self.end(EndedBy::Local, EndReason::Declined, false, out);
        }
    }

    /// Hanging up: declines a ringing call, cancels an unanswered one, else ends it both ways
    /// (the data channel is quickest, signaling is sure).
    fn hang_up(&mut self, out: &mut Vec<Action>) {
        let (call_id, reason, connected_to_them) = match &self.phase {
            Phase::Idle => return,
            Phase::Ringing { .. } => return self.decline(out),
            Phase::Outgoing {
                call_id,
                accepted: false,
                ..
            } => (call_id.clone(), EndReason::Cancelled, false),
            Phase::Outgoing { call_id, .. } | Phase::Answered { call_id, .. } => {
                (call_id.clone(), EndReason::HungUp, true)
            }
        };
        if connected_to_them {
            out.push(Action::SendControl(ControlMessage::Reject.to_json()));
        }
        out.push(Action::Signal(ClientMessage::Hangup { call_id }));
        self.end(EndedBy::Local, reason, true, out);
    }

    /// One signaling event about this call, each kind to its handler; one that does not fit the
    /// call's state is logged, not silently dropped.
    pub fn signaling(&mut self, event: SignalingEvent) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            SignalingEvent::Incoming {
                from,
                call_id,
                room,
            } => self.on_incoming(from, call_id, room, &mut out),
            SignalingEvent::Accepted { call_id, from } if self.is_current(&call_id) => {
                self.on_accepted(from, &mut out)
            }
            SignalingEvent::OfferComing { from, call_id } => {
                self.offer_coming(from, call_id, &mut out)
            }
            SignalingEvent::Rejected {
                call_id, reason, ..
            } if self.is_current(&call_id) => self.on_rejected(reason, &mut out),
            SignalingEvent::Signal { call_id, data, .. } if self.is_current(&call_id) => {
                self.on_signal(data, &mut out)
            }
            SignalingEvent::Hangup {
                call_id, reason, ..
            } if self.is_current(&call_id) => self.on_hangup(reason, &mut out),
            SignalingEvent::Error {
                code,
                message,
                call_id: Some(call_id),
                ..
            } if self.is_current(&call_id) => self.on_error(code, message, &mut out),
            SignalingEvent::Disconnected { reason } if self.in_call() => {
                self.on_signaling_lost(reason, &mut out)
            }
            SignalingEvent::Reconnected(_) if self.in_call() => self.on_signaling_back(&mut out),
            event => self.unexpected(&event),
        }
        out
    }

    /// Something that does not fit the call's state (a late candidate of an ended call, an
    /// event for another call): said in the log, with the state, and left.
    fn unexpected(&self, what: &dyn std::fmt::Debug) {
        tracing::debug!(phase = ?self.phase, ?what, "unexpected in this state: ignored");
    }

    fn on_incoming(
        &mut self,
        from: String,
        call_id: String,
        room: Option<String>,
        out: &mut Vec<Action>,
    ) {
        if self.in_call() {
            out.push(Action::Signal(ClientMessage::Reject {
                call_id,
                reason: RejectReason::Busy,
            }));
            out.push(Action::Emit(CallEvent::MissedWhileBusy { peer: from }));
            return;
        }
        out.push(Action::Emit(CallEvent::Incoming {
            peer: from.clone(),
            call_id: call_id.clone(),
            room,
        }));
        self.phase = Phase::Ringing {
            call_id,
            peer: from,
            early: Vec::new(),
        };
    }

    fn on_accepted(&mut self, from: String, out: &mut Vec<Action>) {
        match &mut self.phase {
            Phase::Outgoing { accepted, .. } if !*accepted => {
                *accepted = true;
                out.push(Action::Emit(CallEvent::Accepted { peer: from }));
            }
            _ => self.unexpected(&format!("accepted by {from}")),
        }
    }

    fn on_rejected(&mut self, reason: RejectReason, out: &mut Vec<Action>) {
        let reason = match reason {
            RejectReason::Busy => EndReason::Busy,
            RejectReason::Declined => EndReason::Declined,
        };
        self.end(EndedBy::Remote, reason, true, out);
    }

    /// SDP or a candidate: held while ringing (bounded), applied once answered.
    fn on_signal(&mut self, data: SignalData, out: &mut Vec<Action>) {
        match &mut self.phase {
            Phase::Ringing { early, .. } => {
                let held: usize = early.iter().map(signal_bytes).sum();
                if early.len() < MAX_EARLY_SIGNALS && held + signal_bytes(&data) <= MAX_EARLY_BYTES
                {
                    early.push(data);
                } else {
                    tracing::warn!("too many signals while ringing: one is dropped");
                }
            }
            _ => out.extend(self.remote_signal(data)),
        }
    }

    fn on_hangup(&mut self, reason: Option<HangupReason>, out: &mut Vec<Action>) {
        let reason = match reason {
            Some(HangupReason::Gone) => EndReason::PeerGone,
            Some(HangupReason::Timeout) => EndReason::NoAnswer,
            Some(HangupReason::RoomFull) => EndReason::Failed("the room is full".into()),
            None if matches!(
                self.phase,
                Phase::Ringing { .. }
                    | Phase::Outgoing {
                        accepted: false,
                        ..
                    }
            ) =>
            {
                EndReason::Cancelled
            }
            None => EndReason::HungUp,
        };
        let had_peer = self.has_peer();
        self.end(EndedBy::Remote, reason, had_peer, out);
    }

    fn on_error(&mut self, code: ErrorCode, message: String, out: &mut Vec<Action>) {
        let reason = match code {
            ErrorCode::UnknownPeer => EndReason::UnknownPeer,
            _ => EndReason::Failed(format!("{code}: {message}")),
        };
        let had_peer = self.has_peer();
        self.end(EndedBy::Local, reason, had_peer, out);
    }

    /// The server is gone: a connected call goes on peer to peer; one still being set up
    /// cannot finish.
    fn on_signaling_lost(&mut self, reason: String, out: &mut Vec<Action>) {
        if self.connected {
            tracing::warn!(%reason, "signaling lost: the connected call goes on peer to peer");
            self.signaling_lost = true;
            return;
        }
        if self.setup.restarting.is_some() {
            // The network changed under both: signaling comes back on the new one (the restart
            // deadline ends the call if it does not).
            tracing::info!(%reason, "signaling lost while connecting again: waiting for it");
            self.signaling_lost = true;
            return;
        }
        let had_peer = self.has_peer();
        self.end(
            EndedBy::Local,
            EndReason::SignalingLost(reason),
            had_peer,
            out,
        );
    }

    /// Signaling is back (on a new connection, maybe from a new network). A caller connecting
    /// again offers anew: the offer made while signaling was dying may never have left.
    fn on_signaling_back(&mut self, out: &mut Vec<Action>) {
        self.signaling_lost = false;
        let restarting = self.setup.restarting.is_some() && !self.connected;
        if let (Phase::Outgoing { call_id, .. }, true) = (&self.phase, restarting) {
            tracing::info!("signaling is back: offering the new connection again");
            let call_id = call_id.clone();
            self.offer_again(call_id, out);
        }
    }

    /// Caller, connecting again: a new connection and offer in place of the current one.
    fn offer_again(&mut self, call_id: String, out: &mut Vec<Action>) {
        self.setup.ice_connected = false;
        self.setup.dtls_deadline = None;
        self.setup.answered = false;
        // Timed from the next tick, which knows the time.
        self.setup.offered_at = None;
        out.push(Action::ClosePeer);
        out.push(Action::StartPeer {
            call_id,
            role: Role::Caller,
        });
    }

    pub fn peer_notice(&mut self, notice: PeerNotice, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(call_id) = self.call_id().map(str::to_string) else {
            return out;
        };
        if !self.has_peer() {
            return out;
        }
        if std::mem::take(&mut self.setup.restart_from_offer) {
            self.setup.restarting.get_or_insert(now);
        }
        match notice {
            PeerNotice::LocalDescription(sdp) => out.push(Action::Signal(ClientMessage::Signal {
                call_id,
                data: SignalData::Sdp { sdp },
            })),
            PeerNotice::LocalCandidate(candidate) => {
                out.push(Action::Signal(ClientMessage::Signal {
                    call_id,
                    data: SignalData::Candidate { candidate },
                }))
            }
            PeerNotice::IceConnected => {
                self.setup.ice_connected = true;
                out.push(Action::Emit(CallEvent::IceConnected));
            }
            PeerNotice::IceDisconnected if self.remote_muted == (true, true) => {
                // Expected quiet; a path that is really gone fails ICE later (`Failed`).
                tracing::debug!("ICE heard nothing, but the other side sends no media");
            }
            PeerNotice::IceDisconnected => self.path_lost(now, &mut out),
            PeerNotice::Failed(_) if self.connected => self.path_lost(now, &mut out),
            PeerNotice::Connected => {
                if !self.connected {
                    self.connected = true;
                    self.setup.dtls_deadline = None;
                    let peer = self.peer().unwrap_or_default().to_string();
                    let event = match self.setup.restarting.take() {
                        Some(since) => CallEvent::PathRestored {
                            peer,
                            after: now.saturating_duration_since(since),
                        },
                        None => CallEvent::Connected { peer },
                    };
                    out.push(Action::Emit(event));
                }
            }
            PeerNotice::ControlOpen => {
                // Tell the other side how we are, if it differs from its assumption (all live).
                if self.audio_muted {
                    out.push(Action::SendControl(
                        ControlMessage::MuteAudio(true).to_json(),
                    ));
                }
                if self.video_muted {
                    out.push(Action::SendControl(
                        ControlMessage::MuteVideo(true).to_json(),
                    ));
                }
            }
            PeerNotice::Control(parsed) => self.on_control(parsed, &mut out),
            PeerNotice::ControlClosed if self.signaling_lost && self.connected => {
                tracing::info!(
                    "the data channel closed, and no server can say why: the other side left"
                );
                self.end(EndedBy::Remote, EndReason::HungUp, true, &mut out);
            }
            PeerNotice::ControlClosed if self.connected => {
                self.setup.control_closed_at.get_or_insert(now);
            }
            PeerNotice::ControlClosed => {}
            PeerNotice::Failed(why) => self.connection_failed(why, now, &mut out),
        }
        out
    }

    /// A control message from the other side (docs/protocol.md §2).
    fn on_control(&mut self, parsed: Parsed, out: &mut Vec<Action>) {
        let peer = self.peer().unwrap_or_default().to_string();
        match parsed {
            Parsed::Message(ControlMessage::MuteAudio(muted)) => {
                self.remote_muted.0 = muted;
                out.push(Action::Emit(CallEvent::RemoteMuted {
                    peer,
                    kind: MediaKind::Audio,
                    muted,
                }))
            }
            Parsed::Message(ControlMessage::MuteVideo(muted)) => {
                self.remote_muted.1 = muted;
                out.push(Action::Emit(CallEvent::RemoteMuted {
                    peer,
                    kind: MediaKind::Video,
                    muted,
                }))
            }
            Parsed::Message(ControlMessage::JoinRoom(room)) if self.connected => {
                out.push(Action::JoinRoom(room))
            }
            Parsed::Message(ControlMessage::JoinRoom(room)) => {
                tracing::warn!(%room, "asked to join a room before the call connected: ignored");
            }
            Parsed::Message(ControlMessage::Chat(text)) => {
                out.push(Action::Emit(CallEvent::Chat { peer, text }))
            }
            Parsed::Message(ControlMessage::Reject) => {
                // The remote also hangs up through signaling; saying so again would only
                // earn an `unknown_call`.
                self.end(EndedBy::Remote, EndReason::HungUp, true, out);
            }
            Parsed::Message(ControlMessage::File(message)) => {
                // The engine's transfers take these before they reach a session.
                self.unexpected(&message);
            }
            Parsed::Message(ControlMessage::ScreenShare(_) | ControlMessage::Features(_)) => {
                // The engine takes these too (the participant's shared screen, what they can).
                self.unexpected(&"screen_share or features");
            }
            Parsed::Unknown(code) => {
                tracing::debug!(%code, "ignoring an unknown control code");
            }
            Parsed::Malformed(why) => {
                tracing::warn!(%why, "ignoring a malformed control message");
            }
        }
    }

    /// A connected call's path broke (the network changed under it, or the other side went
    /// quiet). The caller starts a new connection at once: fresh ICE credentials and addresses
    /// (its sockets bound anew, so a new address of this host is found), a new offer through
    /// signaling. The callee closes its side (so a caller that noticed nothing notices now) and
    /// waits for that offer. Who restarts is fixed by role, so both never offer at once.
    fn path_lost(&mut self, now: Instant, out: &mut Vec<Action>) {
        if !self.connected {
            // Still setting up: the setup deadlines handle it.
            return;
        }
        let Some(call_id) = self.call_id().map(str::to_string) else {
            return;
        };
        let peer = self.peer().unwrap_or_default().to_string();
        self.connected = false;
        self.setup = Setup {
            attempts: 1,
            restarting: Some(now),
            ..Setup::default()
        };
        out.push(Action::Emit(CallEvent::PathLost { peer }));
        // If the network changed, signaling may be on a dead connection too.
        out.push(Action::ProbeSignaling);
        match self.phase {
            Phase::Outgoing { .. } => {
                tracing::info!("the path to the other side broke: connecting again");
                self.setup.accepted_at = Some(now);
                self.offer_again(call_id, out);
            }
            Phase::Answered { .. } => {
                tracing::info!(
                    "the path to the other side broke: waiting for the caller's new offer"
                );
                self.setup.awaiting_offer_since = Some(now);
                out.push(Action::ClosePeer);
            }
            _ => {}
        }
    }

    /// The current connection failed: before it ever connected, but after ICE found a path
    /// (so DTLS is what failed), it is started over — by the caller, with a new offer; the
    /// callee closes its side and waits for that offer. Otherwise the call ends.
    fn connection_failed(&mut self, why: String, now: Instant, out: &mut Vec<Action>) {
        let Some(call_id) = self.call_id().map(str::to_string) else {
            return;
        };
        let retry = !self.connected
            && self.setup.ice_connected
            && self.setup.attempts < MAX_CONNECTION_ATTEMPTS;
        match &self.phase {
            Phase::Outgoing { .. } if retry => {
                tracing::info!(%why, attempt = self.setup.attempts + 1, "connecting again");
                self.setup = Setup {
                    attempts: self.setup.attempts + 1,
                    accepted_at: self.setup.accepted_at,
                    restarting: self.setup.restarting,
                    ..Setup::default()
                };
                out.push(Action::ClosePeer);
                out.push(Action::StartPeer {
                    call_id,
                    role: Role::Caller,
                });
                out.push(Action::Emit(CallEvent::Reconnecting { why }));
            }
            Phase::Answered { .. } if retry && self.setup.awaiting_offer_since.is_none() => {
                tracing::info!(%why, "waiting for the caller to connect again");
                self.setup.awaiting_offer_since = Some(now);
                self.setup.ice_connected = false;
                out.push(Action::ClosePeer);
                out.push(Action::Emit(CallEvent::Reconnecting { why }));
            }
            Phase::Answered { .. } if self.setup.awaiting_offer_since.is_some() => {
                // The closed connection's last words: we wait for the new offer anyway.
            }
            _ => {
                out.push(Action::Signal(ClientMessage::Hangup { call_id }));
                self.end(EndedBy::Local, EndReason::ConnectionFailed(why), true, out);
            }
        }
    }

    /// The call we dialled is answered the other way round: the other side offers. Our
    /// connection (built to offer) makes way for one that answers.
    fn offer_coming(&mut self, from: String, call_id: String, out: &mut Vec<Action>) {
        let Phase::Outgoing {
            call_id: ours,
            peer,
            accepted: false,
            ..
        } = &self.phase
        else {
            tracing::warn!(?self.phase, "an offer announced outside a call being dialled: ignored");
            return;
        };
        if *ours != call_id {
            tracing::warn!(%call_id, "an offer announced for another call: ignored");
            return;
        }
        let peer = peer.clone();
        out.push(Action::ClosePeer);
        out.push(Action::StartPeer {
            call_id: call_id.clone(),
            role: Role::Callee,
        });
        out.push(Action::Emit(CallEvent::Accepted { peer: from }));
        self.connected = false;
        self.setup = Setup {
            attempts: 1,
            ..Setup::default()
        };
        self.phase = Phase::Answered { call_id, peer };
    }

    /// SDP or a candidate from the other side, in an answered call. A second offer means the
    /// caller started the connection over: so do we — even if ours thinks it is up (webrtc-rs's
    /// DTLS client can believe so while the server gave up).
    fn remote_signal(&mut self, data: SignalData) -> Vec<Action> {
        let mut out = Vec::new();
        let is_offer = matches!(&data, SignalData::Sdp { sdp } if sdp.kind == SdpKind::Offer);
        let ufrag = match &data {
            SignalData::Sdp { sdp } => super::sdp::ice_ufrag(&sdp.sdp).map(str::to_owned),
            _ => None,
        };
        if is_offer && ufrag.is_some() && ufrag == self.setup.remote_ufrag {
            tracing::debug!("the other side changes what it sends (same ICE credentials)");
            out.push(apply(data));
            return out;
        }
        if let (Phase::Answered { call_id, .. }, true) = (&self.phase, is_offer) {
            if self.setup.offer_applied || self.setup.awaiting_offer_since.is_some() {
                tracing::info!("the caller connects again");
                if self.connected {
                    // Its path broke before ours said so: the call is connecting again.
                    let peer = self.peer().unwrap_or_default().to_string();
                    out.push(Action::Emit(CallEvent::PathLost { peer }));
                    self.setup.restart_from_offer = true;
                }
                if self.setup.awaiting_offer_since.is_none() {
                    out.push(Action::ClosePeer);
                }
                out.push(Action::StartPeer {
                    call_id: call_id.clone(),
                    role: Role::Callee,
                });
                self.connected = false;
                let (restarting, restart_from_offer) =
                    (self.setup.restarting, self.setup.restart_from_offer);
                self.setup = Setup {
                    attempts: self.setup.attempts + 1,
                    // A call connecting again after its path broke is timed from the new offer.
                    accepted_at: self
                        .setup
                        .accepted_at
                        .filter(|_| restarting.is_none() && !restart_from_offer),
                    restarting,
                    restart_from_offer,
                    ..Setup::default()
                };
            }
            self.setup.offer_applied = true;
        } else if matches!(self.phase, Phase::Answered { .. })
            && self.setup.awaiting_offer_since.is_some()
        {
            // A candidate for the connection we closed.
            return out;
        } else if matches!(&data, SignalData::Sdp { sdp } if sdp.kind == SdpKind::Answer) {
            self.setup.answered = true;
        }
        if ufrag.is_some() {
            self.setup.remote_ufrag = ufrag;
        }
        out.push(apply(data));
        out
    }

    /// Gives up on a call nobody answers, or one that does not connect; starts a connection
    /// whose DTLS does not come up over.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        // Each deadline in turn; the first that acts ends this tick.
        let _ = self.connect_deadline(now, &mut out)
            || self.reoffer_deadline(now, &mut out)
            || self.control_closed_deadline(now, &mut out)
            || self.new_offer_deadline(now, &mut out)
            || self.dtls_deadline(now, &mut out)
            || self.no_answer_deadline(now, &mut out);
        out
    }

    /// An accepted call with no connection after `connect_timeout` ends.
    fn connect_deadline(&mut self, now: Instant, out: &mut Vec<Action>) -> bool {
        let accepted = matches!(
            self.phase,
            Phase::Outgoing { accepted: true, .. } | Phase::Answered { .. }
        );
        if !accepted || self.connected {
            return false;
        }
        let since = *self.setup.accepted_at.get_or_insert(now);
        let patience = match self.setup.restarting {
            Some(_) => RESTART_WAIT,
            None => self.connect_timeout,
        };
        if now.saturating_duration_since(since) < patience {
            return false;
        }
        let why = match self.setup.restarting {
            Some(_) => "the connection was lost and could not be made again".to_string(),
            None => format!(
                "no connection {} s after the call was accepted",
                self.connect_timeout.as_secs()
            ),
        };
        if let Some(call_id) = self.call_id().map(str::to_string) {
            out.push(Action::Signal(ClientMessage::Hangup { call_id }));
        }
        self.end(EndedBy::Local, EndReason::ConnectionFailed(why), true, out);
        true
    }

    /// A caller connecting again whose offer found no path in [`REOFFER_AFTER`] offers anew
    /// (the offer may have been lost with a signaling connection; see there).
    fn reoffer_deadline(&mut self, now: Instant, out: &mut Vec<Action>) -> bool {
        let Phase::Outgoing { call_id, .. } = &self.phase else {
            return false;
        };
        if self.setup.restarting.is_none()
            || self.connected
            || self.setup.answered
            || self.signaling_lost
        {
            return false;
        }
        let at = *self.setup.offered_at.get_or_insert(now);
        if now.saturating_duration_since(at) < REOFFER_AFTER {
            return false;
        }
        tracing::info!("no answer to the last offer: offering again");
        let call_id = call_id.clone();
        self.offer_again(call_id, out);
        true
    }

    /// The data channel closed and no hang-up followed: the other side lost its path.
    fn control_closed_deadline(&mut self, now: Instant, out: &mut Vec<Action>) -> bool {
        let Some(at) = self.setup.control_closed_at else {
            return false;
        };
        if !self.connected || now.saturating_duration_since(at) < CONTROL_CLOSED_GRACE {
            return false;
        }
        tracing::info!("the other side closed its connection without hanging up");
        self.path_lost(now, out);
        true
    }

    /// A callee whose connection failed waits `NEW_OFFER_WAIT` for the caller's new offer.
    fn new_offer_deadline(&mut self, now: Instant, out: &mut Vec<Action>) -> bool {
        let Some(since) = self.setup.awaiting_offer_since else {
            return false;
        };
        let wait = match self.setup.restarting {
            Some(_) => RESTART_WAIT,
            None => NEW_OFFER_WAIT,
        };
        if now.saturating_duration_since(since) < wait {
            return false;
        }
        let why = "the connection failed and the caller did not connect again".to_string();
        self.setup.awaiting_offer_since = None;
        self.setup.ice_connected = false;
        self.connection_failed(why, now, out);
        true
    }

    /// A caller whose ICE is up gives DTLS `DTLS_SETUP_TIMEOUT` before starting over.
    fn dtls_deadline(&mut self, now: Instant, out: &mut Vec<Action>) -> bool {
        if !matches!(self.phase, Phase::Outgoing { .. })
            || !self.setup.ice_connected
            || self.connected
        {
            return false;
        }
        let deadline = *self
            .setup
            .dtls_deadline
            .get_or_insert(now + DTLS_SETUP_TIMEOUT);
        if now < deadline {
            return false;
        }
        self.connection_failed("DTLS did not complete".into(), now, out);
        true
    }

    /// A call nobody answers ends after `no_answer`.
    fn no_answer_deadline(&mut self, now: Instant, out: &mut Vec<Action>) -> bool {
        let Phase::Outgoing {
            call_id,
            since,
            accepted: false,
            ..
        } = &self.phase
        else {
            return false;
        };
        if now.duration_since(*since) < self.no_answer {
            return false;
        }
        out.push(Action::Signal(ClientMessage::Hangup {
            call_id: call_id.clone(),
        }));
        self.end(EndedBy::Local, EndReason::NoAnswer, true, out);
        true
    }

    fn is_current(&self, call_id: &str) -> bool {
        self.call_id() == Some(call_id)
    }

    /// Whether `call_id` is this leg's call.
    pub fn is_call(&self, call_id: &str) -> bool {
        self.is_current(call_id)
    }

    /// Whether it rings, waiting for the user.
    pub fn is_ringing(&self) -> bool {
        matches!(self.phase, Phase::Ringing { .. })
    }

    fn end(&mut self, by: EndedBy, reason: EndReason, close_peer: bool, out: &mut Vec<Action>) {
        if close_peer {
            out.push(Action::ClosePeer);
        }
        let peer = self.peer().unwrap_or_default().to_string();
        out.push(Action::Emit(CallEvent::Ended { peer, by, reason }));
        self.phase = Phase::Idle;
        self.connected = false;
        self.signaling_lost = false;
        self.remote_muted = (false, false);
        self.setup = Setup::default();
    }
}

/// What a held signal costs in memory, roughly (its text).
fn signal_bytes(data: &SignalData) -> usize {
    match data {
        SignalData::Sdp { sdp } => sdp.sdp.len(),
        SignalData::Candidate { candidate } => candidate.as_ref().map_or(0, |c| c.candidate.len()),
    }
}

fn apply(data: SignalData) -> Action {
    match data {
        SignalData::Sdp { sdp } => Action::ApplyRemoteDescription(sdp),
        SignalData::Candidate { candidate } => Action::AddRemoteCandidate(candidate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signaling_client::{Registration, SdpKind};

    fn sdp(kind: SdpKind) -> SessionDescription {
        SessionDescription {
            kind,
            sdp: "v=0\r\n".into(),
        }
    }

    fn ended(actions: &[Action]) -> Option<(EndedBy, EndReason)> {
        actions.iter().find_map(|a| match a {
            Action::Emit(CallEvent::Ended { by, reason, .. }) => Some((*by, reason.clone())),
            _ => None,
        })
    }

    fn dial(s: &mut Session) -> String {
        let out = s.command(CallCommand::Dial("bob".into()), Instant::now());
        let Action::Signal(ClientMessage::Call { to, call_id, .. }) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(to, "bob");
        assert_eq!(
            out[1],
            Action::StartPeer {
                call_id: call_id.clone(),
                role: Role::Caller
            }
        );
        call_id.clone()
    }

    /// Rooms that pick the offerer by who came first: the call we dialled turns out to be one
    /// we answer.
    #[test]
    fn a_dialled_call_whose_other_side_offers_is_answered() {
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        let call_id = dial(&mut s);
        // Announced for another call, or twice: ignored.
        assert!(s
            .signaling(SignalingEvent::OfferComing {
                from: "room".into(),
                call_id: "other".into(),
            })
            .is_empty());
        let out = s.signaling(SignalingEvent::OfferComing {
            from: "room".into(),
            call_id: call_id.clone(),
        });
        assert_eq!(
            out,
            vec![
                Action::ClosePeer,
                Action::StartPeer {
                    call_id: call_id.clone(),
                    role: Role::Callee
                },
                Action::Emit(CallEvent::Accepted {
                    peer: "room".into()
                }),
            ]
        );
        assert!(s
            .signaling(SignalingEvent::OfferComing {
                from: "room".into(),
                call_id: call_id.clone(),
            })
            .is_empty());
        let offer = SignalData::Sdp {
            sdp: sdp(SdpKind::Offer),
        };
        let out = s.signaling(SignalingEvent::Signal {
            from: "room".into(),
            call_id: call_id.clone(),
            data: offer,
        });
        assert_eq!(
            out,
            vec![Action::ApplyRemoteDescription(sdp(SdpKind::Offer))]
        );
        let out = s.peer_notice(
            PeerNotice::LocalDescription(sdp(SdpKind::Answer)),
            Instant::now(),
        );
        assert!(matches!(
            &out[0],
            Action::Signal(ClientMessage::Signal { data: SignalData::Sdp { sdp }, .. })
                if sdp.kind == SdpKind::Answer
        ));
        let out = s.command(CallCommand::HangUp, Instant::now());
        assert_eq!(ended(&out), Some((EndedBy::Local, EndReason::HungUp)));
    }

    #[test]
    fn caller_dials_is_accepted_negotiates_and_hangs_up() {
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        let call_id = dial(&mut s);
        let out = s.peer_notice(
            PeerNotice::LocalDescription(sdp(SdpKind::Offer)),
            Instant::now(),
        );
        assert!(matches!(
            &out[0],
            Action::Signal(ClientMessage::Signal {
                data: SignalData::Sdp { .. },
                ..
            })
        ));
        let out = s.signaling(SignalingEvent::Accepted {
            from: "bob".into(),
            call_id: call_id.clone(),
        });
        assert_eq!(
            out,
            vec![Action::Emit(CallEvent::Accepted { peer: "bob".into() })]
        );
        let out = s.signaling(SignalingEvent::Signal {
            from: "bob".into(),
            call_id: call_id.clone(),
            data: SignalData::Sdp {
                sdp: sdp(SdpKind::Answer),
            },
        });
        assert_eq!(
            out,
            vec![Action::ApplyRemoteDescription(sdp(SdpKind::Answer))]
        );
        // A signal for another call is ignored.
        assert!(s
            .signaling(SignalingEvent::Signal {
                from: "eve".into(),
                call_id: "other".into(),
                data: SignalData::Candidate { candidate: None },
            })
            .is_empty());
        let out = s.peer_notice(PeerNotice::Connected, Instant::now());
        assert_eq!(
            out,
            vec![Action::Emit(CallEvent::Connected { peer: "bob".into() })]
        );
        assert!(s
            .peer_notice(PeerNotice::Connected, Instant::now())
            .is_empty());
        let out = s.command(CallCommand::HangUp, Instant::now());
        assert_eq!(
            out[0],
            Action::SendControl(ControlMessage::Reject.to_json())
        );
        assert_eq!(out[1], Action::Signal(ClientMessage::Hangup { call_id }));
        assert!(out.contains(&Action::ClosePeer));
        assert_eq!(ended(&out), Some((EndedBy::Local, EndReason::HungUp)));
        assert!(!s.in_call());
    }

    #[test]
    fn callee_keeps_the_early_offer_until_accepting() {
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        let out = s.signaling(SignalingEvent::Incoming {
            from: "alice".into(),
            call_id: "c1".into(),
            room: None,
        });
        assert_eq!(
            out,
            vec![Action::Emit(CallEvent::Incoming {
                peer: "alice".into(),
                call_id: "c1".into(),
                room: None,
            })]
        );
        let cand = IceCandidate {
            candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: None,
        };
        for data in [
            SignalData::Sdp {
                sdp: sdp(SdpKind::Offer),
            },
            SignalData::Candidate {
                candidate: Some(cand.clone()),
            },
        ] {
            assert!(s
                .signaling(SignalingEvent::Signal {
                    from: "alice".into(),
                    call_id: "c1".into(),
                    data
                })
                .is_empty());
        }
        // Nothing is sent while it rings, not even mute state.
        assert!(s
            .command(CallCommand::MuteAudio(true), Instant::now())
            .is_empty());
        let out = s.command(CallCommand::Accept, Instant::now());
        assert_eq!(
            out,
            vec![
                Action::Signal(ClientMessage::Accept {
                    call_id: "c1".into()
                }),
                Action::StartPeer {
                    call_id: "c1".into(),
                    role: Role::Callee
                },
                Action::Emit(CallEvent::Accepted {
                    peer: "alice".into()
                }),
                Action::ApplyRemoteDescription(sdp(SdpKind::Offer)),
                Action::AddRemoteCandidate(Some(cand)),
            ]
        );
        // The mute chosen before the call reaches the other side once the channel opens.
        assert_eq!(
            s.peer_notice(PeerNotice::ControlOpen, Instant::now()),
            vec![Action::SendControl(
                ControlMessage::MuteAudio(true).to_json()
            )]
        );
        let out = s.peer_notice(
            PeerNotice::Control(Parsed::Message(ControlMessage::Reject)),
            Instant::now(),
        );
        assert_eq!(ended(&out), Some((EndedBy::Remote, EndReason::HungUp)));
    }

    #[test]
    fn an_offer_with_the_ice_credentials_in_use_renegotiates_and_a_new_one_restarts() {
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        s.signaling(SignalingEvent::Incoming {
            from: "alice".into(),
            call_id: "c1".into(),
            room: None,
        });
        s.command(CallCommand::Accept, Instant::now());
        let offer = |ufrag: &str| SignalingEvent::Signal {
            from: "alice".into(),
            call_id: "c1".into(),
            data: SignalData::Sdp {
                sdp: SessionDescription {
                    kind: SdpKind::Offer,
                    sdp: format!("v=0\r\na=ice-ufrag:{ufrag}\r\n"),
                },
            },
        };
        let applied = |ufrag: &str| {
            vec![Action::ApplyRemoteDescription(SessionDescription {
                kind: SdpKind::Offer,
                sdp: format!("v=0\r\na=ice-ufrag:{ufrag}\r\n"),
            })]
        };
        assert_eq!(s.signaling(offer("first")), applied("first"));
        s.peer_notice(PeerNotice::Connected, Instant::now());
        // alice shares her screen: the same connection, one more track.
        assert_eq!(s.signaling(offer("first")), applied("first"));
        // alice's path broke and she connects again: a new connection.
        let out = s.signaling(offer("second"));
        assert!(out.contains(&Action::ClosePeer), "{out:?}");
        assert!(
            out.contains(&Action::StartPeer {
                call_id: "c1".into(),
                role: Role::Callee
            }),
            "{out:?}"
        );
        assert_eq!(out.last(), applied("second").last());
    }

    #[test]
    fn busy_while_in_a_call() {
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        let call_id = dial(&mut s);
        let out = s.signaling(SignalingEvent::Incoming {
            from: "carol".into(),
            call_id: "c2".into(),
            room: None,
        });
        assert_eq!(
            out[0],
            Action::Signal(ClientMessage::Reject {
                call_id: "c2".into(),
                reason: RejectReason::Busy
            })
        );
        assert_eq!(s.call_id(), Some(call_id.as_str()));
    }

    #[test]
    fn every_way_a_call_ends() {
        let remote_end = |event: fn(String) -> SignalingEvent| {
            let mut s = Session::new(DEFAULT_NO_ANSWER);
            let call_id = dial(&mut s);
            ended(&s.signaling(event(call_id)))
        };
        assert_eq!(
            remote_end(|c| SignalingEvent::Rejected {
                from: "bob".into(),
                call_id: c,
                reason: RejectReason::Declined
            }),
            Some((EndedBy::Remote, EndReason::Declined))
        );
        assert_eq!(
            remote_end(|c| SignalingEvent::Rejected {
                from: "bob".into(),
                call_id: c,
                reason: RejectReason::Busy
            }),
            Some((EndedBy::Remote, EndReason::Busy))
        );
        assert_eq!(
            remote_end(|c| SignalingEvent::Error {
                code: ErrorCode::UnknownPeer,
                message: "bob is not online".into(),
                call_id: Some(c),
                room: None,
            }),
            Some((EndedBy::Local, EndReason::UnknownPeer))
        );
        assert_eq!(
            remote_end(|c| SignalingEvent::Hangup {
                from: "bob".into(),
                call_id: c,
                reason: Some(HangupReason::Gone)
            }),
            Some((EndedBy::Remote, EndReason::PeerGone))
        );
        // The callee's ringing ends when the caller cancels.
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        s.signaling(SignalingEvent::Incoming {
            from: "alice".into(),
            call_id: "c1".into(),
            room: None,
        });
        let out = s.signaling(SignalingEvent::Hangup {
            from: "alice".into(),
            call_id: "c1".into(),
            reason: None,
        });
        assert!(!out.contains(&Action::ClosePeer));
        assert_eq!(ended(&out), Some((EndedBy::Remote, EndReason::Cancelled)));
        // Declining sends the reject.
        s.signaling(SignalingEvent::Incoming {
            from: "alice".into(),
            call_id: "c2".into(),
            room: None,
        });
        let out = s.command(CallCommand::Decline, Instant::now());
        assert_eq!(
            out[0],
            Action::Signal(ClientMessage::Reject {
                call_id: "c2".into(),
                reason: RejectReason::Declined
            })
        );
        // A failed connection (ICE found no path) hangs up through signaling too.
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        let call_id = dial(&mut s);
        let out = s.peer_notice(PeerNotice::Failed("ICE failed".into()), Instant::now());
        assert_eq!(out[0], Action::Signal(ClientMessage::Hangup { call_id }));
        assert_eq!(
            ended(&out),
            Some((
                EndedBy::Local,
                EndReason::ConnectionFailed("ICE failed".into())
            ))
        );
    }

    #[test]
    fn a_connected_call_outlives_its_signaling_server() {
        let lost = || SignalingEvent::Disconnected {
            reason: "the server closed".into(),
        };
        // Before media connects, the call cannot be set up without the server: it ends.
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        dial(&mut s);
        assert_eq!(
            ended(&s.signaling(lost())),
            Some((
                EndedBy::Local,
                EndReason::SignalingLost("the server closed".into())
            ))
        );
        // Once connected it goes on; a data channel closing before the loss means nothing.
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        dial(&mut s);
        s.peer_notice(PeerNotice::Connected, Instant::now());
        assert!(s
            .peer_notice(PeerNotice::ControlClosed, Instant::now())
            .is_empty());
        assert!(s.signaling(lost()).is_empty());
        assert!(s.in_call());
        // After it, the channel closing is the only news of the other side leaving.
        let out = s.peer_notice(PeerNotice::ControlClosed, Instant::now());
        assert_eq!(ended(&out), Some((EndedBy::Remote, EndReason::HungUp)));
        // The next call starts with the server as it is, not as the last one found it.
        dial(&mut s);
        s.peer_notice(PeerNotice::Connected, Instant::now());
        assert!(s
            .peer_notice(PeerNotice::ControlClosed, Instant::now())
            .is_empty());
    }

    #[test]
    fn nobody_answers() {
        let mut s = Session::new(Duration::from_secs(45));
        let t0 = Instant::now();
        let _ = s.command(CallCommand::Dial("bob".into()), t0);
        assert!(s.tick(t0 + Duration::from_secs(44)).is_empty());
        let out = s.tick(t0 + Duration::from_secs(45));
        assert_eq!(ended(&out), Some((EndedBy::Local, EndReason::NoAnswer)));
    }

    #[test]
    fn unknown_and_malformed_control_messages_do_not_end_the_call() {
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        dial(&mut s);
        for parsed in [
            Parsed::Unknown("raise_hand".into()),
            Parsed::Malformed("not JSON".into()),
        ] {
            assert!(s
                .peer_notice(PeerNotice::Control(parsed), Instant::now())
                .is_empty());
        }
        assert!(s.in_call());
        let out = s.peer_notice(
            PeerNotice::Control(Parsed::Message(ControlMessage::MuteVideo(true))),
            Instant::now(),
        );
        assert_eq!(
            out,
            vec![Action::Emit(CallEvent::RemoteMuted {
                peer: "bob".into(),
                kind: MediaKind::Video,
                muted: true
            })]
        );
    }

    /// alice's side: dials, bob accepts, ICE connects, an offer went out.
    fn caller_with_a_path(t0: Instant) -> (Session, String) {
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        let call_id = dial(&mut s);
        s.signaling(SignalingEvent::Accepted {
            from: "bob".into(),
            call_id: call_id.clone(),
        });
        s.tick(t0);
        s.peer_notice(PeerNotice::IceConnected, t0);
        (s, call_id)
    }

    #[test]
    fn a_connection_whose_dtls_does_not_come_up_is_started_over_a_few_times() {
        let t0 = Instant::now();
        let (mut s, call_id) = caller_with_a_path(t0);
        assert!(s.tick(t0 + Duration::from_secs(1)).is_empty());
        let at = |secs| t0 + Duration::from_secs(secs);
        // DTLS still not up DTLS_SETUP_TIMEOUT after ICE: a new connection, same call.
        let out = s.tick(at(1 + DTLS_SETUP_TIMEOUT.as_secs()));
        assert_eq!(out[0], Action::ClosePeer);
        assert_eq!(
            out[1],
            Action::StartPeer {
                call_id: call_id.clone(),
                role: Role::Caller
            }
        );
        assert!(matches!(
            out[2],
            Action::Emit(CallEvent::Reconnecting { .. })
        ));
        assert!(s.in_call());
        // The new one fails too (webrtc-rs gives up on its own): once more.
        s.peer_notice(PeerNotice::IceConnected, at(7));
        let out = s.peer_notice(PeerNotice::Failed("DTLS gave up".into()), at(8));
        assert!(
            out.contains(&Action::ClosePeer) && ended(&out).is_none(),
            "{out:?}"
        );
        // The third failure ends the call.
        s.peer_notice(PeerNotice::IceConnected, at(9));
        let out = s.peer_notice(PeerNotice::Failed("DTLS gave up".into()), at(10));
        assert!(matches!(
            ended(&out),
            Some((EndedBy::Local, EndReason::ConnectionFailed(_)))
        ));
    }

    #[test]
    fn without_any_path_there_is_no_second_try() {
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        dial(&mut s);
        let out = s.peer_notice(PeerNotice::Failed("ICE failed".into()), Instant::now());
        assert!(ended(&out).is_some());
    }

    #[test]
    fn a_connected_caller_whose_path_breaks_connects_again_and_says_how_long_it_took() {
        let t0 = Instant::now();
        let (mut s, call_id) = caller_with_a_path(t0);
        s.peer_notice(PeerNotice::Connected, t0);
        let lost = t0 + Duration::from_secs(60);
        let out = s.peer_notice(PeerNotice::IceDisconnected, lost);
        assert_eq!(
            out,
            vec![
                Action::Emit(CallEvent::PathLost { peer: "bob".into() }),
                Action::ProbeSignaling,
                Action::ClosePeer,
                Action::StartPeer {
                    call_id,
                    role: Role::Caller
                },
            ]
        );
        // An old call's accepted time does not end the new connection at once.
        assert!(s.tick(lost + Duration::from_secs(1)).is_empty());
        s.peer_notice(PeerNotice::IceConnected, lost + Duration::from_millis(1500));
        let out = s.peer_notice(PeerNotice::Connected, lost + Duration::from_secs(2));
        assert_eq!(
            out,
            vec![Action::Emit(CallEvent::PathRestored {
                peer: "bob".into(),
                after: Duration::from_secs(2)
            })]
        );
        assert!(s.in_call());
    }

    #[test]
    fn a_silent_path_to_a_side_that_sends_nothing_is_no_break_but_a_failed_one_is() {
        let t0 = Instant::now();
        let (mut s, _) = caller_with_a_path(t0);
        s.peer_notice(PeerNotice::Connected, t0);
        for message in [
            ControlMessage::MuteAudio(true),
            ControlMessage::MuteVideo(true),
        ] {
            s.peer_notice(PeerNotice::Control(Parsed::Message(message)), t0);
        }
        assert!(s.peer_notice(PeerNotice::IceDisconnected, t0).is_empty());
        let out = s.peer_notice(PeerNotice::Failed("ICE failed".into()), t0);
        assert!(matches!(out[0], Action::Emit(CallEvent::PathLost { .. })));
        assert!(ended(&out).is_none());
    }

    #[test]
    fn a_path_that_does_not_come_back_ends_the_call_within_the_restart_wait() {
        let t0 = Instant::now();
        let (mut s, _) = caller_with_a_path(t0);
        s.peer_notice(PeerNotice::Connected, t0);
        s.peer_notice(PeerNotice::IceDisconnected, t0);
        assert!(s
            .tick(t0 + RESTART_WAIT - Duration::from_millis(300))
            .is_empty());
        let out = s.tick(t0 + RESTART_WAIT);
        assert!(matches!(
            ended(&out),
            Some((EndedBy::Local, EndReason::ConnectionFailed(_)))
        ));
    }

    #[test]
    fn a_caller_connecting_again_offers_anew_until_an_answer_comes() {
        let t0 = Instant::now();
        let (mut s, call_id) = caller_with_a_path(t0);
        s.peer_notice(PeerNotice::Connected, t0);
        s.peer_notice(PeerNotice::IceDisconnected, t0);
        let again = vec![
            Action::ClosePeer,
            Action::StartPeer {
                call_id,
                role: Role::Caller,
            },
        ];
        let at = |ms| t0 + Duration::from_millis(ms);
        assert!(s.tick(at(100)).is_empty(), "the offer is timed from here");
        assert!(s
            .tick(at(100) + REOFFER_AFTER - Duration::from_millis(1))
            .is_empty());
        assert_eq!(s.tick(at(100) + REOFFER_AFTER), again);
        let second = at(100) + REOFFER_AFTER;
        assert!(
            s.tick(second).is_empty(),
            "the new offer is timed from here"
        );
        assert_eq!(s.tick(second + REOFFER_AFTER), again, "and again");
        // Answered: the connection is left to find its path, however slowly (a relay).
        s.signaling(SignalingEvent::Signal {
            from: "bob".into(),
            call_id: s.call_id().unwrap().to_string(),
            data: SignalData::Sdp {
                sdp: sdp(SdpKind::Answer),
            },
        });
        assert!(s.tick(second + REOFFER_AFTER * 3).is_empty());
        assert!(s.in_call());
    }

    #[test]
    fn signaling_lost_while_connecting_again_waits_for_it_and_then_offers_anew() {
        let t0 = Instant::now();
        let (mut s, call_id) = caller_with_a_path(t0);
        s.peer_notice(PeerNotice::Connected, t0);
        s.peer_notice(PeerNotice::IceDisconnected, t0);
        let out = s.signaling(SignalingEvent::Disconnected {
            reason: "the server did not answer".into(),
        });
        assert!(out.is_empty() && s.in_call(), "{out:?}");
        // No offer can leave while signaling is down: none is made.
        assert!(s.tick(t0 + Duration::from_millis(100)).is_empty());
        assert!(s.tick(t0 + Duration::from_millis(5000)).is_empty());
        let out = s.signaling(SignalingEvent::Reconnected(Registration {
            id: "alice".into(),
            ice_servers: Vec::new(),
        }));
        assert_eq!(
            out,
            vec![
                Action::ClosePeer,
                Action::StartPeer {
                    call_id,
                    role: Role::Caller,
                },
            ]
        );
        // Signaling that never comes back: the restart's patience ends the call.
        let (mut s, _) = caller_with_a_path(t0);
        s.peer_notice(PeerNotice::Connected, t0);
        s.peer_notice(PeerNotice::IceDisconnected, t0);
        s.signaling(SignalingEvent::Disconnected {
            reason: "gone".into(),
        });
        s.tick(t0 + Duration::from_millis(100));
        assert!(ended(&s.tick(t0 + RESTART_WAIT + Duration::from_millis(100))).is_some());
    }

    /// bob's side: alice rings ("c1"), bob accepts; `offer` sends alice's offer.
    fn callee_accepted(t0: Instant) -> Session {
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        s.signaling(SignalingEvent::Incoming {
            from: "alice".into(),
            call_id: "c1".into(),
            room: None,
        });
        s.command(CallCommand::Accept, t0);
        s
    }

    /// alice's offer in call "c1", as the callee receives it.
    fn offer(s: &mut Session) -> Vec<Action> {
        s.signaling(SignalingEvent::Signal {
            from: "alice".into(),
            call_id: "c1".into(),
            data: SignalData::Sdp {
                sdp: sdp(SdpKind::Offer),
            },
        })
    }

    #[test]
    fn a_connected_callee_whose_path_breaks_closes_and_takes_the_callers_new_offer() {
        let t0 = Instant::now();
        let mut s = callee_accepted(t0);
        offer(&mut s);
        s.peer_notice(PeerNotice::Connected, t0);
        let lost = t0 + Duration::from_secs(40);
        let out = s.peer_notice(PeerNotice::IceDisconnected, lost);
        assert_eq!(
            out,
            vec![
                Action::Emit(CallEvent::PathLost {
                    peer: "alice".into()
                }),
                Action::ProbeSignaling,
                Action::ClosePeer
            ]
        );
        assert!(s.tick(lost + Duration::from_secs(3)).is_empty());
        let out = offer(&mut s);
        assert_eq!(
            out[0],
            Action::StartPeer {
                call_id: "c1".into(),
                role: Role::Callee
            }
        );
        // Timed from the new offer, with the restart's patience.
        assert!(s.tick(lost + Duration::from_secs(4)).is_empty());
        let out = s.peer_notice(PeerNotice::Connected, lost + Duration::from_secs(5));
        assert!(matches!(
            out[..],
            [Action::Emit(CallEvent::PathRestored { .. })]
        ));
        // And a caller that never comes back: the callee gives up after the restart wait.
        let again = lost + Duration::from_secs(100);
        s.peer_notice(PeerNotice::IceDisconnected, again);
        assert!(ended(&s.tick(again + RESTART_WAIT)).is_some());
    }

    #[test]
    fn a_callee_that_noticed_nothing_follows_the_callers_restart() {
        let t0 = Instant::now();
        let mut s = callee_accepted(t0);
        offer(&mut s);
        s.peer_notice(PeerNotice::Connected, t0);
        let out = offer(&mut s);
        assert_eq!(
            out[0],
            Action::Emit(CallEvent::PathLost {
                peer: "alice".into()
            })
        );
        let t1 = t0 + Duration::from_secs(30);
        s.peer_notice(PeerNotice::LocalDescription(sdp(SdpKind::Answer)), t1);
        let out = s.peer_notice(PeerNotice::Connected, t1 + Duration::from_millis(300));
        assert_eq!(
            out,
            vec![Action::Emit(CallEvent::PathRestored {
                peer: "alice".into(),
                after: Duration::from_millis(300)
            })]
        );
    }

    #[test]
    fn the_callee_waits_for_the_new_offer_and_starts_over_with_it() {
        let t0 = Instant::now();
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        s.signaling(SignalingEvent::Incoming {
            from: "alice".into(),
            call_id: "c1".into(),
            room: None,
        });
        s.command(CallCommand::Accept, t0);
        let offer = |s: &mut Session| {
            s.signaling(SignalingEvent::Signal {
                from: "alice".into(),
                call_id: "c1".into(),
                data: SignalData::Sdp {
                    sdp: sdp(SdpKind::Offer),
                },
            })
        };
        assert_eq!(
            offer(&mut s),
            vec![Action::ApplyRemoteDescription(sdp(SdpKind::Offer))]
        );
        s.peer_notice(PeerNotice::IceConnected, t0);
        let out = s.peer_notice(PeerNotice::Failed("DTLS".into()), t0);
        assert_eq!(out[0], Action::ClosePeer);
        assert!(ended(&out).is_none());
        // Candidates of the closed connection go nowhere.
        let stale = s.signaling(SignalingEvent::Signal {
            from: "alice".into(),
            call_id: "c1".into(),
            data: SignalData::Candidate { candidate: None },
        });
        assert!(stale.is_empty());
        // The caller's new offer: a new connection for it.
        assert_eq!(
            offer(&mut s),
            vec![
                Action::StartPeer {
                    call_id: "c1".into(),
                    role: Role::Callee
                },
                Action::ApplyRemoteDescription(sdp(SdpKind::Offer))
            ]
        );
        // No new offer within NEW_OFFER_WAIT after a failure: the call ends.
        s.peer_notice(PeerNotice::IceConnected, t0);
        assert!(ended(&s.peer_notice(PeerNotice::Failed("DTLS".into()), t0)).is_none());
        assert!(s.tick(t0 + NEW_OFFER_WAIT / 2).is_empty());
        let out = s.tick(t0 + NEW_OFFER_WAIT);
        assert!(matches!(
            ended(&out),
            Some((EndedBy::Local, EndReason::ConnectionFailed(_)))
        ));
    }

    #[test]
    fn a_new_offer_while_the_connection_still_lives_restarts_it() {
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        s.signaling(SignalingEvent::Incoming {
            from: "alice".into(),
            call_id: "c1".into(),
            room: None,
        });
        s.command(CallCommand::Accept, Instant::now());
        let offer = SignalingEvent::Signal {
            from: "alice".into(),
            call_id: "c1".into(),
            data: SignalData::Sdp {
                sdp: sdp(SdpKind::Offer),
            },
        };
        s.signaling(offer.clone());
        let out = s.signaling(offer.clone());
        assert_eq!(out[0], Action::ClosePeer);
        assert!(matches!(out[1], Action::StartPeer { .. }));
        // Even once connected: peercall's caller only sends another offer to start over.
        s.peer_notice(PeerNotice::Connected, Instant::now());
        let out = s.signaling(offer);
        assert!(matches!(out[0], Action::Emit(CallEvent::PathLost { .. })));
        assert_eq!(out[1], Action::ClosePeer);
    }

    #[test]
    fn what_rings_holds_a_bounded_number_of_signals() {
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        s.signaling(SignalingEvent::Incoming {
            from: "alice".into(),
            call_id: "c1".into(),
            room: None,
        });
        for i in 0..10_000 {
            s.signaling(SignalingEvent::Signal {
                from: "alice".into(),
                call_id: "c1".into(),
                data: SignalData::Candidate {
                    candidate: Some(IceCandidate {
                        candidate: format!("candidate:{i} 1 udp 1 10.0.0.1 {i} typ host"),
                        sdp_mid: None,
                        sdp_mline_index: None,
                        username_fragment: None,
                    }),
                },
            });
        }
        let out = s.command(CallCommand::Accept, Instant::now());
        let applied = out
            .iter()
            .filter(|a| matches!(a, Action::AddRemoteCandidate(_)))
            .count();
        assert_eq!(applied, MAX_EARLY_SIGNALS);
    }

    #[test]
    fn an_accepted_call_that_never_connects_ends() {
        let t0 = Instant::now();
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        let call_id = dial(&mut s);
        s.signaling(SignalingEvent::Accepted {
            from: "bob".into(),
            call_id: call_id.clone(),
        });
        assert!(s.tick(t0).is_empty());
        assert!(s
            .tick(t0 + CONNECT_TIMEOUT - Duration::from_secs(1))
            .is_empty());
        let out = s.tick(t0 + CONNECT_TIMEOUT);
        assert_eq!(out[0], Action::Signal(ClientMessage::Hangup { call_id }));
        let Some((EndedBy::Local, EndReason::ConnectionFailed(why))) = ended(&out) else {
            panic!("{out:?}")
        };
        assert!(why.contains("30 s after the call was accepted"), "{why}");
    }
}
