//! Audio jitter buffer: turns packets arriving at irregular times, out of
//! order, duplicated or not at all into one 20 ms playout decision per
//! speaker tick.
//!
//! Pure logic: the caller passes arrival and playout times (µs on any
//! monotonic clock), so tests run faster than real time.
//!
//! Delay adapts like NetEq: the target delay is a high quantile (default
//! 95th percentile) of the packets' relative transit delay over a sliding
//! window, clamped to `[min_delay, max_delay]`. When more than target +
//! `excess` is buffered we drop one packet per tick to catch up. When the
//! buffer runs dry (the delay jumped) we extrapolate without giving up our
//! place, as NetEq's "expand" does: the late packet then plays after the
//! extrapolated audio, the delay has grown by what the link added, and no
//! silence is heard. Only after [`MAX_EXPAND_TICKS`] of nothing (the other
//! side muted, or the link died) do we stop and re-buffer.

use std::collections::{BTreeMap, VecDeque};

use super::frame::{BLOCK_US, SAMPLE_RATE};

/// Ticks of extrapolation after the buffer runs dry before playback stops
/// (Opus's concealment fades out by then anyway).
pub const MAX_EXPAND_TICKS: u32 = 10;

/// A change in transit delay larger than this starts the delay estimate over.
const TIMELINE_JUMP_US: i64 = 500_000;

/// Tuning of a [`JitterBuffer`].
#[derive(Debug, Clone)]
pub struct JitterConfig {
    /// Lowest target delay, µs.
    pub min_delay_us: u64,
    /// Highest target delay; also the most audio ever buffered, µs.
    pub max_delay_us: u64,
    /// Most packets held; beyond this the oldest is dropped.
    pub max_packets: usize,
    /// Number of recent packets whose transit delay feeds the estimate.
    pub window: usize,
    /// Quantile of transit delay (0..1) the target delay covers.
    pub quantile: f64,
    /// Buffered audio allowed above target before dropping packets, µs.
    pub excess_us: u64,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            min_delay_us: 40_000,
            max_delay_us: 400_000,
            max_packets: 50,
            window: 150, // 3 s of 20 ms packets
            quantile: 0.95,
            excess_us: 60_000,
        }
    }
}

/// What to play for one 20 ms tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Decode this packet.
    Packet { seq: u16, payload: Vec<u8> },
    /// Packet `seq` is lost: conceal it. If the following packet is already
    /// here it is given too, so an Opus decoder can use its in-band FEC.
    Conceal {
        seq: u16,
        next_payload: Option<Vec<u8>>,
    },
    /// Nothing has arrived to play: extrapolate 20 ms (packet-loss
    /// concealment) and keep waiting for the next packet.
    Expand,
    /// Nothing to play yet (not started, or re-buffering after an underrun).
    Silence,
}

/// Counters for the UI and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JitterStats {
    pub packets_in: u64,
    pub played: u64,
    /// Arrived after their turn had passed (includes duplicates of packets
    /// already played).
    pub late: u64,
    /// Duplicates of a packet still waiting in the buffer.
    pub duplicates: u64,
    /// Thrown away to bound delay or memory.
    pub dropped: u64,
    pub concealed: u64,
    /// Ticks extrapolated because nothing had arrived.
    pub expanded: u64,
    pub underruns: u64,
    pub target_delay_us: u64,
    pub buffered_packets: u64,
}

/// See the module documentation.
#[derive(Debug)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    packets: BTreeMap<i64, Vec<u8>>,
    highest_seq: Option<i64>,
    highest_ts: Option<i64>,
    /// Next extended sequence number to play; `None` before the first start.
    next: Option<i64>,
    playing: bool,
    /// Consecutive ticks extrapolated while the buffer was dry.
    expanding: u32,
    buffering_since: Option<u64>,
    transits: VecDeque<i64>,
    stats: JitterStats,
}

