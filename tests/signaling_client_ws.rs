//! `WsSignaling` against a real server: a call's messages, and surviving a server restart.

mod common;

use std::time::{Duration, Instant};

use common::WAIT;
use peercall::server::{Server, ServerConfig};
use signaling_client::{
    RejectReason, Signaling, SignalingError, SignalingEvent, SignalingEvents, WsOptions,
    WsSignaling,
};

async fn next_matching(
    events: &mut SignalingEvents,
    mut pick: impl FnMut(&SignalingEvent) -> bool,
) -> SignalingEvent {
    loop {
        let e = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("timed out")
            .expect("stream ended");
        if pick(&e) {
            return e;
        }
    }
}

#[tokio::test]
async fn ws_signaling_dials_and_is_declined() {
    let server = common::start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let alice = WsSignaling::connect(&url, WsOptions::default())
        .await
        .unwrap();
    let bob = WsSignaling::connect(&url, WsOptions::default())
        .await
        .unwrap();
    let mut alice_events = alice.take_events().unwrap();
    let mut bob_events = bob.take_events().unwrap();
    assert_eq!(
        alice.register(Some("alice".into())).await.unwrap().id,
        "alice"
    );
    let generated = bob.register(None).await.unwrap().id;
    // A second client asking for a taken ID is refused with the code.
    let dup = WsSignaling::connect(&url, WsOptions::default())
        .await
        .unwrap();
    match dup.register(Some("alice".into())).await {
        Err(SignalingError::Refused { code, .. }) => {
            assert_eq!(code, signaling_client::ErrorCode::IdTaken)
        }
        other => panic!("{other:?}"),
    }
    let call_id = alice.dial(&generated).await.unwrap();
    let incoming = next_matching(&mut bob_events, |e| {
        matches!(e, SignalingEvent::Incoming { .. })
    })
    .await;
    assert_eq!(
        incoming,
        SignalingEvent::Incoming {
            from: "alice".into(),
            call_id: call_id.clone(),
            room: None,
        }
    );
    bob.reject(&call_id, RejectReason::Busy).await.unwrap();
    let rejected = next_matching(&mut alice_events, |e| {
        matches!(e, SignalingEvent::Rejected { .. })
    })
    .await;
    assert_eq!(
        rejected,
        SignalingEvent::Rejected {
            from: generated,
            call_id,
            reason: RejectReason::Busy
        }
    );
}

#[tokio::test]
async fn ws_signaling_refuses_a_bad_url_and_an_absent_server() {
    assert!(matches!(
        WsSignaling::connect("http://127.0.0.1:1/ws", WsOptions::default()).await,
        Err(SignalingError::BadUrl(_))
    ));
    // Port 1 on loopback: nobody listens there.
    assert!(matches!(
        WsSignaling::connect("ws://127.0.0.1:1/ws", WsOptions::default()).await,
        Err(SignalingError::Unreachable { .. })
    ));
}

#[tokio::test]
async fn ws_signaling_survives_a_server_restart() {
    let server = common::start_server(ServerConfig::default()).await;
    let addr = server.addr;
    let url = server.ws_url();
    let options = WsOptions {
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        ..WsOptions::default()
    };
    let alice = WsSignaling::connect(&url, options).await.unwrap();
    let mut events = alice.take_events().unwrap();
    alice.register(Some("alice".into())).await.unwrap();

    server.shutdown().await;
    let lost = next_matching(&mut events, |e| {
        matches!(e, SignalingEvent::Disconnected { .. })
    })
    .await;
    assert!(matches!(lost, SignalingEvent::Disconnected { .. }));
    assert!(matches!(
        alice.dial("bob").await,
        Err(SignalingError::NotConnected)
    ));

    // Down for a while (several failed attempts), then back on the same address.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let server = Server::bind(ServerConfig {
        bind: addr,
        ..ServerConfig::default()
    })
    .await
    .expect("rebind the same port")
    .spawn();
    let back = next_matching(&mut events, |e| matches!(e, SignalingEvent::Reconnected(_))).await;
    match back {
        SignalingEvent::Reconnected(reg) => assert_eq!(reg.id, "alice"),
        _ => unreachable!(),
    }
    // Registered again for real: a new client sees alice online and can ring her.
    let bob = WsSignaling::connect(&server.ws_url(), WsOptions::default())
        .await
        .unwrap();
    let mut alice_sees = alice
        .presence()
        .expect("a peercall server lists who is online");
    let mut bob_sees = bob
        .presence()
        .expect("a peercall server lists who is online");
    bob.register(Some("bob".into())).await.unwrap();
    let within = Duration::from_secs(5);
    let listed = tokio::time::timeout(within, bob_sees.wait_for(|p| !p.is_empty()))
        .await
        .expect("bob is told who is online")
        .unwrap()
        .clone();
    assert_eq!(listed, ["alice"]);
    // And alice's list gains bob (presence never goes to the event stream).
    tokio::time::timeout(
        within,
        alice_sees.wait_for(|p| p.iter().any(|p| p == "bob")),
    )
    .await
    .expect("alice is told bob came online")
    .unwrap();
    let call_id = bob.dial("alice").await.unwrap();
    let incoming = next_matching(&mut events, |e| {
        matches!(e, SignalingEvent::Incoming { .. })
    })
    .await;
    assert_eq!(
        incoming,
        SignalingEvent::Incoming {
            from: "bob".into(),
            call_id,
            room: None,
        }
    );
}

