//! One leg of a call: the state machine of the call with one other person ([`Session`]), their
//! peer connection while there is one, its way out for our media ([`Outlet`]) and what the UI
//! and the report read about them ([`Participant`]).

use std::sync::Arc;
use std::time::Instant;

use webrtc::peer_connection::{PeerConnection, StatsSelector};

use super::events::{CallEvent, CallStats, IcePath};
use super::link::LinkStats;
use super::media_stats::MediaCounters;
use super::participant::Participant;
use super::peer::{BitrateLimits, ConnectionId, NetworkSettings, Peer, PeerEvents};
use super::send_pipeline::{Outlet, Outlets};
use super::session::{Role, Session};

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
        }
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
