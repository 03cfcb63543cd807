//! KVStore's storage engine: a hand-built LSM tree.
//!
//! # Guarantees
//! - **Durability**: with `Options::sync` (the default) a write returns only after its WAL
//!   record is fsynced; concurrent writers share fsyncs (group commit, `write.rs`).
//! - **Atomicity**: a [`WriteBatch`] — over any column families — is one WAL record and becomes
//!   visible at once; after a crash it is wholly present or wholly absent.
//! - **Recovery**: `Db::open` returns exactly the synced prefix of history. A torn WAL tail is
//!   ignored; damage anywhere else is a typed corruption error naming file and offset.
//! - **Poisoning**: after a failed WAL/manifest/table persist every later write fails with
//!   [`Error::Poisoned`] until the database is reopened (a failed fsync is never retried).
//! - **Bounded memory**: memtables (`memtable_size_bytes × (1 + max_immutable_memtables)`) and
//!   the block cache are bounded; table indexes and bloom filters stay resident (about
//!   1.3 bytes per key plus one index entry per 4 KiB block) — the part that grows with data.
//!
//! # Map (in the order data flows)
//! - [`batch`]: `WriteBatch`, the unit of atomicity and the WAL payload.
//! - `write`: group commit, write stalls, memtable switches.
//! - `wal`, `record`: WAL segments and their record framing.
//! - `db`: open/recovery, the read path, snapshots, column families, stats.
//! - `flush`: frozen memtables → L0 tables.
//! - `compact`: runs leveled compactions picked by `kvstore-compaction`.
//! - `manifest`, `version`: the live table set and its durable log of edits.
//! - `iter`: level and user-facing iterators.
//! - `range_del`: range tombstones (`delete_range`), from the WAL to the manifest.
//! - `checkpoint`: consistent copies of a running database (backups, replica snapshots).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod batch;
mod cf;
mod checkpoint;
mod compact;
mod db;
#[doc(hidden)]
pub mod decode;
mod error;
mod filenames;
mod flush;
mod iter;
mod manifest;
#[cfg(test)]
mod manifest_roll_tests;
mod options;
mod range_del;
mod record;
mod resume;
mod stats;
mod version;
mod wal;
mod write;

pub use batch::{
    BatchEntry, EntryKind, WriteBatch, MAX_BATCH_BYTES, MAX_KEY_BYTES, MAX_VALUE_BYTES,
};
pub use cf::{ColumnFamily, DEFAULT_CF_ID, DEFAULT_CF_NAME};
pub use checkpoint::{verify_checkpoint, Checkpoint};
pub use db::{Db, DbStats, LevelStats, Snapshot};
pub use error::{Error, Result};
pub use iter::DbIterator;
pub use kvstore_base::fs;
pub use options::{Compression, Options};
