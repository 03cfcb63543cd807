//! Blocks: the unit of I/O, caching and checksumming. Data blocks and the index block share one
//! encoding (see `docs/formats/sstable.md`):
//!
//! ```text
//! entry*  restart_offset u32 LE * num_restarts  num_restarts u32 LE
//! entry = shared varint | unshared varint | value_len varint | key[shared..] | trailer u64 LE | value
//! ```
//!
//! `shared` is the number of leading bytes the entry's user key has in common with the previous
//! entry's; at a restart point it is 0, so a reader can binary-search the restart array and then
//! scan forward. The trailer is `(seq << 8) | kind`.
//!
//! Invariants: entries are in strictly increasing internal-key order; the first restart is at
//! offset 0; restart offsets strictly increase. [`Block::decode`] checks the restart array and
//! [`BlockIter`] checks every entry (bounds, kind, order) as it decodes it, so a damaged block
//! yields an error rather than a panic or a misordered entry.

mod builder;
mod reader;

pub use builder::BlockBuilder;
pub use reader::{Block, BlockBytes, BlockIter, BlockOrigin};

#[cfg(test)]
mod tests;
