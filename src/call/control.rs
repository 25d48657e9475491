//! Call control over the `system_channel` data channel (PROTOCOL.md §2): JSON objects with a
//! string `code`. Unknown codes and malformed JSON are reported, never fatal to the call.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::transfer::message::FileMessage;

/// The data channel's label; the browser client `webrtc_call` uses the same.
pub const CHANNEL_LABEL: &str = "system_channel";
/// A control message longer than this is dropped unread (a chat line is far shorter).
pub const MAX_CONTROL_BYTES: usize = 16 * 1024;
/// Control messages accepted a second, sustained, and in a burst, in each [`Lane`].
pub const CONTROL_RATE: f64 = 20.0;
pub const CONTROL_BURST: f64 = 50.0;

/// Which budget a control message spends. State changes (mute, camera, hang-up) have their own,
/// so that a flood of chat lines cannot hide a mute or a hang-up behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    State,
    Chat,
}

impl Lane {
    /// Unknown and malformed messages share the chat lane: they cost the sender, not the call.
    pub fn of(parsed: &Parsed) -> Lane {
        match parsed {
            Parsed::Message(
                ControlMessage::MuteAudio(_)
                | ControlMessage::MuteVideo(_)
                | ControlMessage::Reject
                | ControlMessage::ScreenShare(_)
                | ControlMessage::JoinRoom(_),
            ) => Lane::State,
            _ => Lane::Chat,
        }
    }
}

/// Whether an incoming control message is let through: not over [`MAX_CONTROL_BYTES`], and
/// within [`CONTROL_RATE`] a second (bursts of [`CONTROL_BURST`]) in its [`Lane`]. A peer that
/// floods the channel loses its excess; the call goes on. Pure: time is an input.
#[derive(Debug, Default)]
pub struct ControlLimiter {
    state: Bucket,
    chat: Bucket,
    pub dropped: u64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Option<Instant>,
}

/// Why a message was not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    TooLong,
    TooFast,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            tokens: CONTROL_BURST,
            last: None,
        }
    }
}

impl Bucket {
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = self
            .last
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        self.last = Some(now);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * CONTROL_RATE).min(CONTROL_BURST);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

impl ControlLimiter {
    /// Checks the length before anything is read; call [`ControlLimiter::admit`] once parsed.
    pub fn admit_len(&mut self, len: usize) -> Result<(), Refused> {
        if len > MAX_CONTROL_BYTES {
            self.dropped += 1;
            return Err(Refused::TooLong);
        }
        Ok(())
    }

    pub fn admit(&mut self, lane: Lane, now: Instant) -> Result<(), Refused> {
        let bucket = match lane {
            Lane::State => &mut self.state,
            Lane::Chat => &mut self.chat,
        };
        if bucket.take(now) {
            Ok(())
        } else {
            self.dropped += 1;
            Err(Refused::TooFast)
        }
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
    /// The sender turned our call into a room to add someone: join it (peercall extension).
    JoinRoom(String),
    /// A file offered, answered or cancelled (peercall extension, docs/protocol.md §3).
    File(FileMessage),
    /// The sender shares its screen (`true`: the connection's second video track is it) or
    /// stopped (peercall extension, docs/protocol.md §5).
    ScreenShare(bool),
    /// What the sender's app can do beyond the protocol's core, said once the channel opens
    /// (docs/protocol.md §5): `screen_share` means it takes renegotiation offers.
    Features(Vec<String>),
}

/// The features we announce.
pub const OUR_FEATURES: &[&str] = &[SCREEN_SHARE_FEATURE];
/// A peer that announces this takes offers that renegotiate a connection (a screen shared).
pub const SCREEN_SHARE_FEATURE: &str = "screen_share";
/// Features kept of what a peer announces, at most (and each this long at most).
const MAX_FEATURES: usize = 32;
const MAX_FEATURE_LEN: usize = 64;

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
            ControlMessage::JoinRoom(room) => json!({"code":"join_room","room":room}),
            ControlMessage::File(file) => file.to_value(),
            ControlMessage::ScreenShare(v) => json!({"code":"screen_share","value":v}),
            ControlMessage::Features(list) => json!({"code":"features","features":list}),
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
            "screen_share" => flag().map(ControlMessage::ScreenShare),
            "features" => value.get("features").and_then(Value::as_array).map(|list| {
                ControlMessage::Features(
                    list.iter()
                        .filter_map(Value::as_str)
                        .filter(|f| f.len() <= MAX_FEATURE_LEN)
                        .take(MAX_FEATURES)
                        .map(str::to_owned)
                        .collect(),
                )
            }),
            "chat" => value
                .get("text")
                .and_then(Value::as_str)
                .map(|t| ControlMessage::Chat(t.to_string())),
            "join_room" => value
                .get("room")
                .and_then(Value::as_str)
                .filter(|room| signaling_client::ids::check_room_name(room).is_ok())
                .map(|room| ControlMessage::JoinRoom(room.to_string())),
            other => match FileMessage::from_value(other, &value) {
                Some(Ok(file)) => Some(ControlMessage::File(file)),
                Some(Err(why)) => return Parsed::Malformed(why),
                None => return Parsed::Unknown(other.to_string()),
            },
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
            ControlMessage::JoinRoom("call-0a1b2c".into()),
            ControlMessage::ScreenShare(true),
            ControlMessage::ScreenShare(false),
            ControlMessage::Features(vec!["screen_share".into(), "later".into()]),
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
        assert_eq!(l.admit_len(MAX_CONTROL_BYTES + 1), Err(Refused::TooLong));
        assert_eq!(l.admit_len(MAX_CONTROL_BYTES), Ok(()));
        // A flood: the burst passes, then nothing until tokens come back.
        let passed = (0..1000)
            .filter(|_| l.admit(Lane::Chat, t0).is_ok())
            .count();
        assert_eq!(passed, CONTROL_BURST as usize);
        // A second later, a second's worth.
        let later = t0 + Duration::from_secs(1);
        let passed = (0..1000)
            .filter(|_| l.admit(Lane::Chat, later).is_ok())
            .count();
        assert_eq!(passed, CONTROL_RATE as usize);
        // Someone typing (one message every 100 ms) is never held back.
        for i in 0..100 {
            assert!(l
                .admit(Lane::Chat, later + Duration::from_millis(2000 + 100 * i))
                .is_ok());
        }
    }

    #[test]
    fn a_chat_flood_does_not_hide_a_mute_or_a_hang_up() {
        let t0 = Instant::now();
        let mut l = ControlLimiter::default();
        let chat = Lane::of(&ControlMessage::parse(r#"{"code":"chat","text":"x"}"#));
        let junk = Lane::of(&ControlMessage::parse("not json"));
        assert_eq!((chat, junk), (Lane::Chat, Lane::Chat));
        let flooded = (0..10_000).filter(|_| l.admit(chat, t0).is_err()).count();
        assert!(flooded > 9_900);
        for text in [
            r#"{"code":"mute_audio","value":true}"#,
            r#"{"code":"mute_video","value":false}"#,
            r#"{"code":"reject"}"#,
        ] {
            let lane = Lane::of(&ControlMessage::parse(text));
            assert_eq!(lane, Lane::State);
            assert_eq!(l.admit(lane, t0), Ok(()), "{text}");
        }
    }
}
