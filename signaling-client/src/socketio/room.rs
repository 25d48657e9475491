//! One call through a socket.io room of two (the WebRTC codelab's `webrtc_primer` design), as a
//! pure state machine: the server's events and our connection's signals in, events to emit and
//! [`SignalingEvent`]s out. The I/O is in `super`.
//!
//! `create or join` ROOM: the first in gets `created` (the *initiator*, who offers), the second
//! `joined` (the first gets `join`), a third `full`. Everything else is the event `message`,
//! relayed to the other member: `"got user media"` when a side is ready, descriptions as
//! `{type,sdp}`, candidates as `{type:"candidate",label,id,candidate}`, and `"bye"`. The
//! initiator offers once the other side said `got user media`.

use serde_json::{json, Value};

use super::Out;
use crate::protocol::{IceCandidate, RejectReason, SdpKind, SessionDescription, SignalData};
use crate::signaling::SignalingEvent;

pub const READY: &str = "got user media";
pub const BYE: &str = "bye";
/// The data channel the dialect's pages chat on, in plain text.
pub const CHAT_CHANNEL: &str = "sendDataChannel";
/// Signals held for the other side, at most (an offer and its candidates are a few dozen).
const MAX_HELD: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Asked to create or join; the server has not answered.
    Asked,
    Initiator,
    Joiner,
}

#[derive(Debug)]
pub struct Room {
    name: String,
    call_id: String,
    role: Role,
    /// The initiator heard `got user media` and said so to the engine.
    started: bool,
    /// Our offer and candidates, made as soon as we dialled, held until the other side is
    /// ready for them (initiator), or dropped when it turns out the other side offers.
    held: Vec<SignalData>,
    /// The joiner sent its answer: its candidates may follow.
    answered: bool,
    ended: bool,
}

