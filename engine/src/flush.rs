//! Flushes: frozen memtable groups become L0 tables, then their WAL segments are deleted.
//!
//! Crash reasoning, step by step: (1) tables are written and fsynced under fresh numbers — a
//! crash here leaves unreferenced files, deleted at the next open; (2) the directory is synced
//! so their names survive; (3) the manifest edit adding them and advancing `log_number` is
//! appended and fsynced — from here recovery uses the tables and skips the old segments;
//! (4) only then are the old segments deleted.

use crate::db::{DbInner, SuperVersion};
use crate::error::Result;
use crate::filenames::{self, table_path, FileKind};
use crate::manifest::{AddedFile, VersionEdit};
use crate::range_del::DropHidden;
use crate::stats::Counters;
use kvstore_base::iter::InternalIterator;
use kvstore_base::Error as BaseError;
use kvstore_compaction::{CompactionIterator, FileMeta};
use kvstore_sstable::{TableBuilder, TableReader};
use std::sync::Arc;
use std::time::Duration;

impl DbInner {
    /// Writes the entries of `iter` into new tables, starting a new table at a user-key
    /// boundary once one reaches `target_bytes`. Tables are fsynced; the directory is not.
    /// Each table comes back opened, its blocks already verified (see
    /// [`DbInner::finish_table`]), for [`DbInner::log_and_apply`] to install.
    pub(crate) fn write_tables(
        &self,
        iter: &mut dyn InternalIterator,
        target_bytes: u64,
    ) -> Result<Vec<(FileMeta, Arc<TableReader>)>> {
        let mut out = Vec::new();
        let mut builder: Option<(u64, TableBuilder)> = None;
        let mut last_key: Vec<u8> = Vec::new();
        iter.seek_to_first()?;
        while iter.valid() {
            let key = iter.user_key();
            if let Some((_, b)) = &builder {
                if b.estimated_size() >= target_bytes && key != last_key.as_slice() {
                    if let Some((n, b)) = builder.take() {
                        out.push(self.finish_table(n, b)?);
                    }
                }
            }
            if builder.is_none() {
                let n = self.new_file_number();
                let path = table_path(&self.dir, n);
                let file = self
                    .fs
                    .create(&path)
                    .map_err(|e| BaseError::io(format!("create {}", path.display()), e))?;
                builder = Some((n, TableBuilder::new(file, path, self.table_options())));
            }
            if let Some((_, b)) = &mut builder {
                b.add(key, iter.seq(), iter.kind(), iter.value())?;
            }
            last_key.clear();
            last_key.extend_from_slice(iter.user_key());
            iter.next()?;
        }
        if let Some((n, b)) = builder.take() {
            out.push(self.finish_table(n, b)?);
        }
        Ok(out)
    }

    /// Finishes (and fsyncs) a table, opens it and checks every block's checksum once, here
    /// on the background thread that wrote it: readers of a mapped table then never hash a
    /// block on their first touch of it, and a table that does not read back as written fails
    /// its flush or compaction instead of being installed.
    fn finish_table(&self, number: u64, b: TableBuilder) -> Result<(FileMeta, Arc<TableReader>)> {
        let m = b.finish()?;
        let meta = FileMeta {
            number,
            size: m.file_size,
            smallest: m.smallest.user_key,
            largest: m.largest.user_key,
            smallest_seq: m.smallest_seq,
            largest_seq: m.largest_seq,
        };
        let reader = self.open_table(&meta)?;
        reader.verify_data_blocks()?;
        Ok((meta, reader))
    }

