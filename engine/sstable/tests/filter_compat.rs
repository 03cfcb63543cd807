//! Scenario: the filter block of a table, in both encodings. A table written today carries the
//! blocked filter; a table whose filter block is in the legacy encoding (as older builds wrote
//! it, rebuilt here by splicing a legacy filter into a fresh table) still opens and answers every
//! read and filter probe exactly like the legacy filter itself; a filter block that is well
//! checksummed but malformed is reported as corruption when the table is opened.

mod common;

use common::*;
use kvstore_base::fs::{FaultFs, FileSystem};
use kvstore_base::Error;
use kvstore_sstable::filter::{
    bloom_hash, build_filter, build_legacy_filter, BloomFilter, BLOCKED_MARKER, LINE_BYTES,
};
use kvstore_sstable::format::{seal_block, BlockHandle, Footer, BLOCK_TRAILER_BYTES, FOOTER_BYTES};
use kvstore_sstable::{Compression, TableOptions};
use std::path::Path;

const KEYS: usize = 2000;

fn opts() -> TableOptions {
    TableOptions {
        bloom_bits_per_key: 10,
        block_size_bytes: 512,
        ..TableOptions::default()
    }
}

fn footer_of(bytes: &[u8]) -> Footer {
    let at = bytes.len() - FOOTER_BYTES;
    Footer::decode(&bytes[at..], Path::new("t"), at as u64).unwrap()
}

/// The stored bytes of the block at `h` plus its trailer.
fn block_bytes(bytes: &[u8], h: BlockHandle) -> &[u8] {
    &bytes[h.offset as usize..(h.offset + h.size) as usize + BLOCK_TRAILER_BYTES]
}

/// `table` with its filter block replaced by `filter` (stored uncompressed, checksummed), the
/// properties and index blocks moved after it and the footer rewritten to match.
fn with_filter_block(table: &[u8], filter: Vec<u8>) -> Vec<u8> {
    let footer = footer_of(table);
    let old = footer.filter.expect("table has a filter");
    let mut out = table[..old.offset as usize].to_vec();
    let place = |out: &mut Vec<u8>, stored_and_trailer: &[u8]| {
        let h = BlockHandle {
            offset: out.len() as u64,
            size: (stored_and_trailer.len() - BLOCK_TRAILER_BYTES) as u64,
        };
        out.extend_from_slice(stored_and_trailer);
        h
    };
    let sealed = seal_block(filter, Compression::None, out.len() as u64);
    let filter = place(&mut out, &sealed);
    let properties = place(&mut out, block_bytes(table, footer.properties));
    let index = place(&mut out, block_bytes(table, footer.index));
    out.extend(
        Footer {
            index,
            filter: Some(filter),
            properties,
        }
        .encode(),
    );
    out
}

/// Distinct keys, one version each (so the filter holds exactly these keys).
fn entries() -> Vec<Entry> {
    (0..KEYS)
        .map(|i| {
            (
                format!("user{:06}", i * 3).into_bytes(),
                100 + i as u64,
                kvstore_base::ValueKind::Put,
                format!("value{i}").into_bytes(),
            )
        })
        .collect()
}

/// Keys inside the table's key range that it does not hold (so only the filter can reject them).
fn absent_keys() -> Vec<Vec<u8>> {
    (0..(KEYS - 1) * 3)
        .filter(|i| i % 3 != 0)
        .map(|i| format!("user{i:06}").into_bytes())
        .collect()
}

fn write_bytes(fs: &FaultFs, path: &str, bytes: &[u8]) {
    let mut f = fs.create(Path::new(path)).unwrap();
    f.append(bytes).unwrap();
    f.sync().unwrap();
}

