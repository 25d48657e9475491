//! Calls over impaired links: two headless peercalls on two hosts (network namespaces) with a
//! router between them that loses, delays, jitters or caps packets. Asserted on what was decoded:
//! frame counters, freezes, the tone. Needs root (CI runs as root).

#[path = "common/browser.rs"]
mod browser;
#[path = "common/netlab/mod.rs"]
mod netlab;
#[path = "common/proc.rs"]
mod proc;

use std::time::{Duration, Instant};

use netlab::{Dir, Host, NetLab, ADDR_A};
use proc::Proc;
use serde_json::Value;

/// One call at a time: two cores, and every call measures peercall, not the machine.
static ONE_CALL_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `peercall serve` on host a; returns it and its WebSocket URL.
fn serve(lab: &NetLab) -> (Proc, String) {
    Proc::serve(lab.command(Host::A, env!("CARGO_BIN_EXE_peercall")).args([
        "serve",
        "--bind",
        &format!("{ADDR_A}:0"),
    ]))
}

fn headless(lab: &NetLab, host: Host, args: &[&str]) -> Proc {
    Proc::peercall(lab.command(host, env!("CARGO_BIN_EXE_peercall")), args)
}

/// When a moment happened, wall clock, ms: lined up with a report's `connected_unix_ms`.
fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// bob answers on host b, alice (host a, with the server) dials him; both send the synthetic
/// 640×480@30 pattern (or `video`) and a tone (alice 440 Hz, bob 1000 Hz). `during` runs while
/// the call does (it changes the link). Returns (alice's report, bob's report).
fn call(lab: &NetLab, seconds: f64, video: &str, during: impl FnOnce()) -> (Value, Value) {
    let (_server, url) = serve(lab);
    let duration = seconds.to_string();
    let bob = headless(
        lab,
        Host::B,
        &[
            "answer",
            "--server",
            &url,
            "--id",
            "bob",
            "--auto-accept",
            "--audio",
            "synthetic:1000",
            "--video",
            video,
            "--wait",
            "30",
        ],
    );
    // Over a lossy link registering can take a few TCP retransmissions.
    bob.wait_for_log("registered", Duration::from_secs(20));
    let alice = headless(
        lab,
        Host::A,
        &[
            "call",
            "--server",
            &url,
            "--id",
            "alice",
            "--dial",
            "bob",
            "--audio",
            "synthetic:440",
            "--video",
            video,
            "--duration",
            &duration,
        ],
    );
    during();
    let alice = alice.report();
    let bob = bob.report();
    for (name, report) in [("alice", &alice), ("bob", &bob)] {
        assert_eq!(report["ended"]["reason"], "hangup", "{name}: {report}");
        assert!(
            report["errors"].as_array().unwrap().is_empty(),
            "{name}: {}",
            report["errors"]
        );
    }
    (alice, bob)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// What `me` received from `other`, measured on what `me` decoded.
struct Received<'a> {
    name: &'static str,
    me: &'a Value,
    other: &'a Value,
}

