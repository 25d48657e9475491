//! Echo cancellation, noise suppression and gain control on the real audio path.
//!
//! bob (the callee) plays alice's audio through his speaker into the PulseAudio null sink, and his
//! microphone records that sink's monitor: whatever he plays comes back into his microphone, as
//! a laptop's speaker into its microphone. A "person in bob's room" (a 660 Hz voice, and noise)
//! plays into the same sink with `paplay`. alice sends a 440 Hz voice and measures, in what
//! she receives from bob, the level of 440 Hz (her own voice coming back: the echo) and of
//! 660 Hz (bob's talker), half a second at a time (`--measure-tones`). Each case runs with the
//! processing off and on, and compares.
//!
//! Needs the PulseAudio null sink (scripts/test.sh starts it; scripts/start-test-pulseaudio.sh).

mod common;
#[path = "common/wav.rs"]
mod wav;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use common::{bob_then_alice_with_env, report_of, start_server};
use peercall::media::tone::ToneSource;
use peercall::media::AudioSource;
use peercall::server::ServerConfig;
use serde_json::Value;

/// The voices' frequencies: alice's (whose echo is measured) and bob's talker's.
const ECHO_HZ: &str = "440";
const TALKER_HZ: &str = "660";

/// One run: bob answers with `processing`, alice calls for `seconds`; `sounds` play in bob's room
/// meanwhile. Returns alice's tone windows and bob's report.
async fn run(
    processing: &str,
    alice_audio: &str,
    sounds: &[&Path],
    seconds: u32,
) -> (Vec<Window>, Value) {
    let (windows, bob, _) = run_on(
        &BobsMachine::default(),
        processing,
        alice_audio,
        sounds,
        seconds,
    )
    .await;
    (windows, bob)
}

/// How bob's machine treats him.
#[derive(Debug, Default)]
struct BobsMachine<'a> {
    /// His whole process is stopped for [`STALL`] (SIGSTOP) at each of these (from the call's
    /// start), as a machine too busy to run him does.
    stalls: &'a [Duration],
    /// His speaker plays into this PulseAudio sink (`PULSE_SINK`) instead of the default.
    speaker_sink: Option<&'a str>,
}

/// How long bob is stopped at each stall.
const STALL: Duration = Duration::from_millis(100);

/// [`run`] on `machine`; also returns when each stall began (wall clock, ms since the UNIX
/// epoch).
async fn run_on(
    machine: &BobsMachine<'_>,
    processing: &str,
    alice_audio: &str,
    sounds: &[&Path],
    seconds: u32,
) -> (Vec<Window>, Value, Vec<f64>) {
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let duration = seconds.to_string();
    let bob_env: Vec<(&str, &str)> = machine
        .speaker_sink
        .map(|sink| ("PULSE_SINK", sink))
        .into_iter()
        .collect();
    let (bob, alice) = bob_then_alice_with_env(
        &url,
        &[
            "--auto-accept",
            "--video",
            "none",
            "--audio",
            "mic",
            "--speaker",
            "speaker",
            "--audio-processing",
            processing,
        ],
        &bob_env,
        &[
            "--video",
            "none",
            "--audio",
            alice_audio,
            "--measure-tones",
            "440,660",
            "--duration",
            &duration,
        ],
    )
    .await;
    // The room's sounds start as the call does (before, they would be what bob's speaker opens
    // into).
    let players: Vec<Player> = sounds.iter().map(|s| Player::start(s)).collect();
    let staller = tokio::spawn(stall(bob.id(), machine.stalls.to_vec()));
    let (alice, bob) = (report_of(alice).await, report_of(bob).await);
    drop(players);
    let stalled = staller.await.expect("the stalls ran");
    assert_eq!(stalled.len(), machine.stalls.len(), "bob was stalled");
    let connected = alice["setup_ms"]["connected_unix_ms"]
        .as_f64()
        .expect("alice's call connected");
    let windows = alice["audio"]["tones_dbfs"]
        .as_array()
        .expect("alice measured tones")
        .iter()
        .map(|w| Window {
            unix_ms: connected + w["t_ms"].as_f64().unwrap(),
            echo: w["tones"][ECHO_HZ].as_f64().unwrap(),
            talker: w["tones"][TALKER_HZ].as_f64().unwrap(),
            level: w["level_dbfs"].as_f64().unwrap(),
        })
        .collect::<Vec<_>>();
    println!(
        "processing {processing}: bob's report {}",
        bob["audio"]["processing"]
    );
    for w in &windows {
        println!(
            "  {:>6.0} ms  440 Hz {:>6.1}  660 Hz {:>6.1}  all {:>6.1} dBFS",
            w.unix_ms - connected,
            w.echo,
            w.talker,
            w.level
        );
    }
    assert!(
        windows.len() as u32 >= seconds,
        "under half the call's audio measured: {} windows",
        windows.len()
    );
    (windows, bob, stalled)
}

