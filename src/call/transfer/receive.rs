//! Receiving one accepted file from its data channel: bytes go to a hidden part file next to
//! where the file will be, counted and hashed as they come; only a file of the announced size
//! and SHA-256 is renamed to its final name. Anything else (more bytes than announced, a wrong
//! hash, the channel closing early, a cancel, a stall) removes the part file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent};

use super::message::{FileHeader, FileMessage};
use super::name::{safe_file_name, unused_path};
use super::{Direction, FileEvent, FileStop, Progress, TaskSignal};
use crate::call::events::{CallEvent, CallEvents};

/// A transfer with no byte for this long has stalled.
const STALL: Duration = Duration::from_secs(30);
/// How long a channel that closed early waits for the cancel that says why.
pub(crate) const CANCEL_GRACE: Duration = Duration::from_millis(500);

pub(crate) struct Incoming {
    pub header: FileHeader,
    pub peer: String,
    pub channel: Arc<dyn DataChannel>,
    pub dir: PathBuf,
    /// Where to say we stop (so the sender stops too).
    pub control: Option<Arc<dyn DataChannel>>,
    pub signals: mpsc::Receiver<TaskSignal>,
    pub events: CallEvents,
    /// `file_cancel` went out already.
    pub cancel_said: bool,
    /// Where a finished transfer's channel stays open until the call ends.
    pub kept: Arc<super::KeptChannels>,
}

impl Incoming {
    fn emit(&self, event: FileEvent) {
        self.events.send(CallEvent::File {
            peer: self.peer.clone(),
            event,
        });
    }

    pub async fn run(mut self) {
        let name = safe_file_name(&self.header.name);
        let started = Instant::now();
        let part = self.dir.join(format!(".{name}.{}.part", self.header.id));
        let outcome = self.receive(&part).await;
        if let Err(FileStop::Failed(why) | FileStop::CancelledByUs(why)) = &outcome {
            // Said before the channel closes, so the sender knows why it closed.
            self.say_cancel(why).await;
        }
        if outcome.is_ok() {
            // Left open until the call ends (see `KeptChannels`): the sender keeps it too.
            // Whatever still comes on it is read and dropped.
            let drain = self.channel.clone();
            tokio::spawn(async move {
                while let Some(event) = drain.poll().await {
                    if matches!(event, DataChannelEvent::OnClose) {
                        break;
                    }
                }
            });
            self.kept.keep(self.channel.clone());
        } else {
            let _ = self.channel.close().await;
        }
        let outcome = match outcome {
            Ok(()) => self.keep(&part, &name).await,
            Err(stop) => Err(stop),
        };
        let event = match outcome {
            Ok(path) => FileEvent::Done {
                id: self.header.id.clone(),
                direction: Direction::Receiving,
                name,
                size: self.header.size,
                path: Some(path),
                secs: started.elapsed().as_secs_f64(),
            },
            Err(stop) => {
                let _ = tokio::fs::remove_file(&part).await;
                if let FileStop::Failed(why) = &stop {
                    // Keeping it failed (a rename): the sender must not think it arrived.
                    self.say_cancel(why).await;
                }
                FileEvent::Stopped {
                    id: self.header.id.clone(),
                    direction: Direction::Receiving,
                    name,
                    why: stop,
                }
            }
        };
        self.emit(event);
    }

    async fn say_cancel(&mut self, why: &str) {
        if std::mem::replace(&mut self.cancel_said, true) {
            return;
        }
        if let Some(control) = &self.control {
            let cancel = FileMessage::Cancel {
                id: self.header.id.clone(),
                reason: Some(why.to_string()),
            };
            let _ = control.send_text(&cancel.to_value().to_string()).await;
        }
    }

    /// Reads the channel into `part` until the announced size has arrived.
    async fn receive(&mut self, part: &std::path::Path) -> Result<(), FileStop> {
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(part)
            .await
            .map_err(|e| FileStop::Failed(format!("cannot write {}: {e}", part.display())))?;
        let size = self.header.size;
        let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
        let mut received = 0u64;
        let mut progress = Progress::new(size);
        while received < size {
            let event = tokio::select! {
                event = tokio::time::timeout(STALL, self.channel.poll()) => event,
                signal = self.signals.recv() => return Err(stop_for(signal)),
            };
            let data = match event {
                Err(_) => return Err(FileStop::Failed("the transfer stalled".into())),
                Ok(None) | Ok(Some(DataChannelEvent::OnClose)) => {
                    // A cancel may be on its way on the control channel (another stream, so it
                    // can arrive after the close): it says why.
                    let why = tokio::time::timeout(CANCEL_GRACE, self.signals.recv()).await;
                    return Err(match why {
                        Ok(signal @ Some(_)) => stop_for(signal),
                        _ => FileStop::Failed(format!(
                            "the transfer ended after {received} of {size} bytes"
                        )),
                    });
                }
                Ok(Some(DataChannelEvent::OnMessage(message))) => message.data,
                Ok(Some(_)) => continue,
            };
            if received + data.len() as u64 > size {
                return Err(FileStop::Failed(format!(
                    "the sender sent more than the {size} bytes it announced"
                )));
            }
            file.write_all(&data)
                .await
                .map_err(|e| FileStop::Failed(format!("cannot write the file: {e}")))?;
            hash.update(&data);
            received += data.len() as u64;
            if let Some(event) = progress.update(&self.header.id, received) {
                self.emit(event);
            }
        }
        file.flush()
            .await
            .and(file.sync_all().await)
            .map_err(|e| FileStop::Failed(format!("cannot write the file: {e}")))?;
        let got = super::hex(hash.finish().as_ref());
        if got != self.header.sha256 {
            return Err(FileStop::Failed(format!(
                "the file's SHA-256 is {got}, not the {} announced",
                self.header.sha256
            )));
        }
        Ok(())
    }

    /// The checked part file takes its final name (a free one).
    async fn keep(&self, part: &std::path::Path, name: &str) -> Result<PathBuf, FileStop> {
        let path = unused_path(&self.dir, name);
        tokio::fs::rename(part, &path)
            .await
            .map_err(|e| FileStop::Failed(format!("cannot keep the file: {e}")))?;
        Ok(path)
    }
}

fn stop_for(signal: Option<TaskSignal>) -> FileStop {
    match signal {
        Some(TaskSignal::Cancel) => FileStop::CancelledByUs("cancelled".into()),
        Some(TaskSignal::Remote(FileMessage::Cancel { reason, .. })) => {
            FileStop::CancelledByThem(reason)
        }
        Some(TaskSignal::Remote(other)) => {
            FileStop::Failed(format!("unexpected during the transfer: {other:?}"))
        }
        None => FileStop::Failed("the call ended".into()),
    }
}
