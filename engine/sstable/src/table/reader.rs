//! Opens a table and serves point lookups from it.
//!
//! `open` reads and verifies the footer, then the index, filter and properties blocks, which
//! stay in memory for the reader's life (the index decoded into a [`TableIndex`]). Data blocks
//! are read on demand: an uncompressed block of a memory-mapped table straight from the map
//! (verified on its first read), every other block through the shared [`BlockCache`]. A
//! `TableReader` is immutable after `open` and shared (`Arc`) between threads.

use super::index::TableIndex;
use super::iterator::TableIterator;
use super::properties::Properties;
use crate::block::{Block, BlockBytes, BlockIter, BlockOrigin};
use crate::cache::BlockCache;
use crate::filter::{bloom_hash, BloomFilter};
use crate::format::{
    decompress_block, read_block, read_block_into, read_block_mapped, BlockHandle, Footer,
    MappedBlock, FOOTER_BYTES,
};
use kvstore_base::fs::{RandomAccessFile, SharedBytes};
use kvstore_base::iter::InternalIterator;
use kvstore_base::key::{cmp_bytes, cmp_internal};
use kvstore_base::{Error, InternalKey, Result, SeqNo, ValueKind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One bit per data block: set once the block's checksum has been verified and it was found
/// stored uncompressed.
///
/// Relaxed is enough: a bit only lets a reader skip re-verifying bytes that cannot change (a
/// mapped table is immutable); a reader that does not see a bit yet verifies again.
struct VerifiedBlocks(Vec<AtomicU64>);

impl VerifiedBlocks {
    fn new(blocks: usize) -> Self {
        VerifiedBlocks(
            (0..blocks.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
        )
    }

    fn contains(&self, i: usize) -> bool {
        self.0
            .get(i / 64)
            .is_some_and(|w| w.load(Ordering::Relaxed) & (1 << (i % 64)) != 0)
    }

    fn insert(&self, i: usize) {
        if let Some(w) = self.0.get(i / 64) {
            w.fetch_or(1 << (i % 64), Ordering::Relaxed);
        }
    }
}

/// An open table.
pub struct TableReader {
    file: Arc<dyn RandomAccessFile>,
    file_number: u64,
    path: Arc<Path>,
    file_size: u64,
    /// Data blocks lie in `[0, data_end)`; the metadata blocks start at `data_end`.
    data_end: u64,
    /// The index block, decoded: one entry per data block, last internal key → handle.
    index: TableIndex,
    filter: Option<BloomFilter>,
    props: Properties,
    cache: Option<Arc<BlockCache>>,
    /// For a memory-mapped file: which data blocks (by index position) have had their checksum
    /// verified. `None` when the file is read with `pread`.
    verified: Option<VerifiedBlocks>,
}

impl std::fmt::Debug for TableReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableReader")
            .field("file_number", &self.file_number)
            .field("path", &self.path)
            .field("file_size", &self.file_size)
            .finish()
    }
}

