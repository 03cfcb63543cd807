//! The engines `db_bench` can drive, behind one small trait.
//!
//! Every adapter is opened with the same budget ([`EngineConfig`]) and the same durability
//! contract, which each states in [`BenchEngine::settings`]:
//! - ordinary writes go through the engine's log (WAL / journal) **without** a per-write fsync;
//! - [`BenchEngine::put_sync`] returns only after the write is on stable storage (fsync or
//!   fdatasync), concurrent callers allowed — what `fillsync` measures.
//!
//! The anchors (RocksDB, fjall, sled, redb) are compiled only with the `compare` feature (or
//! one feature per anchor: `rocksdb`, `fjall`, `sled`, `redb`).
//!
//! To ensure a fair comparison, an adapter must:
//! - read the whole value on `get` (copying it out is allowed, not required);
//! - visit every key and value on `scan_all` / `seek_next`;
//! - use one write (one transaction / batch) per `put`, `put_sync` and `delete` call;
//! - stop every background thread and close its files when dropped, so the next engine in the
//!   same process starts from a quiet machine.

use anyhow::Result;
use std::path::Path;

#[cfg(feature = "fjall")]
pub mod fjall;
pub mod kvstore;
#[cfg(feature = "redb")]
pub mod redb;
#[cfg(feature = "rocksdb")]
pub mod rocksdb;
#[cfg(feature = "sled")]
pub mod sled;

/// Budget shared by every engine of one run.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Write buffer (memtable) size in bytes, where the engine has one.
    pub memtable_bytes: usize,
    /// Block / page cache size in bytes.
    pub cache_bytes: usize,
    /// zstd level for kvstore blocks (0 = none). The anchors keep their default compression
    /// (RocksDB is set to LZ4, fjall defaults to LZ4, sled and redb have none).
    pub kvstore_zstd: i32,
}

/// One engine under test. `Send + Sync`: `fillsync` calls it from several threads.
pub trait BenchEngine: Send + Sync {
    /// Short name used in tables and JSON (`kvstore`, `rocksdb`, ...).
    fn name(&self) -> &'static str;
    /// Version and the settings that matter for the comparison (durability, cache, filters).
    fn settings(&self) -> String;
    /// A write through the log, not fsynced before it returns.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()>;
    /// A write that is on stable storage before it returns.
    fn put_sync(&self, key: &[u8], value: &[u8]) -> Result<()>;
    fn delete(&self, key: &[u8]) -> Result<()>;
    /// True when `key` holds a value; the value is read in full.
    fn get(&self, key: &[u8]) -> Result<bool>;
    /// Walks every live entry in key order; returns (entries, key + value bytes).
    fn scan_all(&self) -> Result<(u64, u64)>;
    /// Seeks to the first key `>= key` and reads up to `n` entries; returns how many it read.
    fn seek_next(&self, key: &[u8], n: usize) -> Result<usize>;
    /// Makes everything durable and lets background work settle (before measuring space).
    fn flush(&self) -> Result<()>;
    /// Engine-specific notes for the summary line (levels, stalls, ...).
    fn notes(&self) -> String {
        String::new()
    }
    /// Write amplification as the engine counts it itself, if it does.
    fn own_write_amplification(&self) -> Option<f64> {
        None
    }
    /// Blocks until background flushes and compactions have settled (the `waitforcompaction`
    /// step, as in RocksDB's db_bench). False when the engine has no such call (the step is
    /// then skipped for it, and the output says so).
    fn wait_for_compaction(&self) -> Result<bool> {
        Ok(false)
    }
}

/// The engines this build can run.
pub fn available() -> Vec<&'static str> {
    let mut v = vec!["kvstore"];
    if cfg!(feature = "rocksdb") {
        v.push("rocksdb");
    }
    if cfg!(feature = "fjall") {
        v.push("fjall");
    }
    if cfg!(feature = "sled") {
        v.push("sled");
    }
    if cfg!(feature = "redb") {
        v.push("redb");
    }
    v
}

/// Opens engine `name` in the empty directory `dir`.
pub fn open(name: &str, dir: &Path, cfg: &EngineConfig) -> Result<Box<dyn BenchEngine>> {
    Ok(match name {
        "kvstore" => Box::new(kvstore::KvStore::open(dir, cfg)?),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Box::new(rocksdb::RocksDb::open(dir, cfg)?),
        #[cfg(feature = "fjall")]
        "fjall" => Box::new(fjall::Fjall::open(dir, cfg)?),
        #[cfg(feature = "sled")]
        "sled" => Box::new(sled::Sled::open(dir, cfg)?),
        #[cfg(feature = "redb")]
        "redb" => Box::new(redb::Redb::open(dir, cfg)?),
        other => anyhow::bail!(
            "engine {other:?} is not in this build (have {:?}; the anchors need --features compare)",
            available()
        ),
    })
}
