//! Point reads from one SSTable of 100k entries through the block cache: hits, and misses the
//! bloom filter rejects; plus a seek + 10 nexts with the table iterator.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use kvstore_base::fs::{FileSystem, StdFs};
use kvstore_base::iter::InternalIterator;
use kvstore_base::ValueKind;
use kvstore_benches::{key, ValuePool};
use kvstore_sstable::{BlockCache, TableBuilder, TableOptions, TableReader};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::Duration;

const ENTRIES: u64 = 100_000;
const SNAPSHOT: u64 = u64::MAX >> 8;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("000001.sst");
    let fs = StdFs;
    let mut tb = TableBuilder::new(
        fs.create(&path).expect("create"),
        path.clone(),
        TableOptions::default(),
    );
    let mut values = ValuePool::new(1);
    for i in 0..ENTRIES {
        tb.add(&key(i), i + 1, ValueKind::Put, values.next(100))
            .expect("sorted entries");
    }
    tb.finish().expect("finish");
    // A cache larger than the table: every block read after the first is a hit.
    let cache = BlockCache::new(64 << 20);
    let file = fs.open_read(&path).expect("open");
    let t = TableReader::open(file, 1, path, Some(cache)).expect("open table");

    let mut rng = StdRng::seed_from_u64(5);
    let mut g = c.benchmark_group("sst");
    g.bench_function("get_hit_cached", |b| {
        b.iter(|| {
            black_box(
                t.get(&key(rng.gen_range(0..ENTRIES)), SNAPSHOT)
                    .expect("get"),
            )
        })
    });
    g.bench_function("get_miss_bloom", |b| {
        b.iter(|| {
            let mut k = key(rng.gen_range(0..ENTRIES)).to_vec();
            k.push(b'.');
            black_box(t.get(&k, SNAPSHOT).expect("get"))
        })
    });
    g.bench_function("seek_next10", |b| {
        b.iter(|| {
            let mut it = t.iter();
            it.seek(&key(rng.gen_range(0..ENTRIES)), SNAPSHOT)
                .expect("seek");
            for _ in 0..10 {
                if !it.valid() {
                    break;
                }
                black_box(it.value().len());
                it.next().expect("next");
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::quick(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
