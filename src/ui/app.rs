//! The eframe app: `logic` takes in what the backend reported and uploads new video frames;
//! `ui` draws the view for the state and carries out what the user asked for.

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use super::backend::{Backend, BackendCommand};
use super::ringer::Ringer;
use super::settings::Settings;
use super::state::{AppState, CallView, UiEvent};
use super::video::VideoTexture;
use super::views::{self, Action, Devices, Fields};
use crate::call::media_setup::SpeakerChoice;
use crate::call::CallCommand;

/// Louder than this, someone is speaking (the indicator around their video).
const SPEAKING_DBFS: f32 = -45.0;

pub struct PeercallApp {
    state: AppState,
    events: std_mpsc::Receiver<UiEvent>,
    backend: Backend,
    settings: Settings,
    fields: Fields,
    /// Each other person's video, in the order they came, and how loud they are (dBFS).
    remotes: Vec<(String, VideoTexture, f32)>,
    local: VideoTexture,
    ringer: Ringer,
    launched: Instant,
    first_frame_drawn: bool,
    /// Device names being listed off the UI thread (ALSA and V4L can take a while).
    listing: Option<std_mpsc::Receiver<Devices>>,
    // Declared last: dropped after the backend's handles, so the engine can hang up on the way out.
    _runtime: tokio::runtime::Runtime,
}

impl PeercallApp {
    pub fn new(
        settings: Settings,
        backend: Backend,
        events: std_mpsc::Receiver<UiEvent>,
        runtime: tokio::runtime::Runtime,
        launched: Instant,
        notices: Vec<String>,
    ) -> Self {
        let mut state = AppState::default();
        for n in notices {
            state.apply(
                UiEvent::Backend(super::state::BackendEvent::Notice(n)),
                Instant::now(),
            );
        }
        PeercallApp {
            state,
            events,
            backend,
            settings,
            fields: Fields::default(),
            remotes: Vec::new(),
            local: VideoTexture::new("self-view"),
            ringer: Ringer::default(),
            launched,
            first_frame_drawn: false,
            listing: None,
            _runtime: runtime,
        }
    }

    /// Straight to the engine, which owns the call's state: the window shows what it decides.
    fn call(&mut self, command: CallCommand) {
        if let Err(e) = self.backend.call(command) {
            self.state.apply(
                UiEvent::Backend(super::state::BackendEvent::Notice(e.to_string())),
                Instant::now(),
            );
        }
    }

    fn act(&mut self, ctx: &egui::Context, action: Action) {
        match action {
            Action::Dial(peer) => self.call(CallCommand::Dial(peer)),
            Action::JoinRoom(room) => self.call(CallCommand::JoinRoom(room)),
            Action::Accept => self.call(CallCommand::Accept),
            Action::Decline => self.call(CallCommand::Decline),
            Action::HangUp => self.call(CallCommand::HangUp),
            // The engine owns our mute state: the window shows it once the engine says so.
            Action::SetMicMuted(muted) => self.call(CallCommand::MuteAudio(muted)),
            Action::SetCameraOff(off) => self.call(CallCommand::MuteVideo(off)),
            Action::SendChat(text) => {
                self.state.push_chat(true, text.clone());
                self.call(CallCommand::Chat(text));
            }
            Action::Retry => self.backend.send(BackendCommand::Retry),
            Action::CopyLine => {
                if let Some(line) = &self.state.manual_line {
                    ctx.copy_text(line.clone());
                }
            }
            Action::Paste(text) => self.backend.send(BackendCommand::Paste(text)),
            Action::CopyId => {
                if let Some(id) = &self.state.my_id {
                    ctx.copy_text(id.clone());
                }
            }
            Action::OpenSettings => {
                let (tx, rx) = std_mpsc::channel();
                let ctx = ctx.clone();
                std::thread::spawn(move || {
                    let _ = tx.send(list_devices());
                    ctx.request_repaint();
                });
                self.listing = Some(rx);
                self.fields.settings = Some(self.settings.clone());
            }
            Action::CloseSettings => self.fields.settings = None,
            Action::SaveSettings(settings) => {
                if let Err(e) = settings.save() {
                    self.state.apply(
                        UiEvent::Backend(super::state::BackendEvent::Notice(e.to_string())),
                        Instant::now(),
                    );
                }
                self.settings = (*settings).clone();
                self.backend.send(BackendCommand::Apply(settings));
                self.fields.settings = None;
            }
            Action::ToggleStats => self.fields.show_stats = !self.fields.show_stats,
        }
    }

