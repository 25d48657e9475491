//! The window's views, one file each. A view draws from the state and returns what the user
//! asked for as [`Action`]s; it changes nothing itself.

pub mod calling;
pub mod compact;
pub mod files;
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
    /// Offer this file to everyone in the call; answer or stop a transfer (by its ID).
    SendFile(std::path::PathBuf),
    AcceptFile(String),
    DeclineFile(String),
    CancelFile(String),
    /// Share this session's screen (or one monitor of it, by name) with everyone in the call,
    /// and stop.
    ShareScreen(Option<String>),
    StopSharing,
    Retry,
    SetDoNotDisturb(bool),
    /// Show the camera and the microphone's level on the main screen (or stop).
    SetPreview(bool),
    /// Play a short chime through the chosen speaker.
    TestSpeaker,
    /// The most our camera sends, from now on (kept in the settings).
    SetVideoQuality(crate::call::VideoQuality),
    /// Contacts: star a peer ID, name it, or forget it.
    StarContact(String),
    RenameContact(String, String),
    UnstarContact(String),
    /// The missed calls were seen (dismissed, or called back).
    MarkMissedSeen,
    CopyId,
    /// Copy-paste signaling: copy our line; take the line the other side sent.
    CopyLine,
    Paste(String),
    OpenSettings,
    SaveSettings(Box<Settings>),
    CloseSettings,
    ToggleStats,
    /// The window full screen, or back (double-click the video; F11).
    ToggleFullscreen,
    /// The compact always-on-top window, or back to the full one (P).
    ToggleCompact,
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
    /// The path of a file to send, being typed.
    pub send_path: String,
    /// A contact being renamed: their ID and the name being typed.
    pub renaming: Option<(String, String)>,
    /// An edited copy of the settings while their window is open.
    pub settings: Option<Settings>,
    pub show_stats: bool,
    /// The call shows in the compact window.
    pub compact: bool,
    /// The video quality in the settings (`720p30`), for the call's quality list.
    pub video_quality: String,
    /// The screen's monitors, listed when a call began (more than one: Share screen asks which).
    pub monitors: Vec<crate::media::screen::Monitor>,
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
