//! Networks that change under a call: the media path breaks mid-call (this host's old address
//! stops carrying UDP and it gains a new one, as when a laptop moves to another network while
//! its signaling connection survives) and the call connects again; a peer that really vanished
//! ends the call within 10 s. Two headless peercalls on two hosts (network namespaces), or one and
//! a Chromium page, asserted on the frames decoded after the change. Needs root (CI runs as root).

#[path = "common/browser.rs"]
mod browser;
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

/// What stops working from a moved host's old address.
#[derive(Clone, Copy)]
enum Lost {
    /// UDP: the media path breaks, the signaling connection (TCP) survives.
    Udp,
    /// Everything: the signaling connection dies with the old network too.
    All,
}

/// `host` moves: `lost` traffic from its old address goes nowhere, and it gains `new_addr`.
fn move_host(lab: &NetLab, host: Host, new_addr: &str, lost: Lost) {
    move_in_namespace(&lab.ns(host), NetLab::addr(host), new_addr, lost);
}

/// What [`move_host`] does, in the namespace `ns` (callable from a thread without the lab).
fn move_in_namespace(ns: &str, old: &str, new: &str, lost: Lost) {
    let new = format!("{new}/24");
    let old_net = format!("{old}/24");
    let mut commands: Vec<Vec<&str>> = vec![
        vec!["nft", "add", "table", "inet", "moved"],
        vec![
            "nft",
            "add",
            "chain",
            "inet",
            "moved",
            "out",
            "{ type filter hook output priority 0; policy accept; }",
        ],
    ];
    match lost {
        Lost::Udp => commands.extend([
            vec![
                "nft", "add", "rule", "inet", "moved", "out", "ip", "saddr", old, "meta",
                "l4proto", "udp", "drop",
            ],
            vec!["ip", "addr", "add", &new, "dev", "eth0"],
        ]),
        // The old address goes away (so new connections leave from the new one); what is
        // still sent from it goes nowhere.
        Lost::All => commands.extend([
            vec![
                "nft", "add", "rule", "inet", "moved", "out", "ip", "saddr", old, "drop",
            ],
            vec!["sysctl", "-qw", "net.ipv4.conf.eth0.promote_secondaries=1"],
            vec!["ip", "addr", "add", &new, "dev", "eth0"],
            vec!["ip", "addr", "del", &old_net, "dev", "eth0"],
        ]),
    }
    for args in commands {
        let out = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(&args)
            .output()
            .expect("run a network command");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `host` drops off the network altogether (its signaling too).
fn vanish(lab: &NetLab, host: Host) {
    netlab::in_ns(&lab.ns(host), "ip", &["link", "set", "eth0", "down"]);
}

fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

fn peercall(lab: &NetLab, host: Host, args: &[&str]) -> Proc {
    Proc::peercall(lab.command(host, env!("CARGO_BIN_EXE_peercall")), args)
}

/// The server on host b; bob (who answers) on `bob_host`, alice dials from the other host;
/// `event` runs `BREAK_AT` into the call and returns when it happened. Returns (alice's report,
/// bob's report, the event's wall-clock time).
fn call(
    lab: &NetLab,
    seconds: f64,
    bob_host: Host,
    event: impl FnOnce(&NetLab),
) -> (Value, Value, f64) {
    let alice_host = match bob_host {
        Host::A => Host::B,
        Host::B => Host::A,
    };
    let (_server, ws) = Proc::serve(lab.command(Host::B, env!("CARGO_BIN_EXE_peercall")).args([
        "serve",
        "--bind",
        &format!("{ADDR_B}:0"),
    ]));
    let video = format!("synthetic:320x240@{FPS}");
    let bob = peercall(
        lab,
        bob_host,
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
        alice_host,
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
    let (alice, bob, at) = call(&lab, SECONDS, Host::B, |lab| {
        move_host(lab, Host::A, "10.77.0.11", Lost::Udp)
    });
    assert_connected_again("caller moved", &alice, &bob, at);
}

/// The caller's old network takes its signaling connection along: it notices the path broke,
/// finds its server connection dead at once (a probe, not the next keepalive), connects again
/// from the new address, takes its registration over (the server has not noticed the old
/// connection is dead) and offers anew through it.
#[test]
fn the_callers_network_changes_under_its_signaling_too_and_the_call_connects_again() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NetLab::new("chgs");
    let (alice, bob, at) = call(&lab, SECONDS, Host::B, |lab| {
        move_host(lab, Host::A, "10.77.0.11", Lost::All)
    });
    let errors = alice["errors"].to_string();
    assert!(
        errors.contains("signaling lost") && errors.contains("did not answer"),
        "alice's signaling connection should have been found dead by a probe: {errors}"
    );
    assert_connected_again("caller moved, signaling too", &alice, &bob, at);
}

#[test]
fn the_callees_path_breaks_mid_call_and_the_call_connects_again() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NetLab::new("chgb");
    let (alice, bob, at) = call(&lab, SECONDS, Host::B, |lab| {
        move_host(lab, Host::B, "10.77.0.12", Lost::Udp)
    });
    assert_connected_again("callee moved", &alice, &bob, at);
}

/// The callee's old network takes its signaling connection along: the caller's new offer goes
/// into that dead connection (the server has not noticed it is dead), so the caller offers
/// again once that offer has found no path for a while; by then the callee is back.
#[test]
fn the_callees_network_changes_under_its_signaling_too_and_the_call_connects_again() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NetLab::new("chgt");
    // bob on host a, away from the server on b, so his move takes his signaling with it.
    let (alice, bob, at) = call(&lab, SECONDS, Host::A, |lab| {
        move_host(lab, Host::A, "10.77.0.11", Lost::All)
    });
    let errors = bob["errors"].to_string();
    assert!(
        errors.contains("did not answer"),
        "bob's signaling connection should have been found dead by a probe: {errors}"
    );
    assert_connected_again("callee moved, signaling too", &alice, &bob, at);
}

