//! The microphone, cleaned: each 20 ms block goes through the processor as two 10 ms frames,
//! each after 10 ms of speaker audio.
//!
//! The microphone is processed two frames (20 ms) late. The speaker's samples reach us from its
//! device callback, which can be only a few ms before their echo comes back through the
//! microphone (the devices' latency, less what the speaker tap holds, which depends on how the
//! two devices' callbacks fall: up to 20 ms apart); an echo that arrives before its reference
//! cannot be cancelled, and one arriving a few ms after is cancelled badly (measured on the
//! test loop: 20 dB with the reference 0.3 ms ahead, 38-58 dB at 7-8 ms, all of it at 14-16
//! ms). Holding the microphone back gives the reference 20 ms more lead from the start; once
//! the echo is heard, [`Alignment`] measures the lead and keeps it at 30 ms when a device
//! skips.

use std::sync::Arc;
use std::time::Instant;

use super::alignment::Alignment;
use super::level::{mean_square, to_dbfs};
use super::processor::Processor;
use super::{Voice, FRAME_SAMPLES};
use crate::media::{AudioBlock, AudioSource, Result};

/// The figures are published every this many blocks (200 ms).
const PUBLISH_EVERY_BLOCKS: u64 = 10;
/// Levels are reported over the last second (50 blocks).
const LEVEL_BLOCKS: usize = 50;

pub struct CleanedMicrophone {
    mic: Box<dyn AudioSource>,
    voice: Arc<Voice>,
    processor: Option<Processor>,
    /// The microphone held back and the reference kept in step with its echo.
    alignment: Alignment,
    /// The level over the last second, before and after.
    input_power: Power,
    output_power: Power,
    /// Before and after, over frames with the speaker playing (our own echo reduction figure,
    /// for when the library has none).
    echo_in: f64,
    echo_out: f64,
    /// Blocks taken from the microphone.
    blocks: u64,
}

impl CleanedMicrophone {
    /// Cleans `mic` as `voice.stages` say (read again at every block). Without the library
    /// (it failed to start), the microphone goes out as captured and the error is logged.
    pub fn new(mic: Box<dyn AudioSource>, voice: Arc<Voice>) -> CleanedMicrophone {
        voice.stats.reset();
        let processor = match Processor::new(voice.stages.get()) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(error = %e, "the microphone goes out unprocessed");
                None
            }
        };
        CleanedMicrophone {
            mic,
            voice,
            processor,
            alignment: Alignment::default(),
            input_power: Power::default(),
            output_power: Power::default(),
            echo_in: 0.0,
            echo_out: 0.0,
            blocks: 0,
        }
    }

    fn process_frame(&mut self, samples: &mut [i16]) {
        let reference = self.voice.reference.next_frame();
        if reference.is_some() {
            self.voice.stats.reference_taken();
        }
        let Some(processor) = &mut self.processor else {
            return;
        };
        if !processor.stages().any() {
            return;
        }
        let started = Instant::now();
        let mut frame = [0.0f32; FRAME_SAMPLES];
        for (f, &s) in frame.iter_mut().zip(samples.iter()) {
            *f = s as f32 / 32768.0;
        }
        let mut far = reference.unwrap_or([0.0; FRAME_SAMPLES]);
        if let Some(moved) = self
            .alignment
            .pair(&mut frame, &mut far, processor.stages().echo)
        {
            tracing::info!(
                from_ms = moved.from_ms,
                to_ms = moved.to_ms,
                hold_ms = moved.hold_ms,
                delay_ms = moved.delay_ms,
                "the echo's path moved: the speaker's reference is realigned"
            );
            self.voice.stats.set_realignments(self.alignment.moves());
        }
        let before = mean_square(&frame);
        // Our own echo reduction figure counts the frames where the far end talks.
        let far_active = reference.is_some() && processor.render(&mut far);
        processor.capture(&mut frame);
        for (s, &f) in samples.iter_mut().zip(frame.iter()) {
            *s = (f * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
        }
        if far_active {
            // Decays over ~2 s so the figure follows the call.
            self.echo_in = self.echo_in * 0.995 + before;
            self.echo_out = self.echo_out * 0.995 + mean_square(&frame);
        }
        let busy = started.elapsed().as_nanos() as u64;
        self.voice.stats.frame_done(busy, reference.is_some());
    }

    fn publish(&mut self) {
        let reading = self
            .processor
            .as_ref()
            .map(Processor::echo_reading)
            .unwrap_or_default();
        let echo_on = self.processor.as_ref().is_some_and(|p| p.stages().echo);
        let ours = (echo_on && self.echo_in > 0.0)
            .then(|| 10.0 * (self.echo_in / self.echo_out.max(1e-12)).log10());
        self.voice
            .stats
            .set_echo(reading.erle_db.or(ours), reading.delay_ms);
        self.voice
            .stats
            .set_gain(self.processor.as_ref().and_then(Processor::gain_db));
        self.voice
            .stats
            .set_levels(self.input_power.dbfs(), self.output_power.dbfs());
    }
}

impl AudioSource for CleanedMicrophone {
    fn next_block(&mut self) -> Result<AudioBlock> {
        let mut block = self.mic.next_block()?;
        let wanted = self.voice.stages.get();
        if let Some(p) = &mut self.processor {
            if p.stages() != wanted {
                tracing::info!(stages = %wanted, "audio processing changed");
                p.set_stages(wanted);
            }
        }
        self.input_power.add(&block.samples);
        for frame in block.samples.chunks_exact_mut(FRAME_SAMPLES) {
            self.process_frame(frame);
        }
        self.output_power.add(&block.samples);
        // The figures are read by people and reports: five times a second is plenty, and asks
        // the library for its statistics that much less on the audio thread.
        self.blocks += 1;
        if self.blocks.is_multiple_of(PUBLISH_EVERY_BLOCKS) {
            self.publish();
        }
        Ok(block)
    }
}

/// The level of the last [`LEVEL_BLOCKS`] blocks.
#[derive(Debug, Default)]
struct Power {
    blocks: std::collections::VecDeque<f64>,
}

impl Power {
    fn add(&mut self, samples: &[i16]) {
        if self.blocks.len() == LEVEL_BLOCKS {
            self.blocks.pop_front();
        }
        let sum: f64 = samples
            .iter()
            .map(|&s| (f64::from(s) / 32768.0).powi(2))
            .sum();
        self.blocks.push_back(sum / samples.len().max(1) as f64);
    }

    fn dbfs(&self) -> f64 {
        let mean = self.blocks.iter().sum::<f64>() / self.blocks.len().max(1) as f64;
        to_dbfs(mean)
    }
}
