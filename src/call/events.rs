//! What the call engine tells the UI or the CLI.

use std::fmt;
use std::sync::Arc;

use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Video,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    Local,
    Remote,
}

impl EndedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            EndedBy::Local => "local",
            EndedBy::Remote => "remote",
        }
    }
}

/// Why a call ended, in words a person understands (`Display`) and as a short code (`code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    HungUp,
    /// The caller gave up before an answer.
    Cancelled,
    Declined,
    Busy,
    UnknownPeer,
    NoAnswer,
    /// The other side's connection to the server closed.
    PeerGone,
    ConnectionFailed(String),
    SignalingLost(String),
    Failed(String),
}

impl EndReason {
    pub fn code(&self) -> &'static str {
        match self {
            EndReason::HungUp => "hangup",
            EndReason::Cancelled => "cancelled",
            EndReason::Declined => "declined",
            EndReason::Busy => "busy",
            EndReason::UnknownPeer => "unknown_peer",
            EndReason::NoAnswer => "no_answer",
            EndReason::PeerGone => "gone",
            EndReason::ConnectionFailed(_) => "connection_failed",
            EndReason::SignalingLost(_) => "signaling_lost",
            EndReason::Failed(_) => "failed",
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::HungUp => f.write_str("the call was hung up"),
            EndReason::Cancelled => f.write_str("the call was cancelled"),
            EndReason::Declined => f.write_str("the call was declined"),
            EndReason::Busy => f.write_str("busy in another call"),
            EndReason::UnknownPeer => f.write_str("nobody with that ID is online"),
            EndReason::NoAnswer => f.write_str("no answer"),
            EndReason::PeerGone => f.write_str("the other side went away"),
            EndReason::ConnectionFailed(why) => write!(f, "the connection failed: {why}"),
            EndReason::SignalingLost(why) => write!(f, "lost the signaling server: {why}"),
            EndReason::Failed(why) => write!(f, "the call failed: {why}"),
        }
    }
}

/// Figures sampled about once a second during a call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallStats {
    pub rtt_ms: Option<f64>,
    pub packets_lost: i64,
    pub bitrate_out_kbps: f64,
    pub bitrate_in_kbps: f64,
    /// What congestion control allows us to send.
    pub target_kbps: f64,
    pub fps_in: f64,
    pub fps_out: f64,
    /// The candidate pair media takes.
    pub path: Option<IcePath>,
}

/// Which way media goes: each end's candidate type (`host`, `srflx`, `prflx`, `relay`) and the
/// transport (`udp`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IcePath {
    pub local_type: String,
    pub remote_type: String,
    pub protocol: String,
}

impl fmt::Display for IcePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to {} over {}",
            self.local_type, self.remote_type, self.protocol
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// Signaling: we are registered under `id` (again, after a reconnect).
    Registered {
        id: String,
    },
    /// Signaling is down; it reconnects by itself.
    SignalingLost {
        reason: String,
    },
    Calling {
        peer: String,
        call_id: String,
    },
    Incoming {
        peer: String,
        call_id: String,
        /// An invitation into this room (accepting joins it).
        room: Option<String>,
    },
    /// We are in a room (a group call): these others are in it, earliest first; legs to each
    /// follow as `Connected`.
    RoomJoined {
        room: String,
        members: Vec<String>,
    },
    /// Someone came into our room, or left it.
    MemberJoined(String),
    MemberLeft(String),
    /// In a room, one leg ended; the call goes on with the others.
    ParticipantLeft {
        peer: String,
        reason: EndReason,
    },
    /// Do not disturb is on (or off again): calls that ring are answered busy.
    DoNotDisturb(bool),
    /// Someone rang while we were in a call (or with do not disturb on); they were told we are
    /// busy.
    MissedWhileBusy {
        peer: String,
    },
    Accepted {
        peer: String,
    },
    IceConnected,
    /// The connection failed while being set up and is being made again (same call).
    Reconnecting {
        why: String,
    },
    /// Media can flow (ICE and DTLS are up).
    Connected {
        peer: String,
    },
    /// The connected call's path to `peer` broke (a network change, or they went quiet): it is
    /// being made again; the call goes on.
    PathLost {
        peer: String,
    },
    /// The connection to `peer` is up: the code to read to them (the same on their side unless
    /// someone sits in the middle; see `call::verify`).
    Verification {
        peer: String,
        code: String,
    },
    /// The path to `peer` is back, `after` it was lost.
    PathRestored {
        peer: String,
        after: std::time::Duration,
    },
    /// Our microphone or camera, as the engine now has it (it owns that state).
    LocalMuted {
        kind: MediaKind,
        muted: bool,
    },
    RemoteMuted {
        peer: String,
        kind: MediaKind,
        muted: bool,
    },
    Chat {
        peer: String,
        text: String,
    },
    /// The remote video's size changed (the first frame, or the other side switched size); its
    /// frames are in the frame slot (see `media::FrameSlot`), which wakes its reader itself.
    RemoteFrame {
        width: u32,
        height: u32,
    },
    Stats(CallStats),
    /// We share our screen now (`true`), or no longer (stopped, or the capture failed).
    Sharing(bool),
    /// `peer` shares their screen (its frames go to their participant's `share`), or stopped.
    RemoteSharing {
        peer: String,
        on: bool,
    },
    /// A file transfer with `peer` moved on.
    File {
        peer: String,
        event: super::transfer::FileEvent,
    },
    Ended {
        peer: String,
        by: EndedBy,
        reason: EndReason,
    },
    /// Something went wrong that does not end a call (a command that cannot apply now, a device).
    Error(String),
}

/// Events the engine's parts queue for the UI or the CLI, at most this many. They come at a
/// human rate (a state change, a stats sample a second); a reader that stops reading loses the
/// newest, not its memory.
pub const CALL_EVENT_QUEUE: usize = 1024;

/// Where the engine's parts (its task, the media threads) send [`CallEvent`]s: a bounded queue
/// for a reader that polls (the CLI), or straight to whoever shows them (the window's sink queues
/// them for the UI thread and wakes it: no task in between relays them).
#[derive(Clone)]
pub struct CallEvents(Arc<dyn Fn(CallEvent) + Send + Sync>);

impl fmt::Debug for CallEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallEvents")
    }
}

impl CallEvents {
    pub fn channel() -> (CallEvents, mpsc::Receiver<CallEvent>) {
        let (tx, rx) = mpsc::channel(CALL_EVENT_QUEUE);
        // Drops the event (and says so in the log) when the reader is that far behind.
        let send = move |event| {
            if let Err(mpsc::error::TrySendError::Full(event)) = tx.try_send(event) {
                tracing::warn!(?event, "the call-event queue is full: an event is dropped");
            }
        };
        (CallEvents(Arc::new(send)), rx)
    }

    /// Each event goes to `sink`, called on the engine's side (it must not block).
    pub fn sink(sink: impl Fn(CallEvent) + Send + Sync + 'static) -> CallEvents {
        CallEvents(Arc::new(sink))
    }

    pub fn send(&self, event: CallEvent) {
        (self.0)(event)
    }
}
