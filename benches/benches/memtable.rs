//! MemTable insert and point lookup (16-byte keys, 100-byte values).

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use kvstore_base::ValueKind;
use kvstore_benches::{key, ValuePool};
use kvstore_memtable::MemTable;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::Duration;

const ENTRIES: u64 = 100_000;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("memtable");
    let mut values = ValuePool::new(1);
    let mut rng = StdRng::seed_from_u64(2);
    let mem = MemTable::new();
    let mut seq = 0u64;
    g.bench_function("insert_random", |b| {
        b.iter(|| {
            seq += 1;
            let k = key(rng.gen_range(0..u64::MAX / 2));
            mem.insert(&k, seq, ValueKind::Put, values.next(100));
        })
    });

    let full = MemTable::new();
    for i in 0..ENTRIES {
        full.insert(&key(i), i + 1, ValueKind::Put, values.next(100));
    }
    g.bench_function("get_hit_100k", |b| {
        b.iter(|| black_box(full.get(&key(rng.gen_range(0..ENTRIES)), u64::MAX >> 8)))
    });
    g.bench_function("get_miss_100k", |b| {
        b.iter(|| black_box(full.get(&key(ENTRIES + rng.gen_range(0..ENTRIES)), u64::MAX >> 8)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::quick(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
