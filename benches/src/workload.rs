//! The db_bench workloads, run against any [`BenchEngine`].
//!
//! `fillseq, fillrandom, overwrite` write `num` keys; `readrandom, readmissing` read `reads`
//! keys; `readseq` walks everything; `seekrandom` does `reads / 10` seeks, each followed by
//! reading 10 entries; `deleterandom` deletes `num / 10` random keys; `fillsync` writes
//! `sync_ops` keys from 4 threads, each write durable before it returns.

use crate::engine::BenchEngine;
use crate::{key, percentiles, Percentiles, ValuePool};
use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;

/// Every workload, in the order db_bench runs them by default.
pub const ALL: &[&str] = &[
    "fillseq",
    "fillrandom",
    "overwrite",
    "readrandom",
    "readmissing",
    "readseq",
    "seekrandom",
    "deleterandom",
    "fillsync",
];

/// Not a workload: the step that waits for background work to settle (`BenchEngine::wait_for_compaction`).
pub const WAIT_FOR_COMPACTION: &str = "waitforcompaction";

/// Writers in `fillsync`.
pub const FILLSYNC_THREADS: u64 = 4;
/// Entries read after each seek in `seekrandom`.
pub const SEEK_NEXTS: usize = 10;

/// Sizes of one run.
#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    pub num: u64,
    pub reads: u64,
    pub value_size: usize,
    pub sync_ops: u64,
    pub seed: u64,
    /// Draw progress bars on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
}

/// One measured workload.
#[derive(Clone, Debug)]
pub struct Row {
    pub name: String,
    pub ops: u64,
    pub secs: f64,
    pub lat: Percentiles,
    /// Key + value bytes the workload asked the engine to write.
    pub user_bytes: u64,
    pub note: String,
}

impl Row {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.secs.max(1e-9)
    }

    pub fn micros_per_op(&self) -> f64 {
        self.secs * 1e6 / self.ops.max(1) as f64
    }

    /// `name : X micros/op; Y ops/s` plus latency percentiles.
    pub fn line(&self, engine: &str) -> String {
        format!(
            "{engine:<8} {:<12} : {:>10.3} micros/op; {:>10.0} ops/s; p50 {:.1} p99 {:.1} p99.9 {:.1} us{}",
            self.name,
            self.micros_per_op(),
            self.ops_per_sec(),
            self.lat.p50,
            self.lat.p99,
            self.lat.p999,
            self.note
        )
    }
}

fn bar(cfg: &WorkloadConfig, engine: &str, name: &str, len: u64) -> ProgressBar {
    if !cfg.progress {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>22} [{bar:30}] {pos:>8}/{len:8} {per_sec:>12} eta {eta}",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(format!("{engine} {name}"));
    pb
}

/// Progress is reported every this many operations (an atomic add per op would show up in
/// the fastest workloads).
const TICK: u64 = 4096;

