//! The rules of socket.io mesh rooms (the widespread mesh demos), pure: events from the server
//! and commands from the call engine in, [`Out`]s back.
//!
//! The dialect: `room` `'{"id":ME,"room":ROOM}'` joins; the server tells the others `new` ME;
//! members exchange `webrtc` `'{"id":FROM,"to":TO,"type":"offer"|"answer"|"candidate","data":…}'`
//! (JSON strings); `leave` ID when someone's connection closes. Existing members offer to the
//! newcomer. Mapped onto peercall's rooms: we join with nobody listed; a `new` member is one we
//! dial (the engine's room dials whoever is listed and has no leg); an offer from someone is a
//! leg from a member, taken without ringing.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::Out;
use crate::ids::random_call_id;
use crate::protocol::{
    ErrorCode, HangupReason, IceCandidate, SdpKind, SessionDescription, SignalData,
};
use crate::signaling::SignalingEvent;

/// Members we keep a call with, at most (the room is bounded by the server; this by us).
const MAX_CALLS: usize = 64;

#[derive(Debug)]
pub struct Mesh {
    me: String,
    room: Option<String>,
    /// Each member's call: their ID → the call ID the engine knows it by.
    calls: HashMap<String, String>,
}

impl Mesh {
    pub fn new(me: &str) -> Mesh {
        Mesh {
            me: me.to_string(),
            room: None,
            calls: HashMap::new(),
        }
    }

    /// We join `room`: nobody is listed (the others offer to us).
    pub fn join(&mut self, room: &str) -> Vec<Out> {
        self.room = Some(room.to_string());
        let arg = json!({"id": self.me, "room": room}).to_string();
        vec![
            Out::Emit("room", Value::String(arg)),
            Out::Event(SignalingEvent::Room {
                room: room.to_string(),
                members: Vec::new(),
            }),
        ]
    }

    /// The engine dials a member (one we were told is `new`): no ring in this dialect.
    pub fn dial(&mut self, to: &str, call_id: &str, room: Option<&str>) -> Vec<Out> {
        if room.is_none() || room != self.room.as_deref() || self.calls.len() >= MAX_CALLS {
            return vec![Out::Event(SignalingEvent::Error {
                code: ErrorCode::UnknownPeer,
                message: "a socket.io mesh server has rooms only: join one (--room)".into(),
                call_id: Some(call_id.to_string()),
                room: None,
            })];
        }
        self.calls.insert(to.to_string(), call_id.to_string());
        vec![Out::Event(SignalingEvent::Accepted {
            from: to.to_string(),
            call_id: call_id.to_string(),
        })]
    }

    /// What our side of a call says: descriptions and candidates go to that member.
    pub fn local(&mut self, call_id: &str, data: SignalData) -> Vec<Out> {
        let Some(to) = self.member_of(call_id) else {
            return Vec::new();
        };
        let (kind, data) = match data {
            SignalData::Sdp { sdp } => {
                let kind = match sdp.kind {
                    SdpKind::Offer => "offer",
                    _ => "answer",
                };
                (kind, json!({"type": kind, "sdp": sdp.sdp}))
            }
            SignalData::Candidate {
                candidate: Some(candidate),
            } => match serde_json::to_value(&candidate) {
                Ok(value) => ("candidate", value),
                Err(_) => return Vec::new(),
            },
            SignalData::Candidate { candidate: None } => return Vec::new(),
        };
        let text = json!({"id": self.me, "to": to, "type": kind, "data": data}).to_string();
        vec![Out::Emit("webrtc", Value::String(text))]
    }

    /// Our leg with someone ends: the dialect has no word for it (leaving is disconnecting).
    pub fn hang_up(&mut self, call_id: &str) {
        self.calls.retain(|_, id| id != call_id);
    }

    /// An event from the server.
    pub fn server(&mut self, name: &str, args: &[Value]) -> Vec<Out> {
        let Some(room) = self.room.clone() else {
            return Vec::new();
        };
        match (name, args.first()) {
            ("new", Some(Value::String(id))) if *id != self.me => {
                vec![Out::Event(SignalingEvent::Room {
                    room,
                    members: vec![id.clone()],
                })]
            }
            ("webrtc", Some(arg)) => self.webrtc(&room, arg),
            ("leave", Some(Value::String(id))) => {
                let mut out = vec![Out::Event(SignalingEvent::MemberLeft {
                    room,
                    id: id.clone(),
                })];
                if let Some(call_id) = self.calls.remove(id) {
                    out.push(Out::Event(SignalingEvent::Hangup {
                        from: id.clone(),
                        call_id,
                        reason: Some(HangupReason::Gone),
                    }));
                }
                out
            }
            _ => Vec::new(),
        }
    }

