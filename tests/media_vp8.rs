//! VP8 encoder/decoder on real test-pattern frames.

use peercall::media::convert::i420_to_rgba_vec;
use peercall::media::test_pattern::{read_marker_frame, read_marker_rgba, Marker, TestPattern};
use peercall::media::vp8::{is_vp8_keyframe, Vp8Config, Vp8Decoder, Vp8Encoder};
use peercall::media::{MediaError, VideoFrame};

const FRAME_US: u64 = 33_333;
const T0: u64 = 1_700_000_000_000_000;

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        99.0
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

struct Pipe {
    pattern: TestPattern,
    enc: Vp8Encoder,
    dec: Vp8Decoder,
    n: u32,
}

impl Pipe {
    fn new(w: u32, h: u32, kbps: u32) -> Self {
        Pipe {
            pattern: TestPattern::new(w, h).unwrap(),
            enc: Vp8Encoder::new(&Vp8Config::new(w, h, 30, kbps)).unwrap(),
            dec: Vp8Decoder::new().unwrap(),
            n: 0,
        }
    }

    /// Encodes and decodes the next frame: (source, bytes, keyframe, decoded).
    fn step(&mut self, force_kf: bool) -> (VideoFrame, usize, bool, VideoFrame) {
        let src = self.pattern.render(self.n, T0 + self.n as u64 * FRAME_US);
        self.n += 1;
        let out = self.enc.encode(&src, force_kf).unwrap();
        assert_eq!(out.len(), 1, "one packet per frame (no frame dropping)");
        let pkt = &out[0];
        assert_eq!(pkt.capture_us, src.capture_us);
        let dec = self.dec.decode(&pkt.data, pkt.capture_us).unwrap().unwrap();
        assert_eq!((dec.width, dec.height), (src.width, src.height));
        (src, pkt.data.len(), pkt.keyframe, dec)
    }
}

#[test]
fn round_trip_psnr_above_35_db_at_1_mbps_vga() {
    let mut p = Pipe::new(640, 480, 1000);
    let mut sum = 0.0;
    let mut n = 0;
    let mut min: f64 = 99.0;
    for i in 0..75 {
        let (src, _, _, dec) = p.step(i == 0);
        if i >= 15 {
            let q = psnr(&src.y, &dec.y);
            sum += q;
            min = min.min(q);
            n += 1;
        }
    }
    let avg = sum / n as f64;
    println!("PSNR-Y 640x480 @ 1 Mbps: avg {avg:.2} dB, min {min:.2} dB over {n} frames");
    assert!(avg > 35.0, "average PSNR-Y {avg:.2} dB");
}

#[test]
fn forced_keyframe_is_a_keyframe_on_both_sides() {
    let mut p = Pipe::new(320, 240, 500);
    let mut data_kf = Vec::new();
    for i in 0..20 {
        let force = i == 0 || i == 12;
        let src = p.pattern.render(p.n, T0 + p.n as u64 * FRAME_US);
        p.n += 1;
        let out = p.enc.encode(&src, force).unwrap();
        let pkt = &out[0];
        assert_eq!(pkt.keyframe, force, "frame {i}");
        assert_eq!(is_vp8_keyframe(&pkt.data), force, "frame {i} header bit");
        if i == 12 {
            data_kf = pkt.data.clone();
        }
    }
    // A fresh decoder can start from the forced keyframe alone.
    let mut fresh = Vp8Decoder::new().unwrap();
    let f = fresh.decode(&data_kf, 5).unwrap().unwrap();
    assert_eq!(read_marker_frame(&f).map(|m| m.counter), Some(12));
}

#[test]
fn bitrate_change_reduces_size_without_new_encoder() {
    let mut p = Pipe::new(640, 480, 1500);
    let avg = |p: &mut Pipe, frames: usize, measure_from: usize| {
        let mut bytes = 0;
        for i in 0..frames {
            let (_, sz, _, _) = p.step(p.n == 0);
            if i >= measure_from {
                bytes += sz;
            }
        }
        bytes / (frames - measure_from)
    };
    let high = avg(&mut p, 60, 30);
    p.enc.set_bitrate(150).unwrap();
    assert_eq!(p.enc.bitrate_kbps(), 150);
    let low = avg(&mut p, 60, 30);
    println!("bytes/frame: {high} at 1500 kbps, {low} at 150 kbps");
    // 1500 kbps at 30 fps is ~6250 B/frame. 150 kbps would be ~625 B, but
    // with max quantizer 56 and no frame dropping this moving pattern
    // bottoms out near 2 KB/frame, so we ask for a clear cut, not the target.
    assert!(high > 4500, "{high} B/frame at 1500 kbps");
    assert!(low * 2 < high, "{low} vs {high}");
}

