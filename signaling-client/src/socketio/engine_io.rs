//! The small part of Engine.IO and socket.io a signaling client needs, over the WebSocket
//! transport only, as a pure state machine: frames and the time in, frames to send and events
//! out. Both protocol versions servers run: v4 (socket.io 3 and 4) and v3 (socket.io 1 and 2).
//!
//! - v4: the server opens with `0{…pingInterval,pingTimeout}`; we connect the default namespace
//!   with `40` and it confirms with `40{"sid":…}`; it pings (`2`), we answer `3`.
//! - v3: the server sends `40` itself; we ping every `pingInterval` and it answers `3`.
//! - Events either way are `42["name",arg…]`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Engine.IO 3: socket.io 1.x and 2.x servers.
    V3,
    /// Engine.IO 4: socket.io 3.x and 4.x servers.
    V4,
}

impl Version {
    /// The `EIO` query parameter.
    pub fn eio(self) -> u8 {
        match self {
            Version::V3 => 3,
            Version::V4 => 4,
        }
    }
}

/// Events emitted before the namespace is connected wait, at most this many.
const MAX_WAITING: usize = 256;
/// The server's timers until its open packet says otherwise (socket.io's defaults).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(25);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A text frame for the server.
    Send(String),
    /// The default namespace is connected: events flow.
    Connected,
    Event {
        name: String,
        args: Vec<Value>,
    },
    /// The session is over, in words.
    Closed(String),
}

#[derive(Debug)]
pub struct Session {
    version: Version,
    opened: bool,
    connected: bool,
    closed: bool,
    ping_interval: Duration,
    ping_timeout: Duration,
    last_heard: Instant,
    /// v3: when we last pinged.
    last_ping: Instant,
    waiting: VecDeque<String>,
}

impl Session {
    pub fn new(version: Version, now: Instant) -> Session {
        Session {
            version,
            opened: false,
            connected: false,
            closed: false,
            ping_interval: DEFAULT_INTERVAL,
            ping_timeout: DEFAULT_TIMEOUT,
            last_heard: now,
            last_ping: now,
            waiting: VecDeque::new(),
        }
    }

    /// An event for the server, sent now or once connected.
    pub fn emit(&mut self, name: &str, args: &[Value]) -> Vec<Step> {
        let mut array = vec![Value::String(name.to_string())];
        array.extend_from_slice(args);
        let frame = format!("42{}", Value::Array(array));
        if self.connected {
            return vec![Step::Send(frame)];
        }
        if self.waiting.len() == MAX_WAITING {
            self.waiting.pop_front();
        }
        self.waiting.push_back(frame);
        Vec::new()
    }

    /// One text frame from the server.
    pub fn frame(&mut self, text: &str, now: Instant) -> Vec<Step> {
        self.last_heard = now;
        let mut chars = text.chars();
        let Some(kind) = chars.next() else {
            return Vec::new();
        };
        let rest = chars.as_str();
        match kind {
            '0' => self.open(rest, now),
            '1' => self.close("the server closed the session".into()),
            '2' => vec![Step::Send(format!("3{rest}"))],
            '3' | '6' => Vec::new(),
            '4' => self.message(rest),
            _ => {
                tracing::debug!(frame = %brief(text), "an Engine.IO packet we do not use");
                Vec::new()
            }
        }
    }

    /// Time passing: v3 pings; a server silent past its own timers is gone.
    pub fn tick(&mut self, now: Instant) -> Vec<Step> {
        if self.closed {
            return Vec::new();
        }
        let limit = self.ping_interval + self.ping_timeout;
        if now.saturating_duration_since(self.last_heard) > limit {
            return self.close(format!(
                "the server has been silent for {} s",
                limit.as_secs()
            ));
        }
        if self.version == Version::V3
            && self.opened
            && now.saturating_duration_since(self.last_ping) >= self.ping_interval
        {
            self.last_ping = now;
            return vec![Step::Send("2".into())];
        }
        Vec::new()
    }

