//! The delay-based target: additive-increase / multiplicative-decrease driven by the trendline's
//! verdict and the rate the other side acknowledged (GCC's AIMD rate control).
//!
//! Over-use: back to 85 % of what actually got through (less when a long queue has built up, so
//! it drains within about a second), and remember that as the link's capacity. Normal: grow
//! back fast to just under the remembered capacity (the queue has drained; that rate was
//! measured moments ago), then additively (about a packet per round trip) near it, so the rate
//! settles under the capacity instead of bouncing off it, and multiplicatively (8 % a second)
//! above it, where the link may have grown. Under-use: hold while the queue drains. Never more than
//! [`ACKED_HEADROOM`]× what is acknowledged: a rate the sender does not use has not been tested
//! (libwebrtc allows 1.5×; on a 500 kbit/s link with an encoder undershooting its budget that let
//! the target drift 40 % over the link before a bigger picture used it all at once).
//!
//! Until the first over-use the rate grows much faster ([`START_GROWTH_PER_SECOND`]): that is
//! how long the link's capacity is unknown, and the delay detector sees a queue long before a
//! router's buffer overflows. (libwebrtc probes with padding bursts at the start instead.) Pure.

use std::time::{Duration, Instant};

use super::trendline::Usage;

const BETA: f64 = 0.85;
const MULTIPLICATIVE_PER_SECOND: f64 = 1.08;
/// Growth per second before the first over-use.
pub const START_GROWTH_PER_SECOND: f64 = 2.0;
/// The target stays within this multiple of the acknowledged rate (plus 10 kbit/s).
pub const ACKED_HEADROOM: f64 = 1.25;
/// Bits of an average packet, for the additive step.
const PACKET_BITS: f64 = 1200.0 * 8.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Hold,
    Increase,
    Decrease,
}

/// The link capacity learned at decreases: a mean and a variance (as a fraction of the mean).
#[derive(Debug, Clone, Copy)]
struct Capacity {
    mean_bps: f64,
    variance: f64,
}

impl Capacity {
    fn std_dev_bps(&self) -> f64 {
        (self.variance * self.mean_bps * self.mean_bps).sqrt()
    }

    fn update(&mut self, sample_bps: f64) {
        let alpha = 0.05;
        self.mean_bps = (1.0 - alpha) * self.mean_bps + alpha * sample_bps;
        let norm = self.mean_bps.max(1.0);
        let error = (self.mean_bps - sample_bps) / norm;
        // At least a 5 % deviation: the acknowledged rate wanders that much with audio and
        // retransmissions in it, and a smaller one would keep "discovering" a new link.
        self.variance = ((1.0 - alpha) * self.variance + alpha * error * error).clamp(0.0025, 0.25);
    }
}

#[derive(Debug)]
pub struct RateControl {
    target: f64,
    min: f64,
    max: f64,
    state: State,
    capacity: Option<Capacity>,
    last_update: Option<Instant>,
    last_decrease: Option<Instant>,
    /// No over-use seen yet: the capacity is unknown and the rate grows fast.
    starting: bool,
}

impl RateControl {
    pub fn new(start: f64, min: f64, max: f64) -> Self {
        RateControl {
            target: start.clamp(min, max),
            min,
            max,
            state: State::Increase,
            capacity: None,
            last_update: None,
            last_decrease: None,
            starting: true,
        }
    }

    pub fn target(&self) -> f64 {
        self.target
    }

    /// When the rate was last cut for a queue.
    pub fn last_decrease(&self) -> Option<Instant> {
        self.last_decrease
    }

    /// One verdict with the acknowledged rate (when known), the round trip, and how long the
    /// path's queue is now.
    pub fn update(
        &mut self,
        now: Instant,
        usage: Usage,
        acked_bps: Option<f64>,
        rtt: Duration,
        queue: Duration,
    ) -> f64 {
        let dt = self.last_update.map_or(0.0, |t| {
            now.saturating_duration_since(t).as_secs_f64().min(1.0)
        });
        self.last_update = Some(now);
        self.state = match (usage, self.state) {
            (Usage::Over, _) => State::Decrease,
            (Usage::Under, _) => State::Hold,
            (Usage::Normal, State::Hold) | (Usage::Normal, State::Decrease) => State::Increase,
            (Usage::Normal, State::Increase) => State::Increase,
        };
        // A rate far above the remembered capacity means the link changed: forget it.
        if let (Some(acked), Some(capacity)) = (acked_bps, self.capacity) {
            if acked > capacity.mean_bps + 3.0 * capacity.std_dev_bps() {
                self.capacity = None;
            }
        }
        match self.state {
            State::Hold => {}
            State::Increase => self.increase(dt, acked_bps, rtt),
            State::Decrease => self.decrease(now, acked_bps, rtt, queue),
        }
        self.target = self.target.clamp(self.min, self.max);
        self.target
    }

    fn increase(&mut self, dt: f64, acked_bps: Option<f64>, rtt: Duration) {
        if let Some(acked) = acked_bps {
            if self.target > ACKED_HEADROOM * acked + 10_000.0 {
                return;
            }
        }
        let below_capacity = self
            .capacity
            .map(|c| c.mean_bps - 3.0 * c.std_dev_bps())
            .filter(|&floor| self.target < floor);
        let near_capacity = self.capacity.is_some() && below_capacity.is_none();
        if self.starting {
            self.target *= START_GROWTH_PER_SECOND.powf(dt);
        } else if let Some(floor) = below_capacity {
            self.target = (self.target * START_GROWTH_PER_SECOND.powf(dt)).min(floor);
        } else if near_capacity {
            let response = rtt.as_secs_f64() + 0.1;
            self.target += (PACKET_BITS / response).max(4_000.0) * dt;
        } else {
            self.target *= MULTIPLICATIVE_PER_SECOND.powf(dt);
        }
    }

