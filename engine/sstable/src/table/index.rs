//! [`TableIndex`]: a table's index block, decoded once when the table is opened.
//!
//! The on-disk index block (one entry per data block: the block's last internal key → its
//! handle, restart interval 1) is walked once at `open`, which checks every entry, and turned
//! into arrays searched without decoding anything. Each entry carries 8 bytes of its key as a
//! big-endian integer — the 8 after the prefix every key of the index shares (sorted keys share
//! the common prefix of the first and the last), since keys such as zero-padded numbers often
//! agree on their first 8 bytes — so most comparisons are one integer compare; the full key (in
//! one shared buffer) is read only when those bytes tie.
//!
//! Layout for memory latency: at 10M keys every lookup searches the index of a table whose
//! index is no longer in the CPU caches, and a plain binary search over one array of 8-byte
//! prefixes missed the cache 3–4 times in its last steps. So the prefixes are kept in groups of
//! eight, each group in one 128-byte-aligned [`Group`] with its eight block handles packed
//! beside them; a small array of each group's last prefix (1/8 of the entries: ~2 KB for a
//! 64 MB table) picks the group, and the search touches one group — the prefixes' line and the
//! handles' line, requested together — instead of several scattered lines.
//!
//! Invariant: entries are in strictly increasing internal-key order (checked by `decode`).

use crate::block::{Block, BlockIter};
use crate::format::BlockHandle;
use kvstore_base::iter::InternalIterator;
use kvstore_base::key::cmp_internal;
use kvstore_base::{Error, Result, SeqNo};
use std::cmp::Ordering;
use std::sync::Arc;

/// One data block's entry.
#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    /// The key is `keys[key_start..key_start + key_len]`.
    key_start: u32,
    key_len: u32,
    seq: SeqNo,
    handle: BlockHandle,
}

/// Entries per [`Group`].
const GROUP: usize = 8;

/// A packed handle that did not fit (see [`pack_handle`]): read `IndexEntry::handle` instead.
const UNPACKED: u64 = u64::MAX;

/// Bits of a packed handle given to the block size; the offset gets the other 40 (1 TiB).
const SIZE_BITS: u32 = 24;

/// Eight consecutive entries' search prefixes and handles, on two cache lines of their own.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(128))]
struct Group {
    /// Per entry, the 8 bytes of its key after the common prefix, zero-padded, big-endian: for
    /// two keys that both start with the common prefix, ordering two such integers that differ
    /// orders the keys the same way. Unused slots of the last group hold `u64::MAX`.
    prefixes: [u64; GROUP],
    /// Per entry, its block handle as `offset << 24 | size`, or [`UNPACKED`].
    handles: [u64; GROUP],
}

/// `offset << 24 | size` when both fit (a block under 16 MiB in a file under 1 TiB); else
/// [`UNPACKED`], which no fitting handle can equal (its size would be `2^24 - 1` at an offset
/// of `2^40 - 1`, past any file where such a block fits).
fn pack_handle(h: BlockHandle) -> u64 {
    if h.size < (1 << SIZE_BITS) - 1 && h.offset < 1 << (64 - SIZE_BITS) {
        h.offset << SIZE_BITS | h.size
    } else {
        UNPACKED
    }
}

/// A table's index, from first data block to last.
#[derive(Debug)]
pub struct TableIndex {
    /// Every entry's user key, concatenated in entry order.
    keys: Vec<u8>,
    entries: Vec<IndexEntry>,
    /// Entry `i`'s prefix and handle are `groups[i / 8]`'s slot `i % 8`.
    groups: Vec<Group>,
    /// `tops[g]`: the prefix of group `g`'s last entry.
    tops: Vec<u64>,
    /// Length of the prefix every entry's key starts with.
    common_len: usize,
}

/// 8 bytes of `key` from `from` on, zero-padded, big-endian.
#[inline]
fn key_prefix(key: &[u8], from: usize) -> u64 {
    let rest = key.get(from..).unwrap_or(&[]);
    let mut b = [0u8; 8];
    let n = rest.len().min(8);
    b[..n].copy_from_slice(&rest[..n]);
    u64::from_be_bytes(b)
}

