//! In a call: the remote video fills the window (keeping its aspect ratio), the self-view sits in
//! a corner, and the controls (microphone M, camera V, hang up Esc) run along the bottom.

use std::time::Duration;

use egui::{Align2, Color32, FontId, Rect, RichText, TextureHandle};

use super::{Action, Fields};
use crate::call::VideoQuality;
use crate::ui::state::{AppState, Quality};

pub struct Videos<'a> {
    /// Each other person's video, in the order they came.
    pub remotes: Vec<RemoteVideo<'a>>,
    /// A screen someone shares: shown large, their camera small.
    pub share: Option<SharedVideo<'a>>,
    pub local: Option<&'a TextureHandle>,
}

pub struct SharedVideo<'a> {
    /// Whose screen (their name).
    pub id: &'a str,
    pub texture: &'a TextureHandle,
}

pub struct RemoteVideo<'a> {
    pub id: &'a str,
    pub texture: Option<&'a TextureHandle>,
    /// Their audio is loud enough to be speech.
    pub speaking: bool,
}

pub fn show(
    ui: &mut egui::Ui,
    state: &AppState,
    peer: &str,
    duration: Option<Duration>,
    videos: Videos<'_>,
    fields: &mut Fields,
    actions: &mut Vec<Action>,
) {
    shortcuts(ui, state, actions);
    // With no server, the answer line goes to the caller before anything connects.
    let manual = state.signaling == signaling_client::SignalingKind::Manual;
    if manual && duration.is_none() && state.manual_line.is_some() {
        egui::Panel::top("manual-line")
            .show(ui, |ui| super::manual::show(ui, state, fields, actions));
    }
    egui::Panel::bottom("call-controls").show(ui, |ui| {
        controls(ui, state, peer, duration, fields, actions);
    });
    if fields.show_stats {
        egui::Panel::right("call-stats")
            .default_size(320.0)
            .show(ui, |ui| super::stats::show(ui, state));
    }
    egui::CentralPanel::no_frame().show(ui, |ui| {
        let area = ui.max_rect();
        // Double-click the video: full screen, and back.
        let video = ui.interact(
            area,
            ui.make_persistent_id("call-video-area"),
            egui::Sense::click(),
        );
        if video.double_clicked() {
            actions.push(Action::ToggleFullscreen);
        }
        ui.painter().rect_filled(area, 0.0, Color32::BLACK);
        let video_area = if let Some(share) = &videos.share {
            shared_screen(ui, share, &videos.remotes, area)
        } else if videos.remotes.len() > 1 {
            grid(ui, state, &videos.remotes, area);
            area
        } else {
            single(ui, state, peer, duration, videos.remotes.first(), area)
        };
        if let (Some(local), false) = (videos.local, state.camera_off) {
            let rect = self_view(local.size_vec2(), video_area);
            ui.painter()
                .image(local.id(), rect, FULL_UV, Color32::WHITE);
            ui.painter().rect_stroke(
                rect,
                4.0,
                egui::Stroke::new(2.0, Color32::from_gray(200)),
                egui::StrokeKind::Outside,
            );
        }
    });
}

