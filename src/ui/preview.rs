//! Checking the camera and microphone before a call: the chosen camera's picture goes to the
//! self-view slot and the microphone's level to a meter, while the window is idle. The window
//! stops it (releasing both devices) before a call takes them.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::call::media_setup::{AudioChoice, RgbaFrame, VideoChoice};
use crate::media::audio_analyzer::rms_dbfs;
use crate::media::convert::i420_to_rgba_vec;
use crate::media::frame_slot::FrameSlot;

/// No level measured yet.
const NO_LEVEL: i32 = i32::MIN;

pub struct Preview {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The microphone's level, tenths of a dBFS (over the last 100 ms).
    level: Arc<AtomicI32>,
    problems: Arc<Mutex<Vec<String>>>,
}

impl Preview {
    /// Opens the camera and microphone chosen, each on a thread of its own; `wake` asks the
    /// window to draw the meter again (the slot wakes it for frames).
    pub fn start(
        video: VideoChoice,
        audio: AudioChoice,
        frames: Arc<FrameSlot<RgbaFrame>>,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> Preview {
        let stop = Arc::new(AtomicBool::new(false));
        let level = Arc::new(AtomicI32::new(NO_LEVEL));
        let problems = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        if video != VideoChoice::None {
            let (stop, problems) = (stop.clone(), problems.clone());
            let spawned = std::thread::Builder::new()
                .name("preview-video".into())
                .spawn(move || {
                    if let Err(why) = show_camera(&video, &frames, &stop) {
                        problems.lock().unwrap_or_else(|p| p.into_inner()).push(why);
                    }
                });
            threads.extend(spawned.ok());
        }
        if audio != AudioChoice::None {
            let (stop, level, problems) = (stop.clone(), level.clone(), problems.clone());
            let spawned = std::thread::Builder::new()
                .name("preview-audio".into())
                .spawn(move || {
                    if let Err(why) = measure_microphone(&audio, &level, &stop, &*wake) {
                        problems.lock().unwrap_or_else(|p| p.into_inner()).push(why);
                    }
                });
            threads.extend(spawned.ok());
        }
        Preview {
            stop,
            threads,
            level,
            problems,
        }
    }

    /// The microphone's level now, dBFS.
    pub fn level_dbfs(&self) -> Option<f32> {
        match self.level.load(Ordering::Relaxed) {
            NO_LEVEL => None,
            tenths => Some(tenths as f32 / 10.0),
        }
    }

    /// What could not be opened, in words.
    pub fn problems(&self) -> Vec<String> {
        self.problems
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops and waits until both devices are closed (a call is about to open them).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Preview {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn show_camera(
    choice: &VideoChoice,
    frames: &FrameSlot<RgbaFrame>,
    stop: &AtomicBool,
) -> Result<(), String> {
    let Some(mut source) = choice.open().map_err(|e| format!("camera: {e}"))? else {
        return Ok(());
    };
    while !stop.load(Ordering::Relaxed) {
        let frame = source.next_frame().map_err(|e| format!("camera: {e}"))?;
        if let Ok(pixels) = i420_to_rgba_vec(&frame) {
            frames.publish(RgbaFrame {
                width: frame.width,
                height: frame.height,
                pixels,
            });
        }
    }
    Ok(())
}

fn measure_microphone(
    choice: &AudioChoice,
    level: &AtomicI32,
    stop: &AtomicBool,
    wake: &dyn Fn(),
) -> Result<(), String> {
    // The meter shows the microphone as it is, before any cleaning.
    let raw = crate::media::voice::Voice::new(crate::media::voice::Stages::NONE);
    let Some(mut source) = choice.open(&raw).map_err(|e| format!("microphone: {e}"))? else {
        return Ok(());
    };
    let mut window: Vec<i16> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let block = source
            .next_block()
            .map_err(|e| format!("microphone: {e}"))?;
        window.extend_from_slice(&block.samples);
        // Five blocks: the meter moves ten times a second.
        if window.len() >= 5 * block.samples.len() {
            let db = rms_dbfs(&window);
            level.store((db * 10.0).round() as i32, Ordering::Relaxed);
            window.clear();
            wake();
        }
    }
    Ok(())
}
