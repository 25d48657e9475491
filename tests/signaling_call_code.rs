//! Calls through an HTTP call-code server (tests/common/call_code_server.rs behaves like the
//! `webrtc_call` app, quirks included): two headless peercalls dial the same code, whichever comes
//! first offers; media, mute and hang-up cross; a broken or absent server is a clear error.

#[path = "common/call_code_server.rs"]
mod call_code_server;
mod common;

use std::time::Duration;

use axum::http::StatusCode;
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
