//! [`TableIndex`]: a table's index block, decoded once when the table is opened.
//!
//! The on-disk index block (one entry per data block: the block's last internal key → its
//! handle, restart interval 1) is walked once at `open`, which checks every entry, and turned
//! into a sorted array. A lookup is then a plain binary search: no varint decoding, no restart
//! array, no handle decoding. Each entry carries 8 bytes of its key as a big-endian integer —
//! the 8 after the prefix every key of the index shares (sorted keys share the common prefix of
//! the first and the last), since keys such as zero-padded numbers often agree on their first 8
//! bytes — so most comparisons of the search are one integer compare and touch only the entry
//! array; the full key (in one shared buffer) is read only when those bytes tie.
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

/// A table's index, from first data block to last.
#[derive(Debug)]
pub struct TableIndex {
    /// Every entry's user key, concatenated in entry order.
    keys: Vec<u8>,
    entries: Vec<IndexEntry>,
    /// Per entry, the 8 bytes of its key after the common prefix, zero-padded, big-endian: for
    /// two keys that both start with the common prefix, ordering two such integers that differ
    /// orders the keys the same way. Kept apart from `entries` so the search walks a dense
    /// array (eight to a cache line).
    prefixes: Vec<u64>,
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
            prefixes: Vec::new(),
            common_len: 0,
        };
        if let (Some(first), Some(last)) = (index.entries.first(), index.entries.last()) {
            let (a, b) = (index.entry_key(first), index.entry_key(last));
            index.common_len = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        }
        let c = index.common_len;
        index.prefixes = index
            .entries
            .iter()
            .map(|e| key_prefix(index.entry_key(e), c))
            .collect();
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
        // Binary search for the first entry not before the target; an entry's full key is
        // read only when its prefix ties with the target's.
        let before = |i: usize| match self.prefixes[i].cmp(&prefix) {
            Ordering::Equal => {
                let e = &self.entries[i];
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
        let (mut lo, mut len) = (0usize, self.prefixes.len());
        while len > 0 {
            let half = len / 2;
            if before(lo + half) {
                lo += half + 1;
                len -= half + 1;
            } else {
                len = half;
            }
        }
        lo
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
    pub fn handle(&self, i: usize) -> Option<BlockHandle> {
        self.entries.get(i).map(|e| e.handle)
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
        let mut b = BlockBuilder::new(1);
        for (i, (k, s)) in keys.iter().enumerate() {
            let mut h = Vec::new();
            BlockHandle {
                offset: i as u64 * 100,
                size: 90,
            }
            .encode_to(&mut h);
            b.add(k, pack_trailer(*s, ValueKind::Put), &h).unwrap();
        }
        let origin = BlockOrigin {
            file: std::path::Path::new("/i").into(),
            offset: 0,
            exact: true,
        };
        TableIndex::decode(Arc::new(Block::decode(b.finish(), origin).unwrap())).unwrap()
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
}