impl TableIndex {
    /// Decodes the index block, checking entry order (the block cursor does) and every handle.
    pub fn decode(block: Arc<Block>) -> Result<TableIndex> {
        let origin = block.origin().clone();
        let mut it = BlockIter::new(block);
        let mut keys = Vec::new();
        let mut entries = Vec::new();
        it.seek_to_first()?;
        while it.valid() {
            let mut v = it.value();
            let handle = match BlockHandle::decode_from(&mut v) {
                Some(h) if v.is_empty() => h,
                _ => {
                    return Err(Error::corruption(
                        origin.file.to_path_buf(),
                        origin.offset,
                        "bad block handle in index",
                    ))
                }
            };
            let key = it.user_key();
            let (Ok(key_start), Ok(key_len)) =
                (u32::try_from(keys.len()), u32::try_from(key.len()))
            else {
                return Err(Error::corruption(
                    origin.file.to_path_buf(),
                    origin.offset,
                    "index keys exceed 4 GiB",
                ));
            };
            keys.extend_from_slice(key);
            entries.push(IndexEntry {
                key_start,
                key_len,
                seq: it.seq(),
                handle,
            });
            it.next()?;
        }
        let mut index = TableIndex {
            keys,
            entries,
            groups: Vec::new(),
            tops: Vec::new(),
            common_len: 0,
        };
        if let (Some(first), Some(last)) = (index.entries.first(), index.entries.last()) {
            let (a, b) = (index.entry_key(first), index.entry_key(last));
            index.common_len = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        }
        let c = index.common_len;
        for chunk in index.entries.chunks(GROUP) {
            let mut g = Group {
                prefixes: [u64::MAX; GROUP],
                handles: [UNPACKED; GROUP],
            };
            for (slot, e) in chunk.iter().enumerate() {
                g.prefixes[slot] = key_prefix(index.entry_key(e), c);
                g.handles[slot] = pack_handle(e.handle);
            }
            index.tops.push(g.prefixes[chunk.len() - 1]);
            index.groups.push(g);
        }
        Ok(index)
    }

    /// Number of entries (data blocks).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Position of the first entry at or after `(user_key, seq)` in internal-key order; `len()`
    /// when every entry sorts before it. That entry's block holds the first table entry at or
    /// after the target, if any.
    #[inline]
    pub fn seek(&self, user_key: &[u8], seq: SeqNo) -> usize {
        let c = self.common_len;
        let common = self
            .entries
            .first()
            .map_or(&[][..], |e| &self.entry_key(e)[..c]);
        if user_key.get(..c) != Some(common) {
            // The target does not start with the common prefix: it sorts before or after all
            // entries, or ties with one only if it is shorter; full comparisons settle it.
            return self.entries.partition_point(|e| {
                cmp_internal(self.entry_key(e), e.seq, user_key, seq) == Ordering::Less
            });
        }
        let prefix = key_prefix(user_key, c);
        // Whether entry `i`, whose prefix is `p`, sorts before the target; its full key is
        // read only when the prefixes tie.
        let before = |i: usize, p: u64| match p.cmp(&prefix) {
            Ordering::Equal => {
                let Some(e) = self.entries.get(i) else {
                    return false;
                };
                // Both keys start with the common prefix: compare what follows it.
                cmp_internal(
                    self.entry_key(e).get(c..).unwrap_or(&[]),
                    e.seq,
                    user_key.get(c..).unwrap_or(&[]),
                    seq,
                ) == Ordering::Less
            }
            o => o == Ordering::Less,
        };
        let n = self.entries.len();
        // The first group whose last entry is not before the target: `before` is monotone, so
        // the answer is in that group (or is `n` when there is none).
        let (mut lo, mut len) = (0usize, self.tops.len());
        while len > 0 {
            let half = len / 2;
            let g = lo + half;
            if before(((g + 1) * GROUP).min(n) - 1, self.tops[g]) {
                lo = g + 1;
                len -= half + 1;
            } else {
                len = half;
            }
        }
        let Some(group) = self.groups.get(lo) else {
            return n;
        };
        super::prefetch_line(group.handles.as_ptr().cast());
        let base = lo * GROUP;
        let mut slot = 0;
        // At most 7 steps within one cache line; the group's last entry ends the walk.
        while slot + 1 < GROUP && base + slot + 1 < n && before(base + slot, group.prefixes[slot]) {
            slot += 1;
        }
        base + slot
    }