impl Received<'_> {
    fn timeline(&self) -> &Vec<Value> {
        self.me["timeline"].as_array().unwrap()
    }

    /// Frames whose counter was read back, as a share of the frames the other side sent.
    fn decoded_share(&self) -> f64 {
        u(&self.me["video"]["counters_read"]) as f64
            / u(&self.other["video"]["frames_sent"]).max(1) as f64
    }

    /// Frames decoded per second between two moments (ms since `me` connected).
    fn fps(&self, from_ms: f64, to_ms: f64) -> f64 {
        let at = |t: f64| {
            let p = self
                .timeline()
                .iter()
                .find(|p| f(&p["t_ms"]) >= t)
                .or(self.timeline().last())
                .unwrap_or_else(|| panic!("{}: empty timeline", self.name));
            (f(&p["t_ms"]), u(&p["frames_decoded"]) as f64)
        };
        let ((t0, n0), (t1, n1)) = (at(from_ms), at(to_ms));
        (n1 - n0) / ((t1 - t0) / 1000.0).max(0.001)
    }

    /// Frames decoded per second from the end of the first second to the end.
    fn steady_fps(&self) -> f64 {
        let end = f(&self.timeline().last().unwrap()["t_ms"]);
        self.fps(1000.0, end)
    }

    /// Audio blocks decoded from their packet or rebuilt by FEC, as a share of what was sent.
    fn audio_share(&self) -> f64 {
        let a = &self.me["audio"];
        (u(&a["blocks_decoded"]) + u(&self.me["stats"]["fec_recovered"])) as f64
            / u(&self.other["audio"]["blocks_sent"]).max(1) as f64
    }

    /// The latest glass-to-glass latency (95th percentile per timeline point) from `from_ms`.
    fn worst_latency_after(&self, from_ms: f64) -> f64 {
        self.timeline()
            .iter()
            .filter(|p| f(&p["t_ms"]) >= from_ms)
            .filter_map(|p| p["latency_p95_ms"].as_f64())
            .fold(0.0, f64::max)
    }

    fn summary(&self) -> String {
        let v = &self.me["video"];
        format!(
            "{}: frames {:.1} % ({}/{}), {:.1} fps, freezes {} longest {:.0} ms, latency p50 {:.0} \
             p95 {:.0} ms, size {}, audio {:.1} % (decoded {} fec {} concealed {} of {}), \
             longest silence {} ms, tone {}, av_sync {} ms, nack {} repaired {} rtx(other) {} \
             dropped {}, keyframes asked {}, target(other) {} kbit/s, p95 steady {}",
            self.name,
            100.0 * self.decoded_share(),
            v["counters_read"],
            self.other["video"]["frames_sent"],
            self.steady_fps(),
            v["freezes"]["count"],
            f(&v["freezes"]["longest_ms"]),
            v["latency_ms"]["p50"].as_f64().unwrap_or(f64::NAN),
            v["latency_ms"]["p95"].as_f64().unwrap_or(f64::NAN),
            v["size"],
            100.0 * self.audio_share(),
            self.me["audio"]["blocks_decoded"],
            self.me["stats"]["fec_recovered"],
            self.me["audio"]["blocks_concealed"],
            self.other["audio"]["blocks_sent"],
            self.me["audio"]["longest_silence_ms"],
            self.me["audio"]["tone_hz"],
            self.me["av_sync_ms"],
            self.me["stats"]["nack_sent"],
            self.me["stats"]["nack_repaired"],
            self.other["stats"]["rtx_sent"],
            self.other["stats"]["rtx_dropped"],
            self.me["video"]["keyframes_requested"],
            self.other["stats"]["target_kbps"],
            self.me["video"]["latency_ms"]["p95_steady"],
        )
    }

    /// Smooth video: this share decoded, this many frames a second, no freeze longer than
    /// `max_freeze_ms`.
    fn assert_video(&self, share: f64, fps: f64, max_freeze_ms: f64) {
        let s = self.summary();
        assert!(self.decoded_share() >= share, "{s}");
        assert!(self.steady_fps() >= fps, "{s}");
        assert!(
            f(&self.me["video"]["freezes"]["longest_ms"]) <= max_freeze_ms,
            "{s}"
        );
    }

    /// Audio: this share decoded (or rebuilt), never silent longer than 100 ms, the tone heard.
    fn assert_audio(&self, share: f64, tone_hz: f64) {
        let s = self.summary();
        assert!(self.audio_share() >= share, "{s}");
        assert!(f(&self.me["audio"]["longest_silence_ms"]) <= 100.0, "{s}");
        assert!(
            (f(&self.me["audio"]["tone_hz"]) - tone_hz).abs() <= 5.0,
            "{s}"
        );
    }
}

