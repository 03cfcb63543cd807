//! [`Db`]: the open database — recovery at open, the read path, snapshots, column families,
//! statistics and shutdown. The write path is in `write.rs`, flushes in `flush.rs`, compactions
//! in `compact.rs`.
//!
//! Concurrency: readers take an `Arc` of the current [`SuperVersion`] (memtables + table
//! version) and never block writers. One group-commit leader at a time appends to the WAL and
//! applies to the active memtable. Every change of the table set (flush, compaction, new column
//! family) happens under the `versions` mutex: manifest append (fsynced) first, then the new
//! `SuperVersion` is installed.

use crate::batch::WriteBatch;
use crate::cf::{ColumnFamily, DEFAULT_CF_ID, DEFAULT_CF_NAME};
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::filenames::{self, lock_path, table_path, FileKind};
use crate::iter::{BoxedIter, DbIterator, LevelIterator};
use crate::manifest::{read_current, read_edits, ManifestWriter, VersionEdit};
use crate::options::Options;
use crate::range_del::{self, RangeTombstone};
use crate::stats::{CorruptionLog, Counters};
use crate::version::{apply_edit, edit_error, CfLevels, Version};
use crate::wal::{self, WalWriter};
use crate::write::WriteQueue;
use kvstore_base::fs::FileSystem;
use kvstore_base::{SeqNo, ValueKind};
use kvstore_compaction::FileMeta;
use kvstore_memtable::MemTable;
use kvstore_sstable::filter::bloom_hash;
use kvstore_sstable::{BlockCache, TableOptions, TableReader};
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The memtables of all column families that share one WAL segment. They are frozen and
/// flushed together (an atomic flush), so one `log_number` describes the whole database.
pub(crate) struct MemGroup {
    /// The WAL segment holding exactly this group's writes.
    pub wal_number: u64,
    pub tables: RwLock<HashMap<u32, Arc<MemTable>>>,
    /// The group's range tombstones per column family, in sequence order; the group's flush
    /// moves them into the manifest (`range_del.rs`).
    pub range_dels: RwLock<HashMap<u32, Vec<RangeTombstone>>>,
    /// Set once `range_dels` holds anything: reads skip its lock while it is false.
    pub has_range_dels: AtomicBool,
    /// The group's memtable budget, which sizes each memtable's key filter.
    pub memtable_bytes: usize,
}

impl MemGroup {
    pub fn new(wal_number: u64, memtable_bytes: usize) -> Self {
        MemGroup {
            wal_number,
            tables: RwLock::new(HashMap::new()),
            range_dels: RwLock::new(HashMap::new()),
            has_range_dels: AtomicBool::new(false),
            memtable_bytes,
        }
    }

    /// The group's range tombstones of `cf` (a copy: there are few, and reads rarely ask).
    pub fn range_dels_of(&self, cf: u32) -> Vec<RangeTombstone> {
        if !self.has_range_dels.load(Ordering::Acquire) {
            return Vec::new();
        }
        self.range_dels.read().get(&cf).cloned().unwrap_or_default()
    }

    pub fn table(&self, cf: u32) -> Arc<MemTable> {
        if let Some(t) = self.tables.read().get(&cf) {
            return t.clone();
        }
        self.tables
            .write()
            .entry(cf)
            .or_insert_with(|| Arc::new(MemTable::with_filter(self.memtable_bytes)))
            .clone()
    }

    pub fn bytes(&self) -> usize {
        let tombstones: usize = if self.has_range_dels.load(Ordering::Acquire) {
            self.range_dels
                .read()
                .values()
                .flatten()
                .map(|t| t.start.len() + t.end.len() + 32)
                .sum()
        } else {
            0
        };
        tombstones
            + self
                .tables
                .read()
                .values()
                .map(|t| t.approximate_bytes())
                .sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        !self.has_range_dels.load(Ordering::Acquire)
            && self.tables.read().values().all(|t| t.is_empty())
    }

    pub fn apply(&self, first_seq: SeqNo, batch: &WriteBatch) {
        // One table lookup per run of entries of the same column family, not per entry (it
        // takes the map's lock and clones an `Arc`).
        let mut cur: Option<(u32, Arc<MemTable>)> = None;
        for (i, e) in batch.iter().enumerate() {
            let seq = first_seq + i as u64;
            let Some(kind) = e.kind.point() else {
                self.range_dels
                    .write()
                    .entry(e.cf_id)
                    .or_default()
                    .push(RangeTombstone {
                        start: e.key.to_vec(),
                        end: e.value.to_vec(),
                        seq,
                    });
                self.has_range_dels.store(true, Ordering::Release);
                continue;
            };
            let t = match &cur {
                Some((cf, t)) if *cf == e.cf_id => t,
                _ => &cur.insert((e.cf_id, self.table(e.cf_id))).1,
            };
            t.insert(e.key, seq, kind, e.value);
        }
    }
}

/// What a reader needs, swapped as one unit.
pub(crate) struct SuperVersion {
    pub mem: Arc<MemGroup>,
    /// Frozen groups waiting for flush, newest first.
    pub imm: Vec<Arc<MemGroup>>,
    pub version: Arc<Version>,
}

/// State changed only under the `versions` mutex.
pub(crate) struct VersionState {
    pub manifest: ManifestWriter,
    pub levels: BTreeMap<u32, CfLevels>,
    pub log_number: u64,
}

/// Background-work coordination, guarded by `DbInner::bg` with `DbInner::bg_cv`.
#[derive(Default)]
pub(crate) struct BgState {
    pub shutting_down: bool,
    pub compaction_wanted: bool,
}

