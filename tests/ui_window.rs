//! The real window under Xvfb: idle, dialling through the UI (typing the ID and Enter), ringing,
//! and in a call, with screenshots; the callee's test pattern is read back from the pixels the
//! window drew. Needs Xvfb, xdotool and ImageMagick (scripts/install-deps.sh installs them).

mod common;

use std::io::{BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::xvfb::{draw_picture, psnr, Xvfb, SCREEN};
use common::{report_of, spawn_headless, start_server, Proc};
use peercall::media::test_pattern::read_marker_rgba;
use peercall::server::ServerConfig;

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

/// alice's window on `x`, on the server at `url`, with `args` after her ID (synthetic sources,
/// no speaker), and its log as it comes. Its settings (`settings`, TOML) and what it keeps (recent
/// calls, contacts) live in a fresh folder `shots/name`.
fn start_window(
    x: &Xvfb,
    shots: &std::path::Path,
    url: &str,
    name: &str,
    settings: &str,
    args: &[&str],
) -> (Proc, Log) {
    let home = shots.join(name);
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let config = home.join("settings.toml");
    std::fs::write(&config, settings).unwrap();
    let mut window = Proc::spawn(
        x.command(env!("CARGO_BIN_EXE_peercall"))
            .args(["--server", url, "--id", "alice", "--speaker", "none"])
            .args(["--audio", "synthetic:440"])
            .args(args)
            .env("PEERCALL_CONFIG", &config)
            .env("RUST_LOG", "info,peercall::ui=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let log = Log::default();
    log.follow(window.stderr().unwrap());
    (window, log)
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
    // The last time, alice left "Check camera and microphone" on: it is on at start.
    let (mut window, log) = start_window(
        &x,
        &shots,
        &url,
        "call",
        "preview = true\n",
        &["--video", "synthetic:640x480@30"],
    );
    let first = log.wait_for("first frame drawn", Duration::from_secs(60));
    let launch_ms = field(&first, "ms");

    // Idle: registered, bob online. Let presence arrive, then look.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle_cpu, idle_rss) = cost(window.id(), Duration::from_secs(3));
    let idle = x.screenshot(&shots.join("idle.png"));
    // The preview on the main screen is alice's own camera, live: its counter moves on.
    let preview = log.video_rect_of("preview", Duration::from_secs(10));
    let mut counters = Vec::new();
    for n in 0..2 {
        let shot = if n == 0 {
            idle.clone()
        } else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            x.screenshot(&shots.join("idle-later.png"))
        };
        let region = crop(&shot, preview[0], preview[1], preview[2], preview[3]);
        let marker = read_marker_rgba(&region, preview[2], preview[3])
            .unwrap_or_else(|| panic!("no test pattern in the preview at {preview:?}"));
        counters.push(marker.counter);
    }
    assert!(
        counters[1] > counters[0],
        "the preview stands still: {counters:?}"
    );
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
    log.video_rect_of("bob", Duration::from_secs(30));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rect = log.video_rect_of("bob", Duration::from_secs(1));
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

    // P: the compact window, always on top, shows bob live too.
    x.xdotool(&["key", "p"]);
    let inner = log.video_rect_of("compact bob", Duration::from_secs(20));
    let compact = String::from_utf8(
        x.command("xdotool")
            .args(["search", "--sync", "--name", "peercall \\(compact\\)"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let compact = compact
        .lines()
        .next()
        .expect("the compact window")
        .to_string();
    let geometry = String::from_utf8(
        x.command("xdotool")
            .args(["getwindowgeometry", "--shell", &compact])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let at = |key: &str| -> u32 {
        geometry
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{key} in {geometry}"))
    };
    let (wx, wy, ww) = (at("X"), at("Y"), at("WIDTH"));
    assert!(ww < 600, "the compact window is not small: {geometry}");
    let mut compact_markers = Vec::new();
    for n in 0..2 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let shot = x.screenshot(&shots.join(format!("compact-{n}.png")));
        let region = crop(&shot, wx + inner[0], wy + inner[1], inner[2], inner[3]);
        let marker = read_marker_rgba(&region, inner[2], inner[3]).unwrap_or_else(|| {
            panic!("no test pattern in the compact window ({geometry}, {inner:?})")
        });
        compact_markers.push(marker);
    }
    assert!(
        compact_markers[1].counter > compact_markers[0].counter,
        "{compact_markers:?}"
    );

    // Esc (in the main window) hangs up; bob hears it.
    x.xdotool(&["windowfocus", "--sync", &wid]);
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
    let room_args = ["--room", "standup", "--video", "synthetic:320x240@15"];
    let (mut window, log) = start_window(&x, &shots, &url, "room", "", &room_args);
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

/// bob shares his screen (another Xvfb showing a known picture): the window draws it large,
/// and what it draws is that picture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_shows_a_shared_screen_large() {
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let x = Xvfb::start();
    let bobs_screen = Xvfb::start();
    let picture = draw_picture(&shots);
    bobs_screen.show(&picture, &shots);
    let bob = spawn_headless(&[
        "answer",
        "--server",
        &url,
        "--id",
        "bob",
        "--auto-accept",
        "--video",
        "synthetic:640x480@30",
        "--share-screen",
        &bobs_screen.display,
        "--share-at",
        "1",
    ]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let share_args = ["--video", "synthetic:640x480@30", "--dial", "bob"];
    let (mut window, log) = start_window(&x, &shots, &url, "share", "", &share_args);
    log.video_rect_of("screen of bob", Duration::from_secs(60));
    // A still screen is sent again each second, sharper each time.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rect = log.video_rect_of("screen of bob", Duration::from_secs(1));
    let shot = shots.join("share.png");
    x.screenshot(&shot);
    let [left, top, w, h] = rect;
    // Large: most of the window's 1100 pixels across (the cameras are 240 at most).
    assert!(w >= 800, "the share is drawn small: {rect:?}");
    // The middle of it: the cameras sit in its corners and its caption at its top.
    let (x0, y0, cw, ch) = (w / 4, h / 5, w / 2, h * 3 / 5);
    let (drawn, expected) = (
        shots.join("share-drawn.png"),
        shots.join("share-expected.png"),
    );
    let crop = Command::new("convert")
        .arg(&shot)
        .args(["-crop", &format!("{w}x{h}+{left}+{top}"), "+repage"])
        .args(["-crop", &format!("{cw}x{ch}+{x0}+{y0}"), "+repage"])
        .arg(&drawn)
        .status()
        .unwrap();
    let resize = Command::new("convert")
        .arg(&picture)
        .args(["-resize", &format!("{w}x{h}!")])
        .args(["-crop", &format!("{cw}x{ch}+{x0}+{y0}"), "+repage"])
        .arg(&expected)
        .status()
        .unwrap();
    assert!(crop.success() && resize.success());
    let quality = psnr(&expected, &drawn);
    // (The window scales it on the GPU, ImageMagick its own way: a little apart even when exact.)
    assert!(
        quality >= 22.0,
        "the window draws bob's screen {quality:.1} dB from it"
    );
    window.kill();
    let bob = report_of(bob).await;
    assert!(bob["share"]["sent"]["frames_sent"].as_u64().unwrap() >= 2);
    println!(
        "shared screen drawn at {rect:?}, {quality:.1} dB; {}",
        shot.display()
    );
}
