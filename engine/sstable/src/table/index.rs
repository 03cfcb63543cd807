//! [`TableIndex`]: a table's index block, decoded once when the table is opened.
//!
//! The on-disk index block (one entry per data block: the block's last internal key → its
//! handle, restart interval 1) is walked once at `open`, which checks every entry, and turned
//! into a sorted array. A lookup is then a plain binary search: no varint decoding, no restart
//! array, no handle decoding. Each entry carries the first 8 bytes of its key as a big-endian
//! integer, so most comparisons of the search are one integer compare and touch only the entry
//! array; the full key (in one shared buffer) is read only when the prefixes tie.
//!
//! Invariant: entries are in strictly increasing internal-key order (checked by `decode`).

use crate::block::{Block, BlockIter};
use crate::format::BlockHandle;
use kvstore_base::iter::InternalIterator;
use kvstore_base::{Error, Result, SeqNo};
use std::cmp::Ordering;
use std::sync::Arc;

/// One data block's entry.
#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    /// The first 8 bytes of the key, zero-padded, big-endian: ordering two prefixes that differ
    /// orders their keys the same way.
    prefix: u64,
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
}

#[inline]
fn key_prefix(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
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
                prefix: key_prefix(key),
                key_start,
                key_len,
                seq: it.seq(),
                handle,
            });
            it.next()?;
        }
        Ok(TableIndex { keys, entries })
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
        let prefix = key_prefix(user_key);
        self.entries.partition_point(|e| {
            let ord = match e.prefix.cmp(&prefix) {
                Ordering::Equal => self
                    .entry_key(e)
                    .cmp(user_key)
                    .then_with(|| seq.cmp(&e.seq)),
                o => o,
            };
            ord == Ordering::Less
        })
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

    /// Bytes of memory the decoded index holds.
    pub fn bytes(&self) -> usize {
        self.keys.capacity() + self.entries.capacity() * std::mem::size_of::<IndexEntry>()
    }
}
