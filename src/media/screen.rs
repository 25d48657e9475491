//! The screen as a video source: X11, read with the core protocol's `GetImage` (x11rb, pure
//! Rust, no C library). `xcap` would do the same through xcb but links PipeWire on Linux
//! whatever the display; one request per frame at 5–15 fps is cheap enough that MIT-SHM is not
//! worth its setup. Wayland: only the desktop portal (PipeWire) can capture it; peercall does
//! not speak it yet, so there it captures nothing and says so.

use std::time::Duration;

use x11rb::connection::Connection;
use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::protocol::xproto::{ConnectionExt, ImageFormat, Window};
use x11rb::rust_connection::RustConnection;

use super::convert::{rgb_to_i420, RgbLayout};
use super::error::{DeviceKind, MediaError, Result};
use super::frame::{now_us, VideoFrame};
use super::pacer::Pacer;
use super::scale::downscale;
use super::traits::VideoSource;

/// Screen pictures are sent at most this large (the shorter side follows the aspect ratio).
pub const MAX_SHARE_SIZE: (u32, u32) = (1920, 1080);

/// A monitor of an X11 screen (RandR): what can be shared on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitor {
    pub name: String,
    pub primary: bool,
    pub x: i16,
    pub y: i16,
    pub width: u16,
    pub height: u16,
}

impl std::fmt::Display for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}x{})", self.name, self.width, self.height)?;
        if self.primary {
            f.write_str(", primary")?;
        }
        Ok(())
    }
}

/// The monitors of `display` (`None`: this session's). A server without RandR 1.5 has one: the
/// whole screen.
pub fn list_monitors(display: Option<&str>) -> Result<Vec<Monitor>> {
    let (connection, screen_number, _) = connect(display)?;
    Ok(monitors_of(&connection, screen_number))
}

/// A connection to `display` (`None`: this session's, see [`which_display`]), its screen number,
/// and the display's name.
fn connect(display: Option<&str>) -> Result<(RustConnection, usize, String)> {
    let name = which_display(
        display,
        std::env::var("DISPLAY").ok(),
        std::env::var_os("WAYLAND_DISPLAY").is_some(),
    )?;
    let (connection, screen_number) =
        x11rb::connect(Some(&name)).map_err(|e| MediaError::DeviceFailed {
            kind: DeviceKind::Screen,
            detail: format!("display {name}: {e}"),
        })?;
    Ok((connection, screen_number, name))
}

fn monitors_of(connection: &RustConnection, screen_number: usize) -> Vec<Monitor> {
    let screen = &connection.setup().roots[screen_number];
    let whole = Monitor {
        name: "screen".into(),
        primary: true,
        x: 0,
        y: 0,
        width: screen.width_in_pixels,
        height: screen.height_in_pixels,
    };
    let reply = connection
        .randr_get_monitors(screen.root, true)
        .ok()
        .and_then(|cookie| cookie.reply().ok());
    let Some(reply) = reply else {
        return vec![whole];
    };
    let monitors: Vec<Monitor> = reply
        .monitors
        .iter()
        .filter(|m| m.width > 0 && m.height > 0)
        .map(|m| Monitor {
            name: connection
                .get_atom_name(m.name)
                .ok()
                .and_then(|c| c.reply().ok())
                .map(|r| String::from_utf8_lossy(&r.name).into_owned())
                .unwrap_or_else(|| format!("monitor {}", m.name)),
            primary: m.primary,
            x: m.x,
            y: m.y,
            width: m.width,
            height: m.height,
        })
        .collect();
    if monitors.is_empty() {
        vec![whole]
    } else {
        monitors
    }
}

/// One X11 screen, or one of its monitors.
pub struct ScreenSource {
    connection: RustConnection,
    root: Window,
    /// The part of the screen read: its corner, and its size.
    origin: (i16, i16),
    screen_size: (u32, u32),
    /// What we send: the screen's size within [`MAX_SHARE_SIZE`], even.
    size: (u32, u32),
    display: String,
    pacer: Pacer,
    /// The last picture's pixels, to tell an unchanged screen.
    last: Option<u64>,
}

