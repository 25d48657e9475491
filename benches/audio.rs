//! Opus encode/decode cost per 20 ms frame.

use criterion::{criterion_group, criterion_main, Criterion};
use peercall::media::opus_codec::{OpusDecoder, OpusEncoder};
use peercall::media::tone::ToneSource;
use peercall::media::AudioSource;

fn opus(c: &mut Criterion) {
    let mut tone = ToneSource::new(440.0, 0.3, false).unwrap();
    let blocks: Vec<_> = (0..50).map(|_| tone.next_block().unwrap()).collect();
    let mut enc = OpusEncoder::new(32_000).unwrap();
    let packets: Vec<_> = blocks.iter().map(|b| enc.encode(b).unwrap()).collect();
    let mut group = c.benchmark_group("opus_20ms_frame");
    let mut i = 0;
    group.bench_function("encode", |b| {
        b.iter(|| {
            i += 1;
            enc.encode(&blocks[i % blocks.len()]).unwrap()
        })
    });
    let mut dec = OpusDecoder::new().unwrap();
    let mut i = 0;
    group.bench_function("decode", |b| {
        b.iter(|| {
            i += 1;
            dec.decode(&packets[i % packets.len()], 0).unwrap()
        })
    });
    group.bench_function("conceal", |b| b.iter(|| dec.decode_lost().unwrap()));
    group.finish();
}

criterion_group!(benches, opus);
criterion_main!(benches);
