//! Figures, not a check: dial → first decoded video frame, 5 runs each, for peercall → browser,
//! browser → peercall and browser ↔ browser through one server. Run with
//! `scripts/measure-browser.sh` (or `cargo test --test browser_measure -- --ignored --nocapture`).
//!
//! The dialler's figure counts from its dial; the callee's from when it accepted (auto-accept, so
//! `incoming` plus a moment). peercall reads its own report; the page polls getStats every 20 ms
//! for `framesDecoded > 0` (window.peercall.timing).

#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::{Chromium, Tab};
use common::{report_of, spawn_headless, start_server};
use peercall::server::ServerConfig;
use serde_json::Value;

const RUNS: usize = 5;

async fn page_first_frame(tab: &Tab) -> f64 {
    // In the call first: the tab still holds the previous call's figure until it accepts.
    tab.wait_for("peercall.state === 'in_call' && peercall.timing.firstFrameMs")
        .await
        .as_f64()
        .unwrap()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[s.len() / 2]
}

fn line(what: &str, v: &[f64]) {
    let all: Vec<String> = v.iter().map(|x| format!("{x:.0}")).collect();
    println!(
        "{what:<46} median {:>6.0} ms   runs: {}",
        median(v),
        all.join(", ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints figures, asserts nothing about speed"]
async fn dial_to_first_frame() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let chromium = Chromium::launch(false).await;
    let web = chromium
        .open(&format!("{}?id=web&autoaccept=1", server.page_url()))
        .await;
    let web2 = chromium
        .open(&format!("{}?id=web2", server.page_url()))
        .await;

    // peercall dials the browser.
    let (mut pc_caller, mut page_callee) = (Vec::new(), Vec::new());
    // Where peercall's time goes: ICE connected, then DTLS done (connected), then the frame.
    let (mut ice, mut dtls, mut pli) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..RUNS {
        let id = format!("native{i}");
        let pc = spawn_headless(&[
            "call",
            "--server",
            &url,
            "--id",
            &id,
            "--dial",
            "web",
            "--duration",
            "1.5",
        ]);
        page_callee.push(page_first_frame(&web).await);
        let report: Value = report_of(pc).await;
        let setup = &report["setup_ms"];
        pc_caller.push(setup["first_frame"].as_f64().unwrap_or(f64::NAN));
        ice.push(setup["ice_connected"].as_f64().unwrap_or(f64::NAN));
        dtls.push(setup["connected"].as_f64().unwrap_or(f64::NAN));
        // A keyframe the browser had to ask for (PLI) costs a round trip and an encode.
        pli.push(
            report["video"]["keyframes_sent_on_request"]
                .as_f64()
                .unwrap_or(0.0),
        );
        web.wait_for("peercall.state === 'idle'").await;
    }

    // The browser dials peercall.
    let (mut page_caller, mut pc_callee) = (Vec::new(), Vec::new());
    for i in 0..RUNS {
        let id = format!("answer{i}");
        let pc = spawn_headless(&[
            "answer",
            "--server",
            &url,
            "--id",
            &id,
            "--auto-accept",
            "--duration",
            "1.5",
        ]);
        web2.wait_for(&format!("peercall.peers.includes('{id}')"))
            .await;
        web2.eval::<Value>(&format!("peercall.dial('{id}')")).await;
        page_caller.push(page_first_frame(&web2).await);
        let report: Value = report_of(pc).await;
        pc_callee.push(
            report["setup_ms"]["first_frame"]
                .as_f64()
                .unwrap_or(f64::NAN),
        );
        web2.wait_for("peercall.state === 'idle'").await;
    }

    // Browser to browser, two tabs of one Chromium.
    let (mut b_caller, mut b_callee) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        web2.eval::<Value>("peercall.dial('web')").await;
        b_caller.push(page_first_frame(&web2).await);
        b_callee.push(page_first_frame(&web).await);
        web2.eval::<Value>("peercall.hangup()").await;
        web.wait_for("peercall.state === 'idle'").await;
    }

    println!();
    println!("dial -> first decoded video frame, {RUNS} runs each (loopback, one machine)");
    line("peercall -> browser: peercall ICE connected", &ice);
    line("peercall -> browser: peercall DTLS connected", &dtls);
    line("peercall -> browser: peercall (from dial)", &pc_caller);
    let plis: Vec<String> = pli.iter().map(|x| format!("{x:.0}")).collect();
    println!(
        "{:<46} {}",
        "peercall -> browser: keyframes sent on request",
        plis.join(", ")
    );
    line("peercall -> browser: browser (from accept)", &page_callee);
    line("browser -> peercall: browser (from dial)", &page_caller);
    line("browser -> peercall: peercall (from incoming)", &pc_callee);
    line("browser -> browser: caller (from dial)", &b_caller);
    line("browser -> browser: callee (from accept)", &b_callee);
    chromium.close().await;
}
