//! The window's views, driven like a user would (egui_kittest: typing, clicking, keys), on the
//! real view code and state.

use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use peercall::call::{CallEvent, Direction, EndReason, EndedBy, FileEvent, FileStop};
use peercall::ui::state::{AppState, BackendEvent, Connection, UiEvent};
use peercall::ui::views::{self, Action, Fields};
use std::time::Instant;

struct Screen {
    state: AppState,
    fields: Fields,
    actions: Vec<Action>,
}

fn online(peers: &[&str]) -> Screen {
    let mut state = AppState::default();
    let now = Instant::now();
    state.apply(
        UiEvent::Call(CallEvent::Registered { id: "alice".into() }),
        now,
    );
    // As the window copies the transport's presence list in.
    state.peers = peers.iter().map(|p| p.to_string()).collect();
    assert_eq!(state.connection, Connection::Online);
    Screen {
        state,
        fields: Fields::default(),
        actions: Vec::new(),
    }
}

fn idle_harness(screen: Screen) -> Harness<'static, Screen> {
    Harness::new_ui_state(
        |ui, s: &mut Screen| views::idle::show(ui, &s.state, None, &mut s.fields, &mut s.actions),
        screen,
    )
}

#[test]
fn typing_an_id_and_pressing_enter_dials_it() {
    let mut harness = idle_harness(online(&[]));
    harness.run();
    harness
        .get_by_role_and_label(Role::TextInput, "Call a peer ID:")
        .type_text("bob");
    harness.run();
    harness.key_press(egui::Key::Enter);
    harness.run();
    assert_eq!(harness.state().actions, vec![Action::Dial("bob".into())]);
}

#[test]
fn each_online_peer_has_a_call_button() {
    let mut harness = idle_harness(online(&["bob", "carol"]));
    harness.run();
    assert!(harness.query_by_label("bob").is_some());
    assert!(harness.query_by_label("carol").is_some());
    let buttons: Vec<_> = harness.get_all_by_label("Call").collect();
    // One beside the field (disabled while it is empty) and one per peer.
    assert_eq!(buttons.len(), 3);
    buttons[2].click();
    harness.run();
    assert_eq!(harness.state().actions, vec![Action::Dial("carol".into())]);
}

#[test]
fn the_last_outcome_is_shown_in_words() {
    let mut screen = online(&["bob"]);
    screen.state.apply(
        UiEvent::Call(CallEvent::Ended {
            peer: "bob".into(),
            by: EndedBy::Remote,
            reason: EndReason::Busy,
        }),
        Instant::now(),
    );
    let mut harness = idle_harness(screen);
    harness.run();
    assert!(harness
        .query_by_label("bob is busy in another call")
        .is_some());
}

#[test]
fn an_incoming_call_can_be_accepted_or_declined() {
    let mut harness = Harness::new_ui_state(
        |ui, actions: &mut Vec<Action>| views::incoming::show(ui, "carol", actions),
        Vec::new(),
    );
    harness.run();
    assert!(harness.query_by_label("carol is calling").is_some());
    harness.get_by_label("Decline").click();
    harness.run();
    harness.get_by_label("Accept").click();
    harness.run();
    assert_eq!(harness.state(), &vec![Action::Decline, Action::Accept]);
}

#[test]
fn calling_can_be_cancelled() {
    let mut harness = Harness::new_ui_state(
        |ui, actions: &mut Vec<Action>| {
            let state = AppState::default();
            views::calling::show(ui, &state, &mut Fields::default(), "bob", 3, actions)
        },
        Vec::new(),
    );
    // The spinner keeps repainting: step rather than wait for the UI to settle.
    harness.run_steps(2);
    assert!(harness.query_by_label("Calling bob…").is_some());
    harness.get_by_label("Cancel").click();
    harness.run_steps(2);
    assert_eq!(harness.state(), &vec![Action::HangUp]);
}

