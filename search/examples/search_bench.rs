//! Search benchmark: indexing throughput, query latency, HNSW recall and speed.
//!
//! ```text
//! cargo run --release -p kvstore-search --example search_bench -- [DOCS] [QUERIES] [VECTORS]
//! ```
//! Defaults: 100,000 synthetic short documents (20–60 words drawn from a Zipf-like 20,000-word
//! vocabulary), 1,000 queries of 1–3 words, 50,000 random 64-d vectors for the HNSW part
//! (uniform and clustered), then the HNSW on real vectors: the potion-base-2M token rows, 1,000
//! of them held out as queries. Output lines follow db_bench: `name : X micros/op; ...`.
//!
//! Environment: `HNSW_M`, `HNSW_EFC` override the graph parameters; `BENCH_MEMTABLE_MB` sets the
//! engine's memtable size (a bulk-load setting; default the engine's). The machine may be
//! shared, so besides wall-clock rates the bench prints the indexing thread's and the process's
//! CPU time.

use kvstore_engine::{Db, Options};
use kvstore_search::hnsw::{HnswParams, VectorIndex};
use kvstore_search::{Indexer, SearchOptions, StaticEmbedder};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::time::Instant;

const VOCAB: usize = 20_000;

fn word(rng: &mut StdRng) -> String {
    // log-uniform rank ≈ Zipf with exponent 1
    let rank = (VOCAB as f64).powf(rng.gen::<f64>()) as usize;
    let mut w = String::from("w");
    let mut r = rank;
    loop {
        w.push((b'a' + (r % 26) as u8) as char);
        r /= 26;
        if r == 0 {
            return w;
        }
    }
}

