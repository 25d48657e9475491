//! In a call: the remote video fills the window (keeping its aspect ratio), the self-view sits in
//! a corner, and the controls (microphone M, camera V, hang up Esc) run along the bottom.

use std::time::Duration;

use egui::{Align2, Color32, FontId, Rect, RichText, TextureHandle};

use super::{Action, Fields};
use crate::ui::state::{AppState, Quality};

pub struct Videos<'a> {
    /// Each other person's video, in the order they came.
    pub remotes: Vec<RemoteVideo<'a>>,
    pub local: Option<&'a TextureHandle>,
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
        ui.painter().rect_filled(area, 0.0, Color32::BLACK);
        let video_area = if videos.remotes.len() > 1 {
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

const FULL_UV: Rect = Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));

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
fn log_video_rect(ui: &egui::Ui, rect: Rect, peer: &str) {
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
    });
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
    ui.horizontal(|ui| {
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
        if ui
            .add(egui::Button::new("Stats").selected(fields.show_stats))
            .clicked()
        {
            actions.push(Action::ToggleStats);
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
    super::idle::notices(ui, state);
    ui.add_space(4.0);
}