#[test]
fn in_a_call_the_shortcuts_mute_turn_the_camera_off_and_hang_up() {
    let mut screen = online(&["bob"]);
    let now = Instant::now();
    screen.state.apply(
        UiEvent::Call(CallEvent::Connected { peer: "bob".into() }),
        now,
    );
    let mut harness = Harness::new_ui_state(in_call_view, screen);
    harness.run();
    harness.key_press(egui::Key::M);
    harness.run();
    harness.key_press(egui::Key::V);
    harness.run();
    harness.key_press(egui::Key::Escape);
    harness.run();
    assert_eq!(
        harness.state().actions,
        vec![
            Action::SetMicMuted(true),
            Action::SetCameraOff(true),
            Action::HangUp
        ]
    );
    assert!(harness.query_by_label("Hang up (Esc)").is_some());
}

#[test]
fn settings_are_edited_checked_and_saved() {
    use peercall::ui::settings::Settings;
    let fields = Fields {
        settings: Some(Settings::default()),
        ..Fields::default()
    };
    let mut harness = Harness::new_ui_state(
        |ui, s: &mut (Fields, Vec<Action>)| views::settings::show(ui.ctx(), &mut s.0, &mut s.1),
        (fields, Vec::new()),
    );
    harness.run();
    // A bad ID is named, and Save does nothing until it is fixed.
    harness.state_mut().0.settings.as_mut().unwrap().id = "Dave!".into();
    harness.run();
    assert!(harness
        .query_by_label_contains("ID: an ID may hold")
        .is_some());
    harness.get_by_label("Save").click();
    harness.run();
    assert!(harness.state().1.is_empty());
    harness.state_mut().0.settings.as_mut().unwrap().id = "dave".into();
    harness.run();
    // A pasted certificate fingerprint (as `peercall serve --tls-self-signed` prints it) is
    // checked and kept.
    let field = || (Role::TextInput, "Or only this certificate");
    harness.get_by_role_and_label(field().0, field().1).focus();
    harness.run();
    harness
        .get_by_role_and_label(field().0, field().1)
        .type_text("not hex");
    harness.run();
    assert!(harness.query_by_label_contains("certificate:").is_some());
    let fingerprint = "AB:".repeat(31) + "AB";
    harness
        .state_mut()
        .0
        .settings
        .as_mut()
        .unwrap()
        .pinned_certificate = fingerprint.clone();
    harness.run();
    assert!(harness.query_by_label_contains("certificate:").is_none());
    harness.get_by_label("Save").click();
    harness.run();
    match harness.state().1.as_slice() {
        [Action::SaveSettings(saved)] => {
            assert_eq!(saved.id, "dave");
            assert_eq!(saved.pinned_certificate, fingerprint);
        }
        other => panic!("{other:?}"),
    }
}

fn connected_as(screen: &mut Screen, kind: signaling_client::SignalingKind) {
    screen.state.apply(
        UiEvent::Backend(BackendEvent::Connected {
            server: "http://example.org".into(),
            kind,
            embedded: false,
            lan_urls: Vec::new(),
            lan_fingerprint: None,
        }),
        Instant::now(),
    );
}

#[test]
fn the_dial_field_asks_for_what_the_server_dials() {
    use signaling_client::SignalingKind;
    let mut screen = online(&[]);
    connected_as(&mut screen, SignalingKind::CallCode);
    let mut harness = idle_harness(screen);
    harness.run();
    assert!(harness.query_by_label("Call code:").is_some());
    // A call-code server says nothing about who is there: no presence list.
    assert!(harness.query_by_label_contains("Online now").is_none());
    harness.get_by_role(Role::TextInput).type_text("4711");
    harness.run();
    harness.key_press(egui::Key::Enter);
    harness.run();
    assert_eq!(harness.state().actions, vec![Action::Dial("4711".into())]);

    let mut screen = online(&["bob"]);
    connected_as(&mut screen, SignalingKind::SocketIo1v1);
    let mut harness = idle_harness(screen);
    harness.run();
    assert!(harness.query_by_label("Call an account:").is_some());
    assert!(harness.query_by_label("In the room").is_some());
    assert!(harness.query_by_label("bob").is_some());
}

