//! [`MemTable`]: concurrent inserts, snapshot point lookups and size accounting.
//!
//! Invariants:
//! - the skiplist holds each `(user_key, seq)` at most once: the engine gives every write in a
//!   batch its own sequence number, so a second insert of the same pair is a caller bug (it
//!   replaces the value and makes [`MemTable::approximate_bytes`] over-count);
//! - entries are never removed: a memtable only grows until it is frozen and flushed, which is
//!   what lets iterators step by re-searching from an owned copy of their last key.

use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_skiplist::SkipMap;
use kvstore_base::{SeqNo, ValueKind};

use crate::arena::{Arena, ArenaSlice};
use crate::filter::KeyFilter;
use crate::iterator::MemTableIterator;
use crate::key::{KeyView, MemKey, Probe};

/// Bytes charged per entry on top of its key and value: the skiplist node (key inline up to
/// 30 bytes, the `(seq, kind)` word, where the value is, the reference count and a tower of on
/// average two pointers) as the allocator rounds it, and the arena's slack. Measured, not
/// guessed: `examples/footprint.rs` finds 190.7 resident bytes per entry of a 16-byte key and a
/// 100-byte value, i.e. 75 on top of the 116 (it was 219 before values moved into the arena).
/// Keys longer than 30 bytes cost one more allocation, not charged.
pub const ENTRY_OVERHEAD_BYTES: usize = 75;

/// A sorted, concurrent, in-memory table of internal entries. `Send + Sync`: share it in an `Arc`.
pub struct MemTable {
    /// Internal key -> value (empty for tombstones), in internal-key order. Values live in
    /// `arena`; a node holds only where.
    pub(crate) map: SkipMap<MemKey, ArenaSlice>,
    /// The value bytes of every entry; freed with the memtable.
    pub(crate) arena: Arena,
    /// Sum over entries of key + value + [`ENTRY_OVERHEAD_BYTES`]. Relaxed: it is a flush
    /// heuristic, read after the fact, never used to order memory accesses.
    bytes: AtomicUsize,
    /// Bloom filter over the user keys inserted, if the memtable was made with one. Bits are
    /// set before the entry is inserted (ordering argument in [`crate::filter`]).
    filter: Option<KeyFilter>,
}

impl Default for MemTable {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemTable")
            .field("len", &self.len())
            .field("approximate_bytes", &self.approximate_bytes())
            .finish()
    }
}

impl MemTable {
    /// A memtable without a key filter.
    pub fn new() -> Self {
        MemTable {
            map: SkipMap::new(),
            arena: Arena::new(),
            bytes: AtomicUsize::new(0),
            filter: None,
        }
    }

    /// A memtable with a [`KeyFilter`] sized for a budget of `memtable_bytes`, so lookups of
    /// keys it does not hold skip the skiplist search. Costs `memtable_bytes / 64` of memory.
    pub fn with_filter(memtable_bytes: usize) -> Self {
        MemTable {
            filter: Some(KeyFilter::for_memtable(memtable_bytes)),
            ..Self::new()
        }
    }

    /// Inserts one entry. Safe to call from many threads at once. `(user_key, seq)` must be new.
    pub fn insert(&self, user_key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        let charge = user_key.len() + value.len() + ENTRY_OVERHEAD_BYTES;
        let key = MemKey::new(user_key, seq, kind);
        if let Some(f) = &self.filter {
            f.insert(user_key);
        }
        let value = self.arena.push(value);
        self.map.insert(key, value);
        self.bytes.fetch_add(charge, Ordering::Relaxed);
    }

    /// The newest entry of `user_key` with `seq <= snapshot_seq`; a tombstone is returned as
    /// `ValueKind::Delete` (so the caller stops looking in older sources), `None` when the
    /// memtable holds no visible version.
    pub fn get(&self, user_key: &[u8], snapshot_seq: SeqNo) -> Option<(SeqNo, ValueKind, Vec<u8>)> {
        self.get_hashed(
            user_key,
            kvstore_base::checksum::xxh3(user_key),
            snapshot_seq,
        )
    }

