//! The user's settings, kept as TOML in the platform's config folder
//! (`~/.config/peercall/settings.toml` on Linux). Command-line flags override them when the app
//! starts (and Save in the settings window keeps what it shows, flags included).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use signaling_client::{Endpoint, SignalingKind};

use crate::call::media_setup::{AudioChoice, SpeakerChoice, VideoChoice};
use crate::call::VideoQuality;
use crate::media::voice::Stages;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Our peer ID; empty: the server picks one.
    pub id: String,
    /// Which kind of server `server` is (`peercall`, `webrtc-call`, `socketio-room`,
    /// `socketio-1v1`, `manual`); see `docs/transports.md`.
    pub signaling: String,
    /// The signaling server; empty: the local one, started inside the app if none runs.
    pub server: String,
    /// The room a socket.io 1-to-1 server lists us in.
    pub room: String,
    /// `none`, `synthetic[:WxH@FPS]`, `camera[:N]`.
    pub camera: String,
    /// `none`, `synthetic[:HZ]`, `mic[:NAME]`.
    pub microphone: String,
    /// `none`, `analyzer`, `speaker[:NAME]`.
    pub speaker: String,
    /// STUN / TURN servers: `stun:host:port`, `turn:user:password@host:port`.
    pub ice_servers: Vec<String>,
    /// Hide my IP address: media only through a TURN server (the other side never learns our
    /// address; no call connects without a TURN server).
    pub relay_only: bool,
    /// Accept a server whose TLS certificate no authority signed (your own, on the LAN).
    pub accept_self_signed: bool,
    /// Or accept only the certificate with this SHA-256 fingerprint (as `peercall serve` prints).
    pub pinned_certificate: String,
    /// Do not disturb: calls are answered busy and listed as missed.
    pub do_not_disturb: bool,
    /// How loud an incoming call rings, percent.
    pub ring_volume: u8,
    /// The most our camera sends: `360p15` … `1080p30` (a camera opens in HD above 480p).
    pub video_quality: String,
    /// "Check camera and microphone" stays on the main screen from one start to the next.
    pub preview: bool,
    /// How the microphone is cleaned before it is sent (all on, as in a browser).
    pub echo_cancellation: bool,
    pub noise_suppression: bool,
    pub gain_control: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            id: String::new(),
            signaling: SignalingKind::Peercall.name().into(),
            server: String::new(),
            room: String::new(),
            camera: "camera".into(),
            microphone: "mic".into(),
            speaker: "speaker".into(),
            ice_servers: Vec::new(),
            relay_only: false,
            accept_self_signed: false,
            pinned_certificate: String::new(),
            do_not_disturb: false,
            ring_volume: 80,
            video_quality: "480p30".into(),
            preview: false,
            echo_cancellation: true,
            noise_suppression: true,
            gain_control: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid settings: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no config folder on this system")]
    NoConfigDir,
}

impl Settings {
    /// Where settings live: `$PEERCALL_CONFIG` if set (tests), else the platform's config folder.
    pub fn path() -> Result<PathBuf, SettingsError> {
        if let Some(p) = std::env::var_os("PEERCALL_CONFIG") {
            return Ok(PathBuf::from(p));
        }
        directories::ProjectDirs::from("org", "peercall", "peercall")
            .map(|d| d.config_dir().join("settings.toml"))
            .ok_or(SettingsError::NoConfigDir)
    }

