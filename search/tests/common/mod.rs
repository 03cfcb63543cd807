//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod crash;
pub mod model;
pub mod power_cut_fs;

use kvstore_engine::{Db, Options};
use kvstore_search::{HashingEmbedder, Indexer, SearchOptions};
use std::sync::Arc;

/// A fresh database in a temporary directory (kept alive by the returned guard).
pub fn db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    (dir, db)
}

/// Options with a small deterministic embedder (no model load), for tests about indexing.
pub fn hashing_opts(dim: usize) -> SearchOptions {
    SearchOptions {
        embedder: Some(Arc::new(HashingEmbedder::new(dim))),
        ..Default::default()
    }
}

pub fn indexer() -> (tempfile::TempDir, Indexer) {
    let (dir, db) = db();
    (dir, Indexer::open(db, hashing_opts(16)).unwrap())
}

pub fn keys(hits: &[kvstore_search::Hit]) -> Vec<String> {
    hits.iter()
        .map(|h| String::from_utf8_lossy(&h.key).into_owned())
        .collect()
}

/// Every key in `cf`.
pub fn cf_keys(ix: &Indexer, cf: &str) -> Vec<Vec<u8>> {
    let cf = ix.db().cf(cf).unwrap();
    ix.db()
        .scan_prefix_cf(&cf, b"")
        .unwrap()
        .map(|kv| kv.unwrap().0)
        .collect()
}