impl TableReader {
    /// Validates the footer (magic, version, checksum), then loads and verifies the index,
    /// filter and properties blocks.
    pub fn open(
        file: Arc<dyn RandomAccessFile>,
        file_number: u64,
        path: PathBuf,
        cache: Option<Arc<BlockCache>>,
    ) -> Result<Arc<TableReader>> {
        let path: Arc<Path> = Arc::from(path);
        let file_size = file.size();
        let footer_at = file_size.checked_sub(FOOTER_BYTES as u64).ok_or_else(|| {
            Error::corruption(
                &*path,
                0,
                format!("file of {file_size} bytes is too short for a table"),
            )
        })?;
        let mut fb = [0u8; FOOTER_BYTES];
        file.read_exact_at(footer_at, &mut fb)
            .map_err(|e| Error::io(format!("read footer of {}", path.display()), e))?;
        let footer = Footer::decode(&fb, &path, footer_at)?;

        // Metadata blocks are written filter?, properties, index: each ends before the next.
        let props_limit = footer.index.offset;
        let filter_limit = footer.properties.offset;
        let data_end = footer.filter.map_or(footer.properties.offset, |f| f.offset);
        let (index_raw, index_exact) = read_block(&*file, &path, footer.index, footer_at)?;
        let (props_raw, _) = read_block(&*file, &path, footer.properties, props_limit)?;
        let props = Properties::decode(&props_raw)
            .map_err(|d| Error::corruption(&*path, footer.properties.offset, d))?;
        let filter = match footer.filter {
            Some(h) => {
                let (raw, _) = read_block(&*file, &path, h, filter_limit)?;
                let f = BloomFilter::decode(raw)
                    .ok_or_else(|| Error::corruption(&*path, h.offset, "bad bloom filter block"))?;
                Some(f)
            }
            None => None,
        };
        let origin = BlockOrigin {
            file: path.clone(),
            offset: footer.index.offset,
            exact: index_exact,
        };
        let index = TableIndex::decode(Arc::new(Block::decode(index_raw, origin)?))?;
        let verified = file
            .read_shared(0, 0)
            .map(|_| VerifiedBlocks::new(index.len()));
        Ok(Arc::new(TableReader {
            file_number,
            path,
            file_size,
            data_end,
            index,
            filter,
            props,
            cache,
            verified,
            file,
        }))
    }

    /// The newest entry for `user_key` with sequence number `<= snapshot_seq` (a tombstone is
    /// returned as such), or `None`. Consults the bloom filter first.
    pub fn get(
        &self,
        user_key: &[u8],
        snapshot_seq: SeqNo,
    ) -> Result<Option<(SeqNo, ValueKind, Vec<u8>)>> {
        self.get_hashed(user_key, bloom_hash(user_key), snapshot_seq)
    }

    /// [`TableReader::get`] with the key's [`bloom_hash`] already computed, so a lookup that
    /// probes one table per level hashes the key once.
    pub fn get_hashed(
        &self,
        user_key: &[u8],
        hash: u64,
        snapshot_seq: SeqNo,
    ) -> Result<Option<(SeqNo, ValueKind, Vec<u8>)>> {
        if !self.may_contain_hashed(user_key, hash) {
            return Ok(None);
        }
        self.get_unfiltered(user_key, snapshot_seq)
    }

    /// [`TableReader::get`] without consulting the bloom filter, for a caller that already
    /// did ([`TableReader::may_contain_hashed`]).
    pub fn get_unfiltered(
        &self,
        user_key: &[u8],
        snapshot_seq: SeqNo,
    ) -> Result<Option<(SeqNo, ValueKind, Vec<u8>)>> {
        let i = self.index.seek(user_key, snapshot_seq);
        let Some(handle) = self.index.handle(i) else {
            return Ok(None);
        };
        let (block, checked) = self.data_block(i, handle)?;
        let mut it = BlockIter::with_known_order(block, checked);
        it.seek(user_key, snapshot_seq)?;
        if !it.valid() {
            // The index promised an entry at or after the target in this block.
            return Err(Error::corruption(
                &*self.path,
                handle.offset,
                "data block ends before the key its index entry names",
            ));
        }
        // A block checked against its index entry once (`check_block`) cannot hold a key
        // after it; others are checked here. Skipping it spares two cache misses (the index
        // entry and its key) per lookup when the index has left the caches.
        if !checked
            && cmp_internal(
                it.user_key(),
                it.seq(),
                self.index.user_key(i),
                self.index.seq(i),
            ) == std::cmp::Ordering::Greater
        {
            return Err(Error::corruption(
                &*self.path,
                handle.offset,
                "data block holds a key after its index entry",
            ));
        }
        if it.user_key() != user_key {
            return Ok(None);
        }
        Ok(Some((it.seq(), it.kind(), it.value().to_vec())))
    }

