//! One WebRTC peer connection (webrtc-rs 0.21): VP8 + Opus tracks, the `system_channel` control
//! channel, congestion control, and its events turned into [`PeerEvent`]s on one channel.
//!
//! Everything here is I/O; the decisions (what to send when) are the session's.

use super::transfer::message::CHANNEL_PREFIX;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_OPUS, MIME_TYPE_RTX, MIME_TYPE_VP8,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RTCRtpRtxParameters, RtpCodecKind,
};
use signaling_client::{IceCandidate, IceServer, SdpKind, SessionDescription};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceConnectionState, RTCIceGatheringState,
    RTCIceServer, RTCIceTransportPolicy, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCSdpType, RTCSessionDescription, SettingEngineBuilder,
};
use webrtc::rtp_transceiver::RtpSender;

use super::control::{ControlLimiter, ControlMessage, Lane, Parsed, CHANNEL_LABEL};
use super::link::{self, LinkStats};
use super::mdns::{self, mdns_name};
use super::sdp::{dtls_setup, ice_ufrag};
use super::session::Role;

/// Control messages held until the control channel opens, at most.
pub const MAX_HELD_CONTROL: usize = 32;
/// Remote candidates held until the remote description arrives, at most (and their bytes).
pub const MAX_PENDING_CANDIDATES: usize = 100;
pub const MAX_PENDING_CANDIDATE_BYTES: usize = 64 * 1024;

pub const VP8_PAYLOAD_TYPE: u8 = 96;
/// Retransmissions of VP8 travel on their own stream (RFC 4588) with this payload type.
pub const RTX_PAYLOAD_TYPE: u8 = 97;
pub const OPUS_PAYLOAD_TYPE: u8 = 111;

/// How the connection finds its way; tests pin it to loopback.
#[derive(Debug, Clone)]
pub struct NetworkSettings {
    pub ice_servers: Vec<IceServer>,
    /// Local UDP addresses to bind (`127.0.0.1:0` keeps everything on this machine). Empty: all
    /// interfaces.
    pub udp_addrs: Vec<String>,
    /// Resolve the other side's `.local` (mDNS) candidates, when one arrives. Browsers hide their
    /// addresses behind them.
    pub mdns: bool,
    /// Offer `.local` names instead of this host's addresses, as browsers do (needs multicast on
    /// the network; the other side resolves them).
    pub offer_mdns_names: bool,
    /// ICE check interval; short on a LAN, the library's 200 ms default on the internet.
    pub ice_check_interval: Duration,
    /// Accept a peer-reflexive pair at once (LAN, loopback) instead of waiting 1 s.
    pub prflx_wait: Duration,
    /// How long ICE may hear nothing from the other side before it says the path is gone (and
    /// the call connects again).
    pub disconnected_timeout: Duration,
    /// How long ICE may go without a working path before the call fails.
    pub failed_timeout: Duration,
    /// Only relayed candidates (TURN): the other side never learns our addresses.
    pub relay_only: bool,
}

/// Media flows many times a second and ICE keepalives every half second, so two seconds of
/// silence is a broken path, noticed soon enough to connect again before people hang up.
const DISCONNECTED_TIMEOUT: Duration = Duration::from_secs(2);

impl Default for NetworkSettings {
    fn default() -> Self {
        NetworkSettings {
            ice_servers: Vec::new(),
            udp_addrs: Vec::new(),
            mdns: true,
            offer_mdns_names: false,
            ice_check_interval: Duration::from_millis(50),
            prflx_wait: Duration::from_millis(200),
            disconnected_timeout: DISCONNECTED_TIMEOUT,
            failed_timeout: Duration::from_secs(15),
            relay_only: false,
        }
    }
}

impl NetworkSettings {
    /// Everything on 127.0.0.1, no STUN, no mDNS: nothing leaves the machine.
    pub fn loopback() -> Self {
        NetworkSettings {
            ice_servers: Vec::new(),
            udp_addrs: vec!["127.0.0.1:0".into()],
            mdns: false,
            offer_mdns_names: false,
            ice_check_interval: Duration::from_millis(10),
            prflx_wait: Duration::ZERO,
            disconnected_timeout: DISCONNECTED_TIMEOUT,
            failed_timeout: Duration::from_secs(15),
            relay_only: false,
        }
    }
}

