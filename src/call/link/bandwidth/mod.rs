//! How fast we may send: one target bitrate from the other side's transport-wide feedback.
//!
//! Three signals, as in Google Congestion Control: the [`trendline`] delay gradient (is a queue
//! building?) drives the [`rate_control`] AIMD loop together with the rate the other side
//! acknowledged; loss (from the other side's reception reports, see `loss_reports`) caps the
//! result only when it is heavy (over [`HIGH_LOSS`]), because random loss of a few percent
//! (Wi-Fi, mobile) is not congestion and sending less does not cure it — webrtc-rs's GCC
//! decreased at every few percent and ended at its floor. Pure apart from reading and publishing
//! [`LinkStats`]; time comes in with the feedback.

pub(crate) mod rate_control;
pub(crate) mod trendline;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::interceptor::{BandwidthEstimator, EstimatorStats, PacketReport};

use super::LinkStats;
use crate::call::peer::BitrateLimits;
use rate_control::RateControl;
use trendline::Trendline;

/// Reported loss above this is congestion, or a link so bad that less is better.
pub const HIGH_LOSS: f64 = 0.20;
/// Loss below this lifts the loss cap: the delay-based part probes upward carefully enough.
const LOW_LOSS: f64 = 0.10;
/// What one reception report's loss figure covers (they come about once a second).
const LOSS_REPORT_SPAN: Duration = Duration::from_millis(1500);
const ACKED_WINDOW: Duration = Duration::from_millis(500);
const RTT_WINDOW: Duration = Duration::from_secs(2);
/// The one-way delay with an empty queue is the smallest seen over this long.
const BASE_DELAY_WINDOW: Duration = Duration::from_secs(10);

/// What arrived at the other side, by its clock: the acknowledged rate.
#[derive(Debug, Default)]
struct AckedRate {
    arrivals: VecDeque<(Duration, usize)>,
}

impl AckedRate {
    fn add(&mut self, arrival: Duration, bytes: usize) {
        if self
            .arrivals
            .back()
            .is_some_and(|(last, _)| arrival < *last)
        {
            return; // reordered: the rate over the window is what matters
        }
        self.arrivals.push_back((arrival, bytes));
        while self
            .arrivals
            .front()
            .is_some_and(|(first, _)| arrival.saturating_sub(*first) > ACKED_WINDOW)
        {
            self.arrivals.pop_front();
        }
    }

    fn bps(&self) -> Option<f64> {
        let (first, _) = self.arrivals.front()?;
        let (last, _) = self.arrivals.back()?;
        let span = last.saturating_sub(*first);
        if span < ACKED_WINDOW / 2 {
            return None;
        }
        let bytes: usize = self.arrivals.iter().skip(1).map(|(_, b)| b).sum();
        Some(bytes as f64 * 8.0 / span.as_secs_f64())
    }
}

/// The cap heavy loss puts on the target, while it lasts.
#[derive(Debug)]
struct LossCap {
    cap: f64,
    /// No cap.
    max: f64,
    /// The latest reported loss.
    loss: Option<f64>,
    last_cut: Option<Instant>,
}

impl LossCap {
    /// `delay_cut`: when the delay-based part last cut the rate. A reception report covers the
    /// second before it; loss from a queue that was already answered is not cut for again.
    fn update(
        &mut self,
        now: Instant,
        target: f64,
        rtt: Duration,
        delay_cut: Option<Instant>,
    ) -> f64 {
        let Some(loss) = self.loss else {
            return self.cap;
        };
        if loss > HIGH_LOSS {
            let settle = rtt + Duration::from_millis(300);
            let answered =
                delay_cut.is_some_and(|t| now.saturating_duration_since(t) < LOSS_REPORT_SPAN);
            if !answered
                && self
                    .last_cut
                    .is_none_or(|t| now.saturating_duration_since(t) >= settle)
            {
                self.last_cut = Some(now);
                self.cap = self.cap.min(target * (1.0 - 0.5 * loss));
            }
        } else if loss < LOW_LOSS {
            self.cap = self.max;
        }
        self.cap
    }
}

/// Round trip from feedback: the time from a packet's departure to the feedback naming it,
/// at its smallest over a window (the feedback's own wait of up to an interval is noise).
#[derive(Debug, Default)]
struct RoundTrip {
    samples: VecDeque<(Instant, Duration)>,
}

impl RoundTrip {
    fn add(&mut self, now: Instant, sample: Duration) {
        self.samples.push_back((now, sample));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > RTT_WINDOW)
        {
            self.samples.pop_front();
        }
    }

    fn get(&self) -> Option<Duration> {
        self.samples.iter().map(|(_, s)| *s).min()
    }
}

