//! The window's backend (what runs behind its views), set in its settings to each kind of
//! signaling server, calls a headless peercall through it: an HTTP call-code server, a real
//! socket.io 1.x server with a user list, and no server at all (the line copied and pasted as
//! the window's boxes do). What the window would draw is checked where it comes from: the
//! events its views read and the decoded frames its video texture is made from.

#[path = "common/call_code_server.rs"]
mod call_code_server;
mod common;
#[path = "common/socketio_servers.rs"]
mod socketio_servers;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use call_code_server::CallCodeServer;
use common::{report_of, spawn_headless, Proc, ONE_CALL_AT_A_TIME};
use peercall::call::{CallCommand, CallEvent, EndedBy};
use peercall::media::test_pattern::read_marker_rgba;
use peercall::ui::backend::{self, Backend, BackendCommand, UiLink};
use peercall::ui::settings::Settings;
use peercall::ui::state::{BackendEvent, UiEvent};
use serde_json::Value;
use signaling_client::SignalingKind;
use socketio_servers::NodeServer;
use tokio::sync::mpsc;

struct Window {
    backend: Backend,
    events: mpsc::UnboundedReceiver<UiEvent>,
    seen: Vec<UiEvent>,
}

impl Window {
    fn start(signaling: SignalingKind, server: &str, id: &str, dial: Option<String>) -> Window {
        let settings = Settings {
            id: id.into(),
            signaling: signaling.name().into(),
            server: server.into(),
            room: "lobby".into(),
            camera: "synthetic:320x240@15".into(),
            microphone: "synthetic:440".into(),
            speaker: "none".into(),
            ..Settings::default()
        };
        assert!(settings.problems().is_empty(), "{:?}", settings.problems());
        let (ui, rx) = UiLink::channel(Arc::new(|| {}));
        let (events_tx, events) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            while let Ok(event) = rx.recv() {
                if events_tx.send(event).is_err() {
                    break;
                }
            }
        });
        let start = dial.map(CallCommand::Dial);
        let backend = backend::start(&tokio::runtime::Handle::current(), settings, start, ui);
        Window {
            backend,
            events,
            seen: Vec::new(),
        }
    }

    /// Waits (30 s at most) for `peer` in the window's list of who is online.
    async fn lists(&mut self, peer: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut listed = Vec::new();
        while !listed.iter().any(|p| p == peer) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{peer} never listed as online (last list {listed:?})"
            );
            if let Some(now) = self.backend.presence_changed() {
                listed = now;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The first event (from now) that `matches`, within 30 s.
    async fn until<T>(&mut self, what: &str, matches: impl Fn(&UiEvent) -> Option<T>) -> T {
        let wait = async {
            while let Some(event) = self.events.recv().await {
                let found = matches(&event);
                self.seen.push(event);
                if let Some(found) = found {
                    return Some(found);
                }
            }
            None
        };
        match tokio::time::timeout(Duration::from_secs(30), wait).await {
            Ok(Some(found)) => found,
            _ => panic!("the window never got {what}; it saw {:#?}", self.seen),
        }
    }

    async fn connected_as(&mut self, kind: SignalingKind) {
        self.until("its server", |e| match e {
            UiEvent::Backend(BackendEvent::Connected { kind: k, .. }) => Some(*k),
            UiEvent::Backend(BackendEvent::Unreachable { reason, .. }) => panic!("{reason}"),
            _ => None,
        })
        .await;
        let got = self.seen.iter().rev().find_map(|e| match e {
            UiEvent::Backend(BackendEvent::Connected { kind, .. }) => Some(*kind),
            _ => None,
        });
        assert_eq!(got, Some(kind));
        self.until("a registration", |e| {
            matches!(e, UiEvent::Call(CallEvent::Registered { .. })).then_some(())
        })
        .await;
    }

    async fn call_connected(&mut self) {
        self.until("a connected call", |e| {
            matches!(e, UiEvent::Call(CallEvent::Connected { .. })).then_some(())
        })
        .await;
    }

    /// The frame counter of the newest decoded frame the window would draw.
    async fn frame_counter_after(&self, wait: Duration) -> u32 {
        tokio::time::sleep(wait).await;
        let participants = self.backend.participants();
        let slot = participants
            .first()
            .and_then(|p| p.frames.clone())
            .expect("someone's frames for the window to draw");
        let (_, frame) = slot
            .take_newer(0)
            .expect("decoded frames for the window's video");
        read_marker_rgba(&frame.pixels, frame.width, frame.height)
            .expect("the other side's test pattern in the frame")
            .counter
    }

    /// Frames keep arriving: the counter moves on.
    async fn sees_live_video(&self) {
        let first = self.frame_counter_after(Duration::from_millis(1500)).await;
        let later = self.frame_counter_after(Duration::from_millis(1500)).await;
        assert!(later > first + 10, "frames {first} then {later}");
    }

    async fn ended_by(&mut self) -> EndedBy {
        self.until("the end of the call", |e| match e {
            UiEvent::Call(CallEvent::Ended { by, .. }) => Some(*by),
            _ => None,
        })
        .await
    }
}

