//! Files sent in a call (docs/protocol.md §3). The sender offers a header on `system_channel`
//! ([`message`]); the receiver's person accepts or declines before anything is written; the
//! bytes then travel on a data channel of their own per transfer: [`send`] → network →
//! [`receive`], which keeps the file (under a safe, free name: [`name`]) only when its size and
//! SHA-256 match the header. Either side may cancel. [`Transfers`] is one leg's registry: it
//! routes answers, cancels and data channels to the tasks, each of which reports its own end.

pub mod message;
pub mod name;
pub(crate) mod receive;
pub(crate) mod send;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::peer_connection::PeerConnection;

use crate::call::events::{CallEvent, CallEvents};
use message::{FileHeader, FileMessage};

/// Transfers a leg holds at once, each way; offers beyond are declined.
pub const MAX_TRANSFERS: usize = 16;
/// Signals queued for one transfer's task (an answer, a cancel).
const SIGNAL_QUEUE: usize = 4;
/// Progress is reported this often at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Sending,
    Receiving,
}

/// Why a transfer ended without a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStop {
    Declined,
    CancelledByUs(String),
    CancelledByThem(Option<String>),
    Failed(String),
}

impl std::fmt::Display for FileStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileStop::Declined => f.write_str("declined"),
            FileStop::CancelledByUs(_) => f.write_str("cancelled"),
            FileStop::CancelledByThem(None) => f.write_str("cancelled by the other side"),
            FileStop::CancelledByThem(Some(why)) => {
                write!(f, "cancelled by the other side: {why}")
            }
            FileStop::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// What happens to a transfer, as the engine reports it (inside [`CallEvent::File`]).
#[derive(Debug, Clone, PartialEq)]
pub enum FileEvent {
    /// The other person offers a file: accept or decline it (by `id`). `name` is made safe.
    Offered {
        id: String,
        name: String,
        size: u64,
    },
    /// Our offer waits for their answer.
    Offering {
        id: String,
        name: String,
        size: u64,
    },
    Progress {
        id: String,
        bytes: u64,
        total: u64,
    },
    /// Sent (and acknowledged), or received and checked into `path`.
    Done {
        id: String,
        direction: Direction,
        name: String,
        size: u64,
        path: Option<PathBuf>,
        secs: f64,
    },
    /// Ended without a file; a receiver keeps nothing.
    Stopped {
        id: String,
        direction: Direction,
        name: String,
        why: FileStop,
    },
}

/// What a transfer's task is told.
#[derive(Debug)]
pub(crate) enum TaskSignal {
    /// The other side's answer or cancel.
    Remote(FileMessage),
    /// Our person cancelled.
    Cancel,
}

/// Reports progress at most every [`PROGRESS_EVERY`], and always the last byte.
pub(crate) struct Progress {
    total: u64,
    last: Option<Instant>,
}

impl Progress {
    pub fn new(total: u64) -> Progress {
        Progress { total, last: None }
    }

    pub fn update(&mut self, id: &str, bytes: u64) -> Option<FileEvent> {
        let due = self.last.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) || bytes == self.total;
        if !due {
            return None;
        }
        self.last = Some(Instant::now());
        Some(FileEvent::Progress {
            id: id.to_string(),
            bytes,
            total: self.total,
        })
    }
}

/// Size and SHA-256 (hex) of a file, read once.
pub fn sha256_of_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex(hash.finish().as_ref())))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where received files go and whether they are taken without asking.
#[derive(Debug, Clone, Default)]
pub struct FileSettings {
    /// `None`: the user's Downloads folder (or the home folder).
    pub receive_dir: Option<PathBuf>,
    pub auto_accept: bool,
}

impl FileSettings {
    pub fn dir(&self) -> PathBuf {
        self.receive_dir.clone().unwrap_or_else(|| {
            directories::UserDirs::new()
                .and_then(|d| d.download_dir().map(Path::to_path_buf))
                .or_else(|| directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf()))
                .unwrap_or_else(std::env::temp_dir)
        })
    }
}

/// An offer of theirs, before and after our person answered.
enum Offered {
    Waiting(FileHeader),
    /// Accepted: its bytes may come (into `dir`).
    Accepted(FileHeader, PathBuf),
}

/// File channels this side opened that are closing. SCTP hands a closed channel's stream id out
/// again at once, and a channel opened on a stream whose reset is still under way does not open
/// or closes under its sender (seen with a small file finishing as the next one opened); so a
/// new channel waits until none is closing (a few seconds at most).
#[derive(Default)]
pub(crate) struct ChannelGate {
    closing: std::sync::atomic::AtomicUsize,
    quiet: tokio::sync::Notify,
}

/// How long a new channel waits at most for others to finish closing.
const CLOSING_WAIT: Duration = Duration::from_secs(5);

