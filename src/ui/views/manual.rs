//! No server: the line to send to the other side (with Copy), and a box for theirs.

use egui::RichText;

use super::{Action, Fields};
use crate::ui::state::{AppState, CallView};

/// The part of the idle, calling and connecting views that copy-paste signaling adds.
pub fn show(ui: &mut egui::Ui, state: &AppState, fields: &mut Fields, actions: &mut Vec<Action>) {
    let width = ui.available_width().min(640.0);
    if let Some(line) = &state.manual_line {
        ui.label(RichText::new("Send this line to the other side (a chat, a mail):").strong());
        egui::ScrollArea::vertical()
            .id_salt("our-line")
            .max_height(72.0)
            .show(ui, |ui| {
                let mut shown = line.as_str();
                ui.add(
                    egui::TextEdit::multiline(&mut shown)
                        .font(egui::TextStyle::Monospace)
                        .desired_width(width)
                        .desired_rows(3),
                );
            });
        if ui.button("Copy line").clicked() {
            actions.push(Action::CopyLine);
        }
        ui.add_space(12.0);
    }
    let prompt = match &state.call {
        CallView::Idle => "Got a line from someone? Paste it here to take their call:",
        CallView::Calling { .. } if state.manual_line.is_some() => {
            "Then paste the line they send back:"
        }
        _ => return,
    };
    ui.label(prompt);
    ui.add(
        egui::TextEdit::multiline(&mut fields.paste)
            .hint_text("peercall-offer:… or peercall-answer:…")
            .font(egui::TextStyle::Monospace)
            .desired_width(width)
            .desired_rows(3),
    );
    let text = fields.paste.trim().to_string();
    if ui
        .add_enabled(!text.is_empty(), egui::Button::new("Use line"))
        .clicked()
    {
        fields.paste.clear();
        actions.push(Action::Paste(text));
    }
    if let Some(problem) = &state.paste_problem {
        ui.label(RichText::new(problem).color(egui::Color32::from_rgb(230, 90, 80)));
    }
}