    /// One texture per person in the call, each fed from their frame slot.
    fn update_remotes(&mut self, ctx: &egui::Context) {
        let participants = self.backend.participants();
        self.remotes
            .retain(|(id, _, _)| participants.iter().any(|p| &p.id == id));
        for p in participants {
            let Some(slot) = &p.frames else { continue };
            let at = match self.remotes.iter().position(|(id, _, _)| *id == p.id) {
                Some(at) => at,
                None => {
                    let name = format!("video-of-{}", p.id);
                    self.remotes
                        .push((p.id.clone(), VideoTexture::new(name), f32::MIN));
                    self.remotes.len() - 1
                }
            };
            let remote = &mut self.remotes[at];
            remote.1.update(ctx, slot);
            remote.2 = p.counters.audio_level_dbfs();
        }
    }

    fn speaker_name(&self) -> Option<Option<String>> {
        match self.settings.speaker_choice() {
            Ok(SpeakerChoice::Device { name }) => Some(name),
            _ => None,
        }
    }
}

fn list_devices() -> Devices {
    use crate::media::{camera, microphone, speaker};
    Devices {
        cameras: camera::list_cameras()
            .map(|c| c.into_iter().map(|c| c.name).collect())
            .unwrap_or_default(),
        microphones: microphone::list_microphones()
            .map(|d| d.into_iter().map(|d| d.name).collect())
            .unwrap_or_default(),
        speakers: speaker::list_speakers()
            .map(|d| d.into_iter().map(|d| d.name).collect())
            .unwrap_or_default(),
    }
}

impl eframe::App for PeercallApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        let now = Instant::now();
        while let Ok(event) = self.events.try_recv() {
            self.state.apply(event, now);
        }
        if let Some(peers) = self.backend.presence_changed() {
            self.state.peers = peers.into_iter().collect();
        }
        if let Some(devices) = self.listing.as_ref().and_then(|rx| rx.try_recv().ok()) {
            self.fields.devices = devices;
            self.listing = None;
        }
        match &self.state.call {
            CallView::Incoming { .. } => {
                if let Some(name) = self.speaker_name() {
                    self.ringer.start(name);
                }
            }
            _ => self.ringer.stop(),
        }
        match &self.state.call {
            CallView::Idle => {
                self.remotes.clear();
                self.local.clear();
            }
            CallView::InCall { .. } | CallView::Calling { .. } => {
                self.update_remotes(ctx);
                self.local.update(ctx, &self.backend.local_frames);
                // The call timer ticks once a second even when no frame arrives (each frame
                // asks for its own repaint).
                ctx.request_repaint_after(Duration::from_secs(1));
            }
            CallView::Incoming { .. } => {}
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        let mut actions = Vec::new();
        egui::Panel::top("header").show(ui, |ui| {
            views::header::show(ui, &self.state, &mut actions);
        });
        let now = Instant::now();
        match self.state.call.clone() {
            CallView::Idle => {
                egui::CentralPanel::default().show(ui, |ui| {
                    views::idle::show(ui, &self.state, &mut self.fields, &mut actions);
                });
            }
            CallView::Calling { peer, since } => {
                egui::CentralPanel::default().show(ui, |ui| {
                    let seconds = now.saturating_duration_since(since).as_secs();
                    views::calling::show(
                        ui,
                        &self.state,
                        &mut self.fields,
                        &peer,
                        seconds,
                        &mut actions,
                    );
                });
            }
            CallView::Incoming { peer } => {
                egui::CentralPanel::default().show(ui, |ui| {
                    views::incoming::show(ui, self.state.peer_name(&peer), &mut actions);
                });
            }
            CallView::InCall { peer, .. } => {
                let videos = views::in_call::Videos {
                    remotes: self
                        .remotes
                        .iter()
                        .map(|(id, texture, level)| views::in_call::RemoteVideo {
                            id,
                            texture: texture.texture(),
                            speaking: *level > SPEAKING_DBFS,
                        })
                        .collect(),
                    local: self.local.texture(),
                };
                views::in_call::show(
                    ui,
                    &self.state,
                    self.state.peer_name(&peer),
                    self.state.call_duration(now),
                    videos,
                    &mut self.fields,
                    &mut actions,
                );
            }
        }
        views::settings::show(&ctx, &mut self.fields, &mut actions);
        for action in actions {
            self.act(&ctx, action);
        }
        if !self.first_frame_drawn {
            self.first_frame_drawn = true;
            tracing::info!(
                ms = self.launched.elapsed().as_secs_f64() * 1000.0,
                "first frame drawn after launch"
            );
        }
    }
}
