//! Sending one file: its header is offered on the control channel, and once accepted its bytes
//! go on a data channel of their own (`file:ID`), in chunks of [`CHUNK`], never more than
//! [`HIGH_WATER`] waiting in the connection (backpressure on what SCTP has not yet released).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::PeerConnection;

use super::message::{FileHeader, FileMessage, CHANNEL_PREFIX};
use super::{Direction, FileEvent, FileStop, Progress, TaskSignal};
use crate::call::events::{CallEvent, CallEvents};

/// Bytes per message: webrtc-rs takes 256 KiB at most; browsers are happiest at 64 KiB or less.
pub const CHUNK: usize = 64 * 1024;
/// Bytes queued in the connection before the sender waits.
pub const HIGH_WATER: usize = 1024 * 1024;
/// How long an offer waits for the other person to accept or decline.
pub const ANSWER_WAIT: Duration = Duration::from_secs(120);
/// How long the data channel may take to open, and the last bytes to be acknowledged.
const OPEN_WAIT: Duration = Duration::from_secs(15);
const DRAIN_WAIT: Duration = Duration::from_secs(60);

pub(crate) struct Outgoing {
    pub id: String,
    pub path: PathBuf,
    pub peer: String,
    pub pc: Arc<dyn PeerConnection>,
    pub control: Arc<dyn DataChannel>,
    /// The other side's answer and cancel, and ours.
    pub signals: mpsc::Receiver<TaskSignal>,
    pub events: CallEvents,
    /// `file_cancel` went out already.
    pub cancel_said: bool,
    /// This side's file channels still closing (see [`super::ChannelGate`]).
    pub gate: Arc<super::ChannelGate>,
    /// This transfer's channel counts as closing in `gate`.
    pub closing: bool,
    /// Where a finished transfer's channel stays open until the call ends.
    pub kept: Arc<super::KeptChannels>,
}

impl Outgoing {
    fn emit(&self, event: FileEvent) {
        self.events.send(CallEvent::File {
            peer: self.peer.clone(),
            event,
        });
    }

    /// Runs the transfer to its end, which it reports as a [`FileEvent`].
    pub async fn run(mut self) {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let started = Instant::now();
        let outcome = self.send(&name).await;
        let event = match outcome {
            Ok(size) => FileEvent::Done {
                id: self.id.clone(),
                direction: Direction::Sending,
                name,
                size,
                path: Some(self.path.clone()),
                secs: started.elapsed().as_secs_f64(),
            },
            Err(stop) => {
                if let FileStop::Failed(why) | FileStop::CancelledByUs(why) = &stop {
                    // Tell the other side (once), so it keeps nothing and stops waiting.
                    self.say_cancel(why).await;
                }
                FileEvent::Stopped {
                    id: self.id.clone(),
                    direction: Direction::Sending,
                    name,
                    why: stop,
                }
            }
        };
        self.emit(event);
    }

    /// From here until the channel has closed, this side opens no other file channel.
    fn begin_closing(&mut self) {
        if !std::mem::replace(&mut self.closing, true) {
            self.gate.begin();
        }
    }

    async fn say_cancel(&mut self, why: &str) {
        if std::mem::replace(&mut self.cancel_said, true) {
            return;
        }
        let cancel = FileMessage::Cancel {
            id: self.id.clone(),
            reason: Some(why.to_string()),
        };
        let _ = self.control.send_text(&cancel.to_value().to_string()).await;
    }

    async fn send(&mut self, name: &str) -> Result<u64, FileStop> {
        let header = self.header(name).await?;
        let size = header.size;
        let offer = FileMessage::Offer(header).to_value().to_string();
        self.control
            .send_text(&offer)
            .await
            .map_err(|_| FileStop::Failed("the call's control channel is closed".into()))?;
        self.emit(FileEvent::Offering {
            id: self.id.clone(),
            name: name.to_string(),
            size,
        });
        self.await_accept().await?;
        // A stream id freed by a channel still closing would be handed out again at once, and a
        // new channel on a stream whose reset is under way does not open (or closes): wait.
        self.gate.wait_until_none_closing().await;
        let label = format!("{CHANNEL_PREFIX}{}", self.id);
        let channel = self
            .pc
            .create_data_channel(&label, None)
            .await
            .map_err(|e| FileStop::Failed(format!("cannot open a data channel: {e}")))?;
        let opened = wait_open(&channel).await;
        let sent = match &opened {
            Ok(_) => self.send_bytes(&channel, size).await,
            Err(stop) => Err(stop.clone()),
        };
        if let Err(FileStop::Failed(why) | FileStop::CancelledByUs(why)) = &sent {
            // Said before the channel closes, so the receiver knows why it closed.
            self.say_cancel(why).await;
        }
        if sent.is_ok() {
            // Kept open (idle) until the call ends: a closed channel's stream id is handed out
            // again at once, and a channel opened on a stream still being reset does not open.
            self.kept.keep(channel);
        } else {
            self.begin_closing();
            let _ = channel.close().await;
            self.gate.end_after(opened.ok());
        }
        sent.map(|()| size)
    }

    /// Name, size and SHA-256 of the file (hashed on a blocking thread: it may be large).
    async fn header(&self, name: &str) -> Result<FileHeader, FileStop> {
        let path = self.path.clone();
        let hashed = tokio::task::spawn_blocking(move || super::sha256_of_file(&path))
            .await
            .map_err(|e| FileStop::Failed(e.to_string()))?;
        let (size, sha256) = hashed
            .map_err(|e| FileStop::Failed(format!("cannot read {}: {e}", self.path.display())))?;
        Ok(FileHeader {
            id: self.id.clone(),
            name: name.to_string(),
            size,
            sha256,
        })
    }

