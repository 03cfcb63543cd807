//! The HNSW graph survives a restart without being linked again: a clean close saves it
//! durably (a power cut right after it keeps the file), the next open loads it (no node
//! linked by the new process) and answers exactly as before. A graph file older than the data
//! (a crash after more writes) is reconciled: only the vectors written since are linked again,
//! deleted documents never come back; a damaged file, or one whose save failed half-way,
//! costs a rebuild or the older file, never a wrong answer.

mod common;

use common::hashing_opts;
use kvstore_engine::fs::{FaultFs, FaultKind, FileSystem};
use kvstore_engine::{Db, Options};
use kvstore_search::hnsw::persist::GRAPH_FILE;
use kvstore_search::{Indexer, SearchOptions};
use std::path::Path;
use std::sync::Arc;

const DIM: usize = 8;
const N: u32 = 1500;

fn opts() -> SearchOptions {
    SearchOptions {
        // Linked on the write path, so every count below is exact, not a race with a builder.
        background_graph_build: false,
        exact_threshold: 0,
        ..hashing_opts(DIM)
    }
}

/// A pseudo-random vector per (document, version) (splitmix64), components in [-1, 1).
fn vector(i: u32, version: u32) -> Vec<f32> {
    (0..DIM as u64)
        .map(|d| {
            let mut z = (u64::from(i) << 32 | u64::from(version) << 8 | d)
                .wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn key(i: u32) -> Vec<u8> {
    format!("doc{i:05}").into_bytes()
}

fn open_on(fs: &FaultFs) -> Indexer {
    let db = Db::open(
        "/db",
        Options {
            fs: Arc::new(fs.clone()),
            ..Options::default()
        },
    )
    .unwrap();
    Indexer::open(db, opts()).unwrap()
}

fn fill(ix: &Indexer) {
    for i in 0..N {
        ix.put(&key(i), b"text", Some(vector(i, 0))).unwrap();
    }
}

/// A store of `N` documents closed cleanly (its graph saved), then opened again.
fn filled_saved_and_reopened(fs: &FaultFs) -> Indexer {
    let ix = open_on(fs);
    fill(&ix);
    ix.close().unwrap();
    drop(ix);
    open_on(fs)
}

/// The top 10 of a few queries, keys and scores.
fn answers(ix: &Indexer) -> Vec<Vec<(Vec<u8>, u32)>> {
    (0..20)
        .map(|q| {
            ix.semantic_search_vector(&vector(q * 37 + 5, 9), 10)
                .unwrap()
                .into_iter()
                .map(|h| (h.key.clone(), h.score.to_bits()))
                .collect()
        })
        .collect()
}

#[test]
fn a_clean_restart_loads_the_graph_and_answers_the_same() {
    let fs = FaultFs::new();
    let ix = open_on(&fs);
    fill(&ix);
    assert_eq!(ix.stats().unwrap().graph_linked_since_open, N as u64);
    let before = answers(&ix);
    ix.close().unwrap();
    // A power cut right after the close: the saved file is durable, name included.
    fs.crash(None);
    drop(ix);
    assert!(fs.exists(&Path::new("/db").join(GRAPH_FILE)));

    let ix = open_on(&fs);
    let s = ix.stats().unwrap();
    assert_eq!(s.graph_linked_since_open, 0, "the graph was linked again");
    assert_eq!(
        (s.vectors, s.graph_nodes, s.graph_pending),
        (N as usize, N as usize, 0)
    );
    assert_eq!(answers(&ix), before);
}

#[test]
fn a_stale_graph_file_is_reconciled_linking_only_what_changed() {
    let fs = FaultFs::new();
    // More writes, then no clean close: the file on disk is older than the data.
    let ix = filled_saved_and_reopened(&fs);
    for i in N..N + 50 {
        ix.put(&key(i), b"text", Some(vector(i, 0))).unwrap();
    }
    for i in 0..20 {
        ix.put(&key(i), b"text", Some(vector(i, 1))).unwrap();
    }
    // Rewritten with the same vector: nothing to link again.
    ix.put(&key(100), b"other text", Some(vector(100, 0)))
        .unwrap();
    for i in 200..230 {
        assert!(ix.delete(&key(i)).unwrap());
    }
    ix.db().close().unwrap();
    drop(ix);

    let ix = open_on(&fs);
    let s = ix.stats().unwrap();
    assert_eq!(
        s.graph_linked_since_open,
        50 + 20,
        "only the new and changed vectors"
    );
    assert_eq!(s.vectors, (N + 50 - 30) as usize);
    for i in (0..N + 50).step_by(7) {
        let want = if (200..230).contains(&i) {
            None
        } else {
            Some(key(i))
        };
        let version = u32::from(i < 20);
        let top = ix.semantic_search_vector(&vector(i, version), 3).unwrap();
        assert_eq!(
            top.first()
                .map(|h| h.key.clone())
                .filter(|_| want.is_some()),
            want,
            "doc {i}"
        );
        for h in &top {
            let j: u32 = String::from_utf8_lossy(&h.key)[3..].parse().unwrap();
            assert!(!(200..230).contains(&j), "deleted doc {j} returned");
        }
    }
    // The old vector of an overwritten document no longer answers for it.
    let top = ix.semantic_search_vector(&vector(3, 0), 1).unwrap();
    assert_ne!(top[0].key, key(3), "{:?}", top[0]);
}

#[test]
fn a_damaged_graph_file_is_rebuilt_from_the_vectors() {
    let fs = FaultFs::new();
    let ix = open_on(&fs);
    fill(&ix);
    let before = answers(&ix);
    ix.close().unwrap();
    drop(ix);
    let path = Path::new("/db").join(GRAPH_FILE);
    let len = fs.file_len(&path).unwrap();
    fs.corrupt(&path, len / 2, 0x04).unwrap();

    let ix = open_on(&fs);
    let s = ix.stats().unwrap();
    assert_eq!(s.graph_linked_since_open, N as u64, "rebuilt");
    assert_eq!(s.vectors, N as usize);
    // Same vectors, same order, same seed: the rebuilt graph is the same graph.
    assert_eq!(answers(&ix), before);
}

#[test]
fn a_failed_save_keeps_the_older_file_in_force() {
    let fs = FaultFs::new();
    let ix = filled_saved_and_reopened(&fs);
    for i in N..N + 40 {
        ix.put(&key(i), b"text", Some(vector(i, 0))).unwrap();
    }
    fs.inject_once(FaultKind::Sync, 0);
    assert!(
        ix.save_vector_graph().is_err(),
        "the fsync of the new file failed"
    );
    fs.crash(None);
    drop(ix);

    let ix = open_on(&fs);
    let s = ix.stats().unwrap();
    assert_eq!(
        s.graph_linked_since_open, 40,
        "the older file, plus the tail"
    );
    assert_eq!(s.vectors, (N + 40) as usize);
    assert!(!fs.exists(&Path::new("/db").join("VECTORS.hnsw.tmp")));
}
