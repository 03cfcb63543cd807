//! The KVStore memtable: the in-memory, sorted home of the newest writes.
//!
//! A [`MemTable`] is a lock-free skiplist (`crossbeam_skiplist::SkipMap`) of internal entries,
//! ordered by internal key (see [`kvstore_base::key`]): user key ascending, then sequence number
//! descending, then kind descending. Many threads insert concurrently without a lock; readers
//! never block writers.
//!
//! Guarantees:
//! - **Consistency**: a [`MemTable::get`] at snapshot `s` returns the newest entry of the key with
//!   `seq <= s` that was fully inserted before the call began. The engine publishes a sequence
//!   number only after its batch is in the memtable, so a reader never sees half a batch.
//! - **No durability**: the memtable holds nothing the WAL does not; it is rebuilt by replay.
//!
//! Modules:
//! - [`memtable`]: [`MemTable`] itself, insert / get / size accounting.
//! - [`iterator`]: [`MemTableIterator`], the [`kvstore_base::iter::InternalIterator`] over it.
//! - [`filter`]: [`KeyFilter`], the optional in-memory bloom filter that lets a lookup skip the
//!   skiplist search for a key the memtable does not hold.
//! - `arena` (private): the chunks value bytes are copied into, freed with the memtable.
//! - `key` (private): the skiplist key and the allocation-free probe used to search it.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod arena;
pub mod filter;
pub mod iterator;
mod key;
pub mod memtable;

pub use filter::KeyFilter;
pub use iterator::MemTableIterator;
pub use memtable::{MemTable, ENTRY_OVERHEAD_BYTES};