#[test]
fn with_no_server_a_call_starts_and_lines_are_copied_and_pasted() {
    use signaling_client::SignalingKind;
    let mut screen = online(&[]);
    connected_as(&mut screen, SignalingKind::Manual);
    let mut harness = idle_harness(screen);
    harness.run();
    harness.get_by_label("Start a call").click();
    harness.run();
    // Paste the other side's line to take their call.
    harness.get_by_role(Role::MultilineTextInput).click();
    harness.run();
    harness
        .get_by_role(Role::MultilineTextInput)
        .type_text("peercall-offer:abc");
    harness.run();
    harness.get_by_label("Use line").click();
    harness.run();
    assert_eq!(
        harness.state().actions,
        vec![
            Action::Dial(signaling_client::manual::OTHER_SIDE.into()),
            Action::Paste("peercall-offer:abc".into()),
        ]
    );
    assert!(harness.state().fields.paste.is_empty(), "the box empties");

    // What the backend reports shows up: our line with Copy, and why a paste was refused.
    let now = Instant::now();
    let state = &mut harness.state_mut().state;
    state.apply(
        UiEvent::Backend(BackendEvent::ManualLine(Some("peercall-answer:xyz".into()))),
        now,
    );
    state.apply(
        UiEvent::Backend(BackendEvent::Pasted(Err("that line is damaged".into()))),
        now,
    );
    harness.run();
    assert!(harness.query_by_label("that line is damaged").is_some());
    harness.get_by_label("Copy line").click();
    harness.run();
    assert_eq!(harness.state().actions.last(), Some(&Action::CopyLine));
}

#[test]
fn settings_choose_the_kind_of_server_and_ask_for_what_it_needs() {
    use peercall::ui::settings::Settings;
    let fields = Fields {
        settings: Some(Settings::default()),
        ..Fields::default()
    };
    let mut harness = Harness::new_ui_state(
        |ui, s: &mut (Fields, Vec<Action>)| views::settings::show(ui.ctx(), &mut s.0, &mut s.1),
        (fields, Vec::new()),
    );
    harness.run();
    assert!(harness.query_by_label("Room").is_none());
    // A socket.io 1-to-1 server: an http address and a room, else Save stays off.
    let draft = harness.state_mut().0.settings.as_mut().unwrap();
    draft.signaling = "socketio-1v1".into();
    draft.server = "http://127.0.0.1:3000".into();
    harness.run();
    assert!(harness.query_by_label("Room").is_some());
    assert!(harness.query_by_label_contains("needs a room").is_some());
    harness.get_by_label("Save").click();
    harness.run();
    assert!(harness.state().1.is_empty());
    harness.get_by_label("Room").click();
    harness.run();
    harness.get_by_label("Room").type_text("lobby");
    harness.run();
    harness.get_by_label("Save").click();
    harness.run();
    match harness.state().1.as_slice() {
        [Action::SaveSettings(saved)] => {
            assert_eq!(saved.signaling, "socketio-1v1");
            assert_eq!(saved.room, "lobby");
        }
        other => panic!("{other:?}"),
    }
    // No server at all: no address to fill in.
    harness.state_mut().0.settings = Some(Settings {
        signaling: "manual".into(),
        ..Settings::default()
    });
    harness.run();
    assert!(harness.query_by_label("Server").is_none());
}

