//! Protocol version 2, rooms, from the outside: real WebSocket clients speaking JSON to a real
//! server (docs/protocol.md, "Rooms"). Joining, the members list, invitations, the size limit,
//! who may signal into a room, members that vanish, and version-1 clients left as they were.

mod common;

use std::time::Duration;

use common::{start_server, RawClient};
use peercall::server::ServerConfig;
use serde_json::{json, Value};

/// Registers asking for version 2, consuming `registered` and `peers`.
async fn v2(url: &str, id: &str) -> RawClient {
    let mut c = RawClient::connect(url).await;
    c.send(json!({"type":"register","id":id,"protocol":2}))
        .await;
    let registered = c.recv().await;
    assert_eq!(registered["type"], "registered", "{registered}");
    assert_eq!(registered["protocol"], 2, "{registered}");
    c.recv_type("peers").await;
    c
}

async fn join(c: &mut RawClient, room: &str) -> Value {
    c.send(json!({"type":"join","room":room})).await;
    c.recv_type("room").await
}

fn members(room: &Value) -> Vec<&str> {
    room["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn members_join_learn_each_other_and_leave() {
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let mut alice = v2(&url, "alice").await;
    let mut bob = v2(&url, "bob").await;
    let mut carol = v2(&url, "carol").await;
    assert!(members(&join(&mut alice, "standup").await).is_empty());
    assert_eq!(members(&join(&mut bob, "standup").await), ["alice"]);
    let joined = alice.recv_type("member_joined").await;
    assert_eq!(
        joined,
        json!({"type":"member_joined","room":"standup","id":"bob"})
    );
    assert_eq!(
        members(&join(&mut carol, "standup").await),
        ["alice", "bob"]
    );
    for c in [&mut alice, &mut bob] {
        assert_eq!(c.recv_type("member_joined").await["id"], "carol");
    }

    // A leg between members: the later joiner dials, marked with the room.
    carol
        .send(json!({"type":"call","to":"alice","call_id":"leg-ca","room":"standup"}))
        .await;
    let incoming = alice.recv_type("incoming").await;
    assert_eq!(
        incoming,
        json!({"type":"incoming","from":"carol","call_id":"leg-ca","room":"standup"})
    );
    alice
        .send(json!({"type":"accept","call_id":"leg-ca"}))
        .await;
    assert_eq!(carol.recv_type("accepted").await["from"], "alice");

    // bob leaves: the others hear it; the health check counts the room.
    bob.send(json!({"type":"leave","room":"standup"})).await;
    for c in [&mut alice, &mut carol] {
        let left = c.recv_type("member_left").await;
        assert_eq!(
            left,
            json!({"type":"member_left","room":"standup","id":"bob"})
        );
    }
    // carol's connection dies: alice hears her leave and her leg end, at once.
    drop(carol);
    let mut heard = Vec::new();
    while heard.len() < 2 {
        let v = alice.recv().await;
        match v["type"].as_str() {
            Some("member_left") | Some("hangup") => heard.push(v),
            _ => {}
        }
    }
    assert!(heard.contains(&json!({"type":"member_left","room":"standup","id":"carol"})));
    assert!(
        heard.contains(&json!({"type":"hangup","from":"carol","call_id":"leg-ca","reason":"gone"}))
    );
}

#[tokio::test]
async fn an_invitation_rings_and_makes_a_member_and_the_room_has_a_limit() {
    let server = start_server(ServerConfig {
        max_room: 3,
        ..ServerConfig::default()
    })
    .await;
    let url = server.ws_url();
    let mut alice = v2(&url, "alice").await;
    let mut bob = v2(&url, "bob").await;
    let mut dave = v2(&url, "dave").await;
    let mut erin = v2(&url, "erin").await;
    join(&mut alice, "family").await;
    join(&mut bob, "family").await;
    alice.recv_type("member_joined").await;

    alice
        .send(json!({"type":"call","to":"dave","call_id":"inv-d","room":"family"}))
        .await;
    assert_eq!(
        dave.recv_type("incoming").await,
        json!({"type":"incoming","from":"alice","call_id":"inv-d","room":"family"})
    );
    dave.send(json!({"type":"accept","call_id":"inv-d"})).await;
    assert_eq!(alice.recv_type("accepted").await["from"], "dave");
    assert_eq!(members(&dave.recv_type("room").await), ["alice", "bob"]);
    assert_eq!(alice.recv_type("member_joined").await["id"], "dave");
    assert_eq!(bob.recv_type("member_joined").await["id"], "dave");

    // Three is this server's limit: erin cannot join, and an invitation she accepts ends.
    erin.send(json!({"type":"join","room":"family"})).await;
    let full = erin.expect_error("room_full").await;
    assert_eq!(full["room"], "family");
    bob.send(json!({"type":"call","to":"erin","call_id":"inv-e","room":"family"}))
        .await;
    erin.recv_type("incoming").await;
    erin.send(json!({"type":"accept","call_id":"inv-e"})).await;
    let full = erin.expect_error("room_full").await;
    assert_eq!(full["call_id"], "inv-e");
    assert_eq!(
        bob.recv_type("hangup").await,
        json!({"type":"hangup","from":"erin","call_id":"inv-e","reason":"room_full"})
    );
}

#[tokio::test]
async fn outsiders_cannot_signal_into_a_room_and_version_1_clients_see_no_rooms() {
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let mut alice = v2(&url, "alice").await;
    let mut eve = v2(&url, "eve").await;
    let mut old = RawClient::registered(&url, "old").await;
    join(&mut alice, "private").await;

    // Not a member: a call marked with the room is refused, and alice hears nothing.
    eve.send(json!({"type":"call","to":"alice","call_id":"sneak","room":"private"}))
        .await;
    let refused = eve.expect_error("not_in_room").await;
    assert_eq!(refused["call_id"], "sneak");
    eve.send(json!({"type":"leave","room":"private"})).await;
    eve.expect_error("not_in_room").await;
    alice.quiet_for(Duration::from_millis(300)).await;

    // A version-1 client: registered as 1, cannot join, cannot be invited, calls as before.
    old.send(json!({"type":"join","room":"private"})).await;
    old.expect_error("bad_message").await;
    alice
        .send(json!({"type":"call","to":"old","call_id":"inv-old","room":"private"}))
        .await;
    alice.expect_error("unknown_peer").await;
    alice
        .send(json!({"type":"call","to":"old","call_id":"plain"}))
        .await;
    assert_eq!(
        old.recv_type("incoming").await,
        json!({"type":"incoming","from":"alice","call_id":"plain"})
    );
    let mut registered_v1 = RawClient::connect(&url).await;
    registered_v1
        .send(json!({"type":"register","id":"older"}))
        .await;
    assert_eq!(registered_v1.recv().await["protocol"], 1);
    // A bad room name is refused in words.
    eve.send(json!({"type":"join","room":"Not a room"})).await;
    let bad = eve.expect_error("bad_message").await;
    assert!(
        bad["message"].as_str().unwrap().contains("room name"),
        "{bad}"
    );
}
