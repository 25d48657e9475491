//! Not in a call: who is online, and a field to dial any ID.

use egui::RichText;

use super::{Action, Fields};
use crate::ui::state::{AppState, Connection};

pub fn show(ui: &mut egui::Ui, state: &AppState, fields: &mut Fields, actions: &mut Vec<Action>) {
    ui.add_space(12.0);
    if let Some(outcome) = &state.outcome {
        ui.label(RichText::new(outcome).size(16.0).italics());
        ui.add_space(8.0);
    }
    let online = state.connection == Connection::Online;
    ui.horizontal(|ui| {
        ui.label("Call a peer ID:");
        let field = ui.add(
            egui::TextEdit::singleline(&mut fields.dial)
                .hint_text("e.g. brave-otter-42")
                .desired_width(220.0),
        );
        // Enter dials (a single-line field gives up its focus on Enter).
        let enter = (field.lost_focus() || field.has_focus())
            && ui.input(|i| i.key_pressed(egui::Key::Enter));
        // Typing goes to the field from the start.
        if !enter && !field.has_focus() && ui.memory(|m| m.focused().is_none()) {
            field.request_focus();
        }
        let peer = fields.dial.trim().to_string();
        let clicked = ui
            .add_enabled(online && !peer.is_empty(), egui::Button::new("Call"))
            .clicked();
        if (clicked || enter) && online && !peer.is_empty() {
            actions.push(Action::Dial(peer));
        }
    });
    ui.add_space(16.0);
    ui.label(RichText::new("Online now").strong());
    ui.separator();
    if state.peers.is_empty() {
        ui.label(RichText::new("Nobody else is online yet.").weak());
    }
    egui::ScrollArea::vertical().show(ui, |ui| {
        for peer in &state.peers {
            ui.horizontal(|ui| {
                ui.label(RichText::new(peer).monospace().size(16.0));
                if ui.add_enabled(online, egui::Button::new("Call")).clicked() {
                    actions.push(Action::Dial(peer.clone()));
                }
            });
        }
    });
    notices(ui, state);
}

pub fn notices(ui: &mut egui::Ui, state: &AppState) {
    if state.notices.is_empty() {
        return;
    }
    ui.add_space(12.0);
    for notice in &state.notices {
        ui.label(RichText::new(notice).color(egui::Color32::from_rgb(230, 180, 60)));
    }
}