#[test]
fn a_peer_that_vanished_ends_the_call_within_10_s() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NetLab::new("chgv");
    let started = Instant::now();
    let (alice, _bob, at) = call(&lab, 40.0, Host::B, |lab| vanish(lab, Host::B));
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

/// A Chromium page on `page_host` and a headless peercall on the other host in a call; the
/// peercall's host moves mid-call. (Not the page's: headless Chromium here keeps using the
/// addresses it found at start, so a new one never reaches its candidates.) The page dials when
/// `page_calls`, else it answers. Returns (the page's restarts, its video frames
/// decoded before the move and at the end (by its connection at the time), peercall's report, the move's wall-clock time).
fn browser_call(page_host: Host, page_calls: bool) -> (u64, (u64, u64), Value, f64) {
    let lab = NetLab::new(if page_calls { "chgwc" } else { "chgwa" });
    let (_server, ws) = Proc::serve(lab.command(Host::B, env!("CARGO_BIN_EXE_peercall")).args([
        "serve",
        "--bind",
        &format!("{ADDR_B}:0"),
    ]));
    let origin = ws
        .trim_end_matches("/ws")
        .replacen("ws", "http", 1)
        .to_string();
    let peercall_host = if page_host == Host::A {
        Host::B
    } else {
        Host::A
    };
    let video = format!("synthetic:320x240@{FPS}");
    let duration = SECONDS.to_string();
    let pcall_args: Vec<String> = if page_calls {
        vec![
            "answer",
            "--server",
            &ws,
            "--id",
            "pcall",
            "--auto-accept",
            "--wait",
            "60",
            "--video",
            &video,
        ]
    } else {
        vec![
            "call",
            "--server",
            &ws,
            "--id",
            "pcall",
            "--dial",
            "web",
            "--video",
            &video,
            "--duration",
            &duration,
        ]
    }
    .into_iter()
    .map(str::to_string)
    .collect();
    let (ready_tx, ready) = std::sync::mpsc::channel::<()>();
    let page = lab.spawn_in(page_host, move || async move {
        let chromium = browser::Chromium::launch_with(browser::Options {
            origin: Some(&origin),
            ..browser::Options::default()
        })
        .await;
        let auto = if page_calls { "" } else { "&autoaccept=1" };
        let tab = chromium
            .open_with(&format!("{origin}/?id=web{auto}"), PAGE_LOG)
            .await;
        tab.wait_for("peercall.id === 'web'").await;
        let _ = ready_tx.send(());
        if page_calls {
            tab.wait_for("peercall.peers.includes('pcall')").await;
            assert!(tab.eval::<bool>("peercall.dial('pcall')").await);
        }
        tab.wait_for_within("peercall.connected", Duration::from_secs(30))
            .await;
        let frames = |v: Value| v["video"]["framesDecoded"].as_u64().unwrap_or(0);
        tokio::time::sleep(BREAK_AT).await;
        let before = frames(tab.stats().await);
        let moved = unix_ms();
        tokio::task::spawn_blocking(move || move_host_named(peercall_host, page_calls))
            .await
            .unwrap();
        // The rest of the call (the page hangs up when it called; peercall when it did).
        // Read before a calling peercall's --duration is up.
        tokio::time::sleep(Duration::from_secs_f64(SECONDS) - BREAK_AT - Duration::from_secs(4))
            .await;
        let after = frames(tab.stats().await);
        let restarts: u64 = tab.eval("peercall.restarts || 0").await;
        let state: Value = tab.state().await;
        println!(
            "page at the end: connected {} reconnecting {} error {} last end {}",
            state["connected"], state["reconnecting"], state["error"], state["lastEnd"]
        );
        if restarts == 0 {
            let log: Value = tab.eval("window.__log").await;
            println!("page log: {log}");
        }
        if page_calls {
            tab.eval::<Value>("peercall.hangup()").await;
        }
        chromium.close().await;
        (restarts, (before, after), moved)
    });
    // The page is online: peercall may ring it, or be rung.
    ready
        .recv_timeout(Duration::from_secs(30))
        .expect("the page registered");
    let args: Vec<&str> = pcall_args.iter().map(String::as_str).collect();
    let pcall = peercall(&lab, peercall_host, &args);
    let (restarts, frames, moved) = page.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
    (restarts, frames, pcall.report(), moved)
}