/// How much longer packets take than they did with the queue empty: the one-way delay of the
/// latest feedback against the smallest over [`BASE_DELAY_WINDOW`] (clocks' offset cancels).
#[derive(Debug)]
struct QueueDelay {
    epoch: Instant,
    /// (when, one-way delay in µs + the clocks' offset), increasing delays (a windowed minimum).
    minimum: VecDeque<(Instant, i64)>,
    latest: Option<i64>,
}

impl QueueDelay {
    fn add(&mut self, now: Instant, departure: Instant, arrival: Duration) {
        let sent = departure.saturating_duration_since(self.epoch).as_micros() as i64;
        let delay = arrival.as_micros() as i64 - sent;
        while self.minimum.back().is_some_and(|(_, d)| *d >= delay) {
            self.minimum.pop_back();
        }
        self.minimum.push_back((now, delay));
        while self
            .minimum
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > BASE_DELAY_WINDOW)
        {
            self.minimum.pop_front();
        }
        self.latest = Some(delay);
    }

    fn get(&self) -> Duration {
        match (self.latest, self.minimum.front()) {
            (Some(latest), Some((_, base))) => Duration::from_micros((latest - base).max(0) as u64),
            _ => Duration::ZERO,
        }
    }
}

/// The estimator the congestion-control interceptor drives.
pub struct BandwidthController {
    trendline: Trendline,
    rate: RateControl,
    acked: AckedRate,
    loss: LossCap,
    loss_reports_seen: u64,
    rtt: RoundTrip,
    queue: QueueDelay,
    limits: BitrateLimits,
    target: f64,
    stats: Arc<LinkStats>,
}

impl BandwidthController {
    pub fn new(limits: BitrateLimits, stats: Arc<LinkStats>) -> Self {
        let (min, start, max) = (
            limits.min_bps as f64,
            limits.start_bps as f64,
            limits.max_bps as f64,
        );
        BandwidthController {
            trendline: Trendline::default(),
            rate: RateControl::new(start, min, max),
            acked: AckedRate::default(),
            loss: LossCap {
                cap: max,
                max,
                loss: None,
                last_cut: None,
            },
            loss_reports_seen: 0,
            rtt: RoundTrip::default(),
            queue: QueueDelay {
                epoch: Instant::now(),
                minimum: VecDeque::new(),
                latest: None,
            },
            limits,
            target: start,
            stats,
        }
    }

    fn rtt(&self) -> Duration {
        self.rtt.get().unwrap_or(Duration::from_millis(100))
    }
}

