//! A decoded block and its cursor.
//!
//! [`Block::decode`] validates the restart array once; [`BlockIter`] validates each entry as it
//! steps onto it. Neither trusts a length or offset before checking it against the block's bytes.

use kvstore_base::coding::{get_u64, get_varint, read_u32_at};
use kvstore_base::fs::SharedBytes;
use kvstore_base::iter::InternalIterator;
use kvstore_base::key::{cmp_internal, unpack_trailer};
use kvstore_base::{Error, Result, SeqNo, ValueKind};
use std::cmp::Ordering;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// Where a block came from, so its errors name the file and offset.
#[derive(Debug, Clone)]
pub struct BlockOrigin {
    pub file: Arc<Path>,
    /// Offset of the block in the file.
    pub offset: u64,
    /// True when the block was stored uncompressed, so an offset inside it is also an offset in
    /// the file; otherwise errors report the block's own offset.
    pub exact: bool,
}

impl BlockOrigin {
    fn corruption(&self, pos: usize, detail: impl std::fmt::Display) -> Error {
        let offset = if self.exact {
            self.offset + pos as u64
        } else {
            self.offset
        };
        Error::corruption(
            self.file.to_path_buf(),
            offset,
            format!(
                "block at {}: {detail} (byte {pos} of the decoded block)",
                self.offset
            ),
        )
    }
}

/// What a cached block borrowed from a memory map is charged besides its header: about the
/// cache's own slot and hash-map entry for it, so that a cache full of such blocks is still
/// bounded by its capacity in real memory.
const MAPPED_ENTRY_OVERHEAD_BYTES: usize = 64;

/// Where a block's bytes live.
#[derive(Debug)]
pub enum BlockBytes {
    /// Read (or decompressed) into a buffer of its own.
    Owned(Vec<u8>),
    /// Borrowed from the table's memory map: an uncompressed block served without a copy.
    Mapped(SharedBytes),
}

impl From<Vec<u8>> for BlockBytes {
    fn from(v: Vec<u8>) -> Self {
        BlockBytes::Owned(v)
    }
}

impl std::ops::Deref for BlockBytes {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            BlockBytes::Owned(v) => v,
            BlockBytes::Mapped(m) => m,
        }
    }
}

/// A decoded (decompressed, checksum-verified) block, immutable and shared through the cache.
#[derive(Debug)]
pub struct Block {
    data: BlockBytes,
    /// Offset of the restart array in `data`: entries occupy `data[..restarts_start]`.
    restarts_start: usize,
    num_restarts: usize,
    origin: BlockOrigin,
}

impl Block {
    /// Validates the restart array of `data` (count ≥ 1, first offset 0, offsets strictly
    /// increasing and inside the entry area).
    pub fn decode(data: impl Into<BlockBytes>, origin: BlockOrigin) -> Result<Block> {
        let data = data.into();
        let len = data.len();
        let count = len
            .checked_sub(4)
            .and_then(|p| read_u32_at(&data, p))
            .ok_or_else(|| origin.corruption(0, "block shorter than its restart count"))?
            as usize;
        if count == 0 || count > (len - 4) / 4 {
            return Err(origin.corruption(len - 4, format!("bad restart count {count}")));
        }
        let restarts_start = len - 4 - 4 * count;
        let mut prev: Option<usize> = None;
        for i in 0..count {
            let at = restarts_start + 4 * i;
            let r = read_u32_at(&data, at).unwrap_or(u32::MAX) as usize;
            let ok = match prev {
                None => r == 0,
                Some(p) => r > p,
            };
            if !ok || r >= restarts_start {
                return Err(origin.corruption(at, format!("bad restart offset {r}")));
            }
            prev = Some(r);
        }
        Ok(Block {
            data,
            restarts_start,
            num_restarts: count,
            origin,
        })
    }

    /// The decoded bytes, for reuse as a read buffer once the block is no longer needed (an
    /// empty `Vec` for a block borrowed from a memory map).
    pub fn into_data(self) -> Vec<u8> {
        match self.data {
            BlockBytes::Owned(v) => v,
            BlockBytes::Mapped(_) => Vec::new(),
        }
    }

