//! Screen sharing with a real browser (Debian's Chromium, headless): peercall shares an Xvfb
//! screen with the page, which shows it (its picture, read back from the page, is compared with
//! the screen); the page shares its screen (Chromium's fake capture) with peercall. Both ways
//! renegotiate the call's connection.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::process::Command;

use browser::Chromium;
use common::xvfb::{draw_picture, psnr, Xvfb, SCREEN};
use common::{report_of, spawn_headless, start_server};
use peercall::server::ServerConfig;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peercall_shares_its_screen_with_a_browser_which_shows_it() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = common::files::folder("browser-share", "to-page");
    let x = Xvfb::start();
    let picture = draw_picture(&dir);
    x.show(&picture, &dir);
    let server = start_server(ServerConfig::default()).await;
    let chromium = Chromium::launch(false).await;
    let tab = chromium
        .open(&format!("{}?id=web&autoaccept=1", server.page_url()))
        .await;
    let pc = spawn_headless(&[
        "call",
        "--server",
        &server.ws_url(),
        "--id",
        "native",
        "--dial",
        "web",
        "--duration",
        "9",
        "--share-screen",
        &x.display,
        "--share-at",
        "1",
        "--stop-share-at",
        "6",
    ]);
    tab.wait_for("peercall.state === 'in_call' && peercall.connected")
        .await;
    tab.wait_for("peercall.remote.sharing").await;
    tab.wait_for(
        "peercall.stats().then((s) => s.share && s.share.framesDecoded >= 3 \
         && s.video && s.video.framesDecoded > 0)",
    )
    .await;
    let stats: Value = tab.stats().await;
    assert_eq!(stats["share"]["frameWidth"], SCREEN.0, "{stats}");
    assert_eq!(stats["share"]["frameHeight"], SCREEN.1, "{stats}");
    // The page shows the screen large: what it draws is what was on peercall's screen.
    let visible: bool = tab
        .eval("!document.getElementById('share-video').hidden")
        .await;
    assert!(visible, "the page does not show the shared screen");
    let url: String = tab.eval("peercall.shareSnapshot()").await;
    let encoded = dir.join("page.png.b64");
    std::fs::write(&encoded, url.trim_start_matches("data:image/png;base64,")).unwrap();
    let shown = dir.join("page.png");
    let decoded = Command::new("base64")
        .arg("-d")
        .arg(&encoded)
        .output()
        .expect("run base64 (coreutils)");
    assert!(decoded.status.success(), "not a PNG data URL");
    std::fs::write(&shown, decoded.stdout).unwrap();
    let quality = psnr(&picture, &shown);
    assert!(
        quality >= 30.0,
        "the page shows the screen {quality:.1} dB from the original"
    );

    // peercall stops sharing: the page says so and shows the camera again.
    tab.wait_for("!peercall.remote.sharing").await;
    tab.wait_for("document.getElementById('share-video').hidden")
        .await;
    let report = report_of(pc).await;
    assert!(report["share"]["sent"]["frames_sent"].as_u64().unwrap() >= 3);
    chromium.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_shares_its_screen_with_peercall() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = common::files::folder("browser-share", "from-page");
    let saved = dir.join("from-page.png");
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
        "--save-frame",
        saved.to_str().unwrap(),
    ]);
    tab.wait_for("peercall.peers.includes('native')").await;
    assert!(tab.eval::<bool>("peercall.dial('native')").await);
    tab.wait_for("peercall.state === 'in_call' && peercall.connected && peercall.controlOpen")
        .await;
    // The browser asks for a click before it shares a screen: this is one.
    let shared: bool = tab.eval_as_user("peercall.shareScreen()").await;
    assert!(shared, "{}", tab.state().await);
    tab.wait_for("peercall.stats().then((s) => s.sentShare && s.sentShare.framesSent >= 20)")
        .await;
    tab.eval::<Value>("peercall.stopSharing()").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    tab.eval::<Value>("peercall.hangup()").await;

    let report = report_of(pc).await;
    let received = &report["share"]["received"];
    assert!(
        received["frames_decoded"].as_u64().unwrap() >= 10,
        "{received}"
    );
    assert_eq!(received["on_at_end"], false, "{received}");
    assert_eq!(common::said(&report, "screen_share"), [true, false]);
    // The camera went on beside it.
    assert!(
        report["video"]["frames_decoded"].as_u64().unwrap() > 30,
        "{}",
        report["video"]
    );
    // What peercall kept of the share is Chromium's fake screen: 1080p, green with a turning
    // pie and a clock.
    assert_eq!(
        received["size"],
        serde_json::json!([1920, 1080]),
        "{received}"
    );
    let out = Command::new("convert")
        .arg(&saved)
        .args([
            "-format",
            "%[fx:mean.r] %[fx:mean.g] %[fx:standard_deviation]",
            "info:",
        ])
        .output()
        .expect("run convert");
    let said = String::from_utf8_lossy(&out.stdout);
    let [red, green, deviation]: [f64; 3] = said
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    assert!(
        green > 2.0 * red && deviation > 0.02,
        "the saved share: {said}"
    );
    chromium.close().await;
}