impl BandwidthEstimator for BandwidthController {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        if reports.is_empty() {
            return;
        }
        for report in reports {
            if let (true, Some(arrival)) = (report.arrived, report.arrival) {
                self.trendline.on_packet(report.departure, arrival);
                self.acked.add(arrival, report.size);
                self.queue.add(now, report.departure, arrival);
            }
        }
        let reports_seen = LinkStats::get(&self.stats.loss_reports);
        if reports_seen != self.loss_reports_seen {
            self.loss_reports_seen = reports_seen;
            self.loss.loss = Some(LinkStats::get(&self.stats.loss_permille) as f64 / 1000.0);
        }
        if let Some(newest) = reports.iter().rev().find(|r| r.arrived) {
            self.rtt
                .add(now, now.saturating_duration_since(newest.departure));
        }
        let rtt = self.rtt();
        let delay_based = self.rate.update(
            now,
            self.trendline.usage(),
            self.acked.bps(),
            rtt,
            self.queue.get(),
        );
        let loss_cap = self
            .loss
            .update(now, self.target, rtt, self.rate.last_decrease());
        let target = delay_based
            .min(loss_cap)
            .clamp(self.limits.min_bps as f64, self.limits.max_bps as f64);
        if (target - self.target).abs() > self.target * 0.1 {
            tracing::debug!(
                target = target as u64,
                delay_based = delay_based as u64,
                loss_cap = loss_cap as u64,
                acked = self.acked.bps().unwrap_or(0.0) as u64,
                usage = ?self.trendline.usage(),
                rtt_ms = rtt.as_millis() as u64,
                queue_ms = self.queue.get().as_millis() as u64,
                "bandwidth estimate"
            );
        }
        self.target = target;
        let stats = &self.stats;
        LinkStats::set(&stats.target_bps, self.target as u64);
        LinkStats::set(&stats.rtt_us, rtt.as_micros() as u64);
    }

    fn target_bitrate(&self) -> f64 {
        self.target
    }

    fn stats(&self) -> EstimatorStats {
        let mut stats = EstimatorStats::default();
        stats.delay_based_bitrate = Some(self.rate.target());
        stats.loss_based_bitrate = Some(self.loss.cap);
        stats.packet_loss = self.loss.loss;
        stats.round_trip_time = self.rtt.get();
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::transport_feedbacks::cc_feedback_report::Ecn;

    /// A simulated path: `capacity` bits a second with a FIFO queue, `loss` random loss, 20 ms
    /// one way. The sender sends at the controller's target in 1200-byte packets; feedback every
    /// 50 ms. Returns the target after each second.
    fn simulate(seconds: u64, capacity: impl Fn(f64) -> f64, loss: f64) -> Vec<f64> {
        let limits = BitrateLimits {
            min_bps: 100_000,
            start_bps: 800_000,
            max_bps: 2_500_000,
        };
        let stats = Arc::new(LinkStats::default());
        let mut c = BandwidthController::new(limits, stats.clone());
        // What a reception report would say each second.
        let (mut sent_in_second, mut lost_in_second) = (0u64, 0u64);
        let t0 = Instant::now();
        let mut rng = 7u64;
        let mut queue_free_at = 0.0f64; // seconds: when the bottleneck is free again
        let mut pending: Vec<PacketReport> = Vec::new();
        let mut next_send = 0.0f64;
        let mut next_feedback = 0.05f64;
        let mut id = 0u64;
        let mut per_second = Vec::new();
        let step = 0.001;
        let mut t = 0.0f64;
        while t < seconds as f64 {
            while next_send <= t {
                let bits = 1200.0 * 8.0;
                let start = queue_free_at.max(t);
                let done = start + bits / capacity(t);
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let lost = (rng % 10_000) as f64 / 10_000.0 < loss || done - t > 0.4;
                if done - t <= 0.4 {
                    queue_free_at = done;
                }
                sent_in_second += 1;
                lost_in_second += lost as u64;
                let arrival = done + 0.02;
                pending.push(PacketReport {
                    ssrc: 1,
                    id,
                    rtp_sequence_number: id as u16,
                    is_twcc: true,
                    twcc_sequence_number: id as u16,
                    size: 1200,
                    arrived: !lost,
                    departure: t0 + Duration::from_secs_f64(t),
                    arrival: (!lost).then(|| Duration::from_secs_f64(arrival + 5.0)),
                    ecn: Ecn::default(),
                });
                id += 1;
                next_send += bits / c.target_bitrate();
            }
            if t >= next_feedback {
                next_feedback += 0.05;
                // Reports for what has arrived 20 ms ago (the feedback's trip back).
                let horizon = t - 0.02;
                let (ready, later): (Vec<_>, Vec<_>) = pending.drain(..).partition(|r| {
                    r.arrival.map_or(
                        r.departure <= t0 + Duration::from_secs_f64((horizon - 0.1).max(0.0)),
                        |a| a.as_secs_f64() - 5.0 <= horizon,
                    )
                });
                pending = later;
                c.on_reports(t0 + Duration::from_secs_f64(t), &ready);
            }
            t += step;
            if t.fract() < step && t > 0.5 {
                per_second.push(c.target_bitrate());
                let permille = lost_in_second * 1000 / sent_in_second.max(1);
                LinkStats::set(&stats.loss_permille, permille);
                LinkStats::add(&stats.loss_reports, 1);
                (sent_in_second, lost_in_second) = (0, 0);
            }
        }
        per_second
    }

    #[test]
    fn random_loss_of_ten_percent_does_not_collapse_the_estimate() {
        let targets = simulate(15, |_| 10_000_000.0, 0.10);
        let last = *targets.last().unwrap();
        assert!(last >= 800_000.0, "ended at {last} with 10 % random loss");
    }

    #[test]
    fn heavy_loss_brings_the_target_down() {
        let targets = simulate(10, |_| 10_000_000.0, 0.35);
        assert!(*targets.last().unwrap() < 400_000.0, "{targets:?}");
    }

    #[test]
    fn a_thin_link_is_found_and_a_lifted_cap_is_followed_up() {
        // 500 kbit/s for 10 s, then 10 Mbit/s.
        let capacity = |t: f64| if t < 10.0 { 500_000.0 } else { 10_000_000.0 };
        let targets = simulate(20, capacity, 0.0);
        // Within 2 s the target fits under the link, and then stays around it (AIMD probes a
        // little above and backs off)...
        assert!(targets[1] < 500_000.0, "{targets:?}");
        let mean = targets[2..10].iter().sum::<f64>() / 8.0;
        assert!((350_000.0..520_000.0).contains(&mean), "{targets:?}");
        // ...and after the cap lifts it grows again.
        assert!(targets[19] > targets[10] * 1.3, "{targets:?}");
    }
}
