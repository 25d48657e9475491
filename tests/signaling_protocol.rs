//! PROTOCOL.md §1, row by row, against a real server on loopback with real WebSocket clients.

mod common;

use std::time::Duration;

use common::{start_server, RawClient, Read};
use peercall::server::ServerConfig;
use serde_json::json;
use signaling_client::switchboard::TurnConfig;

fn offer() -> serde_json::Value {
    json!({"sdp":{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}})
}

#[tokio::test]
async fn register_with_a_chosen_or_generated_id_and_see_presence() {
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let mut alice = RawClient::connect(&url).await;
    alice.send(json!({"type":"register","id":"alice"})).await;
    let mut reg = alice.recv().await;
    // The secret that lets a new connection take this registration over: 128 bits, as hex.
    let resume = reg
        .as_object_mut()
        .and_then(|r| r.remove("resume"))
        .expect("registered carries a resume secret");
    assert!(resume.as_str().is_some_and(|t| t.len() == 32), "{resume}");
    assert_eq!(
        reg,
        json!({"type":"registered","id":"alice","protocol":1,"ice_servers":[]})
    );
    assert_eq!(alice.recv().await, json!({"type":"peers","peers":[]}));

    // No ID: the server picks a readable one.
    let mut anon = RawClient::connect(&url).await;
    anon.send(json!({"type":"register"})).await;
    let reg = anon.recv().await;
    let anon_id = reg["id"].as_str().unwrap().to_string();
    assert!(
        signaling_client::ids::is_valid_peer_id(&anon_id),
        "{anon_id}"
    );
    assert_eq!(anon.recv().await, json!({"type":"peers","peers":["alice"]}));
    assert_eq!(
        alice.recv().await,
        json!({"type":"peer_joined","id":anon_id})
    );

    drop(anon);
    assert_eq!(alice.recv().await, json!({"type":"peer_left","id":anon_id}));
    // The ID is free again once its connection closed.
    let again = RawClient::registered(&url, &anon_id).await;
    drop(again);
}

#[tokio::test]
async fn ice_servers_come_from_the_server_config() {
    let server = start_server(ServerConfig {
        ice_servers: vec![
            signaling_client::IceServer::from_url("stun:stun.example.org:3478"),
            signaling_client::IceServer::from_url("turn:u:p@turn.example.org:3478"),
        ],
        ..ServerConfig::default()
    })
    .await;
    let mut c = RawClient::connect(&server.ws_url()).await;
    c.send(json!({"type":"register","id":"carol"})).await;
    let reg = c.recv().await;
    assert_eq!(
        reg["ice_servers"],
        json!([{"urls":["stun:stun.example.org:3478"]},
               {"urls":["turn:turn.example.org:3478"],"username":"u","credential":"p"}])
    );
}

/// TURN REST credentials: each client gets its own, `EXPIRY:ID` signed with the shared secret,
/// and fresh ones on `refresh_ice` (docs/protocol.md, "TURN credentials").
#[tokio::test]
async fn turn_credentials_are_made_per_client_and_refreshed_on_request() {
    let ttl = Duration::from_secs(600);
    let server = start_server(ServerConfig {
        turn: Some(TurnConfig::new(
            "shared-secret".into(),
            vec!["turn:turn.example.org:3478".into()],
            ttl,
        )),
        ..ServerConfig::default()
    })
    .await;
    let mut c = RawClient::connect(&server.ws_url()).await;
    c.send(json!({"type":"register","id":"carol"})).await;
    let reg = c.recv().await;
    assert_eq!(reg["ice_ttl"], 600, "{reg}");
    let check = |servers: &serde_json::Value| -> u64 {
        assert_eq!(servers[0], json!({"urls":["stun:turn.example.org:3478"]}));
        let turn = &servers[1];
        assert_eq!(turn["urls"], json!(["turn:turn.example.org:3478"]));
        let username = turn["username"].as_str().unwrap();
        let (expiry, id) = username.split_once(':').unwrap();
        assert_eq!(id, "carol");
        // What coturn computes with --static-auth-secret=shared-secret.
        assert_eq!(
            turn["credential"].as_str().unwrap(),
            signaling_client::switchboard::turn::credential("shared-secret", username)
        );
        let expiry: u64 = expiry.parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(
            expiry >= now + 590 && expiry <= now + 610,
            "expires at {expiry}, now {now}"
        );
        expiry
    };
    let first = check(&reg["ice_servers"]);
    assert_eq!(c.recv().await["type"], "peers");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.send(json!({"type":"refresh_ice"})).await;
    let fresh = c.recv().await;
    assert_eq!(fresh["type"], "ice_servers", "{fresh}");
    assert_eq!(fresh["ice_ttl"], 600);
    assert!(
        check(&fresh["ice_servers"]) > first,
        "fresh credentials expire later"
    );

    // Before registering there is nothing to refresh.
    let mut stranger = RawClient::connect(&server.ws_url()).await;
    stranger.send(json!({"type":"refresh_ice"})).await;
    assert_eq!(stranger.recv().await["code"], "not_registered");
}

