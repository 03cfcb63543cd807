//! An in-memory file system that fails like hardware, for crash and fault tests.
//!
//! Model (what a power cut leaves behind on a journaling file system):
//! - every file (an *inode*) has its bytes and a `synced_len`: the prefix made durable by `sync`;
//! - the *live* namespace maps names to inodes; the *durable* namespace is the live one as of the
//!   last `sync_dir` of each directory (creates, renames and removes are durable only then);
//! - [`FaultFs::crash`] replaces the live namespace by the durable one and cuts every inode back to
//!   its synced prefix; with `tear`, a random part of the unsynced tail is kept, with its last
//!   byte flipped, as a torn write would leave it. Handles opened before a crash fail afterwards.
//!
//! Processes: the handle [`FaultFs::new`] returns is the machine's, and survives crashes (the
//! test reopens the database through it). Every *clone* is a process's view of the disk, the
//! one a `Db` is given: a crash kills it, and every later operation through it fails, as the
//! process would have died with the power. Without that, a database still open at the crash
//! would go on renaming, removing and syncing names on the rebooted disk — work no real
//! process could do after a power cut (a roll that removed the manifest `CURRENT` names
//! durably, for one, made a test fail only when the timing lined up).
//!
//! Faults: [`FaultFs::inject`] makes every append or sync after the next `n` fail (a dying disk),
//! [`FaultFs::inject_once`] only the one after them (a transient error), and
//! [`FaultFs::set_capacity`] makes appends fail with "no space" past a byte budget.

use super::{FileSystem, RandomAccessFile, WritableFile};
use parking_lot::Mutex;
use rand::Rng;
use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Default)]
struct Inode {
    data: Vec<u8>,
    synced_len: usize,
}

type InodeRef = Arc<Mutex<Inode>>;

/// Which operation an injected fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// `append` fails.
    Write,
    /// `sync` (file or directory) fails.
    Sync,
}

#[derive(Debug, Default)]
struct State {
    live: BTreeMap<PathBuf, InodeRef>,
    durable: BTreeMap<PathBuf, InodeRef>,
    dirs: HashSet<PathBuf>,
    /// Bumped at every crash; handles from an older generation are dead.
    generation: u64,
    /// After `remaining` more operations of `kind`, they all fail (or only the next one).
    fault: Option<Fault>,
    /// Total bytes the live files may hold, if limited.
    capacity: Option<u64>,
    /// Count of syncs (file and directory) so far, for choosing crash points.
    syncs: u64,
    /// Microseconds every read of an opened file sleeps first (a slow or paging disk); shared
    /// with the readers, so a change applies to files already open.
    read_delay_us: Arc<AtomicU64>,
}

#[derive(Debug)]
struct Fault {
    kind: FaultKind,
    remaining: u64,
    /// Only one operation fails (a transient error), not every later one (a dying disk).
    once: bool,
}

impl State {
    /// Counts one operation of `kind` against the injected fault; true if it must fail.
    fn should_fail(&mut self, kind: FaultKind) -> bool {
        match &mut self.fault {
            Some(f) if f.kind == kind => {
                if f.remaining > 0 {
                    f.remaining -= 1;
                    false
                } else {
                    if f.once {
                        self.fault = None;
                    }
                    true
                }
            }
            _ => false,
        }
    }

    fn live_bytes(&self) -> u64 {
        self.live.values().map(|i| i.lock().data.len() as u64).sum()
    }
}

/// The fault-injecting file system. Cheap to clone: clones share the disk, and each clone dies
/// at the next crash (see the module docs).
#[derive(Debug, Default)]
pub struct FaultFs {
    state: Arc<Mutex<State>>,
    /// `None` for the machine's handle; for a clone, the crash generation it was made in: it
    /// works only while no crash has happened since.
    process: Option<u64>,
}

impl Clone for FaultFs {
    fn clone(&self) -> Self {
        let generation = self.state.lock().generation;
        FaultFs {
            state: self.state.clone(),
            process: Some(generation),
        }
    }
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected fault: {what} failed"))
}

fn stale() -> io::Error {
    io::Error::other("file handle from before a simulated crash")
}