/// Both directions of a call: (what alice got, what bob got).
fn directions<'a>(alice: &'a Value, bob: &'a Value) -> [Received<'a>; 2] {
    [
        Received {
            name: "alice",
            me: alice,
            other: bob,
        },
        Received {
            name: "bob",
            me: bob,
            other: alice,
        },
    ]
}

fn print(row: &str, alice: &Value, bob: &Value) {
    for r in directions(alice, bob) {
        println!("[{row}] {}", r.summary());
    }
    if std::env::var_os("NET_LINKS_REPORTS").is_some() {
        println!("{alice}\n{bob}");
    }
}

#[test]
fn five_percent_loss_with_a_40_ms_round_trip() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NetLab::new("loss5");
    lab.impair_both(5, Duration::from_millis(20), Duration::ZERO);
    let (alice, bob) = call(&lab, 15.0, "synthetic:640x480@30", || {});
    print("5 % loss, 40 ms RTT", &alice, &bob);
    let [to_alice, to_bob] = directions(&alice, &bob);
    // Measured alone, 8 runs (16 directions): 97.8–100 % with no freeze over 313 ms. In full runs
    // of the suite: 96.2 % with a 598 ms freeze (keyframes asked 3: a repair that never came,
    // then the wait for a keyframe, as at 10 % loss below); and 92.4 % with no freeze over
    // 222 ms and the audio short by the same second — most likely a second sent before the
    // receiver could read any (a lost DTLS flight is sent again after 1 s), which the share
    // counts as lost.
    to_alice.assert_video(0.90, 25.0, 1000.0);
    to_bob.assert_video(0.90, 25.0, 1000.0);
    to_alice.assert_audio(0.90, 1000.0);
    to_bob.assert_audio(0.90, 440.0);
    // Losses were repaired, not just survived.
    assert!(u(&alice["stats"]["nack_sent"]) > 0 && u(&bob["stats"]["rtx_sent"]) > 0);
}

#[test]
fn ten_percent_loss() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NetLab::new("loss10");
    lab.impair_both(10, Duration::ZERO, Duration::ZERO);
    let (alice, bob) = call(&lab, 15.0, "synthetic:640x480@30", || {});
    print("10 % loss", &alice, &bob);
    let [to_alice, to_bob] = directions(&alice, &bob);
    // Measured over 12 runs (24 directions): 22 at 98–100 % with no freeze over 205 ms; one at
    // 96.7 %; one at 92.7 % with a 1.1 s freeze (a repair that never came: the wait for a
    // keyframe). The bounds take that in; the usual case is in the note of record.
    to_alice.assert_video(0.92, 25.0, 1500.0);
    to_bob.assert_video(0.92, 25.0, 1500.0);
    to_alice.assert_audio(0.90, 1000.0);
    to_bob.assert_audio(0.90, 440.0);
    assert!(u(&alice["stats"]["fec_recovered"]) > 0, "FEC never used");
}

#[test]
fn a_500_kbit_link() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NetLab::new("thin");
    lab.set_rate(Dir::AtoB, Some(500));
    lab.set_rate(Dir::BtoA, Some(500));
    let (alice, bob) = call(&lab, 15.0, "synthetic:640x480@30", || {});
    print("500 kbit/s", &alice, &bob);
    for r in directions(&alice, &bob) {
        let s = r.summary();
        // Video keeps moving at a lower size, audio is never starved by it.
        assert!(r.steady_fps() >= 15.0, "{s}");
        r.assert_audio(0.90, if r.name == "alice" { 1000.0 } else { 440.0 });
        // Within 2 s the sender fits the link: no standing queue in the router after that.
        assert!(f(&r.me["video"]["latency_ms"]["p95_steady"]) < 300.0, "{s}");
        let sent: Vec<f64> = r.other["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| f(&p["t_ms"]) >= 2000.0)
            .map(|p| f(&p["bitrate_out_kbps"]))
            .collect();
        let mean = sent.iter().sum::<f64>() / sent.len() as f64;
        assert!(
            mean <= 500.0,
            "sent {mean:.0} kbit/s on average into 500: {s}"
        );
    }
}

