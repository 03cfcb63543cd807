//! Scenario: a table opened through a memory map (`StdFs::open_immutable`), whose data blocks
//! are served as slices of the map instead of copies, answers exactly like the same table read
//! with `pread` — with and without a block cache, uncompressed and zstd — and a damaged block
//! in a mapped table is still caught by its checksum.

mod common;

use common::*;
use kvstore_base::fs::{FaultFs, FileSystem, StdFs};
use kvstore_base::iter::InternalIterator;
use kvstore_base::Error;
use kvstore_sstable::{BlockCache, Compression, TableOptions, TableReader};
use std::path::Path;
use std::sync::Arc;

/// Writes `entries` to a real file in `dir` and returns its path.
fn write_real_table(dir: &Path, entries: &[Entry], opts: TableOptions) -> std::path::PathBuf {
    let mem = FaultFs::new();
    write_table(&mem, Path::new("/m.sst"), entries, opts);
    let bytes = mem.read_all(Path::new("/m.sst")).unwrap();
    let path = dir.join("m.sst");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn open_with(
    path: &Path,
    mapped: bool,
    cache: Option<Arc<BlockCache>>,
) -> kvstore_base::Result<Arc<TableReader>> {
    let fs = StdFs;
    let f = if mapped {
        fs.open_immutable(path).unwrap()
    } else {
        fs.open_read(path).unwrap()
    };
    TableReader::open(f, 9, path.to_path_buf(), cache)
}

#[test]
fn mapped_tables_read_like_pread_tables() {
    let entries = versioned_entries(3000);
    for compression in [Compression::None, Compression::Zstd(1)] {
        let dir = tempfile::tempdir().unwrap();
        let opts = TableOptions {
            block_size_bytes: 512,
            compression,
            ..TableOptions::default()
        };
        let path = write_real_table(dir.path(), &entries, opts);
        for cache in [None, Some(BlockCache::new(1 << 16))] {
            let mapped = open_with(&path, true, cache.clone()).unwrap();
            let plain = open_with(&path, false, cache.clone()).unwrap();
            assert_eq!(scan(&mapped).unwrap(), entries);
            assert_eq!(scan(&plain).unwrap(), entries);
            for (k, s, _, _) in entries.iter().step_by(7) {
                for snap in [*s, s + 1, s.saturating_sub(1)] {
                    let want = model_get(&entries, k, snap);
                    assert_eq!(mapped.get(k, snap).unwrap(), want, "{k:?}@{snap}");
                    assert_eq!(plain.get(k, snap).unwrap(), want, "{k:?}@{snap}");
                }
                let mut it = mapped.iter();
                it.seek(k, *s).unwrap();
                assert!(it.valid());
                assert_eq!((it.user_key(), it.seq()), (&k[..], *s));
            }
        }
    }
}

#[test]
fn a_block_outlives_its_mapped_table() {
    let entries = versioned_entries(500);
    let dir = tempfile::tempdir().unwrap();
    let path = write_real_table(dir.path(), &entries, TableOptions::default());
    let t = open_with(&path, true, None).unwrap();
    let mut it = t.iter();
    it.seek_to_first().unwrap();
    drop(t);
    std::fs::remove_file(&path).unwrap();
    // The iterator holds the table and its block, which hold the map.
    let mut n = 0;
    while it.valid() {
        assert_eq!(it.user_key(), &entries[n].0[..]);
        n += 1;
        it.next().unwrap();
    }
    assert_eq!(n, entries.len());
}

#[test]
fn a_damaged_block_in_a_mapped_table_fails_its_checksum() {
    let entries = versioned_entries(500);
    let dir = tempfile::tempdir().unwrap();
    let path = write_real_table(dir.path(), &entries, TableOptions::default());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0x40; // inside the first data block
    std::fs::write(&path, bytes).unwrap();
    let t = open_with(&path, true, Some(BlockCache::new(1 << 16))).unwrap();
    match t.get(&entries[0].0, entries[0].1) {
        Err(Error::ChecksumMismatch { offset, .. }) => assert_eq!(offset, 0),
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
    assert!(scan(&t).is_err());
}

#[test]
fn verifying_a_new_table_checks_every_block_and_catches_a_damaged_one() {
    let entries = versioned_entries(3000);
    let opts = TableOptions {
        block_size_bytes: 512,
        ..TableOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = write_real_table(dir.path(), &entries, opts.clone());

    // A sound table: every block checked, and reads still answer correctly afterwards.
    let t = open_with(&path, true, None).unwrap();
    let checked = t.verify_data_blocks().unwrap();
    assert!(checked > 10, "only {checked} blocks checked");
    assert_eq!(scan(&t).unwrap(), entries);
    // Read with `pread`, blocks are verified on every read: nothing to do up front.
    assert_eq!(
        open_with(&path, false, None)
            .unwrap()
            .verify_data_blocks()
            .unwrap(),
        0
    );

    // A damaged block far from the first read: the up-front check finds it.
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x10;
    std::fs::write(&path, bytes).unwrap();
    let t = open_with(&path, true, None).unwrap();
    match t.verify_data_blocks() {
        Err(Error::ChecksumMismatch { offset, .. }) => assert!(offset <= at as u64),
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
}
