//! Recent calls: who, when, which way, how long; a missed call stays marked until it is seen.
//! Kept as JSON in the data folder (`~/.local/share/peercall/recents.json`), newest first, at
//! most [`MAX_RECENTS`]. The window's state tells it what the engine said about each call.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::call::{EndReason, EndedBy};

/// Calls remembered at most.
pub const MAX_RECENTS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Way {
    Outgoing,
    Incoming,
    /// They rang and nobody answered (or we were busy).
    Missed,
    /// They rang and we declined.
    Declined,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recent {
    pub peer: String,
    /// When it started, seconds since the UNIX epoch.
    pub at_unix: u64,
    pub way: Way,
    /// How long it was connected; `None`: it never was.
    pub secs: Option<u64>,
    /// A missed call stays marked until seen.
    #[serde(default)]
    pub seen: bool,
}

/// The call in progress, until it ends.
#[derive(Debug)]
struct Pending {
    peer: String,
    way: Way,
    at_unix: u64,
    connected: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Recents {
    /// Newest first.
    pub entries: VecDeque<Recent>,
    /// Where they are kept; `None`: only in memory.
    path: Option<PathBuf>,
    pending: Option<Pending>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Recents {
    /// Where the app keeps them: next to the settings when `$PEERCALL_CONFIG` names them (tests),
    /// else the platform's data folder.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(config) = std::env::var_os("PEERCALL_CONFIG") {
            return Some(Path::new(&config).with_file_name("recents.json"));
        }
        directories::ProjectDirs::from("org", "peercall", "peercall")
            .map(|d| d.data_dir().join("recents.json"))
    }

    /// Those saved at `path` (none if there is no file or it does not parse: said in the log).
    pub fn load(path: Option<PathBuf>) -> Recents {
        let entries = path
            .as_deref()
            .and_then(|p| match std::fs::read_to_string(p) {
                Ok(text) => serde_json::from_str::<VecDeque<Recent>>(&text)
                    .map_err(|e| tracing::warn!(error = %e, path = %p.display(), "recent calls unreadable"))
                    .ok(),
                Err(_) => None,
            })
            .unwrap_or_default();
        let mut recents = Recents {
            entries,
            path,
            pending: None,
        };
        recents.entries.truncate(MAX_RECENTS);
        recents
    }

    fn save(&self) {
        let Some(path) = &self.path else {
            return;
        };
        if let Err(e) = super::store::write_json_atomically(path, &self.entries) {
            tracing::warn!(error = %e, path = %path.display(), "cannot keep the recent calls");
        }
    }

    fn push(&mut self, recent: Recent) {
        self.entries.push_front(recent);
        self.entries.truncate(MAX_RECENTS);
        self.save();
    }

    pub fn calling(&mut self, peer: &str) {
        self.begin(peer, Way::Outgoing);
    }

    pub fn ringing(&mut self, peer: &str) {
        self.begin(peer, Way::Incoming);
    }

    fn begin(&mut self, peer: &str, way: Way) {
        self.pending = Some(Pending {
            peer: peer.to_string(),
            way,
            at_unix: unix_now(),
            connected: None,
        });
    }

    /// A group call is not one person's: it is not listed.
    pub fn forget_pending(&mut self) {
        self.pending = None;
    }

    pub fn connected(&mut self, now: Instant) {
        if let Some(p) = self.pending.as_mut() {
            p.connected.get_or_insert(now);
        }
    }

    pub fn ended(&mut self, by: EndedBy, reason: &EndReason, now: Instant) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let secs = p
            .connected
            .map(|at| now.saturating_duration_since(at).as_secs());
        let way = match (p.way, secs, by, reason) {
            (Way::Incoming, None, EndedBy::Local, EndReason::Declined) => Way::Declined,
            (Way::Incoming, None, _, _) => Way::Missed,
            (way, _, _, _) => way,
        };
        self.push(Recent {
            peer: p.peer,
            at_unix: p.at_unix,
            way,
            secs,
            seen: way != Way::Missed,
        });
    }

    /// Someone rang while we were in a call.
    pub fn missed_while_busy(&mut self, peer: &str) {
        self.push(Recent {
            peer: peer.to_string(),
            at_unix: unix_now(),
            way: Way::Missed,
            secs: None,
            seen: false,
        });
    }

    /// Missed calls not yet seen, newest first.
    pub fn unseen_missed(&self) -> impl Iterator<Item = &Recent> {
        self.entries
            .iter()
            .filter(|r| r.way == Way::Missed && !r.seen)
    }

    pub fn mark_seen(&mut self) {
        let mut changed = false;
        for r in self.entries.iter_mut().filter(|r| !r.seen) {
            r.seen = true;
            changed = true;
        }
        if changed {
            self.save();
        }
    }
}

/// "just now", "5 min ago", "3 h ago", "2 days ago".
pub fn ago(at_unix: u64, now_unix: u64) -> String {
    let secs = now_unix.saturating_sub(at_unix);
    match secs {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        86_400..172_800 => "yesterday".into(),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// A call's length: `0:42`, `12:05`, `1:02:03`.
pub fn length(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

pub fn now_unix() -> u64 {
    unix_now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn calls_are_listed_newest_first_kept_on_disk_and_bounded() {
        let path = std::env::temp_dir()
            .join(format!("peercall-recents-{}", std::process::id()))
            .join("recents.json");
        let _ = std::fs::remove_file(&path);
        let mut r = Recents::load(Some(path.clone()));
        let t0 = Instant::now();
        r.calling("bob");
        r.connected(t0);
        r.ended(
            EndedBy::Local,
            &EndReason::HungUp,
            t0 + Duration::from_secs(192),
        );
        r.ringing("carol");
        r.ended(EndedBy::Remote, &EndReason::Cancelled, t0);
        r.ringing("dave");
        r.ended(EndedBy::Local, &EndReason::Declined, t0);
        r.missed_while_busy("erin");
        let ways: Vec<(&str, Way, Option<u64>)> = r
            .entries
            .iter()
            .map(|e| (e.peer.as_str(), e.way, e.secs))
            .collect();
        assert_eq!(
            ways,
            [
                ("erin", Way::Missed, None),
                ("dave", Way::Declined, None),
                ("carol", Way::Missed, None),
                ("bob", Way::Outgoing, Some(192)),
            ]
        );
        assert_eq!(r.unseen_missed().count(), 2);
        // Back from disk as they were; seen stays seen.
        r.mark_seen();
        let again = Recents::load(Some(path.clone()));
        assert_eq!(again.entries, r.entries);
        assert_eq!(again.unseen_missed().count(), 0);
        // Bounded.
        let mut many = Recents::load(None);
        for i in 0..MAX_RECENTS + 10 {
            many.missed_while_busy(&format!("p{i}"));
        }
        assert_eq!(many.entries.len(), MAX_RECENTS);
        assert_eq!(length(192), "3:12");
        assert_eq!(length(3723), "1:02:03");
        assert_eq!(ago(1000, 1000 + 7200), "2 h ago");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_broken_file_is_no_list_and_no_crash() {
        let path =
            std::env::temp_dir().join(format!("peercall-recents-bad-{}.json", std::process::id()));
        std::fs::write(&path, b"{ not json").unwrap();
        assert!(Recents::load(Some(path.clone())).entries.is_empty());
        let _ = std::fs::remove_file(path);
    }
}
