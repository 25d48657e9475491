//! File throughput on loopback: peercall's transfer (offer, answer, its own data channel, 64 KiB
//! chunks under 1 MiB queued, SHA-256 on both sides, written to disk) against a plain send loop
//! on a data channel of the same webrtc-rs connection setup (same chunks and backpressure, bytes
//! counted and dropped). `cargo bench --bench file_throughput` prints both for 100 MiB, three
//! times; under `cargo test` it runs once with 8 MiB, to show it still works.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use peercall::call::media_setup::{AudioChoice, MediaSetup, SpeakerChoice, VideoChoice};
use peercall::call::peer::{BitrateLimits, NetworkSettings, Peer, PeerEvent, PeerEvents};
use peercall::call::{
    CallCommand, CallEngine, CallEvent, EngineConfig, FileEvent, FileSettings, Role,
};
use signaling_client::switchboard::SwitchboardConfig;
use signaling_client::{MemoryNetwork, Signaling};
use webrtc::data_channel::DataChannelEvent;

const CHUNK: usize = 64 * 1024;
const HIGH_WATER: usize = 1024 * 1024;

/// Two peer connections joined by hand, then one data channel and a send loop.
async fn plain_loop(size: usize) -> Duration {
    let network = NetworkSettings::loopback();
    let (events, mut rx) = PeerEvents::channel();
    let mut caller = Peer::start(
        Role::Caller,
        &network,
        BitrateLimits::default(),
        None,
        events.for_connection(1),
    )
    .await
    .unwrap();
    let mut callee = Peer::start(
        Role::Callee,
        &network,
        BitrateLimits::default(),
        None,
        events.for_connection(2),
    )
    .await
    .unwrap();
    let mut connected = 0;
    while connected < 2 {
        let (from, event) = rx.recv().await.unwrap();
        let other = if from == 1 { &mut callee } else { &mut caller };
        match event {
            PeerEvent::LocalDescription(sdp) => other.apply_remote(sdp).await.unwrap(),
            PeerEvent::LocalCandidate(c) => {
                let _ = other.add_remote_candidate(c).await;
            }
            PeerEvent::ControlOpen if from == 1 => connected += 1,
            PeerEvent::ControlChannel(_) => connected += 1,
            _ => {}
        }
    }
    let channel = caller
        .connection()
        .create_data_channel("file:plain", None)
        .await
        .unwrap();
    let received = loop {
        let (_, event) = rx.recv().await.unwrap();
        if let PeerEvent::FileChannel { channel, .. } = event {
            break channel;
        }
    };
    while let Some(event) = channel.poll().await {
        if matches!(event, DataChannelEvent::OnOpen) {
            break;
        }
    }
    let reader = tokio::spawn(async move {
        let mut total = 0;
        while total < size {
            match received.poll().await {
                Some(DataChannelEvent::OnMessage(m)) => total += m.data.len(),
                Some(_) => {}
                None => break,
            }
        }
        Instant::now()
    });
    let drain = channel.clone();
    tokio::spawn(async move { while drain.poll().await.is_some() {} });
    let started = Instant::now();
    let chunk = vec![7u8; CHUNK];
    for _ in 0..size / CHUNK {
        while channel.outstanding_bytes().await.unwrap() >= HIGH_WATER {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        channel
            .send(BytesMut::from(chunk.as_slice()))
            .await
            .unwrap();
    }
    let done = reader.await.unwrap();
    caller.close().await;
    callee.close().await;
    done - started
}

/// Two call engines in a call over in-process signaling, no media: one sends the file.
async fn peercall_transfer(path: &std::path::Path, inbox: &std::path::Path) -> (f64, f64) {
    let network = MemoryNetwork::new(SwitchboardConfig::default());
    let engine = |auto_accept: bool| {
        let signaling = network.connect();
        let events = signaling.take_events().unwrap();
        let config = EngineConfig {
            network: NetworkSettings::loopback(),
            files: FileSettings {
                receive_dir: Some(inbox.to_path_buf()),
                auto_accept,
            },
            ..EngineConfig::default()
        };
        let setup = MediaSetup::new(VideoChoice::None, AudioChoice::None, SpeakerChoice::None);
        (Arc::new(signaling), events, setup, config)
    };
    let (a_sig, a_events, a_setup, a_config) = engine(false);
    let (b_sig, b_events, b_setup, b_config) = engine(true);
    a_sig.register(Some("alice".into())).await.unwrap();
    b_sig.register(Some("bob".into())).await.unwrap();
    let (alice, mut a_rx) = CallEngine::start(a_sig, a_events, a_setup, a_config);
    let (bob, mut b_rx) = CallEngine::start(b_sig, b_events, b_setup, b_config);
    tokio::spawn(async move {
        while let Some(event) = b_rx.recv().await {
            if matches!(event, CallEvent::Incoming { .. }) {
                bob.send(CallCommand::Accept);
            }
        }
    });
    alice.send(CallCommand::Dial("bob".into()));
    let mut first_byte = None;
    loop {
        match a_rx.recv().await.unwrap() {
            CallEvent::Connected { .. } => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                alice.send(CallCommand::SendFile(path.to_path_buf()));
            }
            CallEvent::File {
                event: FileEvent::Progress { .. },
                ..
            } if first_byte.is_none() => first_byte = Some(Instant::now()),
            CallEvent::File {
                event: FileEvent::Done { secs, .. },
                ..
            } => {
                let bytes_only = first_byte.map_or(f64::NAN, |t| t.elapsed().as_secs_f64());
                alice.send(CallCommand::HangUp);
                return (secs, bytes_only);
            }
            CallEvent::File {
                event: FileEvent::Stopped { why, .. },
                ..
            } => panic!("the transfer stopped: {why}"),
            _ => {}
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("peercall-bench-files-{}", std::process::id()));
    let inbox = dir.join("in");
    std::fs::create_dir_all(&inbox).unwrap();
    let benching = std::env::args().any(|a| a == "--bench");
    let (size, runs) = if benching {
        (100 << 20, 3)
    } else {
        (8 << 20, 1)
    };
    let path = dir.join("file.bin");
    let bytes: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&path, bytes).unwrap();
    let mbps = |secs: f64| size as f64 * 8.0 / secs / 1e6;
    println!("{} MiB on loopback", size >> 20);
    for run in 1..=runs {
        let plain = runtime.block_on(plain_loop(size)).as_secs_f64();
        let (total, bytes_only) = runtime.block_on(peercall_transfer(&path, &inbox));
        println!(
            "run {run}: plain send loop {plain:.2} s ({:.0} Mbit/s); peercall transfer {total:.2} s \
             from the offer ({:.0} Mbit/s), {bytes_only:.2} s from the first byte ({:.0} Mbit/s)",
            mbps(plain),
            mbps(total),
            mbps(bytes_only),
        );
        for entry in std::fs::read_dir(&inbox).unwrap() {
            let _ = std::fs::remove_file(entry.unwrap().path());
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
