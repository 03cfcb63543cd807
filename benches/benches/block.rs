//! Data block build (prefix compression + restart points) and seek within a decoded block.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use kvstore_base::iter::InternalIterator;
use kvstore_base::key::pack_trailer;
use kvstore_base::ValueKind;
use kvstore_benches::{key, ValuePool};
use kvstore_sstable::block::{Block, BlockBuilder, BlockIter, BlockOrigin};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Entries of 16-byte keys and 100-byte values that fill about one 4 KiB block.
const ENTRIES_PER_BLOCK: u64 = 32;
const RESTART_INTERVAL: usize = 16;

fn build(values: &mut ValuePool) -> Vec<u8> {
    let mut b = BlockBuilder::new(RESTART_INTERVAL);
    for i in 0..ENTRIES_PER_BLOCK {
        b.add(
            &key(i),
            pack_trailer(i + 1, ValueKind::Put),
            values.next(100),
        )
        .expect("sorted entries");
    }
    b.finish()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("block");
    let mut values = ValuePool::new(1);
    g.bench_function("build_4k", |b| b.iter(|| black_box(build(&mut values))));

    let origin = BlockOrigin {
        file: Arc::from(Path::new("bench.sst")),
        offset: 0,
        exact: true,
    };
    let raw = build(&mut values);
    g.bench_function("decode_4k", |b| {
        b.iter(|| black_box(Block::decode(raw.clone(), origin.clone()).expect("valid block")))
    });
    let block = Arc::new(Block::decode(raw, origin).expect("valid block"));
    let mut rng = StdRng::seed_from_u64(3);
    g.bench_function("seek_4k", |b| {
        b.iter(|| {
            let mut it = BlockIter::new(block.clone());
            it.seek(&key(rng.gen_range(0..ENTRIES_PER_BLOCK)), u64::MAX >> 8)
                .expect("valid block");
            black_box(it.value().len())
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
