//! TURN credentials handed out at registration, in the TURN REST scheme that coturn checks with
//! `--use-auth-secret --static-auth-secret=S`: username `EXPIRY_UNIX:PEERID`, credential
//! `base64(HMAC-SHA1(S, username))`. The secret stays on the server; a client holds credentials
//! that work until they expire, and asks for fresh ones before (`refresh_ice`).

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use crate::protocol::IceServer;

#[derive(Clone)]
pub struct TurnConfig {
    /// Shared with the TURN server.
    pub secret: String,
    /// `turn:host:port` (or `turns:`), as clients should dial them.
    pub urls: Vec<String>,
    /// How long a set of credentials works.
    pub ttl: Duration,
    /// One reading of both clocks, so the switchboard, given only `Instant`s, knows the Unix
    /// time the credentials expire at.
    pub clock: (Instant, u64),
}

impl fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret (configs end up in logs).
        f.debug_struct("TurnConfig")
            .field("urls", &self.urls)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TurnConfig {
    /// Reads the clocks now.
    pub fn new(secret: String, urls: Vec<String>, ttl: Duration) -> TurnConfig {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        TurnConfig {
            secret,
            urls,
            ttl,
            clock: (Instant::now(), unix),
        }
    }

    /// What `peer_id` gets at `now`.
    pub fn ice_servers_at(&self, peer_id: &str, now: Instant) -> Vec<IceServer> {
        let (base, base_unix) = self.clock;
        let unix_now = base_unix + now.saturating_duration_since(base).as_secs();
        self.ice_servers(peer_id, unix_now)
    }

    /// What `peer_id` gets at `unix_now`: a STUN entry per TURN server (a TURN server answers
    /// STUN binding requests too, which gives the server-reflexive candidates) and one TURN
    /// entry with its credentials.
    pub fn ice_servers(&self, peer_id: &str, unix_now: u64) -> Vec<IceServer> {
        let expiry = unix_now + self.ttl_secs();
        let username = format!("{expiry}:{peer_id}");
        let credential = credential(&self.secret, &username);
        let stun = self
            .urls
            .iter()
            .filter_map(|u| stun_of(u))
            .map(|url| IceServer {
                urls: vec![url],
                username: None,
                credential: None,
            });
        stun.chain([IceServer {
            urls: self.urls.clone(),
            username: Some(username),
            credential: Some(credential),
        }])
        .collect()
    }

    /// Seconds a client may use its credentials for.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs().max(1)
    }
}

/// `base64(HMAC-SHA1(secret, username))`.
pub fn credential(secret: &str, username: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    let tag = ring::hmac::sign(&key, username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// `stun:host:port` for a plain `turn:host:port[?transport=udp]`; none for `turns:` (TLS).
fn stun_of(turn: &str) -> Option<String> {
    let rest = turn.strip_prefix("turn:")?;
    let host_port = rest.split('?').next()?;
    Some(format!("stun:{host_port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_scheme_matches_a_known_credential() {
        // RFC 2202 test case 2 for HMAC-SHA1: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            credential("Jefe", "what do ya want for nothing?"),
            base64::engine::general_purpose::STANDARD
                .encode(hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"))
        );
        let turn = TurnConfig {
            secret: "s3cret".into(),
            urls: vec![
                "turn:10.0.0.1:3478".into(),
                "turns:turn.example.org:5349".into(),
            ],
            ttl: Duration::from_secs(3600),
            clock: (Instant::now(), 0),
        };
        let servers = turn.ice_servers("alice", 1_000);
        assert_eq!(servers[0].urls, ["stun:10.0.0.1:3478"]);
        let relay = servers.last().unwrap();
        assert_eq!(relay.username.as_deref(), Some("4600:alice"));
        assert_eq!(
            relay.credential.as_deref(),
            Some(credential("s3cret", "4600:alice").as_str())
        );
        assert!(!format!("{turn:?}").contains("s3cret"));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