impl JitterBuffer {
    pub fn new(cfg: JitterConfig) -> Self {
        let mut cfg = cfg;
        cfg.max_delay_us = cfg.max_delay_us.max(cfg.min_delay_us);
        cfg.max_packets = cfg.max_packets.max(2);
        cfg.window = cfg.window.max(1);
        cfg.quantile = cfg.quantile.clamp(0.0, 1.0);
        let stats = JitterStats {
            target_delay_us: cfg.min_delay_us,
            ..Default::default()
        };
        JitterBuffer {
            cfg,
            packets: BTreeMap::new(),
            highest_seq: None,
            highest_ts: None,
            next: None,
            playing: false,
            expanding: 0,
            buffering_since: None,
            transits: VecDeque::new(),
            stats,
        }
    }

    /// Current counters.
    pub fn stats(&self) -> JitterStats {
        let mut s = self.stats.clone();
        s.buffered_packets = self.packets.len() as u64;
        s
    }

    /// Current target delay, µs.
    pub fn target_delay_us(&self) -> u64 {
        self.stats.target_delay_us
    }

    /// Extends a 16-bit sequence number relative to the highest one seen, so
    /// ordering survives the wrap from 65535 to 0.
    fn unwrap_seq(&mut self, seq: u16) -> i64 {
        let ext = match self.highest_seq {
            None => seq as i64,
            Some(h) => h + seq.wrapping_sub(h as u16) as i16 as i64,
        };
        self.highest_seq = Some(self.highest_seq.map_or(ext, |h| h.max(ext)));
        ext
    }

    fn unwrap_ts(&mut self, ts: u32) -> i64 {
        let ext = match self.highest_ts {
            None => ts as i64,
            Some(h) => h + ts.wrapping_sub(h as u32) as i32 as i64,
        };
        self.highest_ts = Some(self.highest_ts.map_or(ext, |h| h.max(ext)));
        ext
    }

    /// Records the packet's transit delay and recomputes the target delay.
    fn measure(&mut self, ext_ts: i64, arrival_us: u64) {
        // Wide and saturating: the timestamps are the other side's to choose, and crafted
        // jumps grow the extended one without bound.
        let media_us = ext_ts as i128 * 1_000_000 / SAMPLE_RATE as i128;
        let transit =
            (arrival_us as i128 - media_us).clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        // A jump of more than half a second is a new timeline (the sender paused: muted, or its
        // clock restarted), not jitter to cover for the next seconds.
        if self
            .transits
            .back()
            .is_some_and(|last| transit.saturating_sub(*last).saturating_abs() > TIMELINE_JUMP_US)
        {
            self.transits.clear();
        }
        self.transits.push_back(transit);
        while self.transits.len() > self.cfg.window {
            self.transits.pop_front();
        }
        let mut sorted: Vec<i64> = self.transits.iter().copied().collect();
        sorted.sort_unstable();
        let q_idx = ((sorted.len() - 1) as f64 * self.cfg.quantile).round() as usize;
        let jitter = sorted[q_idx].saturating_sub(sorted[0]).max(0) as u64;
        self.stats.target_delay_us =
            (jitter + BLOCK_US).clamp(self.cfg.min_delay_us, self.cfg.max_delay_us);
    }

    /// Adds a received packet. `arrival_us` is the receive time.
    pub fn push(&mut self, seq: u16, rtp_ts: u32, payload: Vec<u8>, arrival_us: u64) {
        self.stats.packets_in += 1;
        let ext = self.unwrap_seq(seq);
        let ext_ts = self.unwrap_ts(rtp_ts);
        // Late packets count for the delay estimate too: they are exactly
        // the ones a larger delay would have saved.
        self.measure(ext_ts, arrival_us);
        // Far ahead of what plays next: the other side's stream restarted (or lies). Start over
        // from here rather than concede everything in between.
        if self
            .next
            .is_some_and(|n| ext.saturating_sub(n) > self.cfg.max_packets as i64 * 4)
        {
            self.stats.dropped += self.packets.len() as u64;
            self.packets.clear();
            self.next = Some(ext);
            self.expanding = 0;
        }
        if self.next.is_some_and(|n| ext < n) {
            self.stats.late += 1;
            return;
        }
        if self.packets.contains_key(&ext) {
            self.stats.duplicates += 1;
            return;
        }
        self.packets.insert(ext, payload);
        if !self.playing && self.buffering_since.is_none() {
            self.buffering_since = Some(arrival_us);
        }
        while self.packets.len() > self.cfg.max_packets {
            if let Some((k, _)) = self.packets.pop_first() {
                self.stats.dropped += 1;
                if self.next.is_some_and(|n| k >= n) {
                    self.next = Some(k + 1);
                }
            }
        }
    }

