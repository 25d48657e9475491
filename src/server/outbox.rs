//! One connection's queue of frames waiting to be written, bounded in frames and in bytes. A
//! client that stops reading fills it; the next push then fails and the hub drops the sender,
//! which closes the connection (1008) — it does not hold the server's memory hostage.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;

/// Frames a connection may have waiting: the presence of several thousand peers arriving at
/// once.
pub const OUTBOX_FRAMES: usize = 16_384;
/// Bytes a connection may have waiting: a 64 KiB frame sixteen times over. Frame count alone
/// let ten slow readers take the server to half a gigabyte.
pub const OUTBOX_BYTES: usize = 1 << 20;

/// The hub's end.
#[derive(Debug, Clone)]
pub struct OutboxSender {
    frames: mpsc::Sender<Utf8Bytes>,
    queued: Arc<AtomicUsize>,
}

/// The connection's end.
#[derive(Debug)]
pub struct Outbox {
    frames: mpsc::Receiver<Utf8Bytes>,
    queued: Arc<AtomicUsize>,
}

/// The queue is full (in frames or bytes), or its connection is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

pub fn outbox() -> (OutboxSender, Outbox) {
    let (tx, rx) = mpsc::channel(OUTBOX_FRAMES);
    let queued = Arc::new(AtomicUsize::new(0));
    (
        OutboxSender {
            frames: tx,
            queued: queued.clone(),
        },
        Outbox { frames: rx, queued },
    )
}

impl OutboxSender {
    pub fn push(&self, text: Utf8Bytes) -> Result<(), Full> {
        let len = text.len();
        if self.queued.load(Ordering::Relaxed) + len > OUTBOX_BYTES {
            return Err(Full);
        }
        self.frames.try_send(text).map_err(|_| Full)?;
        self.queued.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }
}

impl Outbox {
    fn taken(&self, text: Utf8Bytes) -> Utf8Bytes {
        self.queued.fetch_sub(text.len(), Ordering::Relaxed);
        text
    }

    /// The next frame; `None` once the hub dropped its end (too slow, or gone).
    pub async fn recv(&mut self) -> Option<Utf8Bytes> {
        let text = self.frames.recv().await?;
        Some(self.taken(text))
    }

    pub fn try_recv(&mut self) -> Option<Utf8Bytes> {
        let text = self.frames.try_recv().ok()?;
        Some(self.taken(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_bound_the_queue_before_frames_do_and_reading_frees_them() {
        let (tx, mut rx) = outbox();
        let frame = Utf8Bytes::from("x".repeat(60 * 1024));
        let fit = OUTBOX_BYTES / frame.len();
        for _ in 0..fit {
            tx.push(frame.clone()).unwrap();
        }
        assert_eq!(tx.push(frame.clone()), Err(Full));
        assert!(rx.try_recv().is_some());
        assert_eq!(tx.push(frame), Ok(()));
        // Small frames: the frame count bounds it.
        let (tx, _rx) = outbox();
        for _ in 0..OUTBOX_FRAMES {
            tx.push(Utf8Bytes::from_static("{}")).unwrap();
        }
        assert_eq!(tx.push(Utf8Bytes::from_static("{}")), Err(Full));
    }
}
