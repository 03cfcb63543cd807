//! The write path end to end: WAL append without fsync, one durable writer (one fsync per
//! write), and 4 concurrent durable writers sharing fsyncs through group commit.

use criterion::{criterion_group, criterion_main, Criterion};
use kvstore_benches::{key, ValuePool};
use kvstore_engine::{Db, Options, WriteBatch};
use std::time::{Duration, Instant};

const WRITERS: u64 = 4;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let mut values = ValuePool::new(1);
    let mut i = 0u64;
    let mut g = c.benchmark_group("wal");
    g.bench_function("append_nosync", |b| {
        b.iter(|| {
            i += 1;
            let mut wb = WriteBatch::new();
            wb.put(key(i), values.next(100));
            db.write_opt(wb, false).expect("write");
        })
    });
    g.bench_function("append_fsync_1_writer", |b| {
        b.iter(|| {
            i += 1;
            let mut wb = WriteBatch::new();
            wb.put(key(i), values.next(100));
            db.write_opt(wb, true).expect("write");
        })
    });
    // Reported time is per write: 4 threads each write iters / 4 durable batches.
    g.bench_function("group_commit_4_writers", |b| {
        b.iter_custom(|iters| {
            let per = (iters / WRITERS).max(1);
            let start = Instant::now();
            std::thread::scope(|s| {
                for t in 0..WRITERS {
                    let db = db.clone();
                    s.spawn(move || {
                        let mut values = ValuePool::new(t);
                        for n in 0..per {
                            let mut wb = WriteBatch::new();
                            wb.put(key(t << 40 | n), values.next(100));
                            db.write_opt(wb, true).expect("write");
                        }
                    });
                }
            });
            start.elapsed() * iters as u32 / (per * WRITERS) as u32
        })
    });
    g.finish();
    db.close().expect("close");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