impl ChannelGate {
    pub async fn wait_until_none_closing(&self) {
        use std::sync::atomic::Ordering;
        let deadline = tokio::time::Instant::now() + CLOSING_WAIT;
        loop {
            let quiet = self.quiet.notified();
            if self.closing.load(Ordering::SeqCst) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, quiet).await.is_err() {
                tracing::debug!("file channels still closing: opening another anyway");
                return;
            }
        }
    }

    /// A channel of ours may be closing from now (all its bytes are queued, or it failed).
    pub fn begin(&self) {
        self.closing
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// That channel was closed; it is done closing when `drained` (its event reader) ends, or
    /// after a while.
    pub fn end_after(self: &Arc<Self>, drained: Option<tokio::task::JoinHandle<()>>) {
        use std::sync::atomic::Ordering;
        let gate = self.clone();
        tokio::spawn(async move {
            match drained {
                Some(drained) => {
                    let _ = tokio::time::timeout(CLOSING_WAIT, drained).await;
                }
                None => tokio::time::sleep(Duration::from_secs(1)).await,
            }
            gate.closing.fetch_sub(1, Ordering::SeqCst);
            gate.quiet.notify_waiters();
        });
    }
}

/// Finished transfers' channels, left open until the call ends. Closing one frees its SCTP
/// stream id, which webrtc-rs hands to the next channel at once; a channel opened on a stream
/// whose reset is still under way between the two sides closes at once ("did not open", seen
/// when a small file finished as the next one started, about one run in three of a test that
/// sends files both ways). Idle channels cost a stream each; beyond [`KEPT_CHANNELS`] the
/// oldest is closed.
#[derive(Default)]
pub(crate) struct KeptChannels(std::sync::Mutex<std::collections::VecDeque<Arc<dyn DataChannel>>>);

/// Finished transfers' channels kept open at most, per leg.
pub const KEPT_CHANNELS: usize = 256;

impl KeptChannels {
    pub fn keep(&self, channel: Arc<dyn DataChannel>) {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        kept.push_back(channel);
        if kept.len() > KEPT_CHANNELS {
            if let Some(oldest) = kept.pop_front() {
                tokio::spawn(async move {
                    let _ = oldest.close().await;
                });
            }
        }
    }
}

impl Offered {
    fn header(&self) -> &FileHeader {
        match self {
            Offered::Waiting(header) | Offered::Accepted(header, _) => header,
        }
    }
}

/// An offer to us ended before any byte came (declined, cancelled, the call over): said once.
fn offer_stopped(header: &FileHeader, why: FileStop, peer: &str, events: &CallEvents) {
    events.send(CallEvent::File {
        peer: peer.to_string(),
        event: FileEvent::Stopped {
            id: header.id.clone(),
            direction: Direction::Receiving,
            name: name::safe_file_name(&header.name),
            why,
        },
    });
}

/// One leg's transfers: offers waiting for an answer, and the running tasks' signal queues.
#[derive(Default)]
pub(crate) struct Transfers {
    gate: Arc<ChannelGate>,
    kept: Arc<KeptChannels>,
    offered: HashMap<String, Offered>,
    running: HashMap<String, mpsc::Sender<TaskSignal>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Files to offer once the control channel opens (asked for the moment the call connected).
    queued: Vec<PathBuf>,
}

/// How long a call's end waits for its transfers to clean up (a receiver removes its part file).
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What the engine must send on the control channel after [`Transfers`] handled something.
pub(crate) type Reply = Option<FileMessage>;

impl Transfers {
    fn prune(&mut self) {
        self.running.retain(|_, tx| !tx.is_closed());
        self.tasks.retain(|t| !t.is_finished());
    }

    /// Holds `path` until [`Transfers::send`] can offer it (the control channel opens).
    pub fn queue(&mut self, path: PathBuf) -> Result<(), String> {
        if self.busy() || self.queued.len() >= MAX_TRANSFERS {
            return Err(format!("{MAX_TRANSFERS} transfers at once at most"));
        }
        self.queued.push(path);
        Ok(())
    }

