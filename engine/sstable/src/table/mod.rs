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

/// Asks the CPU to start loading the cache line holding `p`, so its miss overlaps the work
/// that precedes its use. The one place the table code issues a prefetch.
#[inline(always)]
pub(crate) fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults and reads nothing into the program,
    // whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests;
