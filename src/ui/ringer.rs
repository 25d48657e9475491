//! The ring tone for an incoming call, through the speaker (when there is one): 440 + 480 Hz,
//! two seconds on, four off, as North American phones ring.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::media::pacer::Pacer;
use crate::media::speaker::Speaker;
use crate::media::{AudioBlock, AudioSink, BLOCK_SAMPLES, SAMPLE_RATE};

#[derive(Default)]
pub struct Ringer {
    ringing: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Ringer {
    /// Starts ringing on the named speaker (`None`: the default) at `volume` percent; no
    /// speaker, no sound.
    pub fn start(&mut self, speaker: Option<String>, volume: u8) {
        if self.ringing.is_some() {
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ring-tone".into())
            .spawn(move || {
                let Ok(mut speaker) = Speaker::open(speaker.as_deref()) else {
                    return; // no speaker: the window still shows the call
                };
                let mut pacer = Pacer::new(Duration::from_millis(20));
                let mut n: u64 = 0;
                while !flag.load(Ordering::Relaxed) {
                    pacer.wait();
                    let _ = speaker.play(&ring_block(n, volume));
                    n += 1;
                }
            });
        if let Ok(thread) = thread {
            self.ringing = Some((stop, thread));
        }
    }

    pub fn stop(&mut self) {
        if let Some((stop, thread)) = self.ringing.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
    }
}

impl Drop for Ringer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Block `n` of the cadence, at `volume` percent (100: about -14 dBFS).
fn ring_block(n: u64, volume: u8) -> AudioBlock {
    let gain = f64::from(volume.min(100)) / 100.0;
    let mut block = AudioBlock::silence(0);
    let blocks_per_cycle = 6 * 50; // 6 s of 20 ms blocks
    if n % blocks_per_cycle >= 2 * 50 {
        return block;
    }
    let start = n * BLOCK_SAMPLES as u64;
    for (i, s) in block.samples.iter_mut().enumerate() {
        let t = (start + i as u64) as f64 / SAMPLE_RATE as f64;
        let v = (2.0 * std::f64::consts::PI * 440.0 * t).sin()
            + (2.0 * std::f64::consts::PI * 480.0 * t).sin();
        *s = (v * 0.2 * gain * i16::MAX as f64) as i16;
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::audio_analyzer::rms_dbfs;

    #[test]
    fn rings_two_seconds_in_six() {
        assert!(rms_dbfs(&ring_block(0, 100).samples) > -20.0);
        assert!(rms_dbfs(&ring_block(99, 100).samples) > -20.0);
        assert_eq!(ring_block(100, 100).samples, [0; BLOCK_SAMPLES]);
        assert_eq!(ring_block(299, 100).samples, [0; BLOCK_SAMPLES]);
        assert!(rms_dbfs(&ring_block(300, 100).samples) > -20.0);
    }

    #[test]
    fn the_volume_scales_the_ring() {
        let loud = rms_dbfs(&ring_block(0, 100).samples);
        let half = rms_dbfs(&ring_block(0, 50).samples);
        assert!((loud - half - 6.0).abs() < 0.2, "{loud} vs {half}");
        assert_eq!(ring_block(0, 0).samples, [0; BLOCK_SAMPLES]);
    }
}
