//! Asking for lost video packets again (RFC 4585 generic NACK), as libwebrtc does: at once when a
//! gap shows, again each round trip while it stays open, at most [`MAX_RETRIES`] times and no
//! longer than the receiver waits for a repair ([`LinkStats::repair_window`]). Repairs may come back on the RTX stream (RFC 4588); they close the gap of
//! the packet they carry, and the time from our request to the repair is a round-trip sample.
//!
//! webrtc-rs's own generator asks every 100 ms for every hole in its window and never sees RTX
//! repairs (they arrive under another SSRC), so it asks again for packets long repaired.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    nack_pairs_from_sequence_numbers, TransportLayerNack,
};
use rtc::sansio::Protocol;
use rtc::shared::TransportContext;

use super::LinkStats;

/// A packet is asked for at most this many times.
pub const MAX_RETRIES: u8 = 10;
/// Most packets missing at once; a larger hole is a jump (the sender restarted, or a burst
/// too long to repair), which the receiver answers with a keyframe request instead.
pub const MAX_MISSING: usize = 500;
/// Before the first repair or the transport tells us the round trip: what the receiver's
/// repair window assumes too ([`LinkStats::repair_window`]). At 100 ms, only two requests fit
/// that 230 ms window, and at 10 % loss each way a packet early in the call went unrepaired
/// (both requests or repairs lost: a keyframe wait and a 250 ms freeze) about once a call.
const DEFAULT_RTT: Duration = Duration::from_millis(50);
/// How often pending requests are looked at.
const TICK: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, Copy)]
struct Missing {
    detected: Instant,
    last_asked: Option<Instant>,
    asked: u8,
}

/// The gaps in one incoming stream. Pure: time is an input.
#[derive(Debug, Default)]
pub struct GapTracker {
    /// Sequence numbers unwrapped to 64 bits.
    highest: Option<u64>,
    missing: BTreeMap<u64, Missing>,
    rtt: Option<Duration>,
}

/// What one packet's arrival meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    InOrder,
    /// It filled a gap we had asked about, this long after the last request.
    Repaired(Option<Duration>),
    /// A duplicate, or older than anything we track.
    Stale,
}

impl GapTracker {
    fn unwrap(&self, seq: u16) -> u64 {
        match self.highest {
            None => (1 << 20) + seq as u64,
            Some(high) => {
                let delta = seq.wrapping_sub(high as u16) as i16 as i64;
                (high as i64 + delta).max(0) as u64
            }
        }
    }

    /// Records an arrival.
    pub fn on_packet(&mut self, seq: u16, now: Instant) -> Arrival {
        let seq = self.unwrap(seq);
        let Some(high) = self.highest else {
            self.highest = Some(seq);
            return Arrival::InOrder;
        };
        if seq > high {
            let gap = seq - high - 1;
            if gap as usize > MAX_MISSING {
                // A jump: nothing in between is worth asking for.
                self.missing.clear();
            } else {
                for lost in high + 1..seq {
                    self.missing.insert(
                        lost,
                        Missing {
                            detected: now,
                            last_asked: None,
                            asked: 0,
                        },
                    );
                }
                while self.missing.len() > MAX_MISSING {
                    self.missing.pop_first();
                }
            }
            self.highest = Some(seq);
            return Arrival::InOrder;
        }
        match self.missing.remove(&seq) {
            // A round trip only from a packet asked for once: after two requests, which one
            // this repair answers is unknown (Karn's rule), and taking the later one would
            // shrink the estimate until requests outrun their repairs.
            Some(m) => Arrival::Repaired(
                m.last_asked
                    .filter(|_| m.asked == 1)
                    .map(|t| now.saturating_duration_since(t)),
            ),
            None => Arrival::Stale,
        }
    }

    /// A round-trip sample (smoothed; used to time the next requests).
    pub fn on_rtt(&mut self, sample: Duration) {
        self.rtt = Some(match self.rtt {
            None => sample,
            Some(rtt) => (rtt * 7 + sample) / 8,
        });
    }

    /// The round trip requests are timed by: ours once a repair was timed (never under
    /// `known`, the transport's), before that the transport's when known.
    pub fn rtt(&self, known: Duration) -> Duration {
        match self.rtt {
            Some(rtt) => rtt.max(known),
            None if known > Duration::ZERO => known,
            None => DEFAULT_RTT,
        }
    }

