//! A room that mixes browsers and peercalls: two Chromium pages (`?room=`, fake camera and
//! microphone) and two headless peercalls in one room of a real server, every pair on its own
//! connection. Media reaches everyone; a mute is seen by all.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use browser::Chromium;
use common::{participant, report_of, spawn_headless, start_server, Proc, ONE_CALL_AT_A_TIME};
use peercall::server::ServerConfig;
use serde_json::Value;

fn member(url: &str, id: &str, hz: u32, extra: &[&str]) -> Proc {
    let audio = format!("synthetic:{hz}");
    let mut args = vec![
        "call",
        "--server",
        url,
        "--id",
        id,
        "--room",
        "mix",
        "--video",
        "synthetic:320x240@15",
        "--audio",
        &audio,
    ];
    args.extend_from_slice(extra);
    spawn_headless(&args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_and_two_peercalls_in_one_room() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let chromium = Chromium::launch(false).await;
    let web1 = chromium
        .open_page(&format!("{}?id=web1&room=mix", server.page_url()))
        .await;
    web1.wait_for("peercall.room && peercall.room.joined").await;
    // pc1 mutes its microphone 4 s into the call.
    let pc1 = member(
        &url,
        "pc1",
        440,
        &["--duration", "14", "--mute-audio-at", "4"],
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let web2 = chromium
        .open_page(&format!("{}?id=web2&room=mix", server.page_url()))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pc2 = member(&url, "pc2", 660, &["--duration", "12"]);

    // Each page decodes every other member's video and hears their audio.
    for (tab, others) in [
        (&web1, ["web2", "pc1", "pc2"]),
        (&web2, ["web1", "pc1", "pc2"]),
    ] {
        for other in others {
            tab.wait_for(&format!(
                "peercall.roomStats().then(s => s['{other}'] && s['{other}'].video && \
                 s['{other}'].video.framesDecoded > 20 && s['{other}'].audio && \
                 s['{other}'].audio.packetsReceived > 20)"
            ))
            .await;
        }
        // pc1's mute reaches the pages.
        tab.wait_for("peercall.room.members.pc1 && peercall.room.members.pc1.audioMuted")
            .await;
    }
    // web1 turns its camera off: the peercalls hear of it.
    web1.eval::<Value>("peercall.muteVideo(true)").await;
    let (pc2, pc1) = (report_of(pc2).await, report_of(pc1).await);
    for (me, others) in [
        (&pc1, [("web1", 880.0), ("web2", 880.0), ("pc2", 660.0)]),
        (&pc2, [("web1", 880.0), ("web2", 880.0), ("pc1", 440.0)]),
    ] {
        assert_eq!(me["room"], "mix");
        for (who, hz) in others {
            let p = participant(me, who);
            assert!(
                p["video"]["frames_decoded"].as_u64().unwrap() > 20,
                "{who}: {p}"
            );
            let tone = p["audio"]["tone_hz"].as_f64().unwrap_or(0.0);
            assert!((tone - hz).abs() < 20.0, "{who} sounded {tone} Hz: {p}");
        }
        let web1_events = participant(me, "web1")["remote_events"].to_string();
        assert!(
            web1_events.contains("mute_video"),
            "web1's camera-off did not arrive: {web1_events}"
        );
    }
    let pc1_muted = participant(&pc2, "pc1")["remote_events"].to_string();
    assert!(pc1_muted.contains("mute_audio"), "{pc1_muted}");
    // The peercalls left; the pages are still in the room, with each other.
    web1.wait_for("peercall.room.members.web2.connected && !peercall.room.members.pc1")
        .await;
    chromium.close().await;
}

/// Add person, to a browser: a peercall in a room invites a page; it rings, is accepted, and the
/// page joins everyone in the room (the one who invited it and the others).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_invited_into_a_room_joins_everyone() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = start_server(ServerConfig::default()).await;
    let url = server.ws_url();
    let chromium = Chromium::launch(false).await;
    let web = chromium
        .open_page(&format!("{}?id=web&autoaccept=1", server.page_url()))
        .await;
    web.wait_for("peercall.id === 'web'").await;
    // pc1 opens the room and, 3 s in, invites the page; pc2 is there by then.
    let pc1 = member(
        &url,
        "pc1",
        440,
        &["--duration", "14", "--add-at", "3", "web"],
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pc2 = member(&url, "pc2", 660, &["--duration", "13"]);
    web.wait_for("peercall.room && peercall.room.joined && peercall.state === 'in_room'")
        .await;
    for other in ["pc1", "pc2"] {
        web.wait_for(&format!(
            "peercall.roomStats().then(s => s['{other}'] && s['{other}'].video && \
             s['{other}'].video.framesDecoded > 20 && s['{other}'].audio && \
             s['{other}'].audio.packetsReceived > 20)"
        ))
        .await;
    }
    let (pc1, pc2) = (report_of(pc1).await, report_of(pc2).await);
    for (name, me) in [("pc1", &pc1), ("pc2", &pc2)] {
        let p = participant(me, "web");
        assert!(
            p["video"]["frames_decoded"].as_u64().unwrap_or(0) > 20,
            "{name} from web: {p}"
        );
        let tone = p["audio"]["tone_hz"].as_f64().unwrap_or(0.0);
        assert!(
            (tone - 880.0).abs() < 20.0,
            "{name} heard web at {tone} Hz: {p}"
        );
    }
    chromium.close().await;
}
