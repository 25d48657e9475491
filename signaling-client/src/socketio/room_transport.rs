//! [`SocketIoRoomSignaling`]: each dial opens a socket.io connection, enters the room named by
//! the dial, and runs [`Room`] until the call ends; hanging up says `bye` and closes the
//! connection, which is how a member leaves a room on such servers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::client::{self, Incoming};
use super::engine_io::Version;
use super::room::{Out, Room, CHAT_CHANNEL};
use crate::protocol::{ClientMessage, SignalData};
use crate::signaling::{
    Registration, Signaling, SignalingError, SignalingEvent, SignalingEvents, EVENT_QUEUE,
};
use crate::tls::TlsTrust;

/// Signals from our connection waiting for the room's task, at most.
const ROOM_QUEUE: usize = 256;
/// How long the connection stays after our `bye`.
const BYE_LINGER: Duration = Duration::from_millis(500);

pub struct SocketIoRoomSignaling {
    shared: Arc<Shared>,
    events: Mutex<Option<SignalingEvents>>,
}

struct Shared {
    base: String,
    tls: TlsTrust,
    events: mpsc::Sender<SignalingEvent>,
    room: Mutex<Option<RoomHandle>>,
}

struct RoomHandle {
    call_id: String,
    commands: mpsc::Sender<Command>,
}

enum Command {
    Local(SignalData),
    HangUp,
}

impl SocketIoRoomSignaling {
    /// `base` is the server's origin, e.g. `https://host:8443`.
    pub fn new(base: &str, tls: TlsTrust) -> Result<SocketIoRoomSignaling, SignalingError> {
        client::endpoint(base, Version::V4)?;
        let (events, rx) = mpsc::channel(EVENT_QUEUE);
        Ok(SocketIoRoomSignaling {
            shared: Arc::new(Shared {
                base: base.to_string(),
                tls,
                events,
                room: Mutex::new(None),
            }),
            events: Mutex::new(Some(rx)),
        })
    }

    fn enter(&self, room: String, call_id: String) {
        let (commands, rx) = mpsc::channel(ROOM_QUEUE);
        let previous = self
            .shared
            .room
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(RoomHandle {
                call_id: call_id.clone(),
                commands,
            });
        if let Some(previous) = previous {
            let _ = previous.commands.try_send(Command::HangUp);
        }
        tokio::spawn(run_room(self.shared.clone(), room, call_id, rx));
    }

    fn to_room(&self, call_id: &str, command: Command) {
        let room = self.shared.room.lock().unwrap_or_else(|p| p.into_inner());
        match room.as_ref() {
            Some(room) if room.call_id == call_id => {
                if room.commands.try_send(command).is_err() {
                    tracing::warn!("the room is not keeping up: a signal is dropped");
                }
            }
            _ => tracing::debug!(%call_id, "a signal for a call no longer in a room"),
        }
    }
}

#[async_trait]
impl Signaling for SocketIoRoomSignaling {
    /// Nothing to register: a room server knows nobody until they enter a room.
    async fn register(&self, id: Option<String>) -> Result<Registration, SignalingError> {
        let registration = Registration {
            id: id.unwrap_or_else(|| "me".into()),
            ice_servers: Vec::new(),
        };
        let _ = self
            .shared
            .events
            .send(SignalingEvent::Registered(registration.clone()))
            .await;
        Ok(registration)
    }

    async fn send(&self, message: ClientMessage) -> Result<(), SignalingError> {
        match message {
            ClientMessage::Call { to, call_id } => self.enter(to, call_id),
            ClientMessage::Signal { call_id, data } => self.to_room(&call_id, Command::Local(data)),
            ClientMessage::Hangup { call_id } => self.to_room(&call_id, Command::HangUp),
            // Nobody rings in a room, so there is nothing to accept or decline.
            ClientMessage::Accept { .. }
            | ClientMessage::Reject { .. }
            | ClientMessage::Register { .. } => {}
        }
        Ok(())
    }

    fn take_events(&self) -> Option<SignalingEvents> {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn chat_channel(&self) -> Option<&'static str> {
        Some(CHAT_CHANNEL)
    }
}

async fn run_room(
    shared: Arc<Shared>,
    name: String,
    call_id: String,
    mut commands: mpsc::Receiver<Command>,
) {
    let lost = |reason: String| async {
        tracing::warn!(%reason, "socket.io room server");
        let _ = shared
            .events
            .send(SignalingEvent::Disconnected { reason })
            .await;
    };
    let (outgoing, mut incoming) =
        match client::connect(&shared.base, Version::V4, shared.tls).await {
            Ok(pair) => pair,
            Err(e) => return lost(e.to_string()).await,
        };
    let mut room = Room::new(&name, &call_id);
    let mut outs = room.enter();
    loop {
        for out in outs.drain(..) {
            match out {
                Out::Emit(event, arg) => {
                    if outgoing.send((event.to_string(), vec![arg])).await.is_err() {
                        return lost("the connection to the room server closed".into()).await;
                    }
                }
                Out::Event(event) => {
                    let _ = shared.events.send(event).await;
                }
            }
        }
        if room.is_ended() {
            // socket.io servers handle an event a tick after reading it: a connection closed
            // right behind its `bye` leaves the room first, and the `bye` reaches nobody. So
            // linger a moment; dropping `outgoing` then closes the connection.
            tokio::time::sleep(BYE_LINGER).await;
            return;
        }
        outs = tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Local(data)) => room.local(data),
                Some(Command::HangUp) | None => room.hang_up(),
            },
            server = incoming.recv() => match server {
                Some(Incoming::Event { name, args }) => room.server(&name, &args),
                Some(Incoming::Connected) => Vec::new(),
                Some(Incoming::Closed(why)) => return lost(why).await,
                None => return lost("the connection to the room server closed".into()).await,
            },
        };
    }
}
