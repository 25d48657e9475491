//! The real audio path: a tone played through the Speaker (cpal → ALSA →
//! PulseAudio null sink) is recorded through the Microphone (the sink's
//! monitor as default source) and its frequency is found again.
//!
//! Needs a PulseAudio server with a null sink as default sink and its
//! monitor as default source (scripts/start-test-pulseaudio.sh, which
//! scripts/test.sh runs); without one it fails and says so.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use peercall::media::audio_analyzer::{dominant_frequency, rms_dbfs};
use peercall::media::microphone::Microphone;
use peercall::media::speaker::Speaker;
use peercall::media::tone::ToneSource;
use peercall::media::{AudioSink, AudioSource, SAMPLE_RATE};

/// One sound at a time: the tests share the one null sink.
static ONE_SOUND: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn pulse_server_running() -> Result<(), String> {
    match Command::new("pactl").arg("info").output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "pactl info failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run pactl: {e}")),
    }
}

#[test]
fn tone_through_real_speaker_and_microphone() {
    if let Err(why) = pulse_server_running() {
        panic!(
            "this test plays through a real speaker into a real microphone: it needs the \
             PulseAudio null sink scripts/start-test-pulseaudio.sh starts (scripts/test.sh does): \
             {why}"
        );
    }
    const FREQ: f64 = 1000.0;
    let _turn = ONE_SOUND.lock().unwrap_or_else(|p| p.into_inner());
    let mut speaker = Speaker::open(None).expect("open default speaker");
    let mut mic = Microphone::open(None).expect("open default microphone");
    println!(
        "speaker: {} ({}), microphone: {} ({})",
        speaker.name(),
        speaker.device_format(),
        mic.name(),
        mic.device_format()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let stop_player = stop.clone();
    let player = std::thread::spawn(move || {
        let mut tone = ToneSource::new(FREQ, 0.5, true).unwrap();
        while !stop_player.load(Ordering::Relaxed) {
            let block = tone.next_block().unwrap();
            speaker.play(&block).unwrap();
        }
        speaker.underruns()
    });
    // Streams can take 0.4-2 s to start: record 6 s and look for the tone
    // in the loudest second.
    let mut recorded = Vec::new();
    for _ in 0..300 {
        let block = mic.next_block().expect("microphone delivers audio");
        recorded.extend_from_slice(&block.samples);
    }
    stop.store(true, Ordering::Relaxed);
    let underruns = player.join().unwrap();
    let second = SAMPLE_RATE as usize;
    let loudest = recorded
        .chunks(second / 2)
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| [w[0], w[1]].concat())
        .max_by(|a, b| rms_dbfs(a).total_cmp(&rms_dbfs(b)))
        .unwrap();
    let level = rms_dbfs(&loudest);
    let freq = dominant_frequency(&loudest, 50.0, 8000.0);
    println!(
        "recorded {} s; loudest second {level:.1} dBFS at {freq:?} Hz; speaker underruns {underruns}",
        recorded.len() / second
    );
    assert!(
        level > -30.0,
        "tone not heard: loudest second is {level:.1} dBFS"
    );
    let freq = freq.expect("a tone");
    assert!(
        (freq - FREQ).abs() <= 5.0,
        "heard {freq} Hz, played {FREQ} Hz"
    );
}

/// The window's "Test speaker": its chime comes out of the speaker (heard on the null sink's
/// monitor), at its pitch, and the window is told when it is over.
#[test]
fn the_speaker_test_chime_comes_out_of_the_speaker() {
    if let Err(why) = pulse_server_running() {
        panic!("this test needs the PulseAudio null sink (scripts/test.sh starts it): {why}");
    }
    use peercall::ui::speaker_test::{play, TEST_TONE_HZ};
    let _turn = ONE_SOUND.lock().unwrap_or_else(|p| p.into_inner());
    let mut mic = Microphone::open(None).expect("open default microphone");
    let done = Arc::new(AtomicBool::new(false));
    let told = done.clone();
    let chime = play(None, move || told.store(true, Ordering::Relaxed)).unwrap();
    let mut recorded = Vec::new();
    // The chime lasts 1.5 s once its stream has started (which can take seconds): record until
    // the window is told it is over, and half a second more (at most 12 s).
    let mut after_done = 0;
    while recorded.len() < 12 * SAMPLE_RATE as usize && after_done < 25 {
        let block = mic.next_block().expect("microphone delivers audio");
        recorded.extend_from_slice(&block.samples);
        if done.load(Ordering::Relaxed) {
            after_done += 1;
        }
    }
    chime.join().unwrap().expect("the chime played");
    assert!(done.load(Ordering::Relaxed), "the window was not told");
    let half = SAMPLE_RATE as usize / 2;
    let loudest = recorded
        .chunks(half)
        .max_by(|a, b| rms_dbfs(a).total_cmp(&rms_dbfs(b)))
        .unwrap();
    let level = rms_dbfs(loudest);
    assert!(level > -30.0, "the chime was not heard: {level:.1} dBFS");
    let freq = dominant_frequency(loudest, 50.0, 8000.0).expect("a tone");
    assert!((freq - TEST_TONE_HZ).abs() <= 5.0, "heard {freq} Hz");
}
