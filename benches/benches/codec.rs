//! Codec cost: bincode 2 vs JSON, encode and decode of a typical profile-sized value, through
//! `cache_core::Codec` (fingerprint and format byte included). Decides the default codec.
//!
//! Run: `cargo bench -p benches --bench codec`. Results: `BENCHMARKS.md`.

use std::hint::black_box;
use std::time::Duration;

use benches::{Profile, profile};
use cache_core::Codec;
use criterion::{Criterion, criterion_group, criterion_main};

fn codec(c: &mut Criterion) {
    let value = profile();
    let mut group = c.benchmark_group("codec");
    for (name, codec) in [("bincode", Codec::bincode()), ("json", Codec::json())] {
        let stored = codec.encode(&value).unwrap();
        group.bench_function(format!("{name}/encode"), |b| {
            b.iter(|| codec.encode(black_box(&value)).unwrap())
        });
        group.bench_function(format!("{name}/decode"), |b| {
            b.iter(|| codec.decode::<Profile>(black_box(&stored)).unwrap())
        });
        println!("codec/{name}: {} bytes", stored.payload.len());
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
    targets = codec
}
criterion_main!(benches);
