//! The signaling protocol, version 2 (version 1 and rooms), as Rust types (see `docs/protocol.md`).
//!
//! The server and every client use these same types, so the two cannot drift. Each WebSocket text
//! frame holds one JSON object whose `type` field selects the variant.

use serde::{Deserialize, Serialize};

/// The newest protocol version this crate speaks. A client asks for it in `register`; the server
/// answers, in `registered`, the version it speaks with that client.
pub const PROTOCOL_VERSION: u32 = 2;

/// The version a client speaks when its `register` names none.
pub const FIRST_VERSION: u32 = 1;

/// How many people a room holds unless the server is told otherwise.
pub const DEFAULT_MAX_ROOM: usize = 6;

/// Frames larger than this close the connection with code 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// The largest frame the server sends: a relayed signal carries `from` besides what arrived, so
/// a client must accept a little more than it may send.
pub const MAX_SERVER_FRAME_BYTES: usize = MAX_FRAME_BYTES + 1024;

/// Sustained messages a second a client may send before it is rate limited.
pub const RATE_LIMIT_PER_SEC: u32 = 50;

/// A call still ringing after this long is ended by the server with reason `timeout`.
pub const RING_TIMEOUT_SECS: u64 = 60;

/// What a client sends to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Take an ID (or let the server pick one when `id` is absent).
    Register {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The version the client speaks (2: rooms); absent: 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protocol: Option<u32>,
    },
    /// Ring another peer; `call_id` is chosen by the caller and must be new on the server. With
    /// `room`, a leg of that room (to a member) or an invitation into it (to anyone else).
    Call {
        to: String,
        call_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
    /// Join a room by name (created when nobody is in it).
    Join { room: String },
    /// Leave the room.
    Leave { room: String },
    /// The callee takes the call.
    Accept { call_id: String },
    /// The callee declines (or is busy).
    Reject {
        call_id: String,
        #[serde(default)]
        reason: RejectReason,
    },
    /// An SDP or ICE candidate for the other party of a live call.
    Signal { call_id: String, data: SignalData },
    /// Either party ends the call (the caller cancels a ringing one this way).
    Hangup { call_id: String },
    /// Fresh TURN credentials, please (before those from `registered` expire: `ice_ttl`).
    RefreshIce,
    /// Register `id` again on a new connection, taking over the registration `token` (from
    /// `registered.resume`) belongs to, with its calls and room, if the old connection is still
    /// held; otherwise the same as `register`. For a client whose network changed under it.
    Resume {
        id: String,
        token: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protocol: Option<u32>,
    },
}

/// What the server sends to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Registered {
        id: String,
        protocol: u32,
        ice_servers: Vec<IceServer>,
        /// Seconds the TURN credentials in `ice_servers` work for; absent: they do not expire.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ice_ttl: Option<u64>,
        /// A secret that lets a new connection take this registration over (`resume`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
    },
    /// The answer to `refresh_ice`: the same servers with fresh credentials.
    IceServers {
        ice_servers: Vec<IceServer>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ice_ttl: Option<u64>,
    },
    /// The others online, sent right after `registered`.
    Peers {
        peers: Vec<String>,
    },
    PeerJoined {
        id: String,
    },
    PeerLeft {
        id: String,
    },
    Incoming {
        from: String,
        call_id: String,
        /// A leg of this room, or an invitation into it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
    /// To whoever joined a room: who else is in it, earliest first.
    Room {
        room: String,
        members: Vec<String>,
    },
    MemberJoined {
        room: String,
        id: String,
    },
    MemberLeft {
        room: String,
        id: String,
    },
    Accepted {
        from: String,
        call_id: String,
    },
    Rejected {
        from: String,
        call_id: String,
        reason: RejectReason,
    },
    Signal {
        from: String,
        call_id: String,
        data: SignalData,
    },
    Hangup {
        from: String,
        call_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<HangupReason>,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
}

/// Why a callee did not take a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    #[default]
    Declined,
    Busy,
}

/// Why the server (rather than a party) ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupReason {
    /// The other party's connection closed.
    Gone,
    /// Nobody answered within the ringing timeout.
    Timeout,
    /// The room filled before the invitation was accepted.
    RoomFull,
}

/// Every error the server can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadMessage,
    RateLimited,
    IdTaken,
    InvalidId,
    NotRegistered,
    UnknownPeer,
    CallIdTaken,
    UnknownCall,
    RoomFull,
    NotInRoom,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::IdTaken => "id_taken",
            ErrorCode::InvalidId => "invalid_id",
            ErrorCode::NotRegistered => "not_registered",
            ErrorCode::UnknownPeer => "unknown_peer",
            ErrorCode::CallIdTaken => "call_id_taken",
            ErrorCode::UnknownCall => "unknown_call",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::NotInRoom => "not_in_room",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A STUN or TURN server in the W3C `RTCIceServer` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl IceServer {
    /// Parses `stun:host:port` or `turn:user:pass@host:port` (credentials before the last `@`).
    pub fn from_url(url: &str) -> IceServer {
        let (scheme, rest) = url.split_once(':').unwrap_or((url, ""));
        match rest.rsplit_once('@') {
            Some((creds, host)) if scheme.starts_with("turn") => {
                let (user, pass) = creds.split_once(':').unwrap_or((creds, ""));
                IceServer {
                    urls: vec![format!("{scheme}:{host}")],
                    username: Some(user.to_string()),
                    credential: Some(pass.to_string()),
                }
            }
            _ => IceServer {
                urls: vec![url.to_string()],
                username: None,
                credential: None,
            },
        }
    }
}