    /// The sequence numbers to ask for now; forgets those asked too often or older than
    /// `max_age` (their frame is given up by then). `min_rtt` is the round trip known otherwise
    /// (transport feedback), below which requests are not repeated.
    pub fn due(&mut self, now: Instant, max_age: Duration, min_rtt: Duration) -> Vec<u16> {
        // Again after a round trip and a little: the repair may still be on its way.
        let again_after = self.rtt(min_rtt).mul_f64(1.2) + Duration::from_millis(5);
        self.missing.retain(|&seq, m| {
            let keep = m.asked < MAX_RETRIES && now.saturating_duration_since(m.detected) < max_age;
            if !keep {
                tracing::debug!(seq = seq as u16, asked = m.asked, "no repair came");
            }
            keep
        });
        let mut due = Vec::new();
        for (&seq, m) in self.missing.iter_mut() {
            let ask = m
                .last_asked
                .is_none_or(|t| now.saturating_duration_since(t) >= again_after);
            if ask {
                m.last_asked = Some(now);
                m.asked += 1;
                due.push(seq as u16);
            }
        }
        due
    }

    pub fn missing(&self) -> usize {
        self.missing.len()
    }
}

struct Stream {
    media_ssrc: u32,
    gaps: GapTracker,
}

/// The interceptor: watches incoming RTP of streams that negotiated NACK (and their RTX
/// streams), and writes NACKs.
pub struct NackRequester {
    stats: Arc<LinkStats>,
    sender_ssrc: u32,
    streams: HashMap<u32, Stream>,
    /// RTX SSRC → the media SSRC it repairs.
    repair_of: HashMap<u32, u32>,
    next_tick: Option<Instant>,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl NackRequester {
    pub fn new(stats: Arc<LinkStats>) -> Self {
        NackRequester {
            stats,
            sender_ssrc: rand::random(),
            streams: HashMap::new(),
            repair_of: HashMap::new(),
            next_tick: None,
            reads: VecDeque::new(),
            writes: VecDeque::new(),
        }
    }

    fn on_rtp(&mut self, ssrc: u32, seq: u16, payload: &[u8], now: Instant) {
        // An RTX packet carries the original sequence number in its first two bytes.
        let (media_ssrc, seq) = match self.repair_of.get(&ssrc) {
            Some(&media) if payload.len() >= 2 => {
                (media, u16::from_be_bytes([payload[0], payload[1]]))
            }
            Some(_) => return, // padding on the RTX stream
            None => (ssrc, seq),
        };
        let Some(stream) = self.streams.get_mut(&media_ssrc) else {
            return;
        };
        if let Arrival::Repaired(after) = stream.gaps.on_packet(seq, now) {
            LinkStats::add(&self.stats.nack_repaired, 1);
            if let Some(rtt) = after {
                stream.gaps.on_rtt(rtt);
            }
        }
        if stream.gaps.missing() > 0 && self.next_tick.is_none() {
            self.next_tick = Some(now);
        }
    }

    fn request(&mut self, now: Instant) {
        let max_age = self.stats.repair_window();
        let min_rtt = self.stats.rtt().unwrap_or_default();
        for stream in self.streams.values_mut() {
            let due = stream.gaps.due(now, max_age, min_rtt);
            if due.is_empty() {
                continue;
            }
            LinkStats::add(&self.stats.nack_sent, due.len() as u64);
            let nack = TransportLayerNack {
                sender_ssrc: self.sender_ssrc,
                media_ssrc: stream.media_ssrc,
                nacks: nack_pairs_from_sequence_numbers(&due),
            };
            self.writes.push_back(TaggedPacket {
                now,
                transport: TransportContext::default(),
                message: Packet::Rtcp(vec![Box::new(nack)]).into(),
            });
        }
        let pending = self.streams.values().any(|s| s.gaps.missing() > 0);
        self.next_tick = pending.then(|| now + TICK);
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for NackRequester {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtp(packet) = &msg.message.packet {
            LinkStats::add(&self.stats.rtp_received, 1);
            let h = &packet.header;
            self.on_rtp(h.ssrc, h.sequence_number, &packet.payload, msg.now);
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

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Self::Error> {
        if self.next_tick.is_some_and(|t| now >= t) {
            self.request(now);
        }
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.next_tick
    }
}

impl Interceptor for NackRequester {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}

    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        let nack = info
            .rtcp_feedback
            .iter()
            .any(|fb| fb.typ == "nack" && fb.parameter.is_empty());
        if !nack {
            return;
        }
        self.streams.insert(
            info.ssrc,
            Stream {
                media_ssrc: info.ssrc,
                gaps: GapTracker::default(),
            },
        );
        if let Some(rtx) = info.ssrc_rtx {
            self.repair_of.insert(rtx, info.ssrc);
        }
    }

    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        self.streams.remove(&info.ssrc);
        self.repair_of.retain(|_, media| *media != info.ssrc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGE: Duration = Duration::from_millis(600);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_gap_is_asked_for_at_once_then_after_each_round_trip() {
        let t0 = Instant::now();
        let mut g = GapTracker::default();
        g.on_packet(10, t0);
        g.on_packet(13, t0);
        assert_eq!(g.due(t0, AGE, Duration::ZERO), vec![11, 12]);
        // Not again before a round trip (50 ms until one is known, and a little).
        assert!(g.due(t0 + ms(50), AGE, Duration::ZERO).is_empty());
        assert_eq!(g.due(t0 + ms(130), AGE, Duration::ZERO), vec![11, 12]);
        // The transport's round trip stands in until a repair is timed: 10 ms, so again at 17.
        let mut h = GapTracker::default();
        h.on_packet(10, t0);
        h.on_packet(12, t0);
        assert_eq!(h.due(t0, AGE, ms(10)), vec![11]);
        assert!(h.due(t0 + ms(16), AGE, ms(10)).is_empty());
        assert_eq!(h.due(t0 + ms(18), AGE, ms(10)), vec![11]);
        // 11 comes back 20 ms after the second request: the round trip shrinks toward it.
        // 11 comes back after the second request: which request it answers is unknown, so it
        // gives no round-trip sample.
        assert_eq!(g.on_packet(11, t0 + ms(150)), Arrival::Repaired(None));
        assert_eq!(g.missing(), 1);
        g.on_rtt(ms(20));
        assert_eq!(g.rtt(Duration::ZERO), ms(20));
        g.on_rtt(ms(100));
        assert_eq!(g.rtt(Duration::ZERO), ms(30));
        // A known round trip keeps requests from coming faster than repairs can.
        g.on_packet(20, t0 + ms(200));
        assert_eq!(
            g.due(t0 + ms(200), AGE, ms(80)),
            (14..20).collect::<Vec<u16>>()
        );
        assert!(
            g.due(t0 + ms(250), AGE, ms(80)) == vec![12],
            "only 12 is due again (asked at 130)"
        );
    }

    #[test]
    fn requests_stop_after_the_retry_limit_and_the_age_limit() {
        let t0 = Instant::now();
        let mut g = GapTracker::default();
        g.on_rtt(ms(5));
        g.on_packet(1, t0);
        g.on_packet(3, t0);
        let mut asked = 0;
        for step in 0..100 {
            asked += g.due(t0 + ms(step * 20), AGE, Duration::ZERO).len();
        }
        assert_eq!(asked, MAX_RETRIES as usize);
        assert_eq!(g.missing(), 0);

        g.on_packet(5, t0 + ms(30_000));
        g.due(t0 + ms(30_000), AGE, Duration::ZERO);
        assert!(
            g.due(t0 + ms(30_601), AGE, Duration::ZERO).is_empty(),
            "older than the age limit"
        );
        assert_eq!(g.missing(), 0);
    }

    #[test]
    fn a_jump_is_not_a_thousand_requests_and_wrap_around_is_not_a_gap() {
        let t0 = Instant::now();
        let mut g = GapTracker::default();
        g.on_packet(100, t0);
        g.on_packet(30_000, t0);
        assert!(g.due(t0, AGE, Duration::ZERO).is_empty());
        let mut g = GapTracker::default();
        g.on_packet(65_534, t0);
        g.on_packet(65_535, t0);
        g.on_packet(0, t0);
        g.on_packet(2, t0);
        assert_eq!(g.due(t0, AGE, Duration::ZERO), vec![1]);
        assert_eq!(g.on_packet(1, t0), Arrival::Repaired(Some(Duration::ZERO)));
        assert_eq!(g.on_packet(1, t0), Arrival::Stale);
    }

    #[test]
    fn reordering_inside_the_window_is_repaired_without_a_round_trip_sample() {
        let t0 = Instant::now();
        let mut g = GapTracker::default();
        g.on_packet(1, t0);
        g.on_packet(3, t0);
        assert_eq!(g.on_packet(2, t0 + ms(1)), Arrival::Repaired(None));
        assert_eq!(g.rtt(Duration::ZERO), DEFAULT_RTT);
    }
}
