//! db_bench-style whole-engine benchmark (RocksDB's defaults: 16-byte keys, 100-byte values,
//! 1M keys). Prints `name : X micros/op; Y ops/s` rows with latency percentiles, then write and
//! space amplification; `--json FILE` writes the results as JSON, `--svg FILE` a bar chart.
//!
//! `--engine kvstore,rocksdb,fjall,sled,redb` (or `all`) runs the same workloads against each
//! engine in turn, in one process, each in a fresh directory. The anchors need
//! `--features compare`.
//!
//! Durability: every workload writes with the log on and no per-write fsync, except
//! `fillsync`, where 4 threads write durably (fsync before each acknowledgement). Each engine
//! prints exactly how it was configured.
//!
//! Write amplification is measured the same way for every engine: bytes the process passed to
//! write system calls while the engine ran (`wchar` of `/proc/self/io`) ÷ key + value bytes the
//! workloads wrote. Space amplification: bytes of the database directory after the last
//! workload and a flush ÷ key + value bytes of the live entries.

use anyhow::{Context, Result};
use clap::Parser;
use kvstore_benches::engine::{self, EngineConfig};
use kvstore_benches::plot::bar_chart_svg;
use kvstore_benches::workload::{self, Row, WorkloadConfig};
use kvstore_benches::{dir_bytes, process_bytes_written};
use serde_json::json;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(about = "db_bench-style benchmark of the KVStore engine, optionally side by side")]
struct Args {
    /// Comma-separated workloads, run in order on one database per engine. `waitforcompaction`
    /// between two of them waits for background flushes and compactions to settle (as in
    /// RocksDB's db_bench; engines without such a call skip it).
    #[arg(
        long,
        default_value = "fillseq,fillrandom,overwrite,readrandom,readmissing,readseq,seekrandom,deleterandom,fillsync"
    )]
    benchmarks: String,
    /// Comma-separated engines (kvstore, rocksdb, fjall, sled, redb) or `all`.
    #[arg(long, default_value = "kvstore")]
    engine: String,
    /// Number of keys.
    #[arg(long, default_value_t = 1_000_000)]
    num: u64,
    /// Operations for read workloads (default: num).
    #[arg(long)]
    reads: Option<u64>,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Parent directory for the databases (default: the system temporary directory). Each
    /// engine gets a fresh subdirectory, removed afterwards.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Write buffer (memtable) size in MiB, for engines that have one (64 = RocksDB's default).
    #[arg(long, default_value_t = 64)]
    memtable_mb: usize,
    /// Block cache size in MiB, for every engine (32 = the default of RocksDB and of kvstore).
    #[arg(long, default_value_t = 32)]
    cache_mb: usize,
    /// zstd level for kvstore blocks (0 = no compression).
    #[arg(long, default_value_t = 0)]
    zstd: i32,
    /// Operations of fillsync (durable writes are slow: default max(num / 100, 1000)).
    #[arg(long)]
    sync_ops: Option<u64>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write an SVG bar chart of ops/s to this file.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// No progress bars on stderr.
    #[arg(long)]
    no_progress: bool,
    #[arg(long, default_value_t = 301)]
    seed: u64,
}

struct EngineResult {
    name: String,
    settings: String,
    rows: Vec<Row>,
    write_amp: f64,
    own_write_amp: Option<f64>,
    space_amp: f64,
    notes: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let engines: Vec<String> = if args.engine == "all" {
        engine::available().iter().map(|s| s.to_string()).collect()
    } else {
        args.engine
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let benchmarks: Vec<&str> = args
        .benchmarks
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let cfg = EngineConfig {
        memtable_bytes: args.memtable_mb << 20,
        cache_bytes: args.cache_mb << 20,
        kvstore_zstd: args.zstd,
    };
    let wl = WorkloadConfig {
        num: args.num,
        reads: args.reads.unwrap_or(args.num),
        value_size: args.value_size,
        sync_ops: args.sync_ops.unwrap_or((args.num / 100).max(1000)),
        seed: args.seed,
        progress: !args.no_progress,
    };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "db_bench: keys 16 B, values {} B (incompressible), {} keys, {} reads, fillsync {} ops on {} threads; {} CPUs",
        wl.value_size, wl.num, wl.reads, wl.sync_ops, workload::FILLSYNC_THREADS, cpus
    );
    println!("durability: log on, no per-write fsync; fillsync: fsync (or fdatasync) before every acknowledgement");