    /// What was queued, to offer now.
    pub fn take_queued(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.queued)
    }

    /// The call with this person ended: every transfer stops (a receiver keeps nothing), and
    /// each has said so before this returns.
    pub async fn close(&mut self, peer: &str, events: &CallEvents) {
        self.queued.clear();
        for (_, offered) in self.offered.drain() {
            let ended = FileStop::Failed("the call ended".into());
            offer_stopped(offered.header(), ended, peer, events);
        }
        self.running.clear();
        for task in self.tasks.drain(..) {
            if tokio::time::timeout(CLOSE_WAIT, task).await.is_err() {
                tracing::debug!("a transfer took long to stop");
            }
        }
    }

    fn busy(&mut self) -> bool {
        self.prune();
        self.running.len() + self.offered.len() >= MAX_TRANSFERS
    }

    /// Starts sending `path` to `peer`: the task offers it and waits for the answer.
    pub fn send(
        &mut self,
        path: PathBuf,
        peer: &str,
        pc: Arc<dyn PeerConnection>,
        control: Arc<dyn DataChannel>,
        events: CallEvents,
    ) -> Result<String, String> {
        if self.busy() {
            return Err(format!("{MAX_TRANSFERS} transfers at once at most"));
        }
        let id = message::new_transfer_id();
        let (tx, signals) = mpsc::channel(SIGNAL_QUEUE);
        self.running.insert(id.clone(), tx);
        let task = send::Outgoing {
            id: id.clone(),
            path,
            peer: peer.to_string(),
            pc,
            control,
            signals,
            events,
            cancel_said: false,
            gate: self.gate.clone(),
            closing: false,
            kept: self.kept.clone(),
        };
        self.tasks.push(tokio::spawn(task.run()));
        Ok(id)
    }

    /// A file message from the other side; returns what to answer.
    pub fn remote(
        &mut self,
        message: FileMessage,
        settings: &FileSettings,
        peer: &str,
        events: &CallEvents,
    ) -> Reply {
        match message {
            FileMessage::Offer(header) => self.offered_to_us(header, settings, peer, events),
            FileMessage::Cancel { ref id, ref reason } if self.offered.contains_key(id) => {
                let offered = self.offered.remove(id)?;
                let why = FileStop::CancelledByThem(reason.clone());
                offer_stopped(offered.header(), why, peer, events);
                None
            }
            other => {
                let id = other.id().to_string();
                match self.running.get(&id) {
                    Some(tx) => {
                        if tx.try_send(TaskSignal::Remote(other)).is_err() {
                            tracing::debug!(%id, "a transfer's signal was not taken");
                        }
                    }
                    None => tracing::debug!(?other, "a file message for no transfer of ours"),
                }
                None
            }
        }
    }

    fn offered_to_us(
        &mut self,
        header: FileHeader,
        settings: &FileSettings,
        peer: &str,
        events: &CallEvents,
    ) -> Reply {
        let id = header.id.clone();
        if self.offered.contains_key(&id) || self.running.contains_key(&id) || self.busy() {
            tracing::warn!(%id, "a file offer we cannot take (a reused ID, or too many)");
            return Some(FileMessage::Decline { id });
        }
        events.send(CallEvent::File {
            peer: peer.to_string(),
            event: FileEvent::Offered {
                id: id.clone(),
                name: name::safe_file_name(&header.name),
                size: header.size,
            },
        });
        self.offered.insert(id.clone(), Offered::Waiting(header));
        if settings.auto_accept {
            return self.accept(&id, settings);
        }
        None
    }

    /// Our person accepts offer `id` (the bytes go to the settings' folder).
    pub fn accept(&mut self, id: &str, settings: &FileSettings) -> Reply {
        match self.offered.remove(id) {
            Some(Offered::Waiting(header)) => {
                let dir = settings.dir();
                if let Err(e) = std::fs::create_dir_all(&dir) {
                    tracing::warn!(error = %e, dir = %dir.display(), "no folder to receive into");
                    return Some(FileMessage::Decline { id: id.to_string() });
                }
                self.offered
                    .insert(id.to_string(), Offered::Accepted(header, dir));
                Some(FileMessage::Accept { id: id.to_string() })
            }
            Some(accepted) => {
                self.offered.insert(id.to_string(), accepted);
                None
            }
            None => None,
        }
    }

    pub fn decline(&mut self, id: &str, peer: &str, events: &CallEvents) -> Reply {
        let offered = self.offered.remove(id)?;
        offer_stopped(offered.header(), FileStop::Declined, peer, events);
        Some(FileMessage::Decline { id: id.to_string() })
    }

    /// Our person cancels transfer `id`, whichever way it goes.
    pub fn cancel(&mut self, id: &str, peer: &str, events: &CallEvents) -> Reply {
        if let Some(tx) = self.running.get(id) {
            let _ = tx.try_send(TaskSignal::Cancel);
            return None;
        }
        let offered = self.offered.remove(id)?;
        let why = FileStop::CancelledByUs("cancelled".into());
        offer_stopped(offered.header(), why, peer, events);
        Some(FileMessage::Cancel {
            id: id.to_string(),
            reason: None,
        })
    }

    /// A `file:ID` data channel opened by the other side: the bytes of an accepted offer.
    pub fn channel(
        &mut self,
        id: &str,
        channel: Arc<dyn DataChannel>,
        control: Option<Arc<dyn DataChannel>>,
        peer: &str,
        events: CallEvents,
    ) {
        if !matches!(self.offered.get(id), Some(Offered::Accepted(..))) {
            tracing::warn!(%id, "a file channel for no accepted offer: closed");
            tokio::spawn(async move {
                let _ = channel.close().await;
            });
            return;
        }
        let Some(Offered::Accepted(header, dir)) = self.offered.remove(id) else {
            return;
        };
        let (tx, signals) = mpsc::channel(SIGNAL_QUEUE);
        self.running.insert(id.to_string(), tx);
        let task = receive::Incoming {
            header,
            peer: peer.to_string(),
            channel,
            dir,
            control,
            signals,
            events,
            cancel_said: false,
            kept: self.kept.clone(),
        };
        self.tasks.push(tokio::spawn(task.run()));
    }

    /// Whether `id` is a transfer of this leg (an offer or a running task).
    pub fn has(&self, id: &str) -> bool {
        self.offered.contains_key(id) || self.running.contains_key(id)
    }
}
