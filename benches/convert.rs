//! I420 → RGBA conversion cost per 1280x720 frame (into a reused buffer).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use peercall::media::convert::i420_to_rgba;
use peercall::media::test_pattern::TestPattern;

fn convert(c: &mut Criterion) {
    let frame = TestPattern::new(1280, 720).unwrap().render(1, 0);
    let mut out = vec![0u8; 1280 * 720 * 4];
    let mut group = c.benchmark_group("i420_to_rgba_1280x720");
    group.throughput(Throughput::Elements(1));
    group.bench_function("frame", |b| {
        b.iter(|| i420_to_rgba(&frame, &mut out).unwrap())
    });
    group.finish();
}

criterion_group!(benches, convert);
criterion_main!(benches);
