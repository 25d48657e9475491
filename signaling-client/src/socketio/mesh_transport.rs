//! [`SocketIoMeshSignaling`]: socket.io mesh rooms (Engine.IO v4). One connection per visit to a
//! room: `join` opens it and runs [`Mesh`] until `leave` drops it (the server then tells the
//! others `leave`), or the server goes.

use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::client::{self, Incoming, Outgoing};
use super::engine_io::Version;
use super::mesh::Mesh;
use super::{deliver, CommandSlot};
use crate::call_task::own_registration;
use crate::ids::random_peer_id;
use crate::protocol::{ClientMessage, SignalData};
use crate::signaling::{
    Registration, Signaling, SignalingError, SignalingEvent, SignalingEvents, EVENT_QUEUE,
};
use crate::tls::TlsTrust;

/// Commands waiting for the room's task, at most.
const COMMAND_QUEUE: usize = 256;

pub struct SocketIoMeshSignaling {
    base: String,
    tls: TlsTrust,
    events_tx: mpsc::Sender<SignalingEvent>,
    events: Mutex<Option<SignalingEvents>>,
    /// Our name in rooms, once registered.
    me: Mutex<Option<String>>,
    /// The task of the room we are in.
    commands: CommandSlot<Command>,
}

enum Command {
    Dial {
        to: String,
        call_id: String,
        room: Option<String>,
    },
    Local {
        call_id: String,
        data: SignalData,
    },
    HangUp {
        call_id: String,
    },
}

impl SocketIoMeshSignaling {
    /// `base` is the server's origin (e.g. `http://host:3000`).
    pub fn new(base: &str, tls: TlsTrust) -> Result<SocketIoMeshSignaling, SignalingError> {
        client::endpoint(base, Version::V4)?;
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        Ok(SocketIoMeshSignaling {
            base: base.to_string(),
            tls,
            events_tx,
            events: Mutex::new(Some(events)),
            me: Mutex::new(None),
            commands: CommandSlot::default(),
        })
    }

    fn command(&self, command: Command) -> Result<(), SignalingError> {
        self.commands.send(command)
    }

    async fn join(&self, room: &str) -> Result<(), SignalingError> {
        let me = self
            .me
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(SignalingError::NotConnected)?;
        let (outgoing, incoming) = client::connect(&self.base, Version::V4, self.tls).await?;
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let mut mesh = Mesh::new(&me);
        let first = mesh.join(room);
        tokio::spawn(run(
            mesh,
            first,
            outgoing,
            incoming,
            command_rx,
            self.events_tx.clone(),
        ));
        self.commands.set(commands);
        Ok(())
    }
}

#[async_trait]
impl Signaling for SocketIoMeshSignaling {
    /// Nothing to register with: our name is what we give in each room.
    async fn register(&self, id: Option<String>) -> Result<Registration, SignalingError> {
        let id = id.unwrap_or_else(random_peer_id);
        let registration = own_registration(Some(id), &self.events_tx).await;
        *self.me.lock().unwrap_or_else(|p| p.into_inner()) = Some(registration.id.clone());
        Ok(registration)
    }

    async fn send(&self, message: ClientMessage) -> Result<(), SignalingError> {
        match message {
            ClientMessage::Join { room } => self.join(&room).await,
            // Leaving is closing the connection: the server tells the others.
            ClientMessage::Leave { .. } => {
                self.commands.clear();
                Ok(())
            }
            ClientMessage::Call { to, call_id, room } => {
                self.command(Command::Dial { to, call_id, room })
            }
            ClientMessage::Signal { call_id, data } => {
                self.command(Command::Local { call_id, data })
            }
            ClientMessage::Hangup { call_id } => self.command(Command::HangUp { call_id }),
            // Legs are taken as they come; there is no ringing to answer.
            ClientMessage::Accept { .. }
            | ClientMessage::Reject { .. }
            | ClientMessage::Register { .. }
            | ClientMessage::Resume { .. }
            | ClientMessage::RefreshIce => Ok(()),
        }
    }

    fn take_events(&self) -> Option<SignalingEvents> {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

async fn run(
    mut mesh: Mesh,
    first: Vec<super::Out>,
    outgoing: Outgoing,
    mut incoming: mpsc::Receiver<Incoming>,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<SignalingEvent>,
) {
    let mut outs = first;
    loop {
        if deliver(outs, &outgoing, &events, None, |_| {})
            .await
            .is_err()
        {
            let reason = "the connection to the mesh server closed".to_string();
            let _ = events.send(SignalingEvent::Disconnected { reason }).await;
            return;
        }
        outs = tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Dial { to, call_id, room }) => mesh.dial(&to, &call_id, room.as_deref()),
                Some(Command::Local { call_id, data }) => mesh.local(&call_id, data),
                Some(Command::HangUp { call_id }) => {
                    mesh.hang_up(&call_id);
                    Vec::new()
                }
                // We left: dropping the connection says so.
                None => return,
            },
            server = incoming.recv() => match server {
                Some(Incoming::Event { name, args }) => mesh.server(&name, &args),
                Some(Incoming::Connected) => Vec::new(),
                Some(Incoming::Closed(reason)) => {
                    let _ = events.send(SignalingEvent::Disconnected { reason }).await;
                    return;
                }
                None => return,
            },
        };
    }
}
