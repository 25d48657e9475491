//! The traits that connect media producers and consumers.

use super::error::Result;
use super::frame::{AudioBlock, VideoFrame};

/// Something that produces video frames (camera, test pattern).
pub trait VideoSource: Send {
    /// Blocks until the next frame is due, then returns it. Sources pace
    /// themselves at their frame rate, so a loop over this runs in real time.
    fn next_frame(&mut self) -> Result<VideoFrame>;
    /// Human-readable description for logs and the UI.
    fn describe(&self) -> String;
    /// Frame size (width, height) this source delivers.
    fn size(&self) -> (u32, u32);
}

/// Something that produces 20 ms audio blocks (microphone, tone).
pub trait AudioSource: Send {
    /// Blocks until the next 20 ms block is available and returns it.
    fn next_block(&mut self) -> Result<AudioBlock>;
}

/// Something that consumes 20 ms audio blocks (speaker, analyser).
pub trait AudioSink: Send {
    /// Queues one block for playback (or analysis). Does not block.
    fn play(&mut self, block: &AudioBlock) -> Result<()>;
}
