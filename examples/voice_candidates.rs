//! Compares the echo cancellers and noise suppressors considered for peercall's microphone on
//! audio recorded from the real loop: a voice (440 Hz, in syllables) plays through a speaker
//! that feeds the echo reference, a "person in the room" (660 Hz) and noise through a second
//! one, and the microphone records the PulseAudio null sink's monitor; the reference and the
//! microphone are paired as peercall pairs them (the microphone held back 20 ms). Then each
//! library processes the same recording, and the 440 Hz (echo) and 660 Hz (talker) levels of
//! its output are compared with the recording's own.
//!
//! Needs the null sink (`. scripts/start-test-pulseaudio.sh`):
//! `cargo run --release --example voice_candidates`

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use aec3::nodes::audio::AudioFormat;
use aec3::pipelines::linear;
use peercall::media::microphone::Microphone;
use peercall::media::speaker::Speaker;
use peercall::media::tone::ToneSource;
use peercall::media::tone_meter::ToneMeter;
use peercall::media::voice::processor::Processor;
use peercall::media::voice::{EchoReference, Stages, FRAME_SAMPLES};
use peercall::media::{AudioBlock, AudioSink, AudioSource};

type Frame = [f32; FRAME_SAMPLES];
/// A library under test: (reference, microphone) → what it would send.
type Candidate = Box<dyn FnMut(&Frame, &Frame) -> Frame>;

/// When the room's talker starts, seconds into a recording.
const TALKER_AT: f64 = 5.0;
const SECONDS: usize = 11;

struct Recording {
    reference: Vec<Frame>,
    mic: Vec<Frame>,
}

/// Plays `source` on `speaker` (paced by the source) until `stop`.
fn play(
    mut speaker: Speaker,
    mut source: Box<dyn FnMut() -> AudioBlock + Send>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let _ = speaker.play(&source());
        }
    })
}

fn voice(hz: f64, speech_dbfs: f64) -> ToneSource {
    ToneSource::new(hz, 10f64.powf(speech_dbfs / 20.0) / 0.682, true)
        .unwrap()
        .with_syllables()
}