#[test]
fn a_five_second_dip_to_300_kbit() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NetLab::new("dip");
    let mut dip = (0.0, 0.0);
    let (alice, bob) = call(&lab, 16.0, "synthetic:640x480@30", || {
        std::thread::sleep(Duration::from_secs(5));
        dip.0 = unix_ms();
        lab.set_rate(Dir::AtoB, Some(300));
        std::thread::sleep(Duration::from_secs(5));
        lab.set_rate(Dir::AtoB, None);
        dip.1 = unix_ms();
    });
    print("300 kbit/s dip a → b", &alice, &bob);
    let [_, to_bob] = directions(&alice, &bob);
    let since = |t: f64| t - f(&bob["setup_ms"]["connected_unix_ms"]);
    let (start, end) = (since(dip.0), since(dip.1));
    let s = to_bob.summary();
    // The drop costs a moment (what was on the way when the link shrank is lost with the
    // router's queue; Chromium loses 4 % of the frames here), then video goes on at a lower
    // rate through the dip...
    assert!(to_bob.decoded_share() >= 0.9, "{s}");
    assert!(f(&bob["video"]["freezes"]["longest_ms"]) <= 2000.0, "{s}");
    let during = to_bob.fps(start + 2000.0, end);
    let after = to_bob.fps(end + 3000.0, end + 5000.0);
    println!("[300 kbit/s dip a → b] bob: {during:.1} fps in the dip, {after:.1} fps 3-5 s after");
    assert!(during >= 8.0, "{during:.1} fps in the dip: {s}");
    // ...and is back at full frame rate within 3 s of the cap lifting.
    assert!(after >= 27.0, "{after:.1} fps 3-5 s after the dip: {s}");
    to_bob.assert_audio(0.90, 440.0);
}

#[test]
fn a_150_ms_round_trip_with_jitter() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NetLab::new("jitter");
    lab.impair_both(0, Duration::from_millis(75), Duration::from_millis(30));
    let (alice, bob) = call(&lab, 15.0, "synthetic:640x480@30", || {});
    print("150 ms RTT ± 30 ms", &alice, &bob);
    for r in directions(&alice, &bob) {
        let s = r.summary();
        r.assert_audio(0.97, if r.name == "alice" { 1000.0 } else { 440.0 });
        assert!(r.steady_fps() >= 25.0, "{s}");
        let sync = f(&r.me["av_sync_ms"]);
        assert!(sync.abs() <= 80.0, "lip sync off by {sync:.0} ms: {s}");
    }
}

#[test]
fn hosts_without_a_default_route_connect() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // The lab's hosts have no default route, so no route covers multicast: mDNS cannot work
    // there, and a call must not need it.
    let lab = NetLab::new("noroute");
    let (alice, bob) = call(&lab, 5.0, "synthetic:640x480@30", || {});
    print("clean, no default route", &alice, &bob);
    for r in directions(&alice, &bob) {
        r.assert_video(0.99, 27.0, 200.0);
        r.assert_audio(0.97, if r.name == "alice" { 1000.0 } else { 440.0 });
    }
}

#[test]
fn a_720p_call_starts_without_a_latency_spike() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NetLab::new("hd");
    let (alice, bob) = call(&lab, 6.0, "synthetic:1280x720@30", || {});
    print("720p start", &alice, &bob);
    for r in directions(&alice, &bob) {
        let s = r.summary();
        let first_second = r.worst_latency_after(0.0).max(0.0);
        let first = r
            .timeline()
            .iter()
            .take_while(|p| f(&p["t_ms"]) <= 1000.0)
            .filter_map(|p| p["latency_p95_ms"].as_f64())
            .fold(0.0, f64::max);
        assert!(
            first < 100.0,
            "first second p95 {first:.0} ms (whole call {first_second:.0}): {s}"
        );
    }
}

