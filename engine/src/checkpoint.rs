//! Checkpoints: a consistent, openable copy of the whole database (every column family) at one
//! sequence number, made while the database keeps serving reads and writes. It is the backup,
//! and the snapshot a replica ships to another.
//!
//! A checkpoint is a database directory: the live tables hard-linked (tables are immutable, so
//! a link is a copy that costs no space), the WAL segments still needed copied up to their
//! length at one instant, and a fresh manifest (with `CURRENT`) naming exactly those tables.
//! Opening it replays the copied segments: the result is the source as of sequence `seq`.
//!
//! Why it is consistent. Under the writer lock (no batch is being committed) the WAL is synced,
//! so every record written so far is in the files, and the visible sequence is exactly that of
//! the last record. Under the versions lock (no flush or compaction installs another table set)
//! the current version's tables are linked, and each segment at or above `log_number` is opened
//! and its length noted. Both locks are then released, and the segments are copied from the
//! open handles — a flush may delete a segment's name meanwhile; the handle keeps its data —
//! only up to the noted lengths, so no later record enters the copy. Writers wait for the sync
//! and the links (metadata operations), never for the copy.
//!
//! Crash safety: tables, segments, manifest and `CURRENT` are synced, and the directory last.
//! `CURRENT` is written after everything it depends on, so a directory without it is an
//! unfinished checkpoint, which [`verify_checkpoint`] refuses.

use crate::db::DbInner;
use crate::error::{Error, Result};
use crate::filenames::{self, table_path, wal_path, FileKind};
use crate::manifest::{check_referenced_files, read_current, read_edits, ManifestWriter};
use crate::record::read_log;
use crate::version::{apply_edit, edit_error, CfLevels};
use crate::wal::WAL_MAGIC;
use crate::WriteBatch;
use kvstore_base::fs::FileSystem;
use kvstore_base::iter::InternalIterator;
use kvstore_base::SeqNo;
use kvstore_sstable::TableReader;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;

/// More levels than any database has: `verify_checkpoint` reads a manifest without its
/// options.
const ANY_NUM_LEVELS: usize = 64;

/// What a checkpoint holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The sequence number it is a copy at: every write up to it, none after.
    pub seq: SeqNo,
    /// Its files (names within the directory), `CURRENT` last.
    pub files: Vec<String>,
}

fn io(what: &str, p: &Path, e: std::io::Error) -> Error {
    Error::Storage(kvstore_base::Error::io(
        format!("{what} {}", p.display()),
        e,
    ))
}

impl DbInner {
    pub(crate) fn checkpoint(&self, dest: &Path) -> Result<Checkpoint> {
        self.check_writable()?;
        let fs = self.fs.as_ref();
        if fs.list_dir(dest).is_ok_and(|names| !names.is_empty()) {
            return Err(Error::InvalidArgument(format!(
                "checkpoint directory {} is not empty",
                dest.display()
            )));
        }
        fs.create_dir_all(dest)
            .map_err(|e| io("create directory", dest, e))?;

        let mut files = Vec::new();
        let (seq, mut snapshot, segments) = {
            let mut w = self.queue.writer.lock();
            if let Err(e) = w.wal.sync() {
                // As in the write path: a failed fsync is never retried.
                self.poison_for("WAL fsync failed", &e);
                return Err(e.into());
            }
            let vs = self.versions.lock();
            let seq = self.visible_seq.load(Ordering::SeqCst);
            // The segments' lengths now, while no record can be added: exactly the records up
            // to `seq`.
            let mut segments = Vec::new();
            for name in fs
                .list_dir(&self.dir)
                .map_err(|e| io("list", &self.dir, e))?
            {
                if let Some(FileKind::Wal(n)) = filenames::parse(&name) {
                    if n >= vs.log_number {
                        let p = wal_path(&self.dir, n);
                        let f = fs.open_read(&p).map_err(|e| io("open", &p, e))?;
                        let len = f.size();
                        segments.push((name, f, len));
                    }
                }
            }
            drop(w);
            let version = self.current().version.clone();
            let mut snapshot = version.snapshot_edit();
            for n in version.live_files() {
                let name = format!("{n:06}.sst");
                fs.hard_link(&table_path(&self.dir, n), &dest.join(&name))
                    .map_err(|e| io("link", &table_path(&self.dir, n), e))?;
                files.push(name);
            }
            snapshot.log_number = Some(vs.log_number);
            snapshot.last_seq = Some(seq);
            (seq, snapshot, segments)
        };
        for (name, f, len) in segments {
            let to = dest.join(&name);
            let mut buf = vec![0u8; len as usize];
            f.read_exact_at(0, &mut buf)
                .map_err(|e| io("read", &self.dir.join(&name), e))?;
            let mut out = fs.create(&to).map_err(|e| io("create", &to, e))?;
            out.append(&buf).map_err(|e| io("write", &to, e))?;
            // IMPORTANT: the copy is durable before CURRENT can name a manifest needing it.
            out.sync().map_err(|e| io("fsync", &to, e))?;
            files.push(name);
        }
        let number = self.new_file_number();
        snapshot.next_file_number = Some(self.next_file.load(Ordering::SeqCst));
        // IMPORTANT: the links and copies must be durable names before CURRENT names them;
        // `ManifestWriter::create` syncs the directory after its rename, which covers both.
        fs.sync_dir(dest)
            .map_err(|e| io("fsync directory", dest, e))?;
        ManifestWriter::create(fs, dest, number, &snapshot)?;
        files.push(format!("MANIFEST-{number:06}"));
        files.push("CURRENT".into());
        Ok(Checkpoint { seq, files })
    }
}

