//! Range tombstones: `delete_range(start, end)` as one entry, not a delete per key.
//!
//! A range tombstone `[start, end)` written at sequence `t` hides every version of every key in
//! the range whose sequence is below `t`, for readers at `t` or later. It is written to the WAL
//! as one batch entry (kind 2, `docs/formats/wal.md`) and kept, while its memtable group lives,
//! beside that group's memtables ([`crate::db::MemGroup`]); the flush of the group moves it into
//! the manifest (tag 7, `docs/formats/manifest.md`), where it stays as part of every
//! [`crate::version::Version`] until `compact_range` over its range has dropped every version
//! it hides and no snapshot can still see them (tag 8 then removes it). Tables never hold range
//! tombstones, so their format, their key ranges and the non-overlap of a level are untouched.
//!
//! Invariants, to ensure correctness:
//! - a read at sequence `s` that found the newest version `v <= s` of a key treats it as absent
//!   when a tombstone with `v < t <= s` covers the key ([`covers`]); every tombstone a read can
//!   need is in its read view (the memtable groups' lists and the version's, swapped together
//!   when a flush moves them);
//! - a flush or compaction may drop a version `v` covered by a tombstone `t > v` only when no
//!   snapshot lies in `[v, t)` ([`hidden_from_every_reader`]): readers at `t` or later see the
//!   tombstone, readers below `v` never saw the version;
//! - a tombstone is removed only when no table holds a version it hides (checked by a scan of
//!   its range after a manual compaction) and no snapshot below `t` exists.
//!
//! Scale: a read checks each live tombstone of its column family (linear, after the key was
//! found); iterators fragment them once per scan. Thousands of live tombstones in one column
//! family would slow every read — tombstones are meant for dropping ranges (a shard, a stale
//! snapshot), not as a per-key delete.

use kvstore_base::iter::InternalIterator;
use kvstore_base::{Result, SeqNo, ValueKind};

/// One range tombstone.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RangeTombstone {
    /// First key of the range (inclusive).
    pub start: Vec<u8>,
    /// End of the range (exclusive); always greater than `start`.
    pub end: Vec<u8>,
    /// The sequence number it was written at.
    pub seq: SeqNo,
}

impl RangeTombstone {
    fn contains(&self, key: &[u8]) -> bool {
        self.start.as_slice() <= key && key < self.end.as_slice()
    }
}

/// Whether a tombstone of `lists` hides version `v` of `key` from a reader at `read_seq`.
pub fn covers<'a>(
    lists: impl IntoIterator<Item = &'a [RangeTombstone]>,
    key: &[u8],
    v: SeqNo,
    read_seq: SeqNo,
) -> bool {
    lists
        .into_iter()
        .flatten()
        .any(|t| v < t.seq && t.seq <= read_seq && t.contains(key))
}

/// Whether version `v` of `key` is hidden by a tombstone of `list` from every possible reader
/// given the live `snapshots` (ascending): some tombstone `t > v` covers it and no snapshot
/// lies in `[v, t)`. Such a version may be dropped by a flush or compaction.
pub fn hidden_from_every_reader(
    list: &[RangeTombstone],
    key: &[u8],
    v: SeqNo,
    snapshots: &[SeqNo],
) -> bool {
    list.iter().any(|t| {
        v < t.seq && t.contains(key) && {
            // The first snapshot at or above v must be at or above t.
            let i = snapshots.partition_point(|&s| s < v);
            snapshots.get(i).is_none_or(|&s| s >= t.seq)
        }
    })
}

/// The tombstones visible at one sequence number, cut into sorted, disjoint fragments each
/// carrying the newest tombstone over it, for an iterator's many lookups in key order.
#[derive(Debug, Default)]
pub struct Fragments {
    /// `(start, end, newest seq)`, sorted by start, disjoint.
    frags: Vec<(Vec<u8>, Vec<u8>, SeqNo)>,
}

impl Fragments {
    /// Fragments the tombstones of `lists` with `seq <= read_seq`.
    pub fn new<'a>(lists: impl IntoIterator<Item = &'a [RangeTombstone]>, read_seq: SeqNo) -> Self {
        let visible: Vec<&RangeTombstone> = lists
            .into_iter()
            .flatten()
            .filter(|t| t.seq <= read_seq)
            .collect();
        if visible.is_empty() {
            return Fragments::default();
        }
        // Every start and end is a boundary; between two boundaries the newest covering
        // tombstone is constant.
        let mut bounds: Vec<&[u8]> = visible
            .iter()
            .flat_map(|t| [t.start.as_slice(), t.end.as_slice()])
            .collect();
        bounds.sort_unstable();
        bounds.dedup();
        let mut frags: Vec<(Vec<u8>, Vec<u8>, SeqNo)> = Vec::new();
        for w in bounds.windows(2) {
            let (a, b) = (w[0], w[1]);
            let newest = visible
                .iter()
                .filter(|t| t.start.as_slice() <= a && b <= t.end.as_slice())
                .map(|t| t.seq)
                .max();
            if let Some(seq) = newest {
                match frags.last_mut() {
                    Some(last) if last.1.as_slice() == a && last.2 == seq => last.1 = b.to_vec(),
                    _ => frags.push((a.to_vec(), b.to_vec(), seq)),
                }
            }
        }
        Fragments { frags }
    }

    /// Whether version `v` of `key` is hidden (a visible tombstone newer than `v` covers it).
    pub fn covers(&self, key: &[u8], v: SeqNo) -> bool {
        if self.frags.is_empty() {
            return false;
        }
        let i = self.frags.partition_point(|f| f.0.as_slice() <= key);
        i > 0 && {
            let f = &self.frags[i - 1];
            key < f.1.as_slice() && v < f.2
        }
    }
}