/// Runs workload `name` against `db`.
pub fn run(db: &dyn BenchEngine, name: &str, cfg: &WorkloadConfig) -> Result<Row> {
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ fxhash(name));
    let mut values = ValuePool::new(cfg.seed);
    let mut lat: Vec<u64> = Vec::new();
    let ops: u64;
    let mut user_bytes = 0u64;
    let mut note = String::new();
    let engine = db.name();
    let start = Instant::now();
    match name {
        "fillseq" | "fillrandom" | "overwrite" => {
            let pb = bar(cfg, engine, name, cfg.num);
            lat.reserve(cfg.num as usize);
            for i in 0..cfg.num {
                let k = if name == "fillseq" {
                    i
                } else {
                    rng.gen_range(0..cfg.num)
                };
                let k = key(k);
                let v = values.next(cfg.value_size);
                let t = Instant::now();
                db.put(&k, v)?;
                lat.push(t.elapsed().as_nanos() as u64);
                if i % TICK == 0 {
                    pb.inc(TICK.min(cfg.num - i));
                }
            }
            pb.finish_and_clear();
            ops = cfg.num;
            user_bytes = ops * (16 + cfg.value_size as u64);
        }
        "readrandom" | "readmissing" => {
            let pb = bar(cfg, engine, name, cfg.reads);
            lat.reserve(cfg.reads as usize);
            let mut found = 0u64;
            let mut mk = [0u8; 17];
            for i in 0..cfg.reads {
                let k = key(rng.gen_range(0..cfg.num));
                let t = Instant::now();
                let hit = if name == "readmissing" {
                    // Sorts between existing keys, so range checks cannot rule it out.
                    mk[..16].copy_from_slice(&k);
                    mk[16] = b'.';
                    db.get(&mk)?
                } else {
                    db.get(&k)?
                };
                lat.push(t.elapsed().as_nanos() as u64);
                found += hit as u64;
                if i % TICK == 0 {
                    pb.inc(TICK.min(cfg.reads - i));
                }
            }
            pb.finish_and_clear();
            ops = cfg.reads;
            note = format!(" ({found} of {} found)", cfg.reads);
        }
        "readseq" => {
            let t = Instant::now();
            let (n, _) = db.scan_all()?;
            lat.push(t.elapsed().as_nanos() as u64);
            ops = n;
        }
        "seekrandom" => {
            let seeks = (cfg.reads / 10).max(1);
            let pb = bar(cfg, engine, name, seeks);
            lat.reserve(seeks as usize);
            let mut short = 0u64;
            for i in 0..seeks {
                let k = key(rng.gen_range(0..cfg.num));
                let t = Instant::now();
                let n = db.seek_next(&k, SEEK_NEXTS)?;
                lat.push(t.elapsed().as_nanos() as u64);
                short += (n == 0) as u64;
                if i % TICK == 0 {
                    pb.inc(TICK.min(seeks - i));
                }
            }
            pb.finish_and_clear();
            ops = seeks;
            if short > 0 {
                note = format!(" ({short} seeks found nothing)");
            }
        }
        "deleterandom" => {
            let n = (cfg.num / 10).max(1);
            let pb = bar(cfg, engine, name, n);
            lat.reserve(n as usize);
            for i in 0..n {
                let k = key(rng.gen_range(0..cfg.num));
                let t = Instant::now();
                db.delete(&k)?;
                lat.push(t.elapsed().as_nanos() as u64);
                if i % TICK == 0 {
                    pb.inc(TICK.min(n - i));
                }
            }
            pb.finish_and_clear();
            ops = n;
            user_bytes = n * 16;
        }
        "fillsync" => {
            let per_thread = (cfg.sync_ops / FILLSYNC_THREADS).max(1);
            let pb = bar(cfg, engine, name, per_thread * FILLSYNC_THREADS);
            let results: Vec<Result<Vec<u64>>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..FILLSYNC_THREADS)
                    .map(|t| {
                        let pb = pb.clone();
                        s.spawn(move || -> Result<Vec<u64>> {
                            let mut rng = StdRng::seed_from_u64(cfg.seed + 1000 + t);
                            let mut values = ValuePool::new(cfg.seed + t);
                            let mut lat = Vec::with_capacity(per_thread as usize);
                            for i in 0..per_thread {
                                let k = key(rng.gen_range(0..cfg.num));
                                let v = values.next(cfg.value_size);
                                let t0 = Instant::now();
                                db.put_sync(&k, v)?;
                                lat.push(t0.elapsed().as_nanos() as u64);
                                if i % 64 == 0 {
                                    pb.inc(64.min(per_thread - i));
                                }
                            }
                            Ok(lat)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(anyhow::anyhow!("writer panicked")))
                    })
                    .collect()
            });
            pb.finish_and_clear();
            for r in results {
                lat.extend(r?);
            }
            ops = lat.len() as u64;
            user_bytes = ops * (16 + cfg.value_size as u64);
        }
        other => bail!(
            "unknown benchmark {other:?} (known: {}, and the step {WAIT_FOR_COMPACTION})",
            ALL.join(",")
        ),
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(Row {
        name: name.to_string(),
        ops,
        secs,
        lat: percentiles(&mut lat),
        user_bytes,
        note,
    })
}

/// A tiny stable string hash, so each workload draws its own key sequence from the seed.
fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}