pub(crate) struct DbInner {
    pub dir: PathBuf,
    pub opts: Options,
    pub fs: Arc<dyn FileSystem>,
    pub cache: Arc<BlockCache>,
    /// The current read view. Replaced (never mutated) under `versions`.
    pub sv: RwLock<Arc<SuperVersion>>,
    pub versions: Mutex<VersionState>,
    /// Next file number to hand out (tables, WAL segments, manifests share it).
    pub next_file: AtomicU64,
    /// Every write with a sequence number at or below this is fully applied and readable.
    pub visible_seq: AtomicU64,
    pub queue: WriteQueue,
    pub cfs: RwLock<HashMap<String, ColumnFamily>>,
    /// Sequence numbers pinned by live snapshots, with their counts.
    pub snapshots: Mutex<BTreeMap<SeqNo, usize>>,
    /// `Some(reason)` after a failed persist: all later writes are refused (see `poison`).
    pub poisoned: Mutex<Option<String>>,
    /// True while every failure behind `poisoned` was "no space": then `try_resume` may lift it.
    pub poison_recoverable: AtomicBool,
    /// When writes last tried to lift a recoverable poison (at most once a second).
    pub last_resume_attempt: Mutex<Option<std::time::Instant>>,
    pub bg: Mutex<BgState>,
    /// Signalled when background work may be needed, and when a flush or compaction finished
    /// (stalled writers wait on it too).
    pub bg_cv: Condvar,
    /// One compaction at a time, background or manual.
    pub compaction_lock: Mutex<()>,
    /// One flush at a time (the flush thread, or open before it starts).
    pub flush_lock: Mutex<()>,
    pub counters: Counters,
    pub corruption: Arc<CorruptionLog>,
    pub threads: Mutex<Vec<JoinHandle<()>>>,
    pub closed: AtomicBool,
    /// Held for the life of the database: no second process opens the directory.
    pub _lock: Box<dyn Send + Sync>,
    /// Test builds only: run once, by the next read, between loading its view and its sequence.
    #[cfg(feature = "test-hooks")]
    pub read_hook: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

/// Ends background work when the last `Db` handle goes away.
struct Closer(Arc<DbInner>);

impl Drop for Closer {
    fn drop(&mut self) {
        let _ = self.0.shutdown();
    }
}

/// An open database. Cheap to clone (clones share one engine); `Send + Sync`.
#[derive(Clone)]
pub struct Db {
    pub(crate) inner: Arc<DbInner>,
    _closer: Arc<Closer>,
}

/// Per-level shape of the tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LevelStats {
    pub files: usize,
    pub bytes: u64,
}

/// Engine statistics at one moment.
#[derive(Clone, Debug, Default)]
pub struct DbStats {
    /// Per level (index 0 = L0), summed over column families.
    pub levels: Vec<LevelStats>,
    /// Bytes written to disk (WAL + flush + compaction) ÷ bytes of user data written.
    pub write_amplification: f64,
    /// User bytes (keys + values) written through the API.
    pub user_bytes_written: u64,
    /// WAL bytes appended.
    pub wal_bytes_written: u64,
    /// SSTable bytes written by flushes.
    pub flush_bytes_written: u64,
    /// SSTable bytes written by compactions.
    pub compaction_bytes_written: u64,
    /// Bytes held by active and frozen memtables.
    pub memtable_bytes: u64,
    /// Frozen memtables waiting to be flushed.
    pub immutable_memtables: usize,
    pub flushes: u64,
    pub compactions: u64,
    /// Writes that were slowed down or had to wait for flush/compaction.
    pub write_stalls: u64,
    /// Total time writers spent stalled, in microseconds.
    pub stall_micros: u64,
    /// WAL fsyncs performed and their total latency.
    pub wal_syncs: u64,
    pub wal_sync_micros: u64,
    /// Bytes held by live SSTables.
    pub live_sst_bytes: u64,
    /// Last sequence number made visible.
    pub last_sequence: u64,
    /// Block cache use.
    pub block_cache_bytes: u64,
    pub block_cache_hits: u64,
    pub block_cache_misses: u64,
    /// `Some(reason)` once a failed persist has poisoned the database.
    pub poisoned: Option<String>,
    /// Reads that met corrupt data since open, and the first such report (file and offset).
    pub corruptions_seen: u64,
    pub corruption: Option<String>,
    /// Range tombstones still live (in memtables or the manifest), over all column families.
    pub range_tombstones: usize,
}

/// A consistent read view pinned at one sequence number. While it lives, compactions keep every
/// version it can see.
pub struct Snapshot {
    db: Db,
    seq: SeqNo,
}

fn io_err(what: &str, p: &Path, e: std::io::Error) -> Error {
    Error::Storage(kvstore_base::Error::io(
        format!("{what} {}", p.display()),
        e,
    ))
}

pub(crate) fn bounds<K: AsRef<[u8]>>(r: &impl RangeBounds<K>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let m = |b: Bound<&K>| match b {
        Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    };
    (m(r.start_bound()), m(r.end_bound()))
}

impl DbInner {
    pub fn table_options(&self) -> TableOptions {
        TableOptions {
            block_size_bytes: self.opts.block_size_bytes,
            bloom_bits_per_key: self.opts.bloom_bits_per_key,
            compression: self.opts.compression,
            ..TableOptions::default()
        }
    }

    pub fn open_table(&self, meta: &FileMeta) -> kvstore_base::Result<Arc<TableReader>> {
        let path = table_path(&self.dir, meta.number);
        let f = self
            .fs
            .open_immutable(&path)
            .map_err(|e| kvstore_base::Error::io(format!("open {}", path.display()), e))?;
        TableReader::open(f, meta.number, path, Some(self.cache.clone()))
    }

