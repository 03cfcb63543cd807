//! [`Options`]: every tunable of the engine, with defaults sized for a small server.

use kvstore_base::fs::{FileSystem, StdFs};
use std::sync::Arc;

/// Per-block compression of SSTables: the table format's own setting (one enum for both).
pub use kvstore_sstable::Compression;

/// How the engine is opened and tuned. `Options::default()` is durable and bounded in memory.
#[derive(Clone, Debug)]
pub struct Options {
    /// Create the database if the directory holds none (default true).
    pub create_if_missing: bool,
    /// fsync the WAL before a write returns (default true). Concurrent writers share one fsync
    /// (group commit). `false` is for bulk loads: a crash may lose the most recent writes, but
    /// never corrupts or reorders what survives.
    pub sync: bool,
    /// A memtable is frozen and flushed once it holds this many bytes (default 8 MiB).
    pub memtable_size_bytes: usize,
    /// Frozen memtables waiting for flush before writers wait (default 2).
    pub max_immutable_memtables: usize,
    /// Bytes of decoded blocks kept in the shared block cache (default 32 MiB).
    pub block_cache_bytes: usize,
    /// Target uncompressed size of an SSTable data block (default 4 KiB).
    pub block_size_bytes: usize,
    /// Bloom filter bits per key (default 10, about 1% false positives; 0 disables filters).
    pub bloom_bits_per_key: usize,
    /// Block compression (default none).
    pub compression: Compression,
    /// L0 file count that triggers a compaction into L1 (default 4).
    pub l0_compaction_trigger: usize,
    /// L0 file count at which writers are slowed (default 12).
    pub l0_slowdown_writes_trigger: usize,
    /// L0 file count at which writers wait for compaction (default 20).
    pub l0_stop_writes_trigger: usize,
    /// Target size of the level L0 compacts into (L1 under static sizing; the base level's
    /// ceiling under dynamic sizing); each deeper level is `level_size_multiplier` times larger.
    /// `None` (the default) means `memtable_size_bytes × l0_compaction_trigger`, RocksDB's
    /// tuning rule of a base level about as large as L0 when it triggers (for 64 MiB memtables
    /// that is 256 MiB, RocksDB's own default).
    pub max_bytes_for_level_base: Option<u64>,
    /// Size ratio between adjacent levels (default 10).
    pub level_size_multiplier: u64,
    /// Target size of one compaction output table (default 8 MiB).
    pub target_file_size_bytes: u64,
    /// Number of levels, L0 included (default 7).
    pub num_levels: usize,
    /// Dynamic level sizing (default true; RocksDB's `level_compaction_dynamic_level_bytes`):
    /// level targets are derived from the largest level downward and L0 compacts into the
    /// highest level that needs to exist, so most data sits in the last level and obsolete
    /// versions stay near `1 / level_size_multiplier` of it. `false` is LevelDB's static
    /// sizing, L1 at `max_bytes_for_level_base`.
    pub dynamic_level_bytes: bool,
    /// Once the manifest grows past this, the next edit starts a new one holding the whole
    /// state as one edit (default 16 MiB; RocksDB's `max_manifest_file_size`), so recovery
    /// never replays an unbounded history.
    pub max_manifest_bytes: u64,
    /// The file system all I/O goes through (default: the real disk).
    pub fs: Arc<dyn FileSystem>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            create_if_missing: true,
            sync: true,
            memtable_size_bytes: 8 << 20,
            max_immutable_memtables: 2,
            block_cache_bytes: 32 << 20,
            block_size_bytes: 4096,
            bloom_bits_per_key: 10,
            compression: Compression::None,
            l0_compaction_trigger: 4,
            l0_slowdown_writes_trigger: 12,
            l0_stop_writes_trigger: 20,
            max_bytes_for_level_base: None,
            level_size_multiplier: 10,
            target_file_size_bytes: 8 << 20,
            num_levels: 7,
            dynamic_level_bytes: true,
            max_manifest_bytes: 16 << 20,
            fs: Arc::new(StdFs),
        }
    }
}
