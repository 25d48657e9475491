//! Dialling: "Calling bob…" with Cancel.

use egui::RichText;

use super::{centered, Action};

pub fn show(ui: &mut egui::Ui, peer: &str, seconds: u64, actions: &mut Vec<Action>) {
    centered(ui, |ui| {
        ui.label(
            RichText::new(format!("Calling {peer}…"))
                .size(28.0)
                .strong(),
        );
        ui.add_space(8.0);
        ui.label(RichText::new(format!("ringing for {seconds} s")).weak());
        ui.add_space(16.0);
        ui.spinner();
        ui.add_space(16.0);
        if ui
            .add(
                egui::Button::new(RichText::new("Cancel").size(18.0))
                    .min_size(egui::vec2(120.0, 36.0)),
            )
            .clicked()
        {
            actions.push(Action::HangUp);
        }
    });
}