    /// The saved settings; defaults when there are none yet.
    pub fn load() -> Result<Settings, SettingsError> {
        let path = Self::path()?;
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                Self::from_toml(&text).map_err(|source| SettingsError::Parse { path, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(source) => Err(SettingsError::Read { path, source }),
        }
    }

    pub fn save(&self) -> Result<(), SettingsError> {
        let path = Self::path()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| SettingsError::Write {
                path: path.clone(),
                source,
            })?;
        }
        std::fs::write(&path, self.to_toml())
            .map_err(|source| SettingsError::Write { path, source })
    }

    pub fn from_toml(text: &str) -> Result<Settings, toml::de::Error> {
        toml::from_str(text)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("settings always serialize")
    }

    /// The microphone's processing stages.
    pub fn voice_stages(&self) -> Stages {
        Stages {
            echo: self.echo_cancellation,
            noise: self.noise_suppression,
            gain: self.gain_control,
        }
    }

    /// The camera (or source) to open: in HD when the quality chosen is above 480p.
    pub fn video(&self) -> Result<VideoChoice, String> {
        let choice = self.camera.parse()?;
        Ok(match (choice, self.quality()) {
            (VideoChoice::Camera { index, .. }, Ok(Some(q))) if q.wants_hd() => {
                VideoChoice::Camera { index, hd: true }
            }
            (choice, _) => choice,
        })
    }

    /// The ceiling on what the camera sends (empty: what the link allows).
    pub fn quality(&self) -> Result<Option<VideoQuality>, String> {
        match self.video_quality.trim() {
            "" => Ok(None),
            q => q.parse().map(Some),
        }
    }

    pub fn audio(&self) -> Result<AudioChoice, String> {
        self.microphone.parse()
    }

    pub fn speaker_choice(&self) -> Result<SpeakerChoice, String> {
        self.speaker.parse()
    }

    pub fn signaling_kind(&self) -> Result<SignalingKind, String> {
        self.signaling.trim().parse()
    }

    /// Where to signal; an empty peercall server is `local` (this computer's).
    pub fn endpoint(&self, local: &str) -> Result<Endpoint, String> {
        let endpoint = Endpoint {
            tls: self.tls_trust()?,
            ..self.endpoint_unchecked(local)?
        };
        match endpoint.problem() {
            Some(problem) => Err(problem),
            None => Ok(endpoint),
        }
    }

    fn endpoint_unchecked(&self, local: &str) -> Result<Endpoint, String> {
        let kind = self.signaling_kind()?;
        let mut server = self.server.trim().to_string();
        if server.is_empty() && kind == SignalingKind::Peercall {
            server = local.to_string();
        }
        Ok(Endpoint {
            kind,
            server,
            room: Some(self.room.trim().to_string()).filter(|r| !r.is_empty()),
            tls: signaling_client::TlsTrust::default(),
        })
    }

    /// How far to trust the server's TLS certificate.
    pub fn tls_trust(&self) -> Result<signaling_client::TlsTrust, String> {
        let pin = self.pinned_certificate.trim();
        if !pin.is_empty() {
            return signaling_client::TlsTrust::pinned_from_hex(pin).map_err(|e| e.to_string());
        }
        Ok(if self.accept_self_signed {
            signaling_client::TlsTrust::AcceptInvalid
        } else {
            signaling_client::TlsTrust::WebPki
        })
    }

    /// Every field that does not parse, in words.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Err(e) = self.video() {
            out.push(format!("camera: {e}"));
        }
        if let Err(e) = self.audio() {
            out.push(format!("microphone: {e}"));
        }
        if let Err(e) = self.speaker_choice() {
            out.push(format!("speaker: {e}"));
        }
        if let Err(e) = self.quality() {
            out.push(e);
        }
        if !self.id.is_empty() {
            if let Err(e) = signaling_client::ids::check_peer_id(&self.id) {
                out.push(format!("ID: {e}"));
            }
        }
        if let Err(e) = self.tls_trust() {
            out.push(format!("certificate: {e}"));
        }
        match self.endpoint_unchecked("ws://127.0.0.1/ws") {
            Err(e) => out.push(format!("signaling: {e}")),
            Ok(endpoint) => out.extend(endpoint.problem().map(|p| format!("server: {p}"))),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_toml() {
        let s = Settings {
            id: "alice".into(),
            signaling: "socketio-1v1".into(),
            server: "https://example.org".into(),
            room: "family".into(),
            camera: "synthetic:1280x720@30".into(),
            microphone: "mic:USB".into(),
            speaker: "none".into(),
            ice_servers: vec!["turn:u:p@turn.example.org:3478".into()],
            relay_only: true,
            accept_self_signed: true,
            pinned_certificate: String::new(),
            do_not_disturb: true,
            ring_volume: 35,
            video_quality: "720p15".into(),
            preview: true,
            echo_cancellation: true,
            noise_suppression: false,
            gain_control: true,
        };
        assert_eq!(Settings::from_toml(&s.to_toml()).unwrap(), s);
        assert_eq!(s.voice_stages().to_string(), "aec,agc");
        // A settings file from before the switches has them all on.
        let old = Settings::from_toml("id = \"bob\"\n").unwrap();
        assert_eq!(old.voice_stages().to_string(), "on");
        assert!(s.problems().is_empty());
    }

    #[test]
    fn a_quality_above_480p_opens_the_camera_in_hd() {
        let mut s = Settings {
            camera: "camera:1".into(),
            video_quality: "720p30".into(),
            ..Settings::default()
        };
        assert_eq!(
            s.video(),
            Ok(VideoChoice::Camera {
                index: Some(1),
                hd: true
            })
        );
        s.video_quality = "480p15".into();
        assert_eq!(
            s.video(),
            Ok(VideoChoice::Camera {
                index: Some(1),
                hd: false
            })
        );
        assert_eq!(s.quality(), Ok(Some(VideoQuality::new(480, 15))));
        s.video_quality = "4k".into();
        assert!(s.problems().iter().any(|p| p.contains("video quality")));
        s.video_quality = String::new();
        assert_eq!(s.quality(), Ok(None));
    }

    #[test]
    fn missing_fields_take_defaults_and_bad_ones_are_named() {
        let s = Settings::from_toml("id = \"bob\"\n").unwrap();
        assert_eq!(s.id, "bob");
        assert_eq!(s.camera, "camera");
        let bad = Settings {
            camera: "webcam".into(),
            id: "Bob!".into(),
            server: "http://x".into(),
            pinned_certificate: "abc".into(),
            ..Settings::default()
        };
        assert_eq!(bad.problems().len(), 4, "{:?}", bad.problems());
        assert!(Settings::from_toml("id = 5").is_err());
    }

    #[test]
    fn saved_settings_load_back() {
        let dir = std::env::temp_dir().join(format!("peercall-settings-{}", std::process::id()));
        let path = dir.join("settings.toml");
        std::env::set_var("PEERCALL_CONFIG", &path);
        let s = Settings {
            id: "carol".into(),
            ..Settings::default()
        };
        s.save().unwrap();
        assert_eq!(Settings::load().unwrap(), s);
        std::env::remove_var("PEERCALL_CONFIG");
        let _ = std::fs::remove_dir_all(dir);
    }
}
