//! When each outgoing packet leaves: audio first, then retransmissions, then video, at
//! [`PACING_FACTOR`] times the congestion controller's target (as libwebrtc): a keyframe goes out
//! in a few tens of milliseconds instead of bursting, and audio never waits behind video.
//!
//! webrtc-rs's pacer has one queue in arrival order at exactly the target rate, so at a low
//! target audio packets waited behind seconds of video and were late for playout.
//!
//! The queue is bounded in bytes; past the bound the oldest video packets go (the receiver
//! asks for what it needs). The encoder reads the queue's size and skips frames while it is long.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::sansio::Protocol;
use rtc::shared::marshal::MarshalSize;

use super::LinkStats;

/// Packets leave at this multiple of the target bitrate.
pub const PACING_FACTOR: f64 = 2.5;
/// Retransmissions may use at most this share of the target; beyond it they are dropped, not
/// queued: on a congested link they would add to the congestion that lost the originals, and a
/// repair that cannot go now is too late later.
pub const RTX_SHARE: f64 = 0.3;
/// The most the queue holds, in bytes.
pub const MAX_QUEUED_BYTES: usize = 1 << 20;
/// Bytes that may leave at once after an idle moment.
const BURST: Duration = Duration::from_millis(5);
/// Never pace slower than this (the target's floor is the congestion controller's business).
const MIN_PACING_BPS: f64 = 100_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Audio,
    Retransmission,
    Video,
}

/// The queues and the budget. Pure: time is an input.
#[derive(Debug)]
pub struct PacingQueue<T> {
    queues: [VecDeque<(usize, T)>; 3],
    queued_bytes: usize,
    rate_bps: f64,
    /// Bits that may leave now; negative after a packet larger than what was left.
    budget_bits: f64,
    last_refill: Option<Instant>,
    pub dropped: u64,
    /// The retransmissions' own allowance, bits (see [`RTX_SHARE`]).
    rtx_budget_bits: f64,
    rtx_refill: Option<Instant>,
    pub rtx_dropped: u64,
}

impl<T> PacingQueue<T> {
    pub fn new(target_bps: f64) -> Self {
        PacingQueue {
            queues: Default::default(),
            queued_bytes: 0,
            rate_bps: (target_bps * PACING_FACTOR).max(MIN_PACING_BPS),
            budget_bits: 0.0,
            last_refill: None,
            dropped: 0,
            rtx_budget_bits: 0.0,
            rtx_refill: None,
            rtx_dropped: 0,
        }
    }

    pub fn set_target(&mut self, target_bps: f64) {
        self.rate_bps = (target_bps * PACING_FACTOR).max(MIN_PACING_BPS);
    }

    fn rtx_rate_bps(&self) -> f64 {
        self.rate_bps / PACING_FACTOR * RTX_SHARE
    }

    /// Whether a retransmission of `size` fits the retransmissions' allowance now (and takes
    /// it). The allowance holds at most 100 ms of their rate, so a burst of requests after an
    /// outage cannot all go.
    fn rtx_allowed(&mut self, now: Instant, size: usize) -> bool {
        let cap = (self.rtx_rate_bps() * 0.1).max(1500.0 * 8.0);
        let elapsed = self.rtx_refill.map_or(f64::INFINITY, |t| {
            now.saturating_duration_since(t).as_secs_f64()
        });
        self.rtx_refill = Some(now);
        self.rtx_budget_bits = (self.rtx_budget_bits + elapsed * self.rtx_rate_bps()).min(cap);
        let bits = (size * 8) as f64;
        if self.rtx_budget_bits < bits {
            self.rtx_dropped += 1;
            return false;
        }
        self.rtx_budget_bits -= bits;
        true
    }

    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    fn burst_bits(&self) -> f64 {
        (self.rate_bps * BURST.as_secs_f64()).max(1500.0 * 8.0)
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last_refill {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.budget_bits = (self.budget_bits + elapsed * self.rate_bps).min(self.burst_bits());
        } else {
            self.budget_bits = self.burst_bits();
        }
        self.last_refill = Some(now);
    }

