//! Scenario: a table cut short at any length (a torn copy, a crash before fsync) fails to open
//! with a corruption error naming the file — never a panic, never a half table.

mod common;

use common::*;
use kvstore_base::fs::FaultFs;
use kvstore_base::Error;
use kvstore_sstable::{Compression, TableOptions};
use std::path::Path;

#[test]
fn every_truncation_is_corruption() {
    for compression in [Compression::None, Compression::Zstd(3)] {
        let fs = FaultFs::new();
        let path = Path::new("/t.sst");
        let opts = TableOptions {
            compression,
            block_size_bytes: 256,
            ..TableOptions::default()
        };
        let meta = write_table(&fs, path, &versioned_entries(60), opts);
        let full = meta.file_size as usize;
        for len in (0..full).rev() {
            fs.truncate(path, len).unwrap();
            match open(&fs, path, None) {
                Err(e @ (Error::Corruption { .. } | Error::ChecksumMismatch { .. })) => {
                    let text = e.to_string();
                    assert!(text.contains("/t.sst"), "{text}");
                }
                Err(e) => panic!("length {len}: unexpected error {e}"),
                Ok(_) => panic!("length {len} of {full} opened"),
            }
        }
    }
}

#[test]
fn empty_and_tiny_files_are_not_tables() {
    let fs = FaultFs::new();
    let path = Path::new("/x.sst");
    for bytes in [&b""[..], b"KVSTSST\0", &[0u8; 200]] {
        use kvstore_base::fs::FileSystem;
        let mut f = fs.create(path).unwrap();
        f.append(bytes).unwrap();
        let e = open(&fs, path, None).unwrap_err();
        assert!(e.is_corruption(), "{e}");
    }
}