/// A signal at the frame limit reaches a `WsSignaling` peer: relayed with its `from` it is
/// longer than 64 KiB, which our client once refused, dropping its connection mid-call.
#[tokio::test]
async fn a_signal_at_the_frame_limit_reaches_a_ws_signaling_peer() {
    let server = common::start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let bob = WsSignaling::connect(&url, WsOptions::default())
        .await
        .unwrap();
    let mut bob_events = bob.take_events().unwrap();
    bob.register(Some("bob".into())).await.unwrap();
    let mut alice = common::RawClient::registered(&url, "alice-whose-name-is-32-chars-ok").await;
    alice
        .send(serde_json::json!({"type":"call","to":"bob","call_id":"c1"}))
        .await;
    next_matching(&mut bob_events, |e| {
        matches!(e, SignalingEvent::Incoming { .. })
    })
    .await;
    bob.accept("c1").await.unwrap();
    alice.recv_type("accepted").await;

    let frame = |sdp_len: usize| {
        serde_json::json!({"type":"signal","call_id":"c1",
            "data":{"sdp":{"type":"offer","sdp":"v".repeat(sdp_len)}}})
        .to_string()
    };
    let sdp_len = 64 * 1024 - frame(0).len();
    alice.send_text(frame(sdp_len)).await;
    let signal = next_matching(&mut bob_events, |e| {
        matches!(
            e,
            SignalingEvent::Signal { .. } | SignalingEvent::Disconnected { .. }
        )
    })
    .await;
    match signal {
        SignalingEvent::Signal {
            data: signaling_client::SignalData::Sdp { sdp },
            ..
        } => assert_eq!(sdp.sdp.len(), sdp_len),
        other => panic!("expected the signal, got {other:?}"),
    }
    // Still connected: the hang-up goes through.
    bob.hangup("c1").await.unwrap();
    assert_eq!(alice.recv_type("hangup").await["from"], "bob");
}

/// TURN credentials from the server are renewed by the client before they expire (three
/// quarters into their life, 10 s at the soonest), and arrive as an `IceServers` event.
#[tokio::test]
async fn the_client_renews_turn_credentials_before_they_expire() {
    let server = common::start_server(ServerConfig {
        turn: Some(signaling_client::switchboard::TurnConfig::new(
            "s".into(),
            vec!["turn:127.0.0.1:3478".into()],
            Duration::from_secs(13),
        )),
        ..ServerConfig::default()
    })
    .await;
    let alice = WsSignaling::connect(&server.ws_url(), WsOptions::default())
        .await
        .unwrap();
    let mut events = alice.take_events().unwrap();
    let registered = alice.register(Some("alice".into())).await.unwrap();
    let first = registered.ice_servers[1].username.clone().unwrap();
    let asked = Instant::now();
    let fresh = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match events.recv().await {
                Some(e @ SignalingEvent::IceServers(_)) => return e,
                Some(_) => {}
                None => panic!("the event stream ended"),
            }
        }
    })
    .await
    .expect("fresh credentials within 20 s");
    let waited = asked.elapsed();
    let SignalingEvent::IceServers(servers) = fresh else {
        unreachable!()
    };
    let renewed = servers[1].username.clone().unwrap();
    assert_ne!(renewed, first, "new credentials, not the same again");
    assert!(
        waited >= Duration::from_secs(9),
        "renewed after {waited:?}: too early for 13 s credentials"
    );
}