/// Records `SECONDS`: the far end's voice (if `far`) through the referenced speaker from the
/// start, the room's talker from [`TALKER_AT`], noise at -30 dBFS all along (if `noise`).
fn record(far: bool, noise: bool) -> Recording {
    let reference = Arc::new(EchoReference::default());
    let stop = Arc::new(AtomicBool::new(false));
    let far_speaker = Speaker::open_feeding(None, Some(reference.tap())).expect("speaker");
    let room_speaker = Speaker::open(None).expect("a second speaker stream");
    let mut far_voice = voice(440.0, -14.0);
    let mut talker = voice(660.0, -20.0);
    let mut seed = 7u32;
    // The talker starts when the microphone has recorded TALKER_AT seconds.
    let talking = Arc::new(AtomicBool::new(false));
    let talker_on = talking.clone();
    let players = [
        play(
            far_speaker,
            Box::new(move || {
                let mut b = far_voice.next_block().unwrap();
                if !far {
                    b.samples.fill(0);
                }
                b
            }),
            stop.clone(),
        ),
        play(
            room_speaker,
            Box::new(move || {
                let mut b = talker.next_block().unwrap();
                if !talker_on.load(Ordering::Relaxed) {
                    b.samples.fill(0);
                }
                for s in b.samples.iter_mut() {
                    let n = if noise {
                        // Uniform at RMS -30 dBFS.
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        (seed as f64 / u32::MAX as f64 - 0.5) * 3.46 * 0.0316 * 32768.0
                    } else {
                        0.0
                    };
                    *s = (*s as f64 + n).clamp(-32768.0, 32767.0) as i16;
                }
                b
            }),
            stop.clone(),
        ),
    ];
    let mut mic = Microphone::open(None).expect("microphone");
    let mut held: VecDeque<Frame> = VecDeque::from([[0.0; FRAME_SAMPLES]; 2]);
    let mut rec = Recording {
        reference: Vec::new(),
        mic: Vec::new(),
    };
    while rec.mic.len() < SECONDS * 100 {
        if rec.mic.len() as f64 >= TALKER_AT * 100.0 {
            talking.store(true, Ordering::Relaxed);
        }
        let block = mic.next_block().expect("microphone audio");
        for half in block.samples.chunks_exact(FRAME_SAMPLES) {
            let mut frame = [0.0; FRAME_SAMPLES];
            for (f, &s) in frame.iter_mut().zip(half) {
                *f = s as f32 / 32768.0;
            }
            held.push_back(frame);
            rec.mic.push(held.pop_front().unwrap());
            rec.reference
                .push(reference.next_frame().unwrap_or([0.0; FRAME_SAMPLES]));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for p in players {
        let _ = p.join();
    }
    rec
}

/// 440 and 660 Hz levels of `frames` from `from_s` to `to_s`, dBFS (half-second windows,
/// power-averaged).
fn levels(frames: &[Frame], from_s: f64, to_s: f64) -> (f64, f64, f64) {
    let mut meter = ToneMeter::new(&[440.0, 660.0]);
    let (a, b) = ((from_s * 100.0) as usize, (to_s * 100.0) as usize);
    for (i, f) in frames[a..b.min(frames.len())].iter().enumerate() {
        let s: Vec<i16> = f
            .iter()
            .map(|&x| (x * 32768.0).clamp(-32768.0, 32767.0) as i16)
            .collect();
        meter.push(&s, i as f64 * 10.0);
    }
    let mean = |v: Vec<f64>| {
        10.0 * (v.iter().map(|d| 10f64.powf(d / 10.0)).sum::<f64>() / v.len().max(1) as f64).log10()
    };
    let windows: Vec<_> = meter.levels().cloned().collect();
    (
        mean(windows.iter().map(|w| w.tones_dbfs[0]).collect()),
        mean(windows.iter().map(|w| w.tones_dbfs[1]).collect()),
        mean(windows.iter().map(|w| w.level_dbfs).collect()),
    )
}

/// Runs `process` (reference, microphone → output) over the recording; returns the output and
/// the mean CPU per frame, µs.
fn run(rec: &Recording, mut process: impl FnMut(&Frame, &Frame) -> Frame) -> (Vec<Frame>, f64) {
    let started = Instant::now();
    let out: Vec<Frame> = rec
        .reference
        .iter()
        .zip(&rec.mic)
        .map(|(r, m)| process(r, m))
        .collect();
    let us = started.elapsed().as_secs_f64() * 1e6 / out.len().max(1) as f64;
    (out, us)
}

fn peercall(stages: &str) -> impl FnMut(&Frame, &Frame) -> Frame {
    let mut p = Processor::new(stages.parse::<Stages>().unwrap()).unwrap();
    move |r, m| {
        let (mut r, mut m) = (*r, *m);
        p.render(&mut r);
        p.capture(&mut m);
        m
    }
}

/// The aec3 crate's pipeline: all of it (high-pass, AEC3, noise suppression, AGC2), or AEC3 alone.
fn aec3(all: bool) -> impl FnMut(&Frame, &Frame) -> Frame {
    let format = AudioFormat::ten_ms(48_000, 1);
    let mut builder = linear::builder(format, format);
    if !all {
        builder = builder
            .enable_high_pass_filter(false)
            .enable_noise_suppression(false)
            .enable_gain_controller2(false)
            .enable_post_filter(false);
    }
    let mut p = builder.build().expect("aec3 pipeline");
    move |r, m| {
        let mut out = [0.0; FRAME_SAMPLES];
        let _ = p.handle_render_frame(r);
        let _ = p.process_capture_frame(m, &mut out);
        out
    }
}

/// RNNoise (noise only); its output lags 10 ms, which a level measure does not mind.
fn rnnoise() -> impl FnMut(&Frame, &Frame) -> Frame {
    let mut st = nnnoiseless::DenoiseState::new();
    move |_, m| {
        let input: Vec<f32> = m.iter().map(|x| x * 32768.0).collect();
        let mut out = [0.0; FRAME_SAMPLES];
        st.process_frame(&mut out, &input);
        out.map(|x| x / 32768.0)
    }
}

fn main() {
    println!("Recording {SECONDS} s of echo, the talker from {TALKER_AT} s …");
    let echo = record(true, false);
    let (e0, _, _) = levels(&echo.mic, 2.0, TALKER_AT);
    let (e1, t1, _) = levels(&echo.mic, TALKER_AT + 0.5, SECONDS as f64 - 0.5);
    println!("\nEcho (440 Hz) alone, 2 s on; echo and talker (660 Hz) together; dBFS:");
    println!(
        "{:<34} {:>10} {:>12} {:>12} {:>8}",
        "", "echo alone", "echo (both)", "talker", "µs/frame"
    );
    println!(
        "{:<34} {:>10.1} {:>12.1} {:>12.1}",
        "as recorded", e0, e1, t1
    );
    let candidates: Vec<(&str, Candidate)> = vec![
        ("webrtc 0.3 AEC (peercall: aec)", Box::new(peercall("aec"))),
        ("webrtc 0.3 + gain (peercall: on)", Box::new(peercall("on"))),
        ("aec3 0.4, AEC3 alone", Box::new(aec3(false))),
        ("aec3 0.4, its whole pipeline", Box::new(aec3(true))),
    ];
    for (name, process) in candidates {
        let (out, us) = run(&echo, process);
        let (a, _, _) = levels(&out, 2.0, TALKER_AT);
        let (b, t, _) = levels(&out, TALKER_AT + 0.5, SECONDS as f64 - 0.5);
        println!("{name:<34} {a:>10.1} {b:>12.1} {t:>12.1} {us:>8.0}");
    }

    println!("\nRecording {SECONDS} s of noise at -30 dBFS, the talker from {TALKER_AT} s …");
    let noisy = record(false, true);

    let (_, _, n0) = levels(&noisy.mic, 2.0, TALKER_AT);
    let (_, t0, _) = levels(&noisy.mic, TALKER_AT + 0.5, SECONDS as f64 - 0.5);
    println!("\nNoise alone (all of it), 2 s on; the talker in the noise; dBFS:");
    println!(
        "{:<34} {:>10} {:>12} {:>8}",
        "", "noise", "talker", "µs/frame"
    );
    println!("{:<34} {:>10.1} {:>12.1}", "as recorded", n0, t0);
    let candidates: Vec<(&str, Candidate)> = vec![
        ("webrtc 0.3 NS (peercall: ns)", Box::new(peercall("ns"))),
        ("aec3 0.4, its whole pipeline", Box::new(aec3(true))),
        ("nnnoiseless 0.5 (RNNoise)", Box::new(rnnoise())),
    ];
    for (name, process) in candidates {
        let (out, us) = run(&noisy, process);
        let (_, _, n) = levels(&out, 2.0, TALKER_AT);
        let (_, t, _) = levels(&out, TALKER_AT + 0.5, SECONDS as f64 - 0.5);
        println!("{name:<34} {n:>10.1} {t:>12.1} {us:>8.0}");
    }
}
