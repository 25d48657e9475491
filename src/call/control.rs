//! Call control over the `system_channel` data channel (PROTOCOL.md §2): JSON objects with a
//! string `code`. Unknown codes and malformed JSON are reported, never fatal to the call.

use serde_json::{json, Value};

/// The data channel's label; the browser client `webrtc_call` uses the same.
pub const CHANNEL_LABEL: &str = "system_channel";

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
}
