//! A whole SSTable file, written into a `FaultFs` file and opened with `TableReader::open`,
//! then scanned and probed. First byte even: the raw bytes are the file (a damaged disk); odd:
//! a table assembled from fuzzer-chosen blocks sealed with correct checksums (a crafted file).
//! Errors are fine; panics, hangs, huge allocations and out-of-order scans are not.
//! Bit 2 of the first byte: the same bytes are also written to a real file and read through a
//! memory map, whose verified blocks skip the per-read checks after one full walk (bit 3: all
//! blocks verified up front, as the engine does for a new table); whatever the mapped table
//! answers, the `pread` table must answer the same.
#![no_main]

use arbitrary::Unstructured;
use kvstore_base::fs::{FaultFs, FileSystem, StdFs};
use kvstore_base::iter::InternalIterator;
use kvstore_base::key::cmp_internal;
use kvstore_sstable::{BlockCache, TableReader};
use libfuzzer_sys::fuzz_target;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let image = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        match kvstore_fuzz::table::assemble(&mut Unstructured::new(rest)) {
            Ok(t) => t,
            Err(_) => return,
        }
    };
    let fs = FaultFs::new();
    let path = Path::new("/fuzz/000001.sst");
    let mut w = fs.create(path).expect("create");
    w.append(&image).expect("append");
    w.sync().expect("sync");
    let f = fs.open_read(path).expect("open");
    let cache = (mode & 2 != 0).then(|| BlockCache::new(64 * 1024));
    let Ok(table) = TableReader::open(f, 1, PathBuf::from(path), cache) else {
        return;
    };
    check(&table, image.len());
    if mode & 4 != 0 {
        let dir = std::env::temp_dir().join(format!("kvstore-fuzz-sst-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let real = dir.join("000001.sst");
        std::fs::write(&real, &image).expect("write");
        let f = StdFs.open_immutable(&real).expect("map");
        if let Ok(mapped) = TableReader::open(f, 1, real.clone(), None) {
            if mode & 8 != 0 {
                if let Err(e) = mapped.verify_data_blocks() {
                    assert!(e.is_corruption(), "{e}");
                }
            }
            let seen = check(&mapped, image.len());
            for (k, s) in seen {
                if let Ok(got) = mapped.get(&k, s) {
                    assert_eq!(
                        table.get(&k, s).ok(),
                        Some(got),
                        "mapped and pread tables disagree"
                    );
                }
            }
        }
        let _ = std::fs::remove_file(&real);
        let _ = std::fs::remove_dir(&dir);
    }
});

/// Scans and probes `table`: scans never go backwards, seeks never land before their target,
/// every error is a corruption. Returns the keys the scan saw.
fn check(table: &Arc<TableReader>, image_len: usize) -> Vec<(Vec<u8>, u64)> {
    let _ = (table.num_entries(), table.smallest(), table.largest());

    let mut seen: Vec<(Vec<u8>, u64)> = Vec::new();
    let mut it = table.iter();
    let mut r = it.seek_to_first();
    while r.is_ok() && it.valid() {
        let cur = (it.user_key().to_vec(), it.seq());
        if let Some((k, s)) = seen.last() {
            assert_eq!(
                cmp_internal(k, *s, &cur.0, cur.1),
                Ordering::Less,
                "table scan went backwards"
            );
        }
        let _ = (it.kind(), it.value().len());
        seen.push(cur);
        assert!(seen.len() <= image_len, "more entries than bytes");
        r = it.next();
    }
    if let Err(e) = r {
        assert!(e.is_corruption(), "{e}");
        assert!(!it.valid());
    }

    let probes = seen.iter().cloned().chain([
        (Vec::new(), u64::MAX >> 8),
        (vec![0xff; 8], 0),
        (b"m".to_vec(), 7),
    ]);
    for (k, s) in probes {
        if let Err(e) = table.get(&k, s) {
            assert!(e.is_corruption(), "{e}");
        }
        let mut it = table.iter();
        match it.seek(&k, s) {
            Ok(()) if it.valid() => assert_ne!(
                cmp_internal(it.user_key(), it.seq(), &k, s),
                Ordering::Less,
                "seek landed before its target"
            ),
            Ok(()) => {}
            Err(e) => assert!(e.is_corruption(), "{e}"),
        }
    }
    seen
}
