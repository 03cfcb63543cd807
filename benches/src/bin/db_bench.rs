//! db_bench-style whole-engine benchmark (RocksDB's defaults: 16-byte keys, 100-byte values,
//! 1M keys). Prints `name : X micros/op; Y ops/s` rows with latency percentiles, and write and
//! space amplification; `--json FILE` writes the rows as JSON.
//!
//! Durability: like RocksDB's db_bench, every workload writes with the WAL on and no per-write
//! fsync, except `fillsync`, where 4 threads write durably (fsync before each acknowledgement,
//! shared by group commit).

use anyhow::{bail, Context, Result};
use clap::Parser;
use kvstore_benches::{key, percentiles};
use kvstore_engine::{Compression, Db, Options, WriteBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "db_bench-style benchmark of the KVStore engine")]
struct Args {
    /// Comma-separated workloads, run in order on one database.
    #[arg(
        long,
        default_value = "fillseq,fillrandom,overwrite,readrandom,readmissing,readseq,seekrandom,deleterandom,fillsync"
    )]
    benchmarks: String,
    /// Number of keys.
    #[arg(long, default_value_t = 1_000_000)]
    num: u64,
    /// Operations for read workloads (default: num).
    #[arg(long)]
    reads: Option<u64>,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Database directory (default: a fresh temporary directory).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Memtable size in MiB.
    #[arg(long, default_value_t = 64)]
    memtable_mb: usize,
    /// Block cache size in MiB.
    #[arg(long, default_value_t = 8)]
    cache_mb: usize,
    /// zstd level for blocks (0 = no compression).
    #[arg(long, default_value_t = 0)]
    zstd: i32,
    /// Writes per batch in fill workloads.
    #[arg(long, default_value_t = 1)]
    batch: u64,
    /// Operations of fillsync (durable writes are slow: default num / 100).
    #[arg(long)]
    sync_ops: Option<u64>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    #[arg(long, default_value_t = 301)]
    seed: u64,
}

struct Row {
    name: String,
    ops: u64,
    secs: f64,
    lat: kvstore_benches::Percentiles,
    extra: String,
}

impl Row {
    fn print(&self) {
        let micros = self.secs * 1e6 / self.ops.max(1) as f64;
        println!(
            "{:<12} : {:>10.3} micros/op; {:>10.0} ops/s; p50 {:.1} p99 {:.1} p99.9 {:.1} us{}",
            self.name,
            micros,
            self.ops as f64 / self.secs,
            self.lat.p50,
            self.lat.p99,
            self.lat.p999,
            self.extra
        );
    }
}