fn dead_process() -> io::Error {
    io::Error::other("file system handle of a process that died in a simulated crash")
}

fn not_found(p: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", p.display()),
    )
}

impl FaultFs {
    pub fn new() -> Self {
        Self::default()
    }

    /// The disk's state, if this handle's process is alive.
    fn live_state(&self) -> io::Result<parking_lot::MutexGuard<'_, State>> {
        let s = self.state.lock();
        match self.process {
            Some(g) if g != s.generation => Err(dead_process()),
            _ => Ok(s),
        }
    }

    /// After `after` more operations of `kind` succeed, every later one fails until
    /// [`FaultFs::clear_faults`].
    pub fn inject(&self, kind: FaultKind, after: u64) {
        self.state.lock().fault = Some(Fault {
            kind,
            remaining: after,
            once: false,
        });
    }

    /// After `after` more operations of `kind` succeed, the next one fails and later ones
    /// succeed again: a transient error, such as an fsync that failed once.
    pub fn inject_once(&self, kind: FaultKind, after: u64) {
        self.state.lock().fault = Some(Fault {
            kind,
            remaining: after,
            once: true,
        });
    }

    /// Removes injected faults and the capacity limit.
    pub fn clear_faults(&self) {
        let mut s = self.state.lock();
        s.fault = None;
        s.capacity = None;
    }

    /// Appends fail with `StorageFull` once live files would exceed `bytes`.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.state.lock().capacity = bytes;
    }

    /// Makes every file read sleep `delay` first (`Duration::ZERO` for none), as a disk that
    /// has to fetch each page would: what blocks a reader's thread.
    pub fn set_read_delay(&self, delay: std::time::Duration) {
        let us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.state.lock().read_delay_us.store(us, Ordering::Relaxed);
    }

    /// Syncs performed so far (file and directory).
    pub fn sync_count(&self) -> u64 {
        self.state.lock().syncs
    }

    /// Simulates a power cut: see the module docs. `tear` keeps a random part of unsynced tails.
    pub fn crash(&self, tear: Option<&mut dyn rand::RngCore>) {
        let mut s = self.state.lock();
        s.generation += 1;
        s.live = s.durable.clone();
        let mut tear = tear;
        let mut seen = HashSet::new();
        for inode in s.live.values() {
            if !seen.insert(Arc::as_ptr(inode) as usize) {
                continue;
            }
            let mut i = inode.lock();
            let unsynced = i.data.len() - i.synced_len;
            let keep = match tear.as_mut() {
                Some(rng) if unsynced > 0 => rng.gen_range(0..=unsynced),
                _ => 0,
            };
            let new_len = i.synced_len + keep;
            i.data.truncate(new_len);
            if keep > 0 {
                let last = new_len - 1;
                i.data[last] ^= 0x5a;
            }
            i.synced_len = i.data.len();
        }
        // Inodes reachable only from the old live namespace are gone; the rest now match disk.
    }

    /// Flips the bits of `mask` at byte `offset` of a file, durably (for corruption tests).
    pub fn corrupt(&self, path: &Path, offset: usize, mask: u8) -> io::Result<()> {
        let s = self.state.lock();
        let inode = s.live.get(path).ok_or_else(|| not_found(path))?;
        let mut i = inode.lock();
        let len = i.data.len();
        let b = i
            .data
            .get_mut(offset)
            .ok_or_else(|| io::Error::other(format!("offset {offset} past end {len}")))?;
        *b ^= mask;
        Ok(())
    }

    /// Cuts a file to `len` bytes, durably (for corruption tests).
    pub fn truncate(&self, path: &Path, len: usize) -> io::Result<()> {
        let s = self.state.lock();
        let inode = s.live.get(path).ok_or_else(|| not_found(path))?;
        let mut i = inode.lock();
        i.data.truncate(len);
        i.synced_len = i.synced_len.min(len);
        Ok(())
    }

    /// Bytes held by all live files.
    pub fn total_bytes(&self) -> u64 {
        self.state.lock().live_bytes()
    }

    /// The live length of a file.
    pub fn file_len(&self, path: &Path) -> Option<usize> {
        self.state
            .lock()
            .live
            .get(path)
            .map(|i| i.lock().data.len())
    }
}

