//! Hostile input against a real server: each gets what the contract says, the connection stays
//! (unless the contract closes it), and a call between two other clients keeps relaying.

mod common;

use std::time::Duration;

use common::{start_server, RawClient, Read};
use futures_util::SinkExt;
use peercall::server::{Limits, ServerConfig};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// Two clients in an accepted call: returns (caller, callee).
async fn live_call(url: &str, a: &str, b: &str, call_id: &str) -> (RawClient, RawClient) {
    let mut caller = RawClient::registered(url, a).await;
    let mut callee = RawClient::registered(url, b).await;
    caller
        .send(json!({"type":"call","to":b,"call_id":call_id}))
        .await;
    callee.recv_type("incoming").await;
    callee
        .send(json!({"type":"accept","call_id":call_id}))
        .await;
    caller.recv_type("accepted").await;
    (caller, callee)
}

/// One signal from `from` arrives at `to` intact.
async fn relays(from: &mut RawClient, to: &mut RawClient, call_id: &str, n: u64) {
    let data = json!({"candidate":{"candidate":format!("candidate:{n} 1 udp 1 127.0.0.1 {n} typ host"),"sdpMid":"0","sdpMLineIndex":0}});
    from.send(json!({"type":"signal","call_id":call_id,"data":data}))
        .await;
    let got = to.recv_type("signal").await;
    assert_eq!(got["data"], data);
}

#[tokio::test]
async fn malformed_frames_get_bad_message_and_the_connection_stays() {
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let (mut alice, mut bob) = live_call(&url, "alice", "bob", "c1").await;
    let mut mallory = RawClient::registered(&url, "mallory").await;
    let bad: Vec<String> = vec![
        "not json at all".into(),
        "{\"type\":".into(),
        "[]".into(),
        "42".into(),
        "{}".into(),
        json!({"type":"teleport"}).to_string(),
        json!({"type":5}).to_string(),
        json!({"type":"call","to":7,"call_id":"m1"}).to_string(),
        json!({"type":"call","to":"bob"}).to_string(),
        json!({"type":"signal","call_id":"c1","data":"just a string"}).to_string(),
        json!({"type":"signal","call_id":"c1","data":{"sdp":{"type":"offer"}}}).to_string(),
        json!({"type":"reject","call_id":"c1","reason":"whatever"}).to_string(),
        json!({"type":"register","id":["x"]}).to_string(),
    ];
    for (n, text) in bad.into_iter().enumerate() {
        mallory.send_text(text.clone()).await;
        let e = mallory.expect_error("bad_message").await;
        assert!(!e["message"].as_str().unwrap().is_empty(), "{text}");
        relays(&mut alice, &mut bob, "c1", n as u64).await;
    }
    mallory
        .ws
        .send(Message::Binary(vec![1u8, 2, 3].into()))
        .await
        .unwrap();
    mallory.expect_error("bad_message").await;
    // A signal into a call mallory is not part of.
    mallory
        .send(json!({"type":"signal","call_id":"c1","data":{"candidate":null}}))
        .await;
    mallory.expect_error("unknown_call").await;
    // Still connected and registered: a normal request works.
    mallory
        .send(json!({"type":"call","to":"nobody","call_id":"m2"}))
        .await;
    mallory.expect_error("unknown_peer").await;
    relays(&mut bob, &mut alice, "c1", 99).await;
}

#[tokio::test]
async fn frames_over_64_kib_close_with_1009() {
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let (mut alice, mut bob) = live_call(&url, "alice", "bob", "c1").await;

    // Exactly at the limit is fine: an SDP padded to 64 KiB relays.
    let frame = |sdp_len: usize| {
        json!({"type":"signal","call_id":"c1","data":{"sdp":{"type":"offer","sdp":"x".repeat(sdp_len)}}}).to_string()
    };
    let overhead = frame(0).len();
    let at_limit = frame(64 * 1024 - overhead);
    assert_eq!(at_limit.len(), 64 * 1024);
    alice.send_text(at_limit).await;
    assert_eq!(
        bob.recv_type("signal").await["data"]["sdp"]["sdp"]
            .as_str()
            .unwrap()
            .len(),
        64 * 1024 - overhead
    );

    for size in [64 * 1024 + 1, 1024 * 1024] {
        let mut big = RawClient::registered(&url, "big").await;
        big.send_text("y".repeat(size)).await;
        match big.read().await {
            Read::Closed(code) => assert_eq!(code, Some(1009), "size {size}"),
            Read::Json(v) => panic!("expected close 1009, got {v}"),
        }
        drop(big);
        bob.recv_type("peer_left").await;
        relays(&mut alice, &mut bob, "c1", size as u64).await;
    }
}

