//! A ringing call's desktop notification over a real D-Bus session bus (`dbus-daemon`, started
//! by the test) to a notification server played by the test: the notification says who calls
//! and offers Accept and Decline; the server's ActionInvoked comes back to peercall; closing it
//! reaches the server.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use peercall::ui::notify::{Notifier, ACCEPT};

/// A session bus of our own.
struct Bus(Child);

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn session_bus() -> (Bus, String) {
    let mut child = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dbus-daemon (scripts/install-deps.sh installs it)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line.trim().to_string();
    assert!(address.starts_with("unix:"), "dbus-daemon said {line:?}");
    (Bus(child), address)
}

/// What a Notify call carried: summary, body, actions, urgency.
type Notified = (String, String, Vec<String>, u8);

#[derive(Default, Clone)]
struct Seen {
    notified: Arc<Mutex<Vec<Notified>>>,
    closed: Arc<Mutex<Vec<u32>>>,
}

/// What a desktop's notification daemon does, as far as this test needs.
struct FakeDaemon(Seen);

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl FakeDaemon {
    #[allow(clippy::too_many_arguments)]
    async fn notify(
        &self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, zbus::zvariant::OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let urgency = hints
            .get("urgency")
            .and_then(|v| u8::try_from(v).ok())
            .unwrap_or(1);
        assert_eq!(app_name, "peercall");
        self.0
            .notified
            .lock()
            .unwrap()
            .push((summary, body, actions, urgency));
        42
    }

    async fn close_notification(&self, id: u32) {
        self.0.closed.lock().unwrap().push(id);
    }

    async fn get_capabilities(&self) -> Vec<String> {
        vec!["actions".into(), "body".into()]
    }
}

/// The notification daemon on `address`, recording into `seen`.
async fn fake_daemon(address: &str, seen: &Seen) -> zbus::Connection {
    zbus::connection::Builder::address(address)
        .unwrap()
        .name("org.freedesktop.Notifications")
        .unwrap()
        .serve_at("/org/freedesktop/Notifications", FakeDaemon(seen.clone()))
        .unwrap()
        .build()
        .await
        .expect("the fake notification daemon on the bus")
}

/// The person picks `action` on notification 42.
async fn picked(daemon: &zbus::Connection, action: &str) {
    daemon
        .emit_signal(
            None::<&str>,
            "/org/freedesktop/Notifications",
            "org.freedesktop.Notifications",
            "ActionInvoked",
            &(42u32, action),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_ringing_call_is_announced_on_the_desktop_and_answered_from_there() {
    let (_bus, address) = session_bus();
    let seen = Seen::default();
    let daemon = fake_daemon(&address, &seen).await;

    let notifier = Notifier::connect(Some(&address)).await.expect("connect");
    let mut actions = Box::pin(notifier.actions().await.unwrap());
    let id = notifier.incoming_call("bob").await.expect("notify");
    assert_eq!(id, 42);
    {
        let notified = seen.notified.lock().unwrap();
        let (summary, body, actions, urgency) = &notified[0];
        assert_eq!(summary, "Incoming call");
        assert_eq!(body, "bob is calling");
        assert_eq!(actions, &["accept", "Accept", "decline", "Decline"]);
        assert_eq!(*urgency, 2, "critical: it stays until answered");
    }
    // The person clicks Accept on the desktop.
    picked(&daemon, ACCEPT).await;
    let picked = tokio::time::timeout(Duration::from_secs(5), actions.next())
        .await
        .expect("the action came back")
        .unwrap();
    assert_eq!(picked, (42, ACCEPT.to_string()));
    notifier.close(42).await.unwrap();
    assert_eq!(*seen.closed.lock().unwrap(), [42]);
}

/// The window's side: told a call rings while it is in the background, it announces it once;
/// Decline picked on the desktop comes back as an answer; the ringing stopping closes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_announces_a_call_ringing_in_the_background_once_and_hears_the_answer() {
    use peercall::ui::notify::DesktopNotices;
    let (_bus, address) = session_bus();
    let seen = Seen::default();
    let daemon = fake_daemon(&address, &seen).await;
    // The window finds the session bus as desktop programs do.
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &address);
    let mut desktop =
        DesktopNotices::start(&tokio::runtime::Handle::current(), egui::Context::default());
    assert!(
        !desktop.update(Some("bob"), true),
        "in front: no notification"
    );
    assert!(
        desktop.update(Some("bob"), false),
        "behind other windows: announced"
    );
    assert!(!desktop.update(Some("bob"), false), "once");
    let notified = async {
        while seen.notified.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), notified)
        .await
        .expect("the daemon was asked");
    picked(&daemon, "decline").await;
    let answer = tokio::task::spawn_blocking(move || {
        let answer = desktop.answers.recv_timeout(Duration::from_secs(5));
        (desktop, answer)
    })
    .await
    .unwrap();
    let (mut desktop, answer) = answer;
    assert_eq!(answer, Ok(false), "Decline");
    // The declined call stops ringing (nothing left to close); another rings, then stops
    // ringing: its notification is closed.
    assert!(!desktop.update(None, false));
    assert!(desktop.update(Some("carol"), false));
    desktop.update(None, false);
    let closed = async {
        while seen.closed.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .expect("the notification was closed");
    assert_eq!(seen.notified.lock().unwrap().len(), 2);
}