/// A shared screen fills the area, the others' cameras in a column on its left. Returns where
/// the screen was drawn.
fn shared_screen(
    ui: &egui::Ui,
    share: &SharedVideo<'_>,
    remotes: &[RemoteVideo<'_>],
    area: Rect,
) -> Rect {
    let rect = fit(share.texture.size_vec2(), area);
    ui.painter()
        .image(share.texture.id(), rect, FULL_UV, Color32::WHITE);
    log_video_rect(ui, rect, &format!("screen of {}", share.id));
    // The cameras, small: a column down the left.
    let side = (area.width() / 6.0).clamp(96.0, 240.0);
    let mut top = area.top() + 12.0;
    for remote in remotes {
        let Some(texture) = remote.texture else {
            continue;
        };
        let size = texture.size_vec2() * (side / texture.size_vec2().x.max(1.0));
        let small = Rect::from_min_size(egui::pos2(area.left() + 12.0, top), size);
        ui.painter()
            .image(texture.id(), small, FULL_UV, Color32::WHITE);
        ui.painter().rect_stroke(
            small,
            4.0,
            egui::Stroke::new(2.0, Color32::from_gray(200)),
            egui::StrokeKind::Outside,
        );
        top += size.y + 8.0;
    }
    ui.painter().text(
        rect.center_top() + egui::vec2(0.0, 12.0),
        Align2::CENTER_TOP,
        format!("{} is sharing their screen", share.id),
        FontId::proportional(16.0),
        Color32::from_rgb(240, 190, 70),
    );
    rect
}

/// One other person: their video fills the area. Returns where it was drawn.
fn single(
    ui: &egui::Ui,
    state: &AppState,
    peer: &str,
    duration: Option<Duration>,
    remote: Option<&RemoteVideo<'_>>,
    area: Rect,
) -> Rect {
    let mut video_area = area;
    // Their own state when we know whose video this is (a room down to one other), else the call's.
    let (mic_muted, camera_off) = match remote {
        Some(r) if state.room.is_some() => {
            let s = state.remote_state(r.id);
            (s.mic_muted, s.camera_off)
        }
        _ => (state.remote_mic_muted, state.remote_camera_off),
    };
    match remote.and_then(|r| r.texture) {
        Some(texture) if !camera_off => {
            let rect = fit(texture.size_vec2(), area);
            ui.painter()
                .image(texture.id(), rect, FULL_UV, Color32::WHITE);
            log_video_rect(ui, rect, remote.map_or("", |r| r.id));
            video_area = rect;
        }
        _ => {
            let text = if camera_off {
                format!("{peer} turned the camera off")
            } else if duration.is_some() {
                format!("Waiting for {peer}'s video…")
            } else {
                format!("Connecting to {peer}…")
            };
            ui.painter().text(
                area.center(),
                Align2::CENTER_CENTER,
                text,
                FontId::proportional(22.0),
                Color32::LIGHT_GRAY,
            );
        }
    }
    if mic_muted {
        ui.painter().text(
            video_area.left_top() + egui::vec2(16.0, 16.0),
            Align2::LEFT_TOP,
            format!("{peer} is muted"),
            FontId::proportional(18.0),
            Color32::from_rgb(240, 190, 70),
        );
    }
    video_area
}

/// The most our camera sends, changed in the call (and kept in the settings).
fn quality_list(ui: &mut egui::Ui, fields: &Fields, actions: &mut Vec<Action>) {
    let current = fields.video_quality.parse::<VideoQuality>().ok();
    let shown = current.map_or("auto".to_string(), |q| q.to_string());
    let label = ui.label("Quality");
    egui::ComboBox::from_id_salt("call-quality")
        .selected_text(shown)
        .width(80.0)
        .show_ui(ui, |ui| {
            for quality in VideoQuality::CHOICES {
                let name = super::settings::quality_name(quality);
                if ui
                    .selectable_label(current == Some(quality), name)
                    .clicked()
                {
                    actions.push(Action::SetVideoQuality(quality));
                }
            }
        })
        .response
        .labelled_by(label.id)
        .on_hover_text("the most your camera sends");
}

/// Share screen (asking which monitor when there are several), or Stop sharing.
fn share_button(ui: &mut egui::Ui, state: &AppState, fields: &Fields, actions: &mut Vec<Action>) {
    if state.sharing {
        let stop = egui::Button::new(RichText::new("Stop sharing").size(16.0)).selected(true);
        if ui.add(stop).clicked() {
            actions.push(Action::StopSharing);
        }
        return;
    }
    if fields.monitors.len() < 2 {
        if ui
            .add(egui::Button::new(RichText::new("Share screen").size(16.0)))
            .on_hover_text("your whole screen goes to everyone in the call")
            .clicked()
        {
            actions.push(Action::ShareScreen(None));
        }
        return;
    }
    ui.menu_button(RichText::new("Share screen").size(16.0), |ui| {
        for monitor in &fields.monitors {
            if ui.button(monitor.to_string()).clicked() {
                actions.push(Action::ShareScreen(Some(monitor.name.clone())));
                ui.close();
            }
        }
    });
}

/// Columns and rows for `n` people: 1, 2 side by side, 2×2, 3×2.
pub fn grid_shape(n: usize) -> (usize, usize) {
    match n {
        0 | 1 => (1, 1),
        2 => (2, 1),
        3 | 4 => (2, 2),
        n => (3, n.div_ceil(3)),
    }
}

/// Everyone in a grid: each with their name, mute and camera state, and a green border while
/// they speak.
fn grid(ui: &egui::Ui, state: &AppState, remotes: &[RemoteVideo<'_>], area: Rect) {
    let (cols, rows) = grid_shape(remotes.len());
    let cell = egui::vec2(area.width() / cols as f32, area.height() / rows as f32);
    for (n, remote) in remotes.iter().enumerate() {
        let (col, row) = (n % cols, n / cols);
        let cell_rect = Rect::from_min_size(
            area.min + egui::vec2(col as f32 * cell.x, row as f32 * cell.y),
            cell,
        )
        .shrink(3.0);
        let remote_state = state.remote_state(remote.id);
        match remote.texture {
            Some(texture) if !remote_state.camera_off => {
                let rect = fit(texture.size_vec2(), cell_rect);
                ui.painter()
                    .image(texture.id(), rect, FULL_UV, Color32::WHITE);
                log_video_rect(ui, rect, remote.id);
            }
            _ => {
                let text = if remote_state.camera_off {
                    "camera off"
                } else {
                    "connecting…"
                };
                ui.painter().text(
                    cell_rect.center(),
                    Align2::CENTER_CENTER,
                    text,
                    FontId::proportional(18.0),
                    Color32::LIGHT_GRAY,
                );
            }
        }
        if remote.speaking {
            ui.painter().rect_stroke(
                cell_rect,
                4.0,
                egui::Stroke::new(3.0, Color32::from_rgb(80, 200, 120)),
                egui::StrokeKind::Inside,
            );
        }
        let mut label = remote.id.to_string();
        if remote_state.mic_muted {
            label.push_str(" · muted");
        }
        ui.painter().text(
            cell_rect.left_bottom() + egui::vec2(8.0, -8.0),
            Align2::LEFT_BOTTOM,
            label,
            FontId::proportional(16.0),
            Color32::WHITE,
        );
    }
}

pub(crate) const FULL_UV: Rect = Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));

