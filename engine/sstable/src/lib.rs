//! KVStore's SSTable: an immutable, sorted file of internal entries.
//!
//! A table is written once by a [`TableBuilder`] (from a memtable flush or a compaction), fsynced,
//! and from then on only read, by a [`TableReader`] shared between threads. The byte layout is
//! specified in `docs/formats/sstable.md`.
//!
//! Guarantees:
//! - **Durability**: [`TableBuilder::finish`] returns only after the whole file is fsynced. The
//!   directory entry is the caller's to sync (the engine does it before naming the table in the
//!   manifest).
//! - **Integrity**: every block, the footer included, carries an xxh3 checksum that is verified
//!   before a single byte of it is decoded. Damaged or arbitrary bytes give
//!   [`Error::Corruption`](kvstore_base::Error::Corruption) or
//!   [`Error::ChecksumMismatch`](kvstore_base::Error::ChecksumMismatch) naming the file and an
//!   offset — never a panic, never an allocation larger than the file, never a wrong value.
//! - **Order**: entries are stored in internal-key order (user key ascending, sequence number
//!   descending); the builder rejects anything else.
//!
//! Module map, in the order data flows:
//! - [`options`]: [`TableOptions`] and [`Compression`].
//! - [`block`]: data and index blocks — prefix-compressed entries with restart points, their
//!   builder, and the decoded [`block::Block`] with its cursor.
//! - [`filter`]: the whole-table bloom filter over user keys.
//! - [`format`]: block handles, the on-disk block trailer (compression type + checksum), the
//!   footer, and reading one checksummed block from a file.
//! - [`table`]: the [`TableBuilder`], the [`TableReader`] and the [`TableIterator`], plus the
//!   properties block.
//! - [`cache`]: the sharded, byte-bounded CLOCK (second-chance) [`BlockCache`] of decoded data blocks.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod block;
pub mod cache;
pub mod filter;
pub mod format;
pub mod options;
pub mod table;

pub use cache::BlockCache;
pub use options::{Compression, TableOptions};
pub use table::{TableBuilder, TableIterator, TableMeta, TableReader};

#[cfg(test)]
mod tests {
    /// The engine moves builders to background threads and shares readers and iterators.
    #[test]
    fn public_types_are_send_and_sync() {
        fn send<T: Send>() {}
        fn send_sync<T: Send + Sync>() {}
        send::<crate::TableBuilder>();
        send::<crate::TableIterator>();
        send_sync::<crate::TableReader>();
        send_sync::<crate::BlockCache>();
    }
}
