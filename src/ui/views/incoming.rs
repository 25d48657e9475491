//! Someone is calling: Accept or Decline.

use egui::{Color32, RichText};

use super::{centered, Action};

pub fn show(ui: &mut egui::Ui, peer: &str, actions: &mut Vec<Action>) {
    centered(ui, |ui| {
        ui.label(
            RichText::new(format!("{peer} is calling"))
                .size(30.0)
                .strong(),
        );
        ui.add_space(24.0);
        ui.horizontal(|ui| {
            let width = 2.0 * 140.0 + ui.spacing().item_spacing.x;
            ui.add_space(((ui.available_width() - width) / 2.0).max(0.0));
            let accept =
                egui::Button::new(RichText::new("Accept").size(20.0).color(Color32::WHITE))
                    .fill(Color32::from_rgb(40, 150, 70))
                    .min_size(egui::vec2(140.0, 44.0));
            if ui.add(accept).clicked() {
                actions.push(Action::Accept);
            }
            let decline =
                egui::Button::new(RichText::new("Decline").size(20.0).color(Color32::WHITE))
                    .fill(Color32::from_rgb(190, 50, 50))
                    .min_size(egui::vec2(140.0, 44.0));
            if ui.add(decline).clicked() {
                actions.push(Action::Decline);
            }
        });
    });
}