#[tokio::test]
async fn registration_errors() {
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let mut alice = RawClient::registered(&url, "alice").await;
    let mut c = RawClient::connect(&url).await;
    c.send(json!({"type":"call","to":"alice","call_id":"c1"}))
        .await;
    c.expect_error("not_registered").await;
    c.send(json!({"type":"register","id":"alice"})).await;
    c.expect_error("id_taken").await;
    for bad in ["al", "Alice", "a b", "x".repeat(33).as_str(), "al/ce"] {
        c.send(json!({"type":"register","id":bad})).await;
        c.expect_error("invalid_id").await;
    }
    // Registering twice on one connection is refused; the first registration stands.
    alice.send(json!({"type":"register","id":"alice2"})).await;
    alice.expect_error("bad_message").await;
    c.send(json!({"type":"register","id":"bob"})).await;
    assert_eq!(c.recv().await["type"], "registered");
    assert_eq!(c.recv().await, json!({"type":"peers","peers":["alice"]}));
}

#[tokio::test]
async fn a_call_rings_is_accepted_relays_and_hangs_up() {
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let mut alice = RawClient::registered(&url, "alice").await;
    let mut bob = RawClient::registered(&url, "bob").await;
    alice.recv_type("peer_joined").await;

    alice
        .send(json!({"type":"call","to":"bob","call_id":"c1"}))
        .await;
    // Early offer, before bob accepts; a forged `from` is replaced by the server's.
    alice
        .send(json!({"type":"signal","call_id":"c1","from":"mallory","data":offer()}))
        .await;
    assert_eq!(
        bob.recv().await,
        json!({"type":"incoming","from":"alice","call_id":"c1"})
    );
    assert_eq!(
        bob.recv().await,
        json!({"type":"signal","from":"alice","call_id":"c1","data":offer()})
    );
    bob.send(json!({"type":"accept","call_id":"c1"})).await;
    assert_eq!(
        alice.recv().await,
        json!({"type":"accepted","from":"bob","call_id":"c1"})
    );
    let answer = json!({"sdp":{"type":"answer","sdp":"v=0\r\n"}});
    bob.send(json!({"type":"signal","call_id":"c1","data":answer}))
        .await;
    let candidate = json!({"candidate":{"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0}});
    bob.send(json!({"type":"signal","call_id":"c1","data":candidate}))
        .await;
    bob.send(json!({"type":"signal","call_id":"c1","data":{"candidate":null}}))
        .await;
    assert_eq!(
        alice.recv().await,
        json!({"type":"signal","from":"bob","call_id":"c1","data":answer})
    );
    assert_eq!(
        alice.recv().await,
        json!({"type":"signal","from":"bob","call_id":"c1","data":candidate})
    );
    assert_eq!(
        alice.recv().await,
        json!({"type":"signal","from":"bob","call_id":"c1","data":{"candidate":null}})
    );
    alice.send(json!({"type":"hangup","call_id":"c1"})).await;
    assert_eq!(
        bob.recv().await,
        json!({"type":"hangup","from":"alice","call_id":"c1"})
    );
    // Over: nothing relays any more, and the call ID cannot be used again.
    bob.send(json!({"type":"signal","call_id":"c1","data":answer}))
        .await;
    bob.expect_error("unknown_call").await;
    alice
        .send(json!({"type":"call","to":"bob","call_id":"c1"}))
        .await;
    let e = alice.expect_error("call_id_taken").await;
    assert_eq!(e["call_id"], "c1");
}

#[tokio::test]
async fn decline_busy_and_cancel() {
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let mut alice = RawClient::registered(&url, "alice").await;
    let mut bob = RawClient::registered(&url, "bob").await;
    for (call_id, reason) in [("d1", "declined"), ("b1", "busy")] {
        alice
            .send(json!({"type":"call","to":"bob","call_id":call_id}))
            .await;
        bob.recv_type("incoming").await;
        bob.send(json!({"type":"reject","call_id":call_id,"reason":reason}))
            .await;
        assert_eq!(
            alice.recv_type("rejected").await,
            json!({"type":"rejected","from":"bob","call_id":call_id,"reason":reason})
        );
    }
    // Reject without a reason means declined.
    alice
        .send(json!({"type":"call","to":"bob","call_id":"d2"}))
        .await;
    bob.recv_type("incoming").await;
    bob.send(json!({"type":"reject","call_id":"d2"})).await;
    assert_eq!(alice.recv_type("rejected").await["reason"], "declined");
    // The caller cancels while it rings.
    alice
        .send(json!({"type":"call","to":"bob","call_id":"x1"}))
        .await;
    bob.recv_type("incoming").await;
    alice.send(json!({"type":"hangup","call_id":"x1"})).await;
    assert_eq!(
        bob.recv_type("hangup").await,
        json!({"type":"hangup","from":"alice","call_id":"x1"})
    );
    bob.send(json!({"type":"accept","call_id":"x1"})).await;
    bob.expect_error("unknown_call").await;
}

#[tokio::test]
async fn call_errors() {
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let mut alice = RawClient::registered(&url, "alice").await;
    let mut bob = RawClient::registered(&url, "bob").await;
    let mut eve = RawClient::registered(&url, "eve").await;

    alice
        .send(json!({"type":"call","to":"nobody","call_id":"u1"}))
        .await;
    assert_eq!(
        alice.expect_error("unknown_peer").await["call_id"],
        json!("u1")
    );
    alice
        .send(json!({"type":"call","to":"bob","call_id":"c1"}))
        .await;
    bob.recv_type("incoming").await;
    // Someone else's call: eve cannot signal into it, accept it, reject it or hang it up.
    for msg in [
        json!({"type":"signal","call_id":"c1","data":offer()}),
        json!({"type":"accept","call_id":"c1"}),
        json!({"type":"reject","call_id":"c1"}),
        json!({"type":"hangup","call_id":"c1"}),
    ] {
        eve.send(msg).await;
        assert_eq!(eve.expect_error("unknown_call").await["call_id"], "c1");
    }
    // A call_id already live.
    eve.send(json!({"type":"call","to":"bob","call_id":"c1"}))
        .await;
    eve.expect_error("call_id_taken").await;
    // Nothing of that reached bob or alice.
    bob.quiet_for(Duration::from_millis(200)).await;
    alice.quiet_for(Duration::from_millis(200)).await;
    // And the call itself still works.
    bob.send(json!({"type":"accept","call_id":"c1"})).await;
    assert_eq!(alice.recv_type("accepted").await["from"], "bob");
}

#[tokio::test]
async fn a_vanished_party_ends_its_calls_with_gone() {
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let mut alice = RawClient::registered(&url, "alice").await;
    let mut bob = RawClient::registered(&url, "bob").await;
    // Callee leaves while ringing.
    alice
        .send(json!({"type":"call","to":"bob","call_id":"r1"}))
        .await;
    bob.recv_type("incoming").await;
    drop(bob);
    assert_eq!(
        alice.recv_type("hangup").await,
        json!({"type":"hangup","from":"bob","call_id":"r1","reason":"gone"})
    );
    // Caller leaves mid-call.
    let mut bob = RawClient::registered(&url, "bob").await;
    alice
        .send(json!({"type":"call","to":"bob","call_id":"r2"}))
        .await;
    bob.recv_type("incoming").await;
    bob.send(json!({"type":"accept","call_id":"r2"})).await;
    alice.recv_type("accepted").await;
    drop(alice);
    assert_eq!(
        bob.recv_type("hangup").await,
        json!({"type":"hangup","from":"alice","call_id":"r2","reason":"gone"})
    );
}

/// A client whose network changed connects again before the server noticed its old
/// connection is dead: with the secret from `registered` it takes its ID, call and room over.
#[tokio::test]
async fn resume_takes_a_registration_over_with_its_calls() {
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let mut old = RawClient::connect(&url).await;
    old.send(json!({"type":"register","id":"alice"})).await;
    let token = old.recv().await["resume"].clone();
    old.recv_type("peers").await;
    let mut bob = RawClient::registered(&url, "bob").await;
    old.send(json!({"type":"call","to":"bob","call_id":"c1"}))
        .await;
    bob.recv_type("incoming").await;
    bob.send(json!({"type":"accept","call_id":"c1"})).await;
    old.recv_type("accepted").await;

    // A wrong secret takes nothing.
    let mut thief = RawClient::connect(&url).await;
    thief
        .send(json!({"type":"resume","id":"alice","token":"00000000000000000000000000000000"}))
        .await;
    thief.expect_error("id_taken").await;

    let mut new = RawClient::connect(&url).await;
    new.send(json!({"type":"resume","id":"alice","token":token,"protocol":2}))
        .await;
    let reg = new.recv().await;
    assert_eq!(reg["type"], "registered", "{reg}");
    assert_eq!(reg["id"], "alice");
    assert_ne!(reg["resume"], token, "a fresh secret each time");
    assert_eq!(new.recv().await, json!({"type":"peers","peers":["bob"]}));
    // The old connection is closed; the call relays to the new one, both ways.
    if let Read::Json(v) = old.read().await {
        panic!("the replaced connection got {v}");
    }
    let answer = json!({"sdp":{"type":"answer","sdp":"v=0\r\n"}});
    bob.send(json!({"type":"signal","call_id":"c1","data":answer}))
        .await;
    assert_eq!(
        new.recv().await,
        json!({"type":"signal","from":"bob","call_id":"c1","data":answer})
    );
    new.send(json!({"type":"signal","call_id":"c1","data":{"candidate":null}}))
        .await;
    assert_eq!(
        bob.recv().await,
        json!({"type":"signal","from":"alice","call_id":"c1","data":{"candidate":null}})
    );
    // Nobody was told alice left or came: bob heard nothing but the signal.
    if let Ok(read) = tokio::time::timeout(Duration::from_millis(300), bob.read()).await {
        panic!("bob should hear nothing of alice's new connection: {read:?}");
    }
    new.send(json!({"type":"hangup","call_id":"c1"})).await;
    assert_eq!(
        bob.recv().await,
        json!({"type":"hangup","from":"alice","call_id":"c1"})
    );
}

#[tokio::test]
async fn an_unanswered_call_times_out_for_both() {
    let server = start_server(ServerConfig {
        ring_timeout: Duration::from_millis(400),
        ..ServerConfig::default()
    })
    .await;
    let url = server.ws_url();
    let mut alice = RawClient::registered(&url, "alice").await;
    let mut bob = RawClient::registered(&url, "bob").await;
    alice
        .send(json!({"type":"call","to":"bob","call_id":"t1"}))
        .await;
    bob.recv_type("incoming").await;
    assert_eq!(
        alice.recv_type("hangup").await,
        json!({"type":"hangup","from":"bob","call_id":"t1","reason":"timeout"})
    );
    assert_eq!(
        bob.recv_type("hangup").await,
        json!({"type":"hangup","from":"alice","call_id":"t1","reason":"timeout"})
    );
    bob.send(json!({"type":"accept","call_id":"t1"})).await;
    bob.expect_error("unknown_call").await;
}

#[tokio::test]
async fn the_default_ring_timeout_is_sixty_seconds() {
    assert_eq!(
        ServerConfig::default().ring_timeout,
        Duration::from_secs(60)
    );
}

#[tokio::test]
async fn health_and_page_are_served() {
    let server = start_server(ServerConfig::default()).await;
    let _alice = RawClient::registered(&server.ws_url(), "alice").await;
    let health = http_get(server.addr, "/health").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let body: serde_json::Value =
        serde_json::from_str(health.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["protocol"], 2);
    assert_eq!(body["rooms"], 0);
    assert_eq!(body["peers"], 1);
    let page = http_get(server.addr, "/").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<html"), "{page}");
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn a_stopping_server_closes_connections_with_going_away() {
    let server = start_server(ServerConfig::default()).await;
    let mut alice = RawClient::registered(&server.ws_url(), "alice").await;
    server.shutdown().await;
    match alice.read().await {
        Read::Closed(code) => assert_eq!(code, Some(1001)),
        other => panic!("{other:?}"),
    }
}