impl Room {
    pub fn new(name: &str, call_id: &str) -> Room {
        Room {
            name: name.to_string(),
            call_id: call_id.to_string(),
            role: Role::Asked,
            started: false,
            held: Vec::new(),
            answered: false,
            ended: false,
        }
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// What to say once connected.
    pub fn enter(&self) -> Vec<Out> {
        vec![Out::Emit("create or join", json!(self.name))]
    }

    /// An event from the server.
    pub fn server(&mut self, name: &str, args: &[Value]) -> Vec<Out> {
        if self.ended {
            return Vec::new();
        }
        match (name, self.role) {
            ("created", Role::Asked) => {
                self.role = Role::Initiator;
                vec![ready()]
            }
            // Someone came in: say again that we are ready, in case they missed it.
            ("join", Role::Initiator) => vec![ready()],
            ("joined", Role::Asked) => {
                self.role = Role::Joiner;
                // What we made to offer belongs to a connection the engine now replaces.
                self.held.clear();
                vec![
                    Out::Event(SignalingEvent::OfferComing {
                        from: self.name.clone(),
                        call_id: self.call_id.clone(),
                    }),
                    ready(),
                ]
            }
            ("full", Role::Asked) => {
                tracing::warn!(room = %self.name, "the room is full: two are in it already");
                self.ended = true;
                vec![Out::Event(SignalingEvent::Rejected {
                    from: self.name.clone(),
                    call_id: self.call_id.clone(),
                    reason: RejectReason::Busy,
                })]
            }
            ("message", _) => match args.first() {
                Some(payload) => self.message(payload),
                None => Vec::new(),
            },
            // The codelab's server logs to its clients; `ready` repeats `joined`.
            ("log" | "ready", _) => Vec::new(),
            (name, role) => {
                tracing::debug!(%name, ?role, "a room event that does not fit: ignored");
                Vec::new()
            }
        }
    }

    fn message(&mut self, payload: &Value) -> Vec<Out> {
        if let Some(text) = payload.as_str() {
            return match text {
                READY if self.role == Role::Initiator && !self.started => {
                    self.started = true;
                    let mut out = vec![Out::Event(SignalingEvent::Accepted {
                        from: self.name.clone(),
                        call_id: self.call_id.clone(),
                    })];
                    for data in std::mem::take(&mut self.held) {
                        out.extend(self.message_for(data));
                    }
                    out
                }
                BYE => {
                    self.ended = true;
                    vec![Out::Event(SignalingEvent::Hangup {
                        from: self.name.clone(),
                        call_id: self.call_id.clone(),
                        reason: None,
                    })]
                }
                _ => Vec::new(),
            };
        }
        let data = match payload["type"].as_str() {
            Some("offer") if self.role == Role::Joiner => description(SdpKind::Offer, payload),
            Some("answer") if self.role == Role::Initiator && self.started => {
                description(SdpKind::Answer, payload)
            }
            Some("candidate") => candidate(payload),
            _ => None,
        };
        match data {
            Some(data) => vec![Out::Event(SignalingEvent::Signal {
                from: self.name.clone(),
                call_id: self.call_id.clone(),
                data,
            })],
            None => {
                tracing::debug!(role = ?self.role, "a room message that does not fit: ignored");
                Vec::new()
            }
        }
    }

    /// A signal from our connection.
    pub fn local(&mut self, data: SignalData) -> Vec<Out> {
        if self.ended {
            return Vec::new();
        }
        match (self.role, &data) {
            (Role::Asked, _) | (Role::Initiator, _) if !self.started => {
                if self.held.len() < MAX_HELD {
                    self.held.push(data);
                }
                Vec::new()
            }
            (Role::Joiner, SignalData::Sdp { sdp }) if sdp.kind == SdpKind::Answer => {
                self.answered = true;
                self.message_for(data)
            }
            // The joiner's early offer and its candidates: the other side offers instead.
            (Role::Joiner, _) if !self.answered => Vec::new(),
            (Role::Joiner, SignalData::Sdp { .. }) => Vec::new(),
            _ => self.message_for(data),
        }
    }

    fn message_for(&self, data: SignalData) -> Vec<Out> {
        let message = match data {
            SignalData::Sdp { sdp } => json!({"type": sdp.kind, "sdp": sdp.sdp}),
            SignalData::Candidate { candidate: Some(c) } => json!({
                "type": "candidate",
                "label": c.sdp_mline_index.unwrap_or(0),
                "id": c.sdp_mid.unwrap_or_else(|| "0".into()),
                "candidate": c.candidate,
            }),
            SignalData::Candidate { candidate: None } => return Vec::new(),
        };
        vec![Out::Emit("message", message)]
    }

    pub fn hang_up(&mut self) -> Vec<Out> {
        if self.ended {
            return Vec::new();
        }
        self.ended = true;
        vec![Out::Emit("message", json!(BYE))]
    }
}

fn ready() -> Out {
    Out::Emit("message", json!(READY))
}

fn description(kind: SdpKind, payload: &Value) -> Option<SignalData> {
    let sdp = payload["sdp"].as_str()?.to_string();
    Some(SignalData::Sdp {
        sdp: SessionDescription { kind, sdp },
    })
}

fn candidate(payload: &Value) -> Option<SignalData> {
    let candidate = payload["candidate"].as_str()?.to_string();
    let mid = match &payload["id"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    Some(SignalData::Candidate {
        candidate: Some(IceCandidate {
            candidate,
            sdp_mid: mid,
            sdp_mline_index: payload["label"]
                .as_u64()
                .and_then(|l| u16::try_from(l).ok()),
            username_fragment: None,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(out: &[Out]) -> Vec<&SignalingEvent> {
        out.iter()
            .filter_map(|o| match o {
                Out::Event(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    fn emitted(out: &[Out]) -> Vec<&Value> {
        out.iter()
            .filter_map(|o| match o {
                Out::Emit(_, v) => Some(v),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_initiator_offers_once_the_other_side_is_ready() {
        let mut room = Room::new("r", "c1");
        assert_eq!(room.enter(), [Out::Emit("create or join", json!("r"))]);
        assert_eq!(
            emitted(&room.server("created", &[json!("r")])),
            [&json!(READY)]
        );
        assert_eq!(
            emitted(&room.server("join", &[json!("r")])),
            [&json!(READY)]
        );
        let go = room.server("message", &[json!(READY)]);
        assert!(matches!(events(&go)[..], [SignalingEvent::Accepted { .. }]));
        assert!(room.server("message", &[json!(READY)]).is_empty(), "once");
        // An offer is not the initiator's to take; an answer is.
        assert!(room
            .server("message", &[json!({"type":"offer","sdp":"v=0"})])
            .is_empty());
        let answer = room.server("message", &[json!({"type":"answer","sdp":"v=0"})]);
        assert!(matches!(
            events(&answer)[..],
            [SignalingEvent::Signal { data: SignalData::Sdp { sdp }, .. }] if sdp.kind == SdpKind::Answer
        ));
        let out = room.local(SignalData::Candidate {
            candidate: Some(IceCandidate {
                candidate: "candidate:1 1 udp 1 10.0.0.1 9 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
                username_fragment: None,
            }),
        });
        assert_eq!(
            emitted(&out),
            [
                &json!({"type":"candidate","label":0,"id":"0","candidate":"candidate:1 1 udp 1 10.0.0.1 9 typ host"})
            ]
        );
        assert_eq!(emitted(&room.hang_up()), [&json!(BYE)]);
        assert!(room.hang_up().is_empty());
    }

    #[test]
    fn an_early_offer_waits_for_the_other_side_or_is_dropped() {
        let offer = || SignalData::Sdp {
            sdp: SessionDescription {
                kind: SdpKind::Offer,
                sdp: "v=0".into(),
            },
        };
        // Alone in the room: the offer waits for `got user media`, then goes after `Accepted`.
        let mut room = Room::new("r", "c1");
        assert!(room.local(offer()).is_empty());
        room.server("created", &[json!("r")]);
        assert!(room
            .local(SignalData::Candidate { candidate: None })
            .is_empty());
        let go = room.server("message", &[json!(READY)]);
        assert!(matches!(go[0], Out::Event(SignalingEvent::Accepted { .. })));
        assert_eq!(emitted(&go), [&json!({"type":"offer","sdp":"v=0"})]);
        // Second in the room: the early offer is never sent; the answer is.
        let mut room = Room::new("r", "c2");
        assert!(room.local(offer()).is_empty());
        let joined = room.server("joined", &[json!("r")]);
        assert_eq!(emitted(&joined), [&json!(READY)]);
        assert!(room.local(offer()).is_empty());
        let answer = room.local(SignalData::Sdp {
            sdp: SessionDescription {
                kind: SdpKind::Answer,
                sdp: "v=0".into(),
            },
        });
        assert_eq!(emitted(&answer), [&json!({"type":"answer","sdp":"v=0"})]);
    }

    #[test]
    fn the_joiner_answers_and_reads_the_pages_candidates() {
        let mut room = Room::new("r", "c1");
        let joined = room.server("joined", &[json!("r"), json!("sid")]);
        assert!(matches!(
            events(&joined)[..],
            [SignalingEvent::OfferComing { .. }]
        ));
        assert_eq!(emitted(&joined), [&json!(READY)]);
        let offer = room.server("message", &[json!({"type":"offer","sdp":"v=0"})]);
        assert_eq!(events(&offer).len(), 1);
        // A browser's candidate: numeric label, string mid (some pages send a number).
        for id in [json!("0"), json!(0)] {
            let c = room.server(
                "message",
                &[json!({"type":"candidate","label":0,"id":id,"candidate":"candidate:9 1 udp 5 1.2.3.4 5 typ host"})],
            );
            assert!(matches!(
                events(&c)[..],
                [SignalingEvent::Signal { data: SignalData::Candidate { candidate: Some(c) }, .. }]
                    if c.sdp_mid.as_deref() == Some("0") && c.sdp_mline_index == Some(0)
            ));
        }
        let out = room.local(SignalData::Sdp {
            sdp: SessionDescription {
                kind: SdpKind::Answer,
                sdp: "v=0".into(),
            },
        });
        assert_eq!(emitted(&out), [&json!({"type":"answer","sdp":"v=0"})]);
        let bye = room.server("message", &[json!(BYE)]);
        assert!(matches!(events(&bye)[..], [SignalingEvent::Hangup { .. }]));
        assert!(room.is_ended());
    }

    #[test]
    fn a_full_room_is_busy_and_junk_is_ignored() {
        let mut room = Room::new("r", "c1");
        for (name, args) in [
            ("log", vec![json!(["Message from server:", "x"])]),
            ("message", vec![]),
            ("message", vec![json!(42)]),
            ("message", vec![json!({"type":"candidate"})]),
            ("dance", vec![json!(null)]),
        ] {
            assert!(room.server(name, &args).is_empty(), "{name}");
        }
        let full = room.server("full", &[json!("r")]);
        assert!(matches!(
            events(&full)[..],
            [SignalingEvent::Rejected {
                reason: RejectReason::Busy,
                ..
            }]
        ));
        assert!(room.is_ended());
    }
}
