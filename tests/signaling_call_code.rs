//! Calls through an HTTP call-code server (tests/common/call_code_server.rs behaves like the
//! `webrtc_call` app, quirks included): two headless peercalls dial the same code, whichever comes
//! first offers; media, mute and hang-up cross; a broken or absent server is a clear error. A
//! Chromium page speaking the dialect (tests/pages/call_code.html) calls peercall, either first.

#[path = "common/browser.rs"]
mod browser;
#[path = "common/call_code_server.rs"]
mod call_code_server;
mod common;

use std::time::Duration;

use axum::http::StatusCode;
use browser::Chromium;
use call_code_server::CallCodeServer;
use common::{remote_events, report_of, spawn_headless};
use serde_json::Value;

fn headless_call(base: &str, code: &str, extra: &[&str]) -> common::Proc {
    let mut args = vec![
        "call",
        "--signaling",
        "webrtc-call",
        "--server",
        base,
        "--dial",
        code,
        "--video",
        "synthetic:320x240@15",
    ];
    args.extend_from_slice(extra);
    spawn_headless(&args)
}

fn decoded(report: &Value) -> u64 {
    report["video"]["frames_decoded"].as_u64().unwrap_or(0)
}

/// `first` dials the code first (the initiator, who offers), `second` half a second later.
async fn call_through_a_code(first_hangs_up: bool) -> (Value, Value) {
    let server = CallCodeServer::start().await;
    let code = format!("{}", rand::random::<u32>());
    let (first_extra, second_extra): (Vec<&str>, Vec<&str>) = if first_hangs_up {
        (
            vec![
                "--audio",
                "synthetic:440",
                "--duration",
                "6",
                "--mute-audio-at",
                "2",
            ],
            vec!["--audio", "synthetic:1000"],
        )
    } else {
        (
            vec!["--audio", "synthetic:440"],
            vec![
                "--audio",
                "synthetic:1000",
                "--duration",
                "6",
                "--mute-audio-at",
                "2",
            ],
        )
    };
    let first = headless_call(&server.base, &code, &first_extra);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = headless_call(&server.base, &code, &second_extra);
    let (first, second) = (report_of(first).await, report_of(second).await);
    // The server saw each side dial once, and only polls and posts after.
    assert_eq!(server.requests("dial"), 2);
    assert!(server.requests("offer") == 1 && server.requests("answer") == 1);
    (first, second)
}