/// The payload of a `signal`: a session description or one trickled ICE candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SignalData {
    Sdp {
        sdp: SessionDescription,
    },
    /// `candidate: null` ends the candidates.
    Candidate {
        candidate: Option<IceCandidate>,
    },
}

impl<'de> Deserialize<'de> for SignalData {
    /// By hand, because a derived form would read an object with neither key as "end of
    /// candidates" (a missing `Option` field is `None`).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut fields = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        if let Some(sdp) = fields.remove("sdp") {
            return serde_json::from_value(sdp)
                .map(|sdp| SignalData::Sdp { sdp })
                .map_err(|e| D::Error::custom(format!("data.sdp: {e}")));
        }
        if let Some(candidate) = fields.remove("candidate") {
            return serde_json::from_value(candidate)
                .map(|candidate| SignalData::Candidate { candidate })
                .map_err(|e| D::Error::custom(format!("data.candidate: {e}")));
        }
        Err(D::Error::custom("data holds neither `sdp` nor `candidate`"))
    }
}

/// `RTCSessionDescriptionInit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDescription {
    #[serde(rename = "type")]
    pub kind: SdpKind,
    pub sdp: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdpKind {
    Offer,
    Answer,
    Pranswer,
    Rollback,
}

/// `RTCIceCandidateInit`, as a browser's `candidate.toJSON()` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default)]
    pub sdp_mid: Option<String>,
    #[serde(default, rename = "sdpMLineIndex")]
    pub sdp_mline_index: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

impl ClientMessage {
    /// Parses one text frame; the error says what is wrong in words.
    pub fn parse(text: &str) -> Result<ClientMessage, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("protocol types always serialize")
    }
}

impl ServerMessage {
    pub fn parse(text: &str) -> Result<ServerMessage, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("protocol types always serialize")
    }

    pub fn error(code: ErrorCode, message: impl Into<String>, call_id: Option<&str>) -> Self {
        ServerMessage::Error {
            code,
            message: message.into(),
            call_id: call_id.map(str::to_string),
            room: None,
        }
    }

    pub fn room_error(code: ErrorCode, message: impl Into<String>, room: &str) -> Self {
        ServerMessage::Error {
            code,
            message: message.into(),
            call_id: None,
            room: Some(room.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn client_messages_match_the_wire_examples() {
        let cases = [
            (
                json!({"type":"register","id":"alice"}),
                ClientMessage::Register {
                    id: Some("alice".into()),
                    protocol: None,
                },
            ),
            (
                json!({"type":"register","protocol":2}),
                ClientMessage::Register {
                    id: None,
                    protocol: Some(2),
                },
            ),
            (
                json!({"type":"resume","id":"alice","token":"t0k","protocol":2}),
                ClientMessage::Resume {
                    id: "alice".into(),
                    token: "t0k".into(),
                    protocol: Some(2),
                },
            ),
            (
                json!({"type":"call","to":"bob","call_id":"c1"}),
                ClientMessage::Call {
                    to: "bob".into(),
                    call_id: "c1".into(),
                    room: None,
                },
            ),
            (
                json!({"type":"call","to":"bob","call_id":"c1","room":"standup"}),
                ClientMessage::Call {
                    to: "bob".into(),
                    call_id: "c1".into(),
                    room: Some("standup".into()),
                },
            ),
            (
                json!({"type":"join","room":"standup"}),
                ClientMessage::Join {
                    room: "standup".into(),
                },
            ),
            (
                json!({"type":"reject","call_id":"c1","reason":"busy"}),
                ClientMessage::Reject {
                    call_id: "c1".into(),
                    reason: RejectReason::Busy,
                },
            ),
            (
                json!({"type":"signal","call_id":"c1","data":{"candidate":null}}),
                ClientMessage::Signal {
                    call_id: "c1".into(),
                    data: SignalData::Candidate { candidate: None },
                },
            ),
        ];
        for (wire, expected) in cases {
            let parsed = ClientMessage::parse(&wire.to_string()).unwrap();
            assert_eq!(parsed, expected);
        }
    }

    #[test]
    fn a_browser_candidate_round_trips() {
        let wire = json!({"type":"signal","call_id":"c1","data":{"candidate":{
            "candidate":"candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host",
            "sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}}});
        let parsed = ClientMessage::parse(&wire.to_string()).unwrap();
        let back: serde_json::Value = serde_json::from_str(&parsed.to_json()).unwrap();
        assert_eq!(back, wire);
    }

    #[test]
    fn wrong_shapes_are_rejected() {
        for bad in [
            r#"{"type":"call","to":5,"call_id":"c1"}"#,
            r#"{"type":"nope"}"#,
            r#"{"to":"bob"}"#,
            r#"{"type":"signal","call_id":"c1","data":"x"}"#,
            r#"{"type":"signal","call_id":"c1","data":{}}"#,
            r#"{"type":"signal","call_id":"c1","data":{"sdp":{"type":"offer"}}}"#,
            r#"{"type":"signal","call_id":"c1","data":{"candidate":{"sdpMid":"0"}}}"#,
            r#"{"type":"reject","call_id":"c1","reason":"bored"}"#,
            r#"[1,2]"#,
        ] {
            assert!(ClientMessage::parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn ice_server_urls_with_credentials() {
        let turn = IceServer::from_url("turn:user:secret@turn.example.org:3478");
        assert_eq!(turn.urls, vec!["turn:turn.example.org:3478"]);
        assert_eq!(turn.username.as_deref(), Some("user"));
        assert_eq!(turn.credential.as_deref(), Some("secret"));
        let stun = IceServer::from_url("stun:stun.example.org:3478");
        assert_eq!(stun.urls, vec!["stun:stun.example.org:3478"]);
        assert_eq!(stun.username, None);
    }
}