    pub fn push(&mut self, now: Instant, priority: Priority, size: usize, item: T) {
        if priority == Priority::Retransmission && !self.rtx_allowed(now, size) {
            return;
        }
        self.refill(now);
        self.queues[priority as usize].push_back((size, item));
        self.queued_bytes += size;
        // Over the bound: the oldest video goes first, then the oldest retransmission.
        while self.queued_bytes > MAX_QUEUED_BYTES {
            let victim = [Priority::Video, Priority::Retransmission]
                .into_iter()
                .find_map(|p| self.queues[p as usize].pop_front());
            let Some((size, _)) = victim else { break };
            self.queued_bytes -= size;
            self.dropped += 1;
        }
    }

    /// The next packet that may leave now, highest priority first.
    pub fn pop(&mut self, now: Instant) -> Option<(usize, T)> {
        self.refill(now);
        if self.budget_bits <= 0.0 {
            return None;
        }
        let queue = self.queues.iter_mut().find(|q| !q.is_empty())?;
        let (size, item) = queue.pop_front()?;
        self.queued_bytes -= size;
        self.budget_bits -= (size * 8) as f64;
        Some((size, item))
    }

    /// When the next packet may leave, if any waits.
    pub fn next_release(&self) -> Option<Instant> {
        if self.queues.iter().all(VecDeque::is_empty) {
            return None;
        }
        let last = self.last_refill?;
        if self.budget_bits > 0.0 {
            return Some(last);
        }
        let wait = (-self.budget_bits + 1.0) / self.rate_bps;
        Some(last + Duration::from_secs_f64(wait))
    }
}

/// The interceptor around [`PacingQueue`].
pub struct PriorityPacer {
    queue: PacingQueue<TaggedPacket>,
    stats: Arc<LinkStats>,
    audio_ssrcs: Vec<u32>,
    video_ssrcs: Vec<u32>,
    reads: VecDeque<TaggedPacket>,
    /// RTCP, and packets released by the queue.
    writes: VecDeque<TaggedPacket>,
}

impl PriorityPacer {
    pub fn new(start_bps: f64, stats: Arc<LinkStats>) -> Self {
        PriorityPacer {
            queue: PacingQueue::new(start_bps),
            stats,
            audio_ssrcs: Vec::new(),
            video_ssrcs: Vec::new(),
            reads: VecDeque::new(),
            writes: VecDeque::new(),
        }
    }

