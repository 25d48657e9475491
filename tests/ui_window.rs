//! The real window under Xvfb: idle, dialling through the UI (typing the ID and Enter), ringing,
//! and in a call, with screenshots; the callee's test pattern is read back from the pixels the
//! window drew. Needs Xvfb, xdotool and ImageMagick (scripts/install-deps.sh installs them).

mod common;

use std::io::{BufRead, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{report_of, spawn_headless, start_server, Proc};
use peercall::media::test_pattern::read_marker_rgba;
use peercall::server::ServerConfig;

const SCREEN: (u32, u32) = (1280, 800);

/// An Xvfb server on a free display number, stopped on drop.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-nolisten", "tcp", "-screen", "0"])
            .arg(format!("{}x{}x24", SCREEN.0, SCREEN.1))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb (apt-get install xvfb)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Xvfb {
            child,
            display: format!(":{}", line.trim()),
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("DISPLAY", &self.display);
        c
    }

    fn screenshot(&self, path: &Path) -> Vec<u8> {
        let ok = self
            .command("import")
            .args(["-window", "root"])
            .arg(path)
            .status()
            .expect("run import (apt-get install imagemagick)");
        assert!(ok.success());
        let out = Command::new("convert")
            .arg(path)
            .args(["-depth", "8", "rgba:-"])
            .output()
            .unwrap();
        assert_eq!(out.stdout.len(), (SCREEN.0 * SCREEN.1 * 4) as usize);
        out.stdout
    }

    fn xdotool(&self, args: &[&str]) {
        let status = self
            .command("xdotool")
            .args(args)
            .status()
            .expect("run xdotool");
        assert!(status.success(), "xdotool {args:?}");
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The window's log, collected from its stderr as it comes.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<String>>);

impl Log {
    fn follow(&self, stream: impl std::io::Read + Send + 'static) {
        let log = self.0.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                log.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }

    /// Waits for a line containing `needle`; returns that line.
    fn wait_for(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self
                .0
                .lock()
                .unwrap()
                .lines()
                .rev()
                .find(|l| l.contains(needle))
            {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the window's log:\n{}",
                self.0.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `key=value` from a tracing line (ANSI colours stripped).
fn field(line: &str, key: &str) -> f64 {
    let plain: String = strip_ansi(line);
    let start = plain
        .find(&format!("{key}="))
        .unwrap_or_else(|| panic!("{key} in {plain}"))
        + key.len()
        + 1;
    plain[start..]
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn crop(rgba: &[u8], x: u32, y: u32, w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity((w * h * 4) as usize);
    for row in y..y + h {
        let start = ((row * SCREEN.0 + x) * 4) as usize;
        out.extend_from_slice(&rgba[start..start + (w * 4) as usize]);
    }
    out
}

/// The luma spread of a region: a drawn window has text and panels, an empty screen has none.
fn distinct_greys(rgba: &[u8]) -> usize {
    let mut seen = [false; 256];
    for px in rgba.chunks_exact(4) {
        seen[((px[0] as u32 + px[1] as u32 + px[2] as u32) / 3) as usize] = true;
    }
    seen.iter().filter(|s| **s).count()
}

/// CPU % of one core and RSS (MiB) of a process over `window`.
fn cost(pid: u32, window: Duration) -> (f64, f64) {
    let cpu = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
            .split_whitespace()
            .collect();
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
    };
    let (c0, t0) = (cpu(), Instant::now());
    std::thread::sleep(window);
    let (c1, t1) = (cpu(), Instant::now());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    (
        100.0 * (c1 - c0) / (t1 - t0).as_secs_f64(),
        rss_kib / 1024.0,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_dials_rings_and_shows_the_remote_video() {
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let x = Xvfb::start();

    // bob answers after ringing three seconds, with the test pattern as his camera.
    let bob = spawn_headless(&[
        "answer",
        "--server",
        &url,
        "--id",
        "bob",
        "--auto-accept",
        "--ring",
        "3",
        "--video",
        "synthetic:640x480@30",
    ]);
    let config = shots.join("settings.toml");
    let mut window = Proc::spawn(
        x.command(env!("CARGO_BIN_EXE_peercall"))
            .args(["--server", &url, "--id", "alice", "--speaker", "none"])
            .args(["--video", "synthetic:640x480@30"])
            .args(["--audio", "synthetic:440"])
            .env("PEERCALL_CONFIG", &config)
            .env("RUST_LOG", "info,peercall::ui=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let log = Log::default();
    log.follow(window.stderr().unwrap());
    let first = log.wait_for("first frame drawn", Duration::from_secs(60));
    let launch_ms = field(&first, "ms");

    // Idle: registered, bob online. Let presence arrive, then look.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle_cpu, idle_rss) = cost(window.id(), Duration::from_secs(3));
    let idle = x.screenshot(&shots.join("idle.png"));
    assert!(
        distinct_greys(&crop(&idle, 0, 0, 1100, 720)) > 20,
        "the window is not drawn"
    );

    // Dial the way a person would: type the ID into the focused field and press Enter.
    let wid = String::from_utf8(
        x.command("xdotool")
            .args(["search", "--name", "peercall"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let wid = wid.lines().next().expect("the peercall window").to_string();
    x.xdotool(&["windowfocus", "--sync", &wid]);
    x.xdotool(&["type", "--delay", "40", "bob"]);
    x.xdotool(&["key", "Return"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calling = x.screenshot(&shots.join("calling.png"));
    assert_ne!(calling, idle, "dialling changed nothing on screen");

    // In the call: the window logs where it draws the remote video; read bob's pattern there.
    let rect_line = log.wait_for("remote video rect", Duration::from_secs(30));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rect = ["x", "y", "w", "h"].map(|k| field(&rect_line, k) as u32);
    let (call_cpu, call_rss) = cost(window.id(), Duration::from_secs(3));
    let mut markers = Vec::new();
    for n in 0..2 {
        let shot = x.screenshot(&shots.join(format!("in-call-{n}.png")));
        let region = crop(&shot, rect[0], rect[1], rect[2], rect[3]);
        let marker = read_marker_rgba(&region, rect[2], rect[3])
            .unwrap_or_else(|| panic!("no test pattern readable at {rect:?} in in-call-{n}.png"));
        markers.push(marker);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The picture is live: bob's frame counter moves on, and its capture time is recent.
    assert!(markers[1].counter > markers[0].counter, "{markers:?}");
    let now_us = peercall::media::now_us();
    assert!(now_us - markers[1].capture_us < 5_000_000, "{markers:?}");

    // Esc hangs up; bob hears it.
    x.xdotool(&["key", "Escape"]);
    let bob = report_of(bob).await;
    assert_eq!(bob["ended"]["by"], "remote");
    assert_eq!(bob["ended"]["reason"], "hangup");
    assert!(
        bob["video"]["frames_decoded"].as_u64().unwrap() > 10,
        "bob saw alice's video"
    );
    window.kill();

    println!(
        "window: first frame {launch_ms:.0} ms after launch; idle {idle_cpu:.1} % CPU, {idle_rss:.0} MiB; \
         in a 640x480@30 call {call_cpu:.1} % CPU, {call_rss:.0} MiB; screenshots in {}",
        shots.display()
    );
}

impl Log {
    /// The last `remote video rect` line about `peer`, once there is one.
    fn video_rect_of(&self, peer: &str, within: Duration) -> [u32; 4] {
        let deadline = Instant::now() + within;
        loop {
            let found = self
                .0
                .lock()
                .unwrap()
                .lines()
                .rev()
                .find(|l| l.contains("remote video rect") && strip_ansi(l).contains(peer))
                .map(str::to_string);
            if let Some(line) = found {
                return ["x", "y", "w", "h"].map(|k| field(&line, k) as u32);
            }
            assert!(
                Instant::now() < deadline,
                "no video of {peer} drawn:\n{}",
                self.0.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_in_a_room_of_four_shows_each_live_stream_in_a_grid() {
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let x = Xvfb::start();
    let others: Vec<Proc> = [("bob", "550"), ("carol", "660"), ("dave", "770")]
        .iter()
        .map(|(id, hz)| {
            let audio = format!("synthetic:{hz}");
            spawn_headless(&[
                "call",
                "--server",
                &url,
                "--id",
                id,
                "--room",
                "standup",
                "--video",
                "synthetic:320x240@15",
                "--audio",
                &audio,
                "--duration",
                "15",
            ])
        })
        .collect();
    let config = shots.join("room-settings.toml");
    let mut window = Proc::spawn(
        x.command(env!("CARGO_BIN_EXE_peercall"))
            .args(["--server", &url, "--id", "alice", "--room", "standup"])
            .args([
                "--video",
                "synthetic:320x240@15",
                "--audio",
                "synthetic:440",
            ])
            .args(["--speaker", "none"])
            .env("PEERCALL_CONFIG", &config)
            .env("RUST_LOG", "info,peercall::ui=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let log = Log::default();
    log.follow(window.stderr().unwrap());
    let rects_now = || -> Vec<[u32; 4]> {
        ["bob", "carol", "dave"]
            .iter()
            .map(|peer| log.video_rect_of(peer, Duration::from_secs(60)))
            .collect()
    };
    rects_now();
    // The grid changes shape as people arrive: read where each one is once all are drawn.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rects = rects_now();
    // A grid: two columns and two rows of cells, none on top of another.
    let xs: std::collections::BTreeSet<u32> = rects.iter().map(|r| r[0] / 100).collect();
    let ys: std::collections::BTreeSet<u32> = rects.iter().map(|r| r[1] / 100).collect();
    assert!(xs.len() == 2 && ys.len() == 2, "not a 2×2 grid: {rects:?}");
    // Each cell shows its own live stream: its counter moves on between two screenshots.
    let mut counters = Vec::new();
    for n in 0..2 {
        let shot = x.screenshot(&shots.join(format!("room-{n}.png")));
        let read: Vec<u32> = rects
            .iter()
            .map(|r| {
                let region = crop(&shot, r[0], r[1], r[2], r[3]);
                read_marker_rgba(&region, r[2], r[3])
                    .unwrap_or_else(|| panic!("no test pattern at {r:?} in room-{n}.png"))
                    .counter
            })
            .collect();
        counters.push(read);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for (cell, (before, after)) in counters[0].iter().zip(&counters[1]).enumerate() {
        assert!(after > before, "cell {cell} froze: {counters:?}");
    }
    window.kill();
    for other in others {
        let report = report_of(other).await;
        let alice = common::participant(&report, "alice");
        assert!(
            alice["video"]["frames_decoded"].as_u64().unwrap() > 20,
            "{alice}"
        );
    }
}
