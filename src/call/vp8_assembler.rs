//! Reassembles VP8 frames from RTP packets as soon as a frame's last packet (the marker) is in.
//!
//! webrtc-rs's `SampleBuilder` holds each frame until a packet of the next one arrives, adding a
//! frame interval to every frame's latency; this emits on the marker instead. Packets may come out
//! of order or twice (NACK retransmissions fill gaps): they are kept by sequence number for a
//! while. A frame that cannot be completed in time is given up, and then nothing is decoded until
//! a keyframe arrives (a P-frame without its reference decodes to garbage). Pure: time is an input.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packetizer::Depacketizer;

/// How long a gap may wait for a retransmission before its frame is given up, unless told
/// otherwise ([`Vp8Assembler::set_max_gap_wait`]: the receiver stretches it to a few round trips).
pub const MAX_GAP_WAIT: Duration = Duration::from_millis(150);
/// Packets kept at most (a 720p keyframe at high bitrate is ~100 packets).
const MAX_PACKETS: usize = 1024;

/// One complete VP8 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledFrame {
    pub data: Bytes,
    pub rtp_timestamp: u32,
    pub keyframe: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assembled {
    Frame(AssembledFrame),
    /// Packets were lost for good: ask the sender for a keyframe (PLI).
    NeedKeyframe,
}

#[derive(Debug)]
struct Piece {
    timestamp: u32,
    marker: bool,
    /// First packet of the frame (S bit with partition 0).
    start: bool,
    payload: Bytes,
}

#[derive(Debug)]
pub struct Vp8Assembler {
    /// Keyed by sequence number unwrapped to 64 bits, so ordering survives wrap-around.
    pieces: BTreeMap<u64, Piece>,
    highest: Option<u64>,
    /// Where the next frame must start; `None` until a keyframe is in (or after giving up).
    expected: Option<u64>,
    /// Since when the expected packet has been missing while later ones arrived.
    gap_since: Option<Instant>,
    max_gap_wait: Duration,
    pub frames_out: u64,
    pub frames_dropped: u64,
    pub malformed: u64,
}

impl Default for Vp8Assembler {
    fn default() -> Self {
        Vp8Assembler {
            pieces: BTreeMap::new(),
            highest: None,
            expected: None,
            gap_since: None,
            max_gap_wait: MAX_GAP_WAIT,
            frames_out: 0,
            frames_dropped: 0,
            malformed: 0,
        }
    }
}