/// Limits for the video bitrate that congestion control steers between.
#[derive(Debug, Clone, Copy)]
pub struct BitrateLimits {
    pub min_bps: u32,
    pub start_bps: u32,
    pub max_bps: u32,
}

impl Default for BitrateLimits {
    fn default() -> Self {
        BitrateLimits {
            min_bps: 100_000,
            // Enough for VGA at once; congestion control ramps up fast from there until it first
            // sees a queue (see `link::bandwidth::rate_control`).
            start_bps: 500_000,
            max_bps: 2_500_000,
        }
    }
}

/// Events a connection may queue for the engine, at most. Their producers are bounded in rate
/// (control messages are capped in size and rate where they are read); a full queue drops the
/// newest event and says so.
pub const PEER_EVENT_QUEUE: usize = 1024;

/// How long a closing connection waits for its data channel's last messages to be acknowledged.
const CLOSE_DRAIN: Duration = Duration::from_millis(300);

/// Where a connection's callbacks and tasks send [`PeerEvent`]s; they run on webrtc-rs's driver,
/// which must never wait on us, so sending never blocks.
/// Every connection of the engine sends on one channel, each event tagged with its connection's
/// number, so the engine knows whose it is (and ignores a closed connection's last words).
#[derive(Clone)]
pub struct PeerEvents {
    tx: mpsc::Sender<(ConnectionId, PeerEvent)>,
    connection: ConnectionId,
}

/// Numbers the engine's connections, never reused.
pub type ConnectionId = u64;

impl PeerEvents {
    pub fn channel() -> (PeerEvents, mpsc::Receiver<(ConnectionId, PeerEvent)>) {
        // Shared by the legs of a call: room for a few of them.
        let (tx, rx) = mpsc::channel(PEER_EVENT_QUEUE * 4);
        (PeerEvents { tx, connection: 0 }, rx)
    }

    /// The same channel, for connection `connection`.
    pub fn for_connection(&self, connection: ConnectionId) -> PeerEvents {
        PeerEvents {
            tx: self.tx.clone(),
            connection,
        }
    }