#[test]
fn new_tables_carry_the_blocked_filter() {
    let fs = FaultFs::new();
    let entries = entries();
    write_table(&fs, Path::new("/b.sst"), &entries, opts());
    let bytes = fs.read_all(Path::new("/b.sst")).unwrap();
    let h = footer_of(&bytes).filter.unwrap();
    // 2000 keys * 10 bits = 40 lines, then k = 6 and the marker.
    assert_eq!(h.size as usize, 40 * LINE_BYTES + 2);
    let stored = &bytes[h.offset as usize..(h.offset + h.size) as usize];
    assert_eq!(stored[stored.len() - 2..], [6, BLOCKED_MARKER]);
    let hashes: Vec<u64> = entries.iter().map(|e| bloom_hash(&e.0)).collect();
    assert_eq!(stored, build_filter(&hashes, 10));

    let t = open(&fs, Path::new("/b.sst"), None).unwrap();
    for (k, s, kind, v) in &entries {
        assert!(t.may_contain(k));
        assert_eq!(t.get(k, u64::MAX).unwrap(), Some((*s, *kind, v.clone())));
    }
    let absent = absent_keys();
    let fp = absent.iter().filter(|k| t.may_contain(k)).count();
    assert!(
        fp * 50 < absent.len(),
        "{fp} false positives of {}",
        absent.len()
    );
}

#[test]
fn tables_with_a_legacy_filter_still_read_the_same() {
    let fs = FaultFs::new();
    let entries = entries();
    write_table(&fs, Path::new("/b.sst"), &entries, opts());
    let blocked = fs.read_all(Path::new("/b.sst")).unwrap();
    let hashes: Vec<u64> = entries.iter().map(|e| bloom_hash(&e.0)).collect();
    let legacy_filter = build_legacy_filter(&hashes, 10);
    assert_eq!(*legacy_filter.last().unwrap(), 7);
    write_bytes(
        &fs,
        "/l.sst",
        &with_filter_block(&blocked, legacy_filter.clone()),
    );

    let t = open(&fs, Path::new("/l.sst"), None).unwrap();
    let reference = BloomFilter::decode(legacy_filter).unwrap();
    assert!(!reference.is_blocked());
    for (k, s, kind, v) in &entries {
        assert!(t.may_contain(k));
        assert_eq!(t.get(k, u64::MAX).unwrap(), Some((*s, *kind, v.clone())));
    }
    // Every absent key answers exactly as the legacy filter does, and some pass it.
    let absent = absent_keys();
    let mut fp = 0;
    for k in &absent {
        assert_eq!(t.may_contain(k), reference.may_contain(k), "{k:?}");
        fp += usize::from(t.may_contain(k));
        assert_eq!(t.get(k, u64::MAX).unwrap(), None);
    }
    assert!(fp > 0 && fp * 50 < absent.len(), "{fp} false positives");
    assert_eq!(scan(&t).unwrap(), entries);
}

#[test]
fn malformed_filter_blocks_are_corruption() {
    let fs = FaultFs::new();
    write_table(&fs, Path::new("/b.sst"), &entries(), opts());
    let blocked = fs.read_all(Path::new("/b.sst")).unwrap();
    let lines = |n: usize, k: u8| {
        let mut f = vec![0xffu8; n * LINE_BYTES];
        f.extend([k, BLOCKED_MARKER]);
        f
    };
    let mut short = lines(2, 6);
    short.remove(0);
    for (what, filter) in [
        ("no lines", lines(0, 6)),
        ("partial line", short),
        ("k = 0", lines(2, 0)),
        ("k = 31", lines(2, 31)),
        (
            "unknown trailing byte",
            [vec![0u8; 64], vec![6, 0x81]].concat(),
        ),
    ] {
        write_bytes(&fs, "/x.sst", &with_filter_block(&blocked, filter));
        match open(&fs, Path::new("/x.sst"), None) {
            Err(Error::Corruption { file, detail, .. }) => {
                assert_eq!(file, Path::new("/x.sst"), "{what}");
                assert!(detail.contains("bloom filter"), "{what}: {detail}");
            }
            Err(e) => panic!("{what}: expected corruption, got {e}"),
            Ok(_) => panic!("{what}: opened"),
        }
    }
    // The splice itself keeps a table valid.
    write_bytes(&fs, "/x.sst", &with_filter_block(&blocked, lines(2, 6)));
    let t = open(&fs, Path::new("/x.sst"), None).unwrap();
    assert!(
        t.may_contain(b"user000001"),
        "all-ones filter passes everything"
    );
}