fn assert_a_call(first: &Value, second: &Value, first_hangs_up: bool) {
    for (me, other, hz) in [(first, second, 1000.0), (second, first, 440.0)] {
        assert_eq!(me["signaling"], "webrtc-call");
        assert!(decoded(me) >= 40, "{}", me["video"]);
        let tone = me["audio"]["tone_hz"].as_f64().unwrap_or(0.0);
        assert!(
            (tone - hz).abs() <= 5.0,
            "heard {tone} Hz, not {hz}: {}",
            me["audio"]
        );
        assert!(other["setup_ms"]["connected"].is_number());
    }
    let (hanger, hung) = if first_hangs_up {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(hanger["ended"]["by"], "local");
    assert_eq!(hung["ended"]["by"], "remote", "{}", hung["ended"]);
    assert_eq!(hung["ended"]["reason"], "hangup");
    // The mute crossed on the data channel.
    let events = remote_events(hung);
    assert!(
        events
            .iter()
            .any(|e| e.0 == "mute_audio" && e.1 == Value::Bool(true)),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peercall_calls_peercall_through_a_call_code_either_way_round() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    // The initiator (first to dial, who offers) hangs up; then the subscriber does.
    for first_hangs_up in [true, false] {
        let (first, second) = call_through_a_code(first_hangs_up).await;
        assert_a_call(&first, &second, first_hangs_up);
        for r in [&first, &second] {
            eprintln!(
                "call code: connected after {} ms, first frame after {} ms",
                r["setup_ms"]["connected"], r["setup_ms"]["first_frame"]
            );
        }
    }
}

#[tokio::test]
async fn a_broken_or_absent_call_code_server_is_a_clear_error() {
    let server = CallCodeServer::start().await;
    let cases = [
        // Nothing listens there.
        ("http://127.0.0.1:9/call".to_string(), None, "cannot reach"),
        // A server that answers 500.
        (
            server.base.clone(),
            Some(StatusCode::INTERNAL_SERVER_ERROR),
            "500",
        ),
        // A server that answers 400 to the dial itself.
        (
            server.base.clone(),
            Some(StatusCode::BAD_REQUEST),
            "refused",
        ),
        // A page that is not the protocol.
        (server.base.replace("/call", "/garbage"), None, "not JSON"),
    ];
    for (base, broken, expected) in cases {
        server.set_broken(broken);
        let alone = headless_call(&base, "77", &[]);
        let report = report_of(alone).await;
        let detail = report["ended"]["detail"].as_str().unwrap_or("").to_string();
        assert!(
            detail.contains(expected),
            "{base} {broken:?}: expected {expected:?} in {detail:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peercall_and_the_call_code_page_call_each_other_either_first() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    let server = CallCodeServer::start().await;
    let chromium = Chromium::launch(false).await;
    let page = |code: &str| format!("{}/page/call_code.html?code={code}", server.base);

    // 1. The page dials first (it offers and opens system_channel); peercall mutes, hangs up.
    let code = format!("{}", rand::random::<u32>());
    let tab = chromium.open_page(&page(&code)).await;
    tab.wait_for("window.callState === 'waiting'").await;
    let pc = headless_call(
        &server.base,
        &code,
        &[
            "--audio",
            "synthetic:440",
            "--duration",
            "6",
            "--mute-audio-at",
            "3",
        ],
    );
    tab.wait_for("window.callState === 'connected' && window.isInitiator")
        .await;
    tab.wait_for(
        "window.stats().then(s => s.video.framesDecoded > 20 && s.audio.packetsReceived > 0)",
    )
    .await;
    tab.wait_for("window.toneHz() > 430 && window.toneHz() < 450")
        .await;
    tab.wait_for("window.control.some(m => m.code === 'mute_audio' && m.value === true)")
        .await;
    let report = report_of(pc).await;
    // peercall's hang-up is the data channel's `reject`: the page ends too.
    tab.wait_for("window.callState === 'ended'").await;
    assert_eq!(report["signaling"], "webrtc-call");
    assert!(decoded(&report) >= 40, "{}", report["video"]);
    let tone = report["audio"]["tone_hz"].as_f64().unwrap_or(0.0);
    assert!((tone - browser::FAKE_MIC_HZ).abs() <= 5.0, "{tone}");
    assert_eq!(report["ended"]["by"], "local", "{}", report["ended"]);

    // 2. peercall dials first and offers; the page answers, mutes, and hangs up.
    let code = format!("{}", rand::random::<u32>());
    let pc = headless_call(&server.base, &code, &["--audio", "synthetic:1000"]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let tab = chromium.open_page(&page(&code)).await;
    tab.wait_for("window.callState === 'connected' && !window.isInitiator")
        .await;
    tab.wait_for("window.stats().then(s => s.video.framesDecoded > 20)")
        .await;
    tab.wait_for("window.toneHz() > 990 && window.toneHz() < 1010")
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(tab.eval::<bool>("window.muteAudio(true)").await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    tab.eval::<Value>("window.hangUp()").await;
    let report = report_of(pc).await;
    assert_eq!(report["ended"]["by"], "remote", "{}", report["ended"]);
    assert!(decoded(&report) >= 40, "{}", report["video"]);
    let events = remote_events(&report);
    assert!(
        events
            .iter()
            .any(|e| e.0 == "mute_audio" && e.1 == Value::Bool(true)),
        "{events:?}"
    );
    chromium.close().await;
}

/// The call-code page knows nothing of renegotiation (for it a second offer would start its
/// connection over): peercall, asked to share its screen, sends it no offer, says why, and the
/// call goes on as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peercall_shares_no_screen_with_an_app_that_cannot_show_one() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    let x = common::xvfb::Xvfb::start();
    let server = CallCodeServer::start().await;
    let chromium = Chromium::launch(false).await;
    let code = format!("{}", rand::random::<u32>());
    let tab = chromium
        .open_page(&format!("{}/page/call_code.html?code={code}", server.base))
        .await;
    tab.wait_for("window.callState === 'waiting'").await;
    let pc = headless_call(
        &server.base,
        &code,
        &[
            "--duration",
            "6",
            "--share-screen",
            &x.display,
            "--share-at",
            "1",
        ],
    );
    tab.wait_for("window.callState === 'connected'").await;
    tab.wait_for("window.stats().then(s => s.video.framesDecoded > 20)")
        .await;
    let report = report_of(pc).await;
    let errors = report["errors"].to_string();
    assert!(errors.contains("cannot show a shared screen"), "{errors}");
    assert_eq!(
        report["share"]["sent"]["frames_sent"], 0,
        "{}",
        report["share"]
    );
    // One connection all along, with its one video: the page saw no second offer.
    let receivers: u64 = tab
        .eval("window.pc.getReceivers().filter(r => r.track.kind === 'video').length")
        .await;
    assert_eq!(receivers, 1);
    assert!(decoded(&report) >= 60, "{}", report["video"]);
    chromium.close().await;
}
