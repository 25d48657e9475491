//! The settings window: ID, signaling (kind, server, room, which certificate to trust), devices
//! (each with "none"; camera and microphone also a synthetic test source), ICE servers. Edits a
//! copy; Save hands it back.

use crate::call::VideoQuality;
use egui::RichText;
use signaling_client::SignalingKind;

use super::{Action, Devices, Fields};
use crate::ui::settings::Settings;

pub fn show(ctx: &egui::Context, fields: &mut Fields, actions: &mut Vec<Action>) {
    let Some(draft) = fields.settings.as_mut() else {
        return;
    };
    let mut open = true;
    egui::Window::new("Settings")
        .open(&mut open)
        .collapsible(false)
        .resizable(true)
        .default_width(460.0)
        .show(ctx, |ui| form(ui, draft, &fields.devices, actions));
    if !open {
        actions.push(Action::CloseSettings);
    }
}

fn form(ui: &mut egui::Ui, draft: &mut Settings, devices: &Devices, actions: &mut Vec<Action>) {
    egui::Grid::new("settings-grid")
        .num_columns(2)
        .spacing([12.0, 8.0])
        .show(ui, |ui| {
            ui.label("Your ID");
            ui.add(egui::TextEdit::singleline(&mut draft.id).hint_text("chosen by the server"));
            ui.end_row();
            let label = ui.label("Signaling");
            let kinds: Vec<(String, String)> = SignalingKind::ALL
                .iter()
                .map(|k| (k.name().to_string(), kind_label(*k).to_string()))
                .collect();
            choice(ui, "signaling", &mut draft.signaling, &kinds).labelled_by(label.id);
            ui.end_row();
            let kind = draft.signaling_kind().unwrap_or_default();
            if kind.has_server() {
                let label = ui.label("Server");
                ui.add(egui::TextEdit::singleline(&mut draft.server).hint_text(server_hint(kind)))
                    .labelled_by(label.id);
                ui.end_row();
            }
            if kind == SignalingKind::SocketIo1v1 {
                let label = ui.label("Room");
                ui.add(
                    egui::TextEdit::singleline(&mut draft.room)
                        .hint_text("the room whose user list you join"),
                )
                .labelled_by(label.id);
                ui.end_row();
            }
            ui.label("");
            ui.checkbox(
                &mut draft.accept_self_signed,
                "Trust the server's self-signed certificate",
            );
            ui.end_row();
            let label = ui.label("Or only this certificate");
            ui.add(
                egui::TextEdit::singleline(&mut draft.pinned_certificate)
                    .hint_text("its SHA-256 fingerprint, as `peercall serve` prints it")
                    .desired_width(280.0),
            )
            .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Camera");
            let mut cameras = vec![
                ("none".to_string(), "None".to_string()),
                (
                    "synthetic:640x480@30".to_string(),
                    "Test pattern".to_string(),
                ),
                ("camera".to_string(), "Default camera".to_string()),
            ];
            cameras.extend(
                devices
                    .cameras
                    .iter()
                    .enumerate()
                    .map(|(i, name)| (format!("camera:{i}"), name.clone())),
            );
            choice(ui, "camera", &mut draft.camera, &cameras).labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Microphone");
            let mut mics = vec![
                ("none".to_string(), "None".to_string()),
                (
                    "synthetic:440".to_string(),
                    "Test tone (440 Hz)".to_string(),
                ),
                ("mic".to_string(), "Default microphone".to_string()),
            ];
            mics.extend(
                devices
                    .microphones
                    .iter()
                    .map(|n| (format!("mic:{n}"), n.clone())),
            );
            choice(ui, "microphone", &mut draft.microphone, &mics).labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Speaker");
            let mut speakers = vec![
                ("none".to_string(), "None".to_string()),
                ("speaker".to_string(), "Default speaker".to_string()),
            ];
            speakers.extend(
                devices
                    .speakers
                    .iter()
                    .map(|n| (format!("speaker:{n}"), n.clone())),
            );
            choice(ui, "speaker", &mut draft.speaker, &speakers).labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Video quality");
            let qualities: Vec<(String, String)> = VideoQuality::CHOICES
                .iter()
                .map(|q| (q.to_string(), quality_name(*q)))
                .collect();
            choice(ui, "video-quality", &mut draft.video_quality, &qualities).labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Ringtone volume");
            ui.add(egui::Slider::new(&mut draft.ring_volume, 0..=100).suffix(" %"))
                .labelled_by(label.id);
            ui.end_row();
        });
    ui.add_space(8.0);
    ui.label("STUN / TURN servers, separated by spaces (turn:user:password@host:port)");
    let mut text = draft.ice_servers.join(" ");
    if ui
        .add(
            egui::TextEdit::singleline(&mut text)
                .hint_text("none: direct connections only")
                .desired_width(f32::INFINITY),
        )
        .changed()
    {
        draft.ice_servers = text.split_whitespace().map(str::to_string).collect();
    }
    ui.checkbox(
        &mut draft.relay_only,
        "Hide my IP address (media only through a TURN server)",
    );
    ui.horizontal_wrapped(|ui| {
        ui.label("Microphone:");
        ui.checkbox(&mut draft.echo_cancellation, "Echo cancellation");
        ui.checkbox(&mut draft.noise_suppression, "Noise suppression");
        ui.checkbox(&mut draft.gain_control, "Automatic gain");
    });
    let problems = draft.problems();
    for p in &problems {
        ui.label(RichText::new(p).color(egui::Color32::from_rgb(230, 90, 80)));
    }
    ui.add_space(8.0);
    ui.horizontal(|ui| {
        if ui
            .add_enabled(problems.is_empty(), egui::Button::new("Save"))
            .clicked()
        {
            actions.push(Action::SaveSettings(Box::new(draft.clone())));
        }
        if ui.button("Cancel").clicked() {
            actions.push(Action::CloseSettings);
        }
    });
}

/// How each kind of signaling reads in the drop-down.
fn kind_label(kind: SignalingKind) -> &'static str {
    match kind {
        SignalingKind::Peercall => "peercall server (peer IDs)",
        SignalingKind::CallCode => "HTTP call-code server (webrtc-call)",
        SignalingKind::SocketIoRoom => "socket.io rooms of two",
        SignalingKind::SocketIo1v1 => "socket.io 1-to-1 with a user list",
        SignalingKind::SocketIoMesh => "socket.io mesh rooms",
        SignalingKind::Manual => "No server: copy a line each way",
    }
}

fn server_hint(kind: SignalingKind) -> &'static str {
    match kind {
        SignalingKind::Peercall => "this computer (ws://127.0.0.1:8480/ws)",
        SignalingKind::CallCode => "http(s)://HOST/APP",
        _ => "http(s)://HOST:PORT",
    }
}

/// A drop-down over (value, label) pairs; a value not listed is shown as it is.
fn choice(
    ui: &mut egui::Ui,
    id: &str,
    value: &mut String,
    options: &[(String, String)],
) -> egui::Response {
    let label = options
        .iter()
        .find(|(v, _)| v == value)
        .map_or(value.clone(), |(_, l)| l.clone());
    egui::ComboBox::from_id_salt(id)
        .selected_text(label)
        .width(280.0)
        .show_ui(ui, |ui| {
            for (v, l) in options {
                ui.selectable_value(value, v.clone(), l);
            }
        })
        .response
}

/// `720p, 30 fps`: what people read in the quality lists.
pub fn quality_name(quality: VideoQuality) -> String {
    format!("{}p, {} fps", quality.height, quality.fps)
}
