//! Bloom filter probes (10 bits per key) for present and absent keys, and filter build.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use kvstore_benches::key;
use kvstore_sstable::filter::{bloom_hash, build_filter, BloomFilter};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::Duration;

const KEYS: u64 = 100_000;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("bloom");
    let hashes: Vec<u64> = (0..KEYS).map(|i| bloom_hash(&key(i))).collect();
    g.bench_function("build_100k", |b| {
        b.iter(|| black_box(build_filter(&hashes, 10)))
    });
    let f = BloomFilter::decode(build_filter(&hashes, 10)).expect("valid filter");
    let mut rng = StdRng::seed_from_u64(4);
    g.bench_function("probe_present", |b| {
        b.iter(|| black_box(f.may_contain(&key(rng.gen_range(0..KEYS)))))
    });
    g.bench_function("probe_absent", |b| {
        b.iter(|| black_box(f.may_contain(&key(KEYS + rng.gen_range(0..KEYS)))))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::quick(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
