//! What the window shows, as plain data. Events from the backend change it ([`AppState::apply`]);
//! the views only read it and return actions. Pure: tested without a window.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use signaling_client::SignalingKind;

use crate::call::{CallEvent, CallStats, EndReason, EndedBy, MediaKind};

/// Stats samples kept for the plots (one a second: two minutes).
const STATS_HISTORY: usize = 120;
/// Chat lines kept.
const CHAT_HISTORY: usize = 200;

/// What the backend reports besides call events.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendEvent {
    Connecting {
        server: String,
    },
    /// Signaling is up; `embedded` when we run the server ourselves.
    Connected {
        server: String,
        kind: SignalingKind,
        embedded: bool,
        lan_urls: Vec<String>,
        /// The https addresses' certificate (SHA-256), to compare with what a browser shows.
        lan_fingerprint: Option<String>,
    },
    Unreachable {
        server: String,
        reason: String,
    },
    Notice(String),
    /// Copy-paste signaling: the line to hand to the other side now (`None`: nothing to copy).
    ManualLine(Option<String>),
    /// What became of a pasted line.
    Pasted(Result<(), String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum UiEvent {
    Backend(BackendEvent),
    Call(CallEvent),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    Connecting,
    Online,
    /// Lost or never reached; the backend retries by itself (lost) or on request (unreachable).
    Offline {
        reason: String,
        retrying: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum CallView {
    Idle,
    Calling {
        peer: String,
        since: Instant,
    },
    Incoming {
        peer: String,
    },
    InCall {
        peer: String,
        /// When media connected; `None` while connecting.
        since: Option<Instant>,
    },
}

/// How the connection looks, from its stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    Good,
    Fair,
    Poor,
    Unknown,
}

#[derive(Debug, Clone)]
pub struct StatsPoint {
    pub at: Instant,
    pub stats: CallStats,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    pub mine: bool,
    pub text: String,
}

#[derive(Debug)]
pub struct AppState {
    pub my_id: Option<String>,
    pub server: String,
    /// What the server is; it says what people dial.
    pub signaling: SignalingKind,
    pub embedded_server: bool,
    /// Addresses a browser on the LAN can open.
    pub lan_urls: Vec<String>,
    /// Their certificate's SHA-256 fingerprint, when they are https.
    pub lan_fingerprint: Option<String>,
    pub connection: Connection,
    /// Who else is online, as the transport's presence list last said (sorted to show).
    pub peers: BTreeSet<String>,
    pub call: CallView,
    /// How the last call attempt or call ended, in words.
    pub outcome: Option<String>,
    pub mic_muted: bool,
    pub camera_off: bool,
    pub remote_mic_muted: bool,
    pub remote_camera_off: bool,
    /// Whose path broke: their connection is being made again ("reconnecting…").
    pub reconnecting: BTreeSet<String>,
    pub stats: VecDeque<StatsPoint>,
    /// What the microphone's processing measured (the level it sends, the echo it removes).
    pub voice: Option<crate::media::voice::VoiceStatsSnapshot>,
    pub chat: VecDeque<ChatLine>,
    /// Problems that do not end a call (no camera, …), newest last.
    pub notices: VecDeque<String>,
    /// The remote video's size, once frames arrive.
    pub remote_size: Option<(u32, u32)>,
    /// Copy-paste signaling: our line for the other side, while there is one.
    pub manual_line: Option<String>,
    /// The room of a group call we are in.
    pub room: Option<String>,
    /// Each other person's microphone and camera, as they said.
    pub remote_states: std::collections::BTreeMap<String, RemoteState>,
    /// Why the last pasted line was not taken.
    pub paste_problem: Option<String>,
    /// Files sent and offered in this call (and the last one).
    pub files: crate::ui::files::FileList,
    /// Calls made and missed, kept on disk.
    pub recents: crate::ui::recents::Recents,
    /// Starred peer IDs with their names, kept on disk.
    pub contacts: crate::ui::contacts::Contacts,
    /// Checking the camera and microphone on the main screen: on, and the microphone's level.
    pub preview_on: bool,
    pub mic_level_dbfs: Option<f32>,
    /// Calls are answered busy (the engine says when it changes).
    pub do_not_disturb: bool,
    /// We share our screen in this call.
    pub sharing: bool,
    /// Who shares their screen with us (their share is shown large).
    pub remote_sharing: Option<String>,
    /// Each other person's verification code (the same on their screen unless someone sits in
    /// the middle).
    pub verification: std::collections::BTreeMap<String, String>,
}

impl Default for AppState {
    fn default() -> Self {
        AppState {
            my_id: None,
            server: String::new(),
            signaling: SignalingKind::Peercall,
            embedded_server: false,
            lan_urls: Vec::new(),
            lan_fingerprint: None,
            connection: Connection::Connecting,
            peers: BTreeSet::new(),
            call: CallView::Idle,
            outcome: None,
            mic_muted: false,
            camera_off: false,
            remote_mic_muted: false,
            remote_camera_off: false,
            reconnecting: BTreeSet::new(),
            stats: VecDeque::new(),
            voice: None,
            chat: VecDeque::new(),
            notices: VecDeque::new(),
            remote_size: None,
            manual_line: None,
            paste_problem: None,
            files: Default::default(),
            verification: Default::default(),
            recents: Default::default(),
            do_not_disturb: false,
            sharing: false,
            remote_sharing: None,
            contacts: Default::default(),
            preview_on: false,
            mic_level_dbfs: None,
            room: None,
            remote_states: std::collections::BTreeMap::new(),
        }
    }
}

/// What another person said about their microphone and camera.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoteState {
    pub mic_muted: bool,
    pub camera_off: bool,
}

impl AppState {
    pub fn remote_state(&self, peer: &str) -> RemoteState {
        self.remote_states.get(peer).copied().unwrap_or_default()
    }

    /// How a peer is named on screen: a pasted line carries no name.
    pub fn peer_name<'a>(&self, peer: &'a str) -> &'a str {
        match self.signaling {
            SignalingKind::Manual => "the other side",
            _ => peer,
        }
    }

    pub fn apply(&mut self, event: UiEvent, now: Instant) {
        match event {
            UiEvent::Backend(event) => self.apply_backend(event),
            UiEvent::Call(event) => self.apply_call(event, now),
        }
    }

    fn apply_backend(&mut self, event: BackendEvent) {
        match event {
            BackendEvent::Connecting { server } => {
                self.server = server;
                self.connection = Connection::Connecting;
            }
            BackendEvent::Connected {
                server,
                kind,
                embedded,
                lan_urls,
                lan_fingerprint,
            } => {
                self.server = server;
                self.signaling = kind;
                self.manual_line = None;
                self.paste_problem = None;
                self.embedded_server = embedded;
                self.lan_urls = lan_urls;
                self.lan_fingerprint = lan_fingerprint;
                self.connection = Connection::Online;
            }
            BackendEvent::Unreachable { server, reason } => {
                self.server = server;
                self.connection = Connection::Offline {
                    reason,
                    retrying: false,
                };
            }
            BackendEvent::Notice(text) => self.notice(text),
            BackendEvent::ManualLine(line) => self.manual_line = line,
            BackendEvent::Pasted(outcome) => self.paste_problem = outcome.err(),
        }
    }

    fn apply_call(&mut self, event: CallEvent, now: Instant) {
        match event {
            CallEvent::File { peer, event } => self.files.apply(peer, event, now),
            CallEvent::DoNotDisturb(on) => self.do_not_disturb = on,
            CallEvent::Sharing(on) => self.sharing = on,
            CallEvent::RemoteSharing { peer, on } => {
                if on {
                    self.remote_sharing = Some(peer);
                } else if self.remote_sharing.as_ref() == Some(&peer) {
                    self.remote_sharing = None;
                }
            }
            CallEvent::Verification { peer, code } => {
                self.verification.insert(peer, code);
            }
            CallEvent::Registered { id } => {
                self.my_id = Some(id);
                self.connection = Connection::Online;
            }
            CallEvent::SignalingLost { reason } => {
                self.connection = Connection::Offline {
                    reason,
                    retrying: true,
                };
            }
            // In a room, legs to the members (and invitations) are dialled inside the call.
            CallEvent::Calling { .. } if self.room.is_some() => {}
            CallEvent::Calling { peer, .. } => {
                self.recents.calling(&peer);
                self.start_call();
                self.call = CallView::Calling { peer, since: now };
            }
            CallEvent::Incoming { peer, .. } => {
                self.recents.ringing(&peer);
                self.start_call();
                self.call = CallView::Incoming { peer };
            }
            CallEvent::MissedWhileBusy { peer } => {
                self.recents.missed_while_busy(&peer);
                if !self.do_not_disturb {
                    self.notice(format!("{peer} called while you were busy"))
                }
            }
            CallEvent::Accepted { peer } => {
                if !matches!(self.call, CallView::InCall { .. }) {
                    self.call = CallView::InCall { peer, since: None };
                }
            }
            CallEvent::IceConnected => {}
            CallEvent::Reconnecting { why } => self.notice(format!(
                "The connection did not come up ({why}); trying again"
            )),
            CallEvent::Connected { peer } => {
                self.recents.connected(now);
                // In a room, legs connect one by one: the call started with the first.
                let since = match &self.call {
                    CallView::InCall {
                        since: Some(since), ..
                    } => *since,
                    _ => now,
                };
                let peer = match (&self.call, &self.room) {
                    (CallView::InCall { peer, .. }, Some(_)) => peer.clone(),
                    _ => peer,
                };
                self.call = CallView::InCall {
                    peer,
                    since: Some(since),
                };
            }
            CallEvent::RoomJoined { room, .. } => {
                if !matches!(self.call, CallView::InCall { .. }) {
                    self.start_call();
                }
                self.room = Some(room.clone());
                self.call = CallView::InCall {
                    peer: format!("room {room}"),
                    since: None,
                };
            }
            CallEvent::MemberJoined(peer) => self.notice(format!("{peer} joined the room")),
            CallEvent::MemberLeft(peer) => self.notice(format!("{peer} left the room")),
            CallEvent::ParticipantLeft { peer, reason } => {
                self.notice(format!("{peer} is no longer in the call: {reason}"))
            }
            CallEvent::LocalMuted { kind, muted } => match kind {
                MediaKind::Audio => self.mic_muted = muted,
                MediaKind::Video => self.camera_off = muted,
            },
            CallEvent::RemoteMuted { peer, kind, muted } => {
                let remote = self.remote_states.entry(peer).or_default();
                match kind {
                    MediaKind::Audio => {
                        remote.mic_muted = muted;
                        self.remote_mic_muted = muted;
                    }
                    MediaKind::Video => {
                        remote.camera_off = muted;
                        self.remote_camera_off = muted;
                    }
                }
            }
            CallEvent::Chat { text, .. } => self.push_chat(false, text),
            CallEvent::RemoteFrame { width, height } => self.remote_size = Some((width, height)),
            CallEvent::Stats(stats) => {
                if self.stats.len() == STATS_HISTORY {
                    self.stats.pop_front();
                }
                self.stats.push_back(StatsPoint { at: now, stats });
            }
            CallEvent::Ended { peer, by, reason } => {
                self.recents.ended(by, &reason, now);
                self.outcome = Some(match &self.room {
                    Some(room) if matches!(reason, EndReason::HungUp | EndReason::PeerGone) => {
                        format!("The call in room {room} ended")
                    }
                    _ => describe_end(&peer, by, &reason),
                });
                self.room = None;
                self.sharing = false;
                self.remote_sharing = None;
                self.call = CallView::Idle;
                self.remote_size = None;
            }
            CallEvent::Error(text) => self.notice(text),
            CallEvent::PathLost { peer } => {
                self.reconnecting.insert(peer);
            }
            CallEvent::PathRestored { peer, after } => {
                self.reconnecting.remove(&peer);
                tracing::info!(%peer, ?after, "connected again");
            }
        }
    }

    /// The missed calls were seen: they are no longer called out (they stay in the list).
    pub fn missed_seen(&mut self) {
        self.recents.mark_seen();
        if self
            .outcome
            .as_ref()
            .is_some_and(|o| o.starts_with("Missed call"))
        {
            self.outcome = None;
        }
    }

    fn start_call(&mut self) {
        self.outcome = None;
        self.verification.clear();
        self.reconnecting.clear();
        self.remote_states.clear();
        self.remote_mic_muted = false;
        self.remote_camera_off = false;
        self.remote_size = None;
        self.stats.clear();
        self.chat.clear();
    }

    pub fn push_chat(&mut self, mine: bool, text: String) {
        if self.chat.len() == CHAT_HISTORY {
            self.chat.pop_front();
        }
        self.chat.push_back(ChatLine { mine, text });
    }

    pub(crate) fn notice(&mut self, text: String) {
        if self.notices.len() == 5 {
            self.notices.pop_front();
        }
        self.notices.push_back(text);
    }

    /// How long media has been connected.
    pub fn call_duration(&self, now: Instant) -> Option<Duration> {
        match &self.call {
            CallView::InCall {
                since: Some(since), ..
            } => Some(now.saturating_duration_since(*since)),
            _ => None,
        }
    }

    pub fn quality(&self) -> Quality {
        let Some(last) = self.stats.back() else {
            return Quality::Unknown;
        };
        let s = &last.stats;
        let rtt = s.rtt_ms.unwrap_or(0.0);
        let loss_rate = match self.stats.iter().rev().nth(5) {
            Some(earlier) => (s.packets_lost - earlier.stats.packets_lost).max(0) as f64 / 5.0,
            None => 0.0,
        };
        if rtt > 400.0 || loss_rate > 20.0 || (s.fps_in > 0.0 && s.fps_in < 8.0) {
            Quality::Poor
        } else if rtt > 150.0 || loss_rate > 3.0 || (s.fps_in > 0.0 && s.fps_in < 20.0) {
            Quality::Fair
        } else {
            Quality::Good
        }
    }
}

