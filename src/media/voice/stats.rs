//! What the audio processing measured, written by the audio thread and read by the stats view
//! and the report.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// Levels are kept in hundredths of a dB; `UNSET` until measured.
const UNSET: i32 = i32::MIN;

#[derive(Debug)]
pub struct VoiceStats {
    frames: AtomicU64,
    frames_without_reference: AtomicU64,
    /// When the first frame with the speaker's audio was taken (ms since the UNIX epoch; 0 until
    /// then): the echo canceller can only start learning from there.
    reference_since_unix_ms: AtomicU64,
    busy_ns: AtomicU64,
    /// How many times the echo's path moved and the reference was realigned.
    realignments: AtomicU64,
    /// Levels in hundredths of a dB; the delay in ms.
    input_centi_db: AtomicI32,
    output_centi_db: AtomicI32,
    erle_centi_db: AtomicI32,
    gain_centi_db: AtomicI32,
    delay_ms: AtomicI32,
}

impl Default for VoiceStats {
    fn default() -> Self {
        VoiceStats {
            frames: AtomicU64::new(0),
            frames_without_reference: AtomicU64::new(0),
            reference_since_unix_ms: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            realignments: AtomicU64::new(0),
            input_centi_db: AtomicI32::new(UNSET),
            output_centi_db: AtomicI32::new(UNSET),
            erle_centi_db: AtomicI32::new(UNSET),
            gain_centi_db: AtomicI32::new(UNSET),
            delay_ms: AtomicI32::new(UNSET),
        }
    }
}

/// One reading of [`VoiceStats`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VoiceStatsSnapshot {
    pub frames: u64,
    pub frames_without_reference: u64,
    /// When the speaker's audio first reached the processing, ms since the UNIX epoch.
    pub reference_since_unix_ms: Option<u64>,
    /// How many times the echo's path moved (a device skipped) and the reference was moved
    /// back into step with it.
    pub realignments: u64,
    /// Mean CPU per processed frame, µs.
    pub us_per_frame: Option<f64>,
    /// The microphone's level before and after processing (the last second), dBFS.
    pub input_dbfs: Option<f64>,
    pub output_dbfs: Option<f64>,
    /// Echo return loss enhancement, dB (while echo cancellation runs).
    pub erle_db: Option<f64>,
    pub delay_ms: Option<f64>,
    /// The gain control's gain now, dB (while it runs).
    pub gain_db: Option<f64>,
}

fn store_db(cell: &AtomicI32, db: Option<f64>) {
    let v = db.map_or(UNSET, |db| (db * 100.0).round().clamp(-1e6, 1e6) as i32);
    cell.store(v, Ordering::Relaxed);
}

fn load_db(cell: &AtomicI32) -> Option<f64> {
    let v = cell.load(Ordering::Relaxed);
    (v != UNSET).then_some(v as f64 / 100.0)
}

impl VoiceStats {
    pub(crate) fn frame_done(&self, busy_ns: u64, had_reference: bool) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.busy_ns.fetch_add(busy_ns, Ordering::Relaxed);
        if !had_reference {
            self.frames_without_reference
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A frame of the speaker's audio was taken now (only the first one is kept).
    pub(crate) fn reference_taken(&self) {
        if self.reference_since_unix_ms.load(Ordering::Relaxed) == 0 {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_millis() as u64);
            self.reference_since_unix_ms.store(now, Ordering::Relaxed);
        }
    }

    pub(crate) fn set_realignments(&self, count: u64) {
        self.realignments.store(count, Ordering::Relaxed);
    }

    pub(crate) fn set_levels(&self, input_dbfs: f64, output_dbfs: f64) {
        store_db(&self.input_centi_db, Some(input_dbfs));
        store_db(&self.output_centi_db, Some(output_dbfs));
    }

    pub(crate) fn set_gain(&self, gain_db: Option<f64>) {
        store_db(&self.gain_centi_db, gain_db);
    }

    pub(crate) fn set_echo(&self, erle_db: Option<f64>, delay_ms: Option<f64>) {
        store_db(&self.erle_centi_db, erle_db);
        let delay = delay_ms.map_or(UNSET, |d| d.round().clamp(0.0, 1e6) as i32);
        self.delay_ms.store(delay, Ordering::Relaxed);
    }

    /// A fresh start for a new call.
    pub(crate) fn reset(&self) {
        for count in [
            &self.frames,
            &self.frames_without_reference,
            &self.reference_since_unix_ms,
            &self.busy_ns,
            &self.realignments,
        ] {
            count.store(0, Ordering::Relaxed);
        }
        for cell in [
            &self.input_centi_db,
            &self.output_centi_db,
            &self.erle_centi_db,
            &self.gain_centi_db,
            &self.delay_ms,
        ] {
            cell.store(UNSET, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> VoiceStatsSnapshot {
        let frames = self.frames.load(Ordering::Relaxed);
        VoiceStatsSnapshot {
            frames,
            frames_without_reference: self.frames_without_reference.load(Ordering::Relaxed),
            reference_since_unix_ms: Some(self.reference_since_unix_ms.load(Ordering::Relaxed))
                .filter(|&t| t != 0),
            realignments: self.realignments.load(Ordering::Relaxed),
            us_per_frame: (frames > 0)
                .then(|| self.busy_ns.load(Ordering::Relaxed) as f64 / frames as f64 / 1000.0),
            input_dbfs: load_db(&self.input_centi_db),
            output_dbfs: load_db(&self.output_centi_db),
            erle_db: load_db(&self.erle_centi_db),
            gain_db: load_db(&self.gain_centi_db),
            delay_ms: Some(self.delay_ms.load(Ordering::Relaxed))
                .filter(|&d| d != UNSET)
                .map(f64::from),
        }
    }
}
