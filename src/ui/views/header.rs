//! The top bar: who we are, which server, what a browser on the LAN should open.

use egui::RichText;
use signaling_client::SignalingKind;

use super::Action;
use crate::ui::state::{AppState, Connection};

pub fn show(ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
    ui.horizontal(|ui| {
        ui.heading("peercall");
        ui.separator();
        match &state.my_id {
            Some(id) => {
                ui.label("Your ID:");
                ui.label(RichText::new(id).strong().monospace().size(18.0));
                if ui.button("Copy").on_hover_text("Copy your ID").clicked() {
                    actions.push(Action::CopyId);
                }
            }
            None => {
                ui.label("Your ID: …");
            }
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui.button("Settings").clicked() {
                actions.push(Action::OpenSettings);
            }
            connection(ui, state, actions);
        });
    });
    ui.horizontal_wrapped(|ui| {
        let server = match state.signaling {
            SignalingKind::Manual => {
                "No server: calls are set up by copying a line each way".into()
            }
            SignalingKind::Peercall if state.embedded_server => {
                format!("Server: {} (running in this app)", state.server)
            }
            SignalingKind::Peercall => format!("Server: {}", state.server),
            kind => format!("Server: {} ({kind})", state.server),
        };
        ui.label(RichText::new(server).weak());
        if !state.lan_urls.is_empty() {
            ui.separator();
            ui.label(RichText::new("Browsers on your network can open").weak());
            for url in &state.lan_urls {
                ui.label(RichText::new(url).monospace());
            }
            if let Some(fingerprint) = &state.lan_fingerprint {
                ui.label(RichText::new(format!("certificate SHA-256 {fingerprint}")).weak())
                    .on_hover_text(
                        "The browser warns about this self-signed certificate: accept it if the \
                         fingerprint it shows is this one.",
                    );
            }
        }
    });
}

fn connection(ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
    match &state.connection {
        Connection::Connecting => {
            ui.spinner();
            ui.label("Connecting…");
        }
        Connection::Online => {
            let green = egui::Color32::from_rgb(80, 200, 120);
            ui.label(RichText::new("Online").color(green));
            super::dot(ui, green);
        }
        Connection::Offline { reason, retrying } => {
            if !retrying && ui.button("Retry").clicked() {
                actions.push(Action::Retry);
            }
            let text = if *retrying {
                "Reconnecting…"
            } else {
                "Server unreachable"
            };
            let red = egui::Color32::from_rgb(230, 90, 80);
            ui.label(RichText::new(text).color(red))
                .on_hover_text(reason);
            super::dot(ui, red);
        }
    }
}