    fn decrease(&mut self, now: Instant, acked_bps: Option<f64>, rtt: Duration, queue: Duration) {
        // One decrease per congestion event: the queue needs a round trip to show the last one.
        let settle = rtt.max(Duration::from_millis(200));
        if self
            .last_decrease
            .is_some_and(|t| now.saturating_duration_since(t) < settle)
        {
            return;
        }
        self.last_decrease = Some(now);
        self.starting = false;
        let through = acked_bps.unwrap_or(self.target);
        // Sending at (1 - q) of the link for a second drains a queue of q seconds.
        let drain = 1.0 - queue.as_secs_f64().min(0.5);
        self.target = (BETA.min(drain) * through).min(self.target);
        match self.capacity.as_mut() {
            Some(c) => c.update(through),
            None => {
                self.capacity = Some(Capacity {
                    mean_bps: through,
                    variance: 0.0025,
                })
            }
        }
        // Hold after a decrease until the detector says the queue is normal again.
        self.state = State::Hold;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(40);
    const Q: Duration = Duration::ZERO;

    #[test]
    fn a_long_queue_is_drained_by_a_deeper_cut_then_the_capacity_regained_fast() {
        let t0 = Instant::now();
        let mut r = RateControl::new(1_000_000.0, 100_000.0, 2_500_000.0);
        let cut = r.update(
            t0,
            Usage::Over,
            Some(500_000.0),
            RTT,
            Duration::from_millis(300),
        );
        assert_eq!(cut, 350_000.0);
        // Drained: back to just under the 500 kbit/s measured within half a second...
        let mut t = t0;
        for _ in 0..5 {
            t += Duration::from_millis(100);
            r.update(t, Usage::Normal, Some(r.target()), RTT, Q);
        }
        assert!(r.target() >= 420_000.0, "{}", r.target());
        // ...and no faster than additively from there (a packet per round trip and 100 ms).
        let fast = r.target();
        for _ in 0..10 {
            t += Duration::from_millis(100);
            r.update(t, Usage::Normal, Some(r.target()), RTT, Q);
        }
        let grown = r.target() - fast;
        assert!(
            (30_000.0..=80_000.0).contains(&grown),
            "grew {grown} in a second"
        );
    }

    #[test]
    fn over_use_cuts_to_what_got_through_and_normal_grows_again() {
        let t0 = Instant::now();
        let mut r = RateControl::new(1_000_000.0, 100_000.0, 2_500_000.0);
        r.update(t0, Usage::Normal, Some(1_000_000.0), RTT, Q);
        let cut = r.update(
            t0 + Duration::from_millis(100),
            Usage::Over,
            Some(500_000.0),
            RTT,
            Q,
        );
        assert_eq!(cut, 425_000.0);
        // A second over-use in the same round trip does not cut again.
        let again = r.update(
            t0 + Duration::from_millis(150),
            Usage::Over,
            Some(450_000.0),
            RTT,
            Q,
        );
        assert_eq!(again, 425_000.0);
        // Near the learned capacity: additive, a few tens of kbit/s a second.
        let mut t = t0 + Duration::from_millis(150);
        for _ in 0..10 {
            t += Duration::from_millis(100);
            r.update(t, Usage::Normal, Some(420_000.0), RTT, Q);
        }
        let grown = r.target() - 425_000.0;
        assert!((20_000.0..120_000.0).contains(&grown), "grew {grown}");
    }

    #[test]
    fn the_start_is_fast_until_the_first_over_use() {
        let t0 = Instant::now();
        let mut r = RateControl::new(500_000.0, 100_000.0, 2_500_000.0);
        let mut t = t0;
        for _ in 0..10 {
            t += Duration::from_millis(100);
            r.update(t, Usage::Normal, Some(r.target()), RTT, Q);
        }
        assert!(
            (900_000.0..1_100_000.0).contains(&r.target()),
            "{}",
            r.target()
        );
        r.update(
            t + Duration::from_millis(100),
            Usage::Over,
            Some(1_000_000.0),
            RTT,
            Q,
        );
        assert_eq!(r.target(), 850_000.0);
        let before = r.target();
        let mut t = t + Duration::from_millis(100);
        for _ in 0..10 {
            t += Duration::from_millis(100);
            r.update(t, Usage::Normal, Some(r.target()), RTT, Q);
        }
        assert!(r.target() < before * 1.1, "{}", r.target());
    }

    #[test]
    fn far_from_any_capacity_growth_is_multiplicative_and_bounded_by_what_is_acknowledged() {
        let t0 = Instant::now();
        let mut r = RateControl::new(300_000.0, 100_000.0, 2_500_000.0);
        r.starting = false;
        let mut t = t0;
        for _ in 0..50 {
            t += Duration::from_millis(100);
            r.update(t, Usage::Normal, Some(r.target()), RTT, Q);
        }
        // 5 s at 8 %/s ≈ 1.47×.
        assert!(
            (420_000.0..470_000.0).contains(&r.target()),
            "{}",
            r.target()
        );
        // An application that sends only 100 kbit/s holds the target near 1.25× that.
        for _ in 0..50 {
            t += Duration::from_millis(100);
            r.update(t, Usage::Normal, Some(100_000.0), RTT, Q);
        }
        assert!(r.target() < 470_000.0);
    }
}
