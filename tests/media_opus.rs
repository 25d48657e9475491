//! Opus encode/decode keeps tones intact; loss is concealed.

use peercall::media::audio_analyzer::{dominant_frequency, rms_dbfs};
use peercall::media::jitter_buffer::{JitterBuffer, JitterConfig, Playout};
use peercall::media::opus_codec::{Decoded, OpusDecoder, OpusEncoder};
use peercall::media::tone::ToneSource;
use peercall::media::{AudioSource, BLOCK_SAMPLES};

fn round_trip(freq: f64) -> f64 {
    let mut tone = ToneSource::new(freq, 0.3, false).unwrap();
    let mut enc = OpusEncoder::new(32_000).unwrap();
    let mut dec = OpusDecoder::new().unwrap();
    let mut out = Vec::new();
    for i in 0..100 {
        let pkt = enc.encode(&tone.next_block().unwrap()).unwrap();
        assert!(!pkt.is_empty() && pkt.len() < 400, "{} bytes", pkt.len());
        let block = dec.decode(&pkt, 0).unwrap();
        if i >= 10 {
            out.extend_from_slice(&block.samples);
        }
    }
    assert!(rms_dbfs(&out) > -16.0, "level {}", rms_dbfs(&out));
    dominant_frequency(&out, 50.0, 8000.0).unwrap()
}

#[test]
fn tones_keep_their_frequency() {
    for f in [440.0, 1000.0] {
        let got = round_trip(f);
        println!("{f} Hz -> {got} Hz");
        assert!((got - f).abs() <= 5.0, "{f} Hz came out as {got} Hz");
    }
}

#[test]
fn concealment_yields_one_block() {
    let mut tone = ToneSource::new(440.0, 0.3, false).unwrap();
    let mut enc = OpusEncoder::new(32_000).unwrap();
    let mut dec = OpusDecoder::new().unwrap();
    let mut next = Vec::new();
    for _ in 0..20 {
        let pkt = enc.encode(&tone.next_block().unwrap()).unwrap();
        dec.decode(&pkt, 0).unwrap();
        next = pkt;
    }
    let lost = dec.decode_lost().unwrap();
    assert_eq!(lost.samples.len(), BLOCK_SAMPLES);
    // PLC continues the tone rather than going silent at once.
    assert!(
        rms_dbfs(&lost.samples) > -30.0,
        "{}",
        rms_dbfs(&lost.samples)
    );
    let fec = dec.decode_fec(&next).unwrap();
    assert_eq!(fec.samples.len(), BLOCK_SAMPLES);
    assert!(dec.decode(&[], 0).is_err());
    // Code-3 packet claiming zero frames is invalid (RFC 6716 §3.2.5).
    assert!(dec.decode(&[0x03, 0x00], 0).is_err());
    // A 10 ms packet decodes but is refused: the engine uses 20 ms blocks.
    let mut enc10 =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
    let short = enc10.encode_vec(&[0i16; 480], 400).unwrap();
    assert!(dec.decode(&short, 0).is_err());
    // And the decoder is still usable afterwards.
    assert_eq!(dec.decode(&next, 0).unwrap().samples.len(), BLOCK_SAMPLES);
}

#[test]
fn lossy_path_through_jitter_buffer_keeps_tone() {
    let mut tone = ToneSource::new(1000.0, 0.3, false).unwrap();
    let mut enc = OpusEncoder::new(32_000).unwrap();
    let mut dec = OpusDecoder::new().unwrap();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let mut out = Vec::new();
    let mut how = std::collections::HashMap::new();
    for i in 0..200u32 {
        let pkt = enc.encode(&tone.next_block().unwrap()).unwrap();
        let now = i as u64 * 20_000;
        if i % 10 != 3 {
            jb.push(i as u16, i * 960, pkt, now);
        }
        let playout = jb.pop(now + 1_000);
        let (block, decoded) = dec.decode_playout(&playout);
        *how.entry(decoded).or_insert(0) += 1;
        if i >= 20 && !matches!(playout, Playout::Silence) {
            out.extend_from_slice(&block.samples);
        }
    }
    assert!(jb.stats().concealed >= 15, "{:?}", jb.stats());
    // Every tenth packet lost, and each recovered from the next one's in-band FEC (the next
    // packet is always there in time here): decoded + FEC account for all but the start.
    assert!(how[&Decoded::Fec] >= 15, "{how:?}");
    assert!(how[&Decoded::Packet] >= 170, "{how:?}");
    let f = dominant_frequency(&out, 50.0, 8000.0).unwrap();
    assert!((f - 1000.0).abs() <= 5.0, "{f}");
}