    async fn await_accept(&mut self) -> Result<(), FileStop> {
        let answer = tokio::time::timeout(ANSWER_WAIT, self.signals.recv()).await;
        match answer {
            Err(_) => Err(FileStop::Failed("no answer to the offer".into())),
            Ok(None) => Err(FileStop::Failed("the call ended".into())),
            Ok(Some(TaskSignal::Remote(FileMessage::Accept { .. }))) => Ok(()),
            Ok(Some(TaskSignal::Remote(FileMessage::Decline { .. }))) => Err(FileStop::Declined),
            Ok(Some(TaskSignal::Remote(FileMessage::Cancel { reason, .. }))) => {
                Err(FileStop::CancelledByThem(reason))
            }
            Ok(Some(TaskSignal::Remote(other))) => Err(FileStop::Failed(format!(
                "unexpected answer to an offer: {other:?}"
            ))),
            Ok(Some(TaskSignal::Cancel)) => Err(FileStop::CancelledByUs("cancelled".into())),
        }
    }

    /// A signal that arrived while sending: a cancel from either side stops it.
    fn stopped(&mut self) -> Option<FileStop> {
        match self.signals.try_recv() {
            Ok(TaskSignal::Cancel) => Some(FileStop::CancelledByUs("cancelled".into())),
            Ok(TaskSignal::Remote(FileMessage::Cancel { reason, .. })) => {
                Some(FileStop::CancelledByThem(reason))
            }
            Ok(TaskSignal::Remote(_)) | Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => {
                Some(FileStop::Failed("the call ended".into()))
            }
        }
    }

    async fn send_bytes(
        &mut self,
        channel: &Arc<dyn DataChannel>,
        size: u64,
    ) -> Result<(), FileStop> {
        let mut file = tokio::fs::File::open(&self.path)
            .await
            .map_err(|e| FileStop::Failed(format!("cannot read the file: {e}")))?;
        let mut progress = Progress::new(size);
        let mut sent = 0u64;
        loop {
            if let Some(stop) = self.stopped() {
                return Err(stop);
            }
            let mut chunk = BytesMut::with_capacity(CHUNK);
            let read = file
                .read_buf(&mut chunk)
                .await
                .map_err(|e| FileStop::Failed(format!("cannot read the file: {e}")))?;
            if read == 0 {
                break;
            }
            sent += read as u64;
            if sent > size {
                return Err(FileStop::Failed("the file grew while it was sent".into()));
            }
            self.wait_for_room(channel).await?;
            if channel.send(chunk).await.is_err() {
                return Err(self.closed_why().await);
            }
            if let Some(event) = progress.update(&self.id, sent) {
                self.emit(event);
            }
        }
        if sent != size {
            return Err(FileStop::Failed("the file shrank while it was sent".into()));
        }
        // The last bytes are acknowledged before the channel closes (closing drops the rest).
        let deadline = Instant::now() + DRAIN_WAIT;
        while channel.outstanding_bytes().await.unwrap_or(0) > 0 {
            if let Some(stop) = self.stopped() {
                return Err(stop);
            }
            if Instant::now() > deadline {
                return Err(FileStop::Failed(
                    "the last bytes were never acknowledged".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// The channel closed under us: the receiver's cancel, arriving on another stream, may say
    /// why.
    async fn closed_why(&mut self) -> FileStop {
        let grace = super::receive::CANCEL_GRACE;
        match tokio::time::timeout(grace, self.signals.recv()).await {
            Ok(Some(TaskSignal::Remote(FileMessage::Cancel { reason, .. }))) => {
                FileStop::CancelledByThem(reason)
            }
            Ok(Some(TaskSignal::Cancel)) => FileStop::CancelledByUs("cancelled".into()),
            _ => FileStop::Failed("the connection closed".into()),
        }
    }

    /// Waits while more than [`HIGH_WATER`] is queued, minding cancels.
    async fn wait_for_room(&mut self, channel: &Arc<dyn DataChannel>) -> Result<(), FileStop> {
        loop {
            match channel.outstanding_bytes().await {
                Ok(queued) if queued < HIGH_WATER => return Ok(()),
                Ok(_) => {}
                Err(_) => return Err(self.closed_why().await),
            }
            if let Some(stop) = self.stopped() {
                return Err(stop);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// Waits for the channel to open; then its events are read and dropped by a task that ends
/// when the channel has closed (returned, for [`super::ChannelGate::closing`]).
async fn wait_open(
    channel: &Arc<dyn DataChannel>,
) -> Result<tokio::task::JoinHandle<()>, FileStop> {
    let opened = tokio::time::timeout(OPEN_WAIT, async {
        while let Some(event) = channel.poll().await {
            match event {
                DataChannelEvent::OnOpen => return true,
                DataChannelEvent::OnClose => return false,
                _ => {}
            }
        }
        false
    })
    .await;
    match opened {
        Ok(true) => {
            // Nothing is to come the other way; what does (a hostile peer's bytes, buffer-low
            // notices) is read and dropped rather than left to pile up.
            let drain = channel.clone();
            Ok(tokio::spawn(async move {
                while let Some(event) = drain.poll().await {
                    if matches!(event, DataChannelEvent::OnClose) {
                        break;
                    }
                }
            }))
        }
        _ => Err(FileStop::Failed(
            "the file's data channel did not open".into(),
        )),
    }
}
