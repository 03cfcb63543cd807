//! [`MemTableIterator`]: an [`InternalIterator`] over a shared [`MemTable`].
//!
//! A skiplist entry borrows its map, and an iterator that owns an `Arc` of the map cannot hold
//! such a borrow without `unsafe`. So the iterator copies entries out: it fills a small buffer
//! by walking the skiplist from one search, and when the buffer runs out it searches again just
//! past the last copied key (entries are never removed, so that key is a sound resume point).
//! Only keys are copied: a value is read in place from the memtable's arena (the node holds
//! just where it is, and the arena lives as long as the iterator's `Arc` of the memtable).
//! Batches start small after a seek (a seek is often followed by a few reads) and double up to
//! `MAX_BATCH_ENTRIES`, so a long scan pays one `O(log n)` search per 64 entries, and the
//! buffers' allocations are reused.
//!
//! Entries inserted while the iterator runs may or may not be seen; readers filter by snapshot
//! sequence number, and the engine only publishes a sequence number once its batch is inserted.

use std::ops::Bound;
use std::sync::Arc;

use kvstore_base::iter::InternalIterator;
use kvstore_base::{Result, SeqNo, ValueKind};

use crate::arena::ArenaSlice;
use crate::key::{KeyView, Probe};
use crate::memtable::MemTable;

/// Entries copied by the first refill after a seek.
const FIRST_BATCH_ENTRIES: usize = 4;
/// Largest number of entries copied by one refill.
const MAX_BATCH_ENTRIES: usize = 64;

/// One copied entry. The key's `Vec` is reused across refills; the value is not copied at all:
/// its bytes sit in the memtable's arena, which lives as long as the iterator's `Arc`.
struct Slot {
    user_key: Vec<u8>,
    seq: SeqNo,
    kind: ValueKind,
    value: ArenaSlice,
}

/// A cursor over a memtable in internal-key order. `Send`; owns an `Arc` of its memtable.
pub struct MemTableIterator {
    mem: Arc<MemTable>,
    /// Copied entries in internal-key order; `buf[..filled]` are live.
    buf: Vec<Slot>,
    filled: usize,
    /// Index of the current entry in `buf`; the iterator is valid iff `pos < filled`.
    pos: usize,
    /// True when the last refill reached the end of the skiplist.
    at_end: bool,
    /// Size of the next refill.
    batch: usize,
    /// The resume key, swapped out of the last slot before a refill overwrites it.
    resume_key: Vec<u8>,
}

impl MemTableIterator {
    pub(crate) fn new(mem: Arc<MemTable>) -> Self {
        MemTableIterator {
            mem,
            buf: Vec::new(),
            filled: 0,
            pos: 0,
            at_end: true,
            batch: FIRST_BATCH_ENTRIES,
            resume_key: Vec::new(),
        }
    }

    fn current(&self) -> &Slot {
        &self.buf[self.pos]
    }

    /// Refills from the first entry at or after `start` (seeks only: the bound never borrows
    /// from `self`).
    fn refill(&mut self, start: Bound<&dyn KeyView>) {
        let filled = fill(&self.mem, start, &mut self.buf, self.batch);
        self.installed(filled);
    }

    /// Bookkeeping after a [`fill`]: position on the first copied entry, grow the next batch.
    fn installed(&mut self, (filled, at_end): (usize, bool)) {
        self.filled = filled;
        self.at_end = at_end;
        self.pos = 0;
        self.batch = (self.batch * 2).min(MAX_BATCH_ENTRIES);
    }
}

/// Copies up to `batch` entries starting at `start` into `buf`, reusing its allocations.
/// Returns how many were copied and whether the end of the map was reached.
fn fill(
    mem: &MemTable,
    start: Bound<&dyn KeyView>,
    buf: &mut Vec<Slot>,
    batch: usize,
) -> (usize, bool) {
    let mut entry = mem.map.lower_bound(start);
    let mut n = 0;
    while n < batch {
        let Some(e) = entry else {
            return (n, true);
        };
        let k = e.key();
        if n == buf.len() {
            buf.push(Slot {
                user_key: Vec::new(),
                seq: 0,
                kind: ValueKind::Put,
                value: *e.value(),
            });
        }
        let slot = &mut buf[n];
        slot.user_key.clear();
        slot.user_key.extend_from_slice(&k.user_key);
        slot.seq = k.seq();
        slot.kind = k.kind();
        slot.value = *e.value();
        n += 1;
        entry = e.next();
    }
    (n, entry.is_none())
}

impl InternalIterator for MemTableIterator {
    fn valid(&self) -> bool {
        self.pos < self.filled
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.batch = FIRST_BATCH_ENTRIES;
        self.refill(Bound::Unbounded);
        Ok(())
    }

