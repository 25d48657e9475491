//! [`SocketIoRoomSignaling`]: each dial opens a socket.io connection, enters the room named by
//! the dial, and runs [`Room`] until the call ends; hanging up says `bye` and closes the
//! connection, which is how a member leaves a room on such servers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::client::{self, Incoming};
use super::deliver;
use super::engine_io::Version;
use super::room::{Room, CHAT_CHANNEL};
use crate::call_task::{own_registration, CallCommand, CurrentCall};
use crate::protocol::ClientMessage;
use crate::signaling::{
    Registration, Signaling, SignalingError, SignalingEvent, SignalingEvents, EVENT_QUEUE,
};
use crate::tls::TlsTrust;

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
    /// The call in a room: one at a time.
    room: CurrentCall,
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
                room: CurrentCall::default(),
            }),
            events: Mutex::new(Some(rx)),
        })
    }
}

#[async_trait]
impl Signaling for SocketIoRoomSignaling {
    /// Nothing to register: a room server knows nobody until they enter a room.
    async fn register(&self, id: Option<String>) -> Result<Registration, SignalingError> {
        Ok(own_registration(id, &self.shared.events).await)
    }

    async fn send(&self, message: ClientMessage) -> Result<(), SignalingError> {
        self.shared.room.route(message, |room, call_id, commands| {
            tokio::spawn(run_room(self.shared.clone(), room, call_id, commands));
        })
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
    mut commands: mpsc::Receiver<CallCommand>,
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
        if deliver(outs, &outgoing, &shared.events, None, |_| {})
            .await
            .is_err()
        {
            return lost("the connection to the room server closed".into()).await;
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
                Some(CallCommand::Local(data)) => room.local(data),
                Some(CallCommand::HangUp) | None => room.hang_up(),
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
