//! A hostile WebRTC peer for tests: a raw webrtc-rs connection driven by hand over a raw
//! signaling client, so it can send what no honest peer would (bent SDP, floods of candidates,
//! RTP with any header and payload, data-channel floods and huge messages).
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use peercall::call::control::CHANNEL_LABEL;
use rtc::interceptor::Registry;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceCandidateInit, RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription,
    SettingEngineBuilder,
};

use crate::common::RawClient;

pub const VP8: u8 = 96;
pub const OPUS: u8 = 111;

/// What the hostile side's connection reports.
struct Handler {
    candidates: mpsc::UnboundedSender<String>,
    state: watch::Sender<RTCPeerConnectionState>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.candidates.send(init.candidate);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.state.send(state);
    }
}

/// A hostile caller in a call the callee accepted.
pub struct Hostile {
    pub pc: Arc<dyn PeerConnection>,
    pub video: Arc<TrackLocalStaticRTP>,
    pub audio: Arc<TrackLocalStaticRTP>,
    pub video_ssrc: u32,
    pub audio_ssrc: u32,
    pub channel: Arc<dyn DataChannel>,
    call_id: String,
    to_server: mpsc::UnboundedSender<Value>,
    /// Server messages other than signals (hang-ups, errors).
    pub from_server: mpsc::UnboundedReceiver<Value>,
    state: watch::Receiver<RTCPeerConnectionState>,
    offer: String,
}

fn vp8() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

fn track(kind: RtpCodecKind, codec: RTCRtpCodec, ssrc: u32) -> Arc<TrackLocalStaticRTP> {
    Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        "hostile".into(),
        format!("hostile-{kind}"),
        format!("hostile-{kind}"),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    )))
}

impl Hostile {
    /// Registers as `id`, dials `to` and waits until the call is accepted; builds its
    /// connection and offer but sends nothing yet (see [`Hostile::send_offer`]).
    pub async fn dial(url: &str, id: &str, to: &str) -> Hostile {
        let mut client = RawClient::registered(url, id).await;
        let call_id = format!("{:032x}", rand::random::<u128>());
        client
            .send(json!({"type":"call","to":to,"call_id":call_id}))
            .await;
        let accepted = client.recv_type("accepted").await;
        assert_eq!(accepted["call_id"], call_id.as_str());

        let mut media = MediaEngine::default();
        for (codec, pt, kind) in [
            (vp8(), VP8, RtpCodecKind::Video),
            (opus(), OPUS, RtpCodecKind::Audio),
        ] {
            media
                .register_codec(
                    RTCRtpCodecParameters {
                        rtp_codec: codec,
                        payload_type: pt,
                    },
                    kind,
                )
                .unwrap();
        }
        let registry = register_default_interceptors(Registry::new(), &mut media).unwrap();
        let (candidates_tx, mut candidates) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
        let settings = SettingEngineBuilder::new()
            .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
            .build();
        let pc: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_media_engine(media)
                .with_interceptor_registry(registry)
                .with_setting_engine(settings)
                .with_handler(Arc::new(Handler {
                    candidates: candidates_tx,
                    state: state_tx,
                }))
                .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
                .build()
                .await
                .unwrap(),
        );
        let (video_ssrc, audio_ssrc) = (rand::random::<u32>(), rand::random::<u32>());
        let video = track(RtpCodecKind::Video, vp8(), video_ssrc);
        let audio = track(RtpCodecKind::Audio, opus(), audio_ssrc);
        pc.add_track(video.clone() as Arc<dyn TrackLocal>)
            .await
            .unwrap();
        pc.add_track(audio.clone() as Arc<dyn TrackLocal>)
            .await
            .unwrap();
        let channel = pc.create_data_channel(CHANNEL_LABEL, None).await.unwrap();
        let offer = pc.create_offer(None).await.unwrap();
        pc.set_local_description(offer.clone()).await.unwrap();

