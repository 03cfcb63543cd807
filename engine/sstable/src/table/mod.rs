//! Tables: the [`TableBuilder`] that writes one, the [`TableReader`] that serves point lookups
//! from it (through its [`TableIndex`], the index block decoded at open), and the
//! [`TableIterator`] that scans it.
//!
//! File layout (details in `docs/formats/sstable.md`):
//!
//! ```text
//! data block 0 | ... | data block n-1 | filter block? | properties block | index block | footer
//! ```
//!
//! Invariants of a finished table: at least one entry; data blocks in key order and disjoint;
//! the index has one entry per data block, keyed by that block's last internal key, in order;
//! the metadata blocks follow the data blocks; every block is checksummed.

mod builder;
mod index;
mod iterator;
mod properties;
mod reader;

pub use builder::{TableBuilder, TableMeta};
pub use index::TableIndex;
pub use iterator::TableIterator;
pub use properties::Properties;
pub use reader::TableReader;

pub(crate) use kvstore_base::prefetch::prefetch_line;

#[cfg(test)]
mod tests;
