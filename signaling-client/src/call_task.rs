//! What the transports without accounts share (call codes, socket.io rooms, manual): a
//! registration that is only our own name, and — for those that run a task per call — the
//! handle on the current call's task, which a new dial replaces (hanging the old one up).

use std::sync::Mutex;

use tokio::sync::mpsc;

use crate::protocol::{ClientMessage, SignalData};
use crate::signaling::{Registration, SignalingError, SignalingEvent};

/// Signals from our connection waiting for a call's task, at most.
const CALL_QUEUE: usize = 256;

/// What a call's task is told.
pub(crate) enum CallCommand {
    Local(SignalData),
    HangUp,
}

/// The registration of a transport whose server knows nobody until they dial: our name (or
/// "me"), said on the event stream too, as registering with a server would.
pub(crate) async fn own_registration(
    id: Option<String>,
    events: &mpsc::Sender<SignalingEvent>,
) -> Registration {
    let registration = Registration {
        id: id.unwrap_or_else(|| "me".into()),
        ice_servers: Vec::new(),
    };
    let _ = events
        .send(SignalingEvent::Registered(registration.clone()))
        .await;
    registration
}

/// The current call's task: its call ID and where its commands go.
#[derive(Default)]
pub(crate) struct CurrentCall {
    task: Mutex<Option<(String, mpsc::Sender<CallCommand>)>>,
}

impl CurrentCall {
    /// Routes a protocol message: a dial starts a task through `start` (with the dialled name,
    /// the call ID and the task's commands); signals and hang-ups go to the task of their
    /// call. Nobody rings through these servers, so accept and decline mean nothing; they have
    /// no rooms, which is an error.
    pub fn route(
        &self,
        message: ClientMessage,
        start: impl FnOnce(String, String, mpsc::Receiver<CallCommand>),
    ) -> Result<(), SignalingError> {
        match message {
            ClientMessage::Call { to, call_id, .. } => {
                let (commands, rx) = mpsc::channel(CALL_QUEUE);
                let previous = self.lock().replace((call_id.clone(), commands));
                if let Some((_, previous)) = previous {
                    let _ = previous.try_send(CallCommand::HangUp);
                }
                start(to, call_id, rx);
            }
            ClientMessage::Signal { call_id, data } => {
                self.send(&call_id, CallCommand::Local(data))
            }
            ClientMessage::Hangup { call_id } => self.send(&call_id, CallCommand::HangUp),
            ClientMessage::Accept { .. }
            | ClientMessage::Reject { .. }
            | ClientMessage::Register { .. }
            | ClientMessage::Resume { .. }
            | ClientMessage::RefreshIce => {}
            ClientMessage::Join { .. } | ClientMessage::Leave { .. } => return Err(no_rooms()),
        }
        Ok(())
    }

    fn send(&self, call_id: &str, command: CallCommand) {
        match self.lock().as_ref() {
            Some((current, commands)) if current == call_id => {
                if commands.try_send(command).is_err() {
                    tracing::warn!("the call's task is not keeping up: a signal is dropped");
                }
            }
            _ => tracing::debug!(%call_id, "a signal for a call no longer running"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(String, mpsc::Sender<CallCommand>)>> {
        self.task.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a transport without rooms says to a room message.
pub(crate) fn no_rooms() -> SignalingError {
    SignalingError::Misconfigured("this kind of signaling server has no rooms".into())
}