    /// Audio buffered from the next packet to play to the newest one, µs
    /// (missing packets in between count: they will be concealed).
    fn span_us(&self) -> u64 {
        match (
            self.packets.first_key_value(),
            self.packets.last_key_value(),
        ) {
            (Some((&first, _)), Some((&last, _))) => {
                let from = self.next.unwrap_or(first).min(first);
                (last - from + 1) as u64 * BLOCK_US
            }
            _ => 0,
        }
    }

    /// Drops what lies beyond the most audio ever buffered, at once.
    fn skip_to_max_delay(&mut self) {
        let Some((&last, _)) = self.packets.last_key_value() else {
            return;
        };
        let slots = (self.cfg.max_delay_us / BLOCK_US).max(1) as i64;
        let keep_from = last - slots + 1;
        if self.next.is_some_and(|n| n < keep_from) {
            let kept = self.packets.split_off(&keep_from);
            self.stats.dropped += self.packets.len() as u64;
            self.packets = kept;
            self.next = Some(keep_from);
        }
    }

    /// Skips the next slot to reduce delay, dropping its packet if present.
    fn skip_one(&mut self) {
        if let Some(n) = self.next {
            if self.packets.remove(&n).is_some() {
                self.stats.dropped += 1;
            }
            self.next = Some(n + 1);
        }
    }

