//! VP8 encode/decode throughput with peercall's realtime settings on
//! test-pattern frames. Throughput is reported as frames per second.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use peercall::media::test_pattern::TestPattern;
use peercall::media::vp8::{Vp8Config, Vp8Decoder, Vp8Encoder};

const FRAMES: u32 = 60;

fn vp8(c: &mut Criterion) {
    for (w, h, kbps) in [(640, 480, 1000), (1280, 720, 2500)] {
        let pattern = TestPattern::new(w, h).unwrap();
        let mut frames: Vec<_> = (0..FRAMES)
            .map(|i| pattern.render(i, i as u64 * 33_333))
            .collect();
        let mut group = c.benchmark_group(format!("vp8_{w}x{h}_{kbps}kbps"));
        group.throughput(Throughput::Elements(1));
        let mut enc = Vp8Encoder::new(&Vp8Config::new(w, h, 30, kbps)).unwrap();
        let mut i = 0usize;
        group.bench_function("encode", |b| {
            b.iter(|| {
                // Frames repeat, but capture times keep advancing at 30 fps
                // so rate control budgets as in a real call.
                let n = frames.len();
                let f = &mut frames[i % n];
                f.capture_us = i as u64 * 33_333;
                i += 1;
                enc.encode(f, false).unwrap()
            })
        });
        // A sequence that starts with a keyframe, so decoding can loop.
        let mut enc = Vp8Encoder::new(&Vp8Config::new(w, h, 30, kbps)).unwrap();
        let packets: Vec<Vec<u8>> = frames
            .iter()
            .enumerate()
            .map(|(n, f)| enc.encode(f, n == 0).unwrap().remove(0).data)
            .collect();
        let mut dec = Vp8Decoder::new().unwrap();
        let mut i = 0usize;
        group.bench_function("decode", |b| {
            b.iter(|| {
                let p = &packets[i % packets.len()];
                i += 1;
                dec.decode(p, 0).unwrap()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, vp8);
criterion_main!(benches);
