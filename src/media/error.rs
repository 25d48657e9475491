//! The one error type of the media engine.

use std::fmt;

/// Which kind of device an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Camera,
    Microphone,
    Speaker,
    Screen,
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceKind::Camera => "camera",
            DeviceKind::Microphone => "microphone",
            DeviceKind::Speaker => "speaker",
            DeviceKind::Screen => "screen",
        })
    }
}

/// Everything that can go wrong in capture, coding and playback.
///
/// Nothing in `media` panics on bad input or missing hardware: it returns one
/// of these instead, so the UI can tell the user what happened.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The system has no device of this kind at all.
    #[error("no {0} available")]
    NoDevice(DeviceKind),
    /// A device was asked for by name or index and is not there.
    #[error("{kind} not found: {name}")]
    DeviceNotFound { kind: DeviceKind, name: String },
    /// The device exists but opening or running it failed.
    #[error("{kind} failed: {detail}")]
    DeviceFailed { kind: DeviceKind, detail: String },
    /// The encoder or decoder refused the data or the settings.
    #[error("codec error: {0}")]
    Codec(String),
    /// A picture larger than we accept (its header says so; nothing was decoded).
    #[error(
        "a {width}x{height} picture is larger than the {max_width}x{max_height} peercall accepts"
    )]
    TooLarge {
        width: u32,
        height: u32,
        max_width: u32,
        max_height: u32,
    },
    /// A format, size or setting we do not handle.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The caller passed data that does not match its description
    /// (e.g. plane sizes that do not fit the frame size).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

impl MediaError {
    pub(crate) fn device_failed(kind: DeviceKind, detail: impl fmt::Display) -> Self {
        MediaError::DeviceFailed {
            kind,
            detail: detail.to_string(),
        }
    }
}

/// Result alias used throughout `media`.
pub type Result<T, E = MediaError> = std::result::Result<T, E>;
