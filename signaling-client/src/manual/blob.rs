//! The line a person copies from one peercall to the other: `peercall-offer:` or
//! `peercall-answer:`, then base64url (no padding) of `{"v":1,"type":…,"sdp":…}`, the SDP with
//! its gathered candidates written in.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::protocol::{SdpKind, SessionDescription};

pub const OFFER_PREFIX: &str = "peercall-offer:";
pub const ANSWER_PREFIX: &str = "peercall-answer:";
/// The blob format this build writes and reads.
const VERSION: u64 = 1;
/// A pasted line longer than this is refused unread (a real one is a few KiB).
pub const MAX_BLOB_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    #[error("not a peercall line: it starts with `{OFFER_PREFIX}` or `{ANSWER_PREFIX}`")]
    NotABlob,
    #[error("the line is too long ({0} bytes; at most {MAX_BLOB_BYTES})")]
    TooLong(usize),
    #[error("the line is damaged (copied only in part?): {0}")]
    Damaged(String),
    #[error("the line is from a newer peercall (format {0}; this one reads {VERSION})")]
    Version(u64),
    #[error("the line says {inner:?} inside but `{outer}` in front")]
    Mismatch { outer: &'static str, inner: String },
}

#[derive(Serialize, Deserialize)]
struct Body {
    v: u64,
    #[serde(rename = "type")]
    kind: SdpKind,
    sdp: String,
}

pub fn encode(description: &SessionDescription) -> String {
    let prefix = match description.kind {
        SdpKind::Offer => OFFER_PREFIX,
        _ => ANSWER_PREFIX,
    };
    let body = Body {
        v: VERSION,
        kind: description.kind,
        sdp: description.sdp.clone(),
    };
    let json = serde_json::to_vec(&body).expect("a description always serializes");
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(json))
}

/// Reads a pasted line; spaces and line breaks a mail or chat program put in are ignored.
pub fn decode(text: &str) -> Result<SessionDescription, BlobError> {
    if text.len() > MAX_BLOB_BYTES {
        return Err(BlobError::TooLong(text.len()));
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let (outer, rest) = if let Some(rest) = compact.strip_prefix(OFFER_PREFIX) {
        (SdpKind::Offer, rest)
    } else if let Some(rest) = compact.strip_prefix(ANSWER_PREFIX) {
        (SdpKind::Answer, rest)
    } else {
        return Err(BlobError::NotABlob);
    };
    let json = URL_SAFE_NO_PAD
        .decode(rest.trim_end_matches('='))
        .map_err(|e| BlobError::Damaged(e.to_string()))?;
    let version = serde_json::from_slice::<serde_json::Value>(&json)
        .map_err(|e| BlobError::Damaged(e.to_string()))?
        .get("v")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| BlobError::Damaged("no format version".into()))?;
    if version != VERSION {
        return Err(BlobError::Version(version));
    }
    let body: Body =
        serde_json::from_slice(&json).map_err(|e| BlobError::Damaged(e.to_string()))?;
    if body.kind != outer {
        return Err(BlobError::Mismatch {
            outer: if outer == SdpKind::Offer {
                OFFER_PREFIX
            } else {
                ANSWER_PREFIX
            },
            inner: format!("{:?}", body.kind).to_lowercase(),
        });
    }
    if !body.sdp.starts_with("v=0") {
        return Err(BlobError::Damaged("what it carries is not SDP".into()));
    }
    Ok(SessionDescription {
        kind: body.kind,
        sdp: body.sdp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer() -> SessionDescription {
        SessionDescription {
            kind: SdpKind::Offer,
            sdp: "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\na=candidate:1 1 udp 1 10.0.0.1 9 typ host\r\n"
                .into(),
        }
    }

    #[test]
    fn a_line_reads_back_even_wrapped() {
        let line = encode(&offer());
        assert!(line.starts_with(OFFER_PREFIX));
        assert!(line.chars().all(|c| c.is_ascii_graphic()), "{line}");
        assert_eq!(decode(&line), Ok(offer()));
        let wrapped: String = line
            .chars()
            .collect::<Vec<_>>()
            .chunks(20)
            .map(|c| c.iter().collect::<String>() + "\n  ")
            .collect();
        assert_eq!(decode(&wrapped), Ok(offer()));
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let line = encode(&offer());
        assert_eq!(decode("hello"), Err(BlobError::NotABlob));
        assert!(matches!(
            decode(&line[..line.len() / 2]),
            Err(BlobError::Damaged(_))
        ));
        assert!(matches!(
            decode(&format!("{OFFER_PREFIX}!!!")),
            Err(BlobError::Damaged(_))
        ));
        let newer = URL_SAFE_NO_PAD.encode(r#"{"v":2,"type":"offer","sdp":"v=0"}"#);
        assert_eq!(
            decode(&format!("{OFFER_PREFIX}{newer}")),
            Err(BlobError::Version(2))
        );
        let answer_inside = line.replacen(OFFER_PREFIX, ANSWER_PREFIX, 1);
        assert!(matches!(
            decode(&answer_inside),
            Err(BlobError::Mismatch { .. })
        ));
        let not_sdp = URL_SAFE_NO_PAD.encode(r#"{"v":1,"type":"offer","sdp":"hello"}"#);
        assert!(matches!(
            decode(&format!("{OFFER_PREFIX}{not_sdp}")),
            Err(BlobError::Damaged(_))
        ));
        assert!(matches!(
            decode(&"x".repeat(MAX_BLOB_BYTES + 1)),
            Err(BlobError::TooLong(_))
        ));
    }
}
