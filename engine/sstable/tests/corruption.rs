//! Scenario: a damaged table never yields a wrong value. For every byte of a small table (and a
//! few bit patterns), the damaged file either fails to open, or every read returns the right
//! answer or a corruption error naming the file.

mod common;

use common::*;
use kvstore_base::fs::FaultFs;
use kvstore_base::iter::InternalIterator;
use kvstore_base::Error;
use kvstore_sstable::{BlockCache, Compression, TableOptions};
use std::path::Path;

fn assert_is_damage_report(e: &Error, at: &str) {
    match e {
        Error::Corruption { file, .. } | Error::ChecksumMismatch { file, .. } => {
            assert_eq!(file, Path::new("/c.sst"), "{at}");
        }
        other => panic!("{at}: expected corruption, got {other}"),
    }
}

/// Reads everything from the damaged table; each read must be right or an error.
fn check_reads(fs: &FaultFs, entries: &[Entry], at: &str) {
    let t = match open(fs, Path::new("/c.sst"), Some(BlockCache::new(1 << 16))) {
        Ok(t) => t,
        Err(e) => return assert_is_damage_report(&e, at),
    };
    match scan(&t) {
        Ok(all) => assert_eq!(all, entries, "{at}: scan"),
        Err(e) => assert_is_damage_report(&e, at),
    }
    for (k, s, _, _) in entries {
        for snap in [*s, s + 1, s.saturating_sub(1)] {
            match t.get(k, snap) {
                Ok(got) => assert_eq!(got, model_get(entries, k, snap), "{at}: get {k:?}@{snap}"),
                Err(e) => assert_is_damage_report(&e, at),
            }
        }
        let mut it = t.iter();
        match it.seek(k, *s) {
            Ok(()) => {
                assert!(it.valid(), "{at}");
                assert_eq!((it.user_key(), it.seq()), (&k[..], *s), "{at}: seek");
            }
            Err(e) => {
                assert!(!it.valid());
                assert_is_damage_report(&e, at);
            }
        }
    }
}

fn flip_every_byte(compression: Compression) {
    let fs = FaultFs::new();
    let path = Path::new("/c.sst");
    let entries = versioned_entries(30);
    let opts = TableOptions {
        compression,
        block_size_bytes: 200,
        ..TableOptions::default()
    };
    let meta = write_table(&fs, path, &entries, opts);
    check_reads(&fs, &entries, "undamaged");
    for offset in 0..meta.file_size as usize {
        // Every byte gets a low-bit flip; every fifth also a high-bit and a multi-bit one.
        let masks: &[u8] = if offset % 5 == 0 {
            &[0x01, 0x80, 0x5a]
        } else {
            &[0x01]
        };
        for &mask in masks {
            fs.corrupt(path, offset, mask).unwrap();
            check_reads(&fs, &entries, &format!("byte {offset} ^ {mask:#x}"));
            fs.corrupt(path, offset, mask).unwrap(); // restore
        }
    }
}

#[test]
fn flipped_bytes_uncompressed() {
    flip_every_byte(Compression::None);
}

#[test]
fn flipped_bytes_zstd() {
    flip_every_byte(Compression::Zstd(3));
}
