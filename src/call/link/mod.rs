//! What keeps a call going on a real link, as interceptors in webrtc-rs's RTP chain:
//!
//! - [`bandwidth`]: how fast we may send. Transport-wide feedback from the other side → a
//!   delay-gradient detector, the acknowledged rate and the loss rate → one target bitrate,
//!   which the encoders and the pacer follow.
//! - [`pacer`]: when each packet leaves. Audio first, then retransmissions, then video, at a
//!   multiple of the target so a keyframe goes out in a few tens of milliseconds and nothing
//!   queues for long.
//! - [`nack`]: asking for lost video packets again, as soon as the gap shows and again after a
//!   round trip, and learning the round trip from the repairs (RTX understood).
//! - [`keyframe_tap`]: keyframe requests (PLI, FIR) from the other side reach our encoder.
//! - [`loss_reports`]: the loss the other side reports for our streams (RTCP reception reports).
//!
//! The built-in NACK responder (it keeps what we sent and answers NACKs, over RTX when
//! negotiated), TWCC and the RTCP reports come from webrtc-rs. Everything here publishes what it
//! does into one [`LinkStats`], which the encoders, the receive pipeline and the report read.

pub(crate) mod bandwidth;
pub(crate) mod keyframe_tap;
pub(crate) mod loss_reports;
pub(crate) mod nack;
pub(crate) mod pacer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rtc::interceptor::{CongestionControlBuilder, NackResponderBuilder, Registry, Slot};
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_twcc,
};
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::rtp_transceiver::rtp_sender::{RTCPFeedback, RtpCodecKind};

use super::peer::BitrateLimits;

/// Bounds of [`LinkStats::repair_window`].
pub const MIN_REPAIR_WINDOW: Duration = Duration::from_millis(150);
pub const MAX_REPAIR_WINDOW: Duration = Duration::from_millis(800);

/// Counters and current figures of one connection's link, shared by the interceptors that
/// produce them and everything that reads them. All plain atomics: the interceptors run on the
/// connection's driver, which must never wait.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// What congestion control allows, bits a second.
    pub target_bps: AtomicU64,
    /// Loss the other side reported for what we sent (its latest reception report, per mille).
    pub loss_permille: AtomicU64,
    /// Reception reports seen so far (a new one means a new loss figure).
    pub loss_reports: AtomicU64,
    /// Round trip, µs, from transport feedback (0 until known).
    pub rtt_us: AtomicU64,
    /// Packets we asked the other side to send again.
    pub nack_sent: AtomicU64,
    /// Of those, how many came back.
    pub nack_repaired: AtomicU64,
    /// Retransmissions we sent on request.
    pub rtx_sent: AtomicU64,
    /// Retransmissions asked for that did not fit the retransmission allowance.
    pub rtx_dropped: AtomicU64,
    /// Video packets the pacer threw away because its queue was full.
    pub pacer_dropped: AtomicU64,
    /// Bytes waiting in the pacer now.
    pub pacer_queued_bytes: AtomicU64,
    /// Video frames (their last packets) and audio packets the connection accepted from our
    /// tracks: what was really sent, as opposed to what the encoders made.
    pub video_frames_accepted: AtomicU64,
    pub audio_packets_accepted: AtomicU64,
    /// RTP packets that arrived from the other side (decrypted: it is really there).
    pub rtp_received: AtomicU64,
    /// RTP bytes the pacer let out (media, retransmissions), for the bitrate actually sent.
    pub bytes_sent: AtomicU64,
}

impl LinkStats {
    pub fn new(limits: BitrateLimits) -> Arc<LinkStats> {
        let stats = LinkStats::default();
        stats
            .target_bps
            .store(limits.start_bps as u64, Ordering::Relaxed);
        Arc::new(stats)
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set(counter: &AtomicU64, value: u64) {
        counter.store(value, Ordering::Relaxed);
    }

    /// The round trip, when known.
    pub fn rtt(&self) -> Option<Duration> {
        match Self::get(&self.rtt_us) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// How long a lost video packet is worth waiting for: a request goes out at once and again
    /// each round trip, so three round trips and a margin, within bounds (one give-up costs a
    /// keyframe and every frame until it arrives). The receiver gives a frame up after this, and
    /// stops asking for its packets.
    pub fn repair_window(&self) -> Duration {
        let rtt = self.rtt().unwrap_or(Duration::from_millis(50));
        (rtt * 3 + Duration::from_millis(80)).clamp(MIN_REPAIR_WINDOW, MAX_REPAIR_WINDOW)
    }
}

/// Builds the interceptor chain of one connection and registers on `media` the feedback it needs
/// (register the codecs first: feedback is added to the codecs registered so far).
pub(crate) fn interceptors(
    media: &mut MediaEngine,
    limits: BitrateLimits,
    stats: &Arc<LinkStats>,
) -> Result<Registry, webrtc::error::Error> {
    for parameter in ["", "pli"] {
        media.register_feedback(
            RTCPFeedback {
                typ: "nack".to_owned(),
                parameter: parameter.to_owned(),
            },
            RtpCodecKind::Video,
        );
    }
    media.register_feedback(
        RTCPFeedback {
            typ: "ccm".to_owned(),
            parameter: "fir".to_owned(),
        },
        RtpCodecKind::Video,
    );
    // Transport-wide feedback both ways (TWCC sender numbers our packets, receiver reports on
    // theirs), our estimator reading it, our pacer, the RTCP reports, NACK both ways.
    let registry = configure_twcc(Registry::new(), media)?
        .with(
            Slot::CongestionControl,
            CongestionControlBuilder::new(bandwidth::BandwidthController::new(
                limits,
                stats.clone(),
            ))
            .build(),
        )
        .with(
            Slot::Pacer,
            pacer::PriorityPacer::new(limits.start_bps as f64, stats.clone()),
        )
        .with(Slot::NackResponder, NackResponderBuilder::new().build())
        .with(Slot::NackGenerator, nack::NackRequester::new(stats.clone()))
        // Wire-ward of the report interceptors, which keep reception reports to themselves.
        .with(
            Slot::from(9_500),
            loss_reports::LossReports::new(stats.clone()),
        );
    Ok(keyframe_tap::KeyframeRequestTap::register(
        configure_rtcp_reports(registry),
    ))
}
