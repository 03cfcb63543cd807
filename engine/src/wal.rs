//! The write-ahead log: one segment file per memtable generation.
//!
//! Each record's payload is one encoded [`crate::WriteBatch`] (see `docs/formats/wal.md`). The
//! writer never reopens an old segment: a new memtable gets a new segment, and the previous one
//! is synced before the switch, so only the newest segment holding records can ever end in a torn
//! record (segments after it, if any, are empty: see `Db::open`).

use crate::batch::WriteBatch;
use crate::filenames::wal_path;
use crate::record::{encode_header, read_log, LogEnd, LOG_HEADER_BYTES};
use kvstore_base::fs::{FileSystem, WritableFile};
use kvstore_base::{Error, Result, SeqNo};
use std::path::{Path, PathBuf};

/// Magic number at the start of every WAL segment.
pub const WAL_MAGIC: &[u8; 8] = b"KVSTWAL\0";

/// An open WAL segment being appended to.
pub struct WalWriter {
    path: PathBuf,
    file: Box<dyn WritableFile>,
    /// Everything before this offset has been fsynced; written into each record (record.rs).
    synced: u64,
}

impl WalWriter {
    /// Creates segment `number` in `dir` and makes its name durable before any record goes in.
    pub fn create(fs: &dyn FileSystem, dir: &Path, number: u64) -> Result<WalWriter> {
        let path = wal_path(dir, number);
        let ctx = |what: &str| format!("{what} {}", path.display());
        let mut file = fs.create(&path).map_err(|e| Error::io(ctx("create"), e))?;
        file.append(&encode_header(WAL_MAGIC))
            .map_err(|e| Error::io(ctx("write header of"), e))?;
        // IMPORTANT: sync the header and the directory entry now, so that a record synced into
        // this segment later can never be lost with a segment whose name did not survive.
        file.sync().map_err(|e| Error::io(ctx("fsync"), e))?;
        fs.sync_dir(dir)
            .map_err(|e| Error::io(format!("fsync directory {}", dir.display()), e))?;
        Ok(WalWriter {
            path,
            file,
            synced: LOG_HEADER_BYTES as u64,
        })
    }

    /// Appends already-framed records.
    pub fn append(&mut self, framed: &[u8]) -> Result<()> {
        self.file
            .append(framed)
            .map_err(|e| Error::io(format!("append to {}", self.path.display()), e))
    }

    /// The offset below which the segment is known durable.
    pub fn synced(&self) -> u64 {
        self.synced
    }

    /// fsyncs everything appended so far.
    pub fn sync(&mut self) -> Result<()> {
        self.file
            .sync()
            .map_err(|e| Error::io(format!("fsync {}", self.path.display()), e))?;
        self.synced = self.file.size();
        Ok(())
    }
}

/// Replays segment `path`, calling `apply(first_seq, batch)` for each record in order.
/// `tail_may_be_torn` says whether a torn tail is accepted (see [`read_log`]).
pub fn replay(
    fs: &dyn FileSystem,
    path: &Path,
    tail_may_be_torn: bool,
    mut apply: impl FnMut(SeqNo, WriteBatch) -> Result<()>,
) -> Result<LogEnd> {
    let data = fs
        .read_all(path)
        .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
    read_log(
        path,
        &data,
        WAL_MAGIC,
        tail_may_be_torn,
        |offset, payload| {
            let (seq, batch) = WriteBatch::decode(payload).map_err(|why| {
                // The checksum matched, so these bytes are what was written: a format bug or a
                // foreign file, never a torn write.
                Error::corruption(path, offset, format!("undecodable write batch: {why}"))
            })?;
            apply(seq, batch)
        },
    )
}
