//! One other person in the call, as the UI and the report see them: what of their media was
//! decoded, where their frames go, how their connection does. Their leg of the engine fills it
//! in; readers only read.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::link::LinkStats;
use super::media_setup::RgbaFrame;
use super::media_stats::MediaCounters;
use crate::media::audio_analyzer::AudioAnalyzer;
use crate::media::frame_slot::FrameSlot;

/// Someone's shared screen: a second video of theirs.
pub struct SharedScreen {
    /// Its frames as received and decoded.
    pub counters: Arc<MediaCounters>,
    /// The newest decoded picture.
    pub frames: Arc<FrameSlot<RgbaFrame>>,
    on: AtomicBool,
}

impl SharedScreen {
    /// Whether they say they share (their `screen_share` message).
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    pub(crate) fn set_on(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }
}

/// How much audio the analyser keeps, ms.
const ANALYZER_MS: u32 = 2000;

pub struct Participant {
    pub id: String,
    /// Their media as it was received and decoded.
    pub counters: Arc<MediaCounters>,
    /// Their audio, analysed (when the speaker is the analyser).
    pub analyzer: Arc<Mutex<AudioAnalyzer>>,
    /// Where their decoded frames go, for the window; `None` when nobody draws them.
    pub frames: Option<Arc<FrameSlot<RgbaFrame>>>,
    /// Their shared screen, when they share one.
    pub share: SharedScreen,
    link: Mutex<Option<Arc<LinkStats>>>,
    pub joined: Instant,
    left: Mutex<Option<Instant>>,
}

impl Participant {
    /// `share_frames` takes their shared screen's frames (there is always a place for them:
    /// the report can save the last one).
    pub(crate) fn new(
        id: &str,
        frames: Option<Arc<FrameSlot<RgbaFrame>>>,
        share_frames: FrameSlot<RgbaFrame>,
    ) -> Participant {
        Participant {
            id: id.to_string(),
            counters: Arc::new(MediaCounters::default()),
            analyzer: Arc::new(Mutex::new(AudioAnalyzer::new(ANALYZER_MS))),
            frames,
            share: SharedScreen {
                counters: Arc::new(MediaCounters::default()),
                frames: Arc::new(share_frames),
                on: AtomicBool::new(false),
            },
            link: Mutex::new(None),
            joined: Instant::now(),
            left: Mutex::new(None),
        }
    }

    /// The link of their current connection (a connection started over gets a new one).
    pub fn link(&self) -> Option<Arc<LinkStats>> {
        self.link.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set_link(&self, link: Arc<LinkStats>) {
        *self.link.lock().unwrap_or_else(|p| p.into_inner()) = Some(link);
    }

    /// When their leg ended, if it did.
    pub fn left(&self) -> Option<Instant> {
        *self.left.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_left(&self) {
        self.left
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(Instant::now);
    }
}
