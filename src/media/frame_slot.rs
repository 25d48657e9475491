//! Latest-frame-wins hand-over from the decoder thread to the UI.
//!
//! The decoder publishes every frame; the UI, which repaints at its own
//! rate, takes only the newest one and uploads one texture per new frame.
//! Older unseen frames are simply replaced (no queue, no back-pressure).

use std::sync::{Arc, Mutex};

/// Called when a frame is published: the consumer's wake-up (the window asks for a repaint).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// A single slot holding the newest value plus a generation counter.
#[derive(Default)]
pub struct FrameSlot<T> {
    inner: Mutex<Slot<T>>,
    waker: Option<Waker>,
}

impl<T> std::fmt::Debug for FrameSlot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameSlot")
            .field("generation", &self.generation())
            .finish()
    }
}

#[derive(Debug)]
struct Slot<T> {
    value: Option<T>,
    generation: u64,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            value: None,
            generation: 0,
        }
    }
}

impl<T> FrameSlot<T> {
    pub fn new() -> Self {
        FrameSlot {
            inner: Mutex::new(Slot::default()),
            waker: None,
        }
    }

    /// A slot whose every published frame calls `waker`: the producer wakes its consumer.
    pub fn with_waker(waker: Waker) -> Self {
        FrameSlot {
            inner: Mutex::new(Slot::default()),
            waker: Some(waker),
        }
    }

    /// Stores `value`, replacing any frame the consumer has not taken yet.
    /// Returns the new generation (starts at 1).
    pub fn publish(&self, value: T) -> u64 {
        let generation = {
            let mut s = self.lock();
            s.generation += 1;
            s.value = Some(value);
            s.generation
        };
        if let Some(wake) = &self.waker {
            wake();
        }
        generation
    }

    /// Takes the newest frame if it is newer than `seen` (the generation the
    /// consumer last got; pass 0 initially).
    pub fn take_newer(&self, seen: u64) -> Option<(u64, T)> {
        let mut s = self.lock();
        if s.generation > seen {
            let g = s.generation;
            s.value.take().map(|v| (g, v))
        } else {
            None
        }
    }

    /// Generation of the last published frame (0 if none yet).
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot<T>> {
        // A panic while holding this lock cannot leave the slot inconsistent
        // (every write is a single assignment), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_wins_and_taken_once() {
        let slot = FrameSlot::new();
        assert!(slot.take_newer(0).is_none());
        slot.publish(1);
        slot.publish(2);
        assert_eq!(slot.take_newer(0), Some((2, 2)));
        assert!(slot.take_newer(2).is_none());
        assert!(slot.take_newer(0).is_none(), "value was taken");
        slot.publish(3);
        assert_eq!(slot.take_newer(2), Some((3, 3)));
        assert_eq!(slot.generation(), 3);
    }

    #[test]
    fn publishing_wakes_the_consumer() {
        let woken = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let count = woken.clone();
        let slot = FrameSlot::with_waker(Arc::new(move || {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }));
        slot.publish(1);
        slot.publish(2);
        assert_eq!(woken.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert_eq!(slot.take_newer(0), Some((2, 2)));
    }
}