fn scale_rgba(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize, bilinear: bool) -> Vec<u8> {
    let mut out = vec![0u8; dw * dh * 4];
    for y in 0..dh {
        for x in 0..dw {
            let fx = ((x as f32 + 0.5) * sw as f32 / dw as f32 - 0.5).max(0.0);
            let fy = ((y as f32 + 0.5) * sh as f32 / dh as f32 - 0.5).max(0.0);
            for c in 0..4 {
                let v = if bilinear {
                    let (x0, y0) = (fx as usize, fy as usize);
                    let (x1, y1) = ((x0 + 1).min(sw - 1), (y0 + 1).min(sh - 1));
                    let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
                    let p = |xx: usize, yy: usize| src[(yy * sw + xx) * 4 + c] as f32;
                    let top = p(x0, y0) * (1.0 - ax) + p(x1, y0) * ax;
                    let bot = p(x0, y1) * (1.0 - ax) + p(x1, y1) * ax;
                    (top * (1.0 - ay) + bot * ay).round() as u8
                } else {
                    let (xx, yy) = (
                        (fx.round() as usize).min(sw - 1),
                        (fy.round() as usize).min(sh - 1),
                    );
                    src[(yy * sw + xx) * 4 + c]
                };
                out[(y * dw + x) * 4 + c] = v;
            }
        }
    }
    out
}

/// Cuts `crop` px off the left/top and adds `pad` px of grey right/bottom,
/// like a screenshot slightly off the video area.
fn crop_pad(src: &[u8], w: usize, h: usize, crop: usize, pad: usize) -> (Vec<u8>, usize, usize) {
    let (nw, nh) = (w - crop + pad, h - crop + pad);
    let mut out = vec![90u8; nw * nh * 4];
    for y in 0..h - crop {
        let s = ((y + crop) * w + crop) * 4;
        out[y * nw * 4..(y * nw + w - crop) * 4].copy_from_slice(&src[s..s + (w - crop) * 4]);
    }
    (out, nw, nh)
}