    fn release(&mut self, now: Instant) {
        while let Some((size, mut packet)) = self.queue.pop(now) {
            // The departure the congestion controller records is this instant, not the enqueue.
            packet.now = now;
            self.writes.push_back(packet);
            LinkStats::add(&self.stats.bytes_sent, size as u64);
        }
        LinkStats::set(
            &self.stats.pacer_queued_bytes,
            self.queue.queued_bytes() as u64,
        );
        LinkStats::set(&self.stats.pacer_dropped, self.queue.dropped);
        LinkStats::set(&self.stats.rtx_dropped, self.queue.rtx_dropped);
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for PriorityPacer {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        let changed = Attribute::TargetBitrateChanged {
            bits_per_second: 0.0,
        };
        if let Some(Attribute::TargetBitrateChanged { bits_per_second }) = msg.message.get(&changed)
        {
            self.queue.set_target(*bits_per_second);
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        let Packet::Rtp(packet) = &msg.message.packet else {
            self.writes.push_back(msg);
            return Ok(());
        };
        // What the connection accepted from our tracks (a packet with a payload type it was not
        // given never gets here): what the report counts as sent.
        let ssrc = packet.header.ssrc;
        if self.audio_ssrcs.contains(&ssrc) {
            LinkStats::add(&self.stats.audio_packets_accepted, 1);
        } else if packet.header.marker && self.video_ssrcs.contains(&ssrc) {
            LinkStats::add(&self.stats.video_frames_accepted, 1);
        }
        let priority = if self.audio_ssrcs.contains(&ssrc) {
            Priority::Audio
        } else if msg.message.has(&Attribute::Retransmission) {
            if let [a, b, ..] = packet.payload[..] {
                tracing::trace!(seq = u16::from_be_bytes([a, b]), "retransmission");
            }
            Priority::Retransmission
        } else {
            Priority::Video
        };
        let size = packet.marshal_size();
        let now = msg.now;
        let rtx_dropped = self.queue.rtx_dropped;
        self.queue.push(now, priority, size, msg);
        if priority == Priority::Retransmission && self.queue.rtx_dropped == rtx_dropped {
            LinkStats::add(&self.stats.rtx_sent, 1);
        }
        self.release(now);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Self::Error> {
        self.release(now);
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.queue.next_release()
    }
}

impl Interceptor for PriorityPacer {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        if info.mime_type.to_ascii_lowercase().starts_with("audio/") {
            self.audio_ssrcs.push(info.ssrc);
        } else {
            self.video_ssrcs.push(info.ssrc);
        }
    }

    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.audio_ssrcs.retain(|s| *s != info.ssrc);
        self.video_ssrcs.retain(|s| *s != info.ssrc);
    }

    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn audio_leaves_before_queued_video() {
        let t0 = Instant::now();
        let mut q = PacingQueue::new(200_000.0);
        for i in 0..20 {
            q.push(t0, Priority::Video, 1200, format!("v{i}"));
        }
        q.push(t0, Priority::Audio, 100, "a".to_string());
        q.push(t0, Priority::Retransmission, 1200, "r".to_string());
        // Audio, then the retransmission, then video while the burst allowance lasts...
        let mut pop = |at| q.pop(at).map(|(_, item)| item);
        assert_eq!(pop(t0).as_deref(), Some("a"));
        assert_eq!(pop(t0).as_deref(), Some("r"));
        assert_eq!(pop(t0).as_deref(), Some("v0"));
        // ...then the rest waits for the budget to refill.
        assert_eq!(pop(t0), None);
        let next = q.next_release().expect("video waits");
        assert!(next > t0);
        assert_eq!(q.pop(next).map(|(_, item)| item).as_deref(), Some("v1"));
    }

    #[test]
    fn packets_leave_at_the_pacing_rate_not_at_once() {
        let t0 = Instant::now();
        // 400 kbit/s target → 1 Mbit/s pacing: 100 packets of 1250 bytes (1 Mbit) take ~1 s.
        let mut q = PacingQueue::new(400_000.0);
        for i in 0..100 {
            q.push(t0, Priority::Video, 1250, i);
        }
        let mut sent = 0;
        let mut now = t0;
        while sent < 100 {
            while q.pop(now).is_some() {
                sent += 1;
            }
            now = q.next_release().unwrap_or(now).max(now + ms(1));
        }
        let took = now - t0;
        assert!(took > ms(900) && took < ms(1100), "{took:?}");
    }

    #[test]
    fn retransmissions_get_a_share_of_the_target_and_no_more() {
        let t0 = Instant::now();
        // 1 Mbit/s target: retransmissions may take 300 kbit/s, at most 30 kbit at once.
        let mut q = PacingQueue::new(1_000_000.0);
        for i in 0..100 {
            q.push(t0, Priority::Retransmission, 1000, i);
        }
        assert_eq!(q.rtx_dropped, 97, "only 30 kbit of 800 went at once");
        // Over a second, about 300 kbit/s of them are let through.
        let mut admitted = 0;
        for ms in 1..=1000u64 {
            for _ in 0..2 {
                let before = q.rtx_dropped;
                q.push(
                    t0 + Duration::from_millis(ms),
                    Priority::Retransmission,
                    1000,
                    0,
                );
                admitted += (q.rtx_dropped == before) as u32;
            }
        }
        assert!((35..=40).contains(&admitted), "{admitted} admitted in 1 s");
    }

    #[test]
    fn the_queue_is_bounded_and_video_goes_first() {
        let t0 = Instant::now();
        let mut q = PacingQueue::new(100_000.0);
        q.push(t0, Priority::Audio, 100, 0u32);
        for i in 1..2000 {
            q.push(t0, Priority::Video, 1200, i);
        }
        assert!(q.queued_bytes() <= MAX_QUEUED_BYTES);
        assert!(q.dropped > 1000);
        assert_eq!(q.pop(t0), Some((100, 0)), "audio survived");
        // What is left is the newest video.
        assert!(q.pop(t0 + ms(100)).is_some_and(|(_, i)| i > 1000));
    }
}
