//! Calls through real socket.io servers (tests/socketio: node, socket.io 3.1.2 and 1.4.5),
//! between headless peercalls and with Chromium running pages that speak each server's dialect.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/socketio_servers.rs"]
mod socketio_servers;

use std::time::Duration;

use browser::Chromium;
use common::{report_of, spawn_headless, ONE_CALL_AT_A_TIME};
use serde_json::Value;
use socketio_servers::{self_signed_pem, NodeServer};

fn room_call(base: &str, room: &str, extra: &[&str]) -> common::Proc {
    let mut args = vec![
        "call",
        "--signaling",
        "socketio-room",
        "--server",
        base,
        "--insecure-tls",
        "--dial",
        room,
        "--video",
        "synthetic:320x240@15",
    ];
    args.extend_from_slice(extra);
    spawn_headless(&args)
}

fn chats(report: &Value) -> Vec<String> {
    report["remote_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["code"] == "chat")
        .map(|e| e["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Through `signaling`, `me` decoded video and heard the other side's `hz` tone.
fn assert_media(me: &Value, signaling: &str, hz: f64) {
    assert_eq!(me["signaling"], signaling);
    assert!(
        me["video"]["frames_decoded"].as_u64().unwrap_or(0) >= 30,
        "{}",
        me["video"]
    );
    let tone = me["audio"]["tone_hz"].as_f64().unwrap_or(0.0);
    assert!((tone - hz).abs() < 20.0, "heard {tone} Hz, not {hz}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peercalls_meet_in_a_room_over_https_chat_and_say_bye_and_a_third_finds_it_full() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let (cert, key) = self_signed_pem();
    let server = NodeServer::start(
        "room_server.js",
        &[cert.to_str().unwrap(), key.to_str().unwrap()],
    )
    .await;
    let base = format!("https://127.0.0.1:{}", server.port);
    let room = format!("room{}", rand::random::<u32>());
    let first = room_call(
        &base,
        &room,
        &[
            "--audio",
            "synthetic:440",
            "--chat-at",
            "1",
            "hello from the first",
            "--duration",
            "6",
        ],
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The second types the moment the call connects, before the chat channel is open: the
    // line waits for it.
    let second = room_call(
        &base,
        &room,
        &[
            "--audio",
            "synthetic:1000",
            "--chat-at",
            "0",
            "hi from the second",
        ],
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let third = report_of(room_call(&base, &room, &[])).await;
    assert_eq!(third["ended"]["reason"], "busy", "{}", third["ended"]);

    let (first, second) = (report_of(first).await, report_of(second).await);
    assert_media(&first, "socketio-room", 1000.0);
    assert_media(&second, "socketio-room", 440.0);
    assert_eq!(chats(&first), ["hi from the second"], "{}", server.log());
    assert_eq!(chats(&second), ["hello from the first"]);
    assert_eq!(first["ended"]["by"], "local");
    assert_eq!(second["ended"]["by"], "remote", "bye: {}", second["ended"]);
    assert_eq!(second["ended"]["reason"], "hangup");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peercall_and_a_browser_page_meet_in_a_room_either_first() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let server = NodeServer::start("room_server.js", &[]).await;
    let base = format!("http://127.0.0.1:{}", server.port);
    let chromium = Chromium::launch(false).await;

    // 1. The page is in the room first (it offers); peercall joins, chats, and hangs up.
    let room = format!("a{}", rand::random::<u32>());
    let tab = chromium
        .open_page(&format!(
            "{base}/room.html?room={room}&chat=hello%20from%20the%20page"
        ))
        .await;
    tab.wait_for("window.isInitiator && window.mediaReady")
        .await;
    let pc = room_call(
        &base,
        &room,
        &["--duration", "6", "--chat-at", "2", "hello from peercall"],
    );
    tab.wait_for("window.callState === 'connected'").await;
    tab.wait_for(
        "window.stats().then(s => s.video.framesDecoded > 20 && s.audio.packetsReceived > 0)",
    )
    .await;
    tab.wait_for("window.toneHz() > 430 && window.toneHz() < 450")
        .await;
    tab.wait_for("window.chatReceived.includes('hello from peercall')")
        .await;
    let report = report_of(pc).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let state: String = tab.eval("window.callState").await;
    let page_log: Value = tab.eval("window.testLog.slice(-15)").await;
    assert_eq!(state, "ended", "the page heard bye: {page_log:#}");
    assert_eq!(report["ended"]["by"], "local", "{}", report["ended"]);
    assert!(report["video"]["frames_decoded"].as_u64().unwrap() > 20);
    let tone = report["audio"]["tone_hz"].as_f64().unwrap_or(0.0);
    assert!((tone - browser::FAKE_MIC_HZ).abs() <= 5.0, "{tone}");
    assert_eq!(chats(&report), ["hello from the page"]);

    // 2. peercall is first (it offers); the page joins, then hangs up with `bye`.
    let room = format!("b{}", rand::random::<u32>());
    let pc = room_call(&base, &room, &["--chat-at", "1", "first in the room"]);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let tab = chromium
        .open_page(&format!("{base}/room.html?room={room}"))
        .await;
    tab.wait_for("window.callState === 'connected' && !window.isInitiator")
        .await;
    tab.wait_for("window.stats().then(s => s.video.framesDecoded > 20)")
        .await;
    tab.wait_for("window.chatReceived.includes('first in the room')")
        .await;
    // Typed a moment after the channel opened. (A line sent within the first milliseconds of
    // a channel peercall opened was lost in about one run of four: see the issue note.)
    assert!(tab.eval::<bool>("window.sendChat('joined late')").await);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    tab.eval::<Value>("window.hangUp()").await;
    let report = report_of(pc).await;
    assert_eq!(report["ended"]["by"], "remote", "{}", report["ended"]);
    assert!(report["video"]["frames_decoded"].as_u64().unwrap() > 20);
    let page_log: Value = tab.eval("window.testLog.slice(-12)").await;
    assert_eq!(chats(&report), ["joined late"], "{page_log:#}");
    chromium.close().await;
    server.stop();
}

fn one_to_one(port: u16, id: &str, args: &[&str]) -> common::Proc {
    let base = format!("http://127.0.0.1:{port}");
    let mut all = vec![
        "--signaling",
        "socketio-1v1",
        "--server",
        &base,
        "--room",
        "lobby",
        "--id",
        id,
        "--video",
        "synthetic:320x240@15",
    ];
    all.splice(0..0, args.iter().copied());
    spawn_headless(&all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socketio_1x_user_list_rings_accepts_declines_is_busy_and_hangs_up() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let server = NodeServer::start("onev1_server.js", &[]).await;
    let port = server.port;
    let bob = one_to_one(
        port,
        "bob",
        &[
            "answer",
            "--auto-accept",
            "--wait",
            "60",
            "--audio",
            "synthetic:1000",
        ],
    );
    let carol = one_to_one(port, "carol", &["answer", "--wait", "60"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let alice = one_to_one(
        port,
        "alice",
        &[
            "call",
            "--dial",
            "bob",
            "--duration",
            "6",
            "--audio",
            "synthetic:440",
        ],
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // bob is in a call: busy. carol does not take calls: declined. A name nobody joined as is
    // refused here, before the server could choke on it.
    let dave = report_of(one_to_one(port, "dave", &["call", "--dial", "bob"])).await;
    assert_eq!(dave["ended"]["reason"], "busy", "{}", dave["ended"]);
    let erin = report_of(one_to_one(port, "erin", &["call", "--dial", "carol"])).await;
    assert_eq!(erin["ended"]["reason"], "declined", "{}", erin["ended"]);
    let zed = report_of(one_to_one(port, "zed", &["call", "--dial", "nobody"])).await;
    assert_eq!(zed["ended"]["reason"], "unknown_peer", "{}", zed["ended"]);

    let (alice, bob) = (report_of(alice).await, report_of(bob).await);
    assert_media(&alice, "socketio-1v1", 1000.0);
    assert_media(&bob, "socketio-1v1", 440.0);
    assert_eq!(alice["ended"]["by"], "local");
    assert_eq!(bob["ended"]["by"], "remote", "{}", bob["ended"]);
    let carol = report_of(carol).await;
    assert_eq!(carol["ended"]["reason"], "declined", "{}", carol["ended"]);
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peercall_and_a_browser_page_call_each_other_through_a_socketio_1x_user_list() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let server = NodeServer::start("onev1_server.js", &[]).await;
    let port = server.port;
    let base = format!("http://127.0.0.1:{port}");
    let chromium = Chromium::launch(false).await;

    // 1. peercall rings the page, which accepts; peercall hangs up.
    let web = chromium
        .open_page(&format!("{base}/onev1.html?room=lobby&account=web"))
        .await;
    web.wait_for("window.mediaReady && window.users.some(u => u.account === 'web')")
        .await;
    let pc = one_to_one(
        port,
        "pc1",
        &[
            "call",
            "--dial",
            "web",
            "--duration",
            "6",
            "--audio",
            "synthetic:440",
        ],
    );
    web.wait_for("window.callState === 'connected'").await;
    web.wait_for(
        "window.stats().then(s => s.video.framesDecoded > 20 && s.audio.packetsReceived > 0)",
    )
    .await;
    web.wait_for("window.toneHz() > 430 && window.toneHz() < 450")
        .await;
    let report = report_of(pc).await;
    assert_media(&report, "socketio-1v1", browser::FAKE_MIC_HZ);
    assert_eq!(report["ended"]["by"], "local", "{}", report["ended"]);
    web.wait_for("window.callState === 'ended'").await;

    // 2. A page that declines: peercall is told so, in words.
    let shy = chromium
        .open_page(&format!(
            "{base}/onev1.html?room=lobby&account=shy&answer=2"
        ))
        .await;
    shy.wait_for("window.mediaReady && window.users.some(u => u.account === 'shy')")
        .await;
    let declined = report_of(one_to_one(port, "pc2", &["call", "--dial", "shy"])).await;
    assert_eq!(
        declined["ended"]["reason"], "declined",
        "{}",
        declined["ended"]
    );

    // 3. The page rings peercall (listed in the room first), and hangs up.
    let pc = one_to_one(
        port,
        "pc3",
        &[
            "answer",
            "--auto-accept",
            "--wait",
            "30",
            "--audio",
            "synthetic:1000",
        ],
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let caller = chromium
        .open_page(&format!(
            "{base}/onev1.html?room=lobby&account=caller&dial=pc3"
        ))
        .await;
    caller.wait_for("window.callState === 'connected'").await;
    caller
        .wait_for("window.stats().then(s => s.video.framesDecoded > 20)")
        .await;
    caller
        .wait_for("window.toneHz() > 990 && window.toneHz() < 1010")
        .await;
    // A couple of seconds of call for peercall's report to judge.
    tokio::time::sleep(Duration::from_secs(2)).await;
    caller.eval::<Value>("window.hangUp()").await;
    let report = report_of(pc).await;
    assert_media(&report, "socketio-1v1", browser::FAKE_MIC_HZ);
    assert_eq!(report["ended"]["by"], "remote", "{}", report["ended"]);
    chromium.close().await;
    server.stop();
}

/// The media path is peer to peer: when the room server dies mid-call, the call goes on, and
/// the hang-up reaches the other side on the data channel alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_outlives_its_room_server() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let server = NodeServer::start("room_server.js", &[]).await;
    let base = format!("http://127.0.0.1:{}", server.port);
    let room = format!("c{}", rand::random::<u32>());
    let first = room_call(&base, &room, &["--audio", "synthetic:440"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = room_call(
        &base,
        &room,
        &[
            "--audio",
            "synthetic:1000",
            "--duration",
            "8",
            "--chat-at",
            "6",
            "after the server",
        ],
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    server.stop();
    let (second, first) = (report_of(second).await, report_of(first).await);
    for (me, hz) in [(&first, 1000.0), (&second, 440.0)] {
        assert_media(me, "socketio-room", hz);
        let errors = me["errors"].to_string();
        assert!(errors.contains("signaling lost"), "{errors}");
        // 8 s at 15 fps: the video went on after the server died at about 3 s.
        assert!(
            me["video"]["frames_decoded"].as_u64().unwrap() >= 90,
            "{}",
            me["video"]
        );
    }
    assert_eq!(chats(&first), ["after the server"]);
    assert_eq!(second["ended"]["by"], "local", "{}", second["ended"]);
    assert_eq!(first["ended"]["by"], "remote", "{}", first["ended"]);
    assert_eq!(first["ended"]["reason"], "hangup", "{}", first["ended"]);
}

fn mesh_member(base: &str, id: &str, hz: u32, duration: &str) -> common::Proc {
    let audio = format!("synthetic:{hz}");
    spawn_headless(&[
        "call",
        "--signaling",
        "socketio-mesh",
        "--server",
        base,
        "--room",
        "m",
        "--id",
        id,
        "--video",
        "synthetic:320x240@15",
        "--audio",
        &audio,
        "--duration",
        duration,
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peercalls_and_a_browser_page_meet_in_a_socketio_mesh_room() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let server = NodeServer::start("mesh_server.js", &[]).await;
    let base = format!("http://127.0.0.1:{}", server.port);
    let chromium = Chromium::launch(false).await;
    let web = chromium
        .open_page(&format!("{base}/mesh.html?room=m&id=web"))
        .await;
    web.wait_for("window.mediaReady").await;
    // The page is there first: it offers to each peercall as it comes; pc1 offers to pc2.
    let pc1 = mesh_member(&base, "pc1", 440, "10");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let pc2 = mesh_member(&base, "pc2", 660, "6");
    for other in ["pc1", "pc2"] {
        web.wait_for(&format!(
            "window.stats('{other}').then(s => s.video.framesDecoded > 20 && s.audio.packetsReceived > 20)"
        ))
        .await;
    }
    let (pc2, pc1) = (report_of(pc2).await, report_of(pc1).await);
    for (me, others) in [
        (&pc1, [("web", browser::FAKE_MIC_HZ), ("pc2", 660.0)]),
        (&pc2, [("web", browser::FAKE_MIC_HZ), ("pc1", 440.0)]),
    ] {
        assert_eq!(me["signaling"], "socketio-mesh");
        assert_eq!(me["room"], "m");
        for (who, hz) in others {
            let p = common::participant(me, who);
            assert!(
                p["video"]["frames_decoded"].as_u64().unwrap() > 20,
                "{who}: {p}"
            );
            let tone = p["audio"]["tone_hz"].as_f64().unwrap_or(0.0);
            assert!((tone - hz).abs() < 20.0, "{who} sounded {tone} Hz");
        }
    }
    // pc2 left first: pc1 saw it go, and the page dropped both once they left.
    let pc2_in_pc1 = common::participant(&pc1, "pc2");
    assert!(pc2_in_pc1["left_ms"].is_number(), "{pc2_in_pc1}");
    web.wait_for("Object.keys(window.members).length === 0")
        .await;
    chromium.close().await;
    server.stop();
}