/// The end of a call in words, from this side's point of view.
pub fn describe_end(peer: &str, by: EndedBy, reason: &EndReason) -> String {
    match (by, reason) {
        (_, EndReason::Declined) if by == EndedBy::Remote => format!("{peer} declined the call"),
        (_, EndReason::Declined) => format!("You declined {peer}'s call"),
        (_, EndReason::Busy) => format!("{peer} is busy in another call"),
        (_, EndReason::UnknownPeer) => format!("{peer} is not online"),
        (_, EndReason::NoAnswer) => format!("{peer} did not answer"),
        (EndedBy::Remote, EndReason::Cancelled) => format!("Missed call from {peer}"),
        (EndedBy::Local, EndReason::Cancelled) => "Call cancelled".to_string(),
        (EndedBy::Remote, EndReason::HungUp) => format!("{peer} hung up"),
        (EndedBy::Local, EndReason::HungUp) => format!("Call with {peer} ended"),
        (_, EndReason::PeerGone) => format!("{peer} went away: their connection was lost"),
        (_, EndReason::ConnectionFailed(why)) if why.contains("lost") => {
            format!("The connection to {peer} was lost and could not be made again")
        }
        (_, EndReason::ConnectionFailed(why)) => format!("Could not connect to {peer}: {why}"),
        (_, EndReason::SignalingLost(_)) => {
            format!("The connection to the server was lost before the call with {peer} connected")
        }
        (_, other) => format!("Call ended: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(e: CallEvent) -> UiEvent {
        UiEvent::Call(e)
    }

    #[test]
    fn registration_and_its_loss() {
        let mut s = AppState::default();
        let now = Instant::now();
        s.apply(call(CallEvent::Registered { id: "alice".into() }), now);
        assert_eq!(s.my_id.as_deref(), Some("alice"));
        assert_eq!(s.connection, Connection::Online);
        s.apply(
            call(CallEvent::SignalingLost {
                reason: "closed".into(),
            }),
            now,
        );
        assert!(matches!(
            s.connection,
            Connection::Offline { retrying: true, .. }
        ));
    }

    #[test]
    fn a_call_goes_through_its_views() {
        let mut s = AppState::default();
        let t0 = Instant::now();
        s.apply(
            call(CallEvent::Calling {
                peer: "bob".into(),
                call_id: "c".into(),
            }),
            t0,
        );
        assert!(matches!(s.call, CallView::Calling { .. }));
        s.apply(call(CallEvent::Accepted { peer: "bob".into() }), t0);
        s.apply(call(CallEvent::Connected { peer: "bob".into() }), t0);
        assert_eq!(
            s.call_duration(t0 + Duration::from_secs(3)),
            Some(Duration::from_secs(3))
        );
        s.apply(
            call(CallEvent::RemoteMuted {
                peer: "bob".into(),
                kind: MediaKind::Video,
                muted: true,
            }),
            t0,
        );
        assert!(s.remote_camera_off);
        s.apply(
            call(CallEvent::Ended {
                peer: "bob".into(),
                by: EndedBy::Remote,
                reason: EndReason::HungUp,
            }),
            t0,
        );
        assert_eq!(s.call, CallView::Idle);
        assert_eq!(s.outcome.as_deref(), Some("bob hung up"));
        // The next call starts clean.
        s.apply(
            call(CallEvent::Incoming {
                peer: "carol".into(),
                call_id: "d".into(),
                room: None,
            }),
            t0,
        );
        assert!(!s.remote_camera_off);
        assert_eq!(s.outcome, None);
    }

    #[test]
    fn a_room_is_one_call_with_a_state_for_each_person() {
        let mut s = AppState::default();
        let t0 = Instant::now();
        s.apply(
            call(CallEvent::RoomJoined {
                room: "standup".into(),
                members: vec!["bob".into(), "carol".into()],
            }),
            t0,
        );
        let in_room = |s: &AppState| matches!(&s.call, CallView::InCall { peer, .. } if peer == "room standup");
        assert!(in_room(&s));
        // Legs to the members are dialled and connect inside the call.
        for peer in ["bob", "carol"] {
            s.apply(
                call(CallEvent::Calling {
                    peer: peer.into(),
                    call_id: format!("c-{peer}"),
                }),
                t0,
            );
            s.apply(call(CallEvent::Connected { peer: peer.into() }), t0);
            assert!(in_room(&s), "{:?}", s.call);
        }
        let later = t0 + Duration::from_secs(5);
        s.apply(
            call(CallEvent::Connected {
                peer: "dave".into(),
            }),
            later,
        );
        assert_eq!(s.call_duration(later), Some(Duration::from_secs(5)));
        s.apply(
            call(CallEvent::RemoteMuted {
                peer: "carol".into(),
                kind: MediaKind::Audio,
                muted: true,
            }),
            t0,
        );
        assert!(s.remote_state("carol").mic_muted);
        assert!(!s.remote_state("bob").mic_muted);
        // Our own mute shows once the engine, its owner, says so.
        assert!(!s.mic_muted);
        s.apply(
            call(CallEvent::LocalMuted {
                kind: MediaKind::Audio,
                muted: true,
            }),
            t0,
        );
        assert!(s.mic_muted && !s.camera_off);
        s.apply(
            call(CallEvent::Ended {
                peer: "bob".into(),
                by: EndedBy::Remote,
                reason: EndReason::HungUp,
            }),
            t0,
        );
        assert_eq!(s.call, CallView::Idle);
        assert_eq!(s.outcome.as_deref(), Some("The call in room standup ended"));
        assert_eq!(s.room, None);
    }

    #[test]
    fn outcomes_in_words() {
        assert_eq!(
            describe_end("bob", EndedBy::Remote, &EndReason::Declined),
            "bob declined the call"
        );
        assert_eq!(
            describe_end("bob", EndedBy::Remote, &EndReason::Busy),
            "bob is busy in another call"
        );
        assert_eq!(
            describe_end("bob", EndedBy::Local, &EndReason::UnknownPeer),
            "bob is not online"
        );
        assert_eq!(
            describe_end("bob", EndedBy::Local, &EndReason::NoAnswer),
            "bob did not answer"
        );
        let lost = EndReason::ConnectionFailed(
            "the connection was lost and could not be made again".into(),
        );
        assert_eq!(
            describe_end("bob", EndedBy::Local, &lost),
            "The connection to bob was lost and could not be made again"
        );
        assert_eq!(
            describe_end("bob", EndedBy::Remote, &EndReason::PeerGone),
            "bob went away: their connection was lost"
        );
    }

    #[test]
    fn quality_from_stats() {
        let mut s = AppState::default();
        assert_eq!(s.quality(), Quality::Unknown);
        let now = Instant::now();
        let stats = |rtt: f64, fps: f64| {
            call(CallEvent::Stats(CallStats {
                rtt_ms: Some(rtt),
                fps_in: fps,
                ..CallStats::default()
            }))
        };
        s.apply(stats(20.0, 30.0), now);
        assert_eq!(s.quality(), Quality::Good);
        s.apply(stats(250.0, 30.0), now);
        assert_eq!(s.quality(), Quality::Fair);
        s.apply(stats(20.0, 5.0), now);
        assert_eq!(s.quality(), Quality::Poor);
    }
}