    fn webrtc(&mut self, room: &str, arg: &Value) -> Vec<Out> {
        // A JSON string, as the demos send it; an object is read the same.
        let message: Value = match arg {
            Value::String(text) => match serde_json::from_str(text) {
                Ok(value) => value,
                Err(_) => return Vec::new(),
            },
            other => other.clone(),
        };
        let Some(from) = message["id"].as_str().map(str::to_string) else {
            return Vec::new();
        };
        let to = message["to"].as_str();
        if from == self.me || to.is_some_and(|to| to != self.me) {
            return Vec::new();
        }
        let data = &message["data"];
        let signal = match message["type"].as_str() {
            Some(kind @ ("offer" | "answer")) => {
                let Some(sdp) = data["sdp"].as_str() else {
                    return Vec::new();
                };
                let kind = if kind == "offer" {
                    SdpKind::Offer
                } else {
                    SdpKind::Answer
                };
                SignalData::Sdp {
                    sdp: SessionDescription {
                        kind,
                        sdp: sdp.to_string(),
                    },
                }
            }
            Some("candidate") => match serde_json::from_value::<IceCandidate>(data.clone()) {
                Ok(candidate) => SignalData::Candidate {
                    candidate: Some(candidate),
                },
                Err(_) => return Vec::new(),
            },
            _ => return Vec::new(),
        };
        let is_offer = matches!(&signal, SignalData::Sdp { sdp } if sdp.kind == SdpKind::Offer);
        let mut out = Vec::new();
        let call_id = match self.calls.get(&from) {
            Some(call_id) => call_id.clone(),
            // A member we have no call with offers: a leg of the room.
            None if is_offer && self.calls.len() < MAX_CALLS => {
                let call_id = random_call_id();
                self.calls.insert(from.clone(), call_id.clone());
                out.push(Out::Event(SignalingEvent::MemberJoined {
                    room: room.to_string(),
                    id: from.clone(),
                }));
                out.push(Out::Event(SignalingEvent::Incoming {
                    from: from.clone(),
                    call_id: call_id.clone(),
                    room: Some(room.to_string()),
                }));
                call_id
            }
            None => return Vec::new(),
        };
        out.push(Out::Event(SignalingEvent::Signal {
            from,
            call_id,
            data: signal,
        }));
        out
    }

    fn member_of(&self, call_id: &str) -> Option<String> {
        self.calls
            .iter()
            .find(|(_, id)| *id == call_id)
            .map(|(member, _)| member.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(outs: &[Out]) -> Vec<&SignalingEvent> {
        outs.iter()
            .filter_map(|o| match o {
                Out::Event(e) => Some(e),
                Out::Emit(..) | Out::Presence(_) => None,
            })
            .collect()
    }

    fn webrtc(from: &str, to: Option<&str>, kind: &str, data: Value) -> Vec<Value> {
        let mut m = json!({"id": from, "type": kind, "data": data});
        if let Some(to) = to {
            m["to"] = json!(to);
        }
        vec![Value::String(m.to_string())]
    }

    #[test]
    fn a_newcomer_is_dialled_and_an_offer_is_a_leg() {
        let mut mesh = Mesh::new("pc");
        let outs = mesh.join("r");
        assert_eq!(
            outs[0],
            Out::Emit("room", Value::String(r#"{"id":"pc","room":"r"}"#.into()))
        );
        // Someone new: the engine is told to dial them (listed in the room).
        let outs = mesh.server("new", &[json!("web")]);
        assert_eq!(
            events(&outs),
            [&SignalingEvent::Room {
                room: "r".into(),
                members: vec!["web".into()]
            }]
        );
        let outs = mesh.dial("web", "c1", Some("r"));
        assert!(matches!(events(&outs)[0], SignalingEvent::Accepted { .. }));
        let sdp = SessionDescription {
            kind: SdpKind::Offer,
            sdp: "v=0".into(),
        };
        let outs = mesh.local("c1", SignalData::Sdp { sdp });
        let Out::Emit("webrtc", Value::String(text)) = &outs[0] else {
            panic!("{outs:?}")
        };
        let sent: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            sent,
            json!({"id":"pc","to":"web","type":"offer","data":{"type":"offer","sdp":"v=0"}})
        );
        // An offer from a member we have no call with: a leg, listed first.
        let outs = mesh.server(
            "webrtc",
            &webrtc("old", None, "offer", json!({"type":"offer","sdp":"v=0"})),
        );
        let seen = events(&outs);
        assert!(matches!(seen[0], SignalingEvent::MemberJoined { id, .. } if id == "old"));
        assert!(matches!(seen[1], SignalingEvent::Incoming { room: Some(r), .. } if r == "r"));
        assert!(matches!(seen[2], SignalingEvent::Signal { .. }));
        // Not for us, from us, or garbage: nothing.
        for args in [
            webrtc("old", Some("else"), "answer", json!({"sdp":"x"})),
            webrtc("pc", None, "offer", json!({"sdp":"x"})),
            vec![json!("not json")],
            webrtc("new2", None, "candidate", json!({"candidate": 5})),
        ] {
            assert!(mesh.server("webrtc", &args).is_empty(), "{args:?}");
        }
        // Someone leaves: listed out, their leg over.
        let outs = mesh.server("leave", &[json!("web")]);
        assert!(matches!(
            events(&outs)[1],
            SignalingEvent::Hangup { call_id, .. } if call_id == "c1"
        ));
        // Calls without a room have nowhere to go.
        let outs = mesh.dial("x", "c9", None);
        assert!(matches!(events(&outs)[0], SignalingEvent::Error { .. }));
    }
}
