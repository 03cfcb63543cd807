//! The real file system: `std::fs`, positional reads (memory-mapped for immutable files),
//! `fdatasync`.

use super::{FileSystem, RandomAccessFile, SharedBytes, WritableFile};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// The real disk.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

/// Appends go through a 64 KiB buffer; `sync` flushes it and calls `fdatasync`.
struct StdWritable {
    w: BufWriter<File>,
    size: u64,
}

impl WritableFile for StdWritable {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.w.write_all(data)?;
        self.size += data.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.w.flush()?;
        // IMPORTANT: fdatasync also persists the file size, which is all the metadata a reader
        // of an append-only file needs.
        self.w.get_ref().sync_data()
    }

    fn size(&self) -> u64 {
        self.size
    }
}

struct StdReadable {
    f: File,
    len: u64,
}

impl RandomAccessFile for StdReadable {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.f.read_exact_at(buf, offset)
    }

    fn size(&self) -> u64 {
        self.len
    }
}

/// An immutable file read through a read-only shared memory map: a read is a `memcpy` from the
/// page cache (a minor page fault the first time a page is touched) instead of a `pread`.
struct MappedReadable {
    /// Shared with every [`SharedBytes`] served from it, which keep it mapped.
    map: Arc<memmap2::Mmap>,
}

impl RandomAccessFile for MappedReadable {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let src = usize::try_from(offset)
            .ok()
            .and_then(|start| self.map.get(start..start.checked_add(buf.len())?));
        match src {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "read of {} bytes at {offset} past the end of a {}-byte file",
                    buf.len(),
                    self.map.len()
                ),
            )),
        }
    }

    fn size(&self) -> u64 {
        self.map.len() as u64
    }

    fn read_shared(&self, offset: u64, len: usize) -> Option<SharedBytes> {
        let start = usize::try_from(offset).ok()?;
        SharedBytes::new(self.map.clone(), start..start.checked_add(len)?)
    }
}

struct LockGuard(#[allow(dead_code)] File);

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl FileSystem for StdFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(StdWritable {
            w: BufWriter::with_capacity(64 * 1024, f),
            size: 0,
        }))
    }

    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        let f = File::open(path)?;
        let len = f.metadata()?.len();
        Ok(Arc::new(StdReadable { f, len }))
    }

    fn open_immutable(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        let f = File::open(path)?;
        if f.metadata()?.len() == 0 {
            // Nothing to map (and mapping zero bytes fails); reads past the end still fail.
            return self.open_read(path);
        }
        // SAFETY: the mapping is read-only and the caller promises (FileSystem::open_immutable)
        // that the file is never written or truncated while open — the engine's tables are
        // written once, fsynced, and afterwards only read and eventually unlinked, which keeps
        // the mapped pages valid. Modifying the file behind the map would be undefined
        // behaviour (or SIGBUS on truncation), which is why only immutable files are mapped.
        let map = unsafe { memmap2::Mmap::map(&f) }?;
        Ok(Arc::new(MappedReadable { map: Arc::new(map) }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        match std::fs::hard_link(from, to) {
            Ok(()) => Ok(()),
            // EXDEV: another file system; EPERM/ENOTSUP: one without links. Copy instead.
            Err(e) if matches!(e.raw_os_error(), Some(18 | 1 | 95)) => {
                std::fs::copy(from, to)?;
                // IMPORTANT: a copy, unlike a link, has unsynced data.
                File::open(to)?.sync_all()
            }
            Err(e) => Err(e),
        }
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            if let Some(name) = e.file_name().to_str() {
                out.push(name.to_string());
            }
        }
        Ok(out)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        // IMPORTANT: on Linux a directory fsync is what makes a create/rename/unlink durable.
        File::open(dir)?.sync_all()
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn Send + Sync>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match f.try_lock() {
            Ok(()) => Ok(Box::new(LockGuard(f))),
            Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked by another process", path.display()),
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}
