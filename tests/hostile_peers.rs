//! A hostile WebRTC peer (tests/common/hostile.rs) calls a headless peercall that answers call
//! after call: bent SDP, thousands of candidates before the offer, a 16000×16000 keyframe, RTP
//! with random payloads and wild sequence numbers and timestamps, a data-channel flood and
//! 1 MiB messages. peercall stays up, each call goes on or ends with a reason, memory stays
//! bounded, and the next honest caller is seen and heard.

mod common;
#[path = "common/hostile.rs"]
mod hostile;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use common::{report_of, spawn_headless, start_server};
use hostile::{Hostile, OPUS, VP8};
use peercall::media::test_pattern::TestPattern;
use peercall::media::vp8::{Vp8Config, Vp8Encoder};
use peercall::server::ServerConfig;
use rand::Rng;
use rtc::rtp::codec::vp8::Vp8Payloader;
use rtc::rtp::packetizer::Payloader;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(15);

/// peercall's next report, one per call; its log's last lines if none comes.
async fn next_report(
    reports: &mut UnboundedReceiver<String>,
    log: &Mutex<VecDeque<String>>,
    call: &str,
) -> Value {
    let line = tokio::time::timeout(Duration::from_secs(30), reports.recv())
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            let log: Vec<String> = log.lock().unwrap().iter().cloned().collect();
            panic!(
                "no report from peercall after {call}; its log:\n{}",
                log.join("\n")
            )
        });
    serde_json::from_str(&line).expect("one JSON report per line")
}

/// A VP8 keyframe that declares `width`×`height` (RFC 6386 §9.1) followed by noise.
fn keyframe_declaring(width: u16, height: u16) -> Vec<u8> {
    let first_partition = 1000u32;
    let tag = (first_partition << 5) | (1 << 4); // key frame (bit 0 clear), version 0, shown
    let mut frame = vec![
        tag as u8,
        (tag >> 8) as u8,
        (tag >> 16) as u8,
        0x9d,
        0x01,
        0x2a,
    ];
    frame.extend_from_slice(&(width & 0x3fff).to_le_bytes());
    frame.extend_from_slice(&(height & 0x3fff).to_le_bytes());
    frame.extend((0..3000).map(|_| rand::random::<u8>()));
    frame
}