#[tokio::test]
async fn a_flood_is_rate_limited_and_others_keep_talking() {
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let (mut alice, mut bob) = live_call(&url, "alice", "bob", "c1").await;
    let mut flooder = RawClient::registered(&url, "flooder").await;

    // 10 000 messages as fast as the socket takes them, while alice and bob keep relaying.
    let flood = tokio::spawn(async move {
        for n in 0..10_000 {
            let msg = json!({"type":"call","to":"nobody","call_id":format!("f{n}")});
            flooder
                .ws
                .feed(Message::text(msg.to_string()))
                .await
                .unwrap();
        }
        flooder.ws.flush().await.unwrap();
        let mut answered = 0;
        let mut rate_limited = 0;
        // Answers: unknown_peer for those let through, rate_limited notices for the rest.
        loop {
            match tokio::time::timeout(Duration::from_secs(2), flooder.read()).await {
                Ok(Read::Json(v)) if v["code"] == "unknown_peer" => answered += 1,
                Ok(Read::Json(v)) if v["code"] == "rate_limited" => rate_limited += 1,
                Ok(Read::Json(v)) => assert!(v["type"] == "peer_joined", "{v}"),
                Ok(Read::Closed(code)) => panic!("flooder closed {code:?}"),
                Err(_) => break,
            }
        }
        (answered, rate_limited, flooder)
    });
    for n in 0..50 {
        relays(&mut alice, &mut bob, "c1", n).await;
        relays(&mut bob, &mut alice, "c1", n).await;
    }
    let (answered, rate_limited, mut flooder) = flood.await.unwrap();
    assert!(rate_limited >= 1, "no rate_limited error");
    assert!(
        (90..1_000).contains(&answered),
        "{answered} of 10 000 got through"
    );
    // After a pause the flooder is a normal client again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    flooder
        .send(json!({"type":"call","to":"nobody","call_id":"after"}))
        .await;
    assert_eq!(
        flooder.expect_error("unknown_peer").await["call_id"],
        "after"
    );
}

/// A server with tight limits, so the tests see them act in a moment.
fn tight() -> ServerConfig {
    ServerConfig {
        limits: Limits {
            max_connections: 8,
            register_within: Duration::from_millis(500),
            idle_ping: Duration::from_millis(300),
            flood_close_after: Duration::from_millis(800),
        },
        ..ServerConfig::default()
    }
}

#[tokio::test]
async fn a_connection_that_never_registers_is_closed() {
    let server = start_server(tight()).await;
    let mut idle = RawClient::connect(&server.ws_url()).await;
    match tokio::time::timeout(Duration::from_secs(5), idle.read()).await {
        Ok(Read::Closed(code)) => assert_eq!(code, Some(1008)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused_and_the_others_go_on() {
    let server = start_server(tight()).await;
    let url = server.ws_url();
    let mut clients = Vec::new();
    for i in 0..8 {
        clients.push(RawClient::registered(&url, &format!("peer{i}")).await);
    }
    let refused = tokio_tungstenite::connect_async(url.as_str()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        other => panic!("the ninth connection: {:?}", other.map(|_| ())),
    }
    // One leaves: there is room again.
    drop(clients.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    RawClient::registered(&url, "late").await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_before_it_holds_much_memory() {
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let (mut alice, bob) = live_call(&url, "alice", "bob", "c1").await;
    // bob stops reading; alice relays ~60 KiB signals at the rate limit. bob's queue is bounded
    // in bytes (1 MiB past what the sockets buffer), so the server drops him and tells alice.
    let big = "x".repeat(60 * 1024);
    let mut sent = 0;
    let gone = loop {
        assert!(sent < 2_000, "bob still not dropped after {sent} signals");
        let data = json!({"sdp":{"type":"offer","sdp":big}});
        alice
            .send(json!({"type":"signal","call_id":"c1","data":data}))
            .await;
        sent += 1;
        tokio::time::sleep(Duration::from_millis(25)).await;
        // Anything for alice (rate-limit notices aside)?
        if let Ok(Read::Json(v)) =
            tokio::time::timeout(Duration::from_millis(1), alice.read()).await
        {
            if v["type"] == "hangup" {
                break v;
            }
        }
    };
    assert_eq!(gone["reason"], "gone", "{gone}");
    drop(bob);
}

#[tokio::test]
async fn a_silent_client_is_pinged_then_closed() {
    let server = start_server(tight()).await;
    let url = server.ws_url();
    let mut watcher = RawClient::registered(&url, "watcher").await;
    // Registered, then never reads again: no pong ever goes back.
    let silent = RawClient::registered(&url, "silent").await;
    let left = watcher.recv_type("peer_joined").await;
    assert_eq!(left["id"], "silent");
    // watcher answers pings (it reads), so only silent goes.
    let left = tokio::time::timeout(Duration::from_secs(5), watcher.recv_type("peer_left"))
        .await
        .expect("the silent client was never closed");
    assert_eq!(left["id"], "silent");
    drop(silent);
}

#[tokio::test]
async fn a_ping_flood_counts_against_the_rate_and_closes_the_flooder() {
    use futures_util::StreamExt;
    let server = start_server(tight()).await;
    let url = server.ws_url();
    let flooder = RawClient::registered(&url, "flooder").await;
    let (mut sink, mut stream) = flooder.ws.split();
    // Pings as fast as they go, while reading the pongs (so nothing stalls on a full socket).
    let pinging =
        tokio::spawn(
            async move { while sink.send(Message::Ping(Default::default())).await.is_ok() {} },
        );
    let closed = async {
        while let Some(frame) = stream.next().await {
            match frame {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    };
    let code = tokio::time::timeout(Duration::from_secs(10), closed)
        .await
        .expect("a ping flood was never closed");
    assert_eq!(code, Some(1008));
    pinging.abort();
}
