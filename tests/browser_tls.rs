//! The server over https/wss with a self-signed certificate: a browser (told to accept it) calls a
//! headless peercall that pins the certificate's fingerprint; a peercall that trusts only WebPKI,
//! or pins another fingerprint, is refused.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::process::Command;

use browser::Chromium;
use common::{report_of, spawn_headless, start_server};
use peercall::server::tls::{local_names, TlsIdentity};
use peercall::server::ServerConfig;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_completes_over_https_with_a_self_signed_certificate() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let identity = TlsIdentity::self_signed(&local_names("127.0.0.1:0".parse().unwrap())).unwrap();
    let pin = identity.fingerprint_hex();
    let server = start_server(ServerConfig {
        tls: Some(identity),
        ..ServerConfig::default()
    })
    .await;
    assert!(server.page_url().starts_with("https://"));
    assert!(server.ws_url().starts_with("wss://"));

    let chromium = Chromium::launch(true).await;
    let tab = chromium
        .open(&format!("{}?id=web", server.page_url()))
        .await;
    // getUserMedia needs a secure context: this is what https is for.
    assert!(tab.eval::<bool>("window.isSecureContext").await);
    assert_eq!(
        tab.eval::<Value>("peercall.problems").await,
        Value::Array(vec![])
    );

    let pc = spawn_headless(&[
        "answer",
        "--server",
        &server.ws_url(),
        "--pin-cert",
        &pin,
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
    tab.wait_for("peercall.stats().then(s => s.video && s.video.framesDecoded > 0 && s.audio && s.audio.packetsReceived > 0)")
        .await;
    tab.wait_for("peercall.state === 'idle' && peercall.lastEnd")
        .await;
    let report = report_of(pc).await;
    assert!(report["video"]["frames_decoded"].as_u64().unwrap() > 0);
    assert!(report["audio"]["blocks_decoded"].as_u64().unwrap() > 0);
    assert_eq!(report["ended"]["by"], "local");

    // Without being told, a self-signed server is refused; so is a wrong pin.
    let wrong_pin = "ab".repeat(32);
    for extra in [vec![], vec!["--pin-cert", wrong_pin.as_str()]] {
        let mut args: Vec<String> = ["call", "--server", &server.ws_url(), "--dial", "web"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_peercall"))
                .args(&args)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(!out.status.success(), "{extra:?} connected");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("certificate"), "{extra:?}: {stderr}");
    }
    chromium.close().await;
}