impl Vp8Assembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a hole may wait for its retransmission.
    pub fn set_max_gap_wait(&mut self, wait: Duration) {
        self.max_gap_wait = wait;
    }

    /// Nothing decodable until a keyframe arrives (at the start, or after giving a frame up).
    pub fn waiting_for_keyframe(&self) -> bool {
        self.expected.is_none()
    }

    /// Time passing with no packet: a hole may have waited long enough now.
    pub fn tick(&mut self, now: Instant) -> Vec<Assembled> {
        let mut out = Vec::new();
        self.drain(now, &mut out);
        out
    }

    /// Takes one RTP packet's fields; returns what became ready.
    pub fn push(
        &mut self,
        sequence_number: u16,
        timestamp: u32,
        marker: bool,
        payload: &Bytes,
        now: Instant,
    ) -> Vec<Assembled> {
        let mut out = Vec::new();
        let seq = self.unwrap(sequence_number);
        if self.expected.is_some_and(|e| seq < e) {
            return out; // already emitted or given up: a late duplicate
        }
        let mut descriptor = Vp8Packet::default();
        let Ok(vp8) = descriptor.depacketize(payload) else {
            self.malformed += 1;
            return out;
        };
        if vp8.is_empty() {
            self.malformed += 1;
            return out;
        }
        self.pieces.insert(
            seq,
            Piece {
                timestamp,
                marker,
                start: descriptor.s == 1 && descriptor.pid == 0,
                payload: vp8,
            },
        );
        while self.pieces.len() > MAX_PACKETS {
            self.pieces.pop_first();
        }
        self.drain(now, &mut out);
        out
    }

    fn unwrap(&mut self, seq: u16) -> u64 {
        let Some(high) = self.highest else {
            // Start high enough that a reordered earlier packet cannot go below zero.
            let first = (1u64 << 20) + seq as u64;
            self.highest = Some(first);
            return first;
        };
        let delta = seq.wrapping_sub(high as u16) as i16 as i64;
        let unwrapped = (high as i64 + delta).max(0) as u64;
        if unwrapped > high {
            self.highest = Some(unwrapped);
        }
        unwrapped
    }

    fn drain(&mut self, now: Instant, out: &mut Vec<Assembled>) {
        loop {
            match self.expected {
                Some(start) => {
                    if let Some((end, frame)) = self.complete_from(start) {
                        self.emit(start, end, frame, out);
                        continue;
                    }
                    if self.pieces.get(&start).is_some_and(|p| !p.start) {
                        // Not the head of a frame where one must begin: the stream is broken.
                        self.give_up(out);
                        continue;
                    }
                    // Waiting on `start`: a packet is missing only if the run has a hole (a big
                    // keyframe still arriving in order through the pacer is not a gap).
                    let Some(&last) = self.pieces.keys().next_back() else {
                        return;
                    };
                    let present = self.pieces.range(start..=last).count() as u64;
                    let missing = last >= start && present < last - start + 1;
                    if !missing {
                        self.gap_since = None;
                        return;
                    }
                    let since = *self.gap_since.get_or_insert(now);
                    if now.saturating_duration_since(since) < self.max_gap_wait {
                        return;
                    }
                    self.give_up(out);
                }
                None => {
                    // Resynchronise on the newest complete keyframe.
                    let Some((start, end, frame)) = self.newest_complete_keyframe() else {
                        return;
                    };
                    self.emit(start, end, frame, out);
                }
            }
        }
    }

    fn give_up(&mut self, out: &mut Vec<Assembled>) {
        tracing::debug!(
            expected = self.expected.map(|e| e as u16),
            highest = self.highest.map(|h| h as u16),
            "a frame is given up"
        );
        self.frames_dropped += 1;
        self.expected = None;
        self.gap_since = None;
        out.push(Assembled::NeedKeyframe);
    }

    /// A frame starting exactly at `start` and complete up to its marker.
    fn complete_from(&self, start: u64) -> Option<(u64, AssembledFrame)> {
        let first = self.pieces.get(&start)?;
        if !first.start {
            return None;
        }
        let mut seq = start;
        loop {
            let piece = self.pieces.get(&seq)?;
            if seq != start && (piece.timestamp != first.timestamp || piece.start) {
                // The next frame began without a marker on this one: it ended just before.
                return Some((seq - 1, self.join(start, seq - 1)));
            }
            if piece.marker {
                return Some((seq, self.join(start, seq)));
            }
            seq += 1;
        }
    }

    fn newest_complete_keyframe(&self) -> Option<(u64, u64, AssembledFrame)> {
        self.pieces
            .iter()
            .rev()
            .filter(|(_, p)| p.start && p.payload[0] & 0x01 == 0)
            .find_map(|(&start, _)| {
                self.complete_from(start)
                    .map(|(end, frame)| (start, end, frame))
            })
    }

    fn join(&self, start: u64, end: u64) -> AssembledFrame {
        let mut data = BytesMut::new();
        for (_, piece) in self.pieces.range(start..=end) {
            data.extend_from_slice(&piece.payload);
        }
        let first = &self.pieces[&start];
        AssembledFrame {
            // VP8 payload header: the P bit is 0 on keyframes.
            keyframe: first.payload[0] & 0x01 == 0,
            rtp_timestamp: first.timestamp,
            data: data.freeze(),
        }
    }

    fn emit(&mut self, start: u64, end: u64, frame: AssembledFrame, out: &mut Vec<Assembled>) {
        if let Some(expected) = self.expected {
            if start > expected {
                self.frames_dropped += 1;
            }
        }
        // Everything up to the frame's end is consumed.
        self.pieces = self.pieces.split_off(&(end + 1));
        self.expected = Some(end + 1);
        self.gap_since = None;
        self.frames_out += 1;
        out.push(Assembled::Frame(frame));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RTP payloads of one VP8 frame: a one-byte descriptor (S bit on the first) + data.
    fn packets(frame: &[u8], keyframe: bool, per_packet: usize) -> Vec<Bytes> {
        let mut body = frame.to_vec();
        body[0] = (body[0] & !1) | if keyframe { 0 } else { 1 };
        body.chunks(per_packet)
            .enumerate()
            .map(|(i, chunk)| {
                let mut p = vec![if i == 0 { 0x10 } else { 0x00 }];
                p.extend_from_slice(chunk);
                Bytes::from(p)
            })
            .collect()
    }

    struct Sender {
        seq: u16,
        ts: u32,
    }

    impl Sender {
        /// (seq, ts, marker, payload) for the next frame.
        fn frame(&mut self, n: u8, keyframe: bool) -> Vec<(u16, u32, bool, Bytes)> {
            let body: Vec<u8> = (0..25).map(|i| n.wrapping_add(i) | 0x02).collect();
            let ps = packets(&body, keyframe, 10);
            let count = ps.len();
            self.ts = self.ts.wrapping_add(3000);
            ps.into_iter()
                .enumerate()
                .map(|(i, p)| {
                    let seq = self.seq;
                    self.seq = self.seq.wrapping_add(1);
                    (seq, self.ts, i + 1 == count, p)
                })
                .collect()
        }
    }

    fn feed(
        a: &mut Vp8Assembler,
        pkts: &[(u16, u32, bool, Bytes)],
        now: Instant,
    ) -> Vec<Assembled> {
        pkts.iter()
            .flat_map(|(s, t, m, p)| a.push(*s, *t, *m, p, now))
            .collect()
    }

    fn frames(out: &[Assembled]) -> Vec<(u32, bool)> {
        out.iter()
            .filter_map(|o| match o {
                Assembled::Frame(f) => Some((f.rtp_timestamp, f.keyframe)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn in_order_frames_come_out_on_their_marker_across_seq_wrap() {
        let mut tx = Sender { seq: 65530, ts: 0 };
        let mut a = Vp8Assembler::new();
        let now = Instant::now();
        let key = tx.frame(1, true);
        // Nothing before the marker packet, the frame on it.
        assert!(feed(&mut a, &key[..2], now).is_empty());
        let out = feed(&mut a, &key[2..], now);
        assert_eq!(frames(&out), vec![(3000, true)]);
        if let Assembled::Frame(f) = &out[0] {
            assert_eq!(f.data.len(), 25);
        }
        for n in 2..6 {
            let out = feed(&mut a, &tx.frame(n, false), now);
            assert_eq!(frames(&out), vec![(3000 * n as u32, false)]);
        }
        assert_eq!(a.frames_out, 5);
    }

    #[test]
    fn reordered_and_duplicated_packets_still_make_each_frame_once() {
        let mut tx = Sender { seq: 100, ts: 0 };
        let mut a = Vp8Assembler::new();
        let now = Instant::now();
        let mut key = tx.frame(1, true);
        key.swap(0, 2);
        let mut out = feed(&mut a, &key, now);
        out.extend(feed(&mut a, &key, now));
        let mut second = tx.frame(2, false);
        second.reverse();
        out.extend(feed(&mut a, &second, now));
        assert_eq!(frames(&out), vec![(3000, true), (6000, false)]);
    }

    #[test]
    fn a_retransmission_within_the_wait_fills_the_gap() {
        let mut tx = Sender { seq: 7, ts: 0 };
        let mut a = Vp8Assembler::new();
        let t0 = Instant::now();
        feed(&mut a, &tx.frame(1, true), t0);
        let f2 = tx.frame(2, false);
        let f3 = tx.frame(3, false);
        // Packet 1 of frame 2 is lost at first; frame 3 arrives complete but must wait.
        let mut out = feed(&mut a, &[f2[0].clone(), f2[2].clone()], t0);
        out.extend(feed(&mut a, &f3, t0 + Duration::from_millis(20)));
        assert!(frames(&out).is_empty());
        // The NACKed packet comes back in time: both frames, in order.
        let out = feed(&mut a, &f2[1..2], t0 + Duration::from_millis(60));
        assert_eq!(frames(&out), vec![(6000, false), (9000, false)]);
    }

    #[test]
    fn a_lost_packet_asks_for_a_keyframe_and_skips_to_it() {
        let mut tx = Sender { seq: 0, ts: 0 };
        let mut a = Vp8Assembler::new();
        let t0 = Instant::now();
        feed(&mut a, &tx.frame(1, true), t0);
        let f2 = tx.frame(2, false);
        feed(&mut a, &f2[1..], t0);
        let f3 = tx.frame(3, false);
        let out = feed(&mut a, &f3, t0 + MAX_GAP_WAIT + Duration::from_millis(1));
        assert!(out.contains(&Assembled::NeedKeyframe));
        assert!(frames(&out).is_empty());
        // P-frames are not decodable now; the next keyframe is.
        assert!(frames(&feed(
            &mut a,
            &tx.frame(4, false),
            t0 + Duration::from_secs(1)
        ))
        .is_empty());
        let out = feed(&mut a, &tx.frame(5, true), t0 + Duration::from_secs(1));
        assert_eq!(frames(&out), vec![(15000, true)]);
        let out = feed(&mut a, &tx.frame(6, false), t0 + Duration::from_secs(1));
        assert_eq!(frames(&out), vec![(18000, false)]);
        assert!(a.frames_dropped >= 1);
    }

    #[test]
    fn a_hole_is_given_up_by_the_clock_too_and_the_wait_can_be_stretched() {
        let mut tx = Sender { seq: 0, ts: 0 };
        let mut a = Vp8Assembler::new();
        a.set_max_gap_wait(Duration::from_millis(400));
        let t0 = Instant::now();
        feed(&mut a, &tx.frame(1, true), t0);
        assert!(!a.waiting_for_keyframe());
        let f2 = tx.frame(2, false);
        feed(&mut a, &f2[1..], t0);
        // Past the default wait but within the stretched one: still waiting for the repair.
        assert!(a.tick(t0 + MAX_GAP_WAIT * 2).is_empty());
        // No packet arrives, yet the hole is given up when its time is up.
        let out = a.tick(t0 + Duration::from_millis(401));
        assert_eq!(out, vec![Assembled::NeedKeyframe]);
        assert!(a.waiting_for_keyframe());
    }

    #[test]
    fn it_starts_only_on_a_keyframe_and_survives_garbage() {
        let mut tx = Sender { seq: 0, ts: 0 };
        let mut a = Vp8Assembler::new();
        let now = Instant::now();
        assert!(frames(&feed(&mut a, &tx.frame(1, false), now)).is_empty());
        for junk in [&b""[..], &b"\x80"[..], &b"\xff\xff\xff"[..], &b"\x10"[..]] {
            a.push(tx.seq, 1, true, &Bytes::copy_from_slice(junk), now);
        }
        tx.seq = tx.seq.wrapping_add(1);
        let out = feed(&mut a, &tx.frame(2, true), now);
        assert_eq!(frames(&out), vec![(6000, true)]);
    }
}