    #[inline]
    fn entry_key(&self, e: &IndexEntry) -> &[u8] {
        let start = e.key_start as usize;
        // In range: built by `decode`.
        self.keys
            .get(start..start + e.key_len as usize)
            .unwrap_or(&[])
    }

    /// The user key of entry `i` (`i < len()`): the last user key of its block.
    pub fn user_key(&self, i: usize) -> &[u8] {
        self.entries.get(i).map_or(&[], |e| self.entry_key(e))
    }

    /// The sequence number of entry `i`'s key.
    pub fn seq(&self, i: usize) -> SeqNo {
        self.entries.get(i).map_or(0, |e| e.seq)
    }

    /// The handle of entry `i`'s data block.
    #[inline]
    pub fn handle(&self, i: usize) -> Option<BlockHandle> {
        if i >= self.entries.len() {
            return None;
        }
        let packed = self.groups.get(i / GROUP)?.handles[i % GROUP];
        if packed == UNPACKED {
            return self.entries.get(i).map(|e| e.handle);
        }
        Some(BlockHandle {
            offset: packed >> SIZE_BITS,
            size: packed & ((1 << SIZE_BITS) - 1),
        })
    }

    /// Length of the prefix all keys share (for tests).
    #[cfg(test)]
    pub(crate) fn common_len(&self) -> usize {
        self.common_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{BlockBuilder, BlockOrigin};
    use kvstore_base::key::pack_trailer;
    use kvstore_base::ValueKind;

    fn index_over(keys: &[(&[u8], SeqNo)]) -> TableIndex {
        let handles: Vec<BlockHandle> = (0..keys.len() as u64)
            .map(|i| BlockHandle {
                offset: i * 100,
                size: 90,
            })
            .collect();
        index_with_handles(keys, &handles)
    }

    /// The position a linear scan finds: the first entry at or after the target.
    fn linear(keys: &[(&[u8], SeqNo)], k: &[u8], s: SeqNo) -> usize {
        keys.iter()
            .position(|(ek, es)| cmp_internal(ek, *es, k, s) != Ordering::Less)
            .unwrap_or(keys.len())
    }

    #[test]
    fn seek_agrees_with_a_linear_scan() {
        let keys: Vec<(&[u8], SeqNo)> = vec![
            (b"0000000012", 5),
            (b"0000000012", 3),
            (b"00000000120", 9),
            (b"000000001200000000", 1),
            (b"000000001200000001", 1),
            (b"00000000123", 4),
            (b"000000002", 7),
        ];
        let idx = index_over(&keys);
        assert_eq!(idx.common_len(), 8);
        assert_eq!(idx.len(), keys.len());
        let targets: Vec<&[u8]> = vec![
            b"",
            b"0",
            b"0000000",
            b"00000000",
            b"000000000",
            b"0000000012",
            b"00000000120",
            b"000000001200",
            b"0000000012000000000",
            b"000000001200000001",
            b"00000000122",
            b"000000002",
            b"0000000020",
            b"000000003",
            b"1",
            b"0000000\xff",
        ];
        for t in targets {
            for s in [0, 1, 3, 4, 5, 9, u64::MAX >> 8] {
                assert_eq!(idx.seek(t, s), linear(&keys, t, s), "{t:?}@{s}");
            }
        }
        for (i, (k, s)) in keys.iter().enumerate() {
            assert_eq!(idx.user_key(i), *k);
            assert_eq!(idx.seq(i), *s);
            assert_eq!(idx.handle(i).map(|h| h.offset), Some(i as u64 * 100));
        }
    }

    #[test]
    fn a_single_entry_index_shares_its_whole_key() {
        let keys: Vec<(&[u8], SeqNo)> = vec![(b"abc", 2)];
        let idx = index_over(&keys);
        assert_eq!(idx.common_len(), 3);
        for t in [&b"ab"[..], b"abc", b"abcd", b"b"] {
            for s in [1, 2, 3] {
                assert_eq!(idx.seek(t, s), linear(&keys, t, s), "{t:?}@{s}");
            }
        }
    }

    /// Builds an index whose entry `i` has handle `handles[i]`.
    fn index_with_handles<K: AsRef<[u8]>>(
        keys: &[(K, SeqNo)],
        handles: &[BlockHandle],
    ) -> TableIndex {
        let mut b = BlockBuilder::new(1);
        for ((k, s), h) in keys.iter().zip(handles) {
            let mut v = Vec::new();
            h.encode_to(&mut v);
            b.add(k.as_ref(), pack_trailer(*s, ValueKind::Put), &v)
                .unwrap();
        }
        let origin = BlockOrigin {
            file: std::path::Path::new("/i").into(),
            offset: 0,
            exact: true,
        };
        TableIndex::decode(Arc::new(Block::decode(b.finish(), origin).unwrap())).unwrap()
    }

    #[test]
    fn handles_too_large_to_pack_are_read_from_the_entries() {
        let keys: Vec<(Vec<u8>, SeqNo)> = (0..20u32)
            .map(|i| (format!("k{i:04}").into_bytes(), 1))
            .collect();
        let handles: Vec<BlockHandle> = (0..20u64)
            .map(|i| match i {
                3 => BlockHandle {
                    offset: 7,
                    size: 1 << 24,
                }, // size does not fit
                11 => BlockHandle {
                    offset: 1 << 41,
                    size: 5,
                }, // offset does not fit
                12 => BlockHandle {
                    offset: (1 << 40) - 1,
                    size: (1 << 24) - 2,
                }, // fits exactly
                _ => BlockHandle {
                    offset: i * 4096,
                    size: 4000 + i,
                },
            })
            .collect();
        let idx = index_with_handles(&keys, &handles);
        for (i, h) in handles.iter().enumerate() {
            assert_eq!(idx.handle(i), Some(*h), "entry {i}");
        }
        assert_eq!(idx.handle(20), None);
        assert_eq!(idx.handle(23), None); // an unused slot of the last group
        assert_eq!(idx.handle(100), None);
    }

    proptest::proptest! {
        /// Over many groups, with keys that share long prefixes, tie on their 8 search bytes
        /// and repeat with several sequence numbers, the grouped search finds what a linear
        /// scan finds, and every entry's handle comes back.
        #[test]
        fn grouped_seek_agrees_with_a_linear_scan(
            raw in proptest::collection::btree_set(
                (proptest::collection::vec(proptest::sample::select(vec![b'0', b'1', b'9']), 0..14),
                 0u64..4),
                1..120),
            targets in proptest::collection::vec(
                (proptest::collection::vec(proptest::sample::select(vec![b'0', b'1', b'5', b'9']), 0..15),
                 0u64..5),
                1..40),
        ) {
            // Internal-key order: user key ascending, seq descending; a common 3-byte prefix
            // plus suffixes of up to 14 bytes, so many keys tie on the 8 bytes after it.
            let mut keys: Vec<(Vec<u8>, SeqNo)> = raw
                .into_iter()
                .map(|(k, s)| ([b"pre".as_slice(), &k].concat(), s))
                .collect();
            keys.sort_by(|a, b| cmp_internal(&a.0, a.1, &b.0, b.1));
            let handles: Vec<BlockHandle> = (0..keys.len() as u64)
                .map(|i| BlockHandle { offset: i * 4105, size: 4096 + i % 3 })
                .collect();
            let idx = index_with_handles(&keys, &handles);
            let refs: Vec<(&[u8], SeqNo)> = keys.iter().map(|(k, s)| (k.as_slice(), *s)).collect();
            for (t, s) in &targets {
                for t in [[b"pre".as_slice(), t].concat(), t.clone()] {
                    proptest::prop_assert_eq!(idx.seek(&t, *s), linear(&refs, &t, *s));
                }
            }
            for (k, s) in &refs {
                proptest::prop_assert_eq!(idx.seek(k, *s), linear(&refs, k, *s));
            }
            for (i, h) in handles.iter().enumerate() {
                proptest::prop_assert_eq!(idx.handle(i), Some(*h));
            }
        }
    }
}
