//! `MemorySignaling`: an in-process transport over the same [`Switchboard`] the server runs, for
//! testing the code above the `Signaling` trait without sockets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::presence::{Presence, PresenceWatch};
use crate::protocol::{ClientMessage, ServerMessage};
use crate::signaling::{
    Registration, Signaling, SignalingError, SignalingEvent, SignalingEvents, EVENT_QUEUE,
};
use crate::switchboard::{ClientId, Delivery, Switchboard, SwitchboardConfig};

struct Network {
    board: Switchboard,
    outboxes: HashMap<ClientId, Outbox>,
}

/// Where a client's messages go: presence to its list, the rest to its events.
struct Outbox {
    events: mpsc::Sender<SignalingEvent>,
    presence: Arc<Presence>,
}

impl Network {
    fn deliver(&mut self, deliveries: Vec<Delivery>) {
        for delivery in deliveries {
            let Some(message) = delivery.message() else {
                if let Delivery::Close(client) = delivery {
                    self.outboxes.remove(&client);
                }
                continue;
            };
            for client in self.board.recipients(&delivery) {
                self.push(client, message.clone());
            }
        }
    }

    fn push(&mut self, to: ClientId, message: ServerMessage) {
        if let Some(outbox) = self.outboxes.get(&to) {
            let Some(event) = outbox
                .presence
                .take(message)
                .and_then(SignalingEvent::from_server)
            else {
                return;
            };
            // A consumer that stopped reading loses events rather than stalling everyone.
            if outbox.events.try_send(event).is_err() {
                tracing::warn!(client = to, "memory signaling: event queue full, dropped");
            }
        }
    }
}

/// An in-process signaling server; `connect` gives clients of it.
#[derive(Clone)]
pub struct MemoryNetwork {
    inner: Arc<Mutex<Network>>,
}

impl MemoryNetwork {
    /// Must be called inside a tokio runtime: a task ends ringing calls at their timeout.
    pub fn new(config: SwitchboardConfig) -> Self {
        let tick =
            (config.ring_timeout / 4).clamp(Duration::from_millis(5), Duration::from_secs(1));
        let inner = Arc::new(Mutex::new(Network {
            board: Switchboard::new(config),
            outboxes: HashMap::new(),
        }));
        let weak: Weak<Mutex<Network>> = Arc::downgrade(&inner);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            loop {
                interval.tick().await;
                let Some(net) = weak.upgrade() else { break };
                let mut net = net.lock().unwrap_or_else(|p| p.into_inner());
                let mut out = Vec::new();
                net.board.expire(Instant::now(), &mut out);
                net.deliver(out);
            }
        });
        MemoryNetwork { inner }
    }

    pub fn connect(&self) -> MemorySignaling {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let mut net = self.lock();
        let client = net.board.connect();
        let presence = Arc::new(Presence::default());
        net.outboxes.insert(
            client,
            Outbox {
                events: tx,
                presence: presence.clone(),
            },
        );
        MemorySignaling {
            network: self.clone(),
            client,
            events: Mutex::new(Some(rx)),
            presence,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Network> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One client of a [`MemoryNetwork`]. Dropping it is a closed connection.
pub struct MemorySignaling {
    network: MemoryNetwork,
    client: ClientId,
    events: Mutex<Option<SignalingEvents>>,
    presence: Arc<Presence>,
}

impl MemorySignaling {
    fn handle(&self, message: ClientMessage) -> Vec<Delivery> {
        let mut out = Vec::new();
        let mut net = self.network.lock();
        net.board
            .handle(self.client, message, Instant::now(), &mut out);
        net.deliver(out.clone());
        out
    }
}

#[async_trait]
impl Signaling for MemorySignaling {
    async fn register(&self, id: Option<String>) -> Result<Registration, SignalingError> {
        let out = self.handle(ClientMessage::Register { id, protocol: None });
        for delivery in out {
            match delivery {
                Delivery::To(
                    to,
                    ServerMessage::Registered {
                        id, ice_servers, ..
                    },
                ) if to == self.client => {
                    return Ok(Registration { id, ice_servers });
                }
                Delivery::To(to, ServerMessage::Error { code, message, .. })
                    if to == self.client =>
                {
                    return Err(SignalingError::Refused { code, message });
                }
                _ => {}
            }
        }
        Err(SignalingError::Protocol("no answer to register".into()))
    }

    async fn send(&self, message: ClientMessage) -> Result<(), SignalingError> {
        self.handle(message);
        Ok(())
    }

    fn take_events(&self) -> Option<SignalingEvents> {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn presence(&self) -> Option<PresenceWatch> {
        Some(self.presence.watch())
    }
}

impl Drop for MemorySignaling {
    fn drop(&mut self) {
        let mut net = self.network.lock();
        net.outboxes.remove(&self.client);
        let mut out = Vec::new();
        net.board.disconnect(self.client, &mut out);
        net.deliver(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{HangupReason, SignalData};

    #[tokio::test]
    async fn two_clients_call_through_memory() {
        let net = MemoryNetwork::new(SwitchboardConfig::default());
        let alice = net.connect();
        let bob = net.connect();
        let mut alice_events = alice.take_events().unwrap();
        let mut bob_events = bob.take_events().unwrap();
        assert!(alice.take_events().is_none());
        assert_eq!(
            alice.register(Some("alice".into())).await.unwrap().id,
            "alice"
        );
        bob.register(Some("bob".into())).await.unwrap();
        let call_id = alice.dial("bob").await.unwrap();
        // bob: registered, incoming (who is online goes to the presence list, not here)
        assert_eq!(*bob.presence().unwrap().borrow(), ["alice"]);
        assert_eq!(*alice.presence().unwrap().borrow(), ["bob"]);
        let mut incoming = None;
        for _ in 0..2 {
            if let SignalingEvent::Incoming { from, call_id, .. } = bob_events.recv().await.unwrap()
            {
                incoming = Some((from, call_id));
            }
        }
        assert_eq!(incoming, Some(("alice".to_string(), call_id.clone())));
        bob.accept(&call_id).await.unwrap();
        bob.signal(&call_id, SignalData::Candidate { candidate: None })
            .await
            .unwrap();
        // alice: registered, then the call.
        let mut seen = Vec::new();
        while seen.len() < 3 {
            seen.push(alice_events.recv().await.unwrap());
        }
        assert_eq!(
            seen[1..],
            [
                SignalingEvent::Accepted {
                    from: "bob".into(),
                    call_id: call_id.clone()
                },
                SignalingEvent::Signal {
                    from: "bob".into(),
                    call_id: call_id.clone(),
                    data: SignalData::Candidate { candidate: None }
                }
            ]
        );
        drop(bob);
        let mut hangup = None;
        while hangup.is_none() {
            if let SignalingEvent::Hangup { reason, .. } = alice_events.recv().await.unwrap() {
                hangup = reason;
            }
        }
        assert_eq!(hangup, Some(HangupReason::Gone));
    }

    #[tokio::test]
    async fn memory_ringing_times_out() {
        let net = MemoryNetwork::new(SwitchboardConfig {
            ring_timeout: Duration::from_millis(50),
            ..Default::default()
        });
        let alice = net.connect();
        let bob = net.connect();
        let mut alice_events = alice.take_events().unwrap();
        alice.register(Some("alice".into())).await.unwrap();
        bob.register(Some("bob".into())).await.unwrap();
        alice.dial("bob").await.unwrap();
        let reason = loop {
            if let SignalingEvent::Hangup { reason, .. } = alice_events.recv().await.unwrap() {
                break reason;
            }
        };
        assert_eq!(reason, Some(HangupReason::Timeout));
    }
}
