//! Not in a call: who is online, and a field to dial (a peer ID, a call code, a room or an
//! account, as the signaling server has it); with no server, the line to paste.

use egui::RichText;
use signaling_client::SignalingKind;

use super::{Action, Fields};
use crate::ui::recents::{self, Way};
use crate::ui::state::{AppState, Connection};

pub fn show(
    ui: &mut egui::Ui,
    state: &AppState,
    self_view: Option<&egui::TextureHandle>,
    fields: &mut Fields,
    actions: &mut Vec<Action>,
) {
    ui.add_space(12.0);
    // A missed call has its own line below, until seen.
    let missed_shown = state.recents.unseen_missed().next().is_some();
    if let Some(outcome) = state
        .outcome
        .as_ref()
        .filter(|o| !(missed_shown && o.starts_with("Missed call")))
    {
        ui.label(RichText::new(outcome).size(16.0).italics());
        ui.add_space(8.0);
    }
    let online = state.connection == Connection::Online;
    missed_calls(ui, state, online, actions);
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
        contacts(ui, state, fields, online, actions);
        ui.add_space(16.0);
        ui.label(RichText::new(heading).strong());
        ui.separator();
        let others: Vec<&String> = state
            .peers
            .iter()
            .filter(|p| !state.contacts.is_starred(p))
            .collect();
        if others.is_empty() {
            ui.label(RichText::new("Nobody else is here yet.").weak());
        }
        egui::ScrollArea::vertical().show(ui, |ui| {
            for peer in others {
                ui.horizontal(|ui| {
                    ui.label(RichText::new(peer).monospace().size(16.0));
                    if ui.add_enabled(online, egui::Button::new("Call")).clicked() {
                        actions.push(Action::Dial(peer.clone()));
                    }
                    if ui
                        .button("Star")
                        .on_hover_text("Keep them in your contacts")
                        .clicked()
                    {
                        actions.push(Action::StarContact(peer.clone()));
                    }
                });
            }
        });
    }
    recent_calls(ui, state, online, actions);
    ui.add_space(12.0);
    preview(ui, state, self_view, actions);
    let mut dnd = state.do_not_disturb;
    if ui
        .checkbox(&mut dnd, "Do not disturb")
        .on_hover_text("Calls are answered busy and listed as missed.")
        .changed()
    {
        actions.push(Action::SetDoNotDisturb(dnd));
    }
    notices(ui, state);
}

/// Check the camera and microphone before calling: the picture, and the level as a meter.
fn preview(
    ui: &mut egui::Ui,
    state: &AppState,
    self_view: Option<&egui::TextureHandle>,
    actions: &mut Vec<Action>,
) {
    let mut on = state.preview_on;
    ui.horizontal(|ui| {
        if ui
            .checkbox(&mut on, "Check camera and microphone")
            .changed()
        {
            actions.push(Action::SetPreview(on));
        }
        if ui
            .button("Test speaker")
            .on_hover_text("a short chime through the speaker chosen in Settings")
            .clicked()
        {
            actions.push(Action::TestSpeaker);
        }
    });
    if !state.preview_on {
        return;
    }
    ui.horizontal(|ui| {
        if let Some(texture) = self_view {
            let size = texture.size_vec2();
            let scale = (240.0 / size.x).min(180.0 / size.y);
            let shown = ui.image((texture.id(), size * scale));
            super::in_call::log_video_rect(ui, shown.rect, "preview");
        }
        ui.vertical(|ui| {
            ui.label("Microphone");
            let (fill, text) = match state.mic_level_dbfs {
                // -60 dBFS (silence) to 0 dBFS (as loud as it gets).
                Some(db) => (
                    ((db + 60.0) / 60.0).clamp(0.0, 1.0),
                    format!("{db:.0} dBFS"),
                ),
                None => (0.0, "no sound yet".to_string()),
            };
            ui.add(egui::ProgressBar::new(fill).text(text).desired_width(180.0));
        });
    });
}