    pub fn new_file_number(&self) -> u64 {
        self.next_file.fetch_add(1, Ordering::SeqCst)
    }

    pub fn current(&self) -> Arc<SuperVersion> {
        self.sv.read().clone()
    }

    /// Refuses all later writes. Never retry a failed fsync: after one, the kernel may have
    /// dropped the dirty pages, so what is on disk is unknown; only a reopen (which replays
    /// what is really there) can continue safely.
    pub fn poison(&self, reason: String) {
        self.poison_with(reason, false);
    }

    /// Poisons for `err`: recoverable (see `resume.rs`) only if the disk was full.
    pub fn poison_for(&self, what: &str, err: &kvstore_base::Error) {
        self.poison_with(format!("{what}: {err}"), err.is_disk_full());
    }

    fn poison_with(&self, reason: String, recoverable: bool) {
        tracing::error!(%reason, recoverable, "database poisoned; refusing writes");
        let mut p = self.poisoned.lock();
        if p.is_none() {
            *p = Some(reason);
            self.poison_recoverable
                .store(recoverable, Ordering::Release);
        } else if !recoverable {
            // One unrecoverable failure makes the whole poison permanent until reopen.
            self.poison_recoverable.store(false, Ordering::Release);
        }
        drop(p);
        self.bg_cv.notify_all();
    }

    /// If the database is poisoned only because the disk was full, tries (at most once a
    /// second) to resume writes.
    pub fn maybe_resume(&self) {
        if !self.poison_recoverable.load(Ordering::Acquire) {
            return;
        }
        {
            let mut last = self.last_resume_attempt.lock();
            let now = std::time::Instant::now();
            if last.is_some_and(|t| now.duration_since(t) < std::time::Duration::from_secs(1)) {
                return;
            }
            *last = Some(now);
        }
        if let Err(e) = self.try_resume() {
            tracing::warn!(error = %e, "writes not resumed yet");
        }
    }

    pub fn check_writable(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if let Some(r) = self.poisoned.lock().clone() {
            return Err(Error::Poisoned { reason: r });
        }
        Ok(())
    }

    /// Appends `edit` to the manifest and installs the resulting version, keeping memtables
    /// as `make_sv` says. Added tables found in `opened` (already open, by file number) are
    /// installed as they are; others are opened here. Caller holds `versions`.
    pub fn log_and_apply(
        &self,
        vs: &mut VersionState,
        mut edit: VersionEdit,
        opened: &[Arc<TableReader>],
        make_sv: impl FnOnce(&SuperVersion, Arc<Version>) -> SuperVersion,
    ) -> Result<()> {
        edit.next_file_number = Some(self.next_file.load(Ordering::SeqCst));
        edit.last_seq = Some(self.visible_seq.load(Ordering::SeqCst));
        let mut levels = vs.levels.clone();
        apply_edit(&mut levels, &edit, self.opts.num_levels)
            .map_err(|why| Error::InvalidArgument(format!("internal: bad edit: {why}")))?;
        let cur = self.current();
        let version = Version::build(&levels, Some(&cur.version), |m| {
            match opened.iter().find(|t| t.file_number() == m.number) {
                Some(t) => Ok(t.clone()),
                None => self.open_table(m),
            }
        })?;
        if let Err(e) = vs.manifest.append(&edit) {
            self.poison_for("manifest write failed", &e);
            return Err(e.into());
        }
        vs.levels = levels;
        if let Some(n) = edit.log_number {
            vs.log_number = n;
        }
        let new_sv = make_sv(&cur, Arc::new(version));
        *self.sv.write() = Arc::new(new_sv);
        self.maybe_roll_manifest(vs);
        Ok(())
    }

    /// Starts a new manifest holding one snapshot edit once the current one has grown large,
    /// so recovery never replays an unbounded history.
    fn maybe_roll_manifest(&self, vs: &mut VersionState) {
        if vs.manifest.size() < self.opts.max_manifest_bytes {
            return;
        }
        if let Err(e) = self.roll_manifest(vs) {
            self.poison_for("manifest roll failed", &e);
        }
    }

    /// Writes a new manifest holding the current state as one edit, makes it live, and removes
    /// the old one. Also the way past a manifest whose last append failed.
    ///
    /// If this fails, the old manifest is retired too: after a failed roll `CURRENT` may name
    /// either manifest (the rename may be durable while its directory sync failed), so an edit
    /// appended to the old one could be lost at the next open while the files it made obsolete
    /// (WAL segments, compaction inputs) were already deleted. Every later edit fails instead,
    /// until a roll succeeds (a disk-full resumption starts with one) or the database reopens.
    pub fn roll_manifest(&self, vs: &mut VersionState) -> kvstore_base::Result<()> {
        let number = self.new_file_number();
        let mut snap = self.current().version.snapshot_edit();
        snap.log_number = Some(vs.log_number);
        snap.next_file_number = Some(self.next_file.load(Ordering::SeqCst));
        snap.last_seq = Some(self.visible_seq.load(Ordering::SeqCst));
        let m = match ManifestWriter::create(self.fs.as_ref(), &self.dir, number, &snap) {
            Ok(m) => m,
            Err(e) => {
                vs.manifest.retire(&e);
                return Err(e);
            }
        };
        let old = std::mem::replace(&mut vs.manifest, m);
        let _ = self
            .fs
            .remove_file(&filenames::manifest_path(&self.dir, old.number()));
        Ok(())
    }

