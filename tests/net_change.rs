//! Networks that change under a call: the media path breaks mid-call (this host's old address
//! stops carrying UDP and it gains a new one, as when a laptop moves to another network while
//! its signaling connection survives) and the call connects again; a peer that really vanished
//! ends the call within 10 s. Two headless peercalls on two hosts (network namespaces), asserted
//! on the frame counters decoded after the change. Needs root (CI runs as root).

#[path = "common/netlab/mod.rs"]
mod netlab;
#[path = "common/proc.rs"]
mod proc;

use std::process::Command;
use std::time::{Duration, Instant};

use netlab::{Host, NetLab, ADDR_B};
use proc::Proc;
use serde_json::Value;

/// One call at a time: two cores, and every call measures peercall, not the machine.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The call runs this long; the path breaks `BREAK_AT` seconds after media connected.
const SECONDS: f64 = 16.0;
const BREAK_AT: Duration = Duration::from_secs(5);
const FPS: f64 = 15.0;

fn run_in(lab: &NetLab, host: Host, program: &str, args: &[&str]) {
    let out: std::process::Output = lab
        .command(host, program)
        .args(args)
        .output()
        .expect("run a network command");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `host` moves: UDP from its old address goes nowhere, and it gains `new_addr`.
fn move_host(lab: &NetLab, host: Host, new_addr: &str) {
    let old = NetLab::addr(host);
    run_in(lab, host, "nft", &["add", "table", "inet", "moved"]);
    run_in(
        lab,
        host,
        "nft",
        &[
            "add",
            "chain",
            "inet",
            "moved",
            "out",
            "{ type filter hook output priority 0; policy accept; }",
        ],
    );
    run_in(
        lab,
        host,
        "nft",
        &[
            "add", "rule", "inet", "moved", "out", "ip", "saddr", old, "meta", "l4proto", "udp",
            "drop",
        ],
    );
    run_in(
        lab,
        host,
        "ip",
        &["addr", "add", &format!("{new_addr}/24"), "dev", "eth0"],
    );
}

/// `host` drops off the network altogether (its signaling too).
fn vanish(lab: &NetLab, host: Host) {
    run_in(lab, host, "ip", &["link", "set", "eth0", "down"]);
}

fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

fn peercall(lab: &NetLab, host: Host, args: &[&str]) -> Proc {
    let mut command: Command = lab.command(host, env!("CARGO_BIN_EXE_peercall"));
    command.args(args).env(
        "RUST_LOG",
        std::env::var("NET_LINKS_LOG").unwrap_or_else(|_| "warn,peercall=info".into()),
    );
    Proc::spawn(&mut command)
}

/// The server and bob on host b (the server stays reachable from a's old address over TCP), alice
/// dials from host a; `event` runs `BREAK_AT` into the call and returns when it happened.
/// Returns (alice's report, bob's report, the event's wall-clock time).
fn call(lab: &NetLab, seconds: f64, event: impl FnOnce(&NetLab)) -> (Value, Value, f64) {
    let (_server, ws) = Proc::serve(lab.command(Host::B, env!("CARGO_BIN_EXE_peercall")).args([
        "serve",
        "--bind",
        &format!("{ADDR_B}:0"),
    ]));
    let video = format!("synthetic:320x240@{FPS}");
    let bob = peercall(
        lab,
        Host::B,
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
    bob.wait_for_log("registered", Duration::from_secs(20));
    let duration = seconds.to_string();
    let alice = peercall(
        lab,
        Host::A,
        &[
            "call",
            "--server",
            &ws,
            "--id",
            "alice",
            "--dial",
            "bob",
            "--video",
            &video,
            "--audio",
            "synthetic:440",
            "--duration",
            &duration,
        ],
    );
    alice.wait_for_log("media connected", Duration::from_secs(20));
    std::thread::sleep(BREAK_AT);
    let at = unix_ms();
    event(lab);
    (alice.report(), bob.report(), at)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// Frames `report` decoded from `from_ms` (ms after it connected) to its end.
fn frames_after(report: &Value, from_ms: f64) -> u64 {
    let timeline = report["timeline"].as_array().expect("a timeline");
    let at = |p: &Value| p["frames_decoded"].as_u64().unwrap_or(0);
    let before = timeline
        .iter()
        .rfind(|p| f(&p["t_ms"]) <= from_ms)
        .map_or(0, at);
    timeline.last().map_or(0, at).saturating_sub(before)
}

/// The event's moment on `report`'s own timeline.
fn on_timeline(report: &Value, unix_ms: f64) -> f64 {
    unix_ms - f(&report["setup_ms"]["connected_unix_ms"])
}

/// The path came back and media flows again both ways: frames decoded well after the change,
/// and the call ran its course.
fn assert_connected_again(name: &str, alice: &Value, bob: &Value, at: f64) {
    for (who, report) in [("alice", alice), ("bob", bob)] {
        let t = on_timeline(report, at);
        let restarts = report["ice_restarts"].as_u64().unwrap_or(0);
        let lost = report["path_lost_ms"][0].as_f64();
        let took = report["reconnect_ms"][0].as_f64();
        let freeze = f(&report["video"]["freezes"]["longest_ms"]);
        println!(
            "{name}, {who}: restarts {restarts}, noticed {:.0} ms after the change, connected \
             again {:.0} ms later, longest freeze {freeze:.0} ms, frames after the change {}",
            lost.map_or(f64::NAN, |l| l - t),
            took.unwrap_or(f64::NAN),
            frames_after(report, t),
        );
        assert!(
            restarts >= 1,
            "{who} never noticed the path break: {report}"
        );
        assert!(took.is_some(), "{who} never connected again");
        // The last stretch: from 4 s after the change to the end, frames keep coming.
        let late = frames_after(report, t + 4000.0);
        let expected = ((SECONDS * 1000.0 - t - 4000.0) / 1000.0 * FPS).max(0.0);
        assert!(
            late as f64 >= 0.7 * expected,
            "{who} decoded {late} frames in the last stretch, expected about {expected:.0}"
        );
        assert_eq!(
            report["ended"]["reason"], "hangup",
            "{who}: {}",
            report["ended"]
        );
    }
}

#[test]
fn the_callers_path_breaks_mid_call_and_the_call_connects_again() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NetLab::new("chga");
    let (alice, bob, at) = call(&lab, SECONDS, |lab| move_host(lab, Host::A, "10.77.0.11"));
    assert_connected_again("caller moved", &alice, &bob, at);
}

#[test]
fn the_callees_path_breaks_mid_call_and_the_call_connects_again() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NetLab::new("chgb");
    let (alice, bob, at) = call(&lab, SECONDS, |lab| move_host(lab, Host::B, "10.77.0.12"));
    assert_connected_again("callee moved", &alice, &bob, at);
}

#[test]
fn a_peer_that_vanished_ends_the_call_within_10_s() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NetLab::new("chgv");
    let started = Instant::now();
    let (alice, _bob, at) = call(&lab, 40.0, |lab| vanish(lab, Host::B));
    let ended = &alice["ended"];
    let after = f(&ended["at_unix_ms"]) - at;
    println!(
        "vanished: alice ended {after:.0} ms after bob dropped off ({}); whole test {:?}",
        ended["detail"],
        started.elapsed()
    );
    assert!(
        after <= 10_000.0,
        "alice took {after:.0} ms to end a call with a vanished peer: {ended}"
    );
    assert_eq!(ended["by"], "local", "{ended}");
}
