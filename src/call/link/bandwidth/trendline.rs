//! Is the path's queue growing? The delay-gradient detector of Google Congestion Control
//! (draft-ietf-rmcat-gcc, libwebrtc's trendline estimator), from acknowledged packets.
//!
//! Packets sent within [`GROUP`] of each other form a group; for consecutive groups, how much
//! longer the second took to arrive than to be sent is the queue's growth. The slope of the
//! accumulated growth over the last [`WINDOW`] groups, against an adaptive threshold, says
//! over-use (the queue grows: send less), under-use (it drains) or normal. Jitter averages out of
//! a slope; a filling queue does not. Pure: times come in with the packets.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

const GROUP: Duration = Duration::from_millis(5);
const WINDOW: usize = 40;
const SMOOTHING: f64 = 0.9;
const GAIN: f64 = 4.0;
const K_UP: f64 = 0.0087;
const K_DOWN: f64 = 0.039;
/// How long the trend must stay over the threshold before it counts: long enough that jitter
/// does not (libwebrtc waits 10 ms over a window half as long, and read ±30 ms of jitter as
/// congestion twice a second)...
const OVERUSE_TIME_MS: f64 = 60.0;
/// ...unless it is this far over: a queue filling fast is acted on at once.
const STRONG_OVERUSE: f64 = 4.0;
const STRONG_OVERUSE_TIME_MS: f64 = 10.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    Normal,
    Over,
    Under,
}

#[derive(Debug, Clone, Copy)]
struct Group {
    first_departure: Instant,
    last_departure: Instant,
    /// On the receiver's clock.
    last_arrival: Duration,
}

#[derive(Debug)]
pub struct Trendline {
    current: Option<Group>,
    previous: Option<Group>,
    first_arrival: Option<Duration>,
    accumulated_ms: f64,
    smoothed_ms: f64,
    /// (arrival ms since the first, smoothed accumulated delay ms)
    points: VecDeque<(f64, f64)>,
    deltas: u32,
    threshold: f64,
    last_threshold_update: Option<f64>,
    time_over_ms: Option<f64>,
    overuse_count: u32,
    previous_trend: f64,
    usage: Usage,
}

impl Default for Trendline {
    fn default() -> Self {
        Trendline {
            current: None,
            previous: None,
            first_arrival: None,
            accumulated_ms: 0.0,
            smoothed_ms: 0.0,
            points: VecDeque::new(),
            deltas: 0,
            threshold: 12.5,
            last_threshold_update: None,
            time_over_ms: None,
            overuse_count: 0,
            previous_trend: 0.0,
            usage: Usage::Normal,
        }
    }
}

impl Trendline {
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// One acknowledged packet, in send order: when it left here and arrived there.
    pub fn on_packet(&mut self, departure: Instant, arrival: Duration) {
        let Some(group) = self.current.as_mut() else {
            self.current = Some(Group {
                first_departure: departure,
                last_departure: departure,
                last_arrival: arrival,
            });
            return;
        };
        if arrival < group.last_arrival {
            return; // reordered on the way: no gradient to learn from it
        }
        if departure.saturating_duration_since(group.first_departure) <= GROUP {
            group.last_departure = group.last_departure.max(departure);
            group.last_arrival = arrival;
            return;
        }
        let finished = *group;
        self.current = Some(Group {
            first_departure: departure,
            last_departure: departure,
            last_arrival: arrival,
        });
        if let Some(previous) = self.previous.replace(finished) {
            let send_ms = finished
                .last_departure
                .saturating_duration_since(previous.last_departure)
                .as_secs_f64()
                * 1000.0;
            let receive_ms = finished
                .last_arrival
                .saturating_sub(previous.last_arrival)
                .as_secs_f64()
                * 1000.0;
            self.update(receive_ms - send_ms, send_ms, finished.last_arrival);
        }
    }

    fn update(&mut self, delay_delta_ms: f64, send_delta_ms: f64, arrival: Duration) {
        self.deltas = (self.deltas + 1).min(1000);
        self.accumulated_ms += delay_delta_ms;
        self.smoothed_ms = SMOOTHING * self.smoothed_ms + (1.0 - SMOOTHING) * self.accumulated_ms;
        let first = *self.first_arrival.get_or_insert(arrival);
        let arrival_ms = arrival.saturating_sub(first).as_secs_f64() * 1000.0;
        self.points.push_back((arrival_ms, self.smoothed_ms));
        if self.points.len() > WINDOW {
            self.points.pop_front();
        }
        let trend = if self.points.len() == WINDOW {
            slope(&self.points).unwrap_or(self.previous_trend)
        } else {
            self.previous_trend
        };
        self.detect(trend, send_delta_ms, arrival_ms);
    }

