//! No server at all: the two people copy one line each way (a chat, a mail, a note). The
//! caller's offer and the callee's answer travel as [`blob`] lines with their candidates
//! written in, since nothing can trickle. Both sides must reach each other directly (a LAN, or
//! addresses a STUN server finds). See `docs/transports.md`.
//!
//! Commands in (trait calls, and [`ManualSignaling::paste`] for what the person pastes); events
//! out; the line to copy is published on [`ManualSignaling::lines`].

pub mod blob;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};

use crate::call_task::own_registration;
use crate::gathered::{Gathered, GATHER_WAIT};
use crate::ids::random_call_id;
use crate::protocol::{ClientMessage, SdpKind, SessionDescription, SignalData};
use crate::signaling::{
    Registration, Signaling, SignalingError, SignalingEvent, SignalingEvents, EVENT_QUEUE,
};
pub use blob::BlobError;

/// Who the other side is, to the call engine: a pasted line has no name on it.
pub const OTHER_SIDE: &str = "pasted";

/// Why a pasted line was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasteError {
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("a call is already being set up or running: hang up first")]
    Busy,
    #[error("that is an answer, but no offer of ours waits for one (dial first, and copy our line over)")]
    NoOfferWaiting,
    #[error("that answer was pasted already")]
    AlreadyAnswered,
    #[error("the call engine is not listening")]
    Closed,
}

pub struct ManualSignaling {
    shared: Arc<Shared>,
    events: Mutex<Option<SignalingEvents>>,
}

struct Shared {
    events: mpsc::Sender<SignalingEvent>,
    call: Mutex<Option<Call>>,
    /// The line for the person to copy now, if any.
    line: watch::Sender<Option<String>>,
}

#[derive(Debug)]
struct Call {
    id: String,
    /// The other side's name, as the engine knows it.
    with: String,
    role: Role,
    ours: Gathered,
    /// Callee: the pasted offer, handed to the engine once it accepts.
    offer: Option<SessionDescription>,
    /// Caller: the answer was pasted.
    answered: bool,
    /// A timer runs to publish our line once `GATHER_WAIT` is over.
    timer: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Caller,
    Callee,
}

impl Default for ManualSignaling {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualSignaling {
    pub fn new() -> ManualSignaling {
        let (events, rx) = mpsc::channel(EVENT_QUEUE);
        ManualSignaling {
            shared: Arc::new(Shared {
                events,
                call: Mutex::new(None),
                line: watch::channel(None).0,
            }),
            events: Mutex::new(Some(rx)),
        }
    }

    /// The line to copy to the other side: our offer once we dialled, our answer once we took
    /// a pasted offer; `None` between calls.
    pub fn lines(&self) -> watch::Receiver<Option<String>> {
        self.shared.line.subscribe()
    }