/// Starred people first, each with whether they are online, a name the user gave them, and a
/// button to call.
fn contacts(
    ui: &mut egui::Ui,
    state: &AppState,
    fields: &mut Fields,
    online: bool,
    actions: &mut Vec<Action>,
) {
    if state.contacts.list.is_empty() {
        return;
    }
    ui.add_space(16.0);
    ui.label(RichText::new("Contacts").strong());
    ui.separator();
    for contact in &state.contacts.list {
        let here = state.peers.contains(&contact.id);
        ui.horizontal(|ui| {
            let (color, word) = if here {
                (egui::Color32::from_rgb(80, 200, 120), "online")
            } else {
                (egui::Color32::GRAY, "offline")
            };
            super::dot(ui, color);
            match &mut fields.renaming {
                Some((id, name)) if *id == contact.id => {
                    let label = ui.label("Name:");
                    let field = ui
                        .add(
                            egui::TextEdit::singleline(name)
                                .hint_text(contact.id.as_str())
                                .desired_width(160.0),
                        )
                        .labelled_by(label.id);
                    let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    if ui.button("Save name").clicked() || enter {
                        actions.push(Action::RenameContact(id.clone(), name.clone()));
                        fields.renaming = None;
                    }
                }
                _ => {
                    ui.label(RichText::new(contact.shown_name()).strong().size(16.0));
                    if !contact.name.is_empty() {
                        ui.label(RichText::new(&contact.id).monospace().weak());
                    }
                    ui.label(RichText::new(word).color(color));
                    if ui.add_enabled(online, egui::Button::new("Call")).clicked() {
                        actions.push(Action::Dial(contact.id.clone()));
                    }
                    if ui.button("Rename").clicked() {
                        fields.renaming = Some((contact.id.clone(), contact.name.clone()));
                    }
                    if ui.button("Unstar").clicked() {
                        actions.push(Action::UnstarContact(contact.id.clone()));
                    }
                }
            }
        });
    }
}

/// Missed calls stay here until seen: dismissed, or called back.
fn missed_calls(ui: &mut egui::Ui, state: &AppState, online: bool, actions: &mut Vec<Action>) {
    let mut who: Vec<&str> = Vec::new();
    let mut first = None;
    for r in state.recents.unseen_missed() {
        let name = state
            .contacts
            .get(&r.peer)
            .map_or(r.peer.as_str(), |c| c.shown_name());
        if !who.contains(&name) {
            who.push(name);
        }
        first.get_or_insert_with(|| r.peer.clone());
    }
    let Some(first) = first else {
        return;
    };
    ui.horizontal(|ui| {
        ui.label(
            RichText::new(format!("Missed call from {}", who.join(", ")))
                .strong()
                .color(egui::Color32::from_rgb(230, 90, 80)),
        );
        if ui
            .add_enabled(online, egui::Button::new("Call back"))
            .clicked()
        {
            actions.push(Action::Dial(first));
            actions.push(Action::MarkMissedSeen);
        }
        if ui.button("Dismiss").clicked() {
            actions.push(Action::MarkMissedSeen);
        }
    });
    ui.add_space(8.0);
}

/// The last calls, newest first, each with a button to call again.
fn recent_calls(ui: &mut egui::Ui, state: &AppState, online: bool, actions: &mut Vec<Action>) {
    if state.recents.entries.is_empty() {
        return;
    }
    ui.add_space(16.0);
    ui.label(RichText::new("Recent calls").strong());
    ui.separator();
    let now = recents::now_unix();
    for r in state.recents.entries.iter().take(10) {
        ui.horizontal(|ui| {
            let who = state
                .contacts
                .get(&r.peer)
                .map_or(r.peer.as_str(), |c| c.shown_name());
            ui.label(RichText::new(who).monospace());
            let way = match (r.way, r.secs) {
                (Way::Outgoing, Some(s)) => format!("outgoing, {}", recents::length(s)),
                (Way::Outgoing, None) => "outgoing, not answered".to_string(),
                (Way::Incoming, Some(s)) => format!("incoming, {}", recents::length(s)),
                (Way::Incoming, None) => "incoming".to_string(),
                (Way::Missed, _) => "missed".to_string(),
                (Way::Declined, _) => "declined".to_string(),
            };
            let text = RichText::new(way);
            ui.label(if r.way == Way::Missed {
                text.color(egui::Color32::from_rgb(230, 90, 80))
            } else {
                text
            });
            ui.label(RichText::new(recents::ago(r.at_unix, now)).weak());
            let again = egui::Button::new("Call again");
            if ui.add_enabled(online, again).clicked() {
                actions.push(Action::Dial(r.peer.clone()));
            }
        });
    }
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