/// Sends `frame` as VP8 RTP packets from `seq`, returning the next sequence number.
async fn send_frame(m: &Hostile, frame: &[u8], seq: u16, timestamp: u32) -> u16 {
    let mut payloader = Vp8Payloader::default();
    let payloads = payloader
        .payload(1100, &Bytes::copy_from_slice(frame))
        .unwrap();
    let last = payloads.len() - 1;
    let mut seq = seq;
    for (i, payload) in payloads.into_iter().enumerate() {
        Hostile::write_rtp(
            &m.video,
            m.video_ssrc,
            VP8,
            seq,
            timestamp,
            i == last,
            payload,
        )
        .await;
        seq = seq.wrapping_add(1);
    }
    seq
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peercall_survives_a_hostile_peer_and_takes_the_next_call() {
    let _turn = common::ONE_CALL_AT_A_TIME.lock().await;
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let mut bob = spawn_headless(&[
        "answer",
        "--server",
        &url,
        "--id",
        "bob",
        "--auto-accept",
        "--calls",
        "3",
        "--video",
        "synthetic:320x240@15",
    ]);
    let (mut reports, log) = bob.stdout_lines();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 1. An offer that is not SDP: the call ends with a reason, and mallory hears it.
    let mut m = Hostile::dial(&url, "mallory-1", "bob").await;
    m.signal(json!({"sdp":{"type":"offer",
        "sdp":"v=0\r\no=- x\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"}}));
    let heard = m
        .next_message(WAIT)
        .await
        .expect("peercall answers the bad offer");
    assert_eq!(heard["type"], "hangup", "{heard}");
    m.close().await;
    let report = next_report(&mut reports, &log, "the bad offer").await;
    let ended = &report["ended"];
    assert_eq!(ended["by"], "local", "{report}");
    assert!(
        ended["detail"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("sdp"),
        "the reason names the SDP: {ended}"
    );

    // 2. Ten thousand candidates before the offer (the server passes a burst, peercall holds
    //    a bounded few), then a real offer: the call connects.
    let mut m = Hostile::dial(&url, "mallory-2", "bob").await;
    for i in 0..10_000u32 {
        m.signal(json!({"candidate":{
            "candidate": format!("candidate:{i} 1 udp 2130706431 10.{}.{}.1 {} typ host",
                i / 256 % 256, i % 256, 10_000 + i),
            "sdpMid":"0","sdpMLineIndex":0}}));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await; // the server's rate limit refills
    m.send_offer();
    assert!(m.connected(WAIT).await, "the call connects after the flood");

    // 3. A keyframe that declares 16000×16000, a few times.
    let mut seq = rand::random::<u16>();
    let mut ts = rand::random::<u32>();
    for _ in 0..5 {
        seq = send_frame(&m, &keyframe_declaring(16000, 16000), seq, ts).await;
        ts = ts.wrapping_add(6000);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // 4. Two seconds of RTP with random payloads and timestamps, and sequence numbers that
    //    leap forward by up to half their range, on both tracks. (A leap backwards never
    //    reaches peercall: SRTP's replay window drops it.)
    let mut audio_seq = rand::random::<u16>();
    for _ in 0..200 {
        let (video, audio, leaps, stamps) = {
            let mut rng = rand::rng();
            let video_len = rng.random_range(1..1100);
            let audio_len = rng.random_range(1..200);
            let mut noise =
                |n: usize| Bytes::from((0..n).map(|_| rng.random::<u8>()).collect::<Vec<_>>());
            let (video, audio) = (noise(video_len), noise(audio_len));
            let leaps: [u16; 2] = [rng.random_range(1..32_000), rng.random_range(1..32_000)];
            (video, audio, leaps, rng.random::<[u32; 2]>())
        };
        seq = seq.wrapping_add(leaps[0]);
        audio_seq = audio_seq.wrapping_add(leaps[1]);
        Hostile::write_rtp(
            &m.video,
            m.video_ssrc,
            VP8,
            seq,
            stamps[0],
            leaps[0].is_multiple_of(2),
            video,
        )
        .await;
        Hostile::write_rtp(
            &m.audio,
            m.audio_ssrc,
            OPUS,
            audio_seq,
            stamps[1],
            false,
            audio,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    seq = seq.wrapping_add(1);

    // 5. The control channel: messages of up to 1 MiB (webrtc-rs refuses to send more than
    //    the other side's max-message-size, still far over peercall's 16 KiB), then a flood of
    //    ten thousand small chat lines; a mute sent right behind them still gets through
    //    (state changes have their own budget).
    let mut largest_sent = 0;
    for size in [1 << 20, 256 << 10, 64 << 10, 32 << 10] {
        if m.channel.send_text(&"x".repeat(size)).await.is_ok() {
            largest_sent = largest_sent.max(size);
        }
    }
    assert!(largest_sent >= 32 << 10, "no oversized message went out");
    for _ in 0..10_000 {
        let _ = m
            .channel
            .send_text(r#"{"code":"chat","text":"flood"}"#)
            .await;
    }
    m.channel
        .send_text(r#"{"code":"mute_audio","value":true}"#)
        .await
        .expect("the control channel is still open");

    // 6. Then honest video: the test pattern, numbered, from a keyframe on.
    let pattern = TestPattern::new(320, 240).unwrap();
    let mut encoder = Vp8Encoder::new(&Vp8Config::new(320, 240, 15, 300)).unwrap();
    for n in 0..45u32 {
        let frame = pattern.render(n, peercall::media::now_us());
        // A keyframe each second, as an honest sender answering keyframe requests would.
        for encoded in encoder.encode(&frame, n % 15 == 0).unwrap() {
            seq = send_frame(&m, &encoded.data, seq, ts).await;
        }
        ts = ts.wrapping_add(6000);
        tokio::time::sleep(Duration::from_millis(66)).await;
    }
    m.hang_up();
    let report = next_report(&mut reports, &log, "the hostile call").await;
    m.close().await;
    assert_eq!(report["ended"]["reason"], "hangup", "{report}");
    let video = &report["video"];
    assert!(video["frames_rejected"].as_u64().unwrap() >= 1, "{video}");
    assert!(
        video["frames_decoded"].as_u64().unwrap() >= 20,
        "the honest frames after the attack decode: {video}"
    );
    assert!(video["last_counter"].as_u64().unwrap() >= 30, "{video}");
    let events = report["remote_events"].as_array().unwrap();
    let chats = events.iter().filter(|e| e["code"] == "chat").count();
    assert!(
        chats <= 200 && report["remote_events_dropped"] == 0,
        "the flood is cut at the channel (a burst, then 20 a second): {chats} chats arrived"
    );
    assert!(
        events
            .iter()
            .any(|e| e["code"] == "mute_audio" && e["value"] == true),
        "the honest control message after the flood arrived: {:?}",
        events.last()
    );
    assert!(
        report["rss_mb"].as_f64().unwrap() < 400.0,
        "memory stays bounded: {} MiB",
        report["rss_mb"]
    );

    // 7. An honest caller is seen and heard as if nothing had happened.
    let alice = spawn_headless(&[
        "call",
        "--server",
        &url,
        "--dial",
        "bob",
        "--duration",
        "3",
        "--video",
        "synthetic:320x240@15",
    ]);
    let alice = report_of(alice).await;
    let report = next_report(&mut reports, &log, "the honest call").await;
    for r in [&alice, &report] {
        assert!(r["video"]["frames_decoded"].as_u64().unwrap() >= 20, "{r}");
        let hz = r["audio"]["tone_hz"].as_f64().unwrap_or(0.0);
        assert!(hz > 0.0, "a tone is heard: {}", r["audio"]);
    }
    let hz = report["audio"]["tone_hz"].as_f64().unwrap();
    assert!((hz - 440.0).abs() < 20.0, "bob hears alice's 440 Hz: {hz}");
    let status = tokio::task::spawn_blocking(move || bob.take().wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "peercall ends normally: {status}");
}