    /// Where the block was read from.
    pub fn origin(&self) -> &BlockOrigin {
        &self.origin
    }

    /// Number of restart points (for a block built with restart interval 1, its entry count).
    pub fn num_restarts(&self) -> usize {
        self.num_restarts
    }

    /// Bytes of memory this block holds (what the cache charges for it). A block borrowed
    /// from a memory map holds only its header: its bytes are the page cache's, shared with
    /// every other reader of the file, and stay there whether or not the block is cached.
    pub fn charge(&self) -> usize {
        let own = match &self.data {
            BlockBytes::Owned(v) => v.len(),
            BlockBytes::Mapped(_) => MAPPED_ENTRY_OVERHEAD_BYTES,
        };
        own + std::mem::size_of::<Block>()
    }

    fn restart(&self, i: usize) -> usize {
        // In range and valid: checked by `decode`.
        read_u32_at(&self.data, self.restarts_start + 4 * i).unwrap_or(0) as usize
    }

    /// The full key and sequence number of the entry at restart point `i`.
    fn restart_key(&self, i: usize) -> Result<(&[u8], SeqNo)> {
        let pos = self.restart(i);
        let e = self.decode_header(pos)?;
        if e.shared != 0 {
            return Err(self.origin.corruption(pos, "restart entry shares a prefix"));
        }
        Ok((&self.data[e.delta.clone()], e.seq))
    }

    /// Decodes the entry at `pos`, checking every length against the entry area.
    fn decode_header(&self, pos: usize) -> Result<EntryHeader> {
        let area = &self.data[..self.restarts_start];
        let bad = |d: &str| self.origin.corruption(pos, d);
        let mut s = area
            .get(pos..)
            .ok_or_else(|| bad("entry offset past the entries"))?;
        let shared = get_varint(&mut s).ok_or_else(|| bad("bad shared length"))?;
        let unshared = get_varint(&mut s).ok_or_else(|| bad("bad unshared length"))?;
        let value_len = get_varint(&mut s).ok_or_else(|| bad("bad value length"))?;
        let key_start = area.len() - s.len();
        let rest = s.len() as u64;
        if unshared > rest || value_len > rest - unshared || rest - unshared - value_len < 8 {
            return Err(bad("entry runs past the end of the block"));
        }
        let key_end = key_start + unshared as usize;
        let mut t = &area[key_end..];
        let trailer = get_u64(&mut t).ok_or_else(|| bad("truncated trailer"))?;
        let (seq, kind) = unpack_trailer(trailer)
            .ok_or_else(|| bad(&format!("unknown value kind {}", trailer & 0xff)))?;
        let value_start = key_end + 8;
        let value_end = value_start + value_len as usize;
        Ok(EntryHeader {
            shared: usize::try_from(shared).map_err(|_| bad("bad shared length"))?,
            delta: key_start..key_end,
            seq,
            kind,
            value: value_start..value_end,
        })
    }
}

struct EntryHeader {
    shared: usize,
    delta: Range<usize>,
    seq: SeqNo,
    kind: ValueKind,
    value: Range<usize>,
}

/// A cursor over one block, owning a reference to it (so it can live in a table iterator that
/// outlives a cache eviction).
pub struct BlockIter {
    block: Arc<Block>,
    /// Offset of the entry after the current one (where `next` decodes).
    next_pos: usize,
    valid: bool,
    /// The current entry's full user key, rebuilt from the shared prefix of the previous one.
    key: Vec<u8>,
    seq: SeqNo,
    kind: ValueKind,
    value: Range<usize>,
    /// The block's entries are known to be in order (a full walk checked them): steps skip
    /// the comparison with the previous key.
    ordered: bool,
}

impl BlockIter {
    /// An unpositioned cursor (`valid()` is false until a seek).
    pub fn new(block: Arc<Block>) -> Self {
        BlockIter {
            block,
            next_pos: 0,
            valid: false,
            key: Vec::new(),
            seq: 0,
            kind: ValueKind::Put,
            value: 0..0,
            ordered: false,
        }
    }

