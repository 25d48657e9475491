//! The file-transfer messages on `system_channel` (docs/protocol.md §3): an offer that carries
//! the file's header (name, size, SHA-256), the answer, and a cancel from either side.

use serde_json::{json, Value};

/// The label of the data channel a transfer's bytes travel on: `file:` and its ID.
pub const CHANNEL_PREFIX: &str = "file:";
/// A file name as offered is at most this long (bytes), before it is made safe.
pub const MAX_NAME_BYTES: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileMessage {
    /// The sender would like to send this file (nothing is sent before `Accept`).
    Offer(FileHeader),
    Accept {
        id: String,
    },
    Decline {
        id: String,
    },
    /// Either side stops the transfer; the receiver keeps nothing of it.
    Cancel {
        id: String,
        reason: Option<String>,
    },
}

/// What a transfer says about its file before any byte of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHeader {
    pub id: String,
    /// As the sender named it: not yet safe to use as a path.
    pub name: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

impl FileMessage {
    pub fn id(&self) -> &str {
        match self {
            FileMessage::Offer(header) => &header.id,
            FileMessage::Accept { id } | FileMessage::Decline { id } => id,
            FileMessage::Cancel { id, .. } => id,
        }
    }

    pub fn to_value(&self) -> Value {
        match self {
            FileMessage::Offer(h) => json!({
                "code": "file_offer",
                "id": h.id,
                "name": h.name,
                "size": h.size,
                "sha256": h.sha256,
            }),
            FileMessage::Accept { id } => json!({"code": "file_accept", "id": id}),
            FileMessage::Decline { id } => json!({"code": "file_decline", "id": id}),
            FileMessage::Cancel { id, reason } => match reason {
                Some(reason) => json!({"code": "file_cancel", "id": id, "reason": reason}),
                None => json!({"code": "file_cancel", "id": id}),
            },
        }
    }

    /// A `file_*` message from its parsed JSON: `None` when `code` is not one of ours, `Some(Err)`
    /// when a field is missing or wrong.
    pub fn from_value(code: &str, value: &Value) -> Option<Result<FileMessage, String>> {
        let id = || {
            value
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| is_valid_transfer_id(id))
                .map(str::to_string)
                .ok_or_else(|| {
                    format!("`{code}` needs an `id` of 1 to 64 of a-z, A-Z, 0-9, - and _")
                })
        };
        Some(match code {
            "file_offer" => id().and_then(|id| {
                let name = value
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty() && n.len() <= MAX_NAME_BYTES)
                    .ok_or("`file_offer` needs a `name` of 1 to 255 bytes")?;
                let size = value
                    .get("size")
                    .and_then(Value::as_u64)
                    .ok_or("`file_offer` needs a whole, non-negative `size`")?;
                let sha256 = value
                    .get("sha256")
                    .and_then(Value::as_str)
                    .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .ok_or("`file_offer` needs a `sha256` of 64 hex digits")?;
                Ok(FileMessage::Offer(FileHeader {
                    id,
                    name: name.to_string(),
                    size,
                    sha256: sha256.to_ascii_lowercase(),
                }))
            }),
            "file_accept" => id().map(|id| FileMessage::Accept { id }),
            "file_decline" => id().map(|id| FileMessage::Decline { id }),
            "file_cancel" => id().map(|id| FileMessage::Cancel {
                id,
                reason: value
                    .get("reason")
                    .and_then(Value::as_str)
                    .map(|r| r.chars().take(200).collect()),
            }),
            _ => return None,
        })
    }
}

/// A transfer ID: 1 to 64 of `a-z`, `A-Z`, `0-9`, `-`, `_` (it names a data channel).
pub fn is_valid_transfer_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new random transfer ID (96 bits, hex).
pub fn new_transfer_id() -> String {
    use rand::Rng;
    let bits: u128 = rand::rng().random();
    format!("{:024x}", bits >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: Value) -> Option<Result<FileMessage, String>> {
        let code = value["code"].as_str().unwrap().to_string();
        FileMessage::from_value(&code, &value)
    }

    #[test]
    fn round_trips_and_refuses_what_is_wrong() {
        let header = FileHeader {
            id: new_transfer_id(),
            name: "report.pdf".into(),
            size: 10 << 20,
            sha256: "ab".repeat(32),
        };
        for m in [
            FileMessage::Offer(header.clone()),
            FileMessage::Accept { id: "t1".into() },
            FileMessage::Decline { id: "t1".into() },
            FileMessage::Cancel {
                id: "t1".into(),
                reason: Some("stopped".into()),
            },
            FileMessage::Cancel {
                id: "t1".into(),
                reason: None,
            },
        ] {
            assert_eq!(parse(m.to_value()), Some(Ok(m)));
        }
        let offer = |patch: Value| {
            let mut v = FileMessage::Offer(header.clone()).to_value();
            for (k, x) in patch.as_object().unwrap() {
                v[k] = x.clone();
            }
            parse(v).unwrap()
        };
        assert!(offer(json!({"size": -1})).is_err());
        assert!(offer(json!({"size": 1.5})).is_err());
        assert!(offer(json!({"sha256": "xyz"})).is_err());
        assert!(offer(json!({"name": ""})).is_err());
        assert!(offer(json!({"name": "a".repeat(256)})).is_err());
        assert!(offer(json!({"id": "../x"})).is_err());
        assert!(offer(json!({"id": "a".repeat(65)})).is_err());
        assert_eq!(FileMessage::from_value("chat", &json!({})), None);
    }
}