/// Passes the entries of `inner` on, minus those hidden from every reader by `tombstones`
/// (a flush's or compaction's output; see [`hidden_from_every_reader`]).
pub struct DropHidden<I> {
    inner: I,
    tombstones: Vec<RangeTombstone>,
    snapshots: Vec<SeqNo>,
}

impl<I: InternalIterator> DropHidden<I> {
    /// `snapshots` ascending.
    pub fn new(inner: I, tombstones: Vec<RangeTombstone>, snapshots: Vec<SeqNo>) -> Self {
        DropHidden {
            inner,
            tombstones,
            snapshots,
        }
    }

    fn skip_hidden(&mut self) -> Result<()> {
        if self.tombstones.is_empty() {
            return Ok(());
        }
        while self.inner.valid()
            && hidden_from_every_reader(
                &self.tombstones,
                self.inner.user_key(),
                self.inner.seq(),
                &self.snapshots,
            )
        {
            self.inner.next()?;
        }
        Ok(())
    }
}

impl<I: InternalIterator> InternalIterator for DropHidden<I> {
    fn valid(&self) -> bool {
        self.inner.valid()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.inner.seek_to_first()?;
        self.skip_hidden()
    }
    fn seek(&mut self, user_key: &[u8], seq: SeqNo) -> Result<()> {
        self.inner.seek(user_key, seq)?;
        self.skip_hidden()
    }
    fn next(&mut self) -> Result<()> {
        self.inner.next()?;
        self.skip_hidden()
    }
    fn user_key(&self) -> &[u8] {
        self.inner.user_key()
    }
    fn seq(&self) -> SeqNo {
        self.inner.seq()
    }
    fn kind(&self) -> ValueKind {
        self.inner.kind()
    }
    fn value(&self) -> &[u8] {
        self.inner.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(start: &str, end: &str, seq: SeqNo) -> RangeTombstone {
        RangeTombstone {
            start: start.into(),
            end: end.into(),
            seq,
        }
    }

    #[test]
    fn a_tombstone_hides_older_versions_in_its_range_from_later_readers() {
        let l = [t("b", "d", 10)];
        assert!(covers([&l[..]], b"b", 5, 10));
        assert!(covers([&l[..]], b"c", 9, 20));
        assert!(!covers([&l[..]], b"d", 5, 20), "end is exclusive");
        assert!(!covers([&l[..]], b"a", 5, 20));
        assert!(!covers([&l[..]], b"b", 11, 20), "newer versions survive");
        assert!(
            !covers([&l[..]], b"b", 5, 9),
            "readers before it do not see it"
        );
    }

    #[test]
    fn a_snapshot_between_version_and_tombstone_keeps_the_version() {
        let l = [t("a", "z", 10)];
        assert!(hidden_from_every_reader(&l, b"k", 5, &[]));
        assert!(hidden_from_every_reader(&l, b"k", 5, &[3, 10, 12]));
        assert!(!hidden_from_every_reader(&l, b"k", 5, &[5]));
        assert!(!hidden_from_every_reader(&l, b"k", 5, &[2, 9]));
        assert!(!hidden_from_every_reader(&l, b"k", 10, &[]));
    }

    /// Every positioning call skips what a tombstone hides from every reader, `seek` too (no
    /// flush or compaction seeks today, but the iterator is an `InternalIterator` like any other).
    #[test]
    fn drop_hidden_skips_hidden_entries_after_every_positioning_call() {
        use kvstore_base::iter::VecIterator;
        let e = |k: &str, seq| (k.as_bytes().to_vec(), seq, ValueKind::Put, b"v".to_vec());
        let entries = vec![
            e("a", 5),
            e("b", 5),
            e("b", 3),
            e("c", 12),
            e("c", 5),
            e("d", 5),
        ];
        let mut it = DropHidden::new(VecIterator::new(entries), vec![t("b", "d", 10)], vec![]);
        let mut seen = Vec::new();
        it.seek_to_first().unwrap();
        while it.valid() {
            seen.push((it.user_key().to_vec(), it.seq()));
            it.next().unwrap();
        }
        let want: Vec<(Vec<u8>, SeqNo)> =
            vec![(b"a".to_vec(), 5), (b"c".to_vec(), 12), (b"d".to_vec(), 5)];
        assert_eq!(seen, want);
        it.seek(b"b", kvstore_base::key::MAX_SEQ).unwrap();
        assert!(it.valid());
        assert_eq!((it.user_key(), it.seq()), (&b"c"[..], 12));
        it.next().unwrap();
        assert_eq!((it.user_key(), it.seq()), (&b"d"[..], 5), "c@5 is hidden");
    }

    proptest! {
        /// Fragments answer exactly like the linear check.
        #[test]
        fn fragments_agree_with_the_linear_check(
            ts in prop::collection::vec((0u8..20, 1u8..8, 1u64..50), 0..8),
            probes in prop::collection::vec((0u8..30, 0u64..60), 1..40),
            read_seq in 0u64..60,
        ) {
            let list: Vec<RangeTombstone> = ts
                .iter()
                .map(|&(s, len, seq)| RangeTombstone {
                    start: vec![s],
                    end: vec![s + len],
                    seq,
                })
                .collect();
            let f = Fragments::new([&list[..]], read_seq);
            for (k, v) in probes {
                prop_assert_eq!(
                    f.covers(&[k], v),
                    covers([&list[..]], &[k], v, read_seq),
                    "key {} version {}", k, v
                );
            }
        }
    }
}