#[test]
fn marker_survives_300_kbps_scaling_and_cropping() {
    let mut p = Pipe::new(640, 480, 300);
    let mut checked = 0;
    for i in 0..90u32 {
        let (src, _, _, dec) = p.step(i == 0);
        if i < 5 {
            continue;
        }
        let want = Some(Marker {
            counter: i,
            capture_us: src.capture_us,
        });
        assert_eq!(read_marker_frame(&dec), want, "decoded frame {i}");
        if i % 5 == 0 {
            let rgba = i420_to_rgba_vec(&dec).unwrap();
            for (dw, dh, bilinear) in [(853, 640, true), (320, 240, false), (1000, 563, true)] {
                let scaled = scale_rgba(&rgba, 640, 480, dw, dh, bilinear);
                assert_eq!(
                    read_marker_rgba(&scaled, dw as u32, dh as u32),
                    want,
                    "{dw}x{dh} frame {i}"
                );
                for (crop, pad) in [(3, 0), (0, 3), (2, 2), (3, 3)] {
                    let (c, cw, ch) = crop_pad(&scaled, dw, dh, crop, pad);
                    assert_eq!(
                        read_marker_rgba(&c, cw as u32, ch as u32),
                        want,
                        "{dw}x{dh} crop {crop} pad {pad} frame {i}"
                    );
                }
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 85);
}

#[test]
fn corrupt_input_is_an_error_not_a_crash() {
    let mut p = Pipe::new(320, 240, 500);
    let (_, _, _, _) = p.step(true);
    let mut dec = Vp8Decoder::new().unwrap();
    assert!(matches!(
        dec.decode(&[], 0),
        Err(MediaError::InvalidInput(_))
    ));
    let garbage: Vec<u8> = (0..500u32).map(|i| (i * 7919 % 251) as u8).collect();
    assert!(dec.decode(&garbage, 0).is_err());
    // A truncated keyframe: error or a (damaged) picture, never a panic.
    let src = p.pattern.render(99, 0);
    let kf = p.enc.encode(&src, true).unwrap().remove(0);
    let _ = dec.decode(&kf.data[..kf.data.len() / 3], 0);
    // The decoder recovers with the next full keyframe.
    let f = dec.decode(&kf.data, 0).unwrap().unwrap();
    assert_eq!(read_marker_frame(&f).map(|m| m.counter), Some(99));
}

#[test]
fn bad_encoder_input_is_rejected() {
    assert!(Vp8Encoder::new(&Vp8Config::new(0, 480, 30, 500)).is_err());
    assert!(Vp8Encoder::new(&Vp8Config::new(640, 480, 0, 500)).is_err());
    let mut enc = Vp8Encoder::new(&Vp8Config::new(320, 240, 30, 500)).unwrap();
    let wrong = VideoFrame::black(640, 480, 0);
    assert!(matches!(
        enc.encode(&wrong, false),
        Err(MediaError::InvalidInput(_))
    ));
    let mut broken = VideoFrame::black(320, 240, 0);
    broken.y.truncate(100);
    assert!(matches!(
        enc.encode(&broken, false),
        Err(MediaError::InvalidInput(_))
    ));
    assert!(enc.set_bitrate(0).is_err());
    assert_eq!(enc.threads(), 1);
    // libwebrtc's rule: a second thread only above 640x480 and with three cores or more.
    let vga = Vp8Encoder::new(&Vp8Config::new(640, 480, 30, 500)).unwrap();
    assert_eq!(vga.threads(), 1);
    let hd = Vp8Encoder::new(&Vp8Config::new(1280, 720, 30, 1500)).unwrap();
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(hd.threads(), if cores >= 3 { 2 } else { 1 });
}

#[test]
fn the_encoder_steps_down_a_size_and_back_within_one_stream() {
    let pattern = TestPattern::new(640, 480).unwrap();
    let mut enc = Vp8Encoder::new(&Vp8Config::new(640, 480, 30, 800)).unwrap();
    let mut dec = Vp8Decoder::new().unwrap();
    let mut n = 0u32;
    let mut step = |enc: &mut Vp8Encoder, w: u32, h: u32, force: bool| {
        let src = pattern.render(n, T0 + n as u64 * FRAME_US);
        let src = peercall::media::scale::downscale(&src, w, h).unwrap();
        n += 1;
        let out = enc.encode(&src, force).unwrap();
        let dec = dec.decode(&out[0].data, 0).unwrap().unwrap();
        let marker = read_marker_frame(&dec).expect("marker readable");
        ((dec.width, dec.height), marker.counter, out[0].keyframe)
    };
    assert_eq!(step(&mut enc, 640, 480, true), ((640, 480), 0, true));
    // The link got thin: three quarters, from a keyframe, the frame counter still readable.
    enc.set_size(480, 360).unwrap();
    assert_eq!(step(&mut enc, 480, 360, true), ((480, 360), 1, true));
    assert_eq!(step(&mut enc, 480, 360, false).0, (480, 360));
    // And back to the size it was made with; never above it.
    enc.set_size(640, 480).unwrap();
    assert_eq!(step(&mut enc, 640, 480, true).0, (640, 480));
    assert!(enc.set_size(1280, 720).is_err());
    assert!(enc.set_size(481, 360).is_err());
}

#[test]
fn a_keyframe_declaring_a_huge_picture_is_refused_before_decoding() {
    let pattern = TestPattern::new(640, 480).unwrap();
    let mut enc = Vp8Encoder::new(&Vp8Config::new(640, 480, 30, 800)).unwrap();
    let key = enc
        .encode(&pattern.render(0, T0), true)
        .unwrap()
        .remove(0)
        .data;
    assert_eq!(peercall::media::vp8::keyframe_size(&key), Some((640, 480)));
    // The same keyframe, saying it is 16000×16000.
    let mut huge = key.clone();
    huge[6..8].copy_from_slice(&16000u16.to_le_bytes());
    huge[8..10].copy_from_slice(&16000u16.to_le_bytes());
    let mut dec = Vp8Decoder::new().unwrap();
    match dec.decode(&huge, 0) {
        Err(MediaError::TooLarge { width, height, .. }) => {
            assert_eq!((width, height), (16000, 16000))
        }
        other => panic!("{:?}", other.map(|f| f.map(|f| (f.width, f.height)))),
    }
    // The decoder goes on with real frames.
    assert!(dec.decode(&key, 0).unwrap().is_some());
}
