//! Names of the files in a database directory.
//!
//! `NNNNNN.log` WAL segments, `NNNNNN.sst` tables, `MANIFEST-NNNNNN` manifests, `CURRENT` (the
//! name of the live manifest), `LOCK`. All numbers come from one counter, so a number names at
//! most one file ever.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Wal(u64),
    Table(u64),
    Manifest(u64),
    Current,
    Lock,
    Temp,
}

pub fn wal_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:06}.log"))
}

pub fn table_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:06}.sst"))
}

pub fn manifest_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("MANIFEST-{n:06}"))
}

pub fn current_path(dir: &Path) -> PathBuf {
    dir.join("CURRENT")
}

pub fn lock_path(dir: &Path) -> PathBuf {
    dir.join("LOCK")
}

pub fn temp_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:06}.dbtmp"))
}

/// Classifies a directory entry; `None` for files the engine does not own.
pub fn parse(name: &str) -> Option<FileKind> {
    let num = |s: &str| {
        s.parse::<u64>()
            .ok()
            .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))
    };
    match name {
        "CURRENT" => return Some(FileKind::Current),
        "LOCK" => return Some(FileKind::Lock),
        _ => {}
    }
    if let Some(n) = name.strip_prefix("MANIFEST-") {
        return num(n).map(FileKind::Manifest);
    }
    if let Some(n) = name.strip_suffix(".log") {
        return num(n).map(FileKind::Wal);
    }
    if let Some(n) = name.strip_suffix(".sst") {
        return num(n).map(FileKind::Table);
    }
    if let Some(n) = name.strip_suffix(".dbtmp") {
        return num(n).map(|_| FileKind::Temp);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip() {
        let d = Path::new("/x");
        for (p, k) in [
            (wal_path(d, 7), FileKind::Wal(7)),
            (table_path(d, 1234567), FileKind::Table(1234567)),
            (manifest_path(d, 3), FileKind::Manifest(3)),
            (current_path(d), FileKind::Current),
        ] {
            let name = p.file_name().unwrap().to_str().unwrap();
            assert_eq!(parse(name), Some(k));
        }
        assert_eq!(parse("x.sst"), None);
        assert_eq!(parse("+1.log"), None);
        assert_eq!(parse("notes.txt"), None);
    }
}