    /// The read view and the sequence number a read of the latest state uses, in that order.
    ///
    /// IMPORTANT: the view is loaded *before* the sequence number (as RocksDB's `GetImpl`
    /// does). Loaded the other way round, a write could overwrite the key after the sequence
    /// was read, and a flush or compaction (no snapshot protects that sequence) could drop the
    /// only version the reader may see before the reader loads the view: the key would read
    /// as absent. Loaded this way, every version the view holds stays in it, and a sequence
    /// read later only admits more of the view's entries. A memtable switch cannot hide a
    /// visible write from the older view either: the switch happens under the writer lock
    /// after every write of the old memtable is visible, so the view holds a consistent prefix
    /// (all writes up to the switch), and all of those are at or below the sequence.
    pub fn latest_read(&self) -> (Arc<SuperVersion>, SeqNo) {
        let sv = self.current();
        #[cfg(feature = "test-hooks")]
        if let Some(hook) = self.read_hook.lock().take() {
            hook();
        }
        let seq = self.visible_seq.load(Ordering::SeqCst);
        (sv, seq)
    }

    /// Reads `key` of `cf` at `seq` in the current read view (a snapshot's read: its sequence
    /// is pinned, so compactions keep what it sees).
    pub fn get_at(&self, cf: u32, key: &[u8], seq: SeqNo) -> Result<Option<Vec<u8>>> {
        self.get_in(&self.current(), cf, key, seq)
    }

    /// Reads `key` of `cf` at `seq` in the read view `sv`.
    pub fn get_in(
        &self,
        sv: &SuperVersion,
        cf: u32,
        key: &[u8],
        seq: SeqNo,
    ) -> Result<Option<Vec<u8>>> {
        // Memtables first, then tables, newest data first. The key filters of the memtables
        // and the tables are all loaded before any is read (each is a cache miss once data
        // outgrows the caches, and they are independent): the memtable's word is prefetched,
        // then `prepare` prefetches the tables' lines, and only then is the memtable probed.
        let hash = bloom_hash(key);
        let (lookup, hit) = {
            // Held for the memtable probes only: no table is read under it.
            let mem = sv.mem.tables.read();
            let mem = mem.get(&cf);
            if let Some(t) = mem {
                t.prefetch_hashed(hash);
            }
            let lookup = sv.version.prepare(cf, key, hash);
            let hit = mem.and_then(|t| t.get_hashed(key, hash, seq)).or_else(|| {
                sv.imm.iter().find_map(|g| {
                    let t = g.tables.read().get(&cf).cloned();
                    t.and_then(|t| t.get_hashed(key, hash, seq))
                })
            });
            (lookup, hit)
        };
        let hit = match hit {
            Some(h) => Some(h),
            None => lookup.get(key, hash, seq).map_err(|e| {
                let e = Error::from(e);
                self.corruption.note(&e);
                e
            })?,
        };
        Ok(match hit {
            Some((v, ValueKind::Put, value)) if !self.range_deleted(sv, cf, key, v, seq) => {
                Some(value)
            }
            _ => None,
        })
    }

    /// Whether version `v` of `key` is hidden from a read at `seq` by a range tombstone of the
    /// view `sv` (in its memtable groups or its version).
    fn range_deleted(&self, sv: &SuperVersion, cf: u32, key: &[u8], v: SeqNo, seq: SeqNo) -> bool {
        let groups: Vec<Vec<RangeTombstone>> = std::iter::once(&sv.mem)
            .chain(sv.imm.iter())
            .map(|g| g.range_dels_of(cf))
            .filter(|l| !l.is_empty())
            .collect();
        let flushed = sv.version.range_dels(cf);
        if groups.is_empty() && flushed.is_empty() {
            return false;
        }
        range_del::covers(
            groups
                .iter()
                .map(Vec::as_slice)
                .chain(std::iter::once(flushed)),
            key,
            v,
            seq,
        )
    }

    /// Every range tombstone of `cf` in the view `sv`, memtable groups and version.
    pub fn all_range_dels(&self, sv: &SuperVersion, cf: u32) -> Vec<RangeTombstone> {
        let mut all: Vec<RangeTombstone> = std::iter::once(&sv.mem)
            .chain(sv.imm.iter())
            .flat_map(|g| g.range_dels_of(cf))
            .collect();
        all.extend_from_slice(sv.version.range_dels(cf));
        all
    }

    /// An iterator over `cf` at `seq` in the read view `sv` (see [`DbInner::latest_read`]).
    pub fn iter_in(
        &self,
        sv: Arc<SuperVersion>,
        cf: u32,
        seq: SeqNo,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        prefix: Option<Vec<u8>>,
    ) -> DbIterator {
        let mut children: Vec<BoxedIter> = Vec::new();
        for g in std::iter::once(&sv.mem).chain(sv.imm.iter()) {
            if let Some(t) = g.tables.read().get(&cf) {
                children.push(Box::new(t.iter()));
            }
        }
        if let Some(c) = sv.version.cfs.get(&cf) {
            for (level, files) in c.levels.iter().enumerate() {
                if level == 0 {
                    for t in files {
                        children.push(Box::new(t.reader.iter()));
                    }
                } else if !files.is_empty() {
                    children.push(Box::new(LevelIterator::new(sv.version.clone(), cf, level)));
                }
            }
        }
        let tombstones = self.all_range_dels(&sv, cf);
        let range_dels = range_del::Fragments::new([tombstones.as_slice()], seq);
        DbIterator::new(
            children,
            seq,
            start,
            end,
            prefix,
            range_dels,
            self.corruption.clone(),
        )
    }

    pub fn snapshot_list(&self) -> Vec<SeqNo> {
        self.snapshots.lock().keys().copied().collect()
    }