impl ScreenSource {
    /// Opens `display` (`:1`, or `None` for `$DISPLAY`) at `fps`: its monitor named `monitor`
    /// (a name from [`list_monitors`], or its index there), or the whole screen.
    pub fn open(display: Option<&str>, monitor: Option<&str>, fps: u32) -> Result<ScreenSource> {
        let failed = |detail: String| MediaError::DeviceFailed {
            kind: DeviceKind::Screen,
            detail,
        };
        let (connection, screen_number, name) = connect(display)?;
        let screen = &connection.setup().roots[screen_number];
        let root = screen.root;
        let (origin, screen_size) = match monitor {
            None => (
                (0, 0),
                (
                    u32::from(screen.width_in_pixels),
                    u32::from(screen.height_in_pixels),
                ),
            ),
            Some(wanted) => {
                let monitors = monitors_of(&connection, screen_number);
                let found = monitors
                    .iter()
                    .find(|m| m.name == wanted)
                    .or_else(|| wanted.parse::<usize>().ok().and_then(|i| monitors.get(i)))
                    .ok_or_else(|| MediaError::DeviceNotFound {
                        kind: DeviceKind::Screen,
                        name: format!(
                            "monitor {wanted} (there are: {})",
                            monitors
                                .iter()
                                .map(|m| m.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })?;
                (
                    (found.x, found.y),
                    (u32::from(found.width), u32::from(found.height)),
                )
            }
        };
        if screen.root_depth != 24 && screen.root_depth != 32 {
            return Err(failed(format!(
                "display {name} has depth {}, only 24 or 32 are read",
                screen.root_depth
            )));
        }
        Ok(ScreenSource {
            connection,
            root,
            origin,
            screen_size,
            size: share_size(screen_size),
            display: name,
            pacer: Pacer::new(Duration::from_secs_f64(1.0 / fps.clamp(1, 30) as f64)),
            last: None,
        })
    }

    /// Reads the screen now, at its own size: BGRX, 4 bytes a pixel (24- and 32-bit ZPixmaps
    /// on little-endian servers).
    fn grab(&self) -> Result<Vec<u8>> {
        let failed = |detail: String| MediaError::DeviceFailed {
            kind: DeviceKind::Screen,
            detail,
        };
        let (w, h) = self.screen_size;
        let image = self
            .connection
            .get_image(
                ImageFormat::Z_PIXMAP,
                self.root,
                self.origin.0,
                self.origin.1,
                w as u16,
                h as u16,
                !0,
            )
            .map_err(|e| failed(e.to_string()))?
            .reply()
            .map_err(|e| failed(format!("the screen went away: {e}")))?;
        let expected = w as usize * h as usize * 4;
        if image.data.len() < expected {
            return Err(failed(format!(
                "{} bytes for a {w}x{h} screen",
                image.data.len()
            )));
        }
        let mut bgrx = image.data;
        bgrx.truncate(expected);
        Ok(bgrx)
    }

    /// A grabbed picture as I420 at the size it is sent.
    fn convert(&self, bgrx: &[u8]) -> Result<VideoFrame> {
        let (w, h) = self.screen_size;
        // Odd sizes lose their last column or row: the encoder wants even ones.
        let (ew, eh) = (w & !1, h & !1);
        let frame = if (ew, eh) == (w, h) {
            rgb_to_i420(bgrx, w, h, RgbLayout::Bgrx32, now_us())?
        } else {
            let mut cropped = Vec::with_capacity(ew as usize * eh as usize * 4);
            for row in bgrx.chunks_exact(w as usize * 4).take(eh as usize) {
                cropped.extend_from_slice(&row[..ew as usize * 4]);
            }
            rgb_to_i420(&cropped, ew, eh, RgbLayout::Bgrx32, now_us())?
        };
        self.fit(frame)
    }

    /// Waits until the next picture is due.
    pub fn wait(&mut self) {
        self.pacer.wait();
    }

    /// The screen now, or `None` when it has not changed since the last picture (nothing to
    /// send: screens are still most of the time; an unchanged one is not even converted).
    /// Call [`ScreenSource::wait`] first.
    pub fn next_changed(&mut self) -> Result<Option<VideoFrame>> {
        let bgrx = self.grab()?;
        let digest = digest(&bgrx);
        if self.last == Some(digest) {
            return Ok(None);
        }
        self.last = Some(digest);
        self.convert(&bgrx).map(Some)
    }

    fn fit(&self, frame: VideoFrame) -> Result<VideoFrame> {
        if (frame.width, frame.height) == self.size {
            Ok(frame)
        } else {
            downscale(&frame, self.size.0, self.size.1)
        }
    }
}

impl VideoSource for ScreenSource {
    fn next_frame(&mut self) -> Result<VideoFrame> {
        self.pacer.wait();
        let bgrx = self.grab()?;
        self.last = Some(digest(&bgrx));
        self.convert(&bgrx)
    }

    fn describe(&self) -> String {
        let (w, h) = self.screen_size;
        format!("screen {} ({w}x{h})", self.display)
    }

    fn size(&self) -> (u32, u32) {
        self.size
    }
}

/// The X11 display to read: the one named, else `$DISPLAY`. On Wayland, `$DISPLAY` is XWayland,
/// whose root window holds only X11 apps' windows (the rest would go out black): only a display
/// named explicitly is read there.
fn which_display(named: Option<&str>, env: Option<String>, wayland: bool) -> Result<String> {
    match (named, wayland) {
        (Some(d), _) if !d.is_empty() => Ok(d.to_owned()),
        (_, true) => Err(MediaError::DeviceFailed {
            kind: DeviceKind::Screen,
            detail: "this is a Wayland session: sharing its screen needs the desktop portal, \
                     which peercall does not speak yet (an X11 session works)"
                .into(),
        }),
        _ => env
            .filter(|d| !d.is_empty())
            .ok_or(MediaError::NoDevice(DeviceKind::Screen)),
    }
}

/// The size a screen is sent at: its own within [`MAX_SHARE_SIZE`], aspect kept, even.
pub fn share_size((w, h): (u32, u32)) -> (u32, u32) {
    let (max_w, max_h) = MAX_SHARE_SIZE;
    let scale = (max_w as f64 / w.max(1) as f64)
        .min(max_h as f64 / h.max(1) as f64)
        .min(1.0);
    let even = |v: f64| ((v as u32) & !1).max(2);
    (even(w as f64 * scale), even(h as f64 * scale))
}

/// A fingerprint of a grabbed picture, 8 bytes at a time (a text cursor is a few pixels: every
/// byte counts; about 1 ms for 1080p): tells "nothing moved" from a change.
fn digest(bgrx: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut words = bgrx.chunks_exact(8);
    for word in &mut words {
        let v = u64::from_le_bytes(word.try_into().unwrap_or_default());
        hash = (hash ^ v).wrapping_mul(0x100_0000_01b3).rotate_left(29);
    }
    for &b in words.remainder() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_display_is_the_one_named_or_the_sessions_but_never_xwayland_by_default() {
        assert_eq!(
            which_display(Some(":3"), Some(":0".into()), false).unwrap(),
            ":3"
        );
        assert_eq!(which_display(None, Some(":0".into()), false).unwrap(), ":0");
        assert_eq!(
            which_display(Some(":3"), Some(":0".into()), true).unwrap(),
            ":3"
        );
        let wayland = which_display(None, Some(":0".into()), true).unwrap_err();
        assert!(wayland.to_string().contains("Wayland"), "{wayland}");
        let none = which_display(None, None, false).unwrap_err();
        assert_eq!(none.to_string(), "no screen available");
    }

    #[test]
    fn screens_are_sent_at_most_at_1080p_with_their_shape() {
        assert_eq!(share_size((1280, 800)), (1280, 800));
        assert_eq!(share_size((3840, 2160)), (1920, 1080));
        assert_eq!(share_size((2560, 1600)), (1728, 1080));
        assert_eq!(share_size((1366, 768)), (1366, 768));
        assert_eq!(share_size((1023, 767)), (1022, 766));
    }
}
