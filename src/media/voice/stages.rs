//! Which processing stages run: echo cancellation, noise suppression, gain control (the
//! high-pass filter runs whenever any does).

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stages {
    pub echo: bool,
    pub noise: bool,
    pub gain: bool,
}

impl Stages {
    pub const ALL: Stages = Stages {
        echo: true,
        noise: true,
        gain: true,
    };
    pub const NONE: Stages = Stages {
        echo: false,
        noise: false,
        gain: false,
    };

    pub fn any(self) -> bool {
        self.echo || self.noise || self.gain
    }

    /// The running stages' short names, as the report lists them.
    pub fn names(self) -> Vec<&'static str> {
        [(self.echo, "aec"), (self.noise, "ns"), (self.gain, "agc")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect()
    }

    fn bits(self) -> u8 {
        u8::from(self.echo) | u8::from(self.noise) << 1 | u8::from(self.gain) << 2
    }

    fn from_bits(b: u8) -> Stages {
        Stages {
            echo: b & 1 != 0,
            noise: b & 2 != 0,
            gain: b & 4 != 0,
        }
    }
}

impl Default for Stages {
    /// On, as in a browser.
    fn default() -> Self {
        Stages::ALL
    }
}

impl FromStr for Stages {
    type Err = String;

    /// `on`, `off`, or a comma list of `aec`, `ns`, `agc`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "on" => return Ok(Stages::ALL),
            "off" => return Ok(Stages::NONE),
            _ => {}
        }
        let mut stages = Stages::NONE;
        for part in s.split(',') {
            match part.trim() {
                "aec" => stages.echo = true,
                "ns" => stages.noise = true,
                "agc" => stages.gain = true,
                other => {
                    return Err(format!(
                        "unknown audio processing {other:?}: use on, off, or a list of aec, ns, agc"
                    ))
                }
            }
        }
        Ok(stages)
    }
}

impl fmt::Display for Stages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Stages::ALL => f.write_str("on"),
            Stages::NONE => f.write_str("off"),
            s => f.write_str(&s.names().join(",")),
        }
    }
}

/// Stages the window can change during a call; the processing picks a change up at its next
/// frame.
#[derive(Debug)]
pub struct LiveStages(AtomicU8);

impl LiveStages {
    pub fn new(stages: Stages) -> Self {
        LiveStages(AtomicU8::new(stages.bits()))
    }

    pub fn get(&self) -> Stages {
        Stages::from_bits(self.0.load(Ordering::Relaxed))
    }

    pub fn set(&self, stages: Stages) {
        self.0.store(stages.bits(), Ordering::Relaxed);
    }
}

impl Default for LiveStages {
    fn default() -> Self {
        LiveStages::new(Stages::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_parse_and_print_back() {
        for s in [
            "on", "off", "aec", "ns", "agc", "aec,ns", "ns,agc", "aec,agc",
        ] {
            assert_eq!(s.parse::<Stages>().unwrap().to_string(), s);
        }
        assert_eq!("agc,aec,ns".parse::<Stages>().unwrap(), Stages::ALL);
        for bad in ["", "yes", "aec,echo", "aec;ns"] {
            let e = bad.parse::<Stages>().unwrap_err();
            assert!(e.contains("aec, ns, agc"), "{e}");
        }
        let live = LiveStages::new(Stages::NONE);
        live.set("ns".parse().unwrap());
        assert_eq!(live.get().names(), ["ns"]);
    }
}
