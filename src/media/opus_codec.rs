//! Opus voice codec: 48 kHz mono, 20 ms frames, in-band FEC.

use opus::{Application, Bitrate, Channels};

use super::error::{MediaError, Result};
use super::frame::{AudioBlock, BLOCK_SAMPLES, SAMPLE_RATE};
use super::jitter_buffer::Playout;

/// Largest Opus packet we produce; RFC 6716 recommends 1275 bytes max.
const MAX_PACKET: usize = 1275;
/// Longest frame Opus can return (120 ms), so decode never truncates.
const MAX_FRAME: usize = SAMPLE_RATE as usize * 120 / 1000;

fn codec_err(e: opus::Error) -> MediaError {
    MediaError::Codec(format!("opus: {e}"))
}

/// Opus encoder tuned for calls: VoIP mode, in-band FEC, expecting ~10% loss.
pub struct OpusEncoder {
    enc: opus::Encoder,
}

impl OpusEncoder {
    pub const DEFAULT_BITRATE_BPS: i32 = 32_000;

    pub fn new(bitrate_bps: i32) -> Result<Self> {
        let mut enc = opus::Encoder::new(SAMPLE_RATE, Channels::Mono, Application::Voip)
            .map_err(codec_err)?;
        enc.set_inband_fec(true).map_err(codec_err)?;
        enc.set_packet_loss_perc(10).map_err(codec_err)?;
        let mut e = OpusEncoder { enc };
        e.set_bitrate(bitrate_bps)?;
        Ok(e)
    }

    /// Changes the target bitrate (6..510 kbps) without resetting state.
    pub fn set_bitrate(&mut self, bps: i32) -> Result<()> {
        if !(6_000..=510_000).contains(&bps) {
            return Err(MediaError::Unsupported(format!("opus bitrate {bps}")));
        }
        self.enc.set_bitrate(Bitrate::Bits(bps)).map_err(codec_err)
    }

    /// Expected loss (0..100 %) steers how much FEC Opus adds.
    pub fn set_packet_loss_perc(&mut self, perc: i32) -> Result<()> {
        self.enc
            .set_packet_loss_perc(perc.clamp(0, 100))
            .map_err(codec_err)
    }

    /// Encodes one 20 ms block into one packet.
    pub fn encode(&mut self, block: &AudioBlock) -> Result<Vec<u8>> {
        self.enc
            .encode_vec(&block.samples, MAX_PACKET)
            .map_err(codec_err)
    }
}

/// Where a played block's audio came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decoded {
    /// Its own packet.
    Packet,
    /// The redundancy (in-band FEC) in the packet after it.
    Fec,
    /// Extrapolated from what came before (packet-loss concealment).
    Concealed,
    Silence,
}

/// Opus decoder producing exactly one [`AudioBlock`] per call.
pub struct OpusDecoder {
    dec: opus::Decoder,
    buf: Vec<i16>,
}

impl OpusDecoder {
    pub fn new() -> Result<Self> {
        Ok(OpusDecoder {
            dec: opus::Decoder::new(SAMPLE_RATE, Channels::Mono).map_err(codec_err)?,
            buf: vec![0; MAX_FRAME],
        })
    }

    fn block(&self, n: usize, capture_us: u64) -> Result<AudioBlock> {
        if n != BLOCK_SAMPLES {
            return Err(MediaError::Unsupported(format!(
                "opus frame of {n} samples (only 20 ms frames are used)"
            )));
        }
        AudioBlock::from_slice(&self.buf[..n], capture_us)
    }

    /// Decodes a packet (must hold a 20 ms frame).
    pub fn decode(&mut self, packet: &[u8], capture_us: u64) -> Result<AudioBlock> {
        if packet.is_empty() {
            return Err(MediaError::InvalidInput("empty opus packet".into()));
        }
        let n = self
            .dec
            .decode(packet, &mut self.buf, false)
            .map_err(codec_err)?;
        self.block(n, capture_us)
    }

    /// Packet-loss concealment: 20 ms extrapolated from what came before.
    pub fn decode_lost(&mut self) -> Result<AudioBlock> {
        let n = self
            .dec
            .decode(&[], &mut self.buf[..BLOCK_SAMPLES], false)
            .map_err(codec_err)?;
        self.block(n, 0)
    }

    /// Recovers a lost frame from the FEC data carried in the *next* packet.
    pub fn decode_fec(&mut self, next_packet: &[u8]) -> Result<AudioBlock> {
        let n = self
            .dec
            .decode(next_packet, &mut self.buf[..BLOCK_SAMPLES], true)
            .map_err(codec_err)?;
        self.block(n, 0)
    }

    /// Turns a jitter-buffer decision into audio: decode, FEC or
    /// concealment, or silence, and says which it was. A corrupt packet is
    /// concealed rather than leaving a hole (and counts as concealed).
    pub fn decode_playout(&mut self, playout: &Playout) -> (AudioBlock, Decoded) {
        let (r, how) = match playout {
            Playout::Packet { payload, .. } => (self.decode(payload, 0), Decoded::Packet),
            Playout::Conceal {
                next_payload: Some(next),
                ..
            } => (self.decode_fec(next), Decoded::Fec),
            Playout::Conceal { .. } | Playout::Expand => (self.decode_lost(), Decoded::Concealed),
            Playout::Silence => return (AudioBlock::silence(0), Decoded::Silence),
        };
        match r {
            Ok(block) => (block, how),
            Err(_) => match self.decode_lost() {
                Ok(block) => (block, Decoded::Concealed),
                Err(_) => (AudioBlock::silence(0), Decoded::Silence),
            },
        }
    }
}
