//! Writes a table front to back in one pass: data blocks as they fill, then the filter,
//! properties and index blocks, then the footer, then one fsync.
//!
//! Crash safety: a table is only named in the manifest after `finish` returned (file fsynced)
//! and the engine synced the directory, so a crash at any point here leaves at worst an orphan
//! file that recovery deletes. A reader never sees a half-written table: without its footer a
//! file fails to open.

use super::properties::Properties;
use crate::block::BlockBuilder;
use crate::filter::{bloom_hash, build_filter};
use crate::format::{seal_block, BlockHandle, Footer};
use crate::options::{Compression, TableOptions};
use kvstore_base::fs::WritableFile;
use kvstore_base::key::{cmp_internal, pack_trailer};
use kvstore_base::{Error, InternalKey, Result, SeqNo, ValueKind, MAX_SEQ};
use std::cmp::Ordering;
use std::path::PathBuf;

/// What the engine records about a finished table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMeta {
    pub file_size: u64,
    pub num_entries: u64,
    pub num_deletions: u64,
    /// The first entry (smallest internal key).
    pub smallest: InternalKey,
    /// The last entry (largest internal key).
    pub largest: InternalKey,
    pub smallest_seq: SeqNo,
    pub largest_seq: SeqNo,
}

/// Builds one table. Entries must be added in strictly increasing internal-key order.
pub struct TableBuilder {
    file: Box<dyn WritableFile>,
    path: PathBuf,
    opts: TableOptions,
    data_block: BlockBuilder,
    /// One entry per written data block: its last internal key → its handle. Restart interval 1
    /// so a reader binary-searches it directly.
    index_block: BlockBuilder,
    /// Bytes appended to `file` so far: the offset of the next block.
    offset: u64,
    /// One hash per distinct user key, for the filter (empty when filters are off).
    filter_hashes: Vec<u64>,
    /// The last entry added, to check order and to key the index.
    last: Option<InternalKey>,
    first: Option<InternalKey>,
    num_entries: u64,
    num_deletions: u64,
    num_data_blocks: u64,
    raw_key_bytes: u64,
    raw_value_bytes: u64,
    smallest_seq: SeqNo,
    largest_seq: SeqNo,
    /// Set after a failed append: the file's content is unknown, so nothing more is written.
    failed: bool,
}

impl TableBuilder {
    pub fn new(file: Box<dyn WritableFile>, path: PathBuf, opts: TableOptions) -> Self {
        let offset = file.size();
        TableBuilder {
            file,
            path,
            data_block: BlockBuilder::new(opts.restart_interval),
            index_block: BlockBuilder::new(1),
            opts,
            offset,
            filter_hashes: Vec::new(),
            last: None,
            first: None,
            num_entries: 0,
            num_deletions: 0,
            num_data_blocks: 0,
            raw_key_bytes: 0,
            raw_value_bytes: 0,
            smallest_seq: SeqNo::MAX,
            largest_seq: 0,
            failed: false,
        }
    }

    /// Adds an entry. Entries must arrive in strictly increasing internal-key order (user key
    /// ascending, sequence number descending); anything else is `Err(InvalidArgument)`.
    pub fn add(
        &mut self,
        user_key: &[u8],
        seq: SeqNo,
        kind: ValueKind,
        value: &[u8],
    ) -> Result<()> {
        self.check_usable()?;
        if seq > MAX_SEQ {
            return Err(Error::InvalidArgument(format!(
                "sequence number {seq} above 2^56-1"
            )));
        }
        let new_user_key = match &self.last {
            Some(last) => {
                if cmp_internal(user_key, seq, &last.user_key, last.seq) != Ordering::Greater {
                    return Err(Error::InvalidArgument(format!(
                        "table entries out of order: ({:?}, {seq}) after ({:?}, {})",
                        String::from_utf8_lossy(user_key),
                        String::from_utf8_lossy(&last.user_key),
                        last.seq
                    )));
                }
                user_key != last.user_key.as_slice()
            }
            None => true,
        };
        self.data_block
            .add(user_key, pack_trailer(seq, kind), value)?;
        if new_user_key && self.opts.bloom_bits_per_key > 0 {
            self.filter_hashes.push(bloom_hash(user_key));
        }
        let key = InternalKey::new(user_key, seq, kind);
        if self.first.is_none() {
            self.first = Some(key.clone());
        }
        self.last = Some(key);
        self.num_entries += 1;
        self.num_deletions += (kind == ValueKind::Delete) as u64;
        self.raw_key_bytes += user_key.len() as u64;
        self.raw_value_bytes += value.len() as u64;
        self.smallest_seq = self.smallest_seq.min(seq);
        self.largest_seq = self.largest_seq.max(seq);
        if self.data_block.estimated_size() >= self.opts.block_size_bytes {
            self.flush_data_block()?;
        }
        Ok(())
    }

