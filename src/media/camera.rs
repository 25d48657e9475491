//! Webcam capture via nokhwa, converted to I420.

use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
};
use nokhwa::Camera;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use super::convert::{gray_to_i420, nv12_to_i420, rgb_to_i420, yuyv_to_i420, RgbLayout};
use super::error::{DeviceKind, MediaError, Result};
use super::frame::{now_us, VideoFrame};
use super::traits::VideoSource;

const KIND: DeviceKind = DeviceKind::Camera;

/// A camera as listed to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraInfo {
    /// Position in [`list_cameras`]' answer.
    pub index: u32,
    pub name: String,
    pub description: String,
    /// Backend-specific id (e.g. the V4L index or device path).
    backend_index: CameraIndexKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum CameraIndexKey {
    Index(u32),
    Name(String),
}

/// Which camera to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraSelector {
    /// The first camera listed.
    Default,
    /// Position in [`list_cameras`]' answer.
    Index(u32),
    /// Exact name as listed.
    Name(String),
}

/// Capture sizes we ask cameras for (30 fps; the camera may give the closest
/// it has, and we convert whatever it gives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureSize {
    Vga,
    Hd720,
}

impl CaptureSize {
    pub fn dimensions(self) -> (u32, u32) {
        match self {
            CaptureSize::Vga => (640, 480),
            CaptureSize::Hd720 => (1280, 720),
        }
    }
}

/// Lists cameras. An empty list (no camera, or no video device support on
/// this system) is `Ok`, not an error.
pub fn list_cameras() -> Result<Vec<CameraInfo>> {
    let Some(backend) = nokhwa::native_api_backend() else {
        return Ok(Vec::new());
    };
    let found = match nokhwa::query(backend) {
        Ok(found) => found,
        // Without /dev/video* some backends report an error instead of an
        // empty list; to the user both mean "no camera".
        Err(e) if backend == ApiBackend::Video4Linux => {
            tracing::debug!("camera query failed, treating as none: {e}");
            Vec::new()
        }
        Err(e) => return Err(MediaError::device_failed(KIND, e)),
    };
    Ok(found
        .into_iter()
        .enumerate()
        .map(|(i, c)| CameraInfo {
            index: i as u32,
            name: c.human_name(),
            description: c.description().to_string(),
            backend_index: match c.index() {
                CameraIndex::Index(n) => CameraIndexKey::Index(*n),
                CameraIndex::String(s) => CameraIndexKey::Name(s.clone()),
            },
        })
        .collect())
}

/// An open camera, delivering I420 frames at the camera's pace.
///
/// nokhwa's `Camera` is not `Send`, so it lives on its own capture thread
/// (opened there, never moved); frames come through a small channel. If the
/// consumer falls behind, new frames are dropped rather than queued.
pub struct CameraSource {
    frames: mpsc::Receiver<Result<VideoFrame>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    name: String,
    width: u32,
    height: u32,
}

impl std::fmt::Debug for CameraSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl CameraSource {
    /// Opens a camera. No cameras → [`MediaError::NoDevice`]; a selector
    /// that matches none → [`MediaError::DeviceNotFound`].
    pub fn open(selector: &CameraSelector, size: CaptureSize) -> Result<Self> {
        let cameras = list_cameras()?;
        if cameras.is_empty() {
            return Err(MediaError::NoDevice(KIND));
        }
        let info = match selector {
            CameraSelector::Default => cameras.first(),
            CameraSelector::Index(i) => cameras.iter().find(|c| c.index == *i),
            CameraSelector::Name(n) => cameras.iter().find(|c| &c.name == n),
        }
        .ok_or_else(|| MediaError::DeviceNotFound {
            kind: KIND,
            name: match selector {
                CameraSelector::Default => "default".into(),
                CameraSelector::Index(i) => format!("#{i}"),
                CameraSelector::Name(n) => n.clone(),
            },
        })?
        .clone();
        let (w, h) = size.dimensions();
        let stop = Arc::new(AtomicBool::new(false));
        let (open_tx, open_rx) = mpsc::sync_channel(1);
        let (frame_tx, frames) = mpsc::sync_channel(2);
        let thread_stop = stop.clone();
        let backend_index = info.backend_index.clone();
        let thread = std::thread::Builder::new()
            .name("peercall-camera".into())
            .spawn(move || {
                let mut camera = match open_camera(&backend_index, w, h) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = open_tx.send(Err(e));
                        return;
                    }
                };
                let res = camera.resolution();
                let _ = open_tx.send(Ok((res.width(), res.height())));
                while !thread_stop.load(Ordering::Relaxed) {
                    let frame = capture(&mut camera);
                    let failed = frame.is_err();
                    match frame_tx.try_send(frame) {
                        Err(mpsc::TrySendError::Disconnected(_)) => break,
                        _ if failed => break,
                        _ => {}
                    }
                }
            })
            .map_err(|e| MediaError::device_failed(KIND, e))?;
        let (width, height) = open_rx
            .recv()
            .unwrap_or_else(|_| Err(MediaError::device_failed(KIND, "capture thread died")))?;
        Ok(CameraSource {
            frames,
            stop,
            thread: Some(thread),
            name: info.name,
            width,
            height,
        })
    }
}

fn open_camera(index: &CameraIndexKey, w: u32, h: u32) -> Result<Camera> {
    let requested = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(
        CameraFormat::new_from(w, h, FrameFormat::MJPEG, 30),
    ));
    let index = match index {
        CameraIndexKey::Index(n) => CameraIndex::Index(*n),
        CameraIndexKey::Name(s) => CameraIndex::String(s.clone()),
    };
    let mut camera =
        Camera::new(index, requested).map_err(|e| MediaError::device_failed(KIND, e))?;
    camera
        .open_stream()
        .map_err(|e| MediaError::device_failed(KIND, e))?;
    Ok(camera)
}

/// Grabs one frame and converts whatever the camera sends to I420.
fn capture(camera: &mut Camera) -> Result<VideoFrame> {
    let buf = camera
        .frame()
        .map_err(|e| MediaError::device_failed(KIND, e))?;
    let capture_us = now_us();
    let res = buf.resolution();
    let (w, h) = (res.width(), res.height());
    let data = buf.buffer();
    match buf.source_frame_format() {
        FrameFormat::YUYV => yuyv_to_i420(data, w, h, capture_us),
        FrameFormat::NV12 => nv12_to_i420(data, w, h, capture_us),
        FrameFormat::GRAY => gray_to_i420(data, w, h, capture_us),
        FrameFormat::RAWRGB => rgb_to_i420(data, w, h, RgbLayout::Rgb24, capture_us),
        FrameFormat::RAWBGR => rgb_to_i420(data, w, h, RgbLayout::Bgr24, capture_us),
        FrameFormat::MJPEG => {
            let rgb = buf
                .decode_image::<RgbFormat>()
                .map_err(|e| MediaError::device_failed(KIND, e))?;
            rgb_to_i420(rgb.as_raw(), w, h, RgbLayout::Rgb24, capture_us)
        }
    }
}

impl VideoSource for CameraSource {
    fn next_frame(&mut self) -> Result<VideoFrame> {
        let frame = self
            .frames
            .recv()
            .map_err(|_| MediaError::device_failed(KIND, "capture stopped"))??;
        self.width = frame.width;
        self.height = frame.height;
        Ok(frame)
    }

    fn describe(&self) -> String {
        format!("camera {} {}x{}", self.name, self.width, self.height)
    }

    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Unblock a capture thread waiting to hand over a frame.
        while self.frames.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
