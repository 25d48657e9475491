//! The server's shared state: the protocol's [`Switchboard`] plus one outbox per connection.
//! Connections hand messages in; the hub carries out the deliveries, serialising each message once
//! however many receive it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use signaling_client::switchboard::{ClientId, Delivery, Switchboard, SwitchboardConfig};
use signaling_client::{ClientMessage, ServerMessage};
use tokio::sync::watch;

use super::limits::Limits;
use super::outbox::{outbox, Outbox, OutboxSender};

/// How often the ring timeouts are checked at the least.
const TICK: Duration = Duration::from_millis(250);

struct State {
    board: Switchboard,
    outboxes: HashMap<ClientId, OutboxSender>,
}

pub struct Hub {
    state: Mutex<State>,
    shutdown: watch::Sender<bool>,
    limits: Limits,
}

impl Hub {
    pub fn new(config: SwitchboardConfig, limits: Limits) -> Arc<Hub> {
        Arc::new(Hub {
            state: Mutex::new(State {
                board: Switchboard::new(config),
                outboxes: HashMap::new(),
            }),
            shutdown: watch::channel(false).0,
            limits,
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not take the whole server down with a poisoned lock.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new connection: its ID and the queue of text frames to write to it.
    pub fn join(&self) -> (ClientId, Outbox) {
        let (tx, rx) = outbox();
        let mut state = self.lock();
        let client = state.board.connect();
        state.outboxes.insert(client, tx);
        (client, rx)
    }

    pub fn handle(&self, client: ClientId, message: ClientMessage) {
        let mut out = Vec::new();
        let mut state = self.lock();
        state
            .board
            .handle(client, message, Instant::now(), &mut out);
        state.deliver(out);
    }

    /// Sends to one connection through its outbox, so it stays in order with everything else.
    pub fn send_to(&self, client: ClientId, message: ServerMessage) {
        self.lock().deliver(vec![Delivery::To(client, message)]);
    }

    pub fn leave(&self, client: ClientId) {
        let mut out = Vec::new();
        let mut state = self.lock();
        state.outboxes.remove(&client);
        state.board.disconnect(client, &mut out);
        // A server shutting down closes everyone: that is not a peer going away, and telling
        // the others so (`gone`) would end calls that go on peer to peer.
        if !*self.shutdown.borrow() {
            state.deliver(out);
        }
    }

    /// Open connections, registered or not.
    pub fn connections(&self) -> usize {
        self.lock().outboxes.len()
    }

    /// Whether this connection has registered an ID.
    pub fn is_registered(&self, client: ClientId) -> bool {
        self.lock().board.peer_id(client).is_some()
    }

    /// Registered peers, live calls, rooms.
    pub fn counts(&self) -> (usize, usize, usize) {
        let state = self.lock();
        (
            state.board.registered_count(),
            state.board.live_calls(),
            state.board.room_count(),
        )
    }

    /// Connections watch this to close when the server stops.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    /// Ends calls that ring too long; runs until the server stops.
    pub async fn run_ring_timeouts(self: Arc<Self>) {
        let mut stop = self.shutdown_signal();
        loop {
            // Wake at the next deadline, and at least every TICK since new calls may ring.
            let next = self.lock().board.next_deadline();
            let wait = next.map_or(TICK, |t| {
                t.saturating_duration_since(Instant::now()).min(TICK)
            });
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            let mut out = Vec::new();
            let mut state = self.lock();
            state.board.expire(Instant::now(), &mut out);
            state.deliver(out);
        }
    }
}

impl State {
    fn deliver(&mut self, deliveries: Vec<Delivery>) {
        let mut deliveries = deliveries;
        // Dropping a slow client delivers more (presence, `gone` to its calls): until done.
        while !deliveries.is_empty() {
            let mut slow = Vec::new();
            for delivery in deliveries {
                let Some(message) = delivery.message() else {
                    if let Delivery::Close(client) = delivery {
                        // Taken over by a newer connection: dropping its outbox closes it.
                        self.outboxes.remove(&client);
                    }
                    continue;
                };
                // Serialised once, however many receive it (presence goes to everyone).
                let text = Utf8Bytes::from(message.to_json());
                for client in self.board.recipients(&delivery) {
                    if !self.push(client, text.clone()) {
                        slow.push(client);
                    }
                }
            }
            deliveries = Vec::new();
            for client in slow {
                // It leaves the switchboard now, whatever its socket is doing: the others hear
                // it is gone, and nothing more is queued for it.
                self.board.disconnect(client, &mut deliveries);
            }
        }
    }

    /// Queues `text` for `client`; false when it could not take it (too slow, about to go).
    fn push(&mut self, client: ClientId, text: Utf8Bytes) -> bool {
        let Some(outbox) = self.outboxes.get(&client) else {
            return true;
        };
        if outbox.push(text).is_err() {
            // Too slow to keep up: dropping the sender closes the connection (1008).
            tracing::warn!(client, "connection too slow, closing it");
            self.outboxes.remove(&client);
            return false;
        }
        true
    }
}
