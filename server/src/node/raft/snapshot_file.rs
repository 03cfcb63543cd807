//! A Raft snapshot as one file: an engine checkpoint's files, packed, behind the snapshot's
//! metadata — what openraft streams to a follower that is too far behind for the log.
//!
//! Layout (integers little-endian): magic `KVSTSNAP`, format version u32 = 1, metadata length
//! u32 and the metadata (openraft's `SnapshotMeta`, JSON), file count u32, then per file: name
//! length u32, name (UTF-8, no `/`), length u64, bytes. The files carry their own checksums
//! (tables, WAL, manifest); after unpacking, `verify_checkpoint` checks every one before the
//! state is installed, so a damaged pack is refused, never installed.

use kvstore_engine::fs::{FileSystem, StdFs};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"KVSTSNAP";
const VERSION: u32 = 1;
/// Longest metadata and file name accepted (a damaged length must not allocate gigabytes).
const MAX_META: u32 = 16 << 20;
const MAX_NAME: u32 = 4096;

fn bad(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// Writes `meta` and the files `names` of `dir` into `out`, and fsyncs it.
pub fn pack(dir: &Path, names: &[String], meta: &[u8], out: &Path) -> io::Result<()> {
    let f = File::create(out)?;
    let mut w = BufWriter::new(f);
    w.write_all(MAGIC)?;
    w.write_all(&VERSION.to_le_bytes())?;
    w.write_all(
        &u32::try_from(meta.len())
            .map_err(|_| bad("metadata too large"))?
            .to_le_bytes(),
    )?;
    w.write_all(meta)?;
    w.write_all(&(names.len() as u32).to_le_bytes())?;
    for name in names {
        let mut src = File::open(dir.join(name))?;
        let len = src.metadata()?.len();
        w.write_all(&(name.len() as u32).to_le_bytes())?;
        w.write_all(name.as_bytes())?;
        w.write_all(&len.to_le_bytes())?;
        let copied = io::copy(&mut (&mut src).take(len), &mut w)?;
        if copied != len {
            return Err(bad(format!("{name} shrank while packed")));
        }
    }
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// Unpacks `from` into the empty directory `dir` (each file fsynced, then the directory);
/// returns the metadata bytes.
pub fn unpack(from: &Path, dir: &Path) -> io::Result<Vec<u8>> {
    let mut r = BufReader::new(File::open(from)?);
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(bad("not a snapshot file (bad magic number)"));
    }
    let version = read_u32(&mut r)?;
    if version != VERSION {
        return Err(bad(format!(
            "snapshot format version {version}, this build reads {VERSION}"
        )));
    }
    let meta_len = read_u32(&mut r)?;
    if meta_len > MAX_META {
        return Err(bad(format!("metadata of {meta_len} bytes")));
    }
    let mut meta = vec![0u8; meta_len as usize];
    r.read_exact(&mut meta)?;
    let files = read_u32(&mut r)?;
    std::fs::create_dir_all(dir)?;
    for _ in 0..files {
        let n = read_u32(&mut r)?;
        if n == 0 || n > MAX_NAME {
            return Err(bad(format!("file name of {n} bytes")));
        }
        let mut name = vec![0u8; n as usize];
        r.read_exact(&mut name)?;
        let name = String::from_utf8(name).map_err(|_| bad("file name is not UTF-8"))?;
        if name.contains('/') || name == "." || name == ".." {
            return Err(bad(format!("file name {name:?}")));
        }
        let mut len = [0u8; 8];
        r.read_exact(&mut len)?;
        let len = u64::from_le_bytes(len);
        let mut out = File::create(dir.join(&name))?;
        let copied = io::copy(&mut (&mut r).take(len), &mut out)?;
        if copied != len {
            return Err(bad(format!("{name}: {copied} of {len} bytes")));
        }
        out.sync_all()?;
    }
    let mut rest = [0u8; 1];
    if r.read(&mut rest)? != 0 {
        return Err(bad("bytes after the last file"));
    }
    StdFs.sync_dir(dir)?;
    Ok(meta)
}

/// The metadata of a packed snapshot, without reading its files.
pub fn read_meta(from: &Path) -> io::Result<Vec<u8>> {
    let mut r = BufReader::new(File::open(from)?);
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC || read_u32(&mut r)? != VERSION {
        return Err(bad("not a snapshot file of this version"));
    }
    let meta_len = read_u32(&mut r)?;
    if meta_len > MAX_META {
        return Err(bad(format!("metadata of {meta_len} bytes")));
    }
    let mut meta = vec![0u8; meta_len as usize];
    r.read_exact(&mut meta)?;
    Ok(meta)
}
