//! "Test speaker": a short chime through the chosen speaker, so people hear before a call that
//! sound comes out where they expect it.

use std::thread::JoinHandle;
use std::time::Duration;

use crate::media::speaker::Speaker;
use crate::media::tone::ToneSource;
use crate::media::{AudioSink, AudioSource, DeviceKind, MediaError};

/// The chime's pitch and length.
pub const TEST_TONE_HZ: f64 = 660.0;
pub const TEST_TONE: Duration = Duration::from_millis(1500);

/// Plays the chime on the named speaker (`None`: the default) on a thread of its own, and calls
/// `done` when it is over (the window looks at the handle then: no speaker is an error to show).
pub fn play(
    speaker: Option<String>,
    done: impl FnOnce() + Send + 'static,
) -> std::io::Result<JoinHandle<Result<(), MediaError>>> {
    std::thread::Builder::new()
        .name("speaker-test".into())
        .spawn(move || {
            let played = chime(speaker.as_deref());
            done();
            played
        })
}

fn chime(speaker: Option<&str>) -> Result<(), MediaError> {
    let mut speaker = Speaker::open(speaker)?;
    // Paced by the device, not the clock: a stream can take seconds to start (PulseAudio waking
    // up), and a clock-paced chime would be over, or cut to its last half second, by then.
    let mut tone = ToneSource::new(TEST_TONE_HZ, 0.25, false)?;
    let blocks = TEST_TONE.as_millis() / 20;
    let mut sent = 0;
    let mut waited = Duration::ZERO;
    while sent < blocks {
        if speaker.buffered_ms() < QUEUED_MS {
            speaker.play(&tone.next_block()?)?;
            sent += 1;
            waited = Duration::ZERO;
            continue;
        }
        if waited > START_PATIENCE {
            return Err(MediaError::device_failed(
                DeviceKind::Speaker,
                "the speaker took no sound for 5 s",
            ));
        }
        std::thread::sleep(POLL);
        waited += POLL;
    }
    // What is queued plays out (and the device's own buffer after it) before the stream closes.
    let mut drain = Duration::ZERO;
    while speaker.buffered_ms() > 0 && drain < START_PATIENCE {
        std::thread::sleep(POLL);
        drain += POLL;
    }
    std::thread::sleep(Duration::from_millis(300));
    Ok(())
}

/// Audio kept queued ahead of the device while the chime plays.
const QUEUED_MS: u32 = 100;
const POLL: Duration = Duration::from_millis(10);
/// How long a speaker may take no sound at all before the chime gives up.
const START_PATIENCE: Duration = Duration::from_secs(5);