    fn detect(&mut self, trend: f64, send_delta_ms: f64, now_ms: f64) {
        if self.deltas < 2 {
            return;
        }
        let modified = self.deltas.min(60) as f64 * trend * GAIN;
        if modified > self.threshold {
            let over = match self.time_over_ms {
                None => send_delta_ms / 2.0,
                Some(t) => t + send_delta_ms,
            };
            self.time_over_ms = Some(over);
            self.overuse_count += 1;
            let needed = if modified > STRONG_OVERUSE * self.threshold {
                STRONG_OVERUSE_TIME_MS
            } else {
                OVERUSE_TIME_MS
            };
            if over > needed && self.overuse_count > 1 && trend >= self.previous_trend {
                self.time_over_ms = Some(0.0);
                self.overuse_count = 0;
                self.usage = Usage::Over;
            }
        } else if modified < -self.threshold {
            self.time_over_ms = None;
            self.overuse_count = 0;
            self.usage = Usage::Under;
        } else {
            self.time_over_ms = None;
            self.overuse_count = 0;
            self.usage = Usage::Normal;
        }
        self.previous_trend = trend;
        self.adapt_threshold(modified, now_ms);
    }

    /// The threshold follows the signal's own size, slowly up and faster down, so jitter does
    /// not read as over-use and a competing flow does not starve us.
    fn adapt_threshold(&mut self, modified: f64, now_ms: f64) {
        let last = *self.last_threshold_update.get_or_insert(now_ms);
        if modified.abs() > self.threshold + 15.0 {
            self.last_threshold_update = Some(now_ms);
            return;
        }
        let k = if modified.abs() < self.threshold {
            K_DOWN
        } else {
            K_UP
        };
        let dt = (now_ms - last).clamp(0.0, 100.0);
        self.threshold =
            (self.threshold + k * (modified.abs() - self.threshold) * dt).clamp(6.0, 600.0);
        self.last_threshold_update = Some(now_ms);
    }
}

/// Least-squares slope of y over x.
fn slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    (den > 0.0).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `n` packets sent every `interval` from `start_ms`, with the one-way delay
    /// `delay(i)` in ms (the receiver's clock is 1 s ahead of ours).
    fn feed(
        t: &mut Trendline,
        t0: Instant,
        start_ms: u64,
        n: u64,
        interval_ms: u64,
        delay: impl Fn(u64) -> f64,
    ) {
        for i in 0..n {
            let sent = Duration::from_millis(start_ms + i * interval_ms);
            let arrival = sent + Duration::from_secs_f64(delay(i) / 1000.0 + 1.0);
            t.on_packet(t0 + sent, arrival);
        }
    }

    #[test]
    fn a_steady_path_is_normal_and_a_filling_queue_is_over_use() {
        let t0 = Instant::now();
        let mut t = Trendline::default();
        feed(&mut t, t0, 0, 200, 10, |_| 20.0);
        assert_eq!(t.usage(), Usage::Normal);
        // The queue then grows by 2 ms for every 10 ms sent (20 % over capacity): seen within
        // half a second.
        let mut t = Trendline::default();
        feed(&mut t, t0, 0, 100, 10, |_| 20.0);
        let mut seen_after = None;
        for i in 0..100u64 {
            feed(&mut t, t0, 1000 + i * 10, 1, 10, |_| {
                20.0 + 0.2 * (i * 10) as f64
            });
            if t.usage() == Usage::Over {
                seen_after = Some(i * 10);
                break;
            }
        }
        let ms = seen_after.expect("over-use never seen");
        assert!(ms <= 500, "over-use seen after {ms} ms");
    }

    #[test]
    fn jitter_without_a_trend_is_not_over_use() {
        let t0 = Instant::now();
        let mut t = Trendline::default();
        let mut over = 0;
        let mut rng = 12345u64;
        let mut last_arrival = Duration::ZERO;
        for i in 0..3000u64 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            // ±30 ms of jitter, never reordering (as the test network does it).
            let jitter = (rng % 61) as f64 - 30.0;
            let sent = Duration::from_millis(i * 10);
            let arrival =
                (sent + Duration::from_secs_f64((75.0 + jitter) / 1000.0 + 1.0)).max(last_arrival);
            last_arrival = arrival;
            let before = t.usage();
            t.on_packet(t0 + sent, arrival);
            over += (t.usage() == Usage::Over && before != Usage::Over) as u32;
        }
        // Not never (noise is noise), but rarely: once every few seconds at most.
        assert!(
            over <= 10,
            "over-use signalled {over} times in 30 s of pure jitter"
        );
    }
}
