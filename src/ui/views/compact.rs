//! The compact window: a small always-on-top window with the other side's video (a shared screen
//! when there is one) and the call's two buttons, to keep the call in sight while working in
//! other windows. Closing it (or Back) returns to the full window.

use egui::{Color32, RichText, TextureHandle};

use super::Action;
use crate::ui::state::AppState;

/// Its title: the test finds the window by it.
pub const TITLE: &str = "peercall (compact)";
pub const SIZE: [f32; 2] = [360.0, 300.0];

pub fn show(
    ui: &mut egui::Ui,
    state: &AppState,
    peer: &str,
    video: Option<&TextureHandle>,
    actions: &mut Vec<Action>,
) {
    egui::Panel::bottom("compact-controls").show(ui, |ui| {
        ui.horizontal(|ui| {
            let mic = if state.mic_muted { "Unmute" } else { "Mute" };
            if ui
                .add(egui::Button::new(mic).selected(state.mic_muted))
                .clicked()
            {
                actions.push(Action::SetMicMuted(!state.mic_muted));
            }
            let hang_up = egui::Button::new(RichText::new("Hang up").color(Color32::WHITE))
                .fill(Color32::from_rgb(190, 50, 50));
            if ui.add(hang_up).clicked() {
                actions.push(Action::HangUp);
            }
            if ui.button("Back").on_hover_text("the full window").clicked() {
                actions.push(Action::ToggleCompact);
            }
            ui.label(peer);
        });
    });
    egui::CentralPanel::no_frame().show(ui, |ui| {
        let area = ui.max_rect();
        ui.painter().rect_filled(area, 0.0, Color32::BLACK);
        match video {
            Some(texture) => {
                let rect = super::in_call::fit(texture.size_vec2(), area);
                ui.painter()
                    .image(texture.id(), rect, super::in_call::FULL_UV, Color32::WHITE);
                super::in_call::log_video_rect(ui, rect, &format!("compact {peer}"));
            }
            None => {
                ui.painter().text(
                    area.center(),
                    egui::Align2::CENTER_CENTER,
                    format!("Waiting for {peer}'s video…"),
                    egui::FontId::proportional(16.0),
                    Color32::LIGHT_GRAY,
                );
            }
        }
    });
}