    /// False only if the table certainly holds no entry for `user_key` (bloom filter and key
    /// range); true when there is no filter.
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.may_contain_hashed(user_key, bloom_hash(user_key))
    }

    /// [`TableReader::may_contain`] with the key's [`bloom_hash`] already computed.
    pub fn may_contain_hashed(&self, user_key: &[u8], hash: u64) -> bool {
        if cmp_bytes(user_key, &self.props.smallest.user_key).is_lt()
            || cmp_bytes(user_key, &self.props.largest.user_key).is_gt()
        {
            return false;
        }
        self.filter_may_contain_hash(hash)
    }

    /// The bloom filter's answer alone, for a caller that has already checked the key against
    /// the table's range (`Version::get` picks tables by their manifest key range, which is
    /// the same range). True when there is no filter.
    #[inline]
    /// Starts loading the filter line that [`TableReader::filter_may_contain_hash`] will read.
    pub fn prefetch_filter_hash(&self, hash: u64) {
        if let Some(f) = &self.filter {
            f.prefetch_hash(hash);
        }
    }

    pub fn filter_may_contain_hash(&self, hash: u64) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| f.may_contain_hash(hash))
    }

    /// A cursor over the whole table, unpositioned until a seek.
    pub fn iter(self: &Arc<Self>) -> TableIterator {
        TableIterator::new(self.clone())
    }

    pub fn file_number(&self) -> u64 {
        self.file_number
    }

    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    pub fn num_entries(&self) -> u64 {
        self.props.num_entries
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn smallest(&self) -> &InternalKey {
        &self.props.smallest
    }

    pub fn largest(&self) -> &InternalKey {
        &self.props.largest
    }

    /// Everything the properties block records.
    pub fn properties(&self) -> &Properties {
        &self.props
    }

    /// Verifies the checksum of every data block of a mapped table now, and checks and
    /// remembers the uncompressed ones as [`TableReader::check_block`] does on a first read,
    /// so no later read pays for it. Returns how many blocks were checked (0 for a table read
    /// with `pread`, whose blocks are verified on every read from the file anyway).
    ///
    /// Meant for a table just written by a flush or compaction, before it is installed: the
    /// background thread then streams through bytes it wrote moments ago (still in the page
    /// cache) instead of each foreground read paying a 4 KiB hash on its first touch of a
    /// block — at 10M keys that first touch was ≈ 15 % of a cold `readrandom`. It also
    /// catches a bad write before the table is used.
    pub fn verify_data_blocks(&self) -> Result<usize> {
        let Some(verified) = &self.verified else {
            return Ok(0);
        };
        let mut n = 0;
        for i in 0..self.index.len() {
            let Some(handle) = self.index.handle(i) else {
                break;
            };
            match read_block_mapped(&*self.file, &self.path, handle, self.data_end)? {
                Some(MappedBlock::Raw(bytes)) => {
                    self.check_block(i, &self.mapped_block(handle, bytes)?)?;
                    verified.insert(i);
                }
                Some(MappedBlock::Zstd(_)) => {}
                None => return Ok(n),
            }
            n += 1;
        }
        Ok(n)
    }

    /// The decoded index.
    pub(crate) fn index(&self) -> &TableIndex {
        &self.index
    }

    /// The decoded data block of index entry `i`, whose handle is `handle`.
    ///
    /// A mapped table serves an uncompressed block as a slice of its map, not through the
    /// block cache: its checksum is verified on the block's first read (remembered in
    /// `verified`), and each read after that costs only a restart-array check — less than a
    /// cache lookup in a cache of many small entries. Compressed blocks and unmapped tables go
    /// through the cache.
    ///
    /// Also returns whether the block has passed [`TableReader::check_block`] (every verified
    /// block of a mapped table has), so callers may skip comparing its entries with the index.
    pub(crate) fn data_block(&self, i: usize, handle: BlockHandle) -> Result<(Arc<Block>, bool)> {
        if let Some(verified) = &self.verified {
            if verified.contains(i) {
                // Verified before and stored raw: the bytes alone, no trailer (its cache line,
                // often on another page, is not touched again). The handle passed the bounds
                // check on that first read, and the index it comes from cannot change.
                if let Some(bytes) = self.file.read_shared(handle.offset, handle.size as usize) {
                    prefetch_block(&bytes);
                    return Ok((self.mapped_block(handle, bytes)?, true));
                }
            }
            // Compressed blocks are never marked verified: they are served from the cache, which
            // is asked before the stored bytes are read and checksummed again.
            if let Some(b) = self
                .cache
                .as_ref()
                .and_then(|c| c.get(self.file_number, handle.offset))
            {
                return Ok((b, false));
            }
            match read_block_mapped(&*self.file, &self.path, handle, self.data_end)? {
                Some(MappedBlock::Raw(bytes)) => {
                    let block = self.mapped_block(handle, bytes)?;
                    self.check_block(i, &block)?;
                    verified.insert(i);
                    return Ok((block, true));
                }
                Some(MappedBlock::Zstd(stored)) => {
                    let raw = decompress_block(&self.path, handle, self.data_end, &stored)?;
                    let block = self.decode_and_cache(handle, BlockBytes::Owned(raw), false)?;
                    return Ok((block, false));
                }
                None => {}
            }
        }
        let buf = match &self.cache {
            Some(c) => match c.get_or_spare(self.file_number, handle.offset) {
                Ok(b) => return Ok((b, false)),
                Err(spare) => spare,
            },
            None => Vec::new(),
        };
        let (raw, exact) = read_block_into(&*self.file, &self.path, handle, self.data_end, buf)?;
        Ok((
            self.decode_and_cache(handle, BlockBytes::Owned(raw), exact)?,
            false,
        ))
    }

    /// The checks a block of a mapped table passes once, before it is marked verified: every
    /// entry decodes and sorts after the one before it (restart points included), and the last
    /// one is the block's index key. A later lookup in the block then needs neither the order
    /// checks of a full walk nor a comparison with the index entry.
    fn check_block(&self, i: usize, block: &Arc<Block>) -> Result<()> {
        let mut it = BlockIter::new(block.clone());
        it.seek_to_first()?;
        let mut agrees = false;
        while it.valid() {
            if it.at_last_entry() {
                agrees = cmp_internal(
                    it.user_key(),
                    it.seq(),
                    self.index.user_key(i),
                    self.index.seq(i),
                ) == std::cmp::Ordering::Equal;
                break;
            }
            it.next()?;
        }
        if !agrees {
            return Err(Error::corruption(
                &*self.path,
                block.origin().offset,
                "data block's last key is not its index key",
            ));
        }
        Ok(())
    }

    fn mapped_block(&self, handle: BlockHandle, bytes: SharedBytes) -> Result<Arc<Block>> {
        let origin = BlockOrigin {
            file: self.path.clone(),
            offset: handle.offset,
            exact: true,
        };
        Ok(Arc::new(Block::decode(BlockBytes::Mapped(bytes), origin)?))
    }

    fn decode_and_cache(
        &self,
        handle: BlockHandle,
        raw: BlockBytes,
        exact: bool,
    ) -> Result<Arc<Block>> {
        let origin = BlockOrigin {
            file: self.path.clone(),
            offset: handle.offset,
            exact,
        };
        let block = Arc::new(Block::decode(raw, origin)?);
        if let Some(c) = &self.cache {
            c.insert(self.file_number, handle.offset, block.clone());
        }
        Ok(block)
    }
}

/// Asks the CPU to start loading every cache line of a mapped block at once.
///
/// Why: once the data outgrows the CPU caches, a point read of a block is a chain of dependent
/// misses — the restart count at the block's end, a restart offset, the entry it points to,
/// the entries scanned after it — each waiting for the one before. With every line requested
/// up front they can overlap. Measured (benches/runs/2026-11-journal.md, fifth round): 10M readrandom
/// 485k / 478k with it, 429k / 456k without, 482k / 446k with only two lines requested — though
/// a profile puts the waiting on the prefetch loop itself.
#[inline]
fn prefetch_block(bytes: &[u8]) {
    let p = bytes.as_ptr();
    for off in (0..bytes.len()).step_by(64) {
        // `wrapping_add` keeps the arithmetic defined; the hint never reads the address.
        super::prefetch_line(p.wrapping_add(off));
    }
}