    let mut results = Vec::new();
    for name in &engines {
        let parent = match &args.dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                tempfile::tempdir_in(d)?
            }
            None => tempfile::tempdir()?,
        };
        let dir = parent.path().join(name);
        std::fs::create_dir_all(&dir)?;
        let before = process_bytes_written().unwrap_or(0);
        let db = engine::open(name, &dir, &cfg).with_context(|| format!("open {name}"))?;
        let settings = db.settings();
        println!("{name:<8} settings: {settings}");
        let mut rows = Vec::new();
        for b in &benchmarks {
            if *b == workload::WAIT_FOR_COMPACTION {
                // A step between workloads, not a workload: no row, no ops/s.
                let t = std::time::Instant::now();
                let waited = db
                    .wait_for_compaction()
                    .with_context(|| format!("{name} {b}"))?;
                if waited {
                    println!("{name:<8} {b} : {:.1} s", t.elapsed().as_secs_f64());
                } else {
                    println!("{name:<8} {b} : not supported by this engine, skipped");
                }
                continue;
            }
            let row = workload::run(db.as_ref(), b, &wl).with_context(|| format!("{name} {b}"))?;
            println!("{}", row.line(name));
            rows.push(row);
        }
        db.flush()?;
        let (_, live) = db.scan_all()?;
        let disk = dir_bytes(&dir);
        let written = process_bytes_written().unwrap_or(0).saturating_sub(before);
        let user: u64 = rows.iter().map(|r| r.user_bytes).sum();
        let r = EngineResult {
            name: name.clone(),
            settings,
            write_amp: written as f64 / user.max(1) as f64,
            own_write_amp: db.own_write_amplification(),
            space_amp: disk as f64 / live.max(1) as f64,
            notes: db.notes(),
            rows,
        };
        println!(
            "{name:<8} write amplification {:.2} ({written} bytes written / {user} user bytes{}); space amplification {:.2} ({disk} on disk / {live} live); {}",
            r.write_amp,
            r.own_write_amp.map(|w| format!("; engine's own count {w:.2}")).unwrap_or_default(),
            r.space_amp,
            r.notes
        );
        drop(db);
        results.push(r);
    }

    if results.len() > 1 {
        print_side_by_side(&results);
    }
    if let Some(p) = &args.json {
        let out = json!({
            "num": wl.num,
            "reads": wl.reads,
            "value_size": wl.value_size,
            "sync_ops": wl.sync_ops,
            "cache_mb": args.cache_mb,
            "memtable_mb": args.memtable_mb,
            "cpus": cpus,
            "engines": results.iter().map(|r| json!({
                "engine": r.name,
                "settings": r.settings,
                "write_amplification": r.write_amp,
                "own_write_amplification": r.own_write_amp,
                "space_amplification": r.space_amp,
                "notes": r.notes,
                "rows": r.rows.iter().map(|row| json!({
                    "name": row.name, "ops": row.ops, "secs": row.secs,
                    "ops_per_sec": row.ops_per_sec(),
                    "micros_per_op": row.micros_per_op(),
                    "p50_us": row.lat.p50, "p99_us": row.lat.p99, "p999_us": row.lat.p999,
                    "max_us": row.lat.max,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        std::fs::write(p, serde_json::to_string_pretty(&out)?)?;
    }
    if let Some(p) = &args.svg {
        let workloads: Vec<String> = benchmarks
            .iter()
            .filter(|b| **b != workload::WAIT_FOR_COMPACTION)
            .map(|s| s.to_string())
            .collect();
        let series: Vec<(String, Vec<Option<f64>>)> = results
            .iter()
            .map(|r| {
                let v = workloads
                    .iter()
                    .map(|w| {
                        r.rows
                            .iter()
                            .find(|row| &row.name == w)
                            .map(Row::ops_per_sec)
                    })
                    .collect();
                (r.name.clone(), v)
            })
            .collect();
        std::fs::write(
            p,
            bar_chart_svg(&format!("db_bench, {} keys", wl.num), &workloads, &series),
        )?;
    }
    Ok(())
}

/// One line per workload: ops/s of each engine and kvstore's ratio to RocksDB (when both ran).
fn print_side_by_side(results: &[EngineResult]) {
    println!();
    let mut header = format!("{:<12}", "workload");
    for r in results {
        header += &format!(" {:>10}", r.name);
    }
    header += "  kvstore/rocksdb";
    println!("{header}");
    let ops = |e: &str, w: &str| {
        results
            .iter()
            .find(|r| r.name == e)
            .and_then(|r| r.rows.iter().find(|x| x.name == w))
            .map(Row::ops_per_sec)
    };
    for row in &results[0].rows {
        let mut line = format!("{:<12}", row.name);
        for r in results {
            line += &format!(
                " {:>10}",
                ops(&r.name, &row.name).map_or("-".into(), |v| format!("{v:.0}"))
            );
        }
        if let (Some(k), Some(r)) = (ops("kvstore", &row.name), ops("rocksdb", &row.name)) {
            line += &format!("  {:.2}x", k / r);
        }
        println!("{line}");
    }
}