fn assert_heard_the_window(report: &Value, signaling: &str) {
    assert_eq!(report["signaling"], signaling);
    assert!(
        report["video"]["frames_decoded"].as_u64().unwrap_or(0) > 20,
        "{}",
        report["video"]
    );
    let tone = report["audio"]["tone_hz"].as_f64().unwrap_or(0.0);
    assert!((tone - 440.0).abs() < 20.0, "heard {tone} Hz");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_dials_a_call_code() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let server = CallCodeServer::start().await;
    let code = format!("{}", rand::random::<u32>());
    let mut window = Window::start(
        SignalingKind::CallCode,
        &server.base,
        "",
        Some(code.clone()),
    );
    window.connected_as(SignalingKind::CallCode).await;
    let other = spawn_headless(&[
        "call",
        "--signaling",
        "webrtc-call",
        "--server",
        &server.base,
        "--dial",
        &code,
        "--duration",
        "5",
        "--video",
        "synthetic:320x240@15",
        "--audio",
        "synthetic:1000",
    ]);
    window.call_connected().await;
    window.sees_live_video().await;
    assert_eq!(window.ended_by().await, EndedBy::Remote);
    assert_heard_the_window(&report_of(other).await, "webrtc-call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_lists_a_socketio_room_and_calls_an_account_in_it() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let server = NodeServer::start("onev1_server.js", &[]).await;
    let base = format!("http://127.0.0.1:{}", server.port);
    let bob = spawn_headless(&[
        "answer",
        "--auto-accept",
        "--signaling",
        "socketio-1v1",
        "--server",
        &base,
        "--room",
        "lobby",
        "--id",
        "bob",
        "--video",
        "synthetic:320x240@15",
    ]);
    let mut window = Window::start(SignalingKind::SocketIo1v1, &base, "alice", None);
    window.connected_as(SignalingKind::SocketIo1v1).await;
    // The room's user list is the window's "In the room" list.
    window.lists("bob").await;
    window
        .backend
        .call(CallCommand::Dial("bob".into()))
        .expect("an engine to tell");
    window.call_connected().await;
    window.sees_live_video().await;
    window
        .backend
        .call(CallCommand::HangUp)
        .expect("an engine to tell");
    assert_eq!(window.ended_by().await, EndedBy::Local);
    let bob = report_of(bob).await;
    assert_heard_the_window(&bob, "socketio-1v1");
    assert_eq!(bob["ended"]["by"], "remote", "{}", bob["ended"]);
    // The server goes away: the window says so and tries to join the room again.
    server.stop();
    window
        .until("the server lost", |e| {
            matches!(e, UiEvent::Call(CallEvent::SignalingLost { .. })).then_some(())
        })
        .await;
    let reason = window
        .until("a new attempt that fails", |e| match e {
            UiEvent::Backend(BackendEvent::Unreachable { reason, .. }) => Some(reason.clone()),
            _ => None,
        })
        .await;
    assert!(reason.contains("cannot reach"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_server_the_window_shows_its_line_and_takes_the_pasted_answer() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let report_path = std::env::temp_dir().join(format!(
        "peercall-window-manual-{}.json",
        rand::random::<u32>()
    ));
    let mut other = Proc::spawn(
        std::process::Command::new(env!("CARGO_BIN_EXE_peercall"))
            .args(["answer", "--auto-accept", "--signaling", "manual"])
            .args(["--video", "synthetic:320x240@15", "--loopback"])
            .arg("--report")
            .arg(&report_path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    );
    let (mut out, _log) = other.stdout_lines();
    let mut other_in = other.stdin().unwrap();
    let mut window = Window::start(SignalingKind::Manual, "", "", None);
    window.connected_as(SignalingKind::Manual).await;
    // Something that is not a line is refused in words, before any call.
    window
        .backend
        .send(BackendCommand::Paste("hello there".into()));
    let refused = window
        .until("the paste refused", |e| match e {
            UiEvent::Backend(BackendEvent::Pasted(outcome)) => Some(outcome.clone()),
            _ => None,
        })
        .await;
    assert!(refused.is_err_and(|e| e.contains("not a peercall line")));

    // "Start a call", then copy the line the window shows.
    window
        .backend
        .call(CallCommand::Dial(
            signaling_client::manual::OTHER_SIDE.into(),
        ))
        .expect("an engine to tell");
    let offer = window
        .until("a line to copy", |e| match e {
            UiEvent::Backend(BackendEvent::ManualLine(Some(line))) => Some(line.clone()),
            _ => None,
        })
        .await;
    assert!(offer.starts_with("peercall-offer:"), "{offer}");
    writeln!(other_in, "{offer}").unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = out.recv().await {
            if line.starts_with("peercall-answer:") {
                return line;
            }
        }
        panic!("the other side ended without an answer line")
    })
    .await
    .expect("an answer line within 20 s");
    // The answer pasted into the window's box.
    window.backend.send(BackendCommand::Paste(answer));
    let taken = window
        .until("the answer taken", |e| match e {
            UiEvent::Backend(BackendEvent::Pasted(outcome)) => Some(outcome.clone()),
            _ => None,
        })
        .await;
    assert_eq!(taken, Ok(()));
    window.call_connected().await;
    window.sees_live_video().await;
    window
        .backend
        .call(CallCommand::HangUp)
        .expect("an engine to tell");
    assert_eq!(window.ended_by().await, EndedBy::Local);
    // Once the call ends there is no line to copy (withdrawn as the hang-up went out, or soon).
    let latest_line = window.seen.iter().rev().find_map(|e| match e {
        UiEvent::Backend(BackendEvent::ManualLine(line)) => Some(line.clone()),
        _ => None,
    });
    if latest_line != Some(None) {
        window
            .until("the line withdrawn", |e| {
                matches!(e, UiEvent::Backend(BackendEvent::ManualLine(None))).then_some(())
            })
            .await;
    }
    drop(other_in);
    let mut other = other.take();
    let status = tokio::task::spawn_blocking(move || other.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&report_path);
    assert_heard_the_window(&report, "manual");
    assert_eq!(report["ended"]["by"], "remote", "{}", report["ended"]);
}