/// Keeps the page's warnings and its connections' states, to say what went wrong.
const PAGE_LOG: &str = r#"
window.__log = [];
const keep = (s) => { if (window.__log.length < 200) window.__log.push((performance.now()/1000).toFixed(1) + ' ' + s); };
for (const k of ['warn', 'error']) { const f = console[k]; console[k] = (...a) => { keep(a.join(' ')); f(...a); }; }
const PC = window.RTCPeerConnection;
window.RTCPeerConnection = function (...a) {
  const pc = new PC(...a);
  keep('new pc');
  pc.addEventListener('iceconnectionstatechange', () => keep('ice ' + pc.iceConnectionState));
  pc.addEventListener('connectionstatechange', () => keep('pc ' + pc.connectionState));
  pc.addEventListener('icecandidate', (e) => keep('cand ' + (e.candidate ? e.candidate.candidate : 'end')));
  return pc;
};
window.RTCPeerConnection.prototype = PC.prototype;
"#;

/// [`move_host`] from inside a namespace thread, which has no `NetLab` at hand: the lab's
/// namespaces are named after its tag.
fn move_host_named(host: Host, page_calls: bool) {
    let tag = if page_calls { "chgwc" } else { "chgwa" };
    let ns = format!("pcl-{tag}-{}", if host == Host::A { "a" } else { "b" });
    let new = if host == Host::A {
        "10.77.0.11"
    } else {
        "10.77.0.12"
    };
    move_in_namespace(&ns, NetLab::addr(host), new, Lost::Udp);
}

fn assert_browser_call_went_on(
    name: &str,
    restarts: u64,
    frames: (u64, u64),
    report: &Value,
    at: f64,
) {
    let t = on_timeline(report, at);
    // The page's counts are its current connection's: after a restart, the new one's alone.
    let page_late = frames.1;
    println!(
        "{name}: page restarts {restarts}, page frames after the move {page_late}; peercall          restarts {}, noticed {:.0} ms after, connected again {:.0} ms later, frames after {}",
        report["ice_restarts"],
        report["path_lost_ms"][0].as_f64().map_or(f64::NAN, |l| l - t),
        report["reconnect_ms"][0].as_f64().unwrap_or(f64::NAN),
        frames_after(report, t),
    );
    assert!(restarts >= 1, "the page never connected again");
    assert!(
        report["ice_restarts"].as_u64().unwrap_or(0) >= 1,
        "peercall never restarted"
    );
    // Chromium's fake camera runs at about 20 fps; half the rest of the call at least.
    assert!(
        page_late >= 60,
        "the page decoded {page_late} frames after the move"
    );
    let late = frames_after(report, t + 4000.0);
    assert!(
        late >= 40,
        "peercall decoded {late} frames from 4 s after the move"
    );
}

#[test]
fn a_browser_calling_a_peercall_that_moves_connects_again() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (restarts, frames, report, at) = browser_call(Host::A, true);
    assert_browser_call_went_on("page calls, peercall moves", restarts, frames, &report, at);
}

#[test]
fn a_peercall_that_moves_calls_the_browser_again() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (restarts, frames, report, at) = browser_call(Host::B, false);
    assert_browser_call_went_on(
        "peercall calls, peercall moves",
        restarts,
        frames,
        &report,
        at,
    );
}
