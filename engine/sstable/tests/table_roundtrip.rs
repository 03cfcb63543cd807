//! Scenario: a table written and read back — many blocks, several versions per key, tombstones,
//! with and without zstd and bloom filter — answers every get and scan like the input.

mod common;

use common::*;
use kvstore_base::fs::FaultFs;
use kvstore_base::ValueKind;
use kvstore_sstable::{BlockCache, Compression, TableOptions};
use std::path::Path;

fn check_roundtrip(opts: TableOptions) {
    let fs = FaultFs::new();
    let path = Path::new("/db/000001.sst");
    let entries = versioned_entries(2000);
    let meta = write_table(&fs, path, &entries, opts.clone());
    assert_eq!(meta.num_entries, entries.len() as u64);
    let deletions = entries.iter().filter(|e| e.2 == ValueKind::Delete).count() as u64;
    assert_eq!(meta.num_deletions, deletions);
    assert_eq!(meta.file_size, fs.file_len(path).unwrap() as u64);
    assert_eq!(meta.smallest.user_key, entries[0].0);
    assert_eq!(meta.largest.user_key, entries.last().unwrap().0);
    assert_eq!(
        meta.smallest_seq,
        entries.iter().map(|e| e.1).min().unwrap()
    );
    assert_eq!(meta.largest_seq, entries.iter().map(|e| e.1).max().unwrap());

    let cache = BlockCache::new(1 << 20);
    let t = open(&fs, path, Some(cache.clone())).unwrap();
    assert_eq!(t.num_entries(), entries.len() as u64);
    assert_eq!(t.file_size(), meta.file_size);
    assert_eq!(t.smallest(), &meta.smallest);
    assert_eq!(t.largest(), &meta.largest);
    assert_eq!(t.path(), path);
    assert_eq!(t.file_number(), 7);
    assert!(t.properties().num_data_blocks > 10, "want many blocks");
    assert_eq!(scan(&t).unwrap(), entries);

    for (k, _, _, _) in entries.iter().step_by(7) {
        for snap in [0, 50, 150, 250, 350, 1000, 5000, u64::MAX >> 8] {
            assert_eq!(
                t.get(k, snap).unwrap(),
                model_get(&entries, k, snap),
                "{k:?}@{snap}"
            );
        }
    }
    // Absent keys: between, before and after the stored ones.
    for k in [&b"user000001"[..], b"a", b"zzzz", b"user", b""] {
        assert_eq!(t.get(k, u64::MAX >> 8).unwrap(), None);
    }
    assert!(cache.hits() > 0);
    assert!(cache.usage_bytes() > 0);
}

#[test]
fn roundtrip_uncompressed() {
    check_roundtrip(TableOptions::default());
}

#[test]
fn roundtrip_zstd() {
    check_roundtrip(TableOptions {
        compression: Compression::Zstd(3),
        ..TableOptions::default()
    });
}

#[test]
fn roundtrip_without_filter_and_tiny_blocks() {
    check_roundtrip(TableOptions {
        bloom_bits_per_key: 0,
        block_size_bytes: 64,
        restart_interval: 1,
        ..TableOptions::default()
    });
}

#[test]
fn zstd_makes_compressible_tables_smaller() {
    let fs = FaultFs::new();
    let entries = versioned_entries(2000);
    let plain = write_table(&fs, Path::new("/a.sst"), &entries, TableOptions::default());
    let zstd = write_table(
        &fs,
        Path::new("/b.sst"),
        &entries,
        TableOptions {
            compression: Compression::Zstd(3),
            ..TableOptions::default()
        },
    );
    assert!(
        zstd.file_size * 2 < plain.file_size,
        "{} vs {}",
        zstd.file_size,
        plain.file_size
    );
}

#[test]
fn reads_work_without_a_cache() {
    let fs = FaultFs::new();
    let path = Path::new("/c.sst");
    let entries = versioned_entries(300);
    write_table(&fs, path, &entries, TableOptions::default());
    let t = open(&fs, path, None).unwrap();
    assert_eq!(scan(&t).unwrap(), entries);
    let (k, s, kind, v) = &entries[10];
    assert_eq!(t.get(k, *s).unwrap(), Some((*s, *kind, v.clone())));
}

#[test]
fn a_single_huge_value_gets_its_own_block() {
    let fs = FaultFs::new();
    let path = Path::new("/d.sst");
    let big = vec![b'z'; 100_000];
    let entries = vec![
        (b"a".to_vec(), 3, ValueKind::Put, b"small".to_vec()),
        (b"b".to_vec(), 2, ValueKind::Put, big.clone()),
        (b"c".to_vec(), 1, ValueKind::Put, Vec::new()),
    ];
    for compression in [Compression::None, Compression::Zstd(1)] {
        let opts = TableOptions {
            compression,
            ..TableOptions::default()
        };
        write_table(&fs, path, &entries, opts);
        let t = open(&fs, path, None).unwrap();
        assert_eq!(
            t.get(b"b", 10).unwrap(),
            Some((2, ValueKind::Put, big.clone()))
        );
        assert_eq!(scan(&t).unwrap(), entries);
    }
}

#[test]
fn roundtrip_on_a_real_disk() {
    use kvstore_base::fs::{FileSystem, StdFs};
    use kvstore_sstable::{TableBuilder, TableReader};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000009.sst");
    let fs = StdFs;
    let entries = versioned_entries(500);
    let mut b = TableBuilder::new(
        fs.create(&path).unwrap(),
        path.clone(),
        TableOptions::default(),
    );
    for (k, s, kind, v) in &entries {
        b.add(k, *s, *kind, v).unwrap();
    }
    let meta = b.finish().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), meta.file_size);
    let t = TableReader::open(fs.open_read(&path).unwrap(), 9, path.clone(), None).unwrap();
    assert_eq!(scan(&t).unwrap(), entries);
}