    /// Flushes the oldest frozen memtable group, if any.
    pub(crate) fn flush_oldest(&self) -> Result<()> {
        let _one_at_a_time = self.flush_lock.lock();
        let sv = self.current();
        let Some(group) = sv.imm.last().cloned() else {
            return Ok(());
        };
        let snapshots = self.snapshot_list();
        let mut edit = VersionEdit::default();
        let mut tables: Vec<_> = group
            .tables
            .read()
            .iter()
            .map(|(cf, t)| (*cf, t.clone()))
            .collect();
        tables.sort_by_key(|(cf, _)| *cf);
        let mut bytes = 0;
        let mut opened = Vec::new();
        for (cf, t) in tables {
            if t.is_empty() {
                continue;
            }
            let it = CompactionIterator::new(t.iter(), snapshots.clone(), false);
            // Only the group's own tombstones can hide its entries: flushed ones are older
            // than everything in it.
            let mut it = DropHidden::new(it, group.range_dels_of(cf), snapshots.clone());
            for (meta, reader) in self.write_tables(&mut it, u64::MAX)? {
                bytes += meta.size;
                edit.added.push(AddedFile { cf, level: 0, meta });
                opened.push(reader);
            }
        }
        if group
            .has_range_dels
            .load(std::sync::atomic::Ordering::Acquire)
        {
            let dels = group.range_dels.read();
            let mut cfs: Vec<_> = dels.keys().copied().collect();
            cfs.sort_unstable();
            for cf in cfs {
                edit.range_dels
                    .extend(dels[&cf].iter().map(|t| (cf, t.clone())));
            }
        }
        if !edit.added.is_empty() {
            // IMPORTANT: the new tables' names must survive before the manifest names them.
            self.fs
                .sync_dir(&self.dir)
                .map_err(|e| BaseError::io(format!("fsync directory {}", self.dir.display()), e))?;
        }
        let next_log = {
            let mut vs = self.versions.lock();
            let cur = self.current();
            let next_log = cur
                .imm
                .iter()
                .filter(|g| !Arc::ptr_eq(g, &group))
                .map(|g| g.wal_number)
                .chain(std::iter::once(cur.mem.wal_number))
                .min()
                .unwrap_or(cur.mem.wal_number);
            edit.log_number = Some(next_log);
            self.log_and_apply(&mut vs, edit, &opened, |cur, v| SuperVersion {
                mem: cur.mem.clone(),
                imm: cur
                    .imm
                    .iter()
                    .filter(|g| !Arc::ptr_eq(g, &group))
                    .cloned()
                    .collect(),
                version: v,
            })?;
            next_log
        };
        self.delete_wals_below(next_log);
        Counters::add(&self.counters.flushes, 1);
        Counters::add(&self.counters.flush_bytes, bytes);
        self.bg.lock().compaction_wanted = true;
        self.bg_cv.notify_all();
        Ok(())
    }

    fn delete_wals_below(&self, log_number: u64) {
        let Ok(names) = self.fs.list_dir(&self.dir) else {
            return;
        };
        for name in names {
            if let Some(FileKind::Wal(n)) = filenames::parse(&name) {
                if n < log_number {
                    let _ = self.fs.remove_file(&filenames::wal_path(&self.dir, n));
                }
            }
        }
    }

    /// Freezes the active memtables (if they hold anything) and waits until every frozen
    /// group is flushed.
    pub(crate) fn flush_all(&self) -> Result<()> {
        {
            let mut w = self.queue.writer.lock();
            self.check_writable()?;
            if !self.current().mem.is_empty() {
                self.switch_memtable(&mut w)?;
            }
        }
        loop {
            if self.current().imm.is_empty() {
                return Ok(());
            }
            self.check_writable()?;
            let mut g = self.bg.lock();
            self.bg_cv.notify_all();
            self.bg_cv.wait_for(&mut g, Duration::from_millis(20));
        }
    }

    /// Removes files no version references: tables from interrupted flushes or compactions,
    /// WAL segments below `log_number`, old manifests, temporary files. Only at open, when no
    /// background work is writing new files.
    pub(crate) fn delete_obsolete_files(&self) {
        let live = self.current().version.live_files();
        let (log_number, manifest) = {
            let vs = self.versions.lock();
            (vs.log_number, vs.manifest.number())
        };
        let Ok(names) = self.fs.list_dir(&self.dir) else {
            return;
        };
        for name in names {
            let remove = match filenames::parse(&name) {
                Some(FileKind::Table(n)) => !live.contains(&n),
                Some(FileKind::Wal(n)) => n < log_number,
                Some(FileKind::Manifest(n)) => n != manifest,
                Some(FileKind::Temp) => true,
                _ => false,
            };
            if remove {
                tracing::debug!(file = %name, "removing obsolete file");
                let _ = self.fs.remove_file(&self.dir.join(&name));
            }
        }
    }

    /// The flush thread: flushes frozen groups as they appear.
    pub(crate) fn flush_loop(self: &Arc<Self>) {
        loop {
            {
                let mut g = self.bg.lock();
                loop {
                    if g.shutting_down {
                        return;
                    }
                    if !self.current().imm.is_empty() && self.poisoned.lock().is_none() {
                        break;
                    }
                    self.bg_cv.wait_for(&mut g, Duration::from_millis(100));
                }
            }
            if let Err(e) = self.flush_oldest() {
                match &e {
                    crate::Error::Storage(b) => self.poison_for("flush failed", b),
                    _ => self.poison(format!("flush failed: {e}")),
                }
            }
        }
    }
}
