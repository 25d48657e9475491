//! Group calls: headless peercalls in one room of a real server, each with its own tone and
//! test pattern, every pair on its own peer connection. Each measures every other on that
//! one's own decoded streams (the report's `participants`).

mod common;

use std::time::{Duration, Instant};

use common::{participant, report_of, spawn_headless, start_server, Proc, ONE_CALL_AT_A_TIME};
use peercall::server::ServerConfig;
use serde_json::Value;

fn member(url: &str, id: &str, hz: u32, duration: &str) -> Proc {
    let audio = format!("synthetic:{hz}");
    spawn_headless(&[
        "call",
        "--server",
        url,
        "--id",
        id,
        "--room",
        "standup",
        "--video",
        "synthetic:320x240@15",
        "--audio",
        &audio,
        "--duration",
        duration,
    ])
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// `who` was seen and heard: at least `frames` decoded, 90 % of what was sent by the
/// counters in its pattern, and its own tone.
fn saw_and_heard(report: &Value, who: &str, hz: f64, frames: u64) {
    let p = participant(report, who);
    let video = &p["video"];
    assert!(u(&video["frames_decoded"]) >= frames, "{who}: {p}");
    let (read, gaps) = (u(&video["counters_read"]), u(&video["counter_gaps"]));
    assert!(
        read as f64 >= 0.9 * (read + gaps) as f64,
        "{who}: {read} frames read, {gaps} missing"
    );
    let tone = p["audio"]["tone_hz"].as_f64().unwrap_or(0.0);
    assert!(
        (tone - hz).abs() < 15.0,
        "{who} sounded {tone} Hz, not {hz}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_in_a_room_see_and_hear_each_other_one_vanishes_one_joins_late() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let t0 = Instant::now();
    let alice = member(&url, "alice", 440, "13");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let bob = member(&url, "bob", 550, "12");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut carol = member(&url, "carol", 660, "60");
    // carol is there for a few seconds, then her process dies without a word.
    tokio::time::sleep(Duration::from_secs(5)).await;
    carol.kill();
    let carol_gone = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // dave comes late: he calls the two who are there.
    let dave = member(&url, "dave", 770, "5");
    let (dave, bob, alice) = (
        report_of(dave).await,
        report_of(bob).await,
        report_of(alice).await,
    );

    for (me, others) in [
        (&alice, [("bob", 550.0), ("dave", 770.0)]),
        (&bob, [("alice", 440.0), ("dave", 770.0)]),
        (&dave, [("alice", 440.0), ("bob", 550.0)]),
    ] {
        assert_eq!(me["room"], "standup", "{}", me["room"]);
        assert_eq!(me["ended"]["reason"], "hangup", "{}", me["ended"]);
        for (who, hz) in others {
            saw_and_heard(me, who, hz, 60);
        }
    }
    // The two who were there the whole time went on through carol's going and dave's coming:
    // about 12 s of each other at 15 fps; 120 frames (8 s) reach past carol's death at 6 s even
    // on a slower machine.
    saw_and_heard(&alice, "bob", 550.0, 120);
    saw_and_heard(&bob, "alice", 440.0, 120);
    // carol was seen while she was there, and was gone for everyone within 10 s of dying.
    for me in [&alice, &bob] {
        let carol = participant(me, "carol");
        assert!(u(&carol["video"]["frames_decoded"]) >= 30, "{carol}");
        let left_ms = carol["left_ms"].as_f64().expect("carol left");
        assert!(
            left_ms < (carol_gone + Duration::from_secs(10)).as_secs_f64() * 1000.0,
            "carol left at {left_ms} ms, died at {carol_gone:?}"
        );
    }
    assert!(
        dave["participants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["id"] != "carol"),
        "dave never met carol: {}",
        dave["participants"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_turns_the_next_one_away() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig {
        max_room: 2,
        ..ServerConfig::default()
    })
    .await;
    let url = server.ws_url();
    let alice = member(&url, "alice", 440, "4");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let bob = member(&url, "bob", 550, "3");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let erin = report_of(member(&url, "erin", 660, "3")).await;
    assert_eq!(erin["ended"]["reason"], "failed", "{}", erin["ended"]);
    assert!(
        erin["ended"]["detail"].as_str().unwrap().contains("full"),
        "{}",
        erin["ended"]
    );
    assert!(erin["participants"].as_array().unwrap().is_empty());
    let (alice, bob) = (report_of(alice).await, report_of(bob).await);
    saw_and_heard(&alice, "bob", 550.0, 20);
    saw_and_heard(&bob, "alice", 440.0, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_adds_a_person_who_rings_accepts_and_meets_everyone() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    // dave is online, not in any room; he takes calls after ringing a second.
    let dave = spawn_headless(&[
        "answer",
        "--server",
        &url,
        "--id",
        "dave",
        "--auto-accept",
        "--ring",
        "1",
        "--video",
        "synthetic:320x240@15",
        "--audio",
        "synthetic:770",
    ]);
    let alice = member(&url, "alice", 440, "9");
    tokio::time::sleep(Duration::from_millis(400)).await;
    // bob joins and adds dave.
    let bob = spawn_headless(&[
        "call",
        "--server",
        &url,
        "--id",
        "bob",
        "--room",
        "standup",
        "--dial",
        "dave",
        "--video",
        "synthetic:320x240@15",
        "--audio",
        "synthetic:550",
        "--duration",
        "8",
    ]);
    let (bob, alice, dave) = (
        report_of(bob).await,
        report_of(alice).await,
        report_of(dave).await,
    );
    // dave rang (his report times it), joined the room, and connected to alice as well as bob.
    assert_eq!(dave["room"], "standup", "{dave}");
    assert_eq!(dave["peer"], "bob", "the invitation came from bob");
    assert!(dave["setup_ms"]["accepted"].as_f64().unwrap() >= 1000.0);
    saw_and_heard(&dave, "bob", 550.0, 40);
    saw_and_heard(&dave, "alice", 440.0, 40);
    saw_and_heard(&alice, "dave", 770.0, 40);
    saw_and_heard(&bob, "dave", 770.0, 40);
    saw_and_heard(&alice, "bob", 550.0, 60);
    // When the others have left, dave's call is over too.
    assert_eq!(dave["ended"]["by"], "remote", "{}", dave["ended"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_added_to_a_two_party_call_joins_both() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let answer = |id: &str, hz: u32, duration: &str| {
        let audio = format!("synthetic:{hz}");
        spawn_headless(&[
            "answer",
            "--server",
            &url,
            "--id",
            id,
            "--auto-accept",
            "--video",
            "synthetic:320x240@15",
            "--audio",
            &audio,
            "--duration",
            duration,
        ])
    };
    let bob = answer("bob", 550, "9");
    let carol = answer("carol", 660, "7");
    tokio::time::sleep(Duration::from_millis(400)).await;
    // alice calls bob, and two seconds in adds carol.
    let alice = spawn_headless(&[
        "call",
        "--server",
        &url,
        "--id",
        "alice",
        "--dial",
        "bob",
        "--add-at",
        "2",
        "carol",
        "--video",
        "synthetic:320x240@15",
        "--audio",
        "synthetic:440",
        "--duration",
        "10",
    ]);
    let (carol, bob, alice) = (
        report_of(carol).await,
        report_of(bob).await,
        report_of(alice).await,
    );
    // The call became a room, and everyone met everyone.
    for me in [&alice, &bob, &carol] {
        assert!(
            me["room"].as_str().is_some_and(|r| r.starts_with("call-")),
            "{}",
            me["room"]
        );
    }
    saw_and_heard(&alice, "bob", 550.0, 60);
    saw_and_heard(&alice, "carol", 660.0, 40);
    saw_and_heard(&bob, "alice", 440.0, 60);
    saw_and_heard(&bob, "carol", 660.0, 40);
    saw_and_heard(&carol, "alice", 440.0, 40);
    saw_and_heard(&carol, "bob", 550.0, 40);
    // bob's first leg went on through it: one leg with alice, never started over.
    assert_eq!(bob["setup_ms"]["reconnects"], 0);
    assert_eq!(bob["peer"], "alice");
}