    fn seek(&mut self, user_key: &[u8], seq: SeqNo) -> Result<()> {
        // `Put` sorts first among equal (key, seq), so this is the least internal key >= (k, s).
        let probe = Probe {
            user_key,
            seq,
            kind: ValueKind::Put,
        };
        self.batch = FIRST_BATCH_ENTRIES;
        self.refill(Bound::Included(&probe as &dyn KeyView));
        Ok(())
    }

    fn next(&mut self) -> Result<()> {
        if !self.valid() {
            return Ok(());
        }
        self.pos += 1;
        if self.pos < self.filled || self.at_end {
            return Ok(());
        }
        // Buffer used up but the map goes on: resume strictly after the last copied key.
        let last = self.filled - 1;
        std::mem::swap(&mut self.resume_key, &mut self.buf[last].user_key);
        let (seq, kind) = (self.buf[last].seq, self.buf[last].kind);
        let probe = Probe {
            user_key: &self.resume_key,
            seq,
            kind,
        };
        let filled = fill(
            &self.mem,
            Bound::Excluded(&probe as &dyn KeyView),
            &mut self.buf,
            self.batch,
        );
        self.installed(filled);
        Ok(())
    }

    fn user_key(&self) -> &[u8] {
        &self.current().user_key
    }

    fn seq(&self) -> SeqNo {
        self.current().seq
    }

    fn kind(&self) -> ValueKind {
        self.current().kind
    }

    fn value(&self) -> &[u8] {
        self.mem.arena.get(&self.current().value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(it: &mut MemTableIterator) -> Vec<(Vec<u8>, SeqNo, ValueKind)> {
        let mut out = Vec::new();
        while it.valid() {
            out.push((it.user_key().to_vec(), it.seq(), it.kind()));
            it.next().unwrap();
        }
        out
    }

    #[test]
    fn unpositioned_iterator_is_invalid() {
        let m = Arc::new(MemTable::new());
        m.insert(b"a", 1, ValueKind::Put, b"x");
        let it = m.iter();
        assert!(!it.valid());
    }

    #[test]
    fn scan_crosses_many_refills_in_order() {
        let m = Arc::new(MemTable::new());
        let n = 1000u64;
        for i in 0..n {
            let key = format!("key{:05}", i % 300);
            m.insert(key.as_bytes(), i + 1, ValueKind::Put, &i.to_le_bytes());
        }
        let mut it = m.iter();
        it.seek_to_first().unwrap();
        let got = collect(&mut it);
        assert_eq!(got.len(), n as usize);
        for w in got.windows(2) {
            let ord = kvstore_base::key::cmp_internal(&w[0].0, w[0].1, &w[1].0, w[1].1);
            assert_eq!(ord, std::cmp::Ordering::Less, "{w:?}");
        }
        // next past the end stays invalid and does not fail.
        it.next().unwrap();
        assert!(!it.valid());
    }

    #[test]
    fn seek_lands_on_first_entry_at_or_after_target() {
        let m = Arc::new(MemTable::new());
        m.insert(b"a", 4, ValueKind::Put, b"a4");
        m.insert(b"b", 9, ValueKind::Put, b"b9");
        m.insert(b"b", 5, ValueKind::Delete, b"");
        m.insert(b"b", 2, ValueKind::Put, b"b2");
        m.insert(b"c", 1, ValueKind::Put, b"c1");
        let mut it = m.iter();
        it.seek(b"b", 6).unwrap();
        assert_eq!(
            (it.user_key(), it.seq(), it.kind()),
            (&b"b"[..], 5, ValueKind::Delete)
        );
        assert_eq!(it.value(), b"");
        it.seek(b"b", 5).unwrap();
        assert_eq!(it.seq(), 5);
        it.seek(b"b", 1).unwrap();
        assert_eq!((it.user_key(), it.seq()), (&b"c"[..], 1));
        assert_eq!(it.value(), b"c1");
        it.seek(b"bb", 100).unwrap();
        assert_eq!(it.user_key(), b"c");
        it.seek(b"d", 100).unwrap();
        assert!(!it.valid());
        it.seek(b"", u64::MAX).unwrap();
        assert_eq!((it.user_key(), it.seq()), (&b"a"[..], 4));
    }

    #[test]
    fn iterator_outlives_callers_handle_and_sees_a_stable_prefix() {
        let m = Arc::new(MemTable::new());
        for i in 0..10u64 {
            m.insert(&[b'k', i as u8], i + 1, ValueKind::Put, b"v");
        }
        let mut it = m.iter();
        it.seek_to_first().unwrap();
        // Inserting during iteration (ahead of the cursor) must not break ordering.
        m.insert(&[b'k', 200], 100, ValueKind::Put, b"late");
        drop(m);
        let got = collect(&mut it);
        assert!(got.len() == 10 || got.len() == 11);
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
