//! Calls through a socket.io "1v1" server (the Koa + koa-socket demo; socket.io 1.x, Engine.IO
//! v3) as a pure state machine: server events and our commands in, events to emit and
//! [`SignalingEvent`]s out. The I/O is in `one_to_one_transport`.
//!
//! `join {roomid, account}` lists us; `joined (users, account, id)` is the room's user list.
//! `apply {account: TO, self: ME}` rings; `reply {account: CALLER, self: TO, type}` answers it
//! ('1' accept, '2' decline, '3' busy); then `1v1offer` / `1v1answer` / `1v1ICE` carry the
//! setup and `1v1hangup` ends it, each forwarded to the socket of `account`.
//!
//! Such servers throw when an event names an account that never joined, and socket.io 1.x then
//! silently drops the *sender*: we only address accounts in the user list. Their pages add a
//! candidate the moment it arrives and lose those before the description: our descriptions
//! carry their candidates (`gathered`), and later ones follow.

use std::time::Instant;

use serde_json::{json, Value};

use super::Out;
use crate::gathered::Gathered;
use crate::protocol::{
    ErrorCode, IceCandidate, RejectReason, SdpKind, SessionDescription, SignalData,
};
use crate::signaling::{Registration, SignalingEvent};

/// Accounts remembered at most: the server's list only ever grows.
const MAX_USERS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Caller,
    Callee,
}

#[derive(Debug)]
struct Call {
    id: String,
    with: String,
    role: Role,
    /// Caller: the other side accepted; callee: we accepted. Until then nothing is sent.
    accepted: bool,
    ours: Gathered,
}

#[derive(Debug)]
pub struct Lobby {
    room: String,
    me: String,
    registered: bool,
    users: Vec<String>,
    call: Option<Call>,
    next_call: u64,
}

impl Lobby {
    pub fn new(room: &str, me: &str) -> Lobby {
        Lobby {
            room: room.to_string(),
            me: me.to_string(),
            registered: false,
            users: Vec::new(),
            call: None,
            next_call: 0,
        }
    }

    /// What to say once connected.
    pub fn enter(&self) -> Vec<Out> {
        vec![Out::Emit(
            "join",
            json!({"roomid": self.room, "account": self.me}),
        )]
    }

    pub fn server(&mut self, name: &str, args: &[Value], now: Instant) -> Vec<Out> {
        let first = args.first().cloned().unwrap_or(Value::Null);
        match name {
            "joined" => self.joined(&first),
            "apply" => self.apply(&first),
            "reply" => self.reply(&first, now),
            "1v1offer" | "1v1answer" => self.description(name, &first),
            "1v1ICE" => self.candidate(&first),
            "1v1hangup" => self.hangup(&first),
            other => {
                tracing::debug!(event = %other, "a 1v1 event we do not use");
                Vec::new()
            }
        }
    }