#[derive(Debug, Clone, Copy)]
struct Window {
    /// The window's end, wall clock (ms since the UNIX epoch).
    unix_ms: f64,
    echo: f64,
    talker: f64,
    level: f64,
}

/// The power mean of `values`, dB.
fn mean_db(values: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.collect();
    assert!(!v.is_empty(), "nothing to average");
    10.0 * (v.iter().map(|db| 10f64.powf(db / 10.0)).sum::<f64>() / v.len() as f64).log10()
}

/// The windows that began `after_s` seconds or more after `from_unix_ms` (the processing has
/// converged), without the call's last second: in one full run of the suite the window just
/// before alice hung up read -15 dBFS of echo after seven seconds at -60 to -76 (cause not
/// found: 8 runs of 12 s since had no window over -54 dBFS; issue 15's note). A sound server
/// can take seconds to start a stream, so the start is when things were heard, not the call's.
fn settled(windows: &[Window], from_unix_ms: f64, after_s: f64) -> Vec<Window> {
    let last = windows[windows.len() - 1].unix_ms;
    let settled: Vec<Window> = windows
        .iter()
        .copied()
        .filter(|w| {
            w.unix_ms - WINDOW_MS >= from_unix_ms + after_s * 1000.0 && last - w.unix_ms >= 1000.0
        })
        .collect();
    assert!(
        settled.len() >= 4,
        "under 2 s to judge, {after_s} s after {from_unix_ms} (the sound server started late?): \
         {windows:?}"
    );
    settled
}

/// The first window where anything was heard from bob's room (before his microphone and the
/// room's sound have both started, what he sends is digital silence).
fn first_sound(windows: &[Window]) -> f64 {
    windows
        .iter()
        .find(|w| w.level > -100.0)
        .map(|w| w.unix_ms - WINDOW_MS)
        .expect("nothing heard from bob's room")
}

