//! Who else is online on the server. The transport that hears it keeps it here; whoever shows it
//! (the window's list of people to call) watches it. It is no business of the call engine, so it
//! never travels with the [`crate::SignalingEvent`]s.

use tokio::sync::watch;

use crate::protocol::ServerMessage;

/// Names kept at most: a server that lists more is cut short here, not in our memory.
const MAX_LISTED: usize = 10_000;

/// What a reader holds: the others online now, in the server's order.
pub type PresenceWatch = watch::Receiver<Vec<String>>;

/// The writing side, owned by one transport.
#[derive(Debug)]
pub struct Presence(watch::Sender<Vec<String>>);

impl Default for Presence {
    fn default() -> Self {
        Presence(watch::channel(Vec::new()).0)
    }
}

impl Presence {
    pub fn watch(&self) -> PresenceWatch {
        self.0.subscribe()
    }

    /// The full list, as after registering.
    pub fn replace(&self, mut peers: Vec<String>) {
        peers.truncate(MAX_LISTED);
        self.0.send_replace(peers);
    }

    pub fn joined(&self, id: String) {
        self.0.send_if_modified(|peers| {
            let new = peers.len() < MAX_LISTED && !peers.contains(&id);
            if new {
                peers.push(id);
            }
            new
        });
    }

    pub fn left(&self, id: &str) {
        self.0.send_if_modified(|peers| {
            let before = peers.len();
            peers.retain(|p| p != id);
            peers.len() != before
        });
    }

    /// Nobody is known to be online (the server is gone).
    pub fn clear(&self) {
        self.replace(Vec::new());
    }

    /// Takes in a presence message from a peercall server; any other message comes back.
    pub fn take(&self, message: ServerMessage) -> Option<ServerMessage> {
        match message {
            ServerMessage::Peers { peers } => self.replace(peers),
            ServerMessage::PeerJoined { id } => self.joined(id),
            ServerMessage::PeerLeft { id } => self.left(&id),
            other => return Some(other),
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_messages_are_folded_into_one_list_and_others_pass() {
        let presence = Presence::default();
        let watch = presence.watch();
        let peers = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(presence
            .take(ServerMessage::Peers {
                peers: peers(&["bob", "carol"])
            })
            .is_none());
        presence.take(ServerMessage::PeerJoined { id: "dave".into() });
        presence.take(ServerMessage::PeerJoined { id: "bob".into() });
        presence.take(ServerMessage::PeerLeft { id: "carol".into() });
        assert_eq!(*watch.borrow(), peers(&["bob", "dave"]));
        let other = ServerMessage::MemberJoined {
            room: "r".into(),
            id: "x".into(),
        };
        assert_eq!(presence.take(other.clone()), Some(other));
        presence.clear();
        assert!(watch.borrow().is_empty());
    }
}