#[test]
fn a_broken_path_says_reconnecting_until_it_is_back() {
    let mut screen = online(&["bob"]);
    let now = Instant::now();
    for event in [
        CallEvent::Connected { peer: "bob".into() },
        CallEvent::PathLost { peer: "bob".into() },
    ] {
        screen.state.apply(UiEvent::Call(event), now);
    }
    let mut harness = in_call_harness(screen);
    harness.run();
    assert!(harness
        .query_by_label_contains("reconnecting… (network changed: bob)")
        .is_some());
    harness.state_mut().state.apply(
        UiEvent::Call(CallEvent::PathRestored {
            peer: "bob".into(),
            after: std::time::Duration::from_millis(150),
        }),
        now,
    );
    harness.run();
    assert!(harness.query_by_label_contains("reconnecting").is_none());
}

#[test]
fn the_stats_show_the_path_and_the_settings_hide_the_address() {
    use peercall::call::{CallStats, IcePath};
    let mut screen = online(&["bob"]);
    screen.state.apply(
        UiEvent::Call(CallEvent::Stats(CallStats {
            path: Some(IcePath {
                local_type: "relay".into(),
                remote_type: "srflx".into(),
                protocol: "udp".into(),
            }),
            ..CallStats::default()
        })),
        Instant::now(),
    );
    let mut harness = Harness::new_ui_state(
        |ui, s: &mut Screen| views::stats::show(ui, &s.state),
        screen,
    );
    harness.run();
    assert!(harness.query_by_label("relay to srflx over udp").is_some());

    let saved =
        settings_saved_after_clicking("Hide my IP address (media only through a TURN server)");
    assert!(saved.relay_only);
}

/// The settings window opened on the defaults, `label` clicked, then Save: what it saved.
fn settings_saved_after_clicking(label: &str) -> peercall::ui::settings::Settings {
    use peercall::ui::settings::Settings;
    let fields = Fields {
        settings: Some(Settings::default()),
        ..Fields::default()
    };
    let mut harness = Harness::new_ui_state(
        |ui, s: &mut (Fields, Vec<Action>)| views::settings::show(ui.ctx(), &mut s.0, &mut s.1),
        (fields, Vec::new()),
    );
    harness.run();
    harness.get_by_label(label).click();
    harness.run();
    harness.get_by_label("Save").click();
    harness.run();
    match harness.state().1.as_slice() {
        [Action::SaveSettings(saved)] => (**saved).clone(),
        other => panic!("{other:?}"),
    }
}

/// The call screen with bob, no video.
fn in_call_view(ui: &mut egui::Ui, s: &mut Screen) {
    let videos = views::in_call::Videos {
        remotes: Vec::new(),
        share: None,
        local: None,
    };
    views::in_call::show(
        ui,
        &s.state,
        "bob",
        None,
        videos,
        &mut s.fields,
        &mut s.actions,
    )
}

fn in_call_harness(screen: Screen) -> Harness<'static, Screen> {
    Harness::new_ui_state(in_call_view, screen)
}

/// The call screen, connected to bob, drawn once.
fn in_a_call_with_bob() -> Harness<'static, Screen> {
    let mut screen = online(&["bob"]);
    screen.state.apply(
        UiEvent::Call(CallEvent::Connected { peer: "bob".into() }),
        Instant::now(),
    );
    let mut harness = in_call_harness(screen);
    harness.run();
    harness
}

fn file_event(screen: &mut Screen, event: FileEvent, at: Instant) {
    screen.state.apply(
        UiEvent::Call(CallEvent::File {
            peer: "bob".into(),
            event,
        }),
        at,
    );
}