/// The self-view: small, in the bottom-right corner of the remote video, no more than 18 % of
/// its width or height, so it hides a corner and not the middle of the other person.
pub fn self_view(size: egui::Vec2, video: Rect) -> Rect {
    let limit = egui::vec2(video.width(), video.height()) * 0.18;
    let scale = (limit.x / size.x.max(1.0)).min(limit.y / size.y.max(1.0));
    let size = size * scale;
    Rect::from_min_size(video.right_bottom() - size - egui::vec2(8.0, 8.0), size)
}

/// The largest rect of `size`'s aspect ratio inside `area`, centred.
pub fn fit(size: egui::Vec2, area: Rect) -> Rect {
    if size.x <= 0.0 || size.y <= 0.0 {
        return area;
    }
    let scale = (area.width() / size.x).min(area.height() / size.y);
    Rect::from_center_size(area.center(), size * scale)
}

/// Where a remote video is drawn, in window pixels: for diagnostics (and the window tests,
/// which read the test pattern back from a screenshot of exactly that area).
pub(crate) fn log_video_rect(ui: &egui::Ui, rect: Rect, peer: &str) {
    let scale = ui.ctx().pixels_per_point();
    let id = egui::Id::unique("remote-video-rect").with(peer);
    let px = [
        (rect.min.x * scale).round() as i32,
        (rect.min.y * scale).round() as i32,
        (rect.width() * scale).round() as i32,
        (rect.height() * scale).round() as i32,
    ];
    let changed = ui.ctx().data_mut(|d| {
        let last = d.get_temp::<[i32; 4]>(id);
        d.insert_temp(id, px);
        last != Some(px)
    });
    if changed {
        tracing::debug!(
            peer,
            x = px[0],
            y = px[1],
            w = px[2],
            h = px[3],
            "remote video rect"
        );
    }
}

fn shortcuts(ui: &egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
    // Letters are for the chat field while it has the focus.
    if ui.memory(|m| m.focused().is_some()) {
        if ui.input(|i| i.key_pressed(egui::Key::Escape)) {
            ui.memory_mut(|m| m.stop_text_input());
        }
        return;
    }
    ui.input(|i| {
        if i.key_pressed(egui::Key::M) {
            actions.push(Action::SetMicMuted(!state.mic_muted));
        }
        if i.key_pressed(egui::Key::V) {
            actions.push(Action::SetCameraOff(!state.camera_off));
        }
        if i.key_pressed(egui::Key::Escape) {
            actions.push(Action::HangUp);
        }
        if i.key_pressed(egui::Key::F11) {
            actions.push(Action::ToggleFullscreen);
        }
        if i.key_pressed(egui::Key::P) {
            actions.push(Action::ToggleCompact);
        }
    });
}

/// The code(s) to read to the other side: the same on both screens means nobody in the middle.
fn verification(ui: &mut egui::Ui, state: &AppState) {
    let text = match state.verification.len() {
        0 => return,
        1 => format!(
            "verify {}",
            state.verification.values().next().unwrap_or(&String::new())
        ),
        _ => {
            let each: Vec<String> = state
                .verification
                .iter()
                .map(|(peer, code)| format!("{peer} {code}"))
                .collect();
            format!("verify {}", each.join(" · "))
        }
    };
    ui.label(RichText::new(text).monospace()).on_hover_text(
        "Read this to the other side: if they see the same code, your call is encrypted end to \
         end with nobody in the middle (not even the server).",
    );
}