/// Checks a checkpoint (or any closed database directory) without opening it for writing:
/// `CURRENT` and the manifest read whole, every table it names present and every block's
/// checksum right, every WAL segment still needed present, whole (no torn tail: a checkpoint's
/// copies end at a record boundary) and every record's checksum right. Returns what it holds.
/// A damaged or incomplete copy is a `Corruption` error naming the file.
pub fn verify_checkpoint(fs: &dyn FileSystem, dir: &Path) -> Result<Checkpoint> {
    let mpath = read_current(fs, dir)?;
    let mut levels: BTreeMap<u32, CfLevels> = BTreeMap::new();
    let (mut last_seq, mut log_number) = (0u64, 0u64);
    for edit in read_edits(fs, &mpath)? {
        apply_edit(&mut levels, &edit, ANY_NUM_LEVELS).map_err(|why| edit_error(&mpath, why))?;
        last_seq = edit.last_seq.unwrap_or(last_seq).max(last_seq);
        log_number = edit.log_number.unwrap_or(log_number).max(log_number);
    }
    let tables: Vec<u64> = levels
        .values()
        .flat_map(|c| c.levels.iter().flatten().map(|m| m.number))
        .collect();
    check_referenced_files(fs, dir, &mpath, tables.iter().copied(), log_number)?;
    let mut files = Vec::new();
    for &n in &tables {
        let p = table_path(dir, n);
        let f = fs.open_read(&p).map_err(|e| io("open", &p, e))?;
        let t = TableReader::open(f, n, p, None)?;
        // A full scan reads every data block, each checked against its checksum as it is read
        // (the footer, index and filter were checked by `open`).
        let mut it = t.iter();
        it.seek_to_first()?;
        while it.valid() {
            it.next()?;
        }
        files.push(format!("{n:06}.sst"));
    }
    let mut wals: Vec<u64> = fs
        .list_dir(dir)
        .map_err(|e| io("list", dir, e))?
        .iter()
        .filter_map(|name| match filenames::parse(name) {
            Some(FileKind::Wal(n)) if n >= log_number => Some(n),
            _ => None,
        })
        .collect();
    wals.sort_unstable();
    for n in wals {
        let p = wal_path(dir, n);
        let data = fs.read_all(&p).map_err(|e| io("read", &p, e))?;
        // A checkpoint's copies end at a record boundary: no torn tail is accepted.
        read_log(&p, &data, WAL_MAGIC, false, |offset, payload| {
            let (first, batch) = WriteBatch::decode(payload).map_err(|why| {
                kvstore_base::Error::corruption(&p, offset, format!("undecodable batch: {why}"))
            })?;
            last_seq = last_seq.max((first + batch.len() as u64).saturating_sub(1));
            Ok(())
        })?;
        files.push(format!("{n:06}.log"));
    }
    if let Some(name) = mpath.file_name().and_then(|n| n.to_str()) {
        files.push(name.to_string());
    }
    files.push("CURRENT".into());
    Ok(Checkpoint {
        seq: last_seq,
        files,
    })
}
