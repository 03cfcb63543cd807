//! Bloom filter probes (10 bits per key) for present and absent keys, and filter build; and the
//! probe latency of a filter far larger than the caches (10M keys, 12.5 MB), blocked (what
//! tables are written with) against legacy (what older tables hold).

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use kvstore_benches::key;
use kvstore_sstable::filter::{bloom_hash, build_filter, build_legacy_filter, BloomFilter};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::Duration;

const KEYS: u64 = 100_000;
const BIG_KEYS: u64 = 10_000_000;

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

/// One probe of an absent (random) hash into a 10M-key filter. Each hash depends on the previous
/// probe's answer, so probes do not overlap and the figure is the latency of one lookup —
/// memory-bound for both encodings, one cache miss (blocked) against up to seven (legacy).
fn bench_big(c: &mut Criterion) {
    let mut g = c.benchmark_group("bloom_10m");
    let hashes: Vec<u64> = (0..BIG_KEYS).map(|i| bloom_hash(&key(i))).collect();
    for (name, enc) in [
        ("probe_absent_blocked", build_filter(&hashes, 10)),
        ("probe_absent_legacy", build_legacy_filter(&hashes, 10)),
    ] {
        let f = BloomFilter::decode(enc).expect("valid filter");
        let mut rng = StdRng::seed_from_u64(5);
        let mut last = false;
        g.bench_function(name, |b| {
            b.iter(|| {
                last = f.may_contain_hash(rng.gen::<u64>() ^ u64::from(last));
                last
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::quick(Duration::from_secs(2));
    targets = bench, bench_big
}
criterion_main!(benches);