    /// Decides what to play for the 20 ms tick at `now_us`. Call exactly
    /// once per 20 ms of audio the speaker consumes.
    pub fn pop(&mut self, now_us: u64) -> Playout {
        let target = self.stats.target_delay_us;
        if !self.playing {
            let Some((&first, _)) = self.packets.first_key_value() else {
                return Playout::Silence;
            };
            let waited = self
                .buffering_since
                .is_some_and(|t| now_us.saturating_sub(t) >= target);
            if self.span_us() < target && !waited {
                return Playout::Silence;
            }
            self.playing = true;
            self.buffering_since = None;
            self.next = Some(self.next.unwrap_or(first).min(first));
        }
        // Bound delay: hard cap at max (in one step, however far behind), then gentle catch-up
        // above target.
        self.skip_to_max_delay();
        if self.span_us() > target + self.cfg.excess_us {
            self.skip_one();
        }
        if self.packets.is_empty() {
            // Dry: keep our place (the packet may still come) and extrapolate,
            // for a while; then stop and re-buffer.
            if self.expanding == 0 {
                self.stats.underruns += 1;
            }
            self.expanding += 1;
            if self.expanding > MAX_EXPAND_TICKS {
                self.playing = false;
                self.expanding = 0;
                self.buffering_since = None;
                return Playout::Silence;
            }
            self.stats.expanded += 1;
            return Playout::Expand;
        }
        self.expanding = 0;
        let Some(n) = self.next else {
            return Playout::Silence; // unreachable: set when playing starts
        };
        self.next = Some(n + 1);
        if let Some(payload) = self.packets.remove(&n) {
            self.stats.played += 1;
            Playout::Packet {
                seq: n as u16,
                payload,
            }
        } else {
            self.stats.concealed += 1;
            Playout::Conceal {
                seq: n as u16,
                next_payload: self.packets.get(&(n + 1)).cloned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: u64 = BLOCK_US;

    /// A packet as sent: seq, rtp timestamp, arrival time.
    #[derive(Clone, Copy)]
    struct Arrival {
        seq: u16,
        ts: u32,
        at: u64,
    }

    fn steady(first_seq: u16, first_ts: u32, n: usize, start_us: u64) -> Vec<Arrival> {
        (0..n)
            .map(|i| Arrival {
                seq: first_seq.wrapping_add(i as u16),
                ts: first_ts.wrapping_add(i as u32 * 960),
                at: start_us + i as u64 * TICK,
            })
            .collect()
    }

    struct Run {
        outputs: Vec<(u64, Playout)>,
        max_delay_seen: u64,
        jb: JitterBuffer,
        targets: Vec<u64>,
    }

    /// Feeds arrivals and pops every 20 ms until `end_us`, checking the
    /// invariants every run must keep.
    fn simulate(cfg: JitterConfig, mut arrivals: Vec<Arrival>, end_us: u64) -> Run {
        arrivals.sort_by_key(|a| a.at);
        let mut jb = JitterBuffer::new(cfg.clone());
        let mut sent_at = std::collections::HashMap::new();
        let mut outputs = Vec::new();
        let mut targets = Vec::new();
        let mut max_delay_seen = 0;
        let mut i = 0;
        let mut now = 5_000; // pops are not aligned with sends
        while now < end_us {
            while i < arrivals.len() && arrivals[i].at <= now {
                let a = arrivals[i];
                sent_at.entry(a.seq).or_insert(a.at);
                jb.push(a.seq, a.ts, vec![a.seq as u8], a.at);
                i += 1;
            }
            let out = jb.pop(now);
            if let Playout::Packet { seq, .. } = &out {
                let waited = now - sent_at[seq];
                max_delay_seen = max_delay_seen.max(waited);
            }
            outputs.push((now, out));
            targets.push(jb.target_delay_us());
            now += TICK;
        }
        // Invariants: played/concealed sequence numbers strictly increase
        // (mod 2^16) and every packet is accounted for.
        let seqs: Vec<u16> = outputs
            .iter()
            .filter_map(|(_, o)| match o {
                Playout::Packet { seq, .. } | Playout::Conceal { seq, .. } => Some(*seq),
                Playout::Silence | Playout::Expand => None,
            })
            .collect();
        for w in seqs.windows(2) {
            let step = w[1].wrapping_sub(w[0]);
            assert!((1..1000).contains(&step), "seq went {} -> {}", w[0], w[1]);
        }
        let s = jb.stats();
        assert_eq!(
            s.played + s.late + s.duplicates + s.dropped + s.buffered_packets,
            s.packets_in,
            "{s:?}"
        );
        assert!(s.target_delay_us >= cfg.min_delay_us && s.target_delay_us <= cfg.max_delay_us);
        Run {
            outputs,
            max_delay_seen,
            jb,
            targets,
        }
    }

    fn count(run: &Run, f: impl Fn(&Playout) -> bool) -> usize {
        run.outputs.iter().filter(|(_, o)| f(o)).count()
    }

    #[test]
    fn steady_stream_plays_every_packet_in_order() {
        let run = simulate(JitterConfig::default(), steady(100, 0, 200, 0), 200 * TICK);
        let s = run.jb.stats();
        assert!(s.played >= 195, "{s:?}");
        assert_eq!((s.concealed, s.late, s.dropped, s.underruns), (0, 0, 0, 0));
        assert_eq!(s.target_delay_us, 40_000);
        // Starts after about the target delay, then never stops.
        let first = run
            .outputs
            .iter()
            .position(|(_, o)| !matches!(o, Playout::Silence))
            .unwrap();
        assert!((1..=3).contains(&first), "{first}");
        assert_eq!(count(&run, |o| matches!(o, Playout::Silence)), first);
        assert!(run.max_delay_seen <= 60_000, "{}", run.max_delay_seen);
    }

    #[test]
    fn reordering_is_undone() {
        let mut a = steady(0, 0, 100, 0);
        for pair in a.chunks_mut(2) {
            // Odd packet arrives 5 ms before its even predecessor.
            let t = pair[0].at;
            pair[0].at = pair[1].at + 5_000;
            pair[1].at = t;
        }
        let run = simulate(JitterConfig::default(), a, 110 * TICK);
        let s = run.jb.stats();
        assert_eq!((s.concealed, s.late), (0, 0), "{s:?}");
        assert_eq!(s.played, 100);
    }

    #[test]
    fn losses_are_concealed_with_fec_hint() {
        let a: Vec<_> = steady(0, 0, 100, 0)
            .into_iter()
            .filter(|a| a.seq % 10 != 5)
            .collect();
        let run = simulate(JitterConfig::default(), a, 110 * TICK);
        let s = run.jb.stats();
        assert_eq!(s.concealed, 10, "{s:?}");
        assert_eq!(s.played, 90);
        let with_fec = count(
            &run,
            |o| matches!(o, Playout::Conceal { seq, next_payload: Some(p) } if p[0] == (*seq as u8).wrapping_add(1)),
        );
        assert_eq!(with_fec, 10);
    }

    #[test]
    fn duplicates_and_late_packets_are_dropped() {
        let mut a = steady(0, 0, 100, 0);
        a.extend(steady(10, 9600, 5, 10 * TICK + 1_000)); // duplicates, in time
        let mut late = steady(50, 48_000, 1, 0)[0];
        late.at = 90 * TICK; // 40 packets after its turn
        a.retain(|x| !(x.seq == 50 && x.at == 50 * TICK));
        a.push(late);
        let run = simulate(JitterConfig::default(), a, 110 * TICK);
        let s = run.jb.stats();
        assert_eq!(s.duplicates, 5, "{s:?}");
        assert_eq!(s.late, 1);
        assert_eq!(s.concealed, 1);
        assert_eq!(s.played, 99);
    }

    #[test]
    fn sequence_and_timestamp_wrap() {
        let a = steady(65_500, u32::MAX - 960 * 10, 100, 0);
        let run = simulate(JitterConfig::default(), a, 110 * TICK);
        let s = run.jb.stats();
        assert_eq!((s.played, s.concealed, s.late), (100, 0, 0), "{s:?}");
        assert_eq!(s.target_delay_us, 40_000, "wrap must not look like jitter");
    }

    #[test]
    fn gap_then_burst_recovers_with_bounded_delay() {
        let mut a = steady(0, 0, 300, 0);
        // Packets 100..110 are held up 200 ms, then arrive in one burst.
        for x in a.iter_mut().filter(|x| (100..110).contains(&x.seq)) {
            x.at = 110 * TICK;
        }
        let run = simulate(JitterConfig::default(), a, 320 * TICK);
        let s = run.jb.stats();
        assert_eq!(s.late, 0, "burst packets arrive while we wait: {s:?}");
        assert!(s.underruns >= 1);
        assert!(run.max_delay_seen <= 400_000 + TICK);
        // After the burst, the buffer catches up to the target again.
        let tail_delay: Vec<_> = run.outputs[250..]
            .iter()
            .filter(|(_, o)| matches!(o, Playout::Packet { .. }))
            .collect();
        assert!(!tail_delay.is_empty());
        assert!(run.jb.stats().buffered_packets <= 8, "{s:?}");
    }

    #[test]
    fn a_delay_jump_is_bridged_by_extrapolation_not_silence() {
        let mut a = steady(0, 0, 300, 0);
        // From packet 100 on everything is 150 ms later (a queue built up on the way).
        for x in a.iter_mut().filter(|x| x.seq >= 100) {
            x.at += 150_000;
        }
        let run = simulate(JitterConfig::default(), a, 320 * TICK);
        let s = run.jb.stats();
        let first = run
            .outputs
            .iter()
            .position(|(_, o)| !matches!(o, Playout::Silence))
            .unwrap();
        let last_packet = run
            .outputs
            .iter()
            .rposition(|(_, o)| matches!(o, Playout::Packet { .. }))
            .unwrap();
        let silent = run.outputs[first..last_packet]
            .iter()
            .filter(|(_, o)| matches!(o, Playout::Silence))
            .count();
        assert_eq!(silent, 0, "{s:?}");
        assert!(s.expanded >= 5, "{s:?}");
        assert_eq!(
            (s.late, s.played),
            (0, 300),
            "every packet still played: {s:?}"
        );
    }

    #[test]
    fn a_long_pause_stops_playback_until_audio_returns() {
        let mut a = steady(0, 0, 50, 0);
        a.extend(steady(50, 50 * 960, 50, 2_000_000));
        let run = simulate(JitterConfig::default(), a, 170 * TICK);
        let s = run.jb.stats();
        // Extrapolated over the pause's start and after the last packet; silent in between.
        assert_eq!(s.expanded, 2 * MAX_EXPAND_TICKS as u64, "{s:?}");
        // The pause is not taken for jitter.
        assert_eq!(s.target_delay_us, 40_000, "{s:?}");
        let silences = run.outputs[60..100]
            .iter()
            .filter(|(_, o)| matches!(o, Playout::Silence))
            .count();
        assert!(silences >= 25, "{s:?}");
        assert_eq!(s.played, 100);
    }

    #[test]
    fn target_follows_jitter_up_and_down() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut a = steady(0, 0, 600, 0);
        for x in a.iter_mut().filter(|x| (150..300).contains(&x.seq)) {
            x.at += rng.random_range(0..100_000); // up to 100 ms jitter
        }
        let run = simulate(JitterConfig::default(), a, 620 * TICK);
        let before = run.targets[140];
        let during = run.targets[300];
        let after = run.targets[615];
        assert_eq!(before, 40_000);
        assert!(during >= 80_000, "target {during} under 100 ms jitter");
        assert!(after <= 45_000, "target {after} should shrink again");
        let s = run.jb.stats();
        assert!(s.late <= 10, "95th percentile keeps most packets: {s:?}");
    }

    #[test]
    fn memory_is_bounded() {
        let cfg = JitterConfig {
            max_packets: 10,
            ..Default::default()
        };
        let mut jb = JitterBuffer::new(cfg);
        for i in 0..100u16 {
            jb.push(i, i as u32 * 960, vec![0; 10], 0);
        }
        let s = jb.stats();
        assert_eq!(s.buffered_packets, 10);
        assert_eq!(s.dropped, 90);
        assert!(matches!(jb.pop(1_000_000), Playout::Packet { seq, .. } if seq >= 90));
    }

    #[test]
    fn crafted_timestamps_do_not_overflow() {
        // Each packet's timestamp almost half the clock ahead of the last: the extended timestamp
        // grows by 2^31 - 1 every time. Thousands of them overflowed the µs conversion.
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut ts = 0u32;
        for i in 0..10_000u32 {
            ts = ts.wrapping_add(0x7FFF_FFFF);
            jb.push(i as u16, ts, vec![1], i as u64 * TICK);
            jb.pop(i as u64 * TICK + 1);
        }
        let s = jb.stats();
        assert!(
            s.target_delay_us <= JitterConfig::default().max_delay_us,
            "{s:?}"
        );
    }

    #[test]
    fn a_sequence_jump_resynchronises_instead_of_conceding_the_gap() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut now = 0;
        for i in 0..20u16 {
            jb.push(i, i as u32 * 960, vec![1], now);
            jb.pop(now + 1);
            now += TICK;
        }
        // The other side's sequence leaps almost half the space ahead, again and again.
        let mut seq = 20u16;
        let mut played_after = 0;
        for round in 0..50u32 {
            seq = seq.wrapping_add(32_000);
            for k in 0..5u16 {
                jb.push(
                    seq.wrapping_add(k),
                    (100 + round * 5 + k as u32) * 960,
                    vec![2],
                    now,
                );
            }
            for _ in 0..5 {
                if matches!(jb.pop(now + 1), Playout::Packet { .. }) {
                    played_after += 1;
                }
                now += TICK;
            }
            seq = seq.wrapping_add(5);
        }
        let s = jb.stats();
        // What arrived after each leap is played, not thousands of concealed slots.
        assert!(played_after >= 150, "{played_after} played: {s:?}");
        assert!(s.concealed < 100, "{s:?}");
        assert!(s.dropped < 1_000, "skipped slot by slot: {s:?}");
    }
}
