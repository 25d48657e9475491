//! The call state machine: one peer's view of its (at most one) call, as pure logic.
//!
//! Inputs are the user's commands, what signaling says, and what the peer connection reports;
//! outputs are [`Action`]s for the engine to carry out (send a signaling message, start or close
//! the peer connection, apply remote SDP, send a control message) and [`CallEvent`]s for the UI.
//! No sockets, no clock: time comes in with [`Session::tick`], as in RingRTC and str0m.

use std::time::{Duration, Instant};

use signaling_client::ids::random_call_id;
use signaling_client::{
    ClientMessage, ErrorCode, HangupReason, IceCandidate, RejectReason, SessionDescription,
    SignalData, SignalingEvent,
};

use super::control::{ControlMessage, Parsed};
use super::events::{CallEvent, EndReason, EndedBy, MediaKind};

/// A caller gives up after this long without an answer.
pub const DEFAULT_NO_ANSWER: Duration = Duration::from_secs(45);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Creates the offer and the control channel.
    Caller,
    Callee,
}

/// What the user asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallCommand {
    Dial(String),
    Accept,
    Decline,
    HangUp,
    MuteAudio(bool),
    MuteVideo(bool),
    Chat(String),
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
    Connected,
    ControlOpen,
    Control(Parsed),
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
    ClosePeer,
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
    audio_muted: bool,
    video_muted: bool,
    connected: bool,
}

