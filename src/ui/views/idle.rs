//! Not in a call: who is online, and a field to dial (a peer ID, a call code, a room or an
//! account, as the signaling server has it); with no server, the line to paste.

use egui::RichText;
use signaling_client::SignalingKind;

use super::{Action, Fields};
use crate::ui::state::{AppState, Connection};

pub fn show(ui: &mut egui::Ui, state: &AppState, fields: &mut Fields, actions: &mut Vec<Action>) {
    ui.add_space(12.0);
    if let Some(outcome) = &state.outcome {
        ui.label(RichText::new(outcome).size(16.0).italics());
        ui.add_space(8.0);
    }
    let online = state.connection == Connection::Online;
    if state.signaling == SignalingKind::Manual {
        no_server(ui, state, fields, actions, online);
        notices(ui, state);
        return;
    }
    if state.signaling != SignalingKind::SocketIoMesh {
        dial_field(ui, state.signaling, fields, actions, online);
    }
    if state.signaling.has_rooms() {
        room_field(ui, fields, actions, online);
    }
    if let Some(heading) = presence_heading(state.signaling) {
        ui.add_space(16.0);
        ui.label(RichText::new(heading).strong());
        ui.separator();
        if state.peers.is_empty() {
            ui.label(RichText::new("Nobody else is here yet.").weak());
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
    }
    notices(ui, state);
}

/// What the dial field asks for, and an example.
fn dial_prompt(kind: SignalingKind) -> (&'static str, &'static str) {
    match kind {
        SignalingKind::CallCode => ("Call code:", "the same code on both sides"),
        SignalingKind::SocketIoRoom => ("Room:", "the same room on both sides"),
        SignalingKind::SocketIo1v1 => ("Call an account:", "an account in the room"),
        _ => ("Call a peer ID:", "e.g. brave-otter-42"),
    }
}

/// Servers that say who is there have a list; the others do not.
fn presence_heading(kind: SignalingKind) -> Option<&'static str> {
    match kind {
        SignalingKind::Peercall => Some("Online now"),
        SignalingKind::SocketIo1v1 => Some("In the room"),
        _ => None,
    }
}

fn dial_field(
    ui: &mut egui::Ui,
    kind: SignalingKind,
    fields: &mut Fields,
    actions: &mut Vec<Action>,
    online: bool,
) {
    let (prompt, example) = dial_prompt(kind);
    ui.horizontal(|ui| {
        let label = ui.label(prompt);
        let field = ui
            .add(
                egui::TextEdit::singleline(&mut fields.dial)
                    .hint_text(example)
                    .desired_width(220.0),
            )
            .labelled_by(label.id);
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
}

/// A group call: join (or open) a room by name; whoever else joins it is in the call.
fn room_field(ui: &mut egui::Ui, fields: &mut Fields, actions: &mut Vec<Action>, online: bool) {
    ui.horizontal(|ui| {
        let label = ui.label("Join a room:");
        ui.add(
            egui::TextEdit::singleline(&mut fields.room)
                .hint_text("e.g. standup")
                .desired_width(220.0),
        )
        .labelled_by(label.id);
        let room = fields.room.trim().to_string();
        if ui
            .add_enabled(online && !room.is_empty(), egui::Button::new("Join"))
            .clicked()
        {
            actions.push(Action::JoinRoom(room));
        }
    });
}

fn no_server(
    ui: &mut egui::Ui,
    state: &AppState,
    fields: &mut Fields,
    actions: &mut Vec<Action>,
    online: bool,
) {
    ui.label("No server: start a call and send your line to the other side, or paste theirs.");
    ui.add_space(8.0);
    if ui
        .add_enabled(online, egui::Button::new("Start a call"))
        .clicked()
    {
        actions.push(Action::Dial(signaling_client::manual::OTHER_SIDE.into()));
    }
    ui.add_space(16.0);
    super::manual::show(ui, state, fields, actions);
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