    /// When [`Session::tick`] has something to do next, at the latest.
    pub fn next_tick(&self) -> Instant {
        let silence = self.last_heard + self.ping_interval + self.ping_timeout;
        match self.version {
            Version::V3 if self.opened => silence.min(self.last_ping + self.ping_interval),
            _ => silence,
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn open(&mut self, json: &str, now: Instant) -> Vec<Step> {
        let Ok(open) = serde_json::from_str::<Value>(json) else {
            return self.close(format!("a bad Engine.IO open packet: {}", brief(json)));
        };
        let ms = |field: &str, default: Duration| {
            open[field]
                .as_u64()
                .map_or(default, Duration::from_millis)
                .clamp(Duration::from_millis(100), Duration::from_secs(300))
        };
        self.ping_interval = ms("pingInterval", DEFAULT_INTERVAL);
        self.ping_timeout = ms("pingTimeout", DEFAULT_TIMEOUT);
        self.opened = true;
        self.last_ping = now;
        match self.version {
            Version::V4 => vec![Step::Send("40".into())],
            // A v3 server connects the default namespace by itself.
            Version::V3 => Vec::new(),
        }
    }

    fn message(&mut self, rest: &str) -> Vec<Step> {
        let mut chars = rest.chars();
        let kind = chars.next();
        let body = chars.as_str();
        // A namespace other than the default one is not ours.
        if body.starts_with('/') {
            return Vec::new();
        }
        match kind {
            Some('0') => {
                if self.connected {
                    return Vec::new();
                }
                self.connected = true;
                let mut out = vec![Step::Connected];
                out.extend(self.waiting.drain(..).map(Step::Send));
                out
            }
            Some('1') => self.close("the server disconnected us".into()),
            Some('2') => {
                // An acknowledgement id may stand before the array.
                let json = body.trim_start_matches(|c: char| c.is_ascii_digit());
                match serde_json::from_str::<Value>(json) {
                    Ok(Value::Array(mut items)) if items.first().is_some_and(Value::is_string) => {
                        let name = items.remove(0).as_str().unwrap_or_default().to_string();
                        vec![Step::Event { name, args: items }]
                    }
                    _ => {
                        tracing::debug!(frame = %brief(body), "a socket.io event we cannot read");
                        Vec::new()
                    }
                }
            }
            Some('4') => self.close(format!("the server refused us: {}", brief(body))),
            _ => Vec::new(),
        }
    }

    fn close(&mut self, why: String) -> Vec<Step> {
        if self.closed {
            return Vec::new();
        }
        self.closed = true;
        vec![Step::Closed(why)]
    }
}

fn brief(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sent(steps: &[Step]) -> Vec<&str> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Send(f) => Some(f.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn v4_connects_answers_pings_and_reads_events() {
        let t0 = Instant::now();
        let mut s = Session::new(Version::V4, t0);
        assert!(
            s.emit("create or join", &[json!("room")]).is_empty(),
            "waits"
        );
        let open = s.frame(r#"0{"sid":"x","pingInterval":300,"pingTimeout":200}"#, t0);
        assert_eq!(sent(&open), ["40"]);
        let connected = s.frame(r#"40{"sid":"y"}"#, t0);
        assert_eq!(connected[0], Step::Connected);
        assert_eq!(sent(&connected), [r#"42["create or join","room"]"#]);
        assert_eq!(sent(&s.frame("2", t0)), ["3"]);
        assert_eq!(
            s.frame(r#"42["message",{"type":"offer","sdp":"v=0"}]"#, t0),
            [Step::Event {
                name: "message".into(),
                args: vec![json!({"type":"offer","sdp":"v=0"})]
            }]
        );
        assert_eq!(
            s.frame(r#"4212["created","r","id"]"#, t0),
            [Step::Event {
                name: "created".into(),
                args: vec![json!("r"), json!("id")]
            }]
        );
        // v4 never pings by itself; a server silent past its timers is gone.
        assert!(s.tick(t0 + Duration::from_millis(400)).is_empty());
        assert!(matches!(
            s.tick(t0 + Duration::from_millis(600)).as_slice(),
            [Step::Closed(_)]
        ));
        assert!(s.is_closed());
    }

    #[test]
    fn v3_is_connected_by_the_server_and_pings_itself() {
        let t0 = Instant::now();
        let mut s = Session::new(Version::V3, t0);
        assert!(
            sent(&s.frame(r#"0{"sid":"x","pingInterval":1000,"pingTimeout":500}"#, t0)).is_empty()
        );
        assert_eq!(s.frame("40", t0), [Step::Connected]);
        assert_eq!(s.next_tick(), t0 + Duration::from_millis(1000));
        assert_eq!(sent(&s.tick(t0 + Duration::from_millis(1000))), ["2"]);
        s.frame("3", t0 + Duration::from_millis(1010));
        assert!(s.tick(t0 + Duration::from_millis(1500)).is_empty());
        assert_eq!(sent(&s.tick(t0 + Duration::from_millis(2000))), ["2"]);
    }

    #[test]
    fn garbage_and_refusals_are_words_not_panics() {
        let t0 = Instant::now();
        let mut s = Session::new(Version::V4, t0);
        for junk in [
            "",
            "9",
            "4",
            "42",
            "42[",
            "42[1,2]",
            "42/admin,[\"x\"]",
            "0nope",
        ] {
            let _ = s.frame(junk, t0);
        }
        assert!(s.is_closed(), "a bad open packet ends the session");
        let mut s = Session::new(Version::V4, t0);
        s.frame(r#"0{"sid":"x"}"#, t0);
        assert!(matches!(
            s.frame(r#"44{"message":"Invalid namespace"}"#, t0).as_slice(),
            [Step::Closed(why)] if why.contains("Invalid namespace")
        ));
    }
}