impl Session {
    pub fn new(no_answer: Duration) -> Self {
        Session {
            phase: Phase::Idle,
            no_answer,
            audio_muted: false,
            video_muted: false,
            connected: false,
        }
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

    pub fn muted(&self) -> (bool, bool) {
        (self.audio_muted, self.video_muted)
    }

    /// Whether a peer connection exists (after dialling, or after accepting).
    fn has_peer(&self) -> bool {
        matches!(self.phase, Phase::Outgoing { .. } | Phase::Answered { .. })
    }

    pub fn command(&mut self, command: CallCommand, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match command {
            CallCommand::Dial(peer) => {
                if self.in_call() {
                    out.push(Action::Emit(CallEvent::Error(
                        "already in a call: hang up first".into(),
                    )));
                    return out;
                }
                let call_id = random_call_id();
                out.push(Action::Signal(ClientMessage::Call {
                    to: peer.clone(),
                    call_id: call_id.clone(),
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
                self.phase = Phase::Outgoing {
                    call_id,
                    peer,
                    since: now,
                    accepted: false,
                };
            }
            CallCommand::Accept => {
                let Phase::Ringing {
                    call_id,
                    peer,
                    early,
                } = std::mem::replace(&mut self.phase, Phase::Idle)
                else {
                    return out;
                };
                out.push(Action::Signal(ClientMessage::Accept {
                    call_id: call_id.clone(),
                }));
                out.push(Action::StartPeer {
                    call_id: call_id.clone(),
                    role: Role::Callee,
                });
                out.push(Action::Emit(CallEvent::Accepted { peer: peer.clone() }));
                for data in early {
                    out.push(apply(data));
                }
                self.connected = false;
                self.phase = Phase::Answered { call_id, peer };
            }
            CallCommand::Decline => {
                if let Phase::Ringing { call_id, .. } = &self.phase {
                    out.push(Action::Signal(ClientMessage::Reject {
                        call_id: call_id.clone(),
                        reason: RejectReason::Declined,
                    }));
                    self.end(EndedBy::Local, EndReason::Declined, false, &mut out);
                }
            }
            CallCommand::HangUp => match &self.phase {
                Phase::Idle => {}
                Phase::Ringing { .. } => return self.command(CallCommand::Decline, now),
                Phase::Outgoing {
                    call_id, accepted, ..
                } => {
                    let reason = if *accepted {
                        EndReason::HungUp
                    } else {
                        EndReason::Cancelled
                    };
                    if *accepted {
                        out.push(Action::SendControl(ControlMessage::Reject.to_json()));
                    }
                    out.push(Action::Signal(ClientMessage::Hangup {
                        call_id: call_id.clone(),
                    }));
                    self.end(EndedBy::Local, reason, true, &mut out);
                }
                Phase::Answered { call_id, .. } => {
                    out.push(Action::SendControl(ControlMessage::Reject.to_json()));
                    out.push(Action::Signal(ClientMessage::Hangup {
                        call_id: call_id.clone(),
                    }));
                    self.end(EndedBy::Local, EndReason::HungUp, true, &mut out);
                }
            },
            CallCommand::MuteAudio(muted) => {
                self.audio_muted = muted;
                if self.has_peer() {
                    out.push(Action::SendControl(
                        ControlMessage::MuteAudio(muted).to_json(),
                    ));
                }
            }
            CallCommand::MuteVideo(muted) => {
                self.video_muted = muted;
                if self.has_peer() {
                    out.push(Action::SendControl(
                        ControlMessage::MuteVideo(muted).to_json(),
                    ));
                }
            }
            CallCommand::Chat(text) => {
                if self.has_peer() {
                    out.push(Action::SendControl(ControlMessage::Chat(text).to_json()));
                }
            }
            CallCommand::RawControl(text) => {
                if self.has_peer() {
                    out.push(Action::SendControl(text));
                }
            }
        }
        out
    }

    pub fn signaling(&mut self, event: SignalingEvent) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            SignalingEvent::Incoming { from, call_id } => {
                if self.in_call() {
                    out.push(Action::Signal(ClientMessage::Reject {
                        call_id,
                        reason: RejectReason::Busy,
                    }));
                    out.push(Action::Emit(CallEvent::MissedWhileBusy { peer: from }));
                } else {
                    out.push(Action::Emit(CallEvent::Incoming {
                        peer: from.clone(),
                        call_id: call_id.clone(),
                    }));
                    self.phase = Phase::Ringing {
                        call_id,
                        peer: from,
                        early: Vec::new(),
                    };
                }
            }
            SignalingEvent::Accepted { call_id, from } => {
                if let Phase::Outgoing {
                    call_id: ours,
                    accepted,
                    ..
                } = &mut self.phase
                {
                    if *ours == call_id && !*accepted {
                        *accepted = true;
                        out.push(Action::Emit(CallEvent::Accepted { peer: from }));
                    }
                }
            }
            SignalingEvent::Rejected {
                call_id, reason, ..
            } if self.is_current(&call_id) => {
                let reason = match reason {
                    RejectReason::Busy => EndReason::Busy,
                    RejectReason::Declined => EndReason::Declined,
                };
                self.end(EndedBy::Remote, reason, true, &mut out);
            }
            SignalingEvent::Signal { call_id, data, .. } => {
                if !self.is_current(&call_id) {
                    return out;
                }
                match &mut self.phase {
                    Phase::Ringing { early, .. } => early.push(data),
                    _ => out.push(apply(data)),
                }
            }
            SignalingEvent::Hangup {
                call_id, reason, ..
            } if self.is_current(&call_id) => {
                let reason = match reason {
                    Some(HangupReason::Gone) => EndReason::PeerGone,
                    Some(HangupReason::Timeout) => EndReason::NoAnswer,
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
                self.end(EndedBy::Remote, reason, had_peer, &mut out);
            }
            SignalingEvent::Error {
                code,
                message,
                call_id: Some(call_id),
            } if self.is_current(&call_id) => {
                let reason = match code {
                    ErrorCode::UnknownPeer => EndReason::UnknownPeer,
                    _ => EndReason::Failed(format!("{code}: {message}")),
                };
                let had_peer = self.has_peer();
                self.end(EndedBy::Local, reason, had_peer, &mut out);
            }
            SignalingEvent::Disconnected { reason } if self.in_call() => {
                let had_peer = self.has_peer();
                self.end(
                    EndedBy::Local,
                    EndReason::SignalingLost(reason),
                    had_peer,
                    &mut out,
                );
            }
            _ => {}
        }
        out
    }

    pub fn peer_notice(&mut self, notice: PeerNotice) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(call_id) = self.call_id().map(str::to_string) else {
            return out;
        };
        if !self.has_peer() {
            return out;
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
            PeerNotice::IceConnected => out.push(Action::Emit(CallEvent::IceConnected)),
            PeerNotice::Connected => {
                if !self.connected {
                    self.connected = true;
                    let peer = self.peer().unwrap_or_default().to_string();
                    out.push(Action::Emit(CallEvent::Connected { peer }));
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
            PeerNotice::Control(parsed) => match parsed {
                Parsed::Message(ControlMessage::MuteAudio(muted)) => {
                    out.push(Action::Emit(CallEvent::RemoteMuted {
                        kind: MediaKind::Audio,
                        muted,
                    }))
                }
                Parsed::Message(ControlMessage::MuteVideo(muted)) => {
                    out.push(Action::Emit(CallEvent::RemoteMuted {
                        kind: MediaKind::Video,
                        muted,
                    }))
                }
                Parsed::Message(ControlMessage::Chat(text)) => {
                    out.push(Action::Emit(CallEvent::Chat { text }))
                }
                Parsed::Message(ControlMessage::Reject) => {
                    // The remote also hangs up through signaling; saying so again would only
                    // earn an `unknown_call`.
                    self.end(EndedBy::Remote, EndReason::HungUp, true, &mut out);
                }
                Parsed::Unknown(code) => {
                    tracing::debug!(%code, "ignoring an unknown control code");
                }
                Parsed::Malformed(why) => {
                    tracing::warn!(%why, "ignoring a malformed control message");
                }
            },
            PeerNotice::Failed(why) => {
                out.push(Action::Signal(ClientMessage::Hangup { call_id }));
                self.end(
                    EndedBy::Local,
                    EndReason::ConnectionFailed(why),
                    true,
                    &mut out,
                );
            }
        }
        out
    }

    /// Gives up on a call nobody answers.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if let Phase::Outgoing {
            call_id,
            since,
            accepted: false,
            ..
        } = &self.phase
        {
            if now.duration_since(*since) >= self.no_answer {
                out.push(Action::Signal(ClientMessage::Hangup {
                    call_id: call_id.clone(),
                }));
                self.end(EndedBy::Local, EndReason::NoAnswer, true, &mut out);
            }
        }
        out
    }

    fn is_current(&self, call_id: &str) -> bool {
        self.call_id() == Some(call_id)
    }

    fn end(&mut self, by: EndedBy, reason: EndReason, close_peer: bool, out: &mut Vec<Action>) {
        if close_peer {
            out.push(Action::ClosePeer);
        }
        let peer = self.peer().unwrap_or_default().to_string();
        out.push(Action::Emit(CallEvent::Ended { peer, by, reason }));
        self.phase = Phase::Idle;
        self.connected = false;
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
    use signaling_client::SdpKind;

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
        let Action::Signal(ClientMessage::Call { to, call_id }) = &out[0] else {
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

    #[test]
    fn caller_dials_is_accepted_negotiates_and_hangs_up() {
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        let call_id = dial(&mut s);
        let out = s.peer_notice(PeerNotice::LocalDescription(sdp(SdpKind::Offer)));
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
        let out = s.peer_notice(PeerNotice::Connected);
        assert_eq!(
            out,
            vec![Action::Emit(CallEvent::Connected { peer: "bob".into() })]
        );
        assert!(s.peer_notice(PeerNotice::Connected).is_empty());
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
        });
        assert_eq!(
            out,
            vec![Action::Emit(CallEvent::Incoming {
                peer: "alice".into(),
                call_id: "c1".into()
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
            s.peer_notice(PeerNotice::ControlOpen),
            vec![Action::SendControl(
                ControlMessage::MuteAudio(true).to_json()
            )]
        );
        let out = s.peer_notice(PeerNotice::Control(Parsed::Message(ControlMessage::Reject)));
        assert_eq!(ended(&out), Some((EndedBy::Remote, EndReason::HungUp)));
    }

    #[test]
    fn busy_while_in_a_call() {
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        let call_id = dial(&mut s);
        let out = s.signaling(SignalingEvent::Incoming {
            from: "carol".into(),
            call_id: "c2".into(),
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
                call_id: Some(c)
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
        });
        let out = s.command(CallCommand::Decline, Instant::now());
        assert_eq!(
            out[0],
            Action::Signal(ClientMessage::Reject {
                call_id: "c2".into(),
                reason: RejectReason::Declined
            })
        );
        // A failed connection hangs up through signaling too.
        let mut s = Session::new(DEFAULT_NO_ANSWER);
        let call_id = dial(&mut s);
        let out = s.peer_notice(PeerNotice::Failed("ICE failed".into()));
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
            assert!(s.peer_notice(PeerNotice::Control(parsed)).is_empty());
        }
        assert!(s.in_call());
        let out = s.peer_notice(PeerNotice::Control(Parsed::Message(
            ControlMessage::MuteVideo(true),
        )));
        assert_eq!(
            out,
            vec![Action::Emit(CallEvent::RemoteMuted {
                kind: MediaKind::Video,
                muted: true
            })]
        );
    }
}