struct FaultWritable {
    fs: FaultFs,
    inode: InodeRef,
    generation: u64,
    size: u64,
}

impl WritableFile for FaultWritable {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        let mut s = self.fs.state.lock();
        if s.generation != self.generation {
            return Err(stale());
        }
        if s.should_fail(FaultKind::Write) {
            return Err(injected("write"));
        }
        if let Some(cap) = s.capacity {
            let used = s.live_bytes();
            if used + data.len() as u64 > cap {
                // Like a real disk, write what fits before failing: a partial record.
                let fits = cap.saturating_sub(used) as usize;
                self.inode.lock().data.extend_from_slice(&data[..fits]);
                self.size += fits as u64;
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "injected fault: no space left on device",
                ));
            }
        }
        self.inode.lock().data.extend_from_slice(data);
        self.size += data.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut s = self.fs.state.lock();
        if s.generation != self.generation {
            return Err(stale());
        }
        if s.should_fail(FaultKind::Sync) {
            return Err(injected("fsync"));
        }
        s.syncs += 1;
        let mut i = self.inode.lock();
        i.synced_len = i.data.len();
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }
}

struct FaultReadable {
    data: Vec<u8>,
    delay_us: Arc<AtomicU64>,
}

impl RandomAccessFile for FaultReadable {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let delay = self.delay_us.load(Ordering::Relaxed);
        if delay > 0 {
            std::thread::sleep(std::time::Duration::from_micros(delay));
        }
        let start = usize::try_from(offset).map_err(|_| io::Error::other("offset"))?;
        let end = start
            .checked_add(buf.len())
            .filter(|e| *e <= self.data.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past end of file"))?;
        buf.copy_from_slice(&self.data[start..end]);
        Ok(())
    }

    fn size(&self) -> u64 {
        self.data.len() as u64
    }
}

impl FileSystem for FaultFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let mut s = self.live_state()?;
        let inode: InodeRef = Arc::default();
        s.live.insert(path.to_path_buf(), inode.clone());
        Ok(Box::new(FaultWritable {
            // Not `self.clone()`: that locks the state this function holds.
            fs: FaultFs {
                state: self.state.clone(),
                process: Some(s.generation),
            },
            inode,
            generation: s.generation,
            size: 0,
        }))
    }

    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        let s = self.live_state()?;
        let inode = s.live.get(path).ok_or_else(|| not_found(path))?;
        // A snapshot of the bytes: tables are immutable once written, and the WAL is only read
        // at recovery, so a copy behaves like the real file for every reader the engine has.
        let data = inode.lock().data.clone();
        Ok(Arc::new(FaultReadable {
            data,
            delay_us: s.read_delay_us.clone(),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.live_state()?;
        let inode = s.live.remove(from).ok_or_else(|| not_found(from))?;
        s.live.insert(to.to_path_buf(), inode);
        Ok(())
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.live_state()?;
        let inode = s.live.get(from).cloned().ok_or_else(|| not_found(from))?;
        if s.live.contains_key(to) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", to.display()),
            ));
        }
        s.live.insert(to.to_path_buf(), inode);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.live_state()?;
        s.live.remove(path).ok_or_else(|| not_found(path))?;
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let s = self.live_state()?;
        Ok(s.live
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect())
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.live_state()?.dirs.insert(dir.to_path_buf());
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.live_state()?;
        if s.should_fail(FaultKind::Sync) {
            return Err(injected("directory fsync"));
        }
        s.syncs += 1;
        let State { live, durable, .. } = &mut *s;
        durable.retain(|p, _| p.parent() != Some(dir));
        for (p, inode) in live.iter() {
            if p.parent() == Some(dir) {
                durable.insert(p.clone(), inode.clone());
            }
        }
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        self.live_state().is_ok_and(|s| s.live.contains_key(path))
    }

    fn lock(&self, _path: &Path) -> io::Result<Box<dyn Send + Sync>> {
        Ok(Box::new(()))
    }
}
