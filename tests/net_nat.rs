//! NAT and relay: a caller at home behind a NAT router, a callee on the public side, and on a
//! public server `peercall serve` handing out TURN credentials for a real coturn. Each case is
//! asserted on what was decoded (frame counters, the other side's tone) and on the path media
//! took (`path` in the report). Needs root (CI runs as root).

#[path = "common/browser.rs"]
mod browser;
#[path = "common/netlab/mod.rs"]
mod netlab;
#[path = "common/proc.rs"]
mod proc;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use netlab::nat::{NatLab, Site, SRV};
use proc::Proc;
use serde_json::Value;

/// One call at a time: two cores, and the relay doubles every packet's trips.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

const SECRET: &str = "nat-test-shared-secret";
const SECONDS: f64 = 8.0;
const FPS: f64 = 15.0;

/// coturn, as NETWORK-LAB.md runs it: TURN REST credentials against our shared secret.
struct Turn(Child);

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_turn(lab: &NatLab) -> Turn {
    let child = lab
        .command(Site::Srv, "turnserver")
        .args([
            "-n",
            &format!("--listening-ip={SRV}"),
            &format!("--relay-ip={SRV}"),
            "--listening-port=3478",
            "--min-port=49152",
            "--max-port=49999",
            "--use-auth-secret",
            &format!("--static-auth-secret={SECRET}"),
            "--realm=peercall.test",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--log-file=stdout",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start turnserver (scripts/install-deps.sh installs coturn)");
    let turn = Turn(child);
    // Ready once its UDP port is bound.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = lab
            .command(Site::Srv, "ss")
            .args(["-Hlun", "sport = :3478"])
            .output()
            .expect("run ss");
        if !out.stdout.is_empty() {
            return turn;
        }
        assert!(
            Instant::now() < deadline,
            "turnserver never listened on 3478"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `peercall serve` on the public server, handing out credentials for the TURN server there.
fn serve(lab: &NatLab) -> (Proc, String) {
    Proc::serve(
        lab.command(Site::Srv, env!("CARGO_BIN_EXE_peercall"))
            .args([
                "serve",
                "--bind",
                &format!("{SRV}:0"),
                "--turn-secret",
                SECRET,
                "--turn-url",
                &format!("turn:{SRV}:3478"),
                "--turn-ttl",
                "10m",
            ]),
    )
}

fn peercall(lab: &NatLab, site: Site, args: &[&str]) -> Proc {
    Proc::peercall(lab.command(site, env!("CARGO_BIN_EXE_peercall")), args)
}

/// home dials bob through the server; `home_args` are added to home's command line. Returns
/// (home's report, bob's report).
fn call(lab: &NatLab, home_args: &[&str]) -> (Value, Value) {
    let _turn = start_turn(lab);
    let (_server, ws) = serve(lab);
    let video = format!("synthetic:320x240@{FPS}");
    let duration = SECONDS.to_string();
    let bob = peercall(
        lab,
        Site::Bob,
        &[
            "answer",
            "--server",
            &ws,
            "--id",
            "bob",
            "--auto-accept",
            "--wait",
            "30",
            "--video",
            &video,
            "--audio",
            "synthetic:1000",
        ],
    );
    bob.wait_for_log("registered", Duration::from_secs(10));
    let mut args = vec![
        "call",
        "--server",
        &ws,
        "--id",
        "home",
        "--dial",
        "bob",
        "--video",
        &video,
        "--audio",
        "synthetic:440",
        "--duration",
        &duration,
    ];
    args.extend_from_slice(home_args);
    let home = peercall(lab, Site::Home, &args);
    (home.report(), bob.report())
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Each side decoded most of the other's frames (by their counters) and heard its tone.
fn assert_media_both_ways(home: &Value, bob: &Value) {
    for (name, me, other, tone) in [("home", home, bob, 1000.0), ("bob", bob, home, 440.0)] {
        let read = u(&me["video"]["counters_read"]);
        let sent = u(&other["video"]["frames_sent"]);
        assert!(
            sent > 0 && read as f64 >= 0.8 * sent as f64,
            "{name} read {read} frame counters of {sent} sent: {}",
            me["video"]
        );
        let heard = me["audio"]["tone_hz"].as_f64().unwrap_or(0.0);
        assert!(
            (heard - tone).abs() < 10.0,
            "{name} heard {heard} Hz, not {tone}: {}",
            me["audio"]
        );
    }
}

fn path(report: &Value) -> (String, String) {
    let p = &report["path"];
    let kind = |k: &str| {
        p[k].as_str()
            .unwrap_or_else(|| panic!("no path.{k} in the report: {p}"))
            .to_string()
    };
    assert_eq!(p["protocol"], "udp", "{p}");
    (kind("local_type"), kind("remote_type"))
}

fn summary(name: &str, home: &Value, bob: &Value) {
    println!(
        "{name}: home path {} setup {} ms, frames read {}; bob path {}, frames read {}",
        home["path"],
        home["setup_ms"]["connected"],
        home["video"]["counters_read"],
        bob["path"],
        bob["video"]["counters_read"],
    );
}

#[test]
fn a_caller_behind_a_nat_reaches_a_public_callee_directly() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NatLab::new("natd");
    let (home, bob) = call(&lab, &[]);
    summary("direct", &home, &bob);
    assert_media_both_ways(&home, &bob);
    let (home_local, home_remote) = path(&home);
    let (_, bob_remote) = path(&bob);
    // Straight through the NAT: nobody relays, and bob sees home by the address the NAT gave
    // it (found through STUN, or from the checks themselves), never by its private one.
    assert_ne!(home_local, "relay");
    assert_eq!(home_remote, "host", "bob is on the public side");
    assert!(
        bob_remote == "srflx" || bob_remote == "prflx",
        "bob reached home at a {bob_remote} candidate"
    );
}

#[test]
fn with_direct_udp_blocked_the_call_goes_through_the_relay() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NatLab::new("natr");
    lab.block_direct();
    let (home, bob) = call(&lab, &[]);
    summary("blocked", &home, &bob);
    assert_media_both_ways(&home, &bob);
    let (home_local, home_remote) = path(&home);
    assert!(
        home_local == "relay" || home_remote == "relay",
        "with no direct path the pair must use a relay: {home_local} to {home_remote}"
    );
}

#[test]
fn relay_only_hides_the_address_even_where_a_direct_path_exists() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NatLab::new("nath");
    let (home, bob) = call(&lab, &["--ice-transport", "relay"]);
    summary("relay only", &home, &bob);
    assert_media_both_ways(&home, &bob);
    let (home_local, _) = path(&home);
    let (_, bob_remote) = path(&bob);
    assert_eq!(home_local, "relay");
    assert_eq!(
        bob_remote, "relay",
        "bob must know home only by the relay's address"
    );
}

/// The page's *hide my IP address* (`?relay=1`): a Chromium at home, with TURN credentials from
/// the server, calls bob through the relay although a direct path exists; bob knows it only by
/// the relay's address.
#[test]
fn a_browser_that_hides_its_address_calls_through_the_relay() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NatLab::new("natw");
    let _turn = start_turn(&lab);
    let (_server, ws) = serve(&lab);
    let origin = ws
        .trim_end_matches("/ws")
        .replacen("ws", "http", 1)
        .to_string();
    let bob = peercall(
        &lab,
        Site::Bob,
        &[
            "answer",
            "--server",
            &ws,
            "--id",
            "bob",
            "--auto-accept",
            "--wait",
            "60",
            "--video",
            &format!("synthetic:320x240@{FPS}"),
        ],
    );
    bob.wait_for_log("registered", Duration::from_secs(10));
    let page = lab.spawn_in(Site::Home, move || async move {
        let chromium = browser::Chromium::launch_with(browser::Options {
            origin: Some(&origin),
            ..browser::Options::default()
        })
        .await;
        let tab = chromium.open(&format!("{origin}/?id=web&relay=1")).await;
        tab.wait_for("peercall.peers.includes('bob')").await;
        assert!(tab.eval::<bool>("peercall.dial('bob')").await);
        tab.wait_for_within("peercall.connected", Duration::from_secs(30))
            .await;
        tokio::time::sleep(Duration::from_secs(4)).await;
        let stats = tab.stats().await;
        tab.eval::<Value>("peercall.hangup()").await;
        chromium.close().await;
        stats
    });
    let stats = page.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
    let bob = bob.report();
    println!(
        "page with ?relay=1: path {}, frames decoded {}; bob path {}, frames decoded {}",
        stats["path"], stats["video"]["framesDecoded"], bob["path"], bob["video"]["frames_decoded"]
    );
    assert_eq!(stats["path"]["local_type"], "relay", "{stats}");
    // The page sends only from its relay, so bob sees nothing but the relay's address: as the
    // relay candidate the page signalled, or as a peer-reflexive one when the relay's first check
    // reached bob before that candidate did.
    let (_, bob_remote) = path(&bob);
    assert!(
        bob_remote == "relay" || bob_remote == "prflx",
        "bob must know the page only by the relay's address, not as {bob_remote}"
    );
    assert!(
        u(&stats["video"]["framesDecoded"]) >= 30,
        "the page decoded too little of bob's video: {stats}"
    );
    assert!(
        u(&bob["video"]["frames_decoded"]) >= 30,
        "bob decoded too little of the page's video: {}",
        bob["video"]
    );
}
