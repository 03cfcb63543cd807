//! Helpers shared by the integration tests: build a table in an in-memory file system and open it.
#![allow(dead_code)]

use kvstore_base::fs::{FaultFs, FileSystem};
use kvstore_base::iter::InternalIterator;
use kvstore_base::{SeqNo, ValueKind};
use kvstore_sstable::{BlockCache, TableBuilder, TableMeta, TableOptions, TableReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub type Entry = (Vec<u8>, SeqNo, ValueKind, Vec<u8>);

/// Writes `entries` (already in internal-key order) to `path` in `fs`.
pub fn write_table(fs: &FaultFs, path: &Path, entries: &[Entry], opts: TableOptions) -> TableMeta {
    let file = fs.create(path).unwrap();
    let mut b = TableBuilder::new(file, path.to_path_buf(), opts);
    for (k, s, kind, v) in entries {
        b.add(k, *s, *kind, v).unwrap();
    }
    b.finish().unwrap()
}

pub fn open(
    fs: &FaultFs,
    path: &Path,
    cache: Option<Arc<BlockCache>>,
) -> kvstore_base::Result<Arc<TableReader>> {
    let f = fs.open_read(path).unwrap();
    TableReader::open(f, 7, PathBuf::from(path), cache)
}

/// Scans a whole table.
pub fn scan(t: &Arc<TableReader>) -> kvstore_base::Result<Vec<Entry>> {
    let mut it = t.iter();
    let mut out = Vec::new();
    it.seek_to_first()?;
    while it.valid() {
        out.push((
            it.user_key().to_vec(),
            it.seq(),
            it.kind(),
            it.value().to_vec(),
        ));
        it.next()?;
    }
    Ok(out)
}

/// `n` keys, each with versions at a few sequence numbers (newest first), every third version a
/// tombstone, values of varied length.
pub fn versioned_entries(n: usize) -> Vec<Entry> {
    let mut v = Vec::new();
    for i in 0..n {
        let key = format!("user{:06}", i * 3).into_bytes();
        for (j, seq) in [(0, 300u64), (1, 200), (2, 100)]
            .into_iter()
            .take(1 + i % 3)
        {
            let kind = if (i + j) % 3 == 2 {
                ValueKind::Delete
            } else {
                ValueKind::Put
            };
            let value = match kind {
                ValueKind::Delete => Vec::new(),
                ValueKind::Put => format!("value-{i}-{seq}-{}", "x".repeat(i % 40)).into_bytes(),
            };
            v.push((key.clone(), seq + i as u64, kind, value));
        }
    }
    v
}

/// The model answer for `get`: newest entry of `key` with seq <= `snap`.
pub fn model_get(
    entries: &[Entry],
    key: &[u8],
    snap: SeqNo,
) -> Option<(SeqNo, ValueKind, Vec<u8>)> {
    entries
        .iter()
        .find(|(k, s, _, _)| k == key && *s <= snap)
        .map(|(_, s, kind, v)| (*s, *kind, v.clone()))
}
