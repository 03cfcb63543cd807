//! Scenario: the rules of `CompactionIterator` — snapshots keep versions, tombstones go only at
//! the bottom, and without snapshots only the newest version survives.

use kvstore_base::iter::{InternalIterator, VecIterator};
use kvstore_base::{SeqNo, ValueKind};
use kvstore_compaction::{CompactionIterator, MergingIterator};

type Entry = (Vec<u8>, SeqNo, ValueKind, Vec<u8>);

fn put(k: &str, s: SeqNo) -> Entry {
    (
        k.as_bytes().to_vec(),
        s,
        ValueKind::Put,
        format!("{k}{s}").into_bytes(),
    )
}

fn del(k: &str, s: SeqNo) -> Entry {
    (k.as_bytes().to_vec(), s, ValueKind::Delete, Vec::new())
}

fn run(
    entries: Vec<Entry>,
    snapshots: Vec<SeqNo>,
    bottommost: bool,
) -> (Vec<(String, SeqNo)>, u64, u64) {
    let mut it = CompactionIterator::new(VecIterator::new(entries), snapshots, bottommost);
    it.seek_to_first().unwrap();
    let mut out = Vec::new();
    while it.valid() {
        out.push((String::from_utf8(it.user_key().to_vec()).unwrap(), it.seq()));
        it.next().unwrap();
    }
    (out, it.dropped(), it.dropped_tombstones())
}

fn keys(v: &[(&str, SeqNo)]) -> Vec<(String, SeqNo)> {
    v.iter().map(|(k, s)| (k.to_string(), *s)).collect()
}

#[test]
fn without_snapshots_only_the_newest_version_survives() {
    let input = vec![
        put("a", 9),
        put("a", 5),
        del("a", 3),
        put("a", 1),
        put("b", 2),
    ];
    let (out, dropped, _) = run(input, vec![], false);
    assert_eq!(out, keys(&[("a", 9), ("b", 2)]));
    assert_eq!(dropped, 3);
}

#[test]
fn snapshots_retain_the_newest_version_of_each_stripe() {
    // Snapshots 4 and 7: stripes (..4], (4..7], (7..).
    let input = vec![
        put("a", 9),
        put("a", 8),
        put("a", 7),
        put("a", 6),
        put("a", 4),
        put("a", 2),
    ];
    let (out, dropped, _) = run(input, vec![4, 7], false);
    assert_eq!(out, keys(&[("a", 9), ("a", 7), ("a", 4)]));
    assert_eq!(dropped, 3);
}

#[test]
fn a_version_equal_to_a_snapshot_belongs_to_that_snapshot() {
    let (out, _, _) = run(vec![put("a", 5), put("a", 3)], vec![5], false);
    assert_eq!(out, keys(&[("a", 5)]));
    let (out, _, _) = run(vec![put("a", 6), put("a", 5)], vec![5], false);
    assert_eq!(out, keys(&[("a", 6), ("a", 5)]));
}

#[test]
fn tombstones_are_kept_above_the_bottom() {
    let input = vec![del("a", 5), put("a", 3), del("b", 2)];
    let (out, _, tomb) = run(input, vec![], false);
    assert_eq!(out, keys(&[("a", 5), ("b", 2)]));
    assert_eq!(tomb, 0);
}

#[test]
fn tombstones_are_dropped_at_the_bottom_with_what_they_hide() {
    let input = vec![del("a", 5), put("a", 3), del("b", 2), put("c", 1)];
    let (out, dropped, tomb) = run(input, vec![], true);
    assert_eq!(out, keys(&[("c", 1)]));
    assert_eq!((dropped, tomb), (3, 2));
}

#[test]
fn a_tombstone_a_snapshot_needs_survives_at_the_bottom() {
    // Snapshot 4 still reads a@3; the delete at 5 must keep hiding it from newer readers.
    let input = vec![del("a", 5), put("a", 3)];
    let (out, _, tomb) = run(input, vec![4], true);
    assert_eq!(out, keys(&[("a", 5), ("a", 3)]));
    assert_eq!(tomb, 0);
    // A delete in the oldest stripe hides nothing a snapshot can read: dropped.
    let input = vec![put("a", 9), del("a", 3), put("a", 1)];
    let (out, _, tomb) = run(input, vec![4], true);
    assert_eq!(out, keys(&[("a", 9)]));
    assert_eq!(tomb, 1);
}

#[test]
fn works_over_a_merge_of_overlapping_sources() {
    let newer = VecIterator::new(vec![put("a", 8), del("b", 7)]);
    let older = VecIterator::new(vec![put("a", 2), put("b", 1), put("c", 1)]);
    let merged = MergingIterator::new(vec![newer, older]);
    let mut it = CompactionIterator::new(merged, vec![], true);
    it.seek_to_first().unwrap();
    let mut out = Vec::new();
    while it.valid() {
        out.push((it.user_key().to_vec(), it.seq(), it.value().to_vec()));
        it.next().unwrap();
    }
    assert_eq!(
        out,
        vec![
            (b"a".to_vec(), 8, b"a8".to_vec()),
            (b"c".to_vec(), 1, b"c1".to_vec())
        ]
    );
}

#[test]
fn seek_computes_stripes_from_the_keys_newest_version() {
    let input = vec![
        put("a", 9),
        put("b", 9),
        put("b", 8),
        put("b", 3),
        put("c", 1),
    ];
    let mut it = CompactionIterator::new(VecIterator::new(input), vec![4], false);
    it.seek(b"b", 5).unwrap();
    // b@8 is dropped (same stripe as b@9), so the first output >= (b, 5) is b@3.
    assert_eq!((it.user_key(), it.seq()), (&b"b"[..], 3));
    it.next().unwrap();
    assert_eq!(it.user_key(), b"c");
    it.next().unwrap();
    assert!(!it.valid());
    it.next().unwrap();
    assert!(!it.valid(), "next past the end stays invalid");
}

#[test]
fn empty_input_yields_nothing() {
    let (out, dropped, _) = run(vec![], vec![1, 2], true);
    assert!(out.is_empty());
    assert_eq!(dropped, 0);
}
