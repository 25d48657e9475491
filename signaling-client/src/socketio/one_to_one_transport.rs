//! [`SocketIo1v1Signaling`]: one socket.io (Engine.IO v3) connection for the session: joins the
//! room under our account on `register`, then runs [`Lobby`] — presence, rings, replies and
//! call setup — until the connection ends.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::client::{self, Incoming, Outgoing};
use super::engine_io::Version;
use super::one_to_one::Lobby;
use super::{deliver, CommandSlot};
use crate::ids::random_peer_id;
use crate::presence::{Presence, PresenceWatch};
use crate::protocol::{ClientMessage, RejectReason, SignalData};
use crate::signaling::{
    Registration, Signaling, SignalingError, SignalingEvent, SignalingEvents, EVENT_QUEUE,
};
use crate::tls::TlsTrust;

/// Commands waiting for the lobby's task, at most.
const COMMAND_QUEUE: usize = 256;
/// Joining the room, at most.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a description waiting for its candidates is looked at.
const GATHER_TICK: Duration = Duration::from_millis(100);

pub struct SocketIo1v1Signaling {
    base: String,
    room: String,
    tls: TlsTrust,
    events_tx: mpsc::Sender<SignalingEvent>,
    events: Mutex<Option<SignalingEvents>>,
    commands: CommandSlot<Command>,
    presence: Arc<Presence>,
}

enum Command {
    Dial {
        to: String,
        call_id: String,
    },
    Answer {
        call_id: String,
        refuse: Option<RejectReason>,
    },
    Local {
        call_id: String,
        data: SignalData,
    },
    HangUp {
        call_id: String,
    },
}

impl SocketIo1v1Signaling {
    /// `base` is the server's origin (e.g. `http://host:3000`); `room` the room everyone joins.
    pub fn new(
        base: &str,
        room: &str,
        tls: TlsTrust,
    ) -> Result<SocketIo1v1Signaling, SignalingError> {
        client::endpoint(base, Version::V3)?;
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        Ok(SocketIo1v1Signaling {
            base: base.to_string(),
            room: room.to_string(),
            tls,
            events_tx,
            events: Mutex::new(Some(events)),
            commands: CommandSlot::default(),
            presence: Arc::new(Presence::default()),
        })
    }

    fn command(&self, command: Command) -> Result<(), SignalingError> {
        self.commands.send(command)
    }
}

#[async_trait]
impl Signaling for SocketIo1v1Signaling {
    /// Joins the room as `id` (a random account when `None`).
    async fn register(&self, id: Option<String>) -> Result<Registration, SignalingError> {
        let account = id.unwrap_or_else(random_peer_id);
        let (outgoing, incoming) = client::connect(&self.base, Version::V3, self.tls).await?;
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let (registered_tx, registered) = oneshot::channel();
        let lobby = Lobby::new(&self.room, &account);
        tokio::spawn(run(
            lobby,
            outgoing,
            incoming,
            command_rx,
            self.events_tx.clone(),
            self.presence.clone(),
            registered_tx,
        ));
        self.commands.set(commands);
        match tokio::time::timeout(JOIN_TIMEOUT, registered).await {
            Ok(Ok(registration)) => Ok(registration),
            _ => Err(SignalingError::Unreachable {
                url: self.base.clone(),
                reason: format!(
                    "joined no room: the server never listed {account:?} in room {:?}",
                    self.room
                ),
            }),
        }
    }

    async fn send(&self, message: ClientMessage) -> Result<(), SignalingError> {
        self.command(match message {
            ClientMessage::Call { to, call_id, .. } => Command::Dial { to, call_id },
            ClientMessage::Accept { call_id } => Command::Answer {
                call_id,
                refuse: None,
            },
            ClientMessage::Reject { call_id, reason } => Command::Answer {
                call_id,
                refuse: Some(reason),
            },
            ClientMessage::Signal { call_id, data } => Command::Local { call_id, data },
            ClientMessage::Hangup { call_id } => Command::HangUp { call_id },
            ClientMessage::Register { .. }
            | ClientMessage::Resume { .. }
            | ClientMessage::RefreshIce => return Ok(()),
            ClientMessage::Join { .. } | ClientMessage::Leave { .. } => {
                return Err(crate::call_task::no_rooms())
            }
        })
    }

    fn take_events(&self) -> Option<SignalingEvents> {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn presence(&self) -> Option<PresenceWatch> {
        Some(self.presence.watch())
    }
}

async fn run(
    mut lobby: Lobby,
    outgoing: Outgoing,
    mut incoming: mpsc::Receiver<Incoming>,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<SignalingEvent>,
    presence: Arc<Presence>,
    registered: oneshot::Sender<Registration>,
) {
    let mut registered = Some(registered);
    let mut outs = lobby.enter();
    loop {
        let told_registered = |event: &SignalingEvent| {
            if let SignalingEvent::Registered(registration) = event {
                if let Some(tx) = registered.take() {
                    let _ = tx.send(registration.clone());
                }
            }
        };
        if deliver(outs, &outgoing, &events, Some(&presence), told_registered)
            .await
            .is_err()
        {
            let reason = "the connection to the 1v1 server closed".to_string();
            let _ = events.send(SignalingEvent::Disconnected { reason }).await;
            return;
        }
        let tick = async {
            if lobby.waiting() {
                tokio::time::sleep(GATHER_TICK).await
            } else {
                std::future::pending().await
            }
        };
        outs = tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Dial { to, call_id }) => lobby.dial(&to, &call_id),
                Some(Command::Answer { call_id, refuse }) => lobby.answer(&call_id, refuse),
                Some(Command::Local { call_id, data }) => lobby.local(&call_id, data, Instant::now()),
                Some(Command::HangUp { call_id }) => lobby.hang_up(&call_id),
                None => return,
            },
            server = incoming.recv() => match server {
                Some(Incoming::Event { name, args }) => lobby.server(&name, &args, Instant::now()),
                Some(Incoming::Connected) => Vec::new(),
                Some(Incoming::Closed(reason)) => {
                    let _ = events.send(SignalingEvent::Disconnected { reason }).await;
                    return;
                }
                None => return,
            },
            () = tick => lobby.tick(Instant::now()),
        };
    }
}