    /// [`MemTable::get`] for a key whose `xxh3` the caller has computed (the SSTable filters
    /// use the same hash).
    pub fn get_hashed(
        &self,
        user_key: &[u8],
        hash: u64,
        snapshot_seq: SeqNo,
    ) -> Option<(SeqNo, ValueKind, Vec<u8>)> {
        if self
            .filter
            .as_ref()
            .is_some_and(|f| !f.may_contain_hash(hash))
        {
            return None;
        }
        // `Put` is the largest kind, so (key, snapshot, Put) is the smallest internal key with
        // this user key and seq <= snapshot: the first entry at or after it is the answer.
        let probe = Probe {
            user_key,
            seq: snapshot_seq,
            kind: ValueKind::Put,
        };
        let entry = self
            .map
            .lower_bound(Bound::Included(&probe as &dyn KeyView))?;
        let k = entry.key();
        (k.user_key.as_slice() == user_key)
            .then(|| (k.seq(), k.kind(), self.arena.get(entry.value()).to_vec()))
    }

    /// Starts loading what [`MemTable::get_hashed`] reads first for this hash (its key filter's
    /// word), so a lookup can overlap that miss with others.
    pub fn prefetch_hashed(&self, hash: u64) {
        if let Some(f) = &self.filter {
            f.prefetch_hash(hash);
        }
    }

    /// Keys + values + per-entry overhead of everything inserted so far.
    pub fn approximate_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Number of entries (versions, not distinct user keys).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A cursor over all entries in internal-key order. It holds an `Arc` of the memtable, so it
    /// may outlive the caller's handle (e.g. while the memtable is flushed). Unpositioned until
    /// `seek_to_first` or `seek`.
    pub fn iter(self: &Arc<Self>) -> MemTableIterator {
        MemTableIterator::new(Arc::clone(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_respects_snapshots_and_tombstones() {
        let m = MemTable::new();
        m.insert(b"k", 3, ValueKind::Put, b"v3");
        m.insert(b"k", 5, ValueKind::Delete, b"");
        m.insert(b"k", 7, ValueKind::Put, b"v7");
        m.insert(b"j", 9, ValueKind::Put, b"j9");
        m.insert(b"ka", 1, ValueKind::Put, b"ka1");
        assert_eq!(m.get(b"k", 2), None);
        assert_eq!(m.get(b"k", 3), Some((3, ValueKind::Put, b"v3".to_vec())));
        assert_eq!(m.get(b"k", 4), Some((3, ValueKind::Put, b"v3".to_vec())));
        assert_eq!(m.get(b"k", 5), Some((5, ValueKind::Delete, Vec::new())));
        assert_eq!(m.get(b"k", 6), Some((5, ValueKind::Delete, Vec::new())));
        assert_eq!(
            m.get(b"k", u64::MAX),
            Some((7, ValueKind::Put, b"v7".to_vec()))
        );
        assert_eq!(m.get(b"j", 8), None);
        assert_eq!(m.get(b"missing", u64::MAX), None);
        // A key that is a prefix of another must not match it.
        assert_eq!(m.get(b"kb", u64::MAX), None);
    }

    #[test]
    fn filtered_memtable_answers_like_an_unfiltered_one() {
        let plain = MemTable::new();
        let filtered = MemTable::with_filter(1 << 20);
        for i in 0..2000u32 {
            let k = format!("k{:05}", i * 2);
            let kind = if i % 7 == 0 {
                ValueKind::Delete
            } else {
                ValueKind::Put
            };
            for m in [&plain, &filtered] {
                m.insert(k.as_bytes(), u64::from(i) + 1, kind, b"v");
            }
        }
        for i in 0..4000u32 {
            let k = format!("k{i:05}");
            for seq in [0, 500, u64::MAX] {
                assert_eq!(
                    plain.get(k.as_bytes(), seq),
                    filtered.get(k.as_bytes(), seq)
                );
            }
        }
    }

    #[test]
    fn size_accounting_counts_keys_values_and_overhead() {
        let m = MemTable::new();
        assert!(m.is_empty());
        assert_eq!(m.approximate_bytes(), 0);
        m.insert(b"abc", 1, ValueKind::Put, b"12345");
        m.insert(b"abc", 2, ValueKind::Delete, b"");
        assert_eq!(m.len(), 2);
        assert!(!m.is_empty());
        assert_eq!(m.approximate_bytes(), 3 + 5 + 3 + 2 * ENTRY_OVERHEAD_BYTES);
    }

    #[test]
    fn memtable_and_iterator_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<MemTable>();
        send::<MemTableIterator>();
    }
}