/// The page on host b dials headless peercall on host a (with the server); the page's own
/// script runs first (`before_page`). Returns what the page decoded at the start and after
/// `seconds`, and peercall's report and log.
fn page_calls_peercall(
    lab: &NetLab,
    with_media: bool,
    before_page: &'static str,
    seconds: u64,
) -> ((Value, Value), (Value, String)) {
    let (_server, url) = serve(lab);
    let origin = url.trim_end_matches("/ws").replacen("ws", "http", 1);
    let page = format!("{origin}/?id=web");
    let peercall = headless(
        lab,
        Host::A,
        &[
            "answer",
            "--server",
            &url,
            "--id",
            "pcall",
            "--auto-accept",
            "--wait",
            "60",
        ],
    );
    peercall.wait_for_log("registered", Duration::from_secs(20));
    let page = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lab.run_in(Host::B, move || async move {
            // Without camera or microphone the page offers `.local` names, as browsers do.
            let chromium = browser::Chromium::launch_with(browser::Options {
                hide_ips_with_mdns: !with_media,
                without_media: !with_media,
                origin: Some(&origin),
                ..browser::Options::default()
            })
            .await;
            let tab = chromium.open_with(&page, before_page).await;
            assert!(tab.eval::<bool>("peercall.dial('pcall')").await);
            tab.wait_for("peercall.connected").await;
            tab.wait_for("peercall.stats().then(s => s.video && s.video.framesDecoded > 0)")
                .await;
            let first: Value = tab.stats().await;
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            let last: Value = tab.stats().await;
            tab.eval::<Value>("peercall.hangup()").await;
            chromium.close().await;
            (first, last)
        })
    }));
    let page_saw = page.unwrap_or_else(|panic| {
        // What peercall saw is half the story of a call that failed.
        let log = peercall
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        eprintln!("peercall's last log lines:\n{}", tail.join("\n"));
        std::panic::resume_unwind(panic)
    });
    (page_saw, peercall.finish())
}

#[test]
fn a_browser_calls_over_a_lossy_link() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NetLab::new("browser");
    lab.impair_both(5, Duration::from_millis(20), Duration::ZERO);
    let ((first, last), (report, _)) = page_calls_peercall(&lab, true, "", 10);
    let page_fps =
        (f(&last["video"]["framesDecoded"]) - f(&first["video"]["framesDecoded"])) / 10.0;
    let v = &report["video"];
    let timeline = report["timeline"].as_array().unwrap();
    let end = timeline.last().unwrap();
    let decoded_fps = u(&end["frames_decoded"]) as f64 / (f(&end["t_ms"]) / 1000.0);
    println!(
        "[browser, 5 % loss, 40 ms RTT] page decoded {page_fps:.1} fps; peercall decoded \
         {decoded_fps:.1} fps, freezes {}, nack {} repaired {}, rtx sent {}, audio decoded {} \
         fec {} tone {} Hz",
        v["freezes"],
        report["stats"]["nack_sent"],
        report["stats"]["nack_repaired"],
        report["stats"]["rtx_sent"],
        report["audio"]["blocks_decoded"],
        report["stats"]["fec_recovered"],
        report["audio"]["tone_hz"],
    );
    assert_eq!(report["ended"]["reason"], "hangup", "{report}");
    // Both ways the video keeps up through the loss: peercall's repairs (RTX) serve the page,
    // Chromium's serve peercall (its fake camera runs at 20 fps).
    assert!(
        page_fps >= 25.0,
        "the page decoded {page_fps:.1} fps: {last}"
    );
    assert!(u(&report["stats"]["rtx_sent"]) > 0, "{}", report["stats"]);
    assert!(
        decoded_fps >= 15.0,
        "peercall decoded {decoded_fps:.1} fps: {v}"
    );
    assert!(f(&v["freezes"]["longest_ms"]) <= 500.0, "{v}");
    assert!(
        f(&report["audio"]["level_dbfs"]) > -70.0,
        "{}",
        report["audio"]
    );
}

