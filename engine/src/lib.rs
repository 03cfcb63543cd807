//! KVStore's storage engine: a hand-built LSM tree.
//!
//! PLACEHOLDER STAGE: the public API below is final; the internals are being replaced by the
//! WAL + memtable + SSTable implementation.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod batch;
mod cf;
mod db;
mod error;
mod options;

pub use batch::{BatchEntry, WriteBatch, MAX_KEY_BYTES, MAX_VALUE_BYTES};
pub use cf::{ColumnFamily, DEFAULT_CF_ID, DEFAULT_CF_NAME};
pub use db::{Db, DbIterator, DbStats, LevelStats, Snapshot};
pub use error::{Error, Result};
pub use kvstore_base::fs;
pub use options::{Compression, Options};