fn dir_bytes(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let tmp;
    let dir = match &args.db {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let opts = Options {
        sync: false,
        memtable_size_bytes: args.memtable_mb << 20,
        block_cache_bytes: args.cache_mb << 20,
        compression: if args.zstd > 0 {
            Compression::Zstd(args.zstd)
        } else {
            Compression::None
        },
        ..Options::default()
    };
    println!(
        "kvstore db_bench: keys {} B, values {} B, {} keys, memtable {} MiB, cache {} MiB, zstd {}, WAL on, sync off (fillsync: fsync per write, 4 threads)",
        16, args.value_size, args.num, args.memtable_mb, args.cache_mb, args.zstd
    );
    let db = Db::open(&dir, opts).context("open")?;
    let reads = args.reads.unwrap_or(args.num);
    let mut rows = Vec::new();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let value = |rng: &mut StdRng| -> Vec<u8> { (0..args.value_size).map(|_| rng.gen()).collect() };

    for name in args
        .benchmarks
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let mut lat = Vec::new();
        let start = Instant::now();
        let mut ops = 0u64;
        let mut extra = String::new();
        match name {
            "fillseq" | "fillrandom" | "overwrite" => {
                let mut i = 0;
                while i < args.num {
                    let t = Instant::now();
                    let mut b = WriteBatch::new();
                    for _ in 0..args.batch.min(args.num - i) {
                        let k = if name == "fillseq" {
                            i
                        } else {
                            rng.gen_range(0..args.num)
                        };
                        b.put(key(k), value(&mut rng));
                        i += 1;
                    }
                    db.write(b)?;
                    lat.push(t.elapsed().as_nanos() as u64);
                }
                ops = args.num;
            }
            "readrandom" | "readmissing" => {
                let mut found = 0;
                for _ in 0..reads {
                    let k = rng.gen_range(0..args.num);
                    let t = Instant::now();
                    let r = if name == "readmissing" {
                        let mut mk = key(k).to_vec();
                        mk.push(b'.');
                        db.get(&mk)?
                    } else {
                        db.get(&key(k))?
                    };
                    lat.push(t.elapsed().as_nanos() as u64);
                    found += r.is_some() as u64;
                }
                ops = reads;
                extra = format!(" ({found} of {reads} found)");
            }
            "readseq" => {
                let t = Instant::now();
                for kv in db.scan::<Vec<u8>>(..)? {
                    kv?;
                    ops += 1;
                }
                lat.push(t.elapsed().as_nanos() as u64);
            }
            "seekrandom" => {
                for _ in 0..reads / 10 {
                    let k = key(rng.gen_range(0..args.num));
                    let t = Instant::now();
                    let n = db.scan(k.to_vec()..)?.take(10).count();
                    lat.push(t.elapsed().as_nanos() as u64);
                    ops += 1;
                    if n == 0 {
                        extra = " (some seeks found nothing)".into();
                    }
                }
            }
            "deleterandom" => {
                for _ in 0..args.num / 10 {
                    let k = key(rng.gen_range(0..args.num));
                    let t = Instant::now();
                    db.delete(&k)?;
                    lat.push(t.elapsed().as_nanos() as u64);
                    ops += 1;
                }
            }
            "fillsync" => {
                let total = args.sync_ops.unwrap_or((args.num / 100).max(1000));
                let threads = 4;
                let db2 = Arc::new(db.clone());
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let db = db2.clone();
                        let n = total / threads;
                        let vs = args.value_size;
                        let num = args.num;
                        std::thread::spawn(move || -> Result<Vec<u64>> {
                            let mut rng = StdRng::seed_from_u64(t);
                            let mut lat = Vec::with_capacity(n as usize);
                            for _ in 0..n {
                                let k = key(rng.gen_range(0..num));
                                let v: Vec<u8> = (0..vs).map(|_| rng.gen()).collect();
                                let mut b = WriteBatch::new();
                                b.put(k, v);
                                let t0 = Instant::now();
                                db.write_opt(b, true)?;
                                lat.push(t0.elapsed().as_nanos() as u64);
                            }
                            Ok(lat)
                        })
                    })
                    .collect();
                for h in handles {
                    let l = h.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
                    ops += l.len() as u64;
                    lat.extend(l);
                }
            }
            other => bail!("unknown benchmark {other:?}"),
        }
        let secs = start.elapsed().as_secs_f64();
        let row = Row {
            name: name.to_string(),
            ops,
            secs,
            lat: percentiles(&mut lat),
            extra,
        };
        row.print();
        rows.push(row);
    }

    db.flush()?;
    let s = db.stats();
    let live: u64 = db
        .scan::<Vec<u8>>(..)?
        .map(|r| r.map(|(k, v)| (k.len() + v.len()) as u64))
        .sum::<Result<u64, _>>()?;
    let disk = dir_bytes(&dir);
    println!(
        "write amplification {:.2} (WAL {} + flush {} + compaction {} bytes over {} user bytes); space amplification {:.2} ({} on disk / {} live); levels {:?}; stalls {}",
        s.write_amplification,
        s.wal_bytes_written,
        s.flush_bytes_written,
        s.compaction_bytes_written,
        s.user_bytes_written,
        disk as f64 / live.max(1) as f64,
        disk,
        live,
        s.levels.iter().map(|l| l.files).collect::<Vec<_>>(),
        s.write_stalls
    );
    if let Some(p) = &args.json {
        let out = json!({
            "engine": "kvstore",
            "num": args.num,
            "value_size": args.value_size,
            "rows": rows.iter().map(|r| json!({
                "name": r.name, "ops": r.ops, "secs": r.secs,
                "ops_per_sec": r.ops as f64 / r.secs,
                "micros_per_op": r.secs * 1e6 / r.ops.max(1) as f64,
                "p50_us": r.lat.p50, "p99_us": r.lat.p99, "p999_us": r.lat.p999,
            })).collect::<Vec<_>>(),
            "write_amplification": s.write_amplification,
            "space_amplification": disk as f64 / live.max(1) as f64,
        });
        std::fs::write(p, serde_json::to_string_pretty(&out)?)?;
    }
    db.close()?;
    Ok(())
}
