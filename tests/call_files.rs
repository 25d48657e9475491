//! Files sent in a call between two headless peercalls on loopback (real webrtc-rs data
//! channels), and from a hostile peer that lies: every file that arrives is compared with its
//! source by `sha256sum`, and what should leave nothing leaves nothing in the receiving folder.

mod common;
#[path = "common/hostile.rs"]
mod hostile;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::BytesMut;
use common::files::{folder, make_file, sha256sum};
use common::{bob_then_alice, report_of, spawn_headless, start_server};
use hostile::Hostile;
use peercall::server::ServerConfig;
use serde_json::{json, Value};

/// Names in `dir`, hidden ones (part files) included.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn files_of(report: &Value) -> Vec<Value> {
    report["files"].as_array().cloned().unwrap_or_default()
}

fn entry(files: &[Value], direction: &str, name: &str) -> Value {
    files
        .iter()
        .find(|f| f["direction"] == direction && f["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {direction} {name} among {files:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_every_size_arrive_whole_both_ways() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let (out_a, out_b, in_a, in_b) = (
        folder("files", "out-a"),
        folder("files", "out-b"),
        folder("files", "in-a"),
        folder("files", "in-b"),
    );
    let sizes = [
        ("one-kib.bin", 1024),
        ("ten-mib.bin", 10 << 20),
        ("hundred-mib.bin", 100 << 20),
    ];
    for (i, (name, size)) in sizes.iter().enumerate() {
        make_file(&out_a.join(name), *size, i as u64 + 1);
    }
    make_file(&out_b.join("from-bob.bin"), 10 << 20, 99);
    // A name bob already has: alice's file must not replace it.
    std::fs::write(in_b.join("one-kib.bin"), b"bob's own").unwrap();

    let receive = |dir: &Path| dir.to_string_lossy().into_owned();
    let (in_a_arg, in_b_arg) = (receive(&in_a), receive(&in_b));
    let alice_files: Vec<String> = sizes
        .iter()
        .map(|(name, _)| out_a.join(name).to_string_lossy().into_owned())
        .collect();
    let bob_file = out_b.join("from-bob.bin").to_string_lossy().into_owned();
    let mut alice_args = vec![
        "--duration",
        "14",
        "--receive-dir",
        &in_a_arg,
        "--auto-accept-files",
    ];
    for f in &alice_files {
        alice_args.extend(["--send-file", f]);
    }
    let (bob, alice) = bob_then_alice(
        &url,
        &[
            "--auto-accept",
            "--receive-dir",
            &in_b_arg,
            "--auto-accept-files",
            "--send-file",
            &bob_file,
        ],
        &alice_args,
    )
    .await;
    let (alice, bob) = (report_of(alice).await, report_of(bob).await);
    let (sent_a, got_b) = (files_of(&alice), files_of(&bob));
    for (name, size) in sizes {
        let sent = entry(&sent_a, "sent", name);
        let got = entry(&got_b, "received", name);
        println!(
            "{name}: sent in {:.2} s ({:.0} Mbit/s), received in {:.2} s",
            sent["secs"].as_f64().unwrap_or(f64::NAN),
            sent["mbps"].as_f64().unwrap_or(f64::NAN),
            got["secs"].as_f64().unwrap_or(f64::NAN),
        );
        assert_eq!(sent["outcome"], "done", "{sent}");
        assert_eq!(got["outcome"], "done", "{got}");
        assert_eq!(got["size"], size as u64);
        let path = PathBuf::from(got["path"].as_str().unwrap());
        assert_eq!(path.parent(), Some(in_b.as_path()));
        assert_eq!(sha256sum(&path), sha256sum(&out_a.join(name)), "{name}");
    }
    // The taken name got a number; bob's own file is untouched.
    assert_eq!(
        entry(&got_b, "received", "one-kib.bin")["path"],
        in_b.join("one-kib (1).bin").to_string_lossy().as_ref()
    );
    assert_eq!(
        std::fs::read(in_b.join("one-kib.bin")).unwrap(),
        b"bob's own"
    );
    // bob's file reached alice at the same time.
    let got = entry(&files_of(&alice), "received", "from-bob.bin");
    assert_eq!(got["outcome"], "done", "{got}");
    assert_eq!(
        sha256sum(&in_a.join("from-bob.bin")),
        sha256sum(&out_b.join("from-bob.bin"))
    );
    // No part file is left behind on either side.
    assert_eq!(
        names_in(&in_b),
        [
            "hundred-mib.bin",
            "one-kib (1).bin",
            "one-kib.bin",
            "ten-mib.bin"
        ]
    );
    assert_eq!(names_in(&in_a), ["from-bob.bin"]);
    for dir in [out_a, out_b, in_a, in_b] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_file_is_never_written() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let (out, inbox) = (
        folder("files", "decline-out"),
        folder("files", "decline-in"),
    );
    make_file(&out.join("unwanted.bin"), 1 << 20, 5);
    let file = out.join("unwanted.bin").to_string_lossy().into_owned();
    let inbox_arg = inbox.to_string_lossy().into_owned();
    // bob has a folder but takes nothing without asking: a headless peercall declines.
    let (bob, alice) = bob_then_alice(
        &url,
        &["--auto-accept", "--receive-dir", &inbox_arg],
        &["--duration", "3", "--send-file", &file],
    )
    .await;
    let (alice, bob) = (report_of(alice).await, report_of(bob).await);
    let sent = entry(&files_of(&alice), "sent", "unwanted.bin");
    assert_eq!(sent["outcome"], "declined", "{sent}");
    let offered = entry(&files_of(&bob), "received", "unwanted.bin");
    assert_eq!(offered["outcome"], "declined", "{offered}");
    assert!(names_in(&inbox).is_empty(), "{:?}", names_in(&inbox));
    for dir in [out, inbox] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A file too large to finish in the time allowed (sparse: it costs no disk), so the transfer is
/// under way when it is cancelled or its sender vanishes: 1 GiB takes 20 s and more at the
/// 180–430 Mbit/s measured on loopback, and its sender hashes it in a few seconds first.
fn large_sparse_file(dir: &Path) -> String {
    let path = dir.join("large.bin");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(1 << 30).unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_cancelled_by_either_side_leaves_nothing() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    for (who_cancels, tag) in [("alice", "sender"), ("bob", "receiver")] {
        let (out, inbox) = (
            folder("files", &format!("cancel-out-{tag}")),
            folder("files", &format!("cancel-in-{tag}")),
        );
        let file = large_sparse_file(&out);
        let inbox_arg = inbox.to_string_lossy().into_owned();
        let mut bob_args = vec![
            "--auto-accept",
            "--receive-dir",
            &inbox_arg,
            "--auto-accept-files",
        ];
        // The sender hashes 1 GiB of zeros first (up to 3–4 s on a busy machine: one full run
        // hashed 2 GiB past the old 5 s cancel, and nothing was running to cancel); then the
        // bytes flow.
        let mut alice_args = vec!["--duration", "11", "--send-file", &file, "--send-at", "0"];
        let cancel = ["--cancel-file-at", "7"];
        if who_cancels == "alice" {
            alice_args.extend(cancel);
        } else {
            bob_args.extend(cancel);
        }
        let bob_proc;
        let alice_proc;
        {
            let (b, a) = bob_then_alice(&url, &bob_args, &alice_args).await;
            bob_proc = b;
            alice_proc = a;
        }
        // Mid-transfer: a part file exists, growing.
        let part = wait_for_part_file(&inbox).await;
        let (alice, bob) = (report_of(alice_proc).await, report_of(bob_proc).await);
        let sent = entry(&files_of(&alice), "sent", "large.bin");
        let got = entry(&files_of(&bob), "received", "large.bin");
        println!(
            "{tag} cancels: sender {}, receiver {}",
            sent["detail"], got["detail"]
        );
        let (canceller, other) = if who_cancels == "alice" {
            (sent, got)
        } else {
            (got, sent)
        };
        assert_eq!(canceller["outcome"], "cancelled", "{canceller}");
        assert_eq!(other["outcome"], "cancelled_by_them", "{other}");
        assert!(!part.exists(), "the part file {} is left", part.display());
        assert!(names_in(&inbox).is_empty(), "{:?}", names_in(&inbox));
        for dir in [out, inbox] {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The hidden part file a transfer writes into `dir`, once it holds some bytes.
async fn wait_for_part_file(dir: &Path) -> PathBuf {
    for _ in 0..600 {
        if let Some(part) = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".part"))
        {
            if std::fs::metadata(&part).is_ok_and(|m| m.len() > 0) {
                return part;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no part file appeared in {}", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_that_vanishes_mid_transfer_leaves_no_partial_file() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let (out, inbox) = (folder("files", "vanish-out"), folder("files", "vanish-in"));
    let file = large_sparse_file(&out);
    let inbox_arg = inbox.to_string_lossy().into_owned();
    let (bob, mut alice) = bob_then_alice(
        &url,
        &[
            "--auto-accept",
            "--receive-dir",
            &inbox_arg,
            "--auto-accept-files",
        ],
        &["--duration", "60", "--send-file", &file, "--send-at", "0"],
    )
    .await;
    let part = wait_for_part_file(&inbox).await;
    alice.kill();
    let bob = report_of(bob).await;
    let got = entry(&files_of(&bob), "received", "large.bin");
    println!("sender vanished: {}", got["detail"]);
    assert_eq!(got["outcome"], "failed", "{got}");
    assert!(!part.exists(), "the part file {} is left", part.display());
    assert!(names_in(&inbox).is_empty(), "{:?}", names_in(&inbox));
    for dir in [out, inbox] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A hostile sender lies in its header: more bytes than it announced, a wrong SHA-256, and a
/// name that climbs out of the folder. Nothing lands outside the folder, and only the honest
/// bytes under a made-safe name are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_sender_gets_nothing_kept_and_no_way_out_of_the_folder() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let root = folder("files", "hostile");
    let inbox = root.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let inbox_arg = inbox.to_string_lossy().into_owned();
    let victim = spawn_headless(&[
        "answer",
        "--server",
        &url,
        "--id",
        "victim",
        "--auto-accept",
        "--receive-dir",
        &inbox_arg,
        "--auto-accept-files",
    ]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut m = Hostile::dial(&url, "mallory", "victim").await;
    m.send_offer();
    assert!(m.connected(Duration::from_secs(15)).await, "no connection");
    let ten = b"0123456789";
    let sha_of = |bytes: &[u8]| {
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        digest
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    // (transfer, name, announced size, announced hash, bytes actually sent)
    let cases: [(&str, &str, u64, String, Vec<u8>); 3] = [
        (
            "more",
            "more.bin",
            10,
            sha_of(ten),
            [ten.as_slice(), ten].concat(),
        ),
        (
            "hash",
            "hash.bin",
            10,
            sha_of(b"something else"),
            ten.to_vec(),
        ),
        ("climb", "../../escape.txt", 10, sha_of(ten), ten.to_vec()),
    ];
    wait_open(&m).await;
    for (id, name, size, sha256, bytes) in &cases {
        let offer = json!({"code":"file_offer","id":id,"name":name,"size":size,"sha256":sha256});
        m.channel.send_text(&offer.to_string()).await.unwrap();
        // peercall takes it without asking; then the bytes come on their own channel.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let channel =
            m.pc.create_data_channel(&format!("file:{id}"), None)
                .await
                .unwrap();
        wait_channel_open(&channel).await;
        channel
            .send(BytesMut::from(bytes.as_slice()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = channel.close().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    m.hang_up();
    let report = report_of(victim).await;
    let files = files_of(&report);
    let more = entry(&files, "received", "more.bin");
    assert_eq!(more["outcome"], "failed", "{more}");
    assert!(
        more["detail"].as_str().unwrap().contains("more than"),
        "{more}"
    );
    let hash = entry(&files, "received", "hash.bin");
    assert_eq!(hash["outcome"], "failed", "{hash}");
    assert!(
        hash["detail"].as_str().unwrap().contains("SHA-256"),
        "{hash}"
    );
    let climbed = entry(&files, "received", "escape.txt");
    assert_eq!(climbed["outcome"], "done", "{climbed}");
    assert_eq!(names_in(&inbox), ["escape.txt"]);
    assert_eq!(std::fs::read(inbox.join("escape.txt")).unwrap(), ten);
    assert_eq!(names_in(&root), ["inbox"], "nothing outside the folder");
    let _ = std::fs::remove_dir_all(root);
}

async fn wait_open(m: &Hostile) {
    for _ in 0..200 {
        if m.channel.ready_state().await.ok()
            == Some(webrtc::data_channel::RTCDataChannelState::Open)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the control channel never opened");
}

async fn wait_channel_open(channel: &std::sync::Arc<dyn webrtc::data_channel::DataChannel>) {
    for _ in 0..200 {
        if channel.ready_state().await.ok() == Some(webrtc::data_channel::RTCDataChannelState::Open)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the file channel never opened");
}

/// In a room a file goes to everyone: each member is asked, and each gets it whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_room_a_file_goes_to_everyone() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let out = folder("files", "room-out");
    make_file(&out.join("minutes.txt"), 5 << 20, 11);
    let file = out.join("minutes.txt").to_string_lossy().into_owned();
    let inboxes = [folder("files", "room-bob"), folder("files", "room-carol")];
    let member = |id: &str, extra: &[&str]| {
        let small = ["--video", "synthetic:160x120@10", "--duration", "10"];
        common::room_member(&url, "files", id, &[&small[..], extra].concat())
    };
    let receiving: Vec<String> = inboxes
        .iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect();
    let bob = member(
        "bob",
        &["--receive-dir", &receiving[0], "--auto-accept-files"],
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let carol = member(
        "carol",
        &["--receive-dir", &receiving[1], "--auto-accept-files"],
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Offered once everyone is in (the first leg connects first).
    let alice = member("alice", &["--send-file", &file, "--send-at", "3"]);
    let (alice, bob, carol) = (
        report_of(alice).await,
        report_of(bob).await,
        report_of(carol).await,
    );
    let sent = files_of(&alice);
    for (who, report, inbox) in [("bob", &bob, &inboxes[0]), ("carol", &carol, &inboxes[1])] {
        let to = sent
            .iter()
            .find(|f| f["peer"] == who)
            .unwrap_or_else(|| panic!("nothing sent to {who}: {sent:?}"));
        assert_eq!(to["outcome"], "done", "{to}");
        let got = entry(&files_of(report), "received", "minutes.txt");
        assert_eq!(got["outcome"], "done", "{who}: {got}");
        assert_eq!(got["peer"], "alice");
        assert_eq!(
            sha256sum(&inbox.join("minutes.txt")),
            sha256sum(&out.join("minutes.txt")),
            "{who}"
        );
    }
    for dir in [out, inboxes[0].clone(), inboxes[1].clone()] {
        let _ = std::fs::remove_dir_all(dir);
    }
}