/// CPU seconds used so far by each thread of this process, summed by thread name (Linux).
fn cpu_by_thread() -> String {
    let mut by: std::collections::BTreeMap<String, f64> = Default::default();
    let tick = 100.0; // USER_HZ
    for e in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ...`: comm may hold spaces, so split after the last ')'.
        let (Some(a), Some(b)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let f: Vec<&str> = stat[b + 1..].split_whitespace().collect();
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|&i| f.get(i).and_then(|x| x.parse::<f64>().ok()))
            .sum();
        *by.entry(stat[a + 1..b].to_string()).or_default() += ticks / tick;
    }
    by.iter()
        .map(|(k, v)| format!("{k} {v:.1} s"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// CPU time (user + system) of the whole process, exited threads included.
fn process_cpu_secs() -> f64 {
    // SAFETY: `ru` is a valid, writable rusage for the duration of the call.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Voluntary (blocked) and involuntary (preempted) context switches of the calling thread.
fn thread_switches() -> (i64, i64) {
    // SAFETY: `ru` is a valid, writable rusage for the duration of the call.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) } != 0 {
        return (0, 0);
    }
    (ru.ru_nvcsw, ru.ru_nivcsw)
}

/// CPU time of the calling thread (Linux; 0 elsewhere).
fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn latencies(mut v: Vec<f64>, name: &str) {
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "{name:<22}: {mean:10.1} micros/op; p50 {:.1} µs, p99 {:.1} µs ({} queries)",
        percentile(&v, 0.5),
        percentile(&v, 0.99),
        v.len()
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = |i: usize, d: usize| {
        std::env::args()
            .nth(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let (n_docs, n_queries, n_vectors) = (arg(1, 100_000), arg(2, 1_000), arg(3, 50_000));
    let mut rng = StdRng::seed_from_u64(42);

    let tmp = tempfile::tempdir()?;
    let db = Db::open(
        tmp.path(),
        Options {
            sync: false,
            // BENCH_MEMTABLE_MB: a bulk-load memtable size (default: the engine's).
            memtable_size_bytes: std::env::var("BENCH_MEMTABLE_MB")
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
                .map_or(Options::default().memtable_size_bytes, |mb| mb << 20),
            ..Options::default()
        },
    )?;
    let ix = Indexer::open(db, SearchOptions::default())?;
    let docs: Vec<(Vec<u8>, Vec<u8>)> = (0..n_docs)
        .map(|i| {
            let len = rng.gen_range(20..=60);
            let text: Vec<String> = (0..len).map(|_| word(&mut rng)).collect();
            (
                format!("doc{i:08}").into_bytes(),
                text.join(" ").into_bytes(),
            )
        })
        .collect();
    let (t, cpu0, sw0) = (Instant::now(), thread_cpu_secs(), thread_switches());
    let proc0 = process_cpu_secs();
    for chunk in docs.chunks(1_000) {
        ix.put_many(chunk)?;
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "index_put_many_1000     : {:10.1} micros/op; {:.0} docs/s ({n_docs} docs, potion embedding included, sync off; {} vectors still to link)",
        s * 1e6 / n_docs as f64,
        n_docs as f64 / s,
        ix.stats()?.graph_pending
    );
    let sw = thread_switches();
    println!(
        "indexing thread CPU    : {:.2} s of {s:.2} s wall; {} blocking waits, {} preemptions",
        thread_cpu_secs() - cpu0,
        sw.0 - sw0.0,
        sw.1 - sw0.1
    );
    println!(
        "CPU while indexing     : process {:.1} s; live threads so far: {}",
        process_cpu_secs() - proc0,
        cpu_by_thread()
    );
    let es = ix.db().stats();
    println!(
        "engine after indexing  : {} write stalls ({:.0} ms stalled), {:.1} MB user bytes, {:.1} MB WAL, {} flushes, {} compactions",
        es.write_stalls,
        es.stall_micros as f64 / 1e3,
        es.user_bytes_written as f64 / 1e6,
        es.wal_bytes_written as f64 / 1e6,
        es.flushes,
        es.compactions
    );
    ix.wait_for_graph();
    let s = t.elapsed().as_secs_f64();
    println!(
        "index_incl_hnsw_graph   : {:10.1} micros/op; {:.0} docs/s (until every vector is linked)",
        s * 1e6 / n_docs as f64,
        n_docs as f64 / s
    );

    let queries: Vec<String> = (0..n_queries)
        .map(|_| {
            let n = rng.gen_range(1..=3);
            (0..n).map(|_| word(&mut rng)).collect::<Vec<_>>().join(" ")
        })
        .collect();
    let mut lat = Vec::with_capacity(n_queries);
    for q in &queries {
        let t = Instant::now();
        std::hint::black_box(ix.search(q, 10, false)?);
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    latencies(lat, "search_bm25_k10");
    let mut lat = Vec::with_capacity(n_queries);
    for q in &queries {
        let t = Instant::now();
        std::hint::black_box(ix.semantic_search(q, 10)?);
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    latencies(lat, "semantic_search_k10");
    drop(ix);

    // HNSW on two data sets: uniform random vectors (no structure: the hard case) and a
    // Gaussian mixture (clusters, closer to real embeddings).
    let dim = 64;
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let params = HnswParams {
        m: env("HNSW_M", HnswParams::default().m),
        ef_construction: env("HNSW_EFC", HnswParams::default().ef_construction),
        ..HnswParams::default()
    };
    println!(
        "hnsw params: m {}, ef_construction {}",
        params.m, params.ef_construction
    );
    let centers: Vec<Vec<f32>> = (0..256)
        .map(|_| (0..dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect())
        .collect();
    for clustered in [false, true] {
        let name = if clustered { "clustered" } else { "random" };
        let sample = |rng: &mut StdRng| -> Vec<f32> {
            if clustered {
                let c = &centers[rng.gen_range(0..centers.len())];
                c.iter()
                    .map(|x| x + rng.gen_range(-0.35f32..0.35))
                    .collect()
            } else {
                (0..dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
            }
        };
        let base: Vec<Vec<f32>> = (0..n_vectors).map(|_| sample(&mut rng)).collect();
        let qs: Vec<Vec<f32>> = (0..200).map(|_| sample(&mut rng)).collect();
        hnsw_bench(name, params, &base, &qs);
    }
    // Real vectors: the rows of potion-base-2M's token table (29,528 × 64), shuffled; 1,000
    // held out as queries, the rest indexed.
    let model = StaticEmbedder::potion_base_2m()?;
    let mut rows: Vec<Vec<f32>> = model
        .token_rows()
        .filter(|r| r.iter().any(|x| *x != 0.0))
        .map(<[f32]>::to_vec)
        .collect();
    rows.shuffle(&mut rng);
    let qs = rows.split_off(rows.len().saturating_sub(1_000));
    hnsw_bench("potion_tokens", params, &rows, &qs);
    Ok(())
}

/// Builds an index over `base`, then measures recall@10 against an exact scan and queries per
/// second (one thread) for several `ef`.
fn hnsw_bench(name: &str, params: HnswParams, base: &[Vec<f32>], qs: &[Vec<f32>]) {
    let dim = base.first().map_or(0, Vec::len);
    let mut vi = VectorIndex::new(dim, params, 0);
    let t = Instant::now();
    for (i, v) in base.iter().enumerate() {
        vi.upsert(&(i as u64).to_be_bytes(), v);
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "hnsw_build_{name:<14}: {:10.1} micros/op; {:.0} vectors/s ({} × {dim}-d), mean degree L0 {:.1}",
        s * 1e6 / base.len() as f64,
        base.len() as f64 / s,
        base.len(),
        vi.graph().mean_degree(0)
    );
    let t = Instant::now();
    let exact: Vec<Vec<Vec<u8>>> = qs
        .iter()
        .map(|q| vi.search_exact(q, 10).into_iter().map(|h| h.0).collect())
        .collect();
    let s = t.elapsed().as_secs_f64();
    println!(
        "exact_{name:<19}: {:10.1} micros/op; {:.0} q/s ({} queries)",
        s * 1e6 / qs.len() as f64,
        qs.len() as f64 / s,
        qs.len()
    );
    for ef in [16, 32, 64, 128, 256] {
        let t = Instant::now();
        let mut found = 0;
        for (q, ex) in qs.iter().zip(&exact) {
            found += vi
                .search_hnsw(q, 10, ef)
                .iter()
                .filter(|h| ex.contains(&h.0))
                .count();
        }
        let s = t.elapsed().as_secs_f64();
        let label = format!("hnsw_{name}_ef{ef}");
        println!(
            "{label:<25}: {:10.1} micros/op; {:.0} q/s, recall@10 {:.3}",
            s * 1e6 / qs.len() as f64,
            qs.len() as f64 / s,
            found as f64 / (qs.len() * 10).max(1) as f64,
        );
    }
}