/// A file dropped on the window (as the windowing layer hands it over).
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn an_offered_file_is_accepted_or_declined_and_its_progress_shows_speed_and_time_left() {
    let mut screen = online(&["bob"]);
    let t0 = Instant::now();
    screen.state.apply(
        UiEvent::Call(CallEvent::Connected { peer: "bob".into() }),
        t0,
    );
    for id in ["t1", "t2"] {
        file_event(
            &mut screen,
            FileEvent::Offered {
                id: id.into(),
                name: format!("{id}.pdf"),
                size: 10_000_000,
            },
            t0,
        );
    }
    let mut harness = in_call_harness(screen);
    harness.run();
    assert!(harness
        .query_by_label_contains("t1.pdf (10.0 MB) from bob")
        .is_some());
    let accepts: Vec<_> = harness.get_all_by_label("Accept").collect();
    assert_eq!(accepts.len(), 2);
    accepts[0].click();
    harness.run();
    harness.get_all_by_label("Decline").nth(1).unwrap().click();
    harness.run();
    assert_eq!(
        harness.state().actions,
        vec![
            Action::AcceptFile("t1".into()),
            Action::DeclineFile("t2".into())
        ]
    );
    // The accepted one moves: 4 MB of 10 at 2 MB/s.
    for (ms, bytes) in [(0, 0), (1000, 2_000_000), (2000, 4_000_000)] {
        let at = t0 + std::time::Duration::from_millis(ms);
        let progress = FileEvent::Progress {
            id: "t1".into(),
            bytes,
            total: 10_000_000,
        };
        harness.state_mut().state.apply(
            UiEvent::Call(CallEvent::File {
                peer: "bob".into(),
                event: progress,
            }),
            at,
        );
    }
    let declined = FileEvent::Stopped {
        id: "t2".into(),
        direction: Direction::Receiving,
        name: "t2.pdf".into(),
        why: FileStop::Declined,
    };
    harness.state_mut().state.apply(
        UiEvent::Call(CallEvent::File {
            peer: "bob".into(),
            event: declined,
        }),
        t0,
    );
    harness.run();
    assert!(harness
        .query_by_label_contains("4.0 MB of 10.0 MB · 2.0 MB/s · 3 s left")
        .is_some());
    assert!(harness.query_by_label("declined").is_some());
    harness.get_by_label("Cancel").click();
    harness.run();
    assert_eq!(
        harness.state().actions.last(),
        Some(&Action::CancelFile("t1".into()))
    );
    let done = FileEvent::Done {
        id: "t1".into(),
        direction: Direction::Receiving,
        name: "t1.pdf".into(),
        size: 10_000_000,
        path: Some("/home/me/Downloads/t1.pdf".into()),
        secs: 5.0,
    };
    harness.state_mut().state.apply(
        UiEvent::Call(CallEvent::File {
            peer: "bob".into(),
            event: done,
        }),
        t0,
    );
    harness.run();
    assert!(harness
        .query_by_label("saved as /home/me/Downloads/t1.pdf")
        .is_some());
}

#[test]
fn a_file_is_sent_by_its_path_or_by_dropping_it_on_the_window() {
    let mut harness = in_a_call_with_bob();
    harness
        .get_by_role_and_label(Role::TextInput, "Send a file:")
        .focus();
    harness.run();
    harness
        .get_by_role_and_label(Role::TextInput, "Send a file:")
        .type_text("/tmp/report.pdf");
    harness.run();
    assert_eq!(harness.state().fields.send_path, "/tmp/report.pdf");
    harness.get_by_label("Send file").click();
    harness.run();
    harness
        .input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped("/tmp/photo.jpg".into())));
    harness.run();
    assert_eq!(
        harness.state().actions,
        vec![
            Action::SendFile("/tmp/report.pdf".into()),
            Action::SendFile("/tmp/photo.jpg".into())
        ]
    );
}

#[test]
fn the_screen_is_shared_and_stopped_from_the_call_and_whose_share_is_shown_is_known() {
    let now = Instant::now();
    let mut harness = in_a_call_with_bob();
    harness.get_by_label("Share screen").click();
    harness.run();
    assert!(matches!(
        harness.state().actions.as_slice(),
        [Action::ShareScreen(None)]
    ));
    let events = [
        CallEvent::Sharing(true),
        CallEvent::RemoteSharing {
            peer: "bob".into(),
            on: true,
        },
    ];
    for event in events {
        harness.state_mut().state.apply(UiEvent::Call(event), now);
    }
    harness.state_mut().actions.clear();
    harness.run();
    assert_eq!(harness.state().state.remote_sharing.as_deref(), Some("bob"));
    harness.get_by_label("Stop sharing").click();
    harness.run();
    assert!(matches!(
        harness.state().actions.as_slice(),
        [Action::StopSharing]
    ));
    let off = CallEvent::RemoteSharing {
        peer: "bob".into(),
        on: false,
    };
    harness.state_mut().state.apply(UiEvent::Call(off), now);
    assert_eq!(harness.state().state.remote_sharing, None);
}

