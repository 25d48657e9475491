//! 1 000 clients connected at once all register and see a consistent picture of who is online.

mod common;

use std::collections::BTreeSet;

use common::{start_server, RawClient};
use peercall::server::ServerConfig;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_clients_see_consistent_presence() {
    const N: usize = 1000;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let ids: Vec<String> = (0..N).map(|i| format!("peer-{i:04}")).collect();

    // Every client connects first, so all of them are connected at once.
    let mut clients = Vec::new();
    for _ in 0..N {
        clients.push(RawClient::connect(&url).await);
    }
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(N);
    let (go_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();
    for (mut client, id) in clients.into_iter().zip(ids.clone()) {
        let done = done_tx.clone();
        let mut go = go_tx.subscribe();
        tasks.push(tokio::spawn(async move {
            client.send(json!({"type":"register","id":id})).await;
            let reg = client.recv().await;
            assert_eq!(reg["type"], "registered");
            let peers = client.recv().await;
            let mut view: BTreeSet<String> = peers["peers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect();
            // Apply presence until everyone is there.
            while view.len() < N - 1 {
                let v = client.recv().await;
                match v["type"].as_str() {
                    Some("peer_joined") => assert!(view.insert(v["id"].as_str().unwrap().into())),
                    other => panic!("unexpected {other:?}: {v}"),
                }
            }
            done.send(()).await.unwrap();
            // Wait until every client has the full view, then the first 100 leave.
            let _ = go.recv().await;
            let index: usize = id[5..].parse().unwrap();
            if index < 100 {
                return (id, view, None);
            }
            while view.len() > N - 1 - 100 {
                let v = client.recv().await;
                assert_eq!(v["type"], "peer_left", "{v}");
                assert!(view.remove(v["id"].as_str().unwrap()));
            }
            (id, view, Some(client))
        }));
    }
    for _ in 0..N {
        done_rx.recv().await.unwrap();
    }
    go_tx.send(()).unwrap();
    let mut survivors = Vec::new();
    for task in tasks {
        let (id, view, client) = task.await.unwrap();
        let index: usize = id[5..].parse().unwrap();
        if index >= 100 {
            let expected: BTreeSet<String> =
                ids[100..].iter().filter(|p| **p != id).cloned().collect();
            assert_eq!(view, expected, "view of {id}");
            survivors.push(client);
        }
    }
    assert_eq!(survivors.len(), N - 100);
}
