//! Which kind of signaling server a peer talks to: peercall's own, or one of the designs people
//! already run. The command line and the settings name them; each maps to a transport.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignalingKind {
    /// A peercall server over WebSocket: presence, ringing, decline, busy.
    #[default]
    Peercall,
    /// An HTTP call-code server (`webrtc_call`): both sides dial the same code.
    CallCode,
}

impl SignalingKind {
    pub const ALL: [SignalingKind; 2] = [SignalingKind::Peercall, SignalingKind::CallCode];

    /// The name on the command line and in the settings.
    pub fn name(self) -> &'static str {
        match self {
            SignalingKind::Peercall => "peercall",
            SignalingKind::CallCode => "webrtc-call",
        }
    }

    /// What the user dials through it.
    pub fn dials(self) -> &'static str {
        match self {
            SignalingKind::Peercall => "a peer ID",
            SignalingKind::CallCode => "a call code (both sides dial the same)",
        }
    }
}

impl fmt::Display for SignalingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SignalingKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        SignalingKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = SignalingKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown signaling {s:?}: use one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for kind in SignalingKind::ALL {
            assert_eq!(kind.name().parse::<SignalingKind>(), Ok(kind));
        }
        assert!("carrier-pigeon".parse::<SignalingKind>().is_err());
    }
}