    /// Bytes written so far plus the pending data block.
    pub fn estimated_size(&self) -> u64 {
        let pending = if self.data_block.is_empty() {
            0
        } else {
            self.data_block.estimated_size()
        };
        self.offset + pending as u64
    }

    pub fn num_entries(&self) -> u64 {
        self.num_entries
    }

    /// Writes the pending data block, the filter, properties and index blocks and the footer,
    /// then fsyncs the file. Does not sync the directory. An empty table is
    /// `Err(InvalidArgument)`: a table always has a smallest and a largest key.
    pub fn finish(mut self) -> Result<TableMeta> {
        self.check_usable()?;
        let (Some(first), Some(last)) = (self.first.take(), self.last.clone()) else {
            return Err(Error::InvalidArgument(
                "cannot finish a table with no entries".into(),
            ));
        };
        if !self.data_block.is_empty() {
            self.flush_data_block()?;
        }
        let filter = if self.opts.bloom_bits_per_key > 0 {
            let f = build_filter(&self.filter_hashes, self.opts.bloom_bits_per_key);
            Some(self.write_block(f, Compression::None)?)
        } else {
            None
        };
        let props = Properties {
            num_entries: self.num_entries,
            num_deletions: self.num_deletions,
            num_data_blocks: self.num_data_blocks,
            raw_key_bytes: self.raw_key_bytes,
            raw_value_bytes: self.raw_value_bytes,
            smallest: first.clone(),
            largest: last.clone(),
            smallest_seq: self.smallest_seq,
            largest_seq: self.largest_seq,
            created_unix_secs: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            creator: concat!("kvstore-sstable ", env!("CARGO_PKG_VERSION")).to_string(),
        };
        let properties = self.write_block(props.encode(), Compression::None)?;
        let index_raw = self.index_block.finish();
        let index = self.write_block(index_raw, Compression::None)?;
        let footer = Footer {
            index,
            filter,
            properties,
        };
        self.append(&footer.encode())?;
        // IMPORTANT: fsync before returning, so that the caller may name this table in the
        // manifest; a crash before this point leaves an unnamed file that recovery removes.
        // A failed sync is not retried: the file's durable content is unknown.
        self.file.sync().map_err(|e| {
            self.failed = true;
            Error::io(format!("sync {}", self.path.display()), e)
        })?;
        Ok(TableMeta {
            file_size: self.offset,
            num_entries: self.num_entries,
            num_deletions: self.num_deletions,
            smallest: first,
            largest: last,
            smallest_seq: self.smallest_seq,
            largest_seq: self.largest_seq,
        })
    }

    fn check_usable(&self) -> Result<()> {
        if self.failed {
            return Err(Error::InvalidArgument(format!(
                "table builder for {} failed earlier; its file must be discarded",
                self.path.display()
            )));
        }
        Ok(())
    }

    /// Writes the pending data block and indexes it under the last key added.
    fn flush_data_block(&mut self) -> Result<()> {
        let raw = self.data_block.finish();
        let handle = self.write_block(raw, self.opts.compression)?;
        self.num_data_blocks += 1;
        let mut h = Vec::with_capacity(20);
        handle.encode_to(&mut h);
        if let Some(last) = &self.last {
            self.index_block
                .add(&last.user_key, pack_trailer(last.seq, last.kind), &h)?;
        }
        Ok(())
    }

    fn write_block(&mut self, raw: Vec<u8>, compression: Compression) -> Result<BlockHandle> {
        let sealed = seal_block(raw, compression, self.offset);
        let handle = BlockHandle {
            offset: self.offset,
            size: (sealed.len() - crate::format::BLOCK_TRAILER_BYTES) as u64,
        };
        self.append(&sealed)?;
        Ok(handle)
    }

    fn append(&mut self, data: &[u8]) -> Result<()> {
        if let Err(e) = self.file.append(data) {
            self.failed = true;
            return Err(Error::io(format!("append to {}", self.path.display()), e));
        }
        self.offset += data.len() as u64;
        Ok(())
    }
}
