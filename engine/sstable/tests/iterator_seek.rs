//! Scenario: `TableIterator` follows the seek contract of `kvstore_base::iter` exactly —
//! positioned at the first entry whose internal key is `>= (k, s)`, i.e. user key `> k`, or
//! user key `== k` with sequence `<= s` — across block boundaries.

mod common;

use common::*;
use kvstore_base::fs::FaultFs;
use kvstore_base::iter::{InternalIterator, VecIterator};
use kvstore_base::ValueKind;
use kvstore_sstable::TableOptions;
use std::path::Path;

fn small_blocks() -> TableOptions {
    TableOptions {
        block_size_bytes: 128,
        restart_interval: 3,
        ..TableOptions::default()
    }
}

fn position<I: InternalIterator>(it: &I) -> Option<(Vec<u8>, u64)> {
    it.valid().then(|| (it.user_key().to_vec(), it.seq()))
}

#[test]
fn seek_matches_the_reference_iterator_everywhere() {
    let fs = FaultFs::new();
    let path = Path::new("/s.sst");
    let entries = versioned_entries(200);
    write_table(&fs, path, &entries, small_blocks());
    let t = open(&fs, path, None).unwrap();
    let mut it = t.iter();
    let mut model = VecIterator::new(entries.clone());
    let mut targets: Vec<(Vec<u8>, u64)> = Vec::new();
    for (k, s, _, _) in &entries {
        targets.push((k.clone(), *s));
        targets.push((k.clone(), s + 1));
        targets.push((k.clone(), s.saturating_sub(1)));
        let mut after = k.clone();
        after.push(0);
        targets.push((after, 0));
    }
    targets.push((Vec::new(), 0));
    targets.push((b"zzz".to_vec(), u64::MAX >> 8));
    for (k, s) in &targets {
        it.seek(k, *s).unwrap();
        model.seek(k, *s).unwrap();
        assert_eq!(position(&it), position(&model), "seek({k:?}, {s})");
        // And the cursor continues correctly from there.
        for _ in 0..3 {
            it.next().unwrap();
            model.next().unwrap();
            assert_eq!(position(&it), position(&model));
        }
    }
}

#[test]
fn seek_examples_from_the_contract() {
    let fs = FaultFs::new();
    let path = Path::new("/e.sst");
    let entries = vec![
        (b"a".to_vec(), 9, ValueKind::Put, b"a9".to_vec()),
        (b"b".to_vec(), 8, ValueKind::Put, b"b8".to_vec()),
        (b"b".to_vec(), 5, ValueKind::Delete, Vec::new()),
        (b"b".to_vec(), 2, ValueKind::Put, b"b2".to_vec()),
        (b"d".to_vec(), 1, ValueKind::Put, b"d1".to_vec()),
    ];
    write_table(
        &fs,
        path,
        &entries,
        TableOptions {
            block_size_bytes: 1,
            ..TableOptions::default()
        },
    );
    let t = open(&fs, path, None).unwrap();
    let mut it = t.iter();
    assert!(!it.valid(), "unpositioned before a seek");
    // (seek key, seek seq, expected position)
    type Case<'a> = (&'a [u8], u64, Option<(&'a [u8], u64)>);
    let cases: &[Case] = &[
        (b"b", 10, Some((b"b", 8))),
        (b"b", 8, Some((b"b", 8))),
        (b"b", 7, Some((b"b", 5))),
        (b"b", 4, Some((b"b", 2))),
        (b"b", 1, Some((b"d", 1))),
        (b"c", 100, Some((b"d", 1))),
        (b"d", 0, None),
        (b"e", 100, None),
        (b"", 0, Some((b"a", 9))),
    ];
    for (k, s, want) in cases {
        it.seek(k, *s).unwrap();
        let got = position(&it);
        assert_eq!(got, want.map(|(k, s)| (k.to_vec(), s)), "seek({k:?}, {s})");
    }
    it.seek(b"b", 7).unwrap();
    assert_eq!((it.kind(), it.value()), (ValueKind::Delete, &b""[..]));
    it.next().unwrap();
    assert_eq!(it.value(), b"b2");
    // next past the end stays invalid and is harmless.
    it.seek(b"d", 1).unwrap();
    it.next().unwrap();
    assert!(!it.valid());
    it.next().unwrap();
    assert!(!it.valid());
    it.seek_to_first().unwrap();
    assert_eq!(position(&it), Some((b"a".to_vec(), 9)));
}

#[test]
fn iterator_is_send_and_outlives_cache_eviction() {
    fn assert_send<T: Send>(_: &T) {}
    let fs = FaultFs::new();
    let path = Path::new("/f.sst");
    let entries = versioned_entries(100);
    write_table(&fs, path, &entries, small_blocks());
    let cache = kvstore_sstable::BlockCache::new(1 << 20);
    let t = open(&fs, path, Some(cache.clone())).unwrap();
    let mut it = t.iter();
    assert_send(&it);
    it.seek_to_first().unwrap();
    cache.evict_file(7);
    let handle = std::thread::spawn(move || {
        let mut n = 0;
        while it.valid() {
            n += 1;
            it.next().unwrap();
        }
        n
    });
    assert_eq!(handle.join().unwrap(), entries.len());
}