    /// Queues `event`; false when nobody listens any more.
    pub fn send(&self, event: PeerEvent) -> bool {
        match self.tx.try_send((self.connection, event)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("the peer-event queue is full: an event is dropped");
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// Everything the connection reports, in order, on one channel.
pub enum PeerEvent {
    LocalDescription(SessionDescription),
    LocalCandidate(Option<IceCandidate>),
    IceState(RTCIceConnectionState),
    State(RTCPeerConnectionState),
    Track(Arc<dyn TrackRemote>),
    /// The callee's handle on the data channel the caller opened.
    ControlChannel(Arc<dyn DataChannel>),
    ControlOpen,
    /// The call's data channel closed after it was open (the other side closed it, or left).
    ControlClosed,
    /// A control message, parsed and within its lane's rate.
    Control(Parsed),
    /// The other side opened the data channel of file transfer `id`.
    FileChannel {
        id: String,
        channel: Arc<dyn DataChannel>,
    },
    /// A `.local` remote candidate, resolved to a plain address.
    ResolvedCandidate(IceCandidate),
    /// The remote asked for a keyframe (PLI / FIR) of the camera, or of the shared screen.
    KeyframeRequest,
    ShareKeyframeRequest,
    Error(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("WebRTC: {0}")]
    WebRtc(#[from] webrtc::error::Error),
    #[error("the remote description is not valid SDP: {0}")]
    BadSdp(String),
    #[error("the remote candidate is not valid: {0}")]
    BadCandidate(String),
    #[error("the control channel is not open")]
    ControlClosed,
}

/// Forwards the connection's callbacks to a channel: they run on its driver task, which must not
/// wait on us.
struct Forwarder {
    events: PeerEvents,
    /// The data channel this call talks on, and its label.
    channel: (ChannelKind, &'static str),
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Forwarder {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => {
                self.events
                    .send(PeerEvent::LocalCandidate(Some(IceCandidate {
                        candidate: init.candidate,
                        // webrtc-rs leaves the mid empty; everything is bundled on the first one.
                        sdp_mid: Some("0".into()),
                        sdp_mline_index: Some(0),
                        username_fragment: None,
                    })));
            }
            Err(e) => tracing::debug!(error = %e, "unusable local candidate"),
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.events.send(PeerEvent::LocalCandidate(None));
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        self.events.send(PeerEvent::IceState(state));
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.events.send(PeerEvent::State(state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        self.events.send(PeerEvent::Track(track));
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let (kind, ours) = self.channel;
        let label = channel.label().await.unwrap_or_default();
        if label == ours {
            self.events.send(PeerEvent::ControlChannel(channel.clone()));
            spawn_channel_reader(channel, kind, self.events.clone(), true);
        } else if let Some(id) = label.strip_prefix(CHANNEL_PREFIX) {
            self.events.send(PeerEvent::FileChannel {
                id: id.to_string(),
                channel,
            });
        } else {
            tracing::debug!(%label, "a data channel we do not use: closed");
            let _ = channel.close().await;
        }
    }
}

/// What the call's data channel carries, and so how its messages are read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChannelKind {
    /// `system_channel`: control JSON (mute, camera, hang-up, chat).
    Control,
    /// A transport's own chat channel (`Signaling::chat_channel`): every message is a
    /// plain-text chat line; its dialect has no control messages, and its pages take any
    /// channel that comes to them for their chat, so it is the only one.
    Chat,
}

/// Reads a data channel into events, under the control limits (length, and a rate per lane);
/// a channel handed over by `on_data_channel` is open already.
fn spawn_channel_reader(
    channel: Arc<dyn DataChannel>,
    kind: ChannelKind,
    events: PeerEvents,
    already_open: bool,
) {
    tokio::spawn(async move {
        if already_open {
            events.send(PeerEvent::ControlOpen);
        }
        let mut limiter = ControlLimiter::default();
        let mut last_warning: Option<Instant> = None;
        let mut open = already_open;
        while let Some(event) = channel.poll().await {
            match event {
                DataChannelEvent::OnOpen => {
                    open = true;
                    events.send(PeerEvent::ControlOpen);
                }
                DataChannelEvent::OnMessage(message) => {
                    let parsed = limiter.admit_len(message.data.len()).map(|()| {
                        let text = String::from_utf8_lossy(&message.data);
                        match kind {
                            ChannelKind::Control => ControlMessage::parse(&text),
                            ChannelKind::Chat => {
                                Parsed::Message(ControlMessage::Chat(text.into_owned()))
                            }
                        }
                    });
                    let admitted = parsed.and_then(|parsed| {
                        limiter
                            .admit(Lane::of(&parsed), Instant::now())
                            .map(|()| parsed)
                    });
                    match admitted {
                        Ok(parsed) => {
                            events.send(PeerEvent::Control(parsed));
                        }
                        // Once a second at most: the log is not the flood's either.
                        Err(why)
                            if last_warning
                                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) =>
                        {
                            last_warning = Some(Instant::now());
                            tracing::warn!(
                                ?why,
                                ?kind,
                                dropped = limiter.dropped,
                                "messages dropped"
                            );
                        }
                        Err(_) => {}
                    }
                }
                DataChannelEvent::OnClose => {
                    if open {
                        events.send(PeerEvent::ControlClosed);
                    }
                    break;
                }
                _ => {}
            }
        }
    });
}

fn vp8_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

fn rtx_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_RTX.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: format!("apt={VP8_PAYLOAD_TYPE}"),
        rtcp_feedback: vec![],
    }
}

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// A local track we write encoded frames to.
pub struct LocalTrack {
    track: Arc<TrackLocalStaticSample>,
    ssrc: u32,
    /// The payload type the other side gave this codec: ours until negotiation says otherwise
    /// (any stack may number codecs its own way; Firefox offers VP8 as 120, Opus as 109).
    payload_type: AtomicU8,
    mime_type: &'static str,
}

impl LocalTrack {
    /// With `rtx`, retransmissions go out on a stream of their own.
    fn new(
        kind: RtpCodecKind,
        id: &str,
        codec: RTCRtpCodec,
        payload_type: u8,
        rtx: bool,
    ) -> Result<Self, PeerError> {
        let mime_type = if kind == RtpCodecKind::Video {
            MIME_TYPE_VP8
        } else {
            MIME_TYPE_OPUS
        };
        let ssrc = rand::random::<u32>();
        let encoding = RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                rtx: rtx.then(|| RTCRtpRtxParameters {
                    ssrc: rand::random::<u32>(),
                }),
                ..Default::default()
            },
            codec,
            ..Default::default()
        };
        // A track ID of our own: webrtc-rs routes RTCP by track ID and looks among received
        // tracks first, so a sent track named like the other side's ("video") would never hear
        // its keyframe requests.
        let track_id = format!("{id}-{:08x}", rand::random::<u32>());
        let track =
            MediaStreamTrack::new("peercall".into(), track_id, id.into(), kind, vec![encoding]);
        Ok(LocalTrack {
            track: Arc::new(TrackLocalStaticSample::new(Instant::now(), track)?),
            ssrc,
            payload_type: AtomicU8::new(payload_type),
            mime_type,
        })
    }

    /// Sends one encoded frame (or Opus packet) lasting `duration`.
    pub async fn write(&self, data: Bytes, duration: Duration) -> Result<(), PeerError> {
        let sample = Sample {
            data,
            duration,
            ..Sample::new(Instant::now())
        };
        self.track
            .write_sample(
                self.ssrc,
                self.payload_type.load(Ordering::Relaxed),
                &sample,
                &[],
            )
            .await?;
        Ok(())
    }
}

pub struct Peer {
    pc: Arc<dyn PeerConnection>,
    role: Role,
    pub video: Arc<LocalTrack>,
    pub audio: Arc<LocalTrack>,
    /// The call's data channel (the caller opens it, the callee adopts it), and what it carries.
    channel: Option<Arc<dyn DataChannel>>,
    channel_kind: ChannelKind,
    remote_description_set: bool,
    pending_candidates: Vec<RTCIceCandidateInit>,
    resolve_mdns: bool,
    control_open: bool,
    held_control: std::collections::VecDeque<String>,
    /// Whether we are the DTLS client (known once both descriptions are): the client finishes
    /// the handshake last, so when it is up the other side is too.
    dtls_client: bool,
    /// The link's figures: target bitrate, loss, round trip, repairs.
    pub link: Arc<LinkStats>,
    events: PeerEvents,
    /// The shared screen's track while we share, and its place on the connection.
    share: Option<(Arc<LocalTrack>, Arc<dyn RtpSender>)>,
    /// Whether we want to share: the track follows once the connection can negotiate.
    want_share: bool,
    /// A change waits for the offer/answer exchange under way to finish.
    negotiation_pending: bool,
}

impl Peer {
    /// Builds the connection with its tracks (and, as caller, the control channel and the offer,
    /// which arrives as a `LocalDescription` event). Must run inside a tokio runtime.
    pub async fn start(
        role: Role,
        network: &NetworkSettings,
        bitrate: BitrateLimits,
        chat_label: Option<&'static str>,
        events: PeerEvents,
    ) -> Result<Peer, PeerError> {
        let (channel_kind, channel_label) = match chat_label {
            Some(label) => (ChannelKind::Chat, label),
            None => (ChannelKind::Control, CHANNEL_LABEL),
        };
        let mut media = MediaEngine::default();
        media.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: vp8_codec(),
                payload_type: VP8_PAYLOAD_TYPE,
            },
            RtpCodecKind::Video,
        )?;
        media.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: rtx_codec(),
                payload_type: RTX_PAYLOAD_TYPE,
            },
            RtpCodecKind::Video,
        )?;
        media.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: opus_codec(),
                payload_type: OPUS_PAYLOAD_TYPE,
            },
            RtpCodecKind::Audio,
        )?;
        let link = LinkStats::new(bitrate);
        // Codecs first: the interceptors add their feedback to the codecs registered so far.
        let registry = link::interceptors(&mut media, bitrate, &link)?;

        // Resolving is ours to do, per candidate (see `mdns`): webrtc-rs would open a socket for
        // it on every connection, and fail the call where multicast has no route. Offering names
        // needs its responder.
        let mdns = if network.offer_mdns_names {
            rtc::ice::mdns::MulticastDnsMode::QueryAndGather
        } else {
            rtc::ice::mdns::MulticastDnsMode::Disabled
        };
        // interval × attempts stays ≥ 1.4 s so slower paths are not declared failed.
        let interval = network.ice_check_interval.max(Duration::from_millis(1));
        let attempts = (1400 / interval.as_millis().max(1) as u32).max(7) as u16;
        let mut settings = SettingEngineBuilder::new();
        if network.offer_mdns_names {
            // One `.local` name for this host's (first) address, as browsers do.
            let ip = if_addrs::get_if_addrs()
                .unwrap_or_default()
                .into_iter()
                .find(|i| !i.is_loopback() && i.ip().is_ipv4())
                .map(|i| i.ip());
            settings = settings
                .with_multicast_dns_local_ip(ip)
                .with_multicast_dns_local_name(format!("{:032x}.local", rand::random::<u128>()));
        }
        let settings = settings
            .with_multicast_dns_mode(mdns)
            .with_prflx_acceptance_min_wait(Some(network.prflx_wait))
            .with_ice_connection_attempts(Some(interval), Some(attempts))
            .with_ice_timeouts(
                Some(network.disconnected_timeout),
                Some(network.failed_timeout),
                Some(Duration::from_millis(500)),
            )
            .build();
        let ice_servers = network
            .ice_servers
            .iter()
            .map(|s| RTCIceServer {
                urls: s.urls.clone(),
                username: s.username.clone().unwrap_or_default(),
                credential: s.credential.clone().unwrap_or_default(),
            })
            .collect();
        let builder = PeerConnectionBuilder::new()
            .with_configuration(
                RTCConfigurationBuilder::new()
                    .with_ice_servers(ice_servers)
                    .with_ice_transport_policy(if network.relay_only {
                        RTCIceTransportPolicy::Relay
                    } else {
                        RTCIceTransportPolicy::All
                    })
                    .build(),
            )
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .with_setting_engine(settings)
            .with_handler(Arc::new(Forwarder {
                events: events.clone(),
                channel: (channel_kind, channel_label),
            }));
        let udp_addrs = if network.udp_addrs.is_empty() {
            vec!["0.0.0.0:0".to_string()]
        } else {
            network.udp_addrs.clone()
        };
        let pc: Arc<dyn PeerConnection> =
            Arc::new(builder.with_udp_addrs(udp_addrs).build().await?);

        let video = Arc::new(LocalTrack::new(
            RtpCodecKind::Video,
            "video",
            vp8_codec(),
            VP8_PAYLOAD_TYPE,
            true,
        )?);
        let audio = Arc::new(LocalTrack::new(
            RtpCodecKind::Audio,
            "audio",
            opus_codec(),
            OPUS_PAYLOAD_TYPE,
            false,
        )?);
        pc.add_track(video.track.clone() as Arc<dyn TrackLocal>)
            .await?;
        pc.add_track(audio.track.clone() as Arc<dyn TrackLocal>)
            .await?;
        spawn_keyframe_listener(
            video.track.clone(),
            PeerEvent::KeyframeRequest,
            events.clone(),
        );

        let mut peer = Peer {
            pc,
            role,
            video,
            audio,
            channel: None,
            channel_kind,
            remote_description_set: false,
            pending_candidates: Vec::new(),
            resolve_mdns: network.mdns,
            control_open: false,
            held_control: std::collections::VecDeque::new(),
            dtls_client: false,
            link,
            events: events.clone(),
            share: None,
            want_share: false,
            negotiation_pending: false,
        };
        if role == Role::Caller {
            let channel = peer.pc.create_data_channel(channel_label, None).await?;
            spawn_channel_reader(channel.clone(), channel_kind, events.clone(), false);
            peer.channel = Some(channel);
            let offer = peer.pc.create_offer(None).await?;
            peer.pc.set_local_description(offer.clone()).await?;
            events.send(PeerEvent::LocalDescription(SessionDescription {
                kind: SdpKind::Offer,
                sdp: offer.sdp,
            }));
        }
        Ok(peer)
    }

    /// Applies the other side's SDP: the first offer or answer sets the connection up; later
    /// ones change what it carries (a screen shared or stopped, by either side). An offer is
    /// answered (the answer arrives as an event).
    pub async fn apply_remote(&mut self, description: SessionDescription) -> Result<(), PeerError> {
        let first = !self.remote_description_set;
        match (first, self.role, description.kind) {
            (true, Role::Callee, SdpKind::Offer) | (true, Role::Caller, SdpKind::Answer) => {}
            (false, _, SdpKind::Offer) => return self.apply_renegotiation(description).await,
            (false, _, SdpKind::Answer) if self.pc.pending_local_description().await.is_some() => {}
            (true, Role::Caller, SdpKind::Offer) => {
                // The callee renegotiated the connection we just replaced (a restart crossed
                // its share): stale, and not a reason to fail the new one.
                tracing::info!("an offer for the connection before this one: ignored");
                return Ok(());
            }
            (_, role, kind) => {
                return Err(PeerError::BadSdp(format!(
                    "a {kind:?} is not what the {role:?} expects now"
                )))
            }
        }
        // An answer says who is who: "active" is the client.
        let remote_setup_passive = dtls_setup(&description.sdp) == Some("passive");
        let kind = description.kind;
        let parsed = parse(description)?;
        self.pc
            .set_remote_description(parsed)
            .await
            .map_err(|e| PeerError::BadSdp(e.to_string()))?;
        self.remote_description_set = true;
        if first && self.role == Role::Caller {
            self.dtls_client = remote_setup_passive;
            self.follow_negotiated_payload_types().await;
        }
        for candidate in std::mem::take(&mut self.pending_candidates) {
            if let Err(e) = self.pc.add_ice_candidate(candidate).await {
                tracing::debug!(error = %e, "ignoring a remote candidate");
            }
        }
        if kind == SdpKind::Offer {
            self.answer().await?;
            self.dtls_client = self
                .pc
                .local_description()
                .await
                .is_some_and(|a| dtls_setup(&a.sdp) == Some("active"));
        }
        self.negotiate_what_waits().await
    }

    /// An offer on a connection already set up: the other side changes what it sends. It must
    /// carry the ICE credentials in use (new ones are a restart: a new connection, the
    /// session's business). When both sides offer at once, the caller's offer wins: the
    /// callee takes its own back, answers, and offers again.
    async fn apply_renegotiation(&mut self, offer: SessionDescription) -> Result<(), PeerError> {
        let current = self.pc.remote_description().await;
        if current.as_ref().and_then(|d| ice_ufrag(&d.sdp)) != ice_ufrag(&offer.sdp) {
            tracing::warn!("an offer with other ICE credentials on a set-up connection: ignored");
            return Ok(());
        }
        if self.pc.pending_local_description().await.is_some() {
            if self.role == Role::Caller {
                tracing::info!("both sides offered at once: ours goes first, theirs is ignored");
                return Ok(());
            }
            tracing::info!("both sides offered at once: the caller's goes first");
            self.pc
                .set_local_description(RTCSessionDescription::rollback(None)?)
                .await?;
            self.negotiation_pending = true;
        }
        self.pc
            .set_remote_description(parse(offer)?)
            .await
            .map_err(|e| PeerError::BadSdp(e.to_string()))?;
        self.answer().await?;
        self.negotiate_what_waits().await
    }

    async fn answer(&mut self) -> Result<(), PeerError> {
        let answer = self.pc.create_answer(None).await?;
        self.pc.set_local_description(answer.clone()).await?;
        self.follow_negotiated_payload_types().await;
        self.events
            .send(PeerEvent::LocalDescription(SessionDescription {
                kind: SdpKind::Answer,
                sdp: answer.sdp,
            }));
        Ok(())
    }

    /// Starts or stops sending a shared screen on this connection; the new offer goes to the
    /// other side as a `LocalDescription` event (now, or once the exchange under way is done).
    pub async fn set_sharing(&mut self, on: bool) -> Result<(), PeerError> {
        self.want_share = on;
        self.negotiation_pending = true;
        self.negotiate_what_waits().await
    }

    /// Whether this connection is to carry our screen.
    pub fn wants_share(&self) -> bool {
        self.want_share
    }

    /// The screen track, once it is on the connection.
    pub fn share_track(&self) -> Option<Arc<LocalTrack>> {
        self.share.as_ref().map(|(track, _)| track.clone())
    }

    /// Makes the offer a change is waiting for, when the connection is set up and no other
    /// exchange is under way.
    async fn negotiate_what_waits(&mut self) -> Result<(), PeerError> {
        if !self.negotiation_pending
            || !self.remote_description_set
            || self.pc.pending_local_description().await.is_some()
            || self.pc.pending_remote_description().await.is_some()
        {
            return Ok(());
        }
        self.negotiation_pending = false;
        match (self.want_share, self.share.is_some()) {
            (true, false) => {
                let track = Arc::new(LocalTrack::new(
                    RtpCodecKind::Video,
                    "screen",
                    vp8_codec(),
                    VP8_PAYLOAD_TYPE,
                    true,
                )?);
                let sender = self
                    .pc
                    .add_track(track.track.clone() as Arc<dyn TrackLocal>)
                    .await?;
                spawn_keyframe_listener(
                    track.track.clone(),
                    PeerEvent::ShareKeyframeRequest,
                    self.events.clone(),
                );
                self.share = Some((track, sender));
            }
            (false, true) => {
                if let Some((_, sender)) = self.share.take() {
                    self.pc.remove_track(&sender).await?;
                }
            }
            _ => return Ok(()),
        }
        let offer = self.pc.create_offer(None).await?;
        self.pc.set_local_description(offer.clone()).await?;
        self.events
            .send(PeerEvent::LocalDescription(SessionDescription {
                kind: SdpKind::Offer,
                sdp: offer.sdp,
            }));
        Ok(())
    }

    /// Adds a trickled remote candidate, holding it until the remote description is set.
    pub async fn add_remote_candidate(
        &mut self,
        candidate: Option<IceCandidate>,
    ) -> Result<(), PeerError> {
        let Some(candidate) = candidate else {
            return Ok(()); // end of candidates: nothing to do for webrtc-rs
        };
        tracing::debug!(candidate = %candidate.candidate, "remote candidate");
        if let Some(name) = mdns_name(&candidate.candidate).map(str::to_owned) {
            self.resolve_later(candidate, name);
            return Ok(());
        }
        let init = RTCIceCandidateInit {
            candidate: candidate.candidate,
            sdp_mid: candidate.sdp_mid,
            sdp_mline_index: candidate.sdp_mline_index,
            username_fragment: candidate.username_fragment,
            ..Default::default()
        };
        if !self.remote_description_set {
            // Held for the description, within bounds: a peer that sends thousands first gets
            // the rest ignored (a real one gathers a handful).
            let held: usize = self
                .pending_candidates
                .iter()
                .map(|c| c.candidate.len())
                .sum();
            if self.pending_candidates.len() >= MAX_PENDING_CANDIDATES
                || held + init.candidate.len() > MAX_PENDING_CANDIDATE_BYTES
            {
                return Err(PeerError::BadCandidate(format!(
                    "more than {MAX_PENDING_CANDIDATES} candidates (or {MAX_PENDING_CANDIDATE_BYTES} \
                     bytes) before the description: ignored"
                )));
            }
            self.pending_candidates.push(init);
            return Ok(());
        }
        self.pc
            .add_ice_candidate(init)
            .await
            .map_err(|e| PeerError::BadCandidate(e.to_string()))
    }

    /// Resolves a `.local` candidate on the side; it comes back as a `ResolvedCandidate` event.
    fn resolve_later(&self, candidate: IceCandidate, name: String) {
        if !self.resolve_mdns {
            tracing::debug!(%name, "mDNS is off: ignoring a .local candidate");
            return;
        }
        let events = self.events.clone();
        tokio::spawn(async move {
            match mdns::resolve(&name, mdns::RESOLVE_TIMEOUT).await {
                Ok(ip) => {
                    tracing::info!(%name, %ip, "resolved a .local candidate");
                    let resolved = IceCandidate {
                        candidate: mdns::with_address(&candidate.candidate, &name, ip),
                        ..candidate
                    };
                    events.send(PeerEvent::ResolvedCandidate(resolved));
                }
                Err(why) => tracing::warn!(%name, %why, "a .local candidate is skipped"),
            }
        });
    }

    /// Sends each codec with the payload type negotiation gave it (the other side's numbering).
    async fn follow_negotiated_payload_types(&self) {
        for sender in self.pc.get_senders().await {
            let Ok(parameters) = sender.get_parameters().await else {
                continue;
            };
            for track in [&self.video, &self.audio] {
                let negotiated = parameters
                    .rtp_parameters
                    .codecs
                    .iter()
                    .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(track.mime_type));
                if let Some(codec) = negotiated {
                    let before = track
                        .payload_type
                        .swap(codec.payload_type, Ordering::Relaxed);
                    if before != codec.payload_type {
                        tracing::info!(
                            codec = track.mime_type,
                            payload_type = codec.payload_type,
                            "the other side numbers this codec its own way"
                        );
                    }
                }
            }
        }
    }

    /// Whether we are the DTLS client (see the field).
    pub fn dtls_client(&self) -> bool {
        self.dtls_client
    }

    /// The callee's data channel arrives from the caller.
    pub fn adopt_control(&mut self, channel: Arc<dyn DataChannel>) {
        self.channel = Some(channel);
    }

    /// A chat line: a control message, or plain text on a transport's own chat channel.
    pub async fn send_chat(&mut self, text: &str) -> Result<(), PeerError> {
        match self.channel_kind {
            ChannelKind::Control => {
                self.send_on_channel(&ControlMessage::Chat(text.to_string()).to_json())
                    .await
            }
            ChannelKind::Chat => self.send_on_channel(text).await,
        }
    }

    /// A control message (JSON); a dialect with only a chat channel has no place for it.
    pub async fn send_control(&mut self, text: &str) -> Result<(), PeerError> {
        if self.channel_kind == ChannelKind::Chat {
            tracing::debug!(%text, "this signaling dialect carries no control messages");
            return Ok(());
        }
        self.send_on_channel(text).await
    }

    /// Sends on the call's data channel, or holds the message (the newest
    /// [`MAX_HELD_CONTROL`]) until the channel opens: a chat line typed the moment the call
    /// connects is not lost.
    async fn send_on_channel(&mut self, text: &str) -> Result<(), PeerError> {
        if !self.control_open {
            if self.held_control.len() == MAX_HELD_CONTROL {
                self.held_control.pop_front();
            }
            self.held_control.push_back(text.to_string());
            return Ok(());
        }
        let channel = self.channel.as_ref().ok_or(PeerError::ControlClosed)?;
        channel
            .send_text(text)
            .await
            .map_err(|_| PeerError::ControlClosed)
    }

    /// The control channel is open: what was held goes now, in order.
    pub async fn control_opened(&mut self) {
        self.control_open = true;
        while let Some(text) = self.held_control.pop_front() {
            if let Err(e) = self.send_on_channel(&text).await {
                tracing::debug!(error = %e, "a held control message was not sent");
            }
        }
    }

    pub fn connection(&self) -> &Arc<dyn PeerConnection> {
        &self.pc
    }

    /// The code both sides show once connected (see [`super::verify`]): from the negotiated
    /// offer's and answer's fingerprints.
    pub async fn verification_code(&self) -> Option<String> {
        let local = self.pc.local_description().await?;
        let remote = self.pc.remote_description().await?;
        let (offer, answer) = if local.sdp_type == RTCSdpType::Offer {
            (local, remote)
        } else {
            (remote, local)
        };
        super::verify::verification_code(&offer.sdp, &answer.sdp)
    }

    /// The open `system_channel`, for a file transfer's messages; `None` on a transport whose
    /// channel carries only chat, or before it opened.
    pub fn control_channel(&self) -> Option<Arc<dyn DataChannel>> {
        if self.channel_kind != ChannelKind::Control || !self.control_open {
            return None;
        }
        self.channel.clone()
    }

    /// Closes the connection; its tasks end as their event streams do.
    pub async fn close(self) {
        if let Some(channel) = &self.channel {
            // What was said last (a hang-up) reaches the other side before the connection
            // goes: wait, a little, for the channel to be acknowledged.
            let deadline = tokio::time::Instant::now() + CLOSE_DRAIN;
            while channel.outstanding_bytes().await.unwrap_or(0) > 0
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let _ = channel.close().await;
        }
        if let Err(e) = self.pc.close().await {
            tracing::debug!(error = %e, "closing the peer connection");
        }
    }
}

fn parse(description: SessionDescription) -> Result<RTCSessionDescription, PeerError> {
    match description.kind {
        SdpKind::Offer => RTCSessionDescription::offer(description.sdp),
        SdpKind::Answer => RTCSessionDescription::answer(description.sdp),
        kind => return Err(PeerError::BadSdp(format!("a {kind:?} is not handled"))),
    }
    .map_err(|e| PeerError::BadSdp(e.to_string()))
}

fn spawn_keyframe_listener(
    track: Arc<TrackLocalStaticSample>,
    request: PeerEvent,
    events: PeerEvents,
) {
    let share = matches!(request, PeerEvent::ShareKeyframeRequest);
    tokio::spawn(async move {
        while let Some(event) = track.poll().await {
            if let webrtc::media_stream::track_local::TrackLocalEvent::OnRtcpPacket(_) = event {
                let request = if share {
                    PeerEvent::ShareKeyframeRequest
                } else {
                    PeerEvent::KeyframeRequest
                };
                if !events.send(request) {
                    break;
                }
            }
        }
    });
}