/// When bob's speaker's audio first reached his echo canceller.
fn reference_since(bob: &Value) -> f64 {
    bob["audio"]["processing"]["reference_since_unix_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("bob's speaker never played: {}", bob["audio"]["processing"]))
}

/// Stops process `pid` for [`STALL`] at each of `at` (from now); returns when each stall began,
/// wall clock (ms since the UNIX epoch).
async fn stall(pid: u32, at: Vec<Duration>) -> Vec<f64> {
    let start = tokio::time::Instant::now();
    let mut began = Vec::new();
    let signal = |name: &str| {
        let status = Command::new("kill")
            .args([name, &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {name} {pid}");
    };
    for t in at {
        tokio::time::sleep_until(start + t).await;
        began.push(unix_ms());
        signal("-STOP");
        tokio::time::sleep(STALL).await;
        signal("-CONT");
    }
    began
}

fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// The person in bob's room, heard while alice's echo is cancelled (double talk), loses at most
/// 6 dB.
fn assert_talker_kept_in_double_talk(talker_off: f64, talker_on: f64) {
    assert!(
        talker_on >= talker_off - 6.0,
        "the person in the room went from {talker_off:.1} to {talker_on:.1} dBFS"
    );
}

/// A window of `--measure-tones` is half a second.
const WINDOW_MS: f64 = 500.0;

/// `paplay` of a file into the default sink, stopped when dropped.
struct Player(Child);

impl Player {
    fn start(file: &Path) -> Player {
        Player(
            Command::new("paplay")
                .arg(file)
                .spawn()
                .expect("paplay (pulseaudio-utils)"),
        )
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `seconds` of a voice (peercall's own `voice:HZ`: the same syllables and pitch) at
/// `speech_dbfs` while it speaks, plus white noise at `noise_dbfs` (if any), 48 kHz mono.
fn sound(
    voice_hz: Option<f64>,
    speech_dbfs: f64,
    noise_dbfs: Option<f64>,
    seconds: u32,
) -> Vec<i16> {
    // The voice's RMS while it speaks is its amplitude × 0.682 (pitch and two overtones).
    let amplitude = 10f64.powf(speech_dbfs / 20.0) / 0.682;
    let mut voice = voice_hz.map(|hz| {
        ToneSource::new(hz, amplitude.min(1.0), false)
            .unwrap()
            .with_syllables()
    });
    let noise_rms = noise_dbfs.map_or(0.0, |db| 10f64.powf(db / 20.0));
    let mut seed = 0x2545_f491_u32;
    let mut uniform = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed as f64 / u32::MAX as f64 - 0.5
    };
    let mut samples = Vec::new();
    for _ in 0..seconds * 50 {
        let block = match &mut voice {
            Some(v) => v.next_block().unwrap().samples.to_vec(),
            None => vec![0; 960],
        };
        for s in block {
            // The sum of four uniforms is near enough Gaussian; its RMS is √(4/12).
            let n = (0..4).map(|_| uniform()).sum::<f64>() / (4.0f64 / 12.0).sqrt();
            let x = s as f64 + n * noise_rms * 32768.0;
            samples.push(x.round().clamp(-32768.0, 32767.0) as i16);
        }
    }
    samples
}

/// A WAV file in the temporary folder, removed when dropped (a failed assertion too).
struct Wav(PathBuf);

impl Drop for Wav {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl std::ops::Deref for Wav {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

/// Writes `samples` as a WAV file for `paplay`.
fn wav(name: &str, samples: &[i16]) -> Wav {
    let path = std::env::temp_dir().join(format!("peercall-{}-{name}.wav", std::process::id()));
    wav::write(&path, samples);
    Wav(path)
}

fn pulse_server_running() {
    if let Err(why) = Command::new("pactl")
        .arg("info")
        .output()
        .map_err(|e| e.to_string())
        .and_then(|o| {
            o.status
                .success()
                .then_some(())
                .ok_or_else(|| String::from_utf8_lossy(&o.stderr).into_owned())
        })
    {
        panic!(
            "this test plays through a real speaker into a real microphone: it needs the \
             PulseAudio null sink scripts/start-test-pulseaudio.sh starts (scripts/test.sh does): \
             {why}"
        );
    }
}

#[tokio::test]
async fn the_echo_is_cancelled_and_the_person_in_the_room_still_heard() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    pulse_server_running();
    let talker = wav("talker", &sound(Some(660.0), -20.0, None, 20));
    let (off, bob_off) = run("off", "voice:440", &[&talker], 12).await;
    let (on, bob_on) = run("on", "voice:440", &[&talker], 12).await;
    // Both are judged from 2 s after bob's speaker began to play (a sound server can take a
    // second or more to start a stream): the echo canceller's convergence, and the same span
    // of the call without it.
    let off = settled(&off, reference_since(&bob_off), 2.0);
    let on = settled(&on, reference_since(&bob_on), 2.0);
    let bob = bob_on;
    let echo_off = mean_db(off.iter().map(|w| w.echo));
    let echo_on = mean_db(on.iter().map(|w| w.echo));
    // The power mean counts every half-second the echo came back (once: a speaker tap that
    // fell behind fed the canceller silence for the rest of the call; see issue 15's note).
    let bursts = on.iter().filter(|w| w.echo > echo_off - 15.0).count();
    let talker_off = mean_db(off.iter().map(|w| w.talker));
    let talker_on = mean_db(on.iter().map(|w| w.talker));
    println!(
        "echo {echo_off:.1} → {echo_on:.1} dBFS ({bursts} of {} windows within 15 dB of no \
         cancelling); the talker {talker_off:.1} → {talker_on:.1} dBFS",
        on.len()
    );
    assert!(
        echo_off > -30.0,
        "with processing off the echo is loud: {echo_off:.1} dBFS"
    );
    assert!(
        echo_on <= echo_off - 25.0,
        "the echo went from {echo_off:.1} to only {echo_on:.1} dBFS"
    );
    assert_talker_kept_in_double_talk(talker_off, talker_on);
    let processing = &bob["audio"]["processing"];
    assert_eq!(
        processing["stages"],
        serde_json::json!(["aec", "ns", "agc"])
    );
    assert!(processing["frames"].as_u64().unwrap() > 500, "{processing}");
    assert!(
        processing["erle_db"].as_f64().is_some(),
        "no ERLE: {processing}"
    );
}

#[tokio::test]
async fn the_echo_is_cancelled_again_right_after_the_machine_stalls() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    pulse_server_running();
    let talker = wav("talker-stalled", &sound(Some(660.0), -20.0, None, 20));
    // Three stalls, 2 s apart, once the echo canceller has had time to learn: each one leaves
    // bob's speaker stream dry at the sound server and his microphone's audio waiting.
    let stalls = [5, 7, 9].map(Duration::from_secs);
    let (off, bob_off) = run("off", "voice:440", &[&talker], 12).await;
    let machine = BobsMachine {
        stalls: &stalls,
        ..BobsMachine::default()
    };
    let (on, bob, stalled) = run_on(&machine, "on", "voice:440", &[&talker], 14).await;
    let off = settled(&off, reference_since(&bob_off), 2.0);
    let on = settled(&on, reference_since(&bob), 2.0);
    let echo_off = mean_db(off.iter().map(|w| w.echo));
    // What a stall costs: the microphone's audio of the stall comes all at once after it,
    // before the speaker's has (~70 ms without a reference). The half-second windows touching
    // a stall's first second are judged on their own: the echo has to be cancelled again
    // after that.
    let (near_stall, clear): (Vec<Window>, Vec<Window>) = on.iter().partition(|w| {
        stalled
            .iter()
            .any(|&s| w.unix_ms > s && w.unix_ms - WINDOW_MS < s + 1000.0)
    });
    let echo_clear = mean_db(clear.iter().map(|w| w.echo));
    let loud = on
        .iter()
        .filter(|w| w.echo > echo_off - 25.0)
        .collect::<Vec<_>>();
    let talker_off = mean_db(off.iter().map(|w| w.talker));
    let talker_on = mean_db(on.iter().map(|w| w.talker));
    println!(
        "stalled: echo {echo_off:.1} → {echo_clear:.1} dBFS away from the stalls; by the stalls \
         {:?}; the talker {talker_off:.1} → {talker_on:.1} dBFS; {}",
        near_stall.iter().map(|w| w.echo).collect::<Vec<_>>(),
        bob["audio"]["processing"]
    );
    assert!(
        clear.len() >= 6,
        "under 3 s of the call away from the stalls: {on:?}"
    );
    assert!(
        echo_clear <= echo_off - 25.0,
        "after bob's stalls, the echo went from {echo_off:.1} to only {echo_clear:.1} dBFS"
    );
    assert!(
        loud.len() <= stalls.len(),
        "the echo came back for more than a window a stall: {loud:?}"
    );
    assert_talker_kept_in_double_talk(talker_off, talker_on);
}

#[tokio::test]
async fn the_echo_is_cancelled_behind_a_slow_speaker() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    pulse_server_running();
    let talker = wav("talker-slow-speaker", &sound(Some(660.0), -20.0, None, 20));
    // bob's speaker plays into a sink whose sound reaches the room 150 ms later (a sound
    // server with long buffers, a Bluetooth speaker): the echo comes back ~165 ms after bob
    // plays it, not ~15.
    let slow = SlowSink::load("peercall_slow_speaker", 150);
    let machine = BobsMachine {
        speaker_sink: Some(slow.name),
        ..BobsMachine::default()
    };
    let (off, bob_off, _) = run_on(&machine, "off", "voice:440", &[&talker], 12).await;
    let (on, bob, _) = run_on(&machine, "on", "voice:440", &[&talker], 12).await;
    drop(slow);
    // Judged a second later than the others: the echo's lead is measured first (~1 s).
    let off = settled(&off, reference_since(&bob_off), 3.0);
    let on = settled(&on, reference_since(&bob), 3.0);
    let echo_off = mean_db(off.iter().map(|w| w.echo));
    let echo_on = mean_db(on.iter().map(|w| w.echo));
    let talker_off = mean_db(off.iter().map(|w| w.talker));
    let talker_on = mean_db(on.iter().map(|w| w.talker));
    let processing = &bob["audio"]["processing"];
    println!(
        "slow speaker: echo {echo_off:.1} → {echo_on:.1} dBFS; the talker {talker_off:.1} → \
         {talker_on:.1} dBFS; {processing}"
    );
    assert!(
        echo_off > -40.0,
        "with processing off the echo is loud: {echo_off:.1} dBFS"
    );
    assert!(
        echo_on <= echo_off - 25.0,
        "behind a slow speaker, the echo went from {echo_off:.1} to only {echo_on:.1} dBFS"
    );
    assert_talker_kept_in_double_talk(talker_off, talker_on);
    assert!(
        processing["realignments"].as_u64().unwrap() >= 1,
        "the reference was never moved to the slow echo: {processing}"
    );
}

/// A PulseAudio null sink whose sound is played into the default sink `latency_ms` later
/// (`module-loopback`), removed when dropped.
struct SlowSink {
    name: &'static str,
    modules: Vec<String>,
}

impl SlowSink {
    fn load(name: &'static str, latency_ms: u32) -> SlowSink {
        let load = |args: &[&str]| {
            let out = Command::new("pactl")
                .arg("load-module")
                .args(args)
                .output()
                .expect("pactl");
            assert!(
                out.status.success(),
                "pactl load-module {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let mut sink = SlowSink {
            name,
            modules: Vec::new(),
        };
        sink.modules.push(load(&[
            "module-null-sink",
            &format!("sink_name={name}"),
            "rate=48000",
        ]));
        sink.modules.push(load(&[
            "module-loopback",
            &format!("source={name}.monitor"),
            &format!("latency_msec={latency_ms}"),
        ]));
        sink
    }
}

impl Drop for SlowSink {
    fn drop(&mut self) {
        for module in self.modules.iter().rev() {
            let _ = Command::new("pactl")
                .args(["unload-module", module])
                .status();
        }
    }
}

#[tokio::test]
async fn noise_is_suppressed_and_the_talker_kept() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    pulse_server_running();
    // Noise at -30 dBFS all along; the talker joins it 8 s in.
    let mut samples = sound(None, 0.0, Some(-30.0), 8);
    samples.extend(sound(Some(660.0), -20.0, Some(-30.0), 20));
    let both = wav("noise-then-talker", &samples);
    let mut results = Vec::new();
    for processing in ["off", "ns"] {
        let (windows, _) = run(processing, "none", &[&both], 16).await;
        // From when bob's room was first heard: the noise, which the suppressor learns in 2 s.
        let heard = settled(&windows, first_sound(&windows), 2.0);
        // The talker is there when its band stands well above the noise in it (-56 dBFS).
        let (talking, quiet): (Vec<Window>, Vec<Window>) =
            heard.iter().partition(|w| w.talker > -45.0);
        assert!(talking.len() >= 6 && quiet.len() >= 4, "{windows:?}");
        let noise = mean_db(quiet.iter().map(|w| w.level));
        let talker = mean_db(talking.iter().skip(1).map(|w| w.talker));
        results.push((noise, talker));
    }
    let [(noise_off, talker_off), (noise_on, talker_on)] = results[..] else {
        unreachable!()
    };
    println!(
        "noise {noise_off:.1} → {noise_on:.1} dBFS; the talker {talker_off:.1} → {talker_on:.1} dBFS"
    );
    assert!(
        noise_on <= noise_off - 15.0,
        "the noise went from {noise_off:.1} to only {noise_on:.1} dBFS"
    );
    assert!(
        talker_on >= talker_off - 3.0,
        "the talker in the noise went from {talker_off:.1} to {talker_on:.1} dBFS"
    );
}

#[tokio::test]
async fn a_quiet_talker_is_brought_up_to_speaking_level() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    pulse_server_running();
    let quiet = wav("quiet", &sound(Some(660.0), -40.0, None, 20));
    let (off, _) = run("off", "none", &[&quiet], 10).await;
    let (on, bob) = run("agc", "none", &[&quiet], 10).await;
    // The talker as measured without gain control speaks at -40 dBFS; gain control brings
    // them to -20, within 3 s of being heard.
    let heard_off = mean_db(
        settled(&off, first_sound(&off), 1.0)
            .iter()
            .map(|w| w.talker),
    );
    let heard_on = mean_db(settled(&on, first_sound(&on), 3.0).iter().map(|w| w.talker));
    let raised = heard_on - heard_off;
    println!(
        "the quiet talker: {heard_off:.1} → {heard_on:.1} dBFS (+{raised:.1} dB); {}",
        bob["audio"]["processing"]
    );
    assert!(
        (16.0..=24.0).contains(&raised),
        "-40 dBFS speech came out at {:.1} dBFS",
        -40.0 + raised
    );
}
