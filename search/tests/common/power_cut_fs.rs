//! The nemesis of the crash tests: a file system that loses power after its k-th operation.
//!
//! [`PowerCutFs`] wraps the engine's fault-injecting in-memory file system ([`FaultFs`]) and
//! numbers the operations that change it (create, append, sync, rename, remove, directory
//! sync). Armed with a [`Cut`], it either loses power right after its k-th operation
//! ([`FaultFs::crash`]: only fsynced bytes and synced names survive, a torn tail optionally
//! kept; every later operation fails, as in a dead machine) or fails its k-th operation with
//! an I/O error and carries on. The checker is `crash.rs`.

use kvstore_engine::fs::{FaultFs, FileSystem, RandomAccessFile, WritableFile};
use rand::SeedableRng;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Where and how an armed [`PowerCutFs`] interrupts the operations (numbered from 1, counted
/// from [`PowerCutFs::arm`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Operation k completes, then the power fails: [`FaultFs::crash`], and every later
    /// operation fails.
    PowerOffAfter(u64),
    /// Operation k fails with an I/O error and has no effect; later ones succeed.
    Fail(u64),
}

#[derive(Default)]
struct CutState {
    /// Changing operations since `arm`.
    ops: u64,
    cut: Option<Cut>,
    /// Keeps a random part of each unsynced tail at the power cut (a torn write), if set.
    tear: Option<rand::rngs::StdRng>,
    /// The power is off: every operation fails.
    dead: bool,
    /// The armed cut happened.
    fired: bool,
    /// `"k: what"` for each changing operation since `arm`.
    log: Vec<String>,
}

/// [`FaultFs`] with numbered operations and a power switch (see the module docs). Clones share
/// the disk and the switch.
#[derive(Clone)]
pub struct PowerCutFs {
    disk: FaultFs,
    st: Arc<Mutex<CutState>>,
}

impl std::fmt::Debug for PowerCutFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PowerCutFs")
    }
}

fn name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
}

fn power_is_off() -> io::Error {
    io::Error::other("power is off (simulated crash)")
}

impl PowerCutFs {
    /// Powered, unarmed, over `disk`.
    pub fn new(disk: FaultFs) -> Self {
        PowerCutFs {
            disk,
            st: Arc::default(),
        }
    }

    fn st(&self) -> MutexGuard<'_, CutState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Restarts the numbering at 0 and arms `cut` (`None`: only count); `tear_seed` makes the
    /// power cut keep torn tails.
    pub fn arm(&self, cut: Option<Cut>, tear_seed: Option<u64>) {
        let mut st = self.st();
        st.ops = 0;
        st.log.clear();
        st.cut = cut;
        st.fired = false;
        st.tear = tear_seed.map(rand::rngs::StdRng::seed_from_u64);
    }

    /// Changing operations since [`PowerCutFs::arm`].
    pub fn ops(&self) -> u64 {
        self.st().ops
    }

    /// What they were, numbered.
    pub fn log(&self) -> Vec<String> {
        self.st().log.clone()
    }

    /// True once the armed cut happened.
    pub fn fired(&self) -> bool {
        self.st().fired
    }

    /// Cuts the power now (idempotent): unsynced data is lost and every later operation fails.
    pub fn power_off(&self) {
        let mut st = self.st();
        if st.dead {
            return;
        }
        st.dead = true;
        let tear = st.tear.as_mut().map(|r| r as &mut dyn rand::RngCore);
        self.disk.crash(tear);
    }

    /// Numbers one changing operation; `Ok(true)` if the power must fail once it completes.
    fn before(&self, what: impl FnOnce() -> String) -> io::Result<bool> {
        let mut st = self.st();
        if st.dead {
            return Err(power_is_off());
        }
        st.ops += 1;
        let n = st.ops;
        let line = format!("{n}: {}", what());
        st.log.push(line);
        match st.cut {
            Some(Cut::Fail(k)) if k == n => {
                st.fired = true;
                Err(io::Error::other(format!(
                    "injected fault: file operation {n} failed"
                )))
            }
            Some(Cut::PowerOffAfter(k)) if k == n => Ok(true),
            _ => Ok(false),
        }
    }

    fn after(&self, cut_now: bool) {
        if cut_now {
            self.st().fired = true;
            self.power_off();
        }
    }

    fn check_powered(&self) -> io::Result<()> {
        if self.st().dead {
            return Err(power_is_off());
        }
        Ok(())
    }
}

struct CutFile {
    fs: PowerCutFs,
    name: String,
    inner: Box<dyn WritableFile>,
}

impl WritableFile for CutFile {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        let cut = self
            .fs
            .before(|| format!("append {} ({} bytes)", self.name, data.len()))?;
        let r = self.inner.append(data);
        self.fs.after(cut);
        r
    }

    fn sync(&mut self) -> io::Result<()> {
        let cut = self.fs.before(|| format!("sync {}", self.name))?;
        let r = self.inner.sync();
        self.fs.after(cut);
        r
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }
}

impl FileSystem for PowerCutFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let cut = self.before(|| format!("create {}", name(path)))?;
        let r = self.disk.create(path).map(|inner| {
            Box::new(CutFile {
                fs: self.clone(),
                name: name(path),
                inner,
            }) as Box<dyn WritableFile>
        });
        self.after(cut);
        r
    }

    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.check_powered()?;
        self.disk.open_read(path)
    }

    fn open_immutable(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.check_powered()?;
        self.disk.open_immutable(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let cut = self.before(|| format!("rename {} -> {}", name(from), name(to)))?;
        let r = self.disk.rename(from, to);
        self.after(cut);
        r
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let cut = self.before(|| format!("link {} -> {}", name(from), name(to)))?;
        let r = self.disk.hard_link(from, to);
        self.after(cut);
        r
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let cut = self.before(|| format!("remove {}", name(path)))?;
        let r = self.disk.remove_file(path);
        self.after(cut);
        r
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.check_powered()?;
        self.disk.list_dir(dir)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.check_powered()?;
        self.disk.create_dir_all(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let cut = self.before(|| format!("sync directory {}", dir.display()))?;
        let r = self.disk.sync_dir(dir);
        self.after(cut);
        r
    }

    fn exists(&self, path: &Path) -> bool {
        self.disk.exists(path)
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn Send + Sync>> {
        self.disk.lock(path)
    }
}
