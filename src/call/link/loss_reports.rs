//! The loss the other side reports for what we send: RTCP reception report blocks (in receiver
//! and sender reports) about our media streams, published into [`LinkStats`] for the loss-based
//! part of congestion control and for Opus's redundancy.
//!
//! Transport-wide feedback would also tell loss, but webrtc-rs counts every packet of a lost
//! feedback message as lost, so on a link losing 10 % each way it read twice the loss there was.
//! A reception report counts the holes in the media stream itself (repairs travel on the RTX
//! stream), which is the link's real loss.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;

use super::LinkStats;

pub struct LossReports {
    stats: Arc<LinkStats>,
    /// Our media streams: SSRC → whether it is video.
    streams: HashMap<u32, bool>,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl LossReports {
    pub fn new(stats: Arc<LinkStats>) -> Self {
        LossReports {
            stats,
            streams: HashMap::new(),
            reads: VecDeque::new(),
            writes: VecDeque::new(),
        }
    }

    fn on_blocks(&self, blocks: &[ReceptionReport]) {
        // Video's report when there is one (more packets, a steadier fraction), else audio's.
        let mut best: Option<(bool, u8)> = None;
        for block in blocks {
            if let Some(&video) = self.streams.get(&block.ssrc) {
                if best.is_none_or(|(was_video, _)| video && !was_video) {
                    best = Some((video, block.fraction_lost));
                }
            }
        }
        if let Some((_, fraction)) = best {
            LinkStats::set(&self.stats.loss_permille, fraction as u64 * 1000 / 256);
            LinkStats::add(&self.stats.loss_reports, 1);
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for LossReports {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for packet in packets {
                let any = packet.as_any();
                if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                    self.on_blocks(&rr.reports);
                } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
                    self.on_blocks(&sr.reports);
                }
            }
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }
}

impl Interceptor for LossReports {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        let video = info.mime_type.to_ascii_lowercase().starts_with("video/");
        self.streams.insert(info.ssrc, video);
    }

    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.streams.remove(&info.ssrc);
    }

    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