    /// Stops background threads and syncs the WAL. Idempotent.
    pub fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.bg.lock().shutting_down = true;
        self.bg_cv.notify_all();
        let threads = std::mem::take(&mut *self.threads.lock());
        for t in threads {
            let _ = t.join();
        }
        // Writes made with sync = false are made durable at a clean close.
        if self.poisoned.lock().is_none() {
            self.queue.sync_wal()?;
        }
        Ok(())
    }
}

impl Db {
    /// Opens (creating if allowed) the database in `path`, recovering from the manifest and
    /// replaying the WAL: the result holds exactly the writes that were durable.
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let dir = path.as_ref().to_path_buf();
        let fs = opts.fs.clone();
        if opts.num_levels < 2 {
            return Err(Error::InvalidArgument(
                "num_levels must be at least 2".into(),
            ));
        }
        fs.create_dir_all(&dir)
            .map_err(|e| io_err("create directory", &dir, e))?;
        let lock = fs
            .lock(&lock_path(&dir))
            .map_err(|e| io_err("lock", &lock_path(&dir), e))?;

        let fresh = !fs.exists(&filenames::current_path(&dir));
        if fresh && !opts.create_if_missing {
            return Err(Error::InvalidArgument(format!(
                "no database in {} and create_if_missing is false",
                dir.display()
            )));
        }
        if fresh {
            refuse_data_without_current(fs.as_ref(), &dir)?;
        }

        // 1. The manifest: live tables, counters, oldest WAL still needed.
        let mut levels: BTreeMap<u32, CfLevels> = BTreeMap::new();
        let (mut next_file, mut last_seq, mut log_number) = (2u64, 0u64, 0u64);
        if fresh {
            let init = VersionEdit {
                new_cfs: vec![(DEFAULT_CF_ID, DEFAULT_CF_NAME.to_string())],
                ..Default::default()
            };
            apply_edit(&mut levels, &init, opts.num_levels).map_err(Error::InvalidArgument)?;
        } else {
            let mpath = read_current(fs.as_ref(), &dir)?;
            for edit in read_edits(fs.as_ref(), &mpath)? {
                apply_edit(&mut levels, &edit, opts.num_levels)
                    .map_err(|why| edit_error(&mpath, why))?;
                next_file = edit.next_file_number.unwrap_or(next_file).max(next_file);
                last_seq = edit.last_seq.unwrap_or(last_seq).max(last_seq);
                log_number = edit.log_number.unwrap_or(log_number).max(log_number);
            }
            // A damaged manifest tail reads as a torn one; refuse if it lost a durable edit.
            let live = levels
                .values()
                .flat_map(|c| c.levels.iter().flatten().map(|m| m.number));
            crate::manifest::check_referenced_files(fs.as_ref(), &dir, &mpath, live, log_number)?;
        }

        // 2. WAL segments not yet in tables, oldest first; their numbers also bound next_file.
        let mut wals = Vec::new();
        for name in fs.list_dir(&dir).map_err(|e| io_err("list", &dir, e))? {
            match filenames::parse(&name) {
                Some(FileKind::Wal(n)) if n >= log_number => wals.push(n),
                Some(FileKind::Wal(n) | FileKind::Table(n) | FileKind::Manifest(n)) => {
                    next_file = next_file.max(n + 1);
                }
                _ => {}
            }
        }
        wals.sort_unstable();
        if let Some(&max) = wals.last() {
            next_file = next_file.max(max + 1);
        }
        // A torn tail is accepted in the last segment holding anything past its header, not
        // only in the newest: the segments after it can only be empty ones that an open or a
        // disk-full resumption created before it was interrupted (or whose creation failed).
        // Nothing is ever appended to a newer segment while an older one still needed ends
        // torn — a memtable switch syncs the old segment first, and recovery (step 4 below)
        // and resumption (resume.rs) flush the torn segment's writes before accepting new
        // ones — so no acknowledged write lies past such a tear.
        let mut wal_bytes = Vec::with_capacity(wals.len());
        for &n in &wals {
            let p = filenames::wal_path(&dir, n);
            let f = fs.open_read(&p).map_err(|e| io_err("open", &p, e))?;
            wal_bytes.push(f.size());
        }
        let last_with_records = wal_bytes
            .iter()
            .rposition(|&b| b > crate::record::LOG_HEADER_BYTES as u64)
            .unwrap_or(0);
        let recovered = Arc::new(MemGroup::new(log_number, opts.memtable_size_bytes));
        for (i, &n) in wals.iter().enumerate() {
            let p = filenames::wal_path(&dir, n);
            let may_end_torn = i >= last_with_records;
            let end = wal::replay(fs.as_ref(), &p, may_end_torn, |seq, batch| {
                recovered.apply(seq, &batch);
                last_seq = last_seq.max(seq + batch.len() as u64 - 1);
                Ok(())
            })?;
            if let crate::record::LogEnd::TornTail { offset } = end {
                tracing::warn!(file = %p.display(), offset, "ignored torn WAL tail (unacknowledged writes)");
            }
        }

        // 3. A fresh WAL segment and a fresh manifest describing the recovered state.
        let next = AtomicU64::new(next_file);
        let wal_number = next.fetch_add(1, Ordering::SeqCst);
        let manifest_number = next.fetch_add(1, Ordering::SeqCst);
        let wal = WalWriter::create(fs.as_ref(), &dir, wal_number)?;
        let cache = BlockCache::new(opts.block_cache_bytes);

