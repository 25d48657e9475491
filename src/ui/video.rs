//! A video as an egui texture: one texture update per new frame from a [`FrameSlot`].

use egui::{ColorImage, TextureHandle, TextureOptions};

use crate::call::media_setup::RgbaFrame;
use crate::media::frame_slot::FrameSlot;

pub struct VideoTexture {
    name: String,
    handle: Option<TextureHandle>,
    seen: u64,
}

impl VideoTexture {
    pub fn new(name: impl Into<String>) -> Self {
        VideoTexture {
            name: name.into(),
            handle: None,
            seen: 0,
        }
    }

    /// Uploads the slot's newest frame if there is one we have not shown.
    pub fn update(&mut self, ctx: &egui::Context, slot: &FrameSlot<RgbaFrame>) {
        let Some((generation, frame)) = slot.take_newer(self.seen) else {
            return;
        };
        self.seen = generation;
        let size = [frame.width as usize, frame.height as usize];
        if frame.pixels.len() != size[0] * size[1] * 4 {
            return;
        }
        // The GPU cannot hold a texture beyond its limit (the decoder caps pictures at 4K, below
        // any real GPU's; this is the last guard).
        let max_side = ctx.input(|i| i.max_texture_side);
        if size[0] > max_side || size[1] > max_side {
            tracing::warn!(
                ?size,
                max_side,
                "a picture too large for the GPU is not shown"
            );
            return;
        }
        let image = ColorImage::from_rgba_unmultiplied(size, &frame.pixels);
        match &mut self.handle {
            Some(handle) if handle.size() == size => handle.set(image, TextureOptions::LINEAR),
            _ => self.handle = Some(ctx.load_texture(&self.name, image, TextureOptions::LINEAR)),
        }
    }

    pub fn clear(&mut self) {
        self.handle = None;
    }

    pub fn texture(&self) -> Option<&TextureHandle> {
        self.handle.as_ref()
    }
}
