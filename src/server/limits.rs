//! What one connection, and the server as a whole, may take. Every figure is a bound on memory or
//! work that a client controls.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open WebSocket connections, registered or not; beyond, upgrades get 503.
    pub max_connections: usize,
    /// A connection that has not registered by then is closed (1008).
    pub register_within: Duration,
    /// A connection silent this long is pinged; silent three times as long, it is closed.
    pub idle_ping: Duration,
    /// A client rate-limited without a break this long is closed (1008): its excess was being
    /// dropped, but reading it still costs.
    pub flood_close_after: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: default_max_connections(),
            register_within: Duration::from_secs(10),
            idle_ping: Duration::from_secs(20),
            flood_close_after: Duration::from_secs(10),
        }
    }
}

/// Sized for the machine: 10 000 connections (measured at ~90 MiB), and never more than the
/// process may open files, with room for everything else it opens.
pub fn default_max_connections() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct it is given.
    let files = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur as usize
    } else {
        1024
    };
    files.saturating_sub(64).clamp(16, 10_000)
}