        let mut snapshot_edit = VersionEdit::default();
        for (id, c) in &levels {
            snapshot_edit.new_cfs.push((*id, c.name.clone()));
            snapshot_edit
                .range_dels
                .extend(c.range_dels.iter().map(|t| (*id, t.clone())));
            for (level, files) in c.levels.iter().enumerate() {
                for m in files {
                    snapshot_edit.added.push(crate::manifest::AddedFile {
                        cf: *id,
                        level,
                        meta: m.clone(),
                    });
                }
            }
        }
        // Until the recovered memtable is flushed, the replayed segments stay needed.
        let keep_log = if recovered.is_empty() {
            wal_number
        } else {
            log_number
        };
        snapshot_edit.log_number = Some(keep_log);
        snapshot_edit.next_file_number = Some(next.load(Ordering::SeqCst));
        snapshot_edit.last_seq = Some(last_seq);
        let manifest = ManifestWriter::create(fs.as_ref(), &dir, manifest_number, &snapshot_edit)?;

        let cfs: HashMap<String, ColumnFamily> = levels
            .iter()
            .map(|(id, c)| (c.name.clone(), ColumnFamily::new(*id, c.name.clone())))
            .collect();

        let inner = Arc::new(DbInner {
            dir: dir.clone(),
            fs: fs.clone(),
            cache,
            sv: RwLock::new(Arc::new(SuperVersion {
                mem: Arc::new(MemGroup::new(wal_number, opts.memtable_size_bytes)),
                imm: if recovered.is_empty() {
                    Vec::new()
                } else {
                    vec![recovered]
                },
                version: Arc::new(Version::default()),
            })),
            versions: Mutex::new(VersionState {
                manifest,
                levels: levels.clone(),
                log_number: keep_log,
            }),
            next_file: next,
            visible_seq: AtomicU64::new(last_seq),
            queue: WriteQueue::new(wal, last_seq),
            cfs: RwLock::new(cfs),
            snapshots: Mutex::new(BTreeMap::new()),
            poisoned: Mutex::new(None),
            poison_recoverable: AtomicBool::new(false),
            last_resume_attempt: Mutex::new(None),
            bg: Mutex::new(BgState::default()),
            bg_cv: Condvar::new(),
            compaction_lock: Mutex::new(()),
            flush_lock: Mutex::new(()),
            counters: Counters::default(),
            corruption: Arc::default(),
            threads: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            _lock: lock,
            #[cfg(feature = "test-hooks")]
            read_hook: Mutex::new(None),
            opts,
        });
        let version = Version::build(&levels, None, |m| inner.open_table(m))?;
        {
            let mut sv = inner.sv.write();
            let cur = sv.clone();
            *sv = Arc::new(SuperVersion {
                mem: cur.mem.clone(),
                imm: cur.imm.clone(),
                version: Arc::new(version),
            });
        }

        // 4. Flush what the WAL held, so its segments can go; then drop unreferenced files.
        while !inner.current().imm.is_empty() {
            inner.flush_oldest()?;
        }
        inner.delete_obsolete_files();

