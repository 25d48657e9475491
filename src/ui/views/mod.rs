//! The window's views, one file each. A view draws from the state and returns what the user
//! asked for as [`Action`]s; it changes nothing itself.

pub mod calling;
pub mod header;
pub mod idle;
pub mod in_call;
pub mod incoming;
pub mod manual;
pub mod settings;
pub mod stats;

use super::settings::Settings;

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A two-party call; in a room, an invitation into it (Add person).
    Dial(String),
    JoinRoom(String),
    Accept,
    Decline,
    HangUp,
    SetMicMuted(bool),
    SetCameraOff(bool),
    SendChat(String),
    Retry,
    CopyId,
    /// Copy-paste signaling: copy our line; take the line the other side sent.
    CopyLine,
    Paste(String),
    OpenSettings,
    SaveSettings(Box<Settings>),
    CloseSettings,
    ToggleStats,
}

/// Text the user is typing, kept between frames.
#[derive(Debug, Default)]
pub struct Fields {
    pub dial: String,
    pub chat: String,
    /// A line from the other side, being pasted (copy-paste signaling).
    pub paste: String,
    /// The room to join, and the ID to add to the room, being typed.
    pub room: String,
    pub add_person: String,
    /// An edited copy of the settings while their window is open.
    pub settings: Option<Settings>,
    pub show_stats: bool,
    /// Devices found when the settings window opened.
    pub devices: Devices,
}

/// Device names to offer in the settings window.
#[derive(Debug, Default, Clone)]
pub struct Devices {
    pub cameras: Vec<String>,
    pub microphones: Vec<String>,
    pub speakers: Vec<String>,
}

/// A centred column for the calling and incoming panels.
pub fn centered(ui: &mut egui::Ui, add: impl FnOnce(&mut egui::Ui)) {
    ui.vertical_centered(|ui| {
        ui.add_space((ui.available_height() / 3.0).max(20.0));
        add(ui);
    });
}

/// A small filled circle: a status light.
pub fn dot(ui: &mut egui::Ui, color: egui::Color32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
    ui.painter().circle_filled(rect.center(), 5.0, color);
}
