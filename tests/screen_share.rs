//! Screen sharing between headless peercalls: a real Xvfb display shows a known picture, one
//! side shares it (X11 capture, VP8 in screen-content mode, a renegotiated second video track),
//! the other saves the last decoded picture as PNG, and ImageMagick's `compare` measures how
//! close it is to what was on the screen.

mod common;

use std::process::Command;
use std::time::Duration;

use common::xvfb::{draw_picture, psnr, Xvfb, SCREEN};
use common::ONE_CALL_AT_A_TIME;
use common::{bob_then_alice, participant, report_of, start_server};
use peercall::server::ServerConfig;
use serde_json::Value;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Frames decoded (camera, share) at the timeline point nearest `t_ms`.
fn at(report: &Value, t_ms: f64) -> (u64, u64) {
    let point = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .min_by(|a, b| {
            let d = |p: &Value| (p["t_ms"].as_f64().unwrap() - t_ms).abs();
            d(a).total_cmp(&d(b))
        })
        .expect("a timeline");
    (
        u(&point["frames_decoded"]),
        u(&point["share_frames_decoded"]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_screen_arrives_sharp_next_to_the_camera_and_goes_when_stopped() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let dir = common::files::folder("share", "sharp");
    let x = Xvfb::start();
    let picture = draw_picture(&dir);
    x.show(&picture, &dir);
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let saved = &dir.join("received.png");
    let small = ["--video", "synthetic:320x240@15"];
    let (bob, alice) = bob_then_alice(
        &url,
        &[
            "--auto-accept",
            small[0],
            small[1],
            "--save-frame",
            saved.to_str().unwrap(),
        ],
        &[
            small[0],
            small[1],
            "--duration",
            "7",
            "--share-screen",
            &x.display,
            "--share-at",
            "1",
            "--stop-share-at",
            "4.5",
        ],
    )
    .await;
    let (alice, bob) = (report_of(alice).await, report_of(bob).await);

    let sent = &alice["share"]["sent"];
    assert_eq!(
        sent["size"],
        serde_json::json!([SCREEN.0, SCREEN.1]),
        "{sent}"
    );
    let received = &bob["share"]["received"];
    assert!(u(&received["frames_decoded"]) >= 2, "{received}");
    assert_eq!(received["size"], sent["size"], "{received}");
    assert_eq!(received["on_at_end"], false, "{received}");
    assert_eq!(
        common::said(&bob, "screen_share"),
        [true, false],
        "{}",
        bob["remote_events"]
    );

    // What bob saw is what was on alice's screen.
    let quality = psnr(&picture, saved);
    assert!(
        quality >= 30.0,
        "the received screen is {quality:.1} dB from the original"
    );

    // The camera went on while the screen was shared, and the screen stopped with sharing.
    let (camera_before, share_before) = at(&bob, 1500.0);
    let (camera_during, share_during) = at(&bob, 4000.0);
    let (camera_after, share_after_stop) = at(&bob, 5000.0);
    let (camera_end, share_end) = at(&bob, 6800.0);
    assert!(
        camera_during >= camera_before + 20,
        "camera: {camera_before} → {camera_during}"
    );
    assert!(
        camera_end >= camera_after + 15,
        "camera: {camera_after} → {camera_end}"
    );
    assert!(
        share_during > share_before,
        "share: {share_before} → {share_during}"
    );
    assert_eq!(
        share_end, share_after_stop,
        "screen frames after sharing stopped"
    );
    eprintln!(
        "share: {:.1} dB, first frame {} ms after screen_share, {} ms of work a frame",
        quality, received["first_frame_ms"], sent["work_ms_per_frame"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_share_at_the_same_moment_and_each_sees_the_other() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let dir = common::files::folder("share", "glare");
    let x = Xvfb::start();
    let picture = draw_picture(&dir);
    x.show(&picture, &dir);
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let (at_bob, at_alice) = (&dir.join("bob.png"), &dir.join("alice.png"));
    // Both offer the new track at once (glare): the caller's offer goes first, the callee
    // takes its own back, answers, and offers again.
    let share = ["--share-screen", &x.display, "--share-at", "1"];
    let bob_args = [
        &["--auto-accept", "--video", "synthetic:320x240@15"][..],
        &share,
        &["--save-frame", at_bob.to_str().unwrap()],
    ]
    .concat();
    let alice_args = [
        &["--video", "synthetic:320x240@15", "--duration", "5"][..],
        &share,
        &["--save-frame", at_alice.to_str().unwrap()],
    ]
    .concat();
    let (bob, alice) = bob_then_alice(&url, &bob_args, &alice_args).await;
    let (alice, bob) = (report_of(alice).await, report_of(bob).await);
    for (me, saved) in [(&alice, &at_alice), (&bob, &at_bob)] {
        let received = &me["share"]["received"];
        assert!(u(&received["frames_decoded"]) >= 2, "{received}");
        let quality = psnr(&picture, saved);
        assert!(quality >= 30.0, "{quality:.1} dB");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screen_shared_in_a_room_reaches_everyone() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let dir = common::files::folder("share", "room");
    let x = Xvfb::start();
    let picture = draw_picture(&dir);
    x.show(&picture, &dir);
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let member = |id: &str, extra: &[&str]| {
        let small = ["--video", "synthetic:320x240@15"];
        common::room_member(&url, "demo", id, &[&small[..], extra].concat())
    };
    let bob = member("bob", &["--duration", "7"]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let carol = member("carol", &["--duration", "6.5"]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    // alice comes last (she dials both) and shares once both legs are up.
    let alice = member(
        "alice",
        &[
            "--duration",
            "5",
            "--share-screen",
            &x.display,
            "--share-at",
            "1.5",
        ],
    );
    let (alice, bob, carol) = (
        report_of(alice).await,
        report_of(bob).await,
        report_of(carol).await,
    );
    assert!(
        u(&alice["share"]["sent"]["frames_sent"]) >= 2,
        "{}",
        alice["share"]
    );
    for me in [&bob, &carol] {
        let share = &participant(me, "alice")["share"];
        assert!(u(&share["frames_decoded"]) >= 2, "{share}");
        assert_eq!(share["size"], serde_json::json!([SCREEN.0, SCREEN.1]));
    }
}

/// A screen of two monitors (RandR monitors set with `xrandr --setmonitor`): sharing the right
/// one sends that half, at its size, as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_monitor_of_two_is_shared_on_its_own() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let dir = common::files::folder("share", "monitor");
    let x = Xvfb::start();
    let picture = draw_picture(&dir);
    x.show(&picture, &dir);
    let half = SCREEN.0 / 2;
    for (name, left) in [("left", 0), ("right", half)] {
        let geometry = format!("{half}/170x{}/200+{left}+0", SCREEN.1);
        let status = x
            .command("xrandr")
            .args(["--setmonitor", name, &geometry, "none"])
            .status()
            .expect("run xrandr (apt-get install x11-xserver-utils)");
        assert!(status.success());
    }
    let right_half = dir.join("right.png");
    let status = Command::new("convert")
        .arg(&picture)
        .args(["-crop", &format!("{half}x{}+{half}+0", SCREEN.1), "+repage"])
        .arg(&right_half)
        .status()
        .unwrap();
    assert!(status.success());
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let saved = dir.join("received.png");
    let (bob, alice) = bob_then_alice(
        &url,
        &["--auto-accept", "--save-frame", saved.to_str().unwrap()],
        &[
            "--duration",
            "4",
            "--share-screen",
            &x.display,
            "--share-monitor",
            "right",
        ],
    )
    .await;
    let (alice, bob) = (report_of(alice).await, report_of(bob).await);
    assert_eq!(
        alice["share"]["sent"]["size"],
        serde_json::json!([half, SCREEN.1])
    );
    assert_eq!(
        bob["share"]["received"]["size"],
        serde_json::json!([half, SCREEN.1])
    );
    let quality = psnr(&right_half, &saved);
    assert!(
        quality >= 30.0,
        "the right monitor came {quality:.1} dB from what it shows"
    );
}
