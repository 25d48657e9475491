//! One leg of a call: the state machine of the call with one other person ([`Session`]), their
//! peer connection while there is one, its way out for our media ([`Outlet`]) and what the UI
//! and the report read about them ([`Participant`]).

use std::sync::Arc;
use std::time::Instant;

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{PeerConnection, StatsSelector};

use super::control::{ControlMessage, SCREEN_SHARE_FEATURE};
use super::receive_pipeline::VideoKind;

use super::events::{CallEvent, CallStats, IcePath};
use super::link::LinkStats;
use super::media_stats::MediaCounters;
use super::participant::Participant;
use super::peer::{BitrateLimits, ConnectionId, NetworkSettings, Peer, PeerEvents};
use super::send_pipeline::{Outlet, Outlets};
use super::session::{Role, Session};
use super::transfer::Transfers;

pub(crate) struct Leg {
    pub session: Session,
    pub peer: Option<Peer>,
    /// The current connection's number (its events carry it); 0 before the first.
    pub connection: ConnectionId,
    outlet: Option<Arc<Outlet>>,
    pub participant: Option<Arc<Participant>>,
    last_sample: Option<StatsSample>,
    /// Seconds in a row in which encoded media was refused by the connection, per kind.
    refused_seconds: (u32, u32),
    /// Files on their way to or from this person.
    pub transfers: Transfers,
    /// The current connection brought a camera track already: another video is a screen.
    camera_seen: bool,
    /// Tracks the other side opened on the current connection.
    remote_tracks: usize,
    /// What the other person's app announced it can do (`None`: nothing yet).
    remote_features: Option<Vec<String>>,
    /// We share our screen in this call; the connection carries it once the other side is
    /// known to take renegotiation offers.
    sharing: bool,
    /// When the current connection's control channel opened (the other side's `features`
    /// come right after).
    control_open_at: Option<Instant>,
}

/// Remote tracks taken per connection, at most: a camera, a microphone, and shared screens one
/// after another (each share stopped and started again is a new track).
const MAX_REMOTE_TRACKS: usize = 16;

/// A peer whose `features` have not come this long after the control channel opened has none
/// (an older app, or a transport that carries only chat).
const FEATURES_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

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

/// What a leg needs to start a connection.
pub(crate) struct ConnectionPlan<'a> {
    pub role: Role,
    pub connection: ConnectionId,
    pub network: &'a NetworkSettings,
    pub bitrate: BitrateLimits,
    pub chat: Option<&'static str>,
    pub events: PeerEvents,
    pub outlets: &'a Outlets,
}

impl Leg {
    pub fn new(session: Session) -> Leg {
        Leg {
            session,
            peer: None,
            connection: 0,
            outlet: None,
            participant: None,
            last_sample: None,
            refused_seconds: (0, 0),
            transfers: Transfers::default(),
            camera_seen: false,
            remote_tracks: 0,
            remote_features: None,
            sharing: false,
            control_open_at: None,
        }
    }

    pub fn control_opened(&mut self) {
        self.control_open_at.get_or_insert_with(Instant::now);
    }

    /// A share waiting for an announcement that did not come: they cannot take it (said once).
    pub fn share_deadline(&mut self, now: Instant) -> Option<String> {
        let waited = self
            .control_open_at
            .is_some_and(|t| now.saturating_duration_since(t) >= FEATURES_WAIT);
        if self.sharing && self.remote_features.is_none() && waited {
            self.remote_features = Some(Vec::new());
            let who = self.peer_id().unwrap_or_default();
            return Some(format!("{who}'s app cannot show a shared screen"));
        }
        None
    }

    /// Starts or stops sending our screen to this person. Only a peer that announced
    /// `screen_share` gets it (an offer on a connection in use would restart an older one's);
    /// until their announcement comes, the share waits. Returns an error to show when they
    /// cannot take it.
    pub async fn share(&mut self, on: bool) -> Option<String> {
        self.sharing = on;
        self.carry_share().await
    }

    /// What they can do arrived: a share waiting for it goes now.
    pub async fn remote_features(&mut self, features: Vec<String>) -> Option<String> {
        self.remote_features = Some(features);
        if self.sharing {
            return self.carry_share().await;
        }
        None
    }

    async fn carry_share(&mut self) -> Option<String> {
        let takes_it = match &self.remote_features {
            Some(features) => features.iter().any(|f| f == SCREEN_SHARE_FEATURE),
            None if self.sharing => return None, // their announcement is still to come
            None => false,
        };
        let who = self.peer_id().unwrap_or_default().to_string();
        let peer = self.peer.as_mut()?;
        if self.sharing && !takes_it {
            return Some(format!("{who}'s app cannot show a shared screen"));
        }
        let on = self.sharing;
        if !on && peer.share_track().is_none() && !peer.wants_share() {
            return None;
        }
        if let Err(e) = peer.set_sharing(on).await {
            tracing::warn!(error = %e, on, "cannot change what the connection carries");
        }
        let said = ControlMessage::ScreenShare(on).to_json();
        if let Err(e) = peer.send_control(&said).await {
            tracing::debug!(error = %e, "screen_share not sent");
        }
        self.follow_screen();
        None
    }

    /// The send pipeline writes to the connection's screen track, once it has one.
    pub fn follow_screen(&self) {
        if let (Some(peer), Some(outlet)) = (&self.peer, &self.outlet) {
            outlet.set_screen(peer.share_track());
        }
    }