    /// A cursor over `block`; with `ordered`, over a block whose every entry a full walk with
    /// an ordinary cursor already found in order. The bytes of such a block cannot change (a
    /// verified block of a mapped table), so the per-step order comparison would only repeat
    /// that answer, and is skipped.
    pub fn with_known_order(block: Arc<Block>, ordered: bool) -> Self {
        BlockIter {
            ordered,
            ..BlockIter::new(block)
        }
    }

    /// Whether this cursor's block was known to be in order when the cursor was made.
    pub fn order_known(&self) -> bool {
        self.ordered
    }

    /// The block this cursor walks.
    pub fn block(&self) -> &Arc<Block> {
        &self.block
    }

    /// True when positioned on the block's last entry.
    pub fn at_last_entry(&self) -> bool {
        self.valid && self.next_pos >= self.block.restarts_start
    }

    /// Positions on the entry at restart point `i`, whose key is stored in full.
    fn seek_to_restart(&mut self, i: usize) -> Result<()> {
        self.key.clear();
        self.next_pos = self.block.restart(i);
        self.valid = false;
        self.step(false)
    }

    /// Decodes the entry at `next_pos` into the cursor; when `check_order`, it must sort after
    /// the current one. Past the last entry, the cursor becomes invalid.
    fn step(&mut self, check_order: bool) -> Result<()> {
        let pos = self.next_pos;
        if pos >= self.block.restarts_start {
            self.valid = false;
            return Ok(());
        }
        let r = self.decode_into(pos, check_order);
        if r.is_err() {
            self.valid = false;
            self.next_pos = self.block.restarts_start;
        }
        r
    }

    fn decode_into(&mut self, pos: usize, check_order: bool) -> Result<()> {
        let block = &*self.block;
        let e = block.decode_header(pos)?;
        if e.shared > self.key.len() {
            return Err(block
                .origin
                .corruption(pos, "shared prefix longer than previous key"));
        }
        let delta = &block.data[e.delta.clone()];
        if check_order && !self.ordered {
            // Compare without copying: the new key is key[..shared] + delta.
            let ord = delta
                .cmp(&self.key[e.shared..])
                .then_with(|| self.seq.cmp(&e.seq));
            if ord != Ordering::Greater {
                return Err(block.origin.corruption(pos, "entries out of order"));
            }
        }
        self.key.truncate(e.shared);
        self.key.extend_from_slice(delta);
        self.seq = e.seq;
        self.kind = e.kind;
        self.value = e.value;
        self.next_pos = self.value.end;
        self.valid = true;
        Ok(())
    }
}

impl InternalIterator for BlockIter {
    fn valid(&self) -> bool {
        self.valid
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.seek_to_restart(0)
    }

    fn seek(&mut self, user_key: &[u8], seq: SeqNo) -> Result<()> {
        // Binary search for the last restart whose key is < target; scan forward from there.
        let (mut lo, mut hi) = (0usize, self.block.num_restarts);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let before = match self.block.restart_key(mid) {
                Ok((k, s)) => cmp_internal(k, s, user_key, seq) == Ordering::Less,
                Err(e) => {
                    self.valid = false;
                    return Err(e);
                }
            };
            if before {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        self.seek_to_restart(lo)?;
        while self.valid && cmp_internal(&self.key, self.seq, user_key, seq) == Ordering::Less {
            self.step(true)?;
        }
        Ok(())
    }

    fn next(&mut self) -> Result<()> {
        if !self.valid {
            return Ok(());
        }
        self.step(true)
    }

    fn user_key(&self) -> &[u8] {
        &self.key
    }

    fn seq(&self) -> SeqNo {
        self.seq
    }

    fn kind(&self) -> ValueKind {
        self.kind
    }

    fn value(&self) -> &[u8] {
        &self.block.data[self.value.clone()]
    }
}
