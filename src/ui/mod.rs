//! The desktop window (eframe / egui).
//!
//! - [`backend`]: the async side on its own runtime: server (found or embedded), registration,
//!   the call engine. The engine's events reach the UI thread as [`state::UiEvent`]s and wake
//!   it; the window's commands go straight to the engine; the presence list is watched.
//! - [`state`]: what the window shows, changed only by events (pure, unit-tested).
//! - [`views`]: one file per view; each draws from the state and returns actions.
//! - [`app`]: the eframe app tying them together; [`video`] uploads frames as textures;
//!   [`ringer`] plays the ring tone; [`settings`] loads and saves the TOML settings.
//! - Kept between runs, next to each other in the data folder: [`recents`] (calls made and
//!   missed) and [`contacts`] (starred IDs with names); the embedded server's certificate too.
//! - [`files`]: the list of file transfers the engine reports; [`preview`]: the camera and
//!   microphone checked before a call; [`notify`]: a call ringing in the background announced on
//!   the desktop (D-Bus), answered from there.
//!
//! Frames flow decoder → `FrameSlot` → one texture update per new frame → painted; the UI never
//! waits on the network, and an idle window does not repaint.

pub(crate) mod app;
pub mod backend;
pub mod contacts;
pub mod files;
pub mod notify;
pub mod preview;
pub mod recents;
pub(crate) mod ringer;
pub mod settings;
pub mod speaker_test;
pub mod state;
pub(crate) mod store;
pub(crate) mod video;
pub mod views;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;

use crate::call::media_setup::{AudioChoice, SpeakerChoice, VideoChoice};
use settings::Settings;

/// Command-line overrides of the settings, for this run only.
#[derive(Debug, Default, Clone)]
pub struct WindowOptions {
    pub signaling: Option<signaling_client::SignalingKind>,
    pub server: Option<String>,
    pub room: Option<String>,
    pub id: Option<String>,
    pub video: Option<VideoChoice>,
    pub audio: Option<AudioChoice>,
    pub speaker: Option<SpeakerChoice>,
    /// Dial this peer once connected.
    pub dial: Option<String>,
}

pub fn run(options: WindowOptions) -> anyhow::Result<()> {
    let launched = Instant::now();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let mut notices = Vec::new();
    let mut settings = Settings::load().unwrap_or_else(|e| {
        notices.push(format!("{e}; using default settings"));
        Settings::default()
    });
    if let Some(kind) = options.signaling {
        settings.signaling = kind.name().into();
    }
    if let Some(server) = options.server {
        settings.server = server;
    }
    // On a peercall server --room is a group call to join; on a socket.io 1-to-1 server, the
    // room whose user list we are in.
    let kind = settings.signaling_kind().unwrap_or_default();
    let mut start = options.dial.map(crate::call::CallCommand::Dial);
    match (options.room, kind) {
        (Some(room), kind) if kind.has_rooms() => {
            start = Some(crate::call::CallCommand::JoinRoom(room));
        }
        (Some(room), _) => settings.room = room,
        (None, _) => {}
    }
    if let Some(id) = options.id {
        settings.id = id;
    }
    if let Some(video) = options.video {
        settings.camera = video.to_string();
    }
    if let Some(audio) = options.audio {
        settings.microphone = audio.to_string();
    }
    if let Some(speaker) = options.speaker {
        settings.speaker = speaker.to_string();
    }
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("peercall")
            .with_inner_size([1100.0, 720.0])
            .with_min_inner_size([640.0, 420.0]),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    eframe::run_native(
        "peercall",
        native,
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            let (link, rx) = backend::UiLink::channel(Arc::new(move || ctx.request_repaint()));
            let backend = backend::start(runtime.handle(), settings.clone(), start, link);
            Ok(Box::new(app::PeercallApp::new(
                settings, backend, rx, runtime, launched, notices,
            )))
        }),
    )
    .map_err(|e| anyhow::anyhow!("the window could not open: {e}"))
}
