//! `peercall serve` as a script would run it: the listening line, a real client, Ctrl-C.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::RawClient;

#[tokio::test]
async fn serve_prints_its_address_serves_and_stops_on_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_peercall"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--ice-server",
            "stun:stun.example.org:3478",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start peercall serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert!(!addr.ends_with(":0"), "{addr}");

    let mut client = RawClient::connect(&format!("ws://{addr}/ws")).await;
    client
        .send(serde_json::json!({"type":"register","id":"scripted"}))
        .await;
    let reg = client.recv().await;
    assert_eq!(reg["id"], "scripted");
    assert_eq!(client.recv().await["type"], "peers");
    assert_eq!(
        reg["ice_servers"][0]["urls"][0],
        "stun:stun.example.org:3478"
    );

    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    // The server said goodbye to its client on the way out.
    assert!(matches!(client.read().await, common::Read::Closed(_)));
}
