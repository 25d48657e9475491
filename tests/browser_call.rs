//! A real browser (Debian's Chromium, headless, fake camera and microphone) and a real headless
//! peercall in a call through a real server on loopback: both directions of dialling, media
//! measured on each side (getStats in the page, the JSON report in peercall), mute, chat and
//! hang-up crossing between them.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use browser::{Chromium, Tab};
use common::{remote_events, report_of, spawn_headless, start_server};
use peercall::server::ServerConfig;
use serde_json::Value;

fn n(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// Waits until the page decodes VP8 video and Opus audio from peercall, and the video keeps
/// coming (the decoded count grows).
pub async fn assert_page_receives_media(tab: &Tab) {
    tab.wait_for(
        "peercall.stats().then(s => s.video && s.video.framesDecoded > 0 \
         && s.audio && s.audio.packetsReceived > 0 && s.audio.totalSamplesReceived > 0)",
    )
    .await;
    let first = tab.stats().await;
    assert_eq!(first["video"]["codec"], "video/VP8", "{first}");
    assert_eq!(first["audio"]["codec"], "audio/opus", "{first}");
    let before = n(&first["video"]["framesDecoded"]);
    tab.wait_for(&format!(
        "peercall.stats().then(s => s.video.framesDecoded >= {} )",
        before + 10.0
    ))
    .await;
}

/// peercall decoded the browser's fake camera and heard its fake microphone's tone.
fn assert_peercall_received_media(report: &Value) {
    assert!(
        report["video"]["frames_decoded"].as_u64().unwrap() > 10,
        "{}",
        report["video"]
    );
    let audio = &report["audio"];
    assert!(audio["blocks_decoded"].as_u64().unwrap() > 0, "{audio}");
    let tone = n(&audio["tone_hz"]);
    assert!(
        (tone - browser::FAKE_MIC_HZ).abs() <= 5.0,
        "not the browser's {} Hz tone: {audio}",
        browser::FAKE_MIC_HZ
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peercall_dials_a_browser_mutes_and_hangs_up() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = start_server(ServerConfig::default()).await;
    let chromium = Chromium::launch(false).await;
    let tab = chromium
        .open(&format!("{}?id=web&autoaccept=1", server.page_url()))
        .await;

    // peercall mutes both its microphone and camera 3 s into the call, for 3 s, then hangs up.
    let pc = spawn_headless(&[
        "call",
        "--server",
        &server.ws_url(),
        "--id",
        "native",
        "--dial",
        "web",
        "--duration",
        "12",
        "--mute-audio-at",
        "3",
        "--mute-video-at",
        "3",
        "--unmute-after",
        "3",
    ]);

    tab.wait_for("peercall.state === 'in_call' && peercall.connected")
        .await;
    assert_page_receives_media(&tab).await;
    if let Some(path) = std::env::var_os("PEERCALL_SCREENSHOT") {
        tab.screenshot(std::path::Path::new(&path)).await;
    }
    // The page shows the other side's mute, then its unmute.
    tab.wait_for("peercall.remote.audioMuted && peercall.remote.videoMuted")
        .await;
    tab.wait_for("!peercall.remote.audioMuted && !peercall.remote.videoMuted")
        .await;
    assert_eq!(tab.eval::<String>("peercall.peer").await, "native");

    // peercall hangs up: the page is idle again, told it was the other side.
    tab.wait_for("peercall.state === 'idle' && peercall.lastEnd")
        .await;
    let end: Value = tab.eval("peercall.lastEnd").await;
    assert_eq!(end["by"], "remote", "{end}");
    let report = report_of(pc).await;
    assert_peercall_received_media(&report);
    assert_eq!(report["ended"]["by"], "local", "{}", report["ended"]);
    chromium.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_dials_peercall_mutes_chats_and_hangs_up() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = start_server(ServerConfig::default()).await;
    let chromium = Chromium::launch(false).await;
    let tab = chromium
        .open(&format!("{}?id=web", server.page_url()))
        .await;
    let pc = spawn_headless(&[
        "answer",
        "--server",
        &server.ws_url(),
        "--id",
        "native",
        "--auto-accept",
        "--wait",
        "120",
    ]);
    tab.wait_for("peercall.peers.includes('native')").await;
    assert!(tab.eval::<bool>("peercall.dial('native')").await);
    tab.wait_for("peercall.state === 'in_call' && peercall.connected && peercall.controlOpen")
        .await;
    assert_page_receives_media(&tab).await;
    tab.wait_for("peercall.verificationCode !== null").await;
    let page_code: String = tab.eval("peercall.verificationCode").await;
    let status: String = tab
        .eval("document.getElementById('status').textContent")
        .await;
    assert!(status.contains(&page_code), "{status}");

    // The page's mute and chat reach peercall as control messages.
    tab.eval::<Value>("peercall.muteAudio(true)").await;
    tab.eval::<Value>("peercall.muteVideo(true)").await;
    assert!(
        tab.eval::<bool>("peercall.sendChat('hello from the web')")
            .await
    );
    // While muted, the page really sends no camera: track disabled.
    let enabled: bool = tab
        .eval("document.getElementById('local-video').srcObject.getVideoTracks()[0].enabled")
        .await;
    assert!(!enabled, "the camera track still sends");
    tokio::time::sleep(Duration::from_millis(500)).await;
    tab.eval::<Value>("peercall.muteAudio(false)").await;
    tab.eval::<Value>("peercall.muteVideo(false)").await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The page hangs up: idle at once; peercall ends, told it was the other side.
    tab.eval::<Value>("peercall.hangup()").await;
    assert_eq!(tab.eval::<String>("peercall.state").await, "idle");
    let report = report_of(pc).await;
    assert_peercall_received_media(&report);
    assert_eq!(report["ended"]["by"], "remote", "{}", report["ended"]);
    // The page and peercall show the same code: they derive it alike from the same keys.
    assert_eq!(report["verification_code"], page_code.as_str());
    assert_eq!(
        remote_events(&report),
        vec![
            ("mute_audio".into(), true.into()),
            ("mute_video".into(), true.into()),
            ("chat".into(), "hello from the web".into()),
            ("mute_audio".into(), false.into()),
            ("mute_video".into(), false.into()),
        ]
    );
    chromium.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ringing_browser_answers_busy_and_can_decline() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = start_server(ServerConfig::default()).await;
    let chromium = Chromium::launch(false).await;
    let tab = chromium
        .open(&format!("{}?id=web", server.page_url()))
        .await;
    // First caller rings (no auto-accept); a second caller meanwhile gets `busy`.
    let first = spawn_headless(&[
        "call",
        "--server",
        &server.ws_url(),
        "--id",
        "first",
        "--dial",
        "web",
    ]);
    tab.wait_for("peercall.state === 'ringing' && peercall.peer === 'first'")
        .await;
    let second = spawn_headless(&[
        "call",
        "--server",
        &server.ws_url(),
        "--id",
        "second",
        "--dial",
        "web",
    ]);
    let second = report_of(second).await;
    assert_eq!(second["ended"]["reason"], "busy", "{}", second["ended"]);
    // Still ringing for the first; the user declines.
    assert_eq!(tab.eval::<String>("peercall.peer").await, "first");
    tab.eval::<Value>("document.getElementById('decline').click()")
        .await;
    let first = report_of(first).await;
    assert_eq!(first["ended"]["reason"], "declined", "{}", first["ended"]);
    assert_eq!(tab.eval::<String>("peercall.state").await, "idle");
    chromium.close().await;
}

/// Run before the page: getUserMedia finds no camera, as on a machine without one.
const NO_CAMERA: &str = r#"
const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = (c) => c && c.video
  ? Promise.reject(new DOMException('Requested device not found', 'NotFoundError'))
  : real(c);
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_without_a_camera_calls_audio_only_and_says_so() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = start_server(ServerConfig::default()).await;
    let chromium = Chromium::launch(false).await;
    let tab = chromium
        .open_with(&format!("{}?id=web", server.page_url()), NO_CAMERA)
        .await;
    tab.wait_for("peercall.problems.length > 0").await;
    let problems: String = tab.eval("peercall.problems.join(' ')").await;
    assert!(problems.contains("No camera found"), "{problems}");
    let warning: String = tab
        .eval("document.getElementById('media-warning').textContent")
        .await;
    assert_eq!(warning, problems);
    assert!(
        tab.eval::<bool>("document.getElementById('mute-video').disabled")
            .await
    );

    let pc = spawn_headless(&[
        "answer",
        "--server",
        &server.ws_url(),
        "--id",
        "native",
        "--auto-accept",
        "--duration",
        "4",
        "--wait",
        "120",
    ]);
    tab.wait_for("peercall.peers.includes('native')").await;
    assert!(tab.eval::<bool>("peercall.dial('native')").await);
    // The page still sees and hears peercall; peercall hears the page and gets no video.
    assert_page_receives_media(&tab).await;
    tab.wait_for("peercall.state === 'idle' && peercall.lastEnd")
        .await;
    let report = report_of(pc).await;
    assert!(report["audio"]["blocks_decoded"].as_u64().unwrap() > 0);
    assert_eq!(report["video"]["frames_decoded"], 0);
    chromium.close().await;
}

/// Run before the page: every description the browser makes numbers VP8 and Opus its own way
/// (each swapped with another payload type of its section), as Firefox does (VP8 120, Opus 109).
const RENUMBERED_CODECS: &str = r#"
(() => {
  const renumber = (sdp, kind, codec) => {
    const lines = sdp.split('\r\n');
    const start = lines.findIndex((l) => l.startsWith(`m=${kind} `));
    if (start < 0) return sdp;
    let end = lines.findIndex((l, i) => i > start && l.startsWith('m='));
    if (end < 0) end = lines.length;
    const section = lines.slice(start, end);
    const rtpmap = section.find((l) => new RegExp(`^a=rtpmap:\\d+ ${codec}/`, 'i').test(l));
    if (!rtpmap) return sdp;
    const ours = rtpmap.slice('a=rtpmap:'.length).split(' ')[0];
    const formats = section[0].split(' ').slice(3);
    const other = formats.filter((f) => f !== ours).pop();
    if (!other) return sdp;
    const swap = (pt) => (pt === ours ? other : pt === other ? ours : pt);
    const renamed = section.map((l, i) => {
      if (i === 0) {
        const parts = l.split(' ');
        return parts.slice(0, 3).concat(parts.slice(3).map(swap)).join(' ');
      }
      return l
        .replace(/^(a=(?:rtpmap|fmtp|rtcp-fb):)(\d+)/, (_, a, pt) => a + swap(pt))
        .replace(/apt=(\d+)/, (_, pt) => 'apt=' + swap(pt));
    });
    return lines.slice(0, start).concat(renamed, lines.slice(end)).join('\r\n');
  };
  const munge = (sdp) => renumber(renumber(sdp, 'video', 'VP8'), 'audio', 'opus');
  for (const name of ['createOffer', 'createAnswer']) {
    const original = RTCPeerConnection.prototype[name];
    RTCPeerConnection.prototype[name] = async function (...args) {
      const d = await original.apply(this, args);
      return { type: d.type, sdp: munge(d.sdp) };
    };
  }
})();
"#;

/// peercall follows the payload types the other side's description gives, both when it answers
/// and when it offers: before, it wrote VP8 as 96 and Opus as 111 whatever was negotiated, every
/// packet was refused, and the other side saw and heard nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_numbers_codecs_its_own_way_sees_and_hears_peercall() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = start_server(ServerConfig::default()).await;
    let chromium = Chromium::launch(false).await;
    let tab = chromium
        .open_with(
            &format!("{}?id=web&autoaccept=1", server.page_url()),
            RENUMBERED_CODECS,
        )
        .await;
    // The page offers (peercall answers), then the page answers (peercall offers).
    for role in ["answer", "call"] {
        let mut args = vec!["--server", server.ws_url().leak(), "--id", "native"];
        if role == "answer" {
            args.extend(["answer", "--auto-accept", "--wait", "60"]);
        } else {
            args.extend(["call", "--dial", "web", "--duration", "4"]);
        }
        args.rotate_left(4);
        let pc = spawn_headless(&args);
        if role == "answer" {
            tab.wait_for("peercall.peers.includes('native')").await;
            assert!(tab.eval::<bool>("peercall.dial('native')").await);
        }
        tab.wait_for("peercall.state === 'in_call' && peercall.connected")
            .await;
        assert_page_receives_media(&tab).await;
        if role == "answer" {
            tokio::time::sleep(Duration::from_secs(2)).await;
            tab.eval::<Value>("peercall.hangup()").await;
        }
        let report = report_of(pc).await;
        assert!(
            report["errors"].as_array().unwrap().is_empty(),
            "{}",
            report["errors"]
        );
        assert!(
            report["video"]["frames_sent"].as_u64().unwrap() > 30,
            "{}",
            report["video"]
        );
        assert_peercall_received_media(&report);
        tab.wait_for("peercall.state === 'idle'").await;
    }
    chromium.close().await;
}