        // One task owns the WebSocket: signals in are applied, everything else is handed on.
        let (to_server, mut outgoing) = mpsc::unbounded_channel::<Value>();
        let (from_server_tx, from_server) = mpsc::unbounded_channel();
        let driver_pc = pc.clone();
        let driver_call = call_id.clone();
        tokio::spawn(async move {
            use futures_util::{SinkExt, StreamExt};
            use tokio_tungstenite::tungstenite::Message;
            loop {
                tokio::select! {
                    out = outgoing.recv() => {
                        let Some(out) = out else { break };
                        if client.ws.send(Message::text(out.to_string())).await.is_err() {
                            break;
                        }
                    }
                    candidate = candidates.recv() => {
                        let Some(candidate) = candidate else { continue };
                        let signal = json!({"type":"signal","call_id":driver_call,
                            "data":{"candidate":{"candidate":candidate,"sdpMid":"0","sdpMLineIndex":0}}});
                        if client.ws.send(Message::text(signal.to_string())).await.is_err() {
                            break;
                        }
                    }
                    frame = client.ws.next() => {
                        let Some(Ok(Message::Text(text))) = frame else {
                            if matches!(frame, Some(Ok(_))) { continue }
                            break;
                        };
                        let Ok(value) = serde_json::from_str::<Value>(&text) else { continue };
                        if value["type"] == "signal" {
                            apply_signal(&driver_pc, &value["data"]).await;
                        } else if from_server_tx.send(value).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Hostile {
            pc,
            video,
            audio,
            video_ssrc,
            audio_ssrc,
            channel,
            call_id,
            to_server,
            from_server,
            state,
            offer: offer.sdp,
        }
    }

    /// Sends `data` as a signal of this call, whatever it holds.
    pub fn signal(&self, data: Value) {
        let _ = self.to_server.send(json!({
            "type": "signal",
            "call_id": self.call_id,
            "data": data,
        }));
    }

    /// Sends any text as a raw frame.
    pub fn raw(&self, message: Value) {
        let _ = self.to_server.send(message);
    }

    pub fn send_offer(&self) {
        self.signal(json!({"sdp":{"type":"offer","sdp":self.offer}}));
    }

    pub fn hang_up(&self) {
        self.raw(json!({"type":"hangup","call_id":self.call_id}));
    }

    /// Waits until the connection is up (DTLS done).
    pub async fn connected(&mut self, within: Duration) -> bool {
        tokio::time::timeout(
            within,
            self.state
                .wait_for(|s| *s == RTCPeerConnectionState::Connected),
        )
        .await
        .is_ok_and(|r| r.is_ok())
    }

    /// Writes one RTP packet on `track`, exactly as given.
    pub async fn write_rtp(
        track: &TrackLocalStaticRTP,
        ssrc: u32,
        payload_type: u8,
        sequence_number: u16,
        timestamp: u32,
        marker: bool,
        payload: Bytes,
    ) {
        let packet = rtp::Packet {
            header: rtp::Header {
                version: 2,
                marker,
                payload_type,
                sequence_number,
                timestamp,
                ssrc,
                ..Default::default()
            },
            payload,
        };
        let _ = track.write_rtp(packet).await;
    }

    /// The next server message that is not presence chatter.
    pub async fn next_message(&mut self, within: Duration) -> Option<Value> {
        loop {
            let v = tokio::time::timeout(within, self.from_server.recv())
                .await
                .ok()??;
            if !matches!(
                v["type"].as_str(),
                Some("peer_joined" | "peer_left" | "peers")
            ) {
                return Some(v);
            }
        }
    }

    pub async fn close(self) {
        let _ = self.pc.close().await;
    }
}

async fn apply_signal(pc: &Arc<dyn PeerConnection>, data: &Value) {
    if let Some(sdp) = data["sdp"]["sdp"].as_str() {
        if data["sdp"]["type"] == "answer" {
            if let Ok(answer) = RTCSessionDescription::answer(sdp.to_string()) {
                let _ = pc.set_remote_description(answer).await;
            }
        }
    } else if let Some(candidate) = data["candidate"]["candidate"].as_str() {
        let _ = pc
            .add_ice_candidate(RTCIceCandidateInit {
                candidate: candidate.to_string(),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
                ..Default::default()
            })
            .await;
    }
}