    /// Which of the other person's videos a new track is: peercall names its tracks
    /// (`video-…`, `screen-…`); from others, the first video is the camera, any later one a
    /// shared screen. `None` past [`MAX_REMOTE_TRACKS`] on this connection: each track takes a
    /// decoder, and renegotiation lets the other side add tracks at will.
    pub async fn video_kind(&mut self, track: &Arc<dyn TrackRemote>) -> Option<VideoKind> {
        if self.remote_tracks >= MAX_REMOTE_TRACKS {
            tracing::warn!(peer = ?self.peer_id(), "a track beyond {MAX_REMOTE_TRACKS}: ignored");
            return None;
        }
        self.remote_tracks += 1;
        let id = track.track_id().await;
        let kind = if id.starts_with("screen-") {
            VideoKind::Screen
        } else if id.starts_with("video-") || !self.camera_seen {
            VideoKind::Camera
        } else {
            VideoKind::Screen
        };
        if kind == VideoKind::Camera && track.kind().await == RtpCodecKind::Video {
            self.camera_seen = true;
        }
        Some(kind)
    }

    /// The other person's ID, once the session knows it.
    pub fn peer_id(&self) -> Option<&str> {
        self.session.peer()
    }

    pub fn is_connected(&self) -> bool {
        self.outlet.as_ref().is_some_and(|o| o.is_connected())
    }

    /// A new connection (closing any before it), whose media the send pipeline serves once it
    /// is up.
    pub async fn start_peer(&mut self, plan: ConnectionPlan<'_>) -> Result<(), String> {
        self.close_peer(plan.outlets).await;
        let events = plan.events.for_connection(plan.connection);
        let peer = Peer::start(plan.role, plan.network, plan.bitrate, plan.chat, events)
            .await
            .map_err(|e| e.to_string())?;
        self.connection = plan.connection;
        if let Some(participant) = &self.participant {
            participant.set_link(peer.link.clone());
        }
        let outlet = Arc::new(Outlet::new(
            peer.video.clone(),
            peer.audio.clone(),
            peer.link.clone(),
        ));
        plan.outlets.add(outlet.clone());
        self.outlet = Some(outlet);
        self.peer = Some(peer);
        self.last_sample = None;
        self.refused_seconds = (0, 0);
        self.camera_seen = false;
        self.remote_tracks = 0;
        self.control_open_at = None;
        Ok(())
    }

    /// The connection is up: media may flow to it.
    pub fn connected(&self) {
        let dtls_client = self.peer.as_ref().is_some_and(Peer::dtls_client);
        tracing::debug!(dtls_client, peer = ?self.peer_id(), "connected");
        if let Some(outlet) = &self.outlet {
            outlet.set_connected(dtls_client);
        }
    }

    pub async fn close_peer(&mut self, outlets: &Outlets) {
        if let Some(outlet) = self.outlet.take() {
            outlets.remove(&outlet);
        }
        if let Some(peer) = self.peer.take() {
            peer.close().await;
        }
        self.connection = 0;
    }

    /// About once a second: the connection's figures, and a word when our media does not
    /// reach it. `sent` counts what the encoders made (for every leg alike).
    pub async fn sample_stats(
        &mut self,
        sent: &MediaCounters,
    ) -> (Option<CallStats>, Vec<CallEvent>) {
        let mut said = Vec::new();
        let (Some(peer), Some(participant)) = (self.peer.as_ref(), self.participant.as_ref())
        else {
            return (None, said);
        };
        if !self.is_connected() {
            return (None, said);
        }
        let now = Instant::now();
        let report = peer.connection().get_stats(now, StatsSelector::None).await;
        let pair = report.candidate_pairs().find(|p| p.nominated);
        let rtt_ms = pair
            .map(|p| p.current_round_trip_time * 1000.0)
            .filter(|rtt| *rtt > 0.0);
        let (bytes_out, bytes_in) = pair.map_or((0, 0), |p| (p.bytes_sent, p.bytes_received));
        let path = ice_path(peer.connection().as_ref()).await;
        let packets_lost = report
            .inbound_rtp_streams()
            .map(|s| s.received_rtp_stream_stats.packets_lost)
            .sum();
        let frames_in = MediaCounters::get(&participant.counters.frames_decoded);
        let frames_out = MediaCounters::get(&sent.frames_sent);
        let encoded = (frames_out, MediaCounters::get(&sent.blocks_sent));
        let accepted = (
            LinkStats::get(&peer.link.video_frames_accepted),
            LinkStats::get(&peer.link.audio_packets_accepted),
        );
        let mut stats = CallStats {
            rtt_ms,
            packets_lost,
            target_kbps: LinkStats::get(&peer.link.target_bps) as f64 / 1000.0,
            path,
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
                said.push(CallEvent::Error(format!(
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
        (Some(stats), said)
    }
}

/// The selected candidate pair's types. (Not from the stats report: webrtc-rs 0.21 files a
/// pair's candidates there under other IDs than the pair names, and never lists peer-reflexive
/// remote ones.)
async fn ice_path(connection: &dyn PeerConnection) -> Option<IcePath> {
    let ice = connection.sctp().await?.transport().ice_transport();
    let pair = ice.get_selected_candidate_pair().await.ok()??;
    Some(IcePath {
        local_type: pair.local().typ.to_string(),
        remote_type: pair.remote().typ.to_string(),
        protocol: pair.local().protocol.to_string(),
    })
}