/// The signaling server restarts mid-call: the page's call goes on peer to peer, the page
/// connects again by itself (same ID) and is online on the new server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_call_outlives_a_restart_of_its_signaling_server() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = start_server(ServerConfig::default()).await;
    let (addr, url) = (server.addr, server.ws_url());
    let chromium = Chromium::launch(false).await;
    let tab = chromium
        .open(&format!("{}?id=web&autoaccept=1", server.page_url()))
        .await;
    tab.wait_for("peercall.id === 'web'").await;
    let pc = spawn_headless(&[
        "call",
        "--server",
        &url,
        "--id",
        "native",
        "--dial",
        "web",
        "--duration",
        "14",
    ]);
    tab.wait_for("peercall.state === 'in_call' && peercall.connected")
        .await;
    assert_page_receives_media(&tab).await;
    server.shutdown().await;
    tab.wait_for("peercall.signalingLost === true").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let during: Value = tab.state().await;
    assert_eq!(during["state"], "in_call", "{}", during["state"]);
    assert_eq!(during["connected"], true);
    let before = n(&tab.stats().await["video"]["framesDecoded"]);
    let again = peercall::server::Server::bind(ServerConfig {
        bind: addr,
        ..ServerConfig::default()
    })
    .await
    .expect("the same address again")
    .spawn();
    tab.wait_for_within(
        "peercall.signalingLost === false && peercall.id === 'web'",
        Duration::from_secs(15),
    )
    .await;
    // Frames kept coming: the call never stopped.
    tab.wait_for(&format!(
        "peercall.stats().then(s => s.video.framesDecoded >= {})",
        before + 20.0
    ))
    .await;
    // Online on the new server: a newcomer sees it.
    let mut newcomer = common::RawClient::connect(&again.ws_url()).await;
    newcomer
        .send(serde_json::json!({"type":"register","id":"newcomer"}))
        .await;
    newcomer.recv_type("registered").await;
    let peers = newcomer.recv_type("peers").await;
    assert!(
        peers["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "web"),
        "{peers}"
    );
    let report = report_of(pc).await;
    assert_eq!(report["ended"]["reason"], "hangup", "{}", report["ended"]);
    assert_peercall_received_media(&report);
    chromium.close().await;
}
