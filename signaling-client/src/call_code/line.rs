//! One call through a call-code server, as a pure state machine: what the server's status
//! replies and our connection's signals mean, and what to post or report in turn. Time is an
//! input; the transport (`super`) does the HTTP.
//!
//! The first to dial a code is the *initiator* and offers once the second (the *subscriber*)
//! is there; peercall may land on either side. The server keeps whole rows, so candidates
//! trickled close together may overwrite each other: ours travel inside the SDP (held until
//! gathering ends, or `GATHER_WAIT`), and the trickled ones are a bonus.

use std::time::Instant;

use crate::gathered::Gathered;

use crate::protocol::{HangupReason, IceCandidate, SdpKind, SessionDescription, SignalData};
use crate::signaling::SignalingEvent;

/// What `get_status` said.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Nothing new.
    Waiting,
    /// (Initiator) the subscriber is here: offer.
    NeedInit,
    Offered(SessionDescription),
    Answered(SessionDescription),
    /// Candidates the other side posted since the last poll.
    Connected(Vec<IceCandidate>),
}

/// What the server must be told.
#[derive(Debug, Clone, PartialEq)]
pub enum Post {
    Offer(SessionDescription),
    Answer(SessionDescription),
    Ice(IceCandidate),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Post(Post),
    Emit(SignalingEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Dialled; the server has not said which side we are.
    Unknown,
    Initiator,
    Subscriber,
}

#[derive(Debug)]
pub struct Line {
    code: String,
    call_id: String,
    side: Side,
    /// Our description, held until it may go and its candidates are in.
    ours: Gathered,
    connected: bool,
    ended: bool,
}

impl Line {
    pub fn new(code: &str, call_id: &str) -> Line {
        Line {
            code: code.to_string(),
            call_id: call_id.to_string(),
            side: Side::Unknown,
            ours: Gathered::default(),
            connected: false,
            ended: false,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// A `get_status` reply.
    pub fn status(&mut self, status: Status, now: Instant) -> Vec<Out> {
        let mut out = Vec::new();
        match (status, self.side) {
            (Status::Waiting, _) => {}
            (Status::NeedInit, Side::Unknown) => {
                self.side = Side::Initiator;
                out.push(self.emit_accepted());
                self.send_description(now, &mut out);
            }
            (Status::Offered(offer), Side::Unknown) => {
                // The other side came first: it offers, we answer. What we gathered to offer
                // belongs to a connection the engine now replaces.
                self.side = Side::Subscriber;
                self.ours = Gathered::default();
                out.push(Out::Emit(SignalingEvent::OfferComing {
                    from: self.code.clone(),
                    call_id: self.call_id.clone(),
                }));
                out.push(self.remote(SignalData::Sdp { sdp: offer }));
            }
            (Status::Answered(answer), Side::Initiator) if !self.connected => {
                self.connected = true;
                out.push(self.remote(SignalData::Sdp { sdp: answer }));
            }
            (Status::Connected(candidates), Side::Initiator | Side::Subscriber) => {
                self.connected = true;
                for candidate in candidates {
                    out.push(self.remote(SignalData::Candidate {
                        candidate: Some(candidate),
                    }));
                }
            }
            (status, side) => {
                tracing::debug!(?status, ?side, "a status that does not fit: ignored");
            }
        }
        out
    }

    /// A signal from our connection.
    pub fn local(&mut self, data: SignalData, now: Instant) -> Vec<Out> {
        let mut out = Vec::new();
        match data {
            SignalData::Sdp { sdp } => {
                let ours = match self.side {
                    Side::Subscriber => SdpKind::Answer,
                    Side::Unknown | Side::Initiator => SdpKind::Offer,
                };
                if sdp.kind != ours {
                    tracing::debug!(kind = ?sdp.kind, "a description this side does not send");
                    return out;
                }
                self.ours.description(sdp);
                self.send_description(now, &mut out);
            }
            SignalData::Candidate { candidate } => {
                if let Some(late) = self.ours.candidate(candidate) {
                    out.push(Out::Post(Post::Ice(late)));
                }
                self.send_description(now, &mut out);
            }
        }
        out
    }

    /// Time passing: a description that waited long enough for candidates goes.
    pub fn tick(&mut self, now: Instant) -> Vec<Out> {
        let mut out = Vec::new();
        self.send_description(now, &mut out);
        out
    }

    /// The server no longer knows us (HTTP 400): the other side left, or the pair expired.
    pub fn gone(&mut self) -> Vec<Out> {
        if self.ended {
            return Vec::new();
        }
        self.ended = true;
        vec![Out::Emit(SignalingEvent::Hangup {
            from: self.code.clone(),
            call_id: self.call_id.clone(),
            reason: Some(HangupReason::Gone),
        })]
    }

    fn emit_accepted(&self) -> Out {
        Out::Emit(SignalingEvent::Accepted {
            from: self.code.clone(),
            call_id: self.call_id.clone(),
        })
    }

    fn remote(&self, data: SignalData) -> Out {
        Out::Emit(SignalingEvent::Signal {
            from: self.code.clone(),
            call_id: self.call_id.clone(),
            data,
        })
    }

    /// Posts our description once it may go (the initiator after `need_init`, the subscriber
    /// once it has one) and its candidates are in or have had their time.
    fn send_description(&mut self, now: Instant, out: &mut Vec<Out>) {
        if self.side == Side::Unknown {
            return;
        }
        let Some(description) = self.ours.take_ready(now) else {
            return;
        };
        out.push(Out::Post(match self.side {
            Side::Initiator => Post::Offer(description),
            _ => Post::Answer(description),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gathered::GATHER_WAIT;

    fn sdp(kind: SdpKind) -> SessionDescription {
        SessionDescription {
            kind,
            sdp: "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n"
                .into(),
        }
    }

    fn candidate(n: u8) -> SignalData {
        SignalData::Candidate {
            candidate: Some(IceCandidate {
                candidate: format!("candidate:{n} 1 udp 1 10.0.0.{n} 9 typ host"),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
                username_fragment: None,
            }),
        }
    }

    fn posted(out: &[Out]) -> Vec<&Post> {
        out.iter()
            .filter_map(|o| match o {
                Out::Post(p) => Some(p),
                Out::Emit(_) => None,
            })
            .collect()
    }

    #[test]
    fn the_initiator_offers_with_its_candidates_once_the_subscriber_is_there() {
        let t0 = Instant::now();
        let mut line = Line::new("1234", "c1");
        // The engine offers at once; nothing goes before the server says who is who.
        assert!(line
            .local(
                SignalData::Sdp {
                    sdp: sdp(SdpKind::Offer)
                },
                t0
            )
            .is_empty());
        assert!(line.local(candidate(1), t0).is_empty());
        assert!(line.status(Status::Waiting, t0).is_empty());
        let out = line.status(Status::NeedInit, t0);
        assert_eq!(
            out,
            vec![Out::Emit(SignalingEvent::Accepted {
                from: "1234".into(),
                call_id: "c1".into()
            })]
        );
        // Gathering ends: the offer goes, carrying both candidates in its first section.
        assert!(posted(&line.local(candidate(2), t0)).is_empty());
        let out = line.local(SignalData::Candidate { candidate: None }, t0);
        let [Post::Offer(offer)] = posted(&out)[..] else {
            panic!("{out:?}");
        };
        let first_section = offer.sdp.split("m=video").next().unwrap();
        assert!(
            first_section.contains("a=candidate:1 1 udp"),
            "{}",
            offer.sdp
        );
        assert!(first_section.contains("a=candidate:2 1 udp"));
        assert!(first_section.contains("a=end-of-candidates"));
        // A late candidate is trickled; the answer and the other side's candidates come back.
        assert!(matches!(
            posted(&line.local(candidate(3), t0))[..],
            [Post::Ice(_)]
        ));
        let out = line.status(Status::Answered(sdp(SdpKind::Answer)), t0);
        assert!(matches!(
            &out[..],
            [Out::Emit(SignalingEvent::Signal {
                data: SignalData::Sdp { .. },
                ..
            })]
        ));
        let routes = vec![IceCandidate {
            candidate: "candidate:9 1 udp 1 10.0.0.9 9 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: None,
        }];
        let out = line.status(Status::Connected(routes), t0);
        assert_eq!(out.len(), 1);
        assert!(line.is_connected());
        // The answer once: a repeat is not applied twice.
        assert!(line
            .status(Status::Answered(sdp(SdpKind::Answer)), t0)
            .is_empty());
    }

    #[test]
    fn a_description_waits_for_candidates_only_so_long() {
        let t0 = Instant::now();
        let mut line = Line::new("1234", "c1");
        line.status(Status::NeedInit, t0);
        assert!(line
            .local(
                SignalData::Sdp {
                    sdp: sdp(SdpKind::Offer)
                },
                t0
            )
            .is_empty());
        assert!(line.tick(t0 + GATHER_WAIT / 2).is_empty());
        let out = line.tick(t0 + GATHER_WAIT);
        assert!(
            matches!(posted(&out)[..], [Post::Offer(o)] if !o.sdp.contains("end-of-candidates"))
        );
        assert!(line.tick(t0 + GATHER_WAIT * 2).is_empty());
    }

    #[test]
    fn the_subscriber_answers_the_offer_it_is_given() {
        let t0 = Instant::now();
        let mut line = Line::new("1234", "c1");
        // What the engine gathered as a caller is dropped when the other side turns out to offer.
        line.local(
            SignalData::Sdp {
                sdp: sdp(SdpKind::Offer),
            },
            t0,
        );
        line.local(candidate(1), t0);
        let out = line.status(Status::Offered(sdp(SdpKind::Offer)), t0);
        assert_eq!(
            out[0],
            Out::Emit(SignalingEvent::OfferComing {
                from: "1234".into(),
                call_id: "c1".into()
            })
        );
        assert!(
            matches!(&out[1], Out::Emit(SignalingEvent::Signal { data: SignalData::Sdp { sdp }, .. }) if sdp.kind == SdpKind::Offer)
        );
        // The answering connection's answer goes with its own candidates only.
        assert!(line
            .local(
                SignalData::Sdp {
                    sdp: sdp(SdpKind::Answer)
                },
                t0
            )
            .is_empty());
        line.local(candidate(5), t0);
        let out = line.local(SignalData::Candidate { candidate: None }, t0);
        let [Post::Answer(answer)] = posted(&out)[..] else {
            panic!("{out:?}");
        };
        assert!(answer.sdp.contains("a=candidate:5 "));
        assert!(!answer.sdp.contains("a=candidate:1 "));
        // A stray offer from the replaced connection is not sent.
        assert!(line
            .local(
                SignalData::Sdp {
                    sdp: sdp(SdpKind::Offer)
                },
                t0
            )
            .is_empty());
    }

    #[test]
    fn the_server_forgetting_us_is_the_other_side_gone_once() {
        let mut line = Line::new("1234", "c1");
        let out = line.gone();
        assert!(matches!(
            &out[..],
            [Out::Emit(SignalingEvent::Hangup {
                reason: Some(HangupReason::Gone),
                ..
            })]
        ));
        assert!(line.gone().is_empty());
        assert!(line.is_ended());
    }
}