        let db = Db {
            _closer: Arc::new(Closer(inner.clone())),
            inner,
        };
        db.inner.start_background();
        Ok(db)
    }

    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        self.write(b)
    }

    pub fn delete(&self, key: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete(key);
        self.write(b)
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_cf(&self.default_cf(), key)
    }

    pub fn put_cf(&self, cf: &ColumnFamily, key: &[u8], value: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put_cf(cf, key, value);
        self.write(b)
    }

    pub fn delete_cf(&self, cf: &ColumnFamily, key: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete_cf(cf, key);
        self.write(b)
    }

    /// Deletes every key of the default column family in `[start, end)` with one entry, not a
    /// delete per key (see [`Db::delete_range_cf`]).
    pub fn delete_range(&self, start: &[u8], end: &[u8]) -> Result<()> {
        self.delete_range_cf(&self.default_cf(), start, end)
    }

    /// Deletes every key of `cf` in `[start, end)` (`start < end`, else `InvalidArgument`) as
    /// one range tombstone: durable and atomic like any write, honoured at once by reads,
    /// iterators and snapshots taken after it. Compactions drop the versions it hides; the
    /// tombstone itself stays (a few dozen bytes in the manifest) until
    /// [`Db::compact_range`] over its range has removed them all.
    pub fn delete_range_cf(&self, cf: &ColumnFamily, start: &[u8], end: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete_range_cf(cf, start, end);
        self.write(b)
    }

    pub fn get_cf(&self, cf: &ColumnFamily, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        let (sv, seq) = self.inner.latest_read();
        self.inner.get_in(&sv, cf.id(), key, seq)
    }

    /// Applies `batch` atomically: after a crash, all of it or none of it is there. With
    /// `Options::sync` (the default) it is durable (fsynced, shared with concurrent writers)
    /// before this returns.
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        self.write_opt(batch, self.inner.opts.sync)
    }

    /// [`Db::write`] with an explicit durability choice for this batch.
    pub fn write_opt(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        batch.validate()?;
        {
            // Ids are handed out densely from 0 (`create_cf` takes max + 1) and never dropped,
            // so an id is valid exactly when it is below the count.
            let count = self.inner.cfs.read().len() as u32;
            for e in batch.iter() {
                if e.cf_id >= count {
                    return Err(Error::ColumnFamilyNotFound(format!("id {}", e.cf_id)));
                }
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.inner.write_batch(batch, sync)
    }

    /// Returns the column family `name`, creating it (durably) if it does not exist.
    pub fn create_cf(&self, name: &str) -> Result<ColumnFamily> {
        self.inner.check_writable()?;
        if name.is_empty() {
            return Err(Error::InvalidArgument("column family name is empty".into()));
        }
        let mut vs = self.inner.versions.lock();
        if let Some(cf) = self.inner.cfs.read().get(name) {
            return Ok(cf.clone());
        }
        let id = vs.levels.keys().max().map_or(0, |m| m + 1);
        let edit = VersionEdit {
            new_cfs: vec![(id, name.to_string())],
            ..Default::default()
        };
        self.inner
            .log_and_apply(&mut vs, edit, &[], |cur, v| SuperVersion {
                mem: cur.mem.clone(),
                imm: cur.imm.clone(),
                version: v,
            })?;
        let cf = ColumnFamily::new(id, name);
        self.inner.cfs.write().insert(name.to_string(), cf.clone());
        Ok(cf)
    }

    /// The column family `name`, if it exists.
    pub fn cf(&self, name: &str) -> Option<ColumnFamily> {
        self.inner.cfs.read().get(name).cloned()
    }

    /// Names of all column families.
    pub fn cf_names(&self) -> Vec<String> {
        let mut v: Vec<_> = self.inner.cfs.read().keys().cloned().collect();
        v.sort();
        v
    }

    /// The `default` column family.
    pub fn default_cf(&self) -> ColumnFamily {
        ColumnFamily::new(DEFAULT_CF_ID, DEFAULT_CF_NAME)
    }

    /// A read view of the database as of now.
    pub fn snapshot(&self) -> Snapshot {
        // Registering the visible sequence under the lock is enough: a flush or compaction
        // that read the snapshot list before this works on data frozen before it (a memtable
        // is frozen only once every write in it is visible), all of it at or below `seq`, and
        // it always keeps the newest version of each key, the one this snapshot sees.
        let mut snaps = self.inner.snapshots.lock();
        let seq = self.inner.visible_seq.load(Ordering::SeqCst);
        *snaps.entry(seq).or_insert(0) += 1;
        Snapshot {
            db: self.clone(),
            seq,
        }
    }

    /// Keys and values of the default column family within `range`, in key order.
    pub fn scan<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Result<DbIterator> {
        self.scan_cf(&self.default_cf(), range)
    }

    /// Keys and values of `cf` within `range`, in key order.
    pub fn scan_cf<K: AsRef<[u8]>>(
        &self,
        cf: &ColumnFamily,
        range: impl RangeBounds<K>,
    ) -> Result<DbIterator> {
        self.check_open()?;
        let (s, e) = bounds(&range);
        let (sv, seq) = self.inner.latest_read();
        Ok(self.inner.iter_in(sv, cf.id(), seq, s, e, None))
    }

    /// Keys and values of `cf` starting with `prefix`, in key order.
    pub fn scan_prefix_cf(&self, cf: &ColumnFamily, prefix: &[u8]) -> Result<DbIterator> {
        self.check_open()?;
        let (sv, seq) = self.inner.latest_read();
        Ok(self.inner.iter_in(
            sv,
            cf.id(),
            seq,
            Bound::Included(prefix.to_vec()),
            Bound::Unbounded,
            Some(prefix.to_vec()),
        ))
    }

    /// Writes every memtable to SSTables and waits for it.
    pub fn flush(&self) -> Result<()> {
        self.check_open()?;
        self.inner.flush_all()
    }

    /// Waits until background work has settled: no memtable waiting to be flushed, no
    /// compaction running, none the picker would start (RocksDB's `WaitForCompact`). Writes
    /// may go on meanwhile, so with a steady writer it may never return; benchmarks and tests
    /// call it between phases. Fails if the database is closed or has stopped taking writes
    /// (a failed flush or compaction would otherwise leave work pending forever).
    pub fn wait_for_compactions(&self) -> Result<()> {
        loop {
            self.check_open()?;
            self.inner.check_writable()?;
            let flush_pending = !self.inner.current().imm.is_empty();
            if !flush_pending && !self.inner.compaction_pending() {
                return Ok(());
            }
            if !flush_pending {
                // The picker wants a task the background thread has not started yet.
                self.inner.bg.lock().compaction_wanted = true;
                self.inner.bg_cv.notify_all();
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Compacts the tables overlapping `[start, end]` (None = unbounded) down to the last level
    /// and waits for it.
    pub fn compact_range(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        self.check_open()?;
        self.inner.flush_all()?;
        self.inner.compact_range(start, end)
    }

    /// Writes a consistent copy of the whole database (every column family) as of one sequence
    /// number into `dir` (created; it must not hold anything), while reads and writes go on:
    /// the live tables hard-linked, the WAL still needed copied, a fresh manifest. `dir` is
    /// then a database `Db::open` opens as it was at [`Checkpoint::seq`]. Writers wait only for
    /// one WAL sync and the links, not for the copy (`checkpoint.rs`).
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<Checkpoint> {
        self.check_open()?;
        self.inner.checkpoint(dir.as_ref())
    }

    /// Engine statistics.
    pub fn stats(&self) -> DbStats {
        let inner = &self.inner;
        let c = &inner.counters;
        let sv = inner.current();
        let mut levels = vec![LevelStats::default(); inner.opts.num_levels];
        for cf in sv.version.cfs.values() {
            for (i, files) in cf.levels.iter().enumerate() {
                if let Some(l) = levels.get_mut(i) {
                    l.files += files.len();
                    l.bytes += files.iter().map(|t| t.meta.size).sum::<u64>();
                }
            }
        }
        let user = Counters::get(&c.user_bytes);
        let wal = Counters::get(&c.wal_bytes);
        let flush = Counters::get(&c.flush_bytes);
        let comp = Counters::get(&c.compaction_bytes);
        DbStats {
            live_sst_bytes: levels.iter().map(|l| l.bytes).sum(),
            levels,
            write_amplification: if user == 0 {
                0.0
            } else {
                (wal + flush + comp) as f64 / user as f64
            },
            user_bytes_written: user,
            wal_bytes_written: wal,
            flush_bytes_written: flush,
            compaction_bytes_written: comp,
            memtable_bytes: (sv.mem.bytes() + sv.imm.iter().map(|g| g.bytes()).sum::<usize>())
                as u64,
            immutable_memtables: sv.imm.len(),
            flushes: Counters::get(&c.flushes),
            compactions: Counters::get(&c.compactions),
            write_stalls: Counters::get(&c.stalls),
            stall_micros: Counters::get(&c.stall_micros),
            wal_syncs: Counters::get(&c.wal_syncs),
            wal_sync_micros: Counters::get(&c.wal_sync_micros),
            last_sequence: inner.visible_seq.load(Ordering::SeqCst),
            block_cache_bytes: inner.cache.usage_bytes(),
            block_cache_hits: inner.cache.hits(),
            block_cache_misses: inner.cache.misses(),
            poisoned: inner.poisoned.lock().clone(),
            corruptions_seen: inner.corruption.count(),
            corruption: inner.corruption.first(),
            range_tombstones: std::iter::once(&sv.mem)
                .chain(sv.imm.iter())
                .map(|g| g.range_dels.read().values().map(Vec::len).sum::<usize>())
                .sum::<usize>()
                + sv.version
                    .cfs
                    .values()
                    .map(|c| c.range_dels.len())
                    .sum::<usize>(),
        }
    }

    /// `Err(Poisoned)` once a failed persist has made the database refuse writes.
    pub fn health(&self) -> Result<()> {
        self.inner.check_writable()
    }

    /// The first corruption a read has met since open (naming file and offset), if any. Reads
    /// and writes go on — other keys are still served — but the database should be repaired
    /// or restored; servers report it in their health check. The count is in [`DbStats`].
    pub fn corruption(&self) -> Option<String> {
        self.inner.corruption.first()
    }

    /// Tries now to lift a poison caused by a full disk (writes also try by themselves, at most
    /// once a second). `Ok(true)` when writes are accepted again, `Ok(false)` when the database
    /// was not poisoned; any other poison stays until the database is reopened.
    pub fn resume(&self) -> Result<bool> {
        self.check_open()?;
        self.inner.try_resume()
    }

    /// Waits for background work to stop, syncs the WAL and refuses further calls. Dropping the
    /// last handle does the same; `close` reports errors.
    pub fn close(&self) -> Result<()> {
        self.inner.shutdown()
    }

    /// Test builds only: `hook` runs once, inside the next read of the latest state, between
    /// the loads of its read view and of its sequence number.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn set_read_hook(&self, hook: impl FnOnce() + Send + 'static) {
        *self.inner.read_hook.lock() = Some(Box::new(hook));
    }

    /// The directory this database lives in.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// The file system it reads and writes through (for files kept beside the database by
    /// the layers above, which must go through the same one: tests inject faults there).
    pub fn file_system(&self) -> &Arc<dyn FileSystem> {
        &self.inner.fs
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }
}

impl Snapshot {
    /// The sequence number this snapshot reads at.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn get_cf(&self, cf: &ColumnFamily, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.check_open()?;
        self.db.inner.get_at(cf.id(), key, self.seq)
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_cf(&self.db.default_cf(), key)
    }

    pub fn scan<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Result<DbIterator> {
        self.scan_cf(&self.db.default_cf(), range)
    }

    pub fn scan_cf<K: AsRef<[u8]>>(
        &self,
        cf: &ColumnFamily,
        range: impl RangeBounds<K>,
    ) -> Result<DbIterator> {
        self.db.check_open()?;
        let (s, e) = bounds(&range);
        let sv = self.db.inner.current();
        Ok(self.db.inner.iter_in(sv, cf.id(), self.seq, s, e, None))
    }

    pub fn scan_prefix_cf(&self, cf: &ColumnFamily, prefix: &[u8]) -> Result<DbIterator> {
        self.db.check_open()?;
        Ok(self.db.inner.iter_in(
            self.db.inner.current(),
            cf.id(),
            self.seq,
            Bound::Included(prefix.to_vec()),
            Bound::Unbounded,
            Some(prefix.to_vec()),
        ))
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let mut snaps = self.db.inner.snapshots.lock();
        if let Some(n) = snaps.get_mut(&self.seq) {
            *n -= 1;
            if *n == 0 {
                snaps.remove(&self.seq);
            }
        }
    }
}

/// A directory without `CURRENT` is a new database — unless it holds data: a table, or a WAL
/// segment with a record. Creating a database there would treat those files as garbage and
/// delete them, so this refuses instead, naming one. What an interrupted first open leaves
/// (empty segments, manifests without `CURRENT`) holds no acknowledged write: writes are
/// accepted only after `CURRENT` exists.
fn refuse_data_without_current(fs: &dyn FileSystem, dir: &Path) -> Result<()> {
    let Ok(names) = fs.list_dir(dir) else {
        return Ok(());
    };
    for name in names {
        let p = dir.join(&name);
        let holds_data = match filenames::parse(&name) {
            Some(FileKind::Table(_)) => true,
            Some(FileKind::Wal(_)) => fs
                .open_read(&p)
                .map_or(true, |f| f.size() > crate::record::LOG_HEADER_BYTES as u64),
            _ => false,
        };
        if holds_data {
            return Err(Error::Storage(kvstore_base::Error::corruption(
                filenames::current_path(dir),
                0,
                format!(
                    "CURRENT is missing but {name} holds data: refusing to create a new \
                     database over it (restore CURRENT, or move the files away)"
                ),
            )));
        }
    }
    Ok(())
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn f<T: Send + Sync>() {}
    f::<Db>();
    f::<Snapshot>();
}
