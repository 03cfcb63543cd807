//! The narrow file-system trait all engine I/O goes through.
//!
//! Two implementations: [`StdFs`] (the real disk, `pread` for reads — or a read-only memory map
//! for immutable files, whose ranges [`RandomAccessFile::read_shared`] lends as [`SharedBytes`]
//! without a copy —, `fdatasync` for syncs) and
//! [`FaultFs`] (in memory, models what survives a power cut: only fsynced file contents and only
//! directory entries made durable by a directory sync; can fail a chosen write or sync).
//!
//! Durability contract the engine relies on (and `FaultFs` enforces):
//! - bytes appended to a file survive a crash only once [`WritableFile::sync`] returned `Ok`;
//! - a created, renamed or removed name survives a crash only once [`FileSystem::sync_dir`] on its
//!   directory returned `Ok`;
//! - `rename` atomically replaces the target name.

mod fault;
mod shared;
mod std_fs;

pub use fault::{FaultFs, FaultKind};
pub use shared::SharedBytes;
pub use std_fs::StdFs;

use std::io;
use std::path::Path;
use std::sync::Arc;

/// A file opened for appending. Dropping it without `sync` may lose what was appended.
pub trait WritableFile: Send + Sync {
    /// Appends `data` (possibly buffered in memory until `sync`).
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable (fdatasync). Never retried by the engine after an
    /// error: a failed sync leaves the file's durable content unknown.
    fn sync(&mut self) -> io::Result<()>;
    /// Bytes appended so far.
    fn size(&self) -> u64;
}

/// A file opened for positional reads; shared between threads.
pub trait RandomAccessFile: Send + Sync {
    /// Fills `buf` from `offset`; an error if the file is shorter.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// The file's length when opened.
    fn size(&self) -> u64;
    /// Bytes `[offset, offset + len)` without copying them, when the file is memory-mapped;
    /// `None` when it is not (then use [`RandomAccessFile::read_exact_at`]) or the range is
    /// past the end.
    fn read_shared(&self, offset: u64, len: usize) -> Option<SharedBytes> {
        let _ = (offset, len);
        None
    }
}

/// The operations the engine needs from a file system.
pub trait FileSystem: Send + Sync + std::fmt::Debug {
    /// Creates `path` (truncating any existing file) for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Opens `path` for positional reads.
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>>;
    /// Opens `path`, a file that will never again be written, truncated or replaced in place
    /// (an SSTable), for positional reads. An implementation may map it into memory so a read
    /// costs a copy instead of a system call; the default is [`FileSystem::open_read`].
    ///
    /// To ensure correctness, callers must only pass files that nobody modifies while any
    /// handle to them is open (removing the name is fine: the open handle keeps the data).
    fn open_immutable(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.open_read(path)
    }
    /// Reads the whole file.
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        let f = self.open_read(path)?;
        let len = usize::try_from(f.size())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large"))?;
        let mut buf = vec![0u8; len];
        f.read_exact_at(0, &mut buf)?;
        Ok(buf)
    }
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes `to` a second name of the file `from` (which must be immutable: an SSTable), or
    /// a synced copy of it where links are impossible (another file system). The new name is
    /// durable once its directory is synced; `to` must not exist.
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Names (not paths) of the entries in `dir`.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Creates `dir` and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creates, renames, removes) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// True if `path` names an existing file.
    fn exists(&self, path: &Path) -> bool;
    /// Takes an exclusive advisory lock on `path` (created if needed) so two processes cannot open
    /// one database. The lock is held until the returned guard is dropped.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn Send + Sync>>;
}

#[cfg(test)]
mod tests;