#[test]
fn a_peer_behind_its_mdns_name_is_reached() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NetLab::new("mdns");
    // A LAN: multicast works between the hosts, and bob offers only `.local` names for his
    // address, as browsers do; alice must ask the network who they are.
    lab.route_multicast();
    let (_server, url) = serve(&lab);
    let bob = headless(
        &lab,
        Host::B,
        &[
            "answer",
            "--server",
            &url,
            "--id",
            "bob",
            "--auto-accept",
            "--mdns-names",
            "--wait",
            "30",
        ],
    );
    bob.wait_for_log("registered", Duration::from_secs(20));
    let alice = headless(
        &lab,
        Host::A,
        &[
            "call",
            "--server",
            &url,
            "--id",
            "alice",
            "--dial",
            "bob",
            "--duration",
            "3",
        ],
    );
    let (report, log) = alice.finish();
    bob.report();
    assert_eq!(report["ended"]["reason"], "hangup", "{report}");
    assert!(log.contains("resolved a .local candidate"), "{log}");
    assert!(
        u(&report["video"]["counters_read"]) > 60,
        "{}",
        report["video"]
    );
}

/// One Chromium page on `host` of the lab: registers as `id`; dials `dial` if given, else takes
/// the call; then samples its getStats every half second for `seconds` and hangs up.
fn chromium_page(
    lab: &NetLab,
    host: Host,
    origin: &str,
    id: &'static str,
    dial: Option<&'static str>,
    seconds: u64,
) -> std::thread::JoinHandle<Vec<(f64, Value)>> {
    let origin = origin.to_string();
    lab.spawn_in(host, move || async move {
        let chromium = browser::Chromium::launch_with(browser::Options {
            origin: Some(&origin),
            ..browser::Options::default()
        })
        .await;
        let auto = if dial.is_some() { "" } else { "&autoaccept=1" };
        let tab = chromium.open(&format!("{origin}/?id={id}{auto}")).await;
        if let Some(peer) = dial {
            tab.wait_for(&format!("peercall.peers.includes('{peer}')"))
                .await;
            assert!(tab.eval::<bool>(&format!("peercall.dial('{peer}')")).await);
        }
        let start = Instant::now();
        let mut samples = Vec::new();
        // Chromium's own connection may fail too; then there is nothing to measure.
        while !tab
            .try_eval::<bool>("peercall.connected")
            .await
            .unwrap_or(false)
        {
            if start.elapsed() > Duration::from_secs(20) {
                chromium.close().await;
                return samples;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(seconds) {
            samples.push((start.elapsed().as_secs_f64(), tab.stats().await));
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tab.eval::<Value>("peercall.hangup()").await;
        chromium.close().await;
        samples
    })
}

/// Not a test: two Chromiums (libwebrtc) calling each other through the same links as the rows
/// above, the reference to beat (`cargo test --test net_links measure_chromium -- --ignored
/// --nocapture`).
#[test]
#[ignore]
fn measure_chromium_reference() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let n = |v: &Value| v.as_f64().unwrap_or(0.0);
    for row in [
        "5 % loss, 40 ms RTT",
        "10 % loss",
        "500 kbit/s",
        "300 kbit/s dip a → b",
    ] {
        let lab = NetLab::new("chromium");
        match row {
            "5 % loss, 40 ms RTT" => lab.impair_both(5, Duration::from_millis(20), Duration::ZERO),
            "10 % loss" => lab.impair_both(10, Duration::ZERO, Duration::ZERO),
            "500 kbit/s" => {
                lab.set_rate(Dir::AtoB, Some(500));
                lab.set_rate(Dir::BtoA, Some(500));
            }
            _ => {}
        }
        let (_server, url) = serve(&lab);
        let origin = url.trim_end_matches("/ws").replacen("ws", "http", 1);
        let b = chromium_page(&lab, Host::B, &origin, "webb", None, 16);
        std::thread::sleep(Duration::from_secs(3));
        let a = chromium_page(&lab, Host::A, &origin, "weba", Some("webb"), 15);
        if row.contains("dip") {
            std::thread::sleep(Duration::from_secs(8));
            lab.set_rate(Dir::AtoB, Some(300));
            std::thread::sleep(Duration::from_secs(5));
            lab.set_rate(Dir::AtoB, None);
        }
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        if a.is_empty() || b.is_empty() {
            println!("[chromium, {row}] the call did not connect");
            continue;
        }
        for (name, me, other) in [("a", &a, &b), ("b", &b, &a)] {
            // The last samples taken while the call was up on both sides.
            let live = |samples: &Vec<(f64, Value)>| {
                samples
                    .iter()
                    .rev()
                    .find(|(_, s)| !s["video"].is_null() && !s["sent"].is_null())
                    .map(|(_, s)| s.clone())
                    .expect("a sample during the call")
            };
            let (last, other_last) = (live(me), live(other));
            let decoded = n(&last["video"]["framesDecoded"]);
            let sent = n(&other_last["sent"]["framesSent"]);
            let per_second: Vec<String> = me
                .windows(3)
                .step_by(2)
                .map(|w| {
                    let fps = (n(&w[2].1["video"]["framesDecoded"])
                        - n(&w[0].1["video"]["framesDecoded"]))
                        / (w[2].0 - w[0].0);
                    format!("{fps:.0}")
                })
                .collect();
            let audio = &last["audio"];
            println!(
                "[chromium, {row}] {name}: frames {:.1} % ({decoded}/{sent}), freezes {} ({:.2} s), \
                 nack {}, audio concealed {:.1} %, size {}x{} → fps/s {}",
                100.0 * decoded / sent.max(1.0),
                last["video"]["freezeCount"],
                n(&last["video"]["totalFreezesDuration"]),
                last["video"]["nackCount"],
                100.0 * n(&audio["concealedSamples"]) / n(&audio["totalSamplesReceived"]).max(1.0),
                other_last["sent"]["frameWidth"],
                other_last["sent"]["frameHeight"],
                per_second.join(" "),
            );
        }
    }
}

/// Not a test: call setup times through 5 % loss and 40 ms RTT, 20 short calls, for the issue
/// notes (`cargo test --test net_links measure_setup -- --ignored --nocapture`).
#[test]
#[ignore]
fn measure_setup_under_loss() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NetLab::new("setup");
    lab.impair_both(5, Duration::from_millis(20), Duration::ZERO);
    let mut connected = Vec::new();
    for i in 0..20 {
        let (_server, url) = serve(&lab);
        let bob = headless(
            &lab,
            Host::B,
            &[
                "answer",
                "--server",
                &url,
                "--id",
                "bob",
                "--auto-accept",
                "--wait",
                "30",
            ],
        );
        bob.wait_for_log("registered", Duration::from_secs(20));
        let alice = headless(
            &lab,
            Host::A,
            &[
                "call",
                "--server",
                &url,
                "--id",
                "alice",
                "--dial",
                "bob",
                "--duration",
                "2",
            ],
        );
        let (a, b) = (alice.report(), bob.report());
        println!(
            "{i}: alice {} bob {}, {}",
            a["ended"]["reason"], b["ended"]["reason"], a["setup_ms"]
        );
        if let Some(ms) = a["setup_ms"]["connected"].as_f64() {
            connected.push(ms);
        }
    }
    connected.sort_by(f64::total_cmp);
    println!(
        "dial → connected: {} of 20 calls, p50 {:.0} ms, max {:.0} ms",
        connected.len(),
        connected[connected.len() / 2],
        connected.last().unwrap()
    );
}
