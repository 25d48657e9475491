//! Our description held until its candidates are in, for transports that cannot trickle well
//! (a call-code server loses candidates posted close together; a copied blob cannot trickle at
//! all). Pure: time is an input.

use std::time::{Duration, Instant};

use crate::protocol::{IceCandidate, SessionDescription};

/// The longest a description waits for its candidates before it goes without the rest.
pub const GATHER_WAIT: Duration = Duration::from_millis(1500);

#[derive(Debug, Default)]
pub(crate) struct Gathered {
    description: Option<SessionDescription>,
    candidates: Vec<String>,
    complete: bool,
    /// When the description was first asked for but still waited for candidates.
    waiting_since: Option<Instant>,
    sent: bool,
}

impl Gathered {
    pub fn description(&mut self, description: SessionDescription) {
        self.description = Some(description);
    }

    /// A gathered candidate (`None`: gathering finished). Returned when the description already
    /// went without it: the caller may trickle it, or drop it.
    pub fn candidate(&mut self, candidate: Option<IceCandidate>) -> Option<IceCandidate> {
        match candidate {
            None => {
                self.complete = true;
                None
            }
            Some(candidate) if self.sent => Some(candidate),
            Some(candidate) => {
                self.candidates.push(candidate.candidate);
                None
            }
        }
    }

    /// The description with its candidates written in, once: when gathering finished, or
    /// [`GATHER_WAIT`] after the first time it was asked for.
    pub fn take_ready(&mut self, now: Instant) -> Option<SessionDescription> {
        if self.sent {
            return None;
        }
        let description = self.description.as_ref()?;
        let since = *self.waiting_since.get_or_insert(now);
        if !self.complete && now.saturating_duration_since(since) < GATHER_WAIT {
            return None;
        }
        self.sent = true;
        Some(SessionDescription {
            kind: description.kind,
            sdp: with_candidates(&description.sdp, &self.candidates, self.complete),
        })
    }

    pub fn is_sent(&self) -> bool {
        self.sent
    }
}

/// `sdp` with `candidates` (`candidate:…` strings) written into its first media section, where
/// a bundled connection uses them (and `a=end-of-candidates` when gathering finished).
pub fn with_candidates(sdp: &str, candidates: &[String], complete: bool) -> String {
    let eol = if sdp.contains("\r\n") { "\r\n" } else { "\n" };
    let lines: Vec<&str> = sdp.lines().collect();
    let Some(first) = lines.iter().position(|l| l.starts_with("m=")) else {
        return sdp.to_string();
    };
    let end = lines[first + 1..]
        .iter()
        .position(|l| l.starts_with("m="))
        .map_or(lines.len(), |i| first + 1 + i);
    let present: Vec<&str> = lines[first..end]
        .iter()
        .filter_map(|l| l.strip_prefix("a="))
        .filter(|a| a.starts_with("candidate:"))
        .collect();
    let mut added: Vec<String> = candidates
        .iter()
        .map(|c| c.strip_prefix("a=").unwrap_or(c).to_string())
        .filter(|c| !present.contains(&c.as_str()))
        .map(|c| format!("a={c}"))
        .collect();
    if complete && !lines[first..end].contains(&"a=end-of-candidates") {
        added.push("a=end-of-candidates".into());
    }
    let mut out: Vec<String> = lines[..end].iter().map(|l| l.to_string()).collect();
    out.extend(added);
    out.extend(lines[end..].iter().map(|l| l.to_string()));
    let mut text = out.join(eol);
    text.push_str(eol);
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::SdpKind;

    #[test]
    fn candidates_go_into_the_first_section_once() {
        let sdp =
            "v=0\nm=audio 9 X 0\na=mid:0\na=candidate:1 1 udp 1 h 9 typ host\nm=video 9 X 96\n";
        let out = with_candidates(
            sdp,
            &[
                "candidate:1 1 udp 1 h 9 typ host".into(),
                "candidate:2 1 udp 1 h 9 typ host".into(),
            ],
            true,
        );
        assert_eq!(
            out,
            "v=0\nm=audio 9 X 0\na=mid:0\na=candidate:1 1 udp 1 h 9 typ host\na=candidate:2 1 udp 1 h 9 typ host\na=end-of-candidates\nm=video 9 X 96\n"
        );
        assert_eq!(
            with_candidates("v=0\n", &["candidate:1".into()], true),
            "v=0\n"
        );
    }

    #[test]
    fn a_description_goes_once_gathered_or_after_the_wait() {
        let t0 = Instant::now();
        let offer = SessionDescription {
            kind: SdpKind::Offer,
            sdp: "v=0\nm=audio 9 X 0\n".into(),
        };
        let host = |n: u8| IceCandidate {
            candidate: format!("candidate:{n} 1 udp 1 10.0.0.{n} 9 typ host"),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: None,
        };
        let mut g = Gathered::default();
        assert!(g.take_ready(t0).is_none(), "nothing to send yet");
        g.description(offer.clone());
        assert_eq!(g.candidate(Some(host(1))), None);
        assert!(g.take_ready(t0).is_none(), "still gathering");
        g.candidate(None);
        let sent = g.take_ready(t0).unwrap();
        assert!(sent.sdp.contains("a=candidate:1 ") && sent.sdp.contains("a=end-of-candidates"));
        assert!(g.take_ready(t0).is_none(), "once");
        assert_eq!(
            g.candidate(Some(host(2))),
            Some(host(2)),
            "late: trickle it"
        );

        let mut g = Gathered::default();
        g.description(offer);
        assert!(g.take_ready(t0).is_none());
        assert!(g.take_ready(t0 + GATHER_WAIT / 2).is_none());
        let sent = g.take_ready(t0 + GATHER_WAIT).unwrap();
        assert!(!sent.sdp.contains("end-of-candidates"));
        assert!(g.is_sent());
    }
}
