//! The window's list of file transfers: what the engine's [`FileEvent`]s said, with a speed and
//! time left for those under way. Kept for the call and a while after (newest last, bounded).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::call::{Direction, FileEvent, FileStop};

/// Transfers shown at most; the oldest finished ones go first.
pub const SHOWN_TRANSFERS: usize = 20;

#[derive(Debug, Clone, PartialEq)]
pub enum TransferState {
    /// Theirs, waiting for our answer.
    Offered,
    /// Ours, waiting for theirs.
    Offering,
    Moving,
    Done {
        path: Option<PathBuf>,
    },
    Stopped(FileStop),
}

#[derive(Debug, Clone)]
pub struct Transfer {
    pub id: String,
    pub peer: String,
    pub direction: Direction,
    pub name: String,
    pub size: u64,
    pub bytes: u64,
    pub state: TransferState,
    /// Bytes a second, smoothed; and the sample it was last updated from.
    pub rate: f64,
    last: Option<(Instant, u64)>,
}

impl Transfer {
    /// Time left at the current speed.
    pub fn time_left(&self) -> Option<Duration> {
        (self.rate > 0.0 && self.state == TransferState::Moving).then(|| {
            Duration::from_secs_f64(self.size.saturating_sub(self.bytes) as f64 / self.rate)
        })
    }

    pub fn is_active(&self) -> bool {
        matches!(
            self.state,
            TransferState::Offered | TransferState::Offering | TransferState::Moving
        )
    }
}

#[derive(Debug, Default)]
pub struct FileList {
    pub transfers: VecDeque<Transfer>,
}

impl FileList {
    pub fn get(&self, id: &str) -> Option<&Transfer> {
        self.transfers.iter().find(|t| t.id == id)
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Transfer> {
        self.transfers.iter_mut().find(|t| t.id == id)
    }

    pub fn apply(&mut self, peer: String, event: FileEvent, now: Instant) {
        match event {
            FileEvent::Offered { id, name, size } => self.add(
                peer,
                id,
                Direction::Receiving,
                name,
                size,
                TransferState::Offered,
            ),
            FileEvent::Offering { id, name, size } => self.add(
                peer,
                id,
                Direction::Sending,
                name,
                size,
                TransferState::Offering,
            ),
            FileEvent::Progress { id, bytes, total } => {
                if let Some(t) = self.get_mut(&id) {
                    t.state = TransferState::Moving;
                    t.size = total;
                    if let Some((at, before)) = t.last {
                        let secs = now.saturating_duration_since(at).as_secs_f64();
                        if secs > 0.05 {
                            let rate = bytes.saturating_sub(before) as f64 / secs;
                            t.rate = if t.rate == 0.0 {
                                rate
                            } else {
                                0.7 * t.rate + 0.3 * rate
                            };
                            t.last = Some((now, bytes));
                        }
                    } else {
                        t.last = Some((now, bytes));
                    }
                    t.bytes = bytes;
                }
            }
            FileEvent::Done { id, size, path, .. } => {
                if let Some(t) = self.get_mut(&id) {
                    t.bytes = size;
                    t.state = TransferState::Done { path };
                }
            }
            FileEvent::Stopped { id, why, .. } => {
                if let Some(t) = self.get_mut(&id) {
                    t.state = TransferState::Stopped(why);
                }
            }
        }
    }

    fn add(
        &mut self,
        peer: String,
        id: String,
        direction: Direction,
        name: String,
        size: u64,
        state: TransferState,
    ) {
        if self.transfers.len() >= SHOWN_TRANSFERS {
            // The oldest that is over makes room; if none is, the oldest of all.
            let at = self
                .transfers
                .iter()
                .position(|t| !t.is_active())
                .unwrap_or(0);
            self.transfers.remove(at);
        }
        self.transfers.push_back(Transfer {
            id,
            peer,
            direction,
            name,
            size,
            bytes: 0,
            state,
            rate: 0.0,
            last: None,
        });
    }
}

/// A size in words: `980 B`, `12.3 KB`, `4.5 MB`, `1.2 GB` (decimal, as file managers show).
pub fn size_in_words(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} KB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.2} GB", b / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_gives_a_speed_and_time_left_and_the_list_stays_bounded() {
        let mut list = FileList::default();
        let t0 = Instant::now();
        list.apply(
            "bob".into(),
            FileEvent::Offered {
                id: "t".into(),
                name: "a.bin".into(),
                size: 10_000_000,
            },
            t0,
        );
        for (ms, bytes) in [(0, 0), (1000, 2_000_000), (2000, 4_000_000)] {
            list.apply(
                "bob".into(),
                FileEvent::Progress {
                    id: "t".into(),
                    bytes,
                    total: 10_000_000,
                },
                t0 + Duration::from_millis(ms),
            );
        }
        let t = list.get("t").unwrap();
        assert!((t.rate - 2_000_000.0).abs() < 1.0, "{}", t.rate);
        assert_eq!(t.time_left(), Some(Duration::from_secs(3)));
        for i in 0..SHOWN_TRANSFERS + 5 {
            list.apply(
                "bob".into(),
                FileEvent::Offering {
                    id: format!("x{i}"),
                    name: "b".into(),
                    size: 1,
                },
                t0,
            );
        }
        assert_eq!(list.transfers.len(), SHOWN_TRANSFERS);
        assert_eq!(size_in_words(4_500_000), "4.5 MB");
    }
}
