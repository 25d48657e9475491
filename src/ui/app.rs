//! The eframe app: `logic` takes in what the backend reported and uploads new video frames;
//! `ui` draws the view for the state and carries out what the user asked for.

use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backend::{Backend, BackendCommand};
use super::ringer::Ringer;
use super::settings::Settings;
use super::state::{AppState, CallView, UiEvent};
use super::video::VideoTexture;
use super::views::{self, Action, Devices, Fields};
use crate::call::media_setup::{AudioChoice, SpeakerChoice, VideoChoice};
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
    /// The screen someone shares with us: whose, and its picture.
    share: Option<(String, VideoTexture)>,
    local: VideoTexture,
    ringer: Ringer,
    launched: Instant,
    /// The screen's monitors were listed for this call.
    monitors_listed: bool,
    /// The speaker test's chime, while it plays.
    speaker_test: Option<std::thread::JoinHandle<Result<(), crate::media::MediaError>>>,
    first_frame_drawn: bool,
    /// Device names being listed off the UI thread (ALSA and V4L can take a while).
    listing: Option<std_mpsc::Receiver<Devices>>,
    /// Calls ringing behind other windows, announced on the desktop (started with the first
    /// frame, which brings the context it wakes).
    desktop: Option<super::notify::DesktopNotices>,
    /// The camera and microphone being checked on the main screen.
    preview: Option<super::preview::Preview>,
    // Declared last: dropped after the backend's handles, so the engine can hang up on the way out.
    runtime: tokio::runtime::Runtime,
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
        let mut state = AppState {
            recents: super::recents::Recents::load(super::recents::Recents::default_path()),
            do_not_disturb: settings.do_not_disturb,
            preview_on: settings.preview,
            contacts: super::contacts::Contacts::load(super::contacts::Contacts::default_path()),
            ..AppState::default()
        };
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
            share: None,
            local: VideoTexture::new("self-view"),
            ringer: Ringer::default(),
            launched,
            monitors_listed: false,
            speaker_test: None,
            first_frame_drawn: false,
            listing: None,
            desktop: None,
            preview: None,
            runtime,
        }
    }

    /// While idle with the preview on: the camera in the self-view, the microphone's level on
    /// the meter. Anything else closes them.
    fn preview(&mut self, ctx: &egui::Context) {
        let idle = matches!(self.state.call, CallView::Idle);
        if !(idle && self.state.preview_on) {
            self.stop_preview();
            return;
        }
        let preview = self.preview.get_or_insert_with(|| {
            let video = self.settings.video().unwrap_or(VideoChoice::None);
            let audio = self.settings.audio().unwrap_or(AudioChoice::None);
            let wake = ctx.clone();
            super::preview::Preview::start(
                video,
                audio,
                self.backend.local_frames.clone(),
                Arc::new(move || wake.request_repaint()),
            )
        });
        self.state.mic_level_dbfs = preview.level_dbfs();
        for problem in preview.problems() {
            if !self.state.notices.contains(&problem) {
                self.state.apply(
                    UiEvent::Backend(super::state::BackendEvent::Notice(problem)),
                    Instant::now(),
                );
            }
        }
        self.local.update(ctx, &self.backend.local_frames);
    }

    fn stop_preview(&mut self) {
        if let Some(preview) = self.preview.take() {
            preview.stop();
            self.local.clear();
            self.state.mic_level_dbfs = None;
        }
    }

    /// A call ringing while the window is in the background: a desktop notification (Accept and
    /// Decline work from it) and a request for the window's attention.
    fn announce(&mut self, ctx: &egui::Context) {
        let handle = self.runtime.handle().clone();
        let desktop = self
            .desktop
            .get_or_insert_with(|| super::notify::DesktopNotices::start(&handle, ctx.clone()));
        let ringing = match &self.state.call {
            CallView::Incoming { peer } => Some(
                self.state
                    .contacts
                    .get(peer)
                    .map_or(self.state.peer_name(peer), |c| c.shown_name())
                    .to_string(),
            ),
            _ => None,
        };
        let focused = ctx.input(|i| i.viewport().focused.unwrap_or(true));
        if desktop.update(ringing.as_deref(), focused) {
            ctx.send_viewport_cmd(egui::ViewportCommand::RequestUserAttention(
                egui::UserAttentionType::Critical,
            ));
        }
        let answers: Vec<bool> = desktop.answers.try_iter().collect();
        for accept in answers {
            let action = if accept {
                Action::Accept
            } else {
                Action::Decline
            };
            self.act(ctx, action);
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
            // A call opens the camera and microphone: the preview lets go of them first.
            Action::Dial(peer) => {
                self.stop_preview();
                self.call(CallCommand::Dial(peer))
            }
            Action::JoinRoom(room) => {
                self.stop_preview();
                self.call(CallCommand::JoinRoom(room))
            }
            Action::Accept => {
                self.stop_preview();
                self.call(CallCommand::Accept)
            }
            Action::TestSpeaker => self.test_speaker(ctx),
            Action::SetVideoQuality(quality) => {
                // Kept, and applied now: the engine lowers or raises its ceiling (a camera
                // opens again in HD only when crossing 480p).
                let mut settings = self.settings.clone();
                settings.video_quality = quality.to_string();
                if let Err(e) = settings.save() {
                    self.state.notice(e.to_string());
                }
                self.settings = settings.clone();
                self.backend.send(BackendCommand::Apply(Box::new(settings)));
            }
            Action::SetPreview(on) => {
                self.state.preview_on = on;
                if !on {
                    self.stop_preview();
                }
                // Kept for the next start.
                self.settings.preview = on;
                if let Err(e) = self.settings.save() {
                    self.state.notice(e.to_string());
                }
            }
            Action::Decline => self.call(CallCommand::Decline),
            Action::HangUp => self.call(CallCommand::HangUp),
            // The engine owns our mute state: the window shows it once the engine says so.
            Action::SetMicMuted(muted) => self.call(CallCommand::MuteAudio(muted)),
            Action::SetCameraOff(off) => self.call(CallCommand::MuteVideo(off)),
            Action::SendChat(text) => {
                self.state.push_chat(true, text.clone());
                self.call(CallCommand::Chat(text));
            }
            Action::SendFile(path) => self.call(CallCommand::SendFile(path)),
            Action::ShareScreen(monitor) => {
                self.call(CallCommand::ShareScreen(crate::call::ScreenTarget {
                    display: None,
                    monitor,
                }))
            }
            Action::StopSharing => self.call(CallCommand::StopSharing),
            Action::AcceptFile(id) => self.call(CallCommand::AcceptFile(id)),
            Action::DeclineFile(id) => self.call(CallCommand::DeclineFile(id)),
            Action::CancelFile(id) => self.call(CallCommand::CancelFile(id)),
            Action::Retry => self.backend.send(BackendCommand::Retry),
            Action::MarkMissedSeen => self.state.missed_seen(),
            Action::StarContact(id) => self.state.contacts.star(&id),
            Action::UnstarContact(id) => self.state.contacts.unstar(&id),
            Action::RenameContact(id, name) => self.state.contacts.rename(&id, &name),
            Action::SetDoNotDisturb(on) => {
                // Kept for the next start; the engine, which answers the calls, is told now.
                self.settings.do_not_disturb = on;
                if let Err(e) = self.settings.save() {
                    self.state.apply(
                        UiEvent::Backend(super::state::BackendEvent::Notice(e.to_string())),
                        Instant::now(),
                    );
                }
                self.call(CallCommand::DoNotDisturb(on));
            }
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
            Action::ToggleCompact => self.fields.compact = !self.fields.compact,
            Action::ToggleFullscreen => {
                let full = ctx.input(|i| i.viewport().fullscreen.unwrap_or(false));
                ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(!full));
            }
        }
    }

    /// The compact always-on-top window (an egui viewport of its own, drawn with this frame):
    /// the shared screen if someone shares, else the first other person.
    fn compact_window(&self, ctx: &egui::Context, peer: &str, actions: &mut Vec<Action>) {
        let video = self
            .share
            .as_ref()
            .and_then(|(_, t)| t.texture())
            .or_else(|| self.remotes.first().and_then(|(_, t, _)| t.texture()));
        let name = self.state.peer_name(peer);
        let builder = egui::ViewportBuilder::default()
            .with_title(views::compact::TITLE)
            .with_inner_size(views::compact::SIZE)
            .with_always_on_top();
        let id = egui::ViewportId::from_hash_of("compact");
        let mut said = Vec::new();
        ctx.show_viewport_immediate(id, builder, |ui, _class| {
            if ui.ctx().input(|i| i.viewport().close_requested()) {
                said.push(Action::ToggleCompact);
            }
            views::compact::show(ui, &self.state, name, video, &mut said);
        });
        actions.extend(said);
    }

    /// One texture per person in the call, each fed from their frame slot.
    fn update_remotes(&mut self, ctx: &egui::Context) {
        let participants = self.backend.participants();
        self.remotes
            .retain(|(id, _, _)| participants.iter().any(|p| &p.id == id));
        for p in &participants {
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
        // The shared screen of whoever shares now (one at a time is shown).
        let sharer = self.state.remote_sharing.as_ref();
        let sharing = sharer.and_then(|id| participants.iter().find(|p| &p.id == id));
        match sharing {
            Some(p) => {
                if self.share.as_ref().is_none_or(|(id, _)| *id != p.id) {
                    self.share = Some((
                        p.id.clone(),
                        VideoTexture::new(format!("screen-of-{}", p.id)),
                    ));
                }
                if let Some((_, texture)) = &mut self.share {
                    texture.update(ctx, &p.share.frames);
                }
            }
            None => self.share = None,
        }
    }

    /// A chime through the chosen speaker; what went wrong is told once it ends.
    fn test_speaker(&mut self, ctx: &egui::Context) {
        if self.speaker_test.as_ref().is_some_and(|t| !t.is_finished()) {
            return; // still chiming
        }
        let Some(name) = self.speaker_name() else {
            self.state
                .notice("No speaker is chosen: pick one in Settings.".into());
            return;
        };
        let ctx = ctx.clone();
        match super::speaker_test::play(name, move || ctx.request_repaint()) {
            Ok(thread) => self.speaker_test = Some(thread),
            Err(e) => self
                .state
                .notice(format!("The speaker test did not start: {e}")),
        }
    }

    /// A finished speaker test that failed says why.
    fn speaker_test_done(&mut self) {
        if !self.speaker_test.as_ref().is_some_and(|t| t.is_finished()) {
            return;
        }
        if let Some(Ok(Err(e))) = self.speaker_test.take().map(|t| t.join()) {
            self.state.notice(format!("The speaker test failed: {e}"));
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
                    self.ringer.start(name, self.settings.ring_volume);
                }
            }
            _ => self.ringer.stop(),
        }
        self.announce(ctx);
        self.preview(ctx);
        self.speaker_test_done();
        self.fields
            .video_quality
            .clone_from(&self.settings.video_quality);
        match &self.state.call {
            CallView::Idle => {
                self.remotes.clear();
                self.monitors_listed = false;
                if self.preview.is_none() {
                    self.local.clear();
                }
            }
            CallView::InCall { .. } | CallView::Calling { .. } => {
                if !std::mem::replace(&mut self.monitors_listed, true) {
                    // Once a call: monitors come and go rarely, and Share screen asks which.
                    self.fields.monitors =
                        crate::media::screen::list_monitors(None).unwrap_or_default();
                }
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
                    let self_view = self.local.texture();
                    views::idle::show(ui, &self.state, self_view, &mut self.fields, &mut actions);
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
                    share: self.share.as_ref().and_then(|(id, texture)| {
                        texture
                            .texture()
                            .map(|texture| views::in_call::SharedVideo {
                                id: self.state.peer_name(id),
                                texture,
                            })
                    }),
                    local: self.local.texture(),
                };
                self.state.voice = Some(self.backend.voice.stats.snapshot());
                views::in_call::show(
                    ui,
                    &self.state,
                    self.state.peer_name(&peer),
                    self.state.call_duration(now),
                    videos,
                    &mut self.fields,
                    &mut actions,
                );
                if self.fields.compact {
                    self.compact_window(&ctx, &peer, &mut actions);
                }
            }
        }
        if !matches!(self.state.call, CallView::InCall { .. }) {
            self.fields.compact = false;
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
