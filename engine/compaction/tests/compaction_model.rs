//! Property test: compaction changes no snapshot's answer.
//!
//! For random versions (spread over several overlapping sources), random live snapshots and a
//! random `bottommost` flag, every key read at every snapshot (and at "latest") through the
//! compacted output gives the same visible value as through the input. Also checks the output
//! is sorted, smaller than the input, and at most one version per stripe.

use std::collections::BTreeMap;

use kvstore_base::iter::{InternalIterator, VecIterator};
use kvstore_base::{SeqNo, ValueKind};
use kvstore_compaction::{CompactionIterator, MergingIterator};
use proptest::prelude::*;

type Entry = (Vec<u8>, SeqNo, ValueKind, Vec<u8>);

/// What a reader at `snap` sees for `key`: the newest version with seq <= snap, if a Put.
fn visible(entries: &[Entry], key: &[u8], snap: SeqNo) -> Option<Vec<u8>> {
    entries
        .iter()
        .filter(|e| e.0 == key && e.1 <= snap)
        .max_by_key(|e| e.1)
        .and_then(|e| (e.2 == ValueKind::Put).then(|| e.3.clone()))
}

fn sorted(mut v: Vec<Entry>) -> Vec<Entry> {
    v.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_snapshot_reads_the_same_after_compaction(
        versions in prop::collection::vec((0u8..5, any::<bool>(), 0usize..3), 0..60),
        snapshots in prop::collection::vec(0u64..70, 0..5),
        bottommost in any::<bool>(),
        seek in (0u8..6, 0u64..70),
    ) {
        // Each version gets a unique seq; `source` spreads versions over overlapping children.
        let mut children: Vec<Vec<Entry>> = vec![Vec::new(); 3];
        let mut all = Vec::new();
        for (i, (key, is_put, source)) in versions.iter().enumerate() {
            let seq = i as SeqNo + 1;
            let e = if *is_put {
                (vec![b'k', *key], seq, ValueKind::Put, seq.to_le_bytes().to_vec())
            } else {
                (vec![b'k', *key], seq, ValueKind::Delete, Vec::new())
            };
            children[*source].push(e.clone());
            all.push(e);
        }
        let merged = MergingIterator::new(children.into_iter().map(|c| VecIterator::new(sorted(c))).collect());
        let mut it = CompactionIterator::new(merged, snapshots.clone(), bottommost);
        it.seek_to_first().unwrap();
        let mut out = Vec::new();
        while it.valid() {
            out.push((it.user_key().to_vec(), it.seq(), it.kind(), it.value().to_vec()));
            it.next().unwrap();
        }
        prop_assert_eq!(out.len() as u64 + it.dropped(), all.len() as u64);
        prop_assert_eq!(&sorted(out.clone()), &out, "output stays in internal-key order");

        // seek(k, s) lands on the first output entry >= (k, s).
        let (seek_key, seek_seq) = (vec![b'k', seek.0], seek.1);
        it.seek(&seek_key, seek_seq).unwrap();
        let expected = out.iter().find(|e| (e.0.as_slice(), std::cmp::Reverse(e.1)) >= (seek_key.as_slice(), std::cmp::Reverse(seek_seq)));
        match expected {
            Some(e) => {
                prop_assert!(it.valid());
                prop_assert_eq!((it.user_key(), it.seq(), it.value()), (e.0.as_slice(), e.1, e.3.as_slice()));
            }
            None => prop_assert!(!it.valid()),
        }

        let mut reads: Vec<SeqNo> = snapshots.clone();
        reads.push(SeqNo::MAX);
        for key in 0u8..5 {
            let key = [b'k', key];
            for &snap in &reads {
                prop_assert_eq!(visible(&out, &key, snap), visible(&all, &key, snap), "key {:?} at {}", key, snap);
            }
        }

        // At most one version per (key, stripe).
        let mut snaps = snapshots.clone();
        snaps.sort_unstable();
        snaps.dedup();
        let mut per_stripe: BTreeMap<(Vec<u8>, usize), u32> = BTreeMap::new();
        for e in &out {
            *per_stripe.entry((e.0.clone(), snaps.partition_point(|&s| s < e.1))).or_default() += 1;
        }
        prop_assert!(per_stripe.values().all(|&n| n == 1));
        if bottommost && snaps.is_empty() {
            prop_assert!(out.iter().all(|e| e.2 == ValueKind::Put), "no tombstone survives the bottom without snapshots");
        }
    }
}
