//! Open time of a store with many vectors: with the saved HNSW graph file, and without it (the
//! graph linked again from every stored vector, as every open did before the file existed).
//!
//! ```text
//! cargo run --release -p kvstore-search --example vector_graph_open -- [DOCS] [DIR]
//! ```
//! Defaults: 1,000,000 documents with random 64-d vectors (clustered: 1,000 centres), in a
//! temporary directory (or `DIR`, kept for a later run: an existing store is not refilled).
//! Prints, per open: the time `Indexer::open` took, the time until every vector is linked
//! (pending = 0), the nodes linked by the new process, and the process's CPU time over it.

use kvstore_engine::{Db, Options};
use kvstore_search::hnsw::persist::GRAPH_FILE;
use kvstore_search::{HashingEmbedder, Indexer, SearchOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DIM: usize = 64;

fn opts() -> SearchOptions {
    SearchOptions {
        // Vectors are given; the embedder only has to have the dimension.
        embedder: Some(Arc::new(HashingEmbedder::new(DIM))),
        ..Default::default()
    }
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn open(dir: &Path) -> Indexer {
    Indexer::open(Db::open(dir, Options::default()).unwrap(), opts()).unwrap()
}

/// Waits until the background builder has linked every vector.
fn wait_linked(ix: &Indexer) {
    while ix.stats().unwrap().graph_pending > 0 {
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn measure(dir: &Path, what: &str) {
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let ix = open(dir);
    let opened = t.elapsed();
    wait_linked(&ix);
    let s = ix.stats().unwrap();
    println!(
        "{what:<22}: open {:>8.2} s; every vector linked after {:>8.2} s; nodes linked by this process {:>8}; CPU {:>7.1} s; vectors {}",
        opened.as_secs_f64(),
        t.elapsed().as_secs_f64(),
        s.graph_linked_since_open,
        cpu_seconds() - cpu,
        s.vectors
    );
    ix.close().unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let docs: u32 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = args
        .get(2)
        .map(|d| Path::new(d).to_path_buf())
        .unwrap_or_else(|| tmp.path().to_path_buf());
    if !dir.join("CURRENT").exists() {
        let t = Instant::now();
        let ix = open(&dir);
        let mut rng = StdRng::seed_from_u64(7);
        let centres: Vec<Vec<f32>> = (0..1000)
            .map(|_| (0..DIM).map(|_| rng.gen_range(-1.0..1.0)).collect())
            .collect();
        for chunk in (0..docs).collect::<Vec<_>>().chunks(2_000) {
            let batch = chunk
                .iter()
                .map(|&i| {
                    let c = &centres[rng.gen_range(0..centres.len())];
                    let v: Vec<f32> = c.iter().map(|x| x + rng.gen_range(-0.2..0.2)).collect();
                    (format!("doc{i:08}").into_bytes(), b"d".to_vec(), Some(v))
                })
                .collect();
            ix.put_many_with_vectors(batch).unwrap();
        }
        wait_linked(&ix);
        ix.close().unwrap();
        println!(
            "fill                  : {docs} documents, linked and saved in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let file = dir.join(GRAPH_FILE);
    println!(
        "graph file            : {:.1} MiB",
        std::fs::metadata(&file).map_or(0, |m| m.len()) as f64 / (1 << 20) as f64
    );
    for _ in 0..3 {
        measure(&dir, "with the graph file");
    }
    std::fs::remove_file(&file).unwrap();
    measure(&dir, "without it (rebuild)");
}
