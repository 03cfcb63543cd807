//! [`SharedBytes`]: a range of a memory-mapped immutable file, borrowed without copying.
//!
//! Holding one keeps the whole mapping alive (it owns an `Arc` of it), so a block served from a
//! table's map stays readable after the table is closed, compacted away or unlinked — the same
//! lifetime rule a copied block had, without the copy.

use std::ops::{Deref, Range};
use std::sync::Arc;

/// Bytes `[range]` of a read-only memory map. Immutable: the file behind the map is never
/// written or truncated while it is open (the contract of `FileSystem::open_immutable`).
#[derive(Clone)]
pub struct SharedBytes {
    map: Arc<memmap2::Mmap>,
    /// Within `map` (checked when built).
    range: Range<usize>,
}

impl SharedBytes {
    /// `None` when `range` does not lie inside the map.
    pub(crate) fn new(map: Arc<memmap2::Mmap>, range: Range<usize>) -> Option<SharedBytes> {
        if range.start <= range.end && range.end <= map.len() {
            Some(SharedBytes { map, range })
        } else {
            None
        }
    }

    /// The first `len` bytes of this range (all of it when `len` is larger).
    pub fn truncated(mut self, len: usize) -> SharedBytes {
        self.range.end = self.range.end.min(self.range.start + len);
        self
    }
}

impl Deref for SharedBytes {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // In range: checked by `new`, and `truncated` only shrinks it.
        self.map.get(self.range.clone()).unwrap_or(&[])
    }
}

impl std::fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedBytes")
            .field("range", &self.range)
            .finish()
    }
}