fn controls(
    ui: &mut egui::Ui,
    state: &AppState,
    peer: &str,
    duration: Option<Duration>,
    fields: &mut Fields,
    actions: &mut Vec<Action>,
) {
    ui.add_space(6.0);
    // Wrapped: a narrow window keeps every control on screen.
    ui.horizontal_wrapped(|ui| {
        let mic = if state.mic_muted {
            "Unmute (M)"
        } else {
            "Mute (M)"
        };
        if ui
            .add(egui::Button::new(RichText::new(mic).size(16.0)).selected(state.mic_muted))
            .clicked()
        {
            actions.push(Action::SetMicMuted(!state.mic_muted));
        }
        let camera = if state.camera_off {
            "Camera on (V)"
        } else {
            "Camera off (V)"
        };
        if ui
            .add(egui::Button::new(RichText::new(camera).size(16.0)).selected(state.camera_off))
            .clicked()
        {
            actions.push(Action::SetCameraOff(!state.camera_off));
        }
        let hang_up = egui::Button::new(
            RichText::new("Hang up (Esc)")
                .size(16.0)
                .color(Color32::WHITE),
        )
        .fill(Color32::from_rgb(190, 50, 50));
        if ui.add(hang_up).clicked() {
            actions.push(Action::HangUp);
        }
        share_button(ui, state, fields, actions);
        quality_list(ui, fields, actions);
        if ui
            .add(egui::Button::new("Stats").selected(fields.show_stats))
            .clicked()
        {
            actions.push(Action::ToggleStats);
        }
        if ui
            .add(egui::Button::new("Compact (P)").selected(fields.compact))
            .on_hover_text("a small window that stays on top")
            .clicked()
        {
            actions.push(Action::ToggleCompact);
        }
        ui.separator();
        let time = duration.map_or("connecting".to_string(), |d| {
            let s = d.as_secs();
            format!("{:02}:{:02}", s / 60, s % 60)
        });
        ui.label(RichText::new(format!("{peer} · {time}")).size(16.0));
        let (color, word) = match state.quality() {
            Quality::Good => (Color32::from_rgb(80, 200, 120), "good"),
            Quality::Fair => (Color32::from_rgb(240, 190, 70), "fair"),
            Quality::Poor => (Color32::from_rgb(230, 90, 80), "poor"),
            Quality::Unknown => (Color32::GRAY, "…"),
        };
        super::dot(ui, color);
        ui.label(RichText::new(format!("connection {word}")).color(color))
            .on_hover_text("from round-trip time, loss and frame rate");
        verification(ui, state);
        if !state.reconnecting.is_empty() {
            let who: Vec<&str> = state.reconnecting.iter().map(String::as_str).collect();
            ui.label(
                RichText::new(format!(
                    "reconnecting… (network changed: {})",
                    who.join(", ")
                ))
                .color(Color32::from_rgb(240, 190, 70)),
            );
        }
    });
    // Anyone can be added on a peercall server: a two-party call becomes a room.
    let can_add =
        state.room.is_some() || state.signaling == signaling_client::SignalingKind::Peercall;
    if can_add {
        ui.horizontal(|ui| {
            ui.label(match &state.room {
                Some(room) => format!("Room {room} · add a person:"),
                None => "Add a person:".to_string(),
            });
            ui.add(
                egui::TextEdit::singleline(&mut fields.add_person)
                    .hint_text("their ID")
                    .desired_width(180.0),
            );
            let id = fields.add_person.trim().to_string();
            if ui
                .add_enabled(!id.is_empty(), egui::Button::new("Add"))
                .clicked()
            {
                fields.add_person.clear();
                actions.push(Action::Dial(id));
            }
        });
    }
    ui.horizontal(|ui| {
        let field = ui.add(
            egui::TextEdit::singleline(&mut fields.chat)
                .hint_text("Message")
                .desired_width(ui.available_width() - 80.0),
        );
        let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if (ui.button("Send").clicked() || enter) && !fields.chat.trim().is_empty() {
            actions.push(Action::SendChat(std::mem::take(&mut fields.chat)));
        }
    });
    if let Some(last) = state.chat.back() {
        let who = if last.mine { "you" } else { peer };
        ui.label(RichText::new(format!("{who}: {}", last.text)).weak());
    }
    super::files::show(ui, state, fields, actions);
    super::idle::notices(ui, state);
    ui.add_space(4.0);
}
