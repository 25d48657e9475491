//! Desktop notifications, the freedesktop way (`org.freedesktop.Notifications` on the D-Bus
//! session bus): a call ringing while the window is in the background shows "bob is calling"
//! with Accept and Decline, where the desktop supports actions. The window decides when
//! ([`should_notify`]); the backend's task owns the bus connection ([`Notifier`]).

use futures_util::StreamExt;
use std::collections::HashMap;

const DESTINATION: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";
const INTERFACE: &str = "org.freedesktop.Notifications";

/// Action keys on a ringing call's notification.
pub const ACCEPT: &str = "accept";
pub const DECLINE: &str = "decline";

/// A call rings and nobody is looking at the window: say so on the desktop.
pub fn should_notify(ringing: bool, window_focused: bool) -> bool {
    ringing && !window_focused
}

pub struct Notifier {
    connection: zbus::Connection,
}

impl Notifier {
    /// Connects to the session bus (`address`, or `$DBUS_SESSION_BUS_ADDRESS`).
    pub async fn connect(address: Option<&str>) -> zbus::Result<Notifier> {
        let connection = match address {
            Some(address) => zbus::connection::Builder::address(address)?.build().await?,
            None => zbus::Connection::session().await?,
        };
        Ok(Notifier { connection })
    }

    /// Shows that `peer` is calling, with Accept and Decline; returns the notification's ID.
    pub async fn incoming_call(&self, peer: &str) -> zbus::Result<u32> {
        let mut hints: HashMap<&str, zbus::zvariant::Value<'_>> = HashMap::new();
        // Critical: it stays until answered, and shows over full-screen windows.
        hints.insert("urgency", zbus::zvariant::Value::U8(2));
        hints.insert("category", zbus::zvariant::Value::from("call.incoming"));
        let actions = [ACCEPT, "Accept", DECLINE, "Decline"];
        let body = (
            "peercall",
            0u32,
            "call-start",
            "Incoming call",
            format!("{peer} is calling"),
            &actions[..],
            hints,
            0i32,
        );
        let reply = self
            .connection
            .call_method(Some(DESTINATION), PATH, Some(INTERFACE), "Notify", &body)
            .await?;
        reply.body().deserialize::<u32>()
    }

    /// Takes notification `id` away (the call was answered here, or stopped ringing).
    pub async fn close(&self, id: u32) -> zbus::Result<()> {
        self.connection
            .call_method(
                Some(DESTINATION),
                PATH,
                Some(INTERFACE),
                "CloseNotification",
                &(id,),
            )
            .await?;
        Ok(())
    }

    /// The actions people pick on notifications: (notification ID, action key).
    pub async fn actions(
        &self,
    ) -> zbus::Result<impl futures_util::Stream<Item = (u32, String)> + use<>> {
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(INTERFACE)?
            .member("ActionInvoked")?
            .build();
        let stream = zbus::MessageStream::for_match_rule(rule, &self.connection, Some(16)).await?;
        Ok(stream.filter_map(|message| async move {
            message.ok()?.body().deserialize::<(u32, String)>().ok()
        }))
    }
}

/// The window's side of desktop notifications: told every frame what rings, it announces a call
/// ringing behind other windows and takes the announcement away when the ringing stops; what
/// the person picks on it comes back on `answers` (true: accept), waking the window.
pub struct DesktopNotices {
    commands: tokio::sync::mpsc::Sender<Option<String>>,
    pub answers: std::sync::mpsc::Receiver<bool>,
    /// Whose call is announced now.
    shown: Option<String>,
}

impl DesktopNotices {
    pub fn start(runtime: &tokio::runtime::Handle, wake: egui::Context) -> DesktopNotices {
        let (commands, rx) = tokio::sync::mpsc::channel(8);
        let (answers_tx, answers) = std::sync::mpsc::channel();
        runtime.spawn(announce(rx, answers_tx, wake));
        DesktopNotices {
            commands,
            answers,
            shown: None,
        }
    }

    /// Returns true when a call was just announced (the window then asks for attention too).
    pub fn update(&mut self, ringing: Option<&str>, window_focused: bool) -> bool {
        match (&self.shown, ringing) {
            (None, Some(peer)) if should_notify(true, window_focused) => {
                self.shown = Some(peer.to_string());
                let _ = self.commands.try_send(Some(peer.to_string()));
                true
            }
            (Some(_), None) => {
                self.shown = None;
                let _ = self.commands.try_send(None);
                false
            }
            _ => false,
        }
    }
}

type Actions = std::pin::Pin<Box<dyn futures_util::Stream<Item = (u32, String)> + Send>>;

/// Owns the bus connection (made when first needed): shows, closes, and hears the actions.
async fn announce(
    mut commands: tokio::sync::mpsc::Receiver<Option<String>>,
    answers: std::sync::mpsc::Sender<bool>,
    wake: egui::Context,
) {
    let mut bus: Option<(Notifier, Actions)> = None;
    let mut current: Option<u32> = None;
    loop {
        let action = async {
            match bus.as_mut() {
                Some((_, actions)) => actions.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            command = commands.recv() => match command {
                None => return,
                Some(Some(peer)) => {
                    if bus.is_none() {
                        bus = connect().await;
                    }
                    if let Some((notifier, _)) = &bus {
                        match notifier.incoming_call(&peer).await {
                            Ok(id) => current = Some(id),
                            Err(e) => tracing::info!(error = %e, "no desktop notification"),
                        }
                    }
                }
                Some(None) => {
                    if let (Some(id), Some((notifier, _))) = (current.take(), &bus) {
                        let _ = notifier.close(id).await;
                    }
                }
            },
            Some((id, key)) = action => {
                if current == Some(id) {
                    current = None;
                    let _ = answers.send(key == ACCEPT);
                    wake.request_repaint();
                }
            }
        }
    }
}

async fn connect() -> Option<(Notifier, Actions)> {
    let notifier = match Notifier::connect(None).await {
        Ok(n) => n,
        Err(e) => {
            tracing::info!(error = %e, "no session bus: calls are not announced on the desktop");
            return None;
        }
    };
    let actions: Actions = match notifier.actions().await {
        Ok(a) => Box::pin(a),
        Err(e) => {
            tracing::info!(error = %e, "desktop notification actions unavailable");
            Box::pin(futures_util::stream::pending())
        }
    };
    Some((notifier, actions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_call_ringing_behind_other_windows_is_announced() {
        assert!(should_notify(true, false));
        assert!(!should_notify(true, true));
        assert!(!should_notify(false, false));
    }
}