    fn joined(&mut self, users: &Value) -> Vec<Out> {
        let listed: Vec<String> = users
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|u| u["account"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut out = Vec::new();
        if !self.registered {
            if !listed.contains(&self.me) {
                return out;
            }
            self.registered = true;
            out.push(Out::Event(SignalingEvent::Registered(Registration {
                id: self.me.clone(),
                ice_servers: Vec::new(),
            })));
            self.users = listed;
            self.users.truncate(MAX_USERS);
            out.push(self.presence());
            return out;
        }
        let before = self.users.len();
        for user in listed {
            if !self.users.contains(&user) && self.users.len() < MAX_USERS {
                self.users.push(user);
            }
        }
        if self.users.len() != before {
            out.push(self.presence());
        }
        out
    }

    /// Everyone listed but us.
    fn presence(&self) -> Out {
        Out::Presence(
            self.users
                .iter()
                .filter(|u| **u != self.me)
                .cloned()
                .collect(),
        )
    }

    fn apply(&mut self, body: &Value) -> Vec<Out> {
        let (Some(to), Some(from)) = (body["account"].as_str(), body["self"].as_str()) else {
            return Vec::new();
        };
        if to != self.me || !self.users.iter().any(|u| u == from) {
            tracing::debug!(%from, "a ring from someone not in the room: ignored");
            return Vec::new();
        }
        if self.call.is_some() {
            return vec![reply(from, &self.me, "3")];
        }
        self.next_call += 1;
        let id = format!("1v1-{}-{}", self.next_call, from);
        self.call = Some(Call {
            id: id.clone(),
            with: from.to_string(),
            role: Role::Callee,
            accepted: false,
            ours: Gathered::default(),
        });
        vec![Out::Event(SignalingEvent::Incoming {
            from: from.to_string(),
            call_id: id,
            room: None,
        })]
    }

    fn reply(&mut self, body: &Value, now: Instant) -> Vec<Out> {
        let Some(call) = self.current(body, Role::Caller) else {
            return Vec::new();
        };
        let (from, call_id) = (call.with.clone(), call.id.clone());
        // The pages send '1' / '2' / '3'; a number is read the same.
        let kind = match &body["type"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        match kind.as_str() {
            "1" if !call.accepted => {
                call.accepted = true;
                let mut out = vec![Out::Event(SignalingEvent::Accepted { from, call_id })];
                out.extend(self.flush(now));
                out
            }
            kind @ ("2" | "3") => {
                self.call = None;
                let reason = if kind == "3" {
                    RejectReason::Busy
                } else {
                    RejectReason::Declined
                };
                vec![Out::Event(SignalingEvent::Rejected {
                    from,
                    call_id,
                    reason,
                })]
            }
            _ => Vec::new(),
        }
    }

    fn description(&mut self, name: &str, body: &Value) -> Vec<Out> {
        let role = if name == "1v1offer" {
            Role::Callee
        } else {
            Role::Caller
        };
        let Some(call) = self.current(body, role) else {
            return Vec::new();
        };
        let kind = if role == Role::Callee {
            SdpKind::Offer
        } else {
            SdpKind::Answer
        };
        let Some(sdp) = body["sdp"]["sdp"].as_str() else {
            return Vec::new();
        };
        vec![Out::Event(SignalingEvent::Signal {
            from: call.with.clone(),
            call_id: call.id.clone(),
            data: SignalData::Sdp {
                sdp: SessionDescription {
                    kind,
                    sdp: sdp.to_string(),
                },
            },
        })]
    }

    fn candidate(&mut self, body: &Value) -> Vec<Out> {
        let Some(call) = self.call_with_sender(body) else {
            return Vec::new();
        };
        let Ok(candidate) = serde_json::from_value::<IceCandidate>(body["sdp"].clone()) else {
            return Vec::new();
        };
        if candidate.candidate.is_empty() {
            return Vec::new();
        }
        vec![Out::Event(SignalingEvent::Signal {
            from: call.with.clone(),
            call_id: call.id.clone(),
            data: SignalData::Candidate {
                candidate: Some(candidate),
            },
        })]
    }

    fn hangup(&mut self, body: &Value) -> Vec<Out> {
        let Some(call) = self.call_with_sender(body) else {
            return Vec::new();
        };
        let event = SignalingEvent::Hangup {
            from: call.with.clone(),
            call_id: call.id.clone(),
            reason: None,
        };
        self.call = None;
        vec![Out::Event(event)]
    }

    /// The current call, when `body` comes from the other side of it.
    fn call_with_sender(&self, body: &Value) -> Option<&Call> {
        self.call
            .as_ref()
            .filter(|c| body["self"] == c.with.as_str())
    }

    fn current(&mut self, body: &Value, role: Role) -> Option<&mut Call> {
        self.call
            .as_mut()
            .filter(|c| c.role == role && body["self"] == c.with.as_str())
    }

    /// We ring `to`: only someone in the user list (the server throws otherwise).
    pub fn dial(&mut self, to: &str, call_id: &str) -> Vec<Out> {
        if !self.users.iter().any(|u| u == to) || to == self.me {
            return vec![Out::Event(SignalingEvent::Error {
                code: ErrorCode::UnknownPeer,
                message: format!("{to:?} has not joined room {:?}", self.room),
                call_id: Some(call_id.to_string()),
                room: None,
            })];
        }
        self.call = Some(Call {
            id: call_id.to_string(),
            with: to.to_string(),
            role: Role::Caller,
            accepted: false,
            ours: Gathered::default(),
        });
        vec![Out::Emit("apply", json!({"account": to, "self": self.me}))]
    }

    /// We answer the ring `call_id`: accept, or decline / busy.
    pub fn answer(&mut self, call_id: &str, accept: Option<RejectReason>) -> Vec<Out> {
        let Some(call) = self.call.as_mut().filter(|c| c.id == call_id) else {
            return Vec::new();
        };
        let with = call.with.clone();
        let kind = match accept {
            None => {
                call.accepted = true;
                "1"
            }
            Some(RejectReason::Declined) => "2",
            Some(RejectReason::Busy) => "3",
        };
        if accept.is_some() {
            self.call = None;
        }
        vec![reply(&with, &self.me, kind)]
    }

    /// A signal from our connection: descriptions wait for their candidates.
    pub fn local(&mut self, call_id: &str, data: SignalData, now: Instant) -> Vec<Out> {
        let Some(call) = self.call.as_mut().filter(|c| c.id == call_id) else {
            return Vec::new();
        };
        let late = match data {
            SignalData::Sdp { sdp } => {
                call.ours.description(sdp);
                None
            }
            SignalData::Candidate { candidate } => call.ours.candidate(candidate),
        };
        let mut out = self.flush(now);
        if let (Some(candidate), Some(call)) = (late, self.call.as_ref()) {
            out.push(Out::Emit(
                "1v1ICE",
                json!({"account": call.with, "self": self.me, "sdp": candidate}),
            ));
        }
        out
    }

    /// Time passing: a description that waited long enough for candidates goes.
    pub fn tick(&mut self, now: Instant) -> Vec<Out> {
        self.flush(now)
    }

    pub fn hang_up(&mut self, call_id: &str) -> Vec<Out> {
        match self.call.take() {
            Some(call) if call.id == call_id => vec![Out::Emit(
                "1v1hangup",
                json!({"account": call.with, "self": self.me}),
            )],
            other => {
                self.call = other;
                Vec::new()
            }
        }
    }

    /// Whether a description waits for its candidates (the transport ticks meanwhile).
    pub fn waiting(&self) -> bool {
        self.call
            .as_ref()
            .is_some_and(|c| c.accepted && !c.ours.is_sent())
    }

    fn flush(&mut self, now: Instant) -> Vec<Out> {
        let Some(call) = self.call.as_mut().filter(|c| c.accepted) else {
            return Vec::new();
        };
        let Some(description) = call.ours.take_ready(now) else {
            return Vec::new();
        };
        let event = if description.kind == SdpKind::Offer {
            "1v1offer"
        } else {
            "1v1answer"
        };
        vec![Out::Emit(
            event,
            json!({"account": call.with, "self": self.me, "sdp": description}),
        )]
    }
}

fn reply(to: &str, me: &str, kind: &str) -> Out {
    Out::Emit("reply", json!({"account": to, "self": me, "type": kind}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emitted(out: &[Out]) -> Vec<(&str, &Value)> {
        out.iter()
            .filter_map(|o| match o {
                Out::Emit(n, v) => Some((*n, v)),
                _ => None,
            })
            .collect()
    }

    fn events(out: &[Out]) -> Vec<&SignalingEvent> {
        out.iter()
            .filter_map(|o| match o {
                Out::Event(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    fn users(names: &[&str]) -> Value {
        Value::Array(
            names
                .iter()
                .map(|n| json!({"account": n, "id": format!("sid-{n}")}))
                .collect(),
        )
    }

    #[test]
    fn presence_ring_accept_and_a_description_with_its_candidates() {
        let t0 = Instant::now();
        let mut a = Lobby::new("room", "alice");
        assert!(
            a.server("joined", &[users(&["bob"])], t0).is_empty(),
            "not us yet"
        );
        let joined = a.server("joined", &[users(&["bob", "alice"])], t0);
        assert!(matches!(
            events(&joined)[..],
            [SignalingEvent::Registered(_)]
        ));
        assert!(joined.contains(&Out::Presence(vec!["bob".into()])));
        let later = a.server("joined", &[users(&["bob", "alice", "carol"])], t0);
        assert_eq!(later, [Out::Presence(vec!["bob".into(), "carol".into()])]);

        // Only listed accounts are rung.
        assert!(matches!(
            events(&a.dial("dave", "c0"))[..],
            [SignalingEvent::Error {
                code: ErrorCode::UnknownPeer,
                ..
            }]
        ));
        assert_eq!(
            emitted(&a.dial("bob", "c1")),
            [("apply", &json!({"account":"bob","self":"alice"}))]
        );
        // The early offer waits for the answer to the ring, then for its candidates.
        let offer = SignalData::Sdp {
            sdp: SessionDescription {
                kind: SdpKind::Offer,
                sdp: "v=0\r\nm=audio 9 X 0\r\n".into(),
            },
        };
        assert!(a.local("c1", offer, t0).is_empty());
        let accepted = a.server(
            "reply",
            &[json!({"account":"alice","self":"bob","type":"1"})],
            t0,
        );
        assert!(matches!(
            events(&accepted)[..],
            [SignalingEvent::Accepted { .. }]
        ));
        assert!(a.waiting());
        let host = IceCandidate {
            candidate: "candidate:1 1 udp 1 10.0.0.1 9 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: None,
        };
        assert!(a
            .local(
                "c1",
                SignalData::Candidate {
                    candidate: Some(host.clone())
                },
                t0
            )
            .is_empty());
        let sent = a.local("c1", SignalData::Candidate { candidate: None }, t0);
        let [("1v1offer", body)] = emitted(&sent)[..] else {
            panic!("{sent:?}")
        };
        assert!(body["sdp"]["sdp"]
            .as_str()
            .unwrap()
            .contains("a=candidate:1 "));
        assert_eq!(body["sdp"]["type"], "offer");
        // A late candidate follows as 1v1ICE; the answer and bob's candidates come in.
        assert_eq!(
            emitted(&a.local(
                "c1",
                SignalData::Candidate {
                    candidate: Some(host)
                },
                t0
            ))[0]
                .0,
            "1v1ICE"
        );
        let answer = a.server(
            "1v1answer",
            &[json!({"account":"alice","self":"bob","sdp":{"type":"answer","sdp":"v=0"}})],
            t0,
        );
        assert_eq!(events(&answer).len(), 1);
        let ice = a.server("1v1ICE", &[json!({"account":"alice","self":"bob","sdp":{"candidate":"candidate:2 1 udp 1 10.0.0.2 9 typ host","sdpMid":"0","sdpMLineIndex":0}})], t0);
        assert_eq!(events(&ice).len(), 1);
        // Someone else's events are not this call's.
        assert!(a
            .server(
                "1v1hangup",
                &[json!({"account":"alice","self":"carol"})],
                t0
            )
            .is_empty());
        assert_eq!(
            emitted(&a.hang_up("c1")),
            [("1v1hangup", &json!({"account":"bob","self":"alice"}))]
        );
    }

    #[test]
    fn a_ring_during_a_call_is_busy_and_a_decline_ends_the_ring() {
        let t0 = Instant::now();
        let mut b = Lobby::new("room", "bob");
        b.server("joined", &[users(&["alice", "bob", "carol"])], t0);
        let ring = b.server("apply", &[json!({"account":"bob","self":"alice"})], t0);
        let [SignalingEvent::Incoming { call_id, .. }] = events(&ring)[..] else {
            panic!("{ring:?}")
        };
        let call_id = call_id.clone();
        assert_eq!(
            emitted(&b.server("apply", &[json!({"account":"bob","self":"carol"})], t0)),
            [("reply", &json!({"account":"carol","self":"bob","type":"3"}))]
        );
        // A stranger's ring is not answered at all (the server would throw on the reply).
        assert!(b
            .server("apply", &[json!({"account":"bob","self":"mallory"})], t0)
            .is_empty());
        assert_eq!(
            emitted(&b.answer(&call_id, Some(RejectReason::Declined))),
            [("reply", &json!({"account":"alice","self":"bob","type":"2"}))]
        );
        // Caller side: decline and busy are told apart.
        let mut a = Lobby::new("room", "alice");
        a.server("joined", &[users(&["alice", "bob"])], t0);
        a.dial("bob", "c1");
        let busy = a.server(
            "reply",
            &[json!({"account":"alice","self":"bob","type":"3"})],
            t0,
        );
        assert!(matches!(
            events(&busy)[..],
            [SignalingEvent::Rejected {
                reason: RejectReason::Busy,
                ..
            }]
        ));
        for junk in [json!(null), json!({"self": 5}), json!("x")] {
            for name in [
                "apply",
                "reply",
                "1v1offer",
                "1v1answer",
                "1v1ICE",
                "1v1hangup",
                "joined",
            ] {
                let _ = a.server(name, std::slice::from_ref(&junk), t0);
            }
        }
    }
}