    /// What the person pasted: the other side's offer (it rings here) or its answer to ours.
    pub fn paste(&self, text: &str) -> Result<(), PasteError> {
        let description = blob::decode(text)?;
        let event = {
            let mut call = self.shared.lock();
            match description.kind {
                SdpKind::Offer => {
                    if call.is_some() {
                        return Err(PasteError::Busy);
                    }
                    let id = random_call_id();
                    *call = Some(Call {
                        id: id.clone(),
                        with: OTHER_SIDE.into(),
                        role: Role::Callee,
                        ours: Gathered::default(),
                        offer: Some(description),
                        answered: false,
                        timer: false,
                    });
                    SignalingEvent::Incoming {
                        from: OTHER_SIDE.into(),
                        call_id: id,
                        room: None,
                    }
                }
                _ => {
                    let Some(c) = call.as_mut().filter(|c| c.role == Role::Caller) else {
                        return Err(PasteError::NoOfferWaiting);
                    };
                    if !c.ours.is_sent() {
                        return Err(PasteError::NoOfferWaiting);
                    }
                    if c.answered {
                        return Err(PasteError::AlreadyAnswered);
                    }
                    c.answered = true;
                    SignalingEvent::Signal {
                        from: c.with.clone(),
                        call_id: c.id.clone(),
                        data: SignalData::Sdp { sdp: description },
                    }
                }
            }
        };
        self.shared.events.try_send(event).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => PasteError::Busy,
            mpsc::error::TrySendError::Closed(_) => PasteError::Closed,
        })
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Call>> {
        self.call.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn emit(&self, event: SignalingEvent) {
        let _ = self.events.send(event).await;
    }

    /// Publishes our line once it is ready; if it still waits for candidates, makes sure a
    /// timer will look again.
    fn publish_when_ready(self: &Arc<Self>, call_id: &str) {
        let mut guard = self.lock();
        let Some(call) = guard.as_mut().filter(|c| c.id == call_id) else {
            return;
        };
        if let Some(description) = call.ours.take_ready(Instant::now()) {
            self.line.send_replace(Some(blob::encode(&description)));
        } else if !call.timer && !call.ours.is_sent() {
            call.timer = true;
            let shared = self.clone();
            let call_id = call_id.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(GATHER_WAIT + Duration::from_millis(10)).await;
                shared.publish_when_ready(&call_id);
            });
        }
    }

    fn local(self: &Arc<Self>, call_id: &str, data: SignalData) {
        {
            let mut guard = self.lock();
            let Some(call) = guard.as_mut().filter(|c| c.id == call_id) else {
                return;
            };
            match data {
                SignalData::Sdp { sdp } => call.ours.description(sdp),
                SignalData::Candidate { candidate } => {
                    if call.ours.candidate(candidate).is_some() {
                        tracing::debug!("a candidate gathered after our line went: dropped");
                    }
                }
            }
        }
        self.publish_when_ready(call_id);
    }

    fn end(&self, call_id: &str) {
        let mut call = self.lock();
        if call.as_ref().is_some_and(|c| c.id == call_id) {
            *call = None;
            self.line.send_replace(None);
        }
    }
}

#[async_trait]
impl Signaling for ManualSignaling {
    /// Nothing to register with: the name is only ours.
    async fn register(&self, id: Option<String>) -> Result<Registration, SignalingError> {
        Ok(own_registration(id, &self.shared.events).await)
    }

    async fn send(&self, message: ClientMessage) -> Result<(), SignalingError> {
        match message {
            ClientMessage::Call { to, call_id, .. } => {
                *self.shared.lock() = Some(Call {
                    id: call_id.clone(),
                    with: to.clone(),
                    role: Role::Caller,
                    ours: Gathered::default(),
                    offer: None,
                    answered: false,
                    timer: false,
                });
                self.shared.line.send_replace(None);
                // Nobody rings: the offer is made now, and the answer comes when pasted.
                self.shared
                    .emit(SignalingEvent::Accepted { from: to, call_id })
                    .await;
            }
            ClientMessage::Accept { call_id } => {
                let offer = {
                    let mut call = self.shared.lock();
                    call.as_mut()
                        .filter(|c| c.id == call_id)
                        .and_then(|c| c.offer.take().map(|offer| (c.with.clone(), offer)))
                };
                if let Some((from, sdp)) = offer {
                    self.shared
                        .emit(SignalingEvent::Signal {
                            from,
                            call_id,
                            data: SignalData::Sdp { sdp },
                        })
                        .await;
                }
            }
            ClientMessage::Signal { call_id, data } => self.shared.local(&call_id, data),
            ClientMessage::Reject { call_id, .. } | ClientMessage::Hangup { call_id } => {
                self.shared.end(&call_id)
            }
            ClientMessage::Register { .. }
            | ClientMessage::Resume { .. }
            | ClientMessage::RefreshIce => {}
            ClientMessage::Join { .. } | ClientMessage::Leave { .. } => {
                return Err(SignalingError::Misconfigured(
                    "copy-paste signaling has no rooms: call one person".into(),
                ))
            }
        }
        Ok(())
    }

    fn take_events(&self) -> Option<SignalingEvents> {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}
