use super::*;
use kvstore_base::iter::InternalIterator;
use kvstore_base::key::pack_trailer;
use kvstore_base::{SeqNo, ValueKind};
use std::path::Path;
use std::sync::Arc;

type Entry = (Vec<u8>, SeqNo, ValueKind, Vec<u8>);

fn origin() -> BlockOrigin {
    BlockOrigin {
        file: Arc::from(Path::new("b.sst")),
        offset: 1000,
        exact: true,
    }
}

fn entries(n: usize) -> Vec<Entry> {
    let mut v = Vec::new();
    for i in 0..n {
        let key = format!("key{:05}", i * 2).into_bytes();
        // Two versions of every key, newest first.
        v.push((
            key.clone(),
            100 + i as u64,
            ValueKind::Put,
            format!("v{i}-new").into_bytes(),
        ));
        v.push((key, 50, ValueKind::Delete, Vec::new()));
    }
    v
}

fn build(es: &[Entry], restart_interval: usize) -> Vec<u8> {
    let mut b = BlockBuilder::new(restart_interval);
    for (k, s, kind, v) in es {
        b.add(k, pack_trailer(*s, *kind), v).unwrap();
    }
    b.finish()
}

fn iter(data: Vec<u8>) -> BlockIter {
    BlockIter::new(Arc::new(Block::decode(data, origin()).unwrap()))
}

fn collect(it: &mut BlockIter) -> Vec<Entry> {
    let mut out = Vec::new();
    while it.valid() {
        out.push((
            it.user_key().to_vec(),
            it.seq(),
            it.kind(),
            it.value().to_vec(),
        ));
        it.next().unwrap();
    }
    out
}

#[test]
fn roundtrip_at_several_restart_intervals() {
    let es = entries(100);
    for ri in [1, 2, 16, 1000] {
        let mut it = iter(build(&es, ri));
        assert!(!it.valid());
        it.seek_to_first().unwrap();
        assert_eq!(collect(&mut it), es, "restart interval {ri}");
    }
}

#[test]
fn prefix_compression_shrinks_the_block() {
    let es = entries(100);
    assert!(build(&es, 16).len() < build(&es, 1).len());
}

#[test]
fn seek_lands_on_first_entry_at_or_after_target() {
    let es = entries(50);
    let mut it = iter(build(&es, 4));
    // Exact key, snapshot above both versions: the newest.
    it.seek(b"key00010", u64::MAX >> 8).unwrap();
    assert_eq!((it.user_key(), it.seq()), (&b"key00010"[..], 105));
    // Snapshot between the versions: the older one (a tombstone).
    it.seek(b"key00010", 60).unwrap();
    assert_eq!(
        (it.user_key(), it.seq(), it.kind()),
        (&b"key00010"[..], 50, ValueKind::Delete)
    );
    // Snapshot below both versions: the next user key.
    it.seek(b"key00010", 10).unwrap();
    assert_eq!(it.user_key(), b"key00012");
    // Absent key between two present ones.
    it.seek(b"key00011", 1000).unwrap();
    assert_eq!(it.user_key(), b"key00012");
    // Before everything and after everything.
    it.seek(b"", 0).unwrap();
    assert_eq!(it.user_key(), b"key00000");
    it.seek(b"zzz", 0).unwrap();
    assert!(!it.valid());
    // Every entry is found by seeking to itself.
    for (k, s, _, v) in &es {
        it.seek(k, *s).unwrap();
        assert_eq!((it.user_key(), it.seq(), it.value()), (&k[..], *s, &v[..]));
    }
}

#[test]
fn decode_rejects_bad_restart_arrays() {
    let good = build(&entries(10), 4);
    let n = good.len();
    for bad in [
        vec![],
        vec![0, 0, 0],
        vec![0, 0, 0, 0], // zero restarts
        vec![5, 0, 0, 0], // more restarts than bytes
        [&good[..n - 4], &[200, 0, 0, 0]].concat(),
    ] {
        assert!(Block::decode(bad, origin()).unwrap_err().is_corruption());
    }
    let mut first_not_zero = good.clone();
    let restarts_at = n - 4 - 4 * 5;
    first_not_zero[restarts_at] = 1;
    assert!(Block::decode(first_not_zero, origin()).is_err());
}

#[test]
fn out_of_order_entries_are_corruption() {
    let mut b = BlockBuilder::new(16);
    b.add(b"b", pack_trailer(1, ValueKind::Put), b"x").unwrap();
    b.add(b"a", pack_trailer(1, ValueKind::Put), b"y").unwrap(); // the builder does not check
    let mut it = iter(b.finish());
    it.seek_to_first().unwrap();
    let err = it.next().unwrap_err();
    assert!(err.is_corruption());
    assert!(!it.valid());
}

#[test]
fn every_damaged_byte_gives_an_error_or_a_consistent_entry() {
    // Without a checksum (that is the table's job) a damaged block may decode to other entries,
    // but it must never panic or loop.
    let good = build(&entries(20), 4);
    for i in 0..good.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut d = good.clone();
            d[i] ^= mask;
            let Ok(block) = Block::decode(d, origin()) else {
                continue;
            };
            let mut it = BlockIter::new(Arc::new(block));
            let mut steps = 0;
            if it.seek_to_first().is_ok() {
                while it.valid() && it.next().is_ok() {
                    steps += 1;
                    assert!(steps <= good.len());
                }
            }
            let _ = it.seek(b"key00010", 60);
        }
    }
}
