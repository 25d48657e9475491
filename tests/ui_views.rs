//! The window's views, driven like a user would (egui_kittest: typing, clicking, keys), on the
//! real view code and state.

use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use peercall::call::{CallEvent, EndReason, EndedBy};
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
        |ui, s: &mut Screen| views::idle::show(ui, &s.state, &mut s.fields, &mut s.actions),
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
    let mut harness = Harness::new_ui_state(
        |ui, s: &mut Screen| {
            let videos = views::in_call::Videos {
                remotes: Vec::new(),
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
        },
        screen,
    );
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
    harness.get_by_label("Save").click();
    harness.run();
    match harness.state().1.as_slice() {
        [Action::SaveSettings(saved)] => assert_eq!(saved.id, "dave"),
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
    let draw = |ui: &mut egui::Ui, s: &mut Screen| {
        let videos = views::in_call::Videos {
            remotes: Vec::new(),
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
    };
    let mut harness = Harness::new_ui_state(draw, screen);
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
    harness
        .get_by_label("Hide my IP address (media only through a TURN server)")
        .click();
    harness.run();
    harness.get_by_label("Save").click();
    harness.run();
    match harness.state().1.as_slice() {
        [Action::SaveSettings(saved)] => assert!(saved.relay_only),
        other => panic!("{other:?}"),
    }
}
