//! Checking the camera and microphone before a call: the preview's frames reach the self-view
//! slot with their test pattern's counters advancing, the meter reads the microphone's tone at
//! its level, and stopping lets go of both (nothing more arrives).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peercall::call::media_setup::{AudioChoice, RgbaFrame, VideoChoice};
use peercall::media::frame_slot::FrameSlot;
use peercall::media::test_pattern::read_marker_rgba;
use peercall::ui::preview::Preview;

#[test]
fn the_preview_shows_the_camera_and_measures_the_microphone_until_stopped() {
    let slot = Arc::new(FrameSlot::<RgbaFrame>::new());
    let wakes = Arc::new(AtomicU32::new(0));
    let woken = wakes.clone();
    let preview = Preview::start(
        VideoChoice::Synthetic {
            width: 320,
            height: 240,
            fps: 15,
        },
        AudioChoice::Synthetic { hz: 440.0 },
        slot.clone(),
        Arc::new(move || {
            woken.fetch_add(1, Ordering::Relaxed);
        }),
    );
    // Frames come, each with a later counter than the last.
    let mut seen = 0;
    let mut counters = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while counters.len() < 10 && Instant::now() < deadline {
        if let Some((generation, frame)) = slot.take_newer(seen) {
            seen = generation;
            let marker = read_marker_rgba(&frame.pixels, frame.width, frame.height)
                .expect("the test pattern's marker is readable in the preview");
            counters.push(marker.counter);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(counters.len() >= 10, "only {} frames", counters.len());
    assert!(
        counters.windows(2).all(|w| w[1] > w[0]),
        "counters do not advance: {counters:?}"
    );
    // The tone (amplitude 0.3, about -13.5 dBFS) on the meter, which asked for redraws.
    let level = preview.level_dbfs().expect("a level");
    assert!((-18.0..=-9.0).contains(&level), "{level} dBFS");
    assert!(wakes.load(Ordering::Relaxed) > 0);
    assert!(preview.problems().is_empty(), "{:?}", preview.problems());
    preview.stop();
    let after = slot.generation();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(slot.generation(), after, "frames after stopping");
}