#[test]
fn with_two_monitors_share_screen_asks_which() {
    let mut harness = in_a_call_with_bob();
    let monitor = |name: &str, x: i16| peercall::media::screen::Monitor {
        name: name.into(),
        primary: x == 0,
        x,
        y: 0,
        width: 1920,
        height: 1080,
    };
    harness.state_mut().fields.monitors = vec![monitor("DP-1", 0), monitor("HDMI-1", 1920)];
    harness.run();
    harness.get_by_label("Share screen").click();
    harness.run();
    harness.get_by_label("HDMI-1 (1920x1080)").click();
    harness.run();
    match harness.state().actions.as_slice() {
        [Action::ShareScreen(Some(name))] => assert_eq!(name, "HDMI-1"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_video_quality_is_chosen_in_the_call() {
    let mut harness = in_a_call_with_bob();
    harness.state_mut().fields.video_quality = "480p30".into();
    harness.run();
    harness.get_by_label("Quality").click();
    harness.run();
    harness.get_by_label("360p, 15 fps").click();
    harness.run();
    match harness.state().actions.as_slice() {
        [Action::SetVideoQuality(q)] => assert_eq!(q.to_string(), "360p15"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_compact_window_is_opened_by_its_button_or_p() {
    let mut harness = in_a_call_with_bob();
    harness.get_by_label("Compact (P)").click();
    harness.run();
    harness.key_press(egui::Key::P);
    harness.run();
    assert!(matches!(
        harness.state().actions.as_slice(),
        [Action::ToggleCompact, Action::ToggleCompact]
    ));
}

#[test]
fn the_speaker_is_tested_from_the_main_screen() {
    let mut harness = idle_harness(online(&[]));
    harness.run();
    harness.get_by_label("Test speaker").click();
    harness.run();
    assert!(matches!(
        harness.state().actions.as_slice(),
        [Action::TestSpeaker]
    ));
}

#[test]
fn the_call_shows_the_code_to_read_to_the_other_side() {
    let mut screen = online(&["bob"]);
    let now = Instant::now();
    for event in [
        CallEvent::Connected { peer: "bob".into() },
        CallEvent::Verification {
            peer: "bob".into(),
            code: "308 521 643".into(),
        },
    ] {
        screen.state.apply(UiEvent::Call(event), now);
    }
    let mut harness = in_call_harness(screen);
    harness.run();
    assert!(harness.query_by_label("verify 308 521 643").is_some());
}

#[test]
fn after_a_call_it_is_listed_with_its_length_and_can_be_called_again() {
    let mut screen = online(&[]);
    let t0 = Instant::now();
    for (secs, event) in [
        (
            0,
            CallEvent::Calling {
                peer: "bob".into(),
                call_id: "c1".into(),
            },
        ),
        (1, CallEvent::Connected { peer: "bob".into() }),
        (
            193,
            CallEvent::Ended {
                peer: "bob".into(),
                by: EndedBy::Local,
                reason: EndReason::HungUp,
            },
        ),
    ] {
        screen.state.apply(
            UiEvent::Call(event),
            t0 + std::time::Duration::from_secs(secs),
        );
    }
    let mut harness = idle_harness(screen);
    harness.run();
    assert!(harness.query_by_label("Recent calls").is_some());
    assert!(harness.query_by_label("outgoing, 3:12").is_some());
    harness.get_by_label("Call again").click();
    harness.run();
    assert_eq!(harness.state().actions, vec![Action::Dial("bob".into())]);
}

#[test]
fn a_missed_call_stays_visible_until_seen() {
    let mut screen = online(&[]);
    let now = Instant::now();
    for event in [
        CallEvent::Incoming {
            peer: "carol".into(),
            call_id: "c2".into(),
            room: None,
        },
        CallEvent::Ended {
            peer: "carol".into(),
            by: EndedBy::Remote,
            reason: EndReason::Cancelled,
        },
    ] {
        screen.state.apply(UiEvent::Call(event), now);
    }
    let mut harness = idle_harness(screen);
    harness.run();
    assert!(harness.query_by_label("Missed call from carol").is_some());
    assert!(harness.query_by_label("missed").is_some());
    // Still there frames later, until dismissed.
    harness.run();
    assert!(harness.query_by_label("Missed call from carol").is_some());
    harness.get_by_label("Call back").click();
    harness.run();
    assert_eq!(
        harness.state().actions,
        vec![Action::Dial("carol".into()), Action::MarkMissedSeen]
    );
    // As the window does with that action.
    harness.state_mut().state.missed_seen();
    harness.run();
    assert!(harness.query_by_label("Missed call from carol").is_none());
    assert!(harness.query_by_label("missed").is_some(), "still listed");
}

#[test]
fn do_not_disturb_is_switched_on_the_main_screen() {
    let mut harness = idle_harness(online(&[]));
    harness.run();
    harness.get_by_label("Do not disturb").click();
    harness.run();
    assert_eq!(harness.state().actions, vec![Action::SetDoNotDisturb(true)]);
    // The engine says it is on; a call that rang meanwhile is listed as missed, quietly.
    let now = Instant::now();
    for event in [
        CallEvent::DoNotDisturb(true),
        CallEvent::MissedWhileBusy {
            peer: "carol".into(),
        },
    ] {
        harness.state_mut().state.apply(UiEvent::Call(event), now);
    }
    harness.run();
    assert!(harness.query_by_label("Missed call from carol").is_some());
    assert!(harness
        .query_by_label_contains("called while you were busy")
        .is_none());
}

#[test]
fn a_starred_peer_is_a_contact_shown_first_with_a_name_and_whether_online() {
    let mut screen = online(&["bob", "carol"]);
    screen.state.contacts.star("dave");
    let mut harness = idle_harness(screen);
    harness.run();
    // carol is online and not yet a contact: star her.
    let stars: Vec<_> = harness.get_all_by_label("Star").collect();
    assert_eq!(stars.len(), 2, "one per online peer who is not a contact");
    stars[1].click();
    harness.run();
    assert_eq!(
        harness.state().actions,
        vec![Action::StarContact("carol".into())]
    );
    // As the window does with that action.
    harness.state_mut().state.contacts.star("carol");
    harness.state_mut().actions.clear();
    harness.run();
    assert!(harness.query_by_label("Contacts").is_some());
    // dave is offline, carol online; carol is no longer in the plain online list.
    assert!(harness.query_by_label("offline").is_some());
    assert!(harness.query_by_label("online").is_some());
    assert_eq!(harness.get_all_by_label("Star").count(), 1);
    // Rename carol.
    harness.get_all_by_label("Rename").nth(1).unwrap().click();
    harness.run();
    harness
        .get_by_role_and_label(Role::TextInput, "Name:")
        .focus();
    harness.run();
    harness
        .get_by_role_and_label(Role::TextInput, "Name:")
        .type_text("Carol Jones");
    harness.run();
    harness.get_by_label("Save name").click();
    harness.run();
    assert_eq!(
        harness.state().actions,
        vec![Action::RenameContact("carol".into(), "Carol Jones".into())]
    );
    harness
        .state_mut()
        .state
        .contacts
        .rename("carol", "Carol Jones");
    harness.run();
    assert!(harness.query_by_label("Carol Jones").is_some());
}

#[test]
fn the_header_says_where_browsers_on_the_network_come_in_and_which_certificate_to_expect() {
    use peercall::ui::views::header;
    let mut state = AppState::default();
    state.apply(
        UiEvent::Backend(BackendEvent::Connected {
            server: "ws://127.0.0.1:8480/ws".into(),
            kind: signaling_client::SignalingKind::Peercall,
            embedded: true,
            lan_urls: vec!["https://192.168.1.20:8481/".into()],
            lan_fingerprint: Some("AB:CD:EF".into()),
        }),
        Instant::now(),
    );
    let mut harness = Harness::new_ui_state(
        |ui, s: &mut (AppState, Vec<Action>)| header::show(ui, &s.0, &mut s.1),
        (state, Vec::new()),
    );
    harness.run();
    assert!(harness
        .query_by_label("https://192.168.1.20:8481/")
        .is_some());
    assert!(harness
        .query_by_label("certificate SHA-256 AB:CD:EF")
        .is_some());
}

#[test]
fn the_main_screen_checks_the_camera_and_shows_the_microphone_level() {
    let mut harness = idle_harness(online(&[]));
    harness.run();
    harness.get_by_label("Check camera and microphone").click();
    harness.run();
    assert_eq!(harness.state().actions, vec![Action::SetPreview(true)]);
    // As the window does: on, and the microphone heard at -13 dBFS.
    harness.state_mut().state.preview_on = true;
    harness.state_mut().state.mic_level_dbfs = Some(-13.4);
    harness.run();
    assert!(harness.query_by_label("Microphone").is_some());
    assert!(harness.query_by_label_contains("-13 dBFS").is_some());
}

#[test]
fn double_clicking_the_video_or_f11_toggles_full_screen() {
    let mut screen = online(&["bob"]);
    screen.state.apply(
        UiEvent::Call(CallEvent::Connected { peer: "bob".into() }),
        Instant::now(),
    );
    // Frames 50 ms apart, as a person's double-click is (the default step is a quarter second).
    let mut harness = Harness::builder()
        .with_step_dt(0.05)
        .build_ui_state(in_call_view, screen);
    harness.run();
    let centre = harness.ctx.content_rect().center() - egui::vec2(0.0, 120.0);
    harness.event(egui::Event::PointerMoved(centre));
    harness.run();
    // Two clicks in quick succession (within one of the harness's quarter-second steps).
    for pressed in [true, false, true, false] {
        harness.event(egui::Event::PointerButton {
            pos: centre,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
    }
    harness.run();
    assert_eq!(
        harness.state().actions,
        vec![Action::ToggleFullscreen],
        "double-click"
    );
    harness.key_press(egui::Key::F11);
    harness.run();
    assert_eq!(
        harness.state().actions,
        vec![Action::ToggleFullscreen, Action::ToggleFullscreen]
    );
}

/// The stats show what the microphone's processing measured, and the settings switch each of
/// its stages.
#[test]
fn the_stats_show_the_cleaned_microphone_and_the_settings_switch_its_stages() {
    use peercall::call::CallStats;
    use peercall::media::voice::VoiceStatsSnapshot;
    let mut screen = online(&["bob"]);
    screen.state.apply(
        UiEvent::Call(CallEvent::Stats(CallStats::default())),
        Instant::now(),
    );
    screen.state.voice = Some(VoiceStatsSnapshot {
        output_dbfs: Some(-21.6),
        erle_db: Some(38.2),
        ..VoiceStatsSnapshot::default()
    });
    let mut harness = Harness::new_ui_state(
        |ui, s: &mut Screen| views::stats::show(ui, &s.state),
        screen,
    );
    harness.run();
    assert!(harness.query_by_label("-22 dBFS").is_some());
    assert!(harness.query_by_label("38 dB").is_some());

    let saved = settings_saved_after_clicking("Noise suppression");
    assert_eq!(saved.voice_stages().to_string(), "aec,agc");
}
