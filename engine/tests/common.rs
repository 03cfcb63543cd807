//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use kvstore_engine::fs::FaultFs;
use kvstore_engine::{Db, Options};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Options that make a tiny workload flush and compact often.
pub fn small_options() -> Options {
    Options {
        memtable_size_bytes: 4 * 1024,
        max_immutable_memtables: 2,
        block_cache_bytes: 64 * 1024,
        block_size_bytes: 512,
        l0_compaction_trigger: 2,
        l0_slowdown_writes_trigger: 6,
        l0_stop_writes_trigger: 10,
        max_bytes_for_level_base: Some(16 * 1024),
        level_size_multiplier: 4,
        target_file_size_bytes: 4 * 1024,
        num_levels: 4,
        ..Options::default()
    }
}

pub fn fault_options(fs: &FaultFs) -> Options {
    Options {
        fs: Arc::new(fs.clone()),
        ..small_options()
    }
}

/// Every live key/value of the default column family.
pub fn dump(db: &Db) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.scan::<Vec<u8>>(..)
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}
