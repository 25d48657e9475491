//! Dialling: "Calling bob…" with Cancel; with no server, also the line to copy and a box for
//! the answer.

use egui::RichText;
use signaling_client::SignalingKind;

use super::{centered, Action, Fields};
use crate::ui::state::AppState;

pub fn show(
    ui: &mut egui::Ui,
    state: &AppState,
    fields: &mut Fields,
    peer: &str,
    seconds: u64,
    actions: &mut Vec<Action>,
) {
    let manual = state.signaling == SignalingKind::Manual;
    centered(ui, |ui| {
        ui.label(
            RichText::new(format!("Calling {}…", state.peer_name(peer)))
                .size(28.0)
                .strong(),
        );
        ui.add_space(8.0);
        let waiting = if manual { "waiting" } else { "ringing" };
        ui.label(RichText::new(format!("{waiting} for {seconds} s")).weak());
        ui.add_space(16.0);
        ui.spinner();
        ui.add_space(16.0);
        if manual {
            super::manual::show(ui, state, fields, actions);
            ui.add_space(16.0);
        }
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
