//! Files in a call: send one (a path, or files dropped on the window), answer what others offer,
//! and follow each transfer (a progress bar with speed and time left; where it was saved).

use std::path::PathBuf;

use egui::{Color32, RichText};

use super::{Action, Fields};
use crate::call::Direction;
use crate::ui::files::{size_in_words, Transfer, TransferState};
use crate::ui::state::AppState;

pub fn show(ui: &mut egui::Ui, state: &AppState, fields: &mut Fields, actions: &mut Vec<Action>) {
    dropped(ui, actions);
    ui.horizontal(|ui| {
        let label = ui.label("Send a file:");
        let field = ui
            .add(
                egui::TextEdit::singleline(&mut fields.send_path)
                    .hint_text("its path, or drop files on the window")
                    .desired_width(ui.available_width() - 80.0),
            )
            .labelled_by(label.id);
        let path = fields.send_path.trim().to_string();
        let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let send = ui.add_enabled(!path.is_empty(), egui::Button::new("Send file"));
        if (send.clicked() || enter) && !path.is_empty() {
            fields.send_path.clear();
            actions.push(Action::SendFile(PathBuf::from(path)));
        }
    });
    for transfer in &state.files.transfers {
        ui.horizontal(|ui| line(ui, transfer, actions));
    }
}

/// Files dropped on the window go to everyone in the call.
fn dropped(ui: &egui::Ui, actions: &mut Vec<Action>) {
    let paths: Vec<PathBuf> = ui.input(|i| {
        i.raw
            .dropped_files
            .iter()
            .map(|f| f.path().to_path_buf())
            .filter(|p| !p.as_os_str().is_empty())
            .collect()
    });
    actions.extend(paths.into_iter().map(Action::SendFile));
}

fn line(ui: &mut egui::Ui, t: &Transfer, actions: &mut Vec<Action>) {
    let size = size_in_words(t.size);
    let to_or_from = match t.direction {
        Direction::Sending => format!("to {}", t.peer),
        Direction::Receiving => format!("from {}", t.peer),
    };
    ui.label(format!("{} ({size}) {to_or_from}", t.name));
    match &t.state {
        TransferState::Offered => {
            if ui.button("Accept").clicked() {
                actions.push(Action::AcceptFile(t.id.clone()));
            }
            if ui.button("Decline").clicked() {
                actions.push(Action::DeclineFile(t.id.clone()));
            }
        }
        TransferState::Offering => {
            ui.label(RichText::new(format!("waiting for {} to accept", t.peer)).weak());
            cancel(ui, t, actions);
        }
        TransferState::Moving => {
            let done = if t.size == 0 {
                1.0
            } else {
                t.bytes as f32 / t.size as f32
            };
            let mut text = format!("{} of {size}", size_in_words(t.bytes));
            if t.rate > 0.0 {
                text.push_str(&format!(" · {}/s", size_in_words(t.rate as u64)));
            }
            if let Some(left) = t.time_left() {
                text.push_str(&format!(" · {} s left", left.as_secs().max(1)));
            }
            ui.add(egui::ProgressBar::new(done).text(text).desired_width(260.0));
            cancel(ui, t, actions);
        }
        TransferState::Done { path } => {
            let text = match (t.direction, path) {
                (Direction::Receiving, Some(path)) => format!("saved as {}", path.display()),
                _ => "sent".to_string(),
            };
            ui.label(RichText::new(text).color(Color32::from_rgb(80, 200, 120)));
        }
        TransferState::Stopped(why) => {
            ui.label(RichText::new(why.to_string()).color(Color32::from_rgb(230, 90, 80)));
        }
    }
}

fn cancel(ui: &mut egui::Ui, t: &Transfer, actions: &mut Vec<Action>) {
    if ui.button("Cancel").clicked() {
        actions.push(Action::CancelFile(t.id.clone()));
    }
}
