//! Iterators over internal entries used by reads and compactions.
//!
//! - [`MergingIterator`]: merges sorted sources (memtables, L0 tables, level iterators) into one
//!   sorted stream; when sources repeat an internal key, the newest source wins.
//! - [`CompactionIterator`]: filters a merged stream down to the versions some snapshot can
//!   still see, the core of every compaction.

mod compaction_iter;
mod merging;

pub use compaction_iter::CompactionIterator;
pub use merging::MergingIterator;
