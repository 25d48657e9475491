//! Call control over the `system_channel` data channel (PROTOCOL.md §2): JSON objects with a
//! string `code`. Unknown codes and malformed JSON are reported, never fatal to the call.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The data channel's label; the browser client `webrtc_call` uses the same.
pub const CHANNEL_LABEL: &str = "system_channel";
/// A control message longer than this is dropped unread (a chat line is far shorter).
pub const MAX_CONTROL_BYTES: usize = 16 * 1024;
/// Control messages accepted a second, sustained, and in a burst.
pub const CONTROL_RATE: f64 = 20.0;
pub const CONTROL_BURST: f64 = 50.0;

/// Whether an incoming control message is let through: not over [`MAX_CONTROL_BYTES`], and
/// within [`CONTROL_RATE`] a second (bursts of [`CONTROL_BURST`]). A peer that floods the
/// channel loses its excess; the call goes on. Pure: time is an input.
#[derive(Debug)]
pub struct ControlLimiter {
    tokens: f64,
    last: Option<Instant>,
    pub dropped: u64,
}

/// Why a message was not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    TooLong,
    TooFast,
}

impl Default for ControlLimiter {
    fn default() -> Self {
        ControlLimiter {
            tokens: CONTROL_BURST,
            last: None,
            dropped: 0,
        }
    }
}

impl ControlLimiter {
    pub fn admit(&mut self, len: usize, now: Instant) -> Result<(), Refused> {
        let elapsed = self
            .last
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        self.last = Some(now);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * CONTROL_RATE).min(CONTROL_BURST);
        let verdict = if len > MAX_CONTROL_BYTES {
            Err(Refused::TooLong)
        } else if self.tokens < 1.0 {
            Err(Refused::TooFast)
        } else {
            self.tokens -= 1.0;
            Ok(())
        };
        if verdict.is_err() {
            self.dropped += 1;
        }
        verdict
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlMessage {
    /// The sender's microphone is muted (`true`) or live again.
    MuteAudio(bool),
    /// The sender's camera is off (`true`) or on again.
    MuteVideo(bool),
    /// The sender hangs up.
    Reject,
    /// A text message (peercall extension).
    Chat(String),
}

/// What an incoming text made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Message(ControlMessage),
    /// A well-formed message with a code we do not know: newer peers may send more.
    Unknown(String),
    Malformed(String),
}

impl ControlMessage {
    pub fn to_json(&self) -> String {
        let value = match self {
            ControlMessage::MuteAudio(v) => json!({"code":"mute_audio","value":v}),
            ControlMessage::MuteVideo(v) => json!({"code":"mute_video","value":v}),
            ControlMessage::Reject => json!({"code":"reject"}),
            ControlMessage::Chat(text) => json!({"code":"chat","text":text}),
        };
        value.to_string()
    }

    pub fn parse(text: &str) -> Parsed {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return Parsed::Malformed(format!("not JSON: {e}")),
        };
        let Some(code) = value.get("code").and_then(Value::as_str) else {
            return Parsed::Malformed("no string field `code`".into());
        };
        let flag = || value.get("value").and_then(Value::as_bool);
        let message = match code {
            "mute_audio" => flag().map(ControlMessage::MuteAudio),
            "mute_video" => flag().map(ControlMessage::MuteVideo),
            "reject" => Some(ControlMessage::Reject),
            "chat" => value
                .get("text")
                .and_then(Value::as_str)
                .map(|t| ControlMessage::Chat(t.to_string())),
            other => return Parsed::Unknown(other.to_string()),
        };
        match message {
            Some(m) => Parsed::Message(m),
            None => Parsed::Malformed(format!("`{code}` with a missing or mistyped field")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_message() {
        for m in [
            ControlMessage::MuteAudio(true),
            ControlMessage::MuteAudio(false),
            ControlMessage::MuteVideo(true),
            ControlMessage::Reject,
            ControlMessage::Chat("hi \"there\" ✓".into()),
        ] {
            assert_eq!(ControlMessage::parse(&m.to_json()), Parsed::Message(m));
        }
    }

    #[test]
    fn the_wire_forms_of_protocol_md() {
        assert_eq!(
            ControlMessage::parse(r#"{"code":"mute_video","value":true}"#),
            Parsed::Message(ControlMessage::MuteVideo(true))
        );
        assert_eq!(
            ControlMessage::parse(r#"{"code":"reject"}"#),
            Parsed::Message(ControlMessage::Reject)
        );
    }

    #[test]
    fn unknown_and_malformed_are_told_apart() {
        assert_eq!(
            ControlMessage::parse(r#"{"code":"raise_hand","value":1}"#),
            Parsed::Unknown("raise_hand".into())
        );
        for bad in [
            "nope",
            "{}",
            r#"{"code":5}"#,
            r#"{"code":"mute_audio"}"#,
            r#"{"code":"mute_audio","value":"yes"}"#,
            r#"{"code":"chat"}"#,
        ] {
            assert!(
                matches!(ControlMessage::parse(bad), Parsed::Malformed(_)),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_limiter_drops_long_messages_and_floods_but_lets_a_normal_pace_through() {
        let t0 = Instant::now();
        let mut l = ControlLimiter::default();
        assert_eq!(l.admit(MAX_CONTROL_BYTES + 1, t0), Err(Refused::TooLong));
        assert_eq!(l.admit(MAX_CONTROL_BYTES, t0), Ok(()));
        // A flood: the burst passes, then nothing until tokens come back.
        let passed = (0..1000).filter(|_| l.admit(10, t0).is_ok()).count();
        assert_eq!(passed, CONTROL_BURST as usize - 1);
        // A second later, a second's worth.
        let later = t0 + Duration::from_secs(1);
        let passed = (0..1000).filter(|_| l.admit(10, later).is_ok()).count();
        assert_eq!(passed, CONTROL_RATE as usize);
        // Someone typing (one message every 100 ms) is never held back.
        for i in 0..100 {
            assert!(l
                .admit(100, later + Duration::from_millis(2000 + 100 * i))
                .is_ok());
        }
    }
}
