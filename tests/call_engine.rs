//! Call engines in this process against a real server on loopback: busy, hostile control
//! messages, and twenty calls in a row.

mod common;

use std::time::Duration;

use common::{engine, next_event, start_server};
use peercall::call::media_stats::MediaCounters;
use peercall::call::{CallCommand, CallEngine, CallEvent, EndReason, EndedBy, MediaKind};
use peercall::server::ServerConfig;
use tokio::sync::mpsc::Receiver;

const SMALL: &str = "synthetic:320x240@15";
const T: Duration = Duration::from_secs(15);

/// alice dials bob, bob accepts, and media connects.
async fn call(
    alice: &CallEngine,
    bob_events: &mut Receiver<CallEvent>,
    bob: &CallEngine,
    alice_events: &mut Receiver<CallEvent>,
) {
    alice.send(CallCommand::Dial("bob".into()));
    next_event(bob_events, T, |e| matches!(e, CallEvent::Incoming { .. })).await;
    bob.send(CallCommand::Accept);
    next_event(alice_events, T, |e| {
        matches!(e, CallEvent::Connected { .. })
    })
    .await;
}

fn is_ended(e: &CallEvent) -> bool {
    matches!(e, CallEvent::Ended { .. })
}

fn ended(e: CallEvent) -> (EndedBy, EndReason) {
    match e {
        CallEvent::Ended { by, reason, .. } => (by, reason),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callee_in_a_call_answers_busy_and_keeps_its_call() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let (alice, mut alice_events) = engine(&url, "alice", SMALL).await;
    let (bob, mut bob_events) = engine(&url, "bob", SMALL).await;
    let (carol, mut carol_events) = engine(&url, "carol", "none").await;

    call(&alice, &mut bob_events, &bob, &mut alice_events).await;

    carol.send(CallCommand::Dial("bob".into()));
    let carol_end = next_event(&mut carol_events, T, is_ended).await;
    assert_eq!(ended(carol_end), (EndedBy::Remote, EndReason::Busy));
    let missed = next_event(&mut bob_events, T, |e| {
        matches!(e, CallEvent::MissedWhileBusy { .. })
    })
    .await;
    assert_eq!(
        missed,
        CallEvent::MissedWhileBusy {
            peer: "carol".into()
        }
    );

    // alice and bob are still talking: bob keeps decoding alice's frames.
    let before = MediaCounters::get(&bob.counters().frames_decoded);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(MediaCounters::get(&bob.counters().frames_decoded) > before + 5);
    alice.send(CallCommand::HangUp);
    let bob_end = next_event(&mut bob_events, T, is_ended).await;
    assert_eq!(ended(bob_end), (EndedBy::Remote, EndReason::HungUp));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unknown_control_messages_do_not_end_the_call() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let (alice, mut alice_events) = engine(&url, "alice", SMALL).await;
    let (bob, mut bob_events) = engine(&url, "bob", SMALL).await;
    call(&alice, &mut bob_events, &bob, &mut alice_events).await;
    // Let the control channel open (the first frames arrive after it).
    next_event(
        &mut bob_events,
        T,
        |e| matches!(e, CallEvent::Stats(s) if s.fps_in > 0.0),
    )
    .await;

    for junk in [
        "not json",
        "{\"code\":\"raise_hand\",\"value\":true}",
        "{\"code\":\"mute_audio\",\"value\":\"yes\"}",
        "{\"no_code\":1}",
        "[1,2,3]",
        "",
    ] {
        alice.send(CallCommand::RawControl(junk.into()));
    }
    alice.send(CallCommand::Chat("still there?".into()));
    alice.send(CallCommand::MuteVideo(true));
    // What follows the junk arrives, in order, and nothing ended the call.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let e = next_event(&mut bob_events, T, |e| {
            matches!(
                e,
                CallEvent::Chat { .. } | CallEvent::RemoteMuted { .. } | CallEvent::Ended { .. }
            )
        })
        .await;
        seen.push(e);
    }
    assert_eq!(
        seen,
        vec![
            CallEvent::Chat {
                peer: "alice".into(),
                text: "still there?".into()
            },
            CallEvent::RemoteMuted {
                peer: "alice".into(),
                kind: MediaKind::Video,
                muted: true
            },
        ]
    );
    bob.send(CallCommand::HangUp);
    let end = next_event(&mut alice_events, T, is_ended).await;
    assert_eq!(ended(end), (EndedBy::Remote, EndReason::HungUp));
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_calls_in_a_row_keep_memory_bounded() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let (alice, mut alice_events) = engine(&url, "alice", SMALL).await;
    let (bob, mut bob_events) = engine(&url, "bob", SMALL).await;
    let mut rss = Vec::new();
    for n in 0..20 {
        call(&alice, &mut bob_events, &bob, &mut alice_events).await;
        // Real media each time: wait until both sides decoded frames of this call.
        for (who, engine) in [("alice", &alice), ("bob", &bob)] {
            let deadline = tokio::time::Instant::now() + T;
            while MediaCounters::get(&engine.counters().frames_decoded) < 5 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "call {n}: {who} decoded nothing"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let (hanger, other) = if n % 2 == 0 {
            (&alice, &mut bob_events)
        } else {
            (&bob, &mut alice_events)
        };
        hanger.send(CallCommand::HangUp);
        next_event(other, T, is_ended).await;
        let mine = if n % 2 == 0 {
            &mut alice_events
        } else {
            &mut bob_events
        };
        next_event(mine, T, is_ended).await;
        rss.push(rss_mib());
    }
    let growth = rss[19] - rss[4];
    println!(
        "RSS after calls 1, 5, 10, 20: {:.1} {:.1} {:.1} {:.1} MiB; growth 5→20: {growth:.1} MiB",
        rss[0], rss[4], rss[9], rss[19]
    );
    // Each call builds two peer connections with their buffers; fifteen more calls must not
    // keep them all.
    assert!(
        growth < 60.0,
        "RSS grew {growth:.1} MiB over 15 calls: {rss:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_camera_can_change_during_a_call() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let (alice, mut alice_events) = engine(&url, "alice", SMALL).await;
    let (bob, mut bob_events) = engine(&url, "bob", "none").await;
    call(&alice, &mut bob_events, &bob, &mut alice_events).await;
    let size = |engine: &peercall::call::CallEngine| engine.counters().received_video().size;
    let deadline = tokio::time::Instant::now() + T;
    while size(&bob) != Some((320, 240)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no video from alice"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // alice picks another camera in the settings, mid-call.
    alice.set_media(common::media_setup("synthetic:480x360@15"));
    let deadline = tokio::time::Instant::now() + T;
    while size(&bob) != Some((480, 360)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new camera's frames never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    alice.send(CallCommand::HangUp);
    next_event(&mut bob_events, T, is_ended).await;
}

/// Signaling that loses every ICE candidate: the two sides can never find a path.
struct CandidateBlackHole(signaling_client::WsSignaling);

#[async_trait::async_trait]
impl signaling_client::Signaling for CandidateBlackHole {
    async fn register(
        &self,
        id: Option<String>,
    ) -> Result<signaling_client::Registration, signaling_client::SignalingError> {
        self.0.register(id).await
    }

    async fn send(
        &self,
        message: signaling_client::ClientMessage,
    ) -> Result<(), signaling_client::SignalingError> {
        if let signaling_client::ClientMessage::Signal {
            data: signaling_client::SignalData::Candidate { .. },
            ..
        } = message
        {
            return Ok(());
        }
        self.0.send(message).await
    }

    fn take_events(&self) -> Option<signaling_client::SignalingEvents> {
        self.0.take_events()
    }
}

async fn engine_without_candidates(
    url: &str,
    id: &str,
) -> (
    peercall::call::CallEngine,
    tokio::sync::mpsc::Receiver<CallEvent>,
) {
    let ws = signaling_client::WsSignaling::connect(url, Default::default())
        .await
        .unwrap();
    let events = signaling_client::Signaling::take_events(&ws).unwrap();
    let signaling = CandidateBlackHole(ws);
    signaling_client::Signaling::register(&signaling, Some(id.into()))
        .await
        .unwrap();
    let mut network = peercall::call::peer::NetworkSettings::loopback();
    network.failed_timeout = Duration::from_secs(3);
    let config = peercall::call::EngineConfig {
        network,
        ..Default::default()
    };
    peercall::call::CallEngine::start(
        std::sync::Arc::new(signaling),
        events,
        common::media_setup(SMALL),
        config,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_ice_finds_no_path_both_sides_end_the_call_saying_so() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let (alice, mut alice_events) = engine_without_candidates(&url, "alice").await;
    let (bob, mut bob_events) = engine_without_candidates(&url, "bob").await;
    alice.send(CallCommand::Dial("bob".into()));
    next_event(&mut bob_events, T, |e| {
        matches!(e, CallEvent::Incoming { .. })
    })
    .await;
    bob.send(CallCommand::Accept);
    let wait = Duration::from_secs(30);
    let (a, b) = tokio::join!(
        next_event(&mut alice_events, wait, is_ended),
        next_event(&mut bob_events, wait, is_ended)
    );
    let (a, b) = (ended(a), ended(b));
    // Whoever notices first says why; the other hears it hang up.
    let failed = |(_, r): &(EndedBy, EndReason)| matches!(r, EndReason::ConnectionFailed(_));
    assert!(failed(&a) || failed(&b), "{a:?} / {b:?}");
    for (by, reason) in [a, b] {
        assert!(
            matches!(reason, EndReason::ConnectionFailed(_))
                || (by == EndedBy::Remote && reason == EndReason::HungUp),
            "{by:?} {reason:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_control_messages_is_cut_down_and_the_call_goes_on() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let (alice, mut alice_events) = engine(&url, "alice", SMALL).await;
    let (bob, mut bob_events) = engine(&url, "bob", SMALL).await;
    call(&alice, &mut bob_events, &bob, &mut alice_events).await;
    // Wait for the control channel: a first chat arrives.
    alice.send(CallCommand::Chat("hello".into()));
    next_event(&mut bob_events, T, |e| matches!(e, CallEvent::Chat { .. })).await;
    // A 100 KiB message, then 2000 chat lines as fast as they go.
    alice.send(CallCommand::RawControl(
        serde_json::json!({"code":"chat","text":"x".repeat(100 * 1024)}).to_string(),
    ));
    for i in 0..2000 {
        alice.send(CallCommand::Chat(format!("flood {i}")));
    }
    alice.send(CallCommand::RawControl("not json".into()));
    // Everything that got through arrives within a second or two; count it.
    let mut chats = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, bob_events.recv()).await {
        if let CallEvent::Chat { text, .. } = event {
            chats.push(text);
        }
    }
    assert!(
        chats.iter().all(|t| t.len() < 100 * 1024),
        "the over-size message was let through"
    );
    // The burst and what the rate allows over ~3 s, not 2000.
    assert!(
        (40..=150).contains(&chats.len()),
        "{} chat lines",
        chats.len()
    );
    // The call goes on: bob still decodes alice's video.
    let before = MediaCounters::get(&bob.counters().frames_decoded);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(MediaCounters::get(&bob.counters().frames_decoded) > before + 5);
    alice.send(CallCommand::HangUp);
    next_event(&mut bob_events, T, is_ended).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callee_that_accepts_and_never_answers_ends_the_call_with_a_reason() {
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    // A callee that says yes, then never sends an answer or a candidate.
    let mut mute = common::RawClient::registered(&url, "mute").await;
    let signaling = signaling_client::WsSignaling::connect(&url, Default::default())
        .await
        .unwrap();
    let events = signaling_client::Signaling::take_events(&signaling).unwrap();
    signaling_client::Signaling::register(&signaling, Some("alice".into()))
        .await
        .unwrap();
    let config = peercall::call::EngineConfig {
        network: peercall::call::peer::NetworkSettings::loopback(),
        connect_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let (alice, mut alice_events) = peercall::call::CallEngine::start(
        std::sync::Arc::new(signaling),
        events,
        common::media_setup(SMALL),
        config,
    );
    alice.send(CallCommand::Dial("mute".into()));
    let incoming = mute.recv_type("incoming").await;
    mute.send(serde_json::json!({"type":"accept","call_id":incoming["call_id"]}))
        .await;
    let end = ended(next_event(&mut alice_events, T, is_ended).await);
    match end {
        (EndedBy::Local, EndReason::ConnectionFailed(why)) => {
            assert!(why.contains("2 s after the call was accepted"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    // And the other side is told.
    loop {
        let m = mute.recv().await;
        if m["type"] == "hangup" {
            assert_eq!(m["call_id"], incoming["call_id"]);
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_do_not_disturb_a_call_is_answered_busy_and_reported_missed() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let (alice, mut alice_events) = engine(&url, "alice", "none").await;
    let (bob, mut bob_events) = engine(&url, "bob", "none").await;
    bob.send(CallCommand::DoNotDisturb(true));
    assert_eq!(
        next_event(&mut bob_events, T, |e| matches!(
            e,
            CallEvent::DoNotDisturb(_)
        ))
        .await,
        CallEvent::DoNotDisturb(true)
    );
    alice.send(CallCommand::Dial("bob".into()));
    let end = next_event(&mut alice_events, T, is_ended).await;
    assert_eq!(ended(end), (EndedBy::Remote, EndReason::Busy));
    assert_eq!(
        next_event(&mut bob_events, T, |e| matches!(
            e,
            CallEvent::MissedWhileBusy { .. } | CallEvent::Incoming { .. }
        ))
        .await,
        CallEvent::MissedWhileBusy {
            peer: "alice".into()
        },
        "bob's phone must not ring"
    );
    // Off again: the next call rings.
    bob.send(CallCommand::DoNotDisturb(false));
    alice.send(CallCommand::Dial("bob".into()));
    let rang = next_event(&mut bob_events, T, |e| {
        matches!(e, CallEvent::Incoming { .. })
    })
    .await;
    assert!(matches!(rang, CallEvent::Incoming { peer, .. } if peer == "alice"));
    alice.send(CallCommand::HangUp);
}
