//! Real-time pacing on an absolute schedule.
//!
//! Deadlines are `start + n * period`, never "now + period", so sleep
//! overshoot does not accumulate into drift.

use std::time::{Duration, Instant};

/// Sleeps until tick `n` of a fixed-period schedule.
#[derive(Debug)]
pub struct Pacer {
    start: Option<Instant>,
    period: Duration,
    tick: u64,
}

/// If we fall this many periods behind (e.g. the process was suspended) we
/// restart the schedule instead of delivering a burst of catch-up ticks.
const MAX_LAG_PERIODS: u32 = 10;

impl Pacer {
    pub fn new(period: Duration) -> Self {
        Pacer {
            start: None,
            period,
            tick: 0,
        }
    }

    /// Waits for the next tick; the first call returns immediately.
    pub fn wait(&mut self) {
        let now = Instant::now();
        let start = *self.start.get_or_insert(now);
        let due = start + self.period * self.tick as u32;
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > self.period * MAX_LAG_PERIODS {
            self.start = Some(now);
            self.tick = 0;
        }
        self.tick += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_does_not_drift() {
        let mut p = Pacer::new(Duration::from_millis(5));
        let t0 = Instant::now();
        for _ in 0..21 {
            p.wait();
        }
        let el = t0.elapsed();
        // 20 periods after the first (immediate) tick.
        assert!(el >= Duration::from_millis(100), "{el:?}");
        assert!(el < Duration::from_millis(160), "{el:?}");
    }
}
