//! A token bucket per connection: a sustained rate with some room for bursts (call setup sends a
//! handful of candidates at once). Time is an input, so it is tested without sleeping.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Drop the message; `notify` says whether to tell the client (once a second at most, so a
    /// flood does not turn into a flood of errors).
    Drop {
        notify: bool,
    },
}

#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    last_notice: Option<Instant>,
}

impl TokenBucket {
    pub fn new(per_second: u32, burst: u32, now: Instant) -> Self {
        TokenBucket {
            rate: per_second as f64,
            burst: burst as f64,
            tokens: burst as f64,
            last: now,
            last_notice: None,
        }
    }

    pub fn check(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Allow;
        }
        let notify = self
            .last_notice
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1));
        if notify {
            self.last_notice = Some(now);
        }
        Verdict::Drop { notify }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sustained_rate_passes_and_a_flood_is_cut() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(50, 100, start);
        // 50 a second for 10 seconds: all allowed.
        for i in 0..500u64 {
            let t = start + Duration::from_millis(i * 20);
            assert_eq!(bucket.check(t), Verdict::Allow, "message {i}");
        }
        // 10 000 at once: the burst passes, the rest are dropped with one notice.
        let t = start + Duration::from_secs(10);
        let verdicts: Vec<Verdict> = (0..10_000).map(|_| bucket.check(t)).collect();
        let allowed = verdicts.iter().filter(|v| **v == Verdict::Allow).count();
        let notices = verdicts
            .iter()
            .filter(|v| **v == Verdict::Drop { notify: true })
            .count();
        assert!((100..=101).contains(&allowed), "{allowed}");
        assert_eq!(notices, 1);
        // A second later the client may speak again, and hears once more if it floods.
        let t = t + Duration::from_secs(1);
        assert_eq!(bucket.check(t), Verdict::Allow);
        let notices = (0..1000)
            .filter(|_| bucket.check(t) == Verdict::Drop { notify: true })
            .count();
        assert_eq!(notices, 1);
    }
}
