//! Files between a real browser (Chromium, headless) and a headless peercall in a call, both
//! ways at once: 1 KiB, 10 MiB and 100 MiB each. What the page received it checked against the
//! SHA-256 peercall announced (and that is compared with `sha256sum` of the source); what
//! peercall received is compared, by `sha256sum`, with the hash the page computed of its file.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use browser::Chromium;
use common::files::{folder, make_file, sha256sum};
use common::{report_of, spawn_headless, start_server};
use peercall::server::ServerConfig;
use serde_json::Value;

const SIZES: [(&str, usize); 3] = [("1k", 1024), ("10m", 10 << 20), ("100m", 100 << 20)];

/// Makes a file of `size` bytes in the page (its own generator) and sends it.
fn page_sends(name: &str, size: usize) -> String {
    format!(
        "(() => {{ const words = new Uint32Array(Math.ceil({size} / 4)); let x = {seed}; \
         for (let i = 0; i < words.length; i++) {{ x ^= x << 13; x >>>= 0; x ^= x >>> 17; \
         x ^= x << 5; x >>>= 0; words[i] = x; }} \
         const file = new File([new Uint8Array(words.buffer, 0, {size})], '{name}'); \
         return peercall.sendFile(file); }})()",
        seed = 2_463_534_242u32 ^ size as u32,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_cross_between_a_browser_and_peercall_both_ways() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = start_server(ServerConfig::default()).await;
    let (out, inbox) = (folder("bfiles", "out"), folder("bfiles", "in"));
    for (i, (name, size)) in SIZES.iter().enumerate() {
        make_file(&out.join(format!("native-{name}.bin")), *size, i as u64 + 7);
    }
    let chromium = Chromium::launch(false).await;
    let tab = chromium
        .open(&format!(
            "{}?id=web&autoaccept=1&autofiles=1",
            server.page_url()
        ))
        .await;
    tab.wait_for("peercall.id === 'web'").await;
    let inbox_arg = inbox.to_string_lossy().into_owned();
    let sources: Vec<String> = SIZES
        .iter()
        .map(|(name, _)| {
            out.join(format!("native-{name}.bin"))
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let url = server.ws_url();
    let mut args = vec![
        "call",
        "--server",
        &url,
        "--id",
        "native",
        "--dial",
        "web",
        "--duration",
        "90",
        "--receive-dir",
        &inbox_arg,
        "--auto-accept-files",
    ];
    for source in &sources {
        args.extend(["--send-file", source]);
    }
    let pc = spawn_headless(&args);
    tab.wait_for_within(
        "peercall.connected && peercall.controlOpen",
        Duration::from_secs(20),
    )
    .await;
    for (name, size) in SIZES {
        assert!(
            tab.eval::<bool>(&page_sends(&format!("page-{name}.bin"), size))
                .await,
            "the page could not send"
        );
    }
    // Everything arrived on the page, and everything the page sent was taken.
    tab.wait_for_within(
        "peercall.files.filter(t => t.state === 'done').length === 6 \
         || peercall.files.some(t => ['failed', 'cancelled', 'declined'].includes(t.state))",
        Duration::from_secs(60),
    )
    .await;
    let files: Vec<Value> = tab.eval("peercall.files").await;
    // Give peercall's side a moment to rename its last file into place, then end the call.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tab.eval::<Value>("peercall.hangup()").await;
    let report = report_of(pc).await;
    chromium.close().await;

    let find = |direction: &str, name: &str| -> Value {
        files
            .iter()
            .find(|t| t["direction"] == direction && t["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {direction} {name} on the page: {files:?}"))
    };
    for (name, size) in SIZES {
        // peercall → page: checked by the page against peercall's hash, which is the source's.
        let native = format!("native-{name}.bin");
        let got = find("received", &native);
        assert_eq!(got["state"], "done", "{got}");
        assert_eq!(got["bytes"], size as u64, "{got}");
        assert_eq!(got["sha256"], sha256sum(&out.join(&native)), "{got}");
        // page → peercall: the bytes on disk hash to what the page computed of its file.
        let page = format!("page-{name}.bin");
        let sent = find("sent", &page);
        assert_eq!(sent["state"], "done", "{sent}");
        let kept = inbox.join(&page);
        assert_eq!(std::fs::metadata(&kept).unwrap().len(), size as u64);
        assert_eq!(sha256sum(&kept), sent["sha256"].as_str().unwrap(), "{page}");
        let secs = |t: &Value| t["secs"].as_f64().unwrap_or(f64::NAN);
        println!(
            "{name}: peercall → page {:.2} s, page → peercall {:.2} s",
            secs(&got),
            secs(&sent)
        );
    }
    let received = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["direction"] == "received" && f["outcome"] == "done")
        .count();
    assert_eq!(received, 3, "{}", report["files"]);
    for dir in [out, inbox] {
        let _ = std::fs::remove_dir_all(dir);
    }
}
