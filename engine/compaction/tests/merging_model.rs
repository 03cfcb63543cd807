//! Property test: `MergingIterator` equals a sorted concatenation of its children, with
//! duplicates resolved in favour of the lowest-index child.

use std::collections::BTreeMap;

use kvstore_base::iter::{InternalIterator, VecIterator};
use kvstore_base::{SeqNo, ValueKind};
use kvstore_compaction::MergingIterator;
use proptest::prelude::*;

type Entry = (Vec<u8>, SeqNo, ValueKind, Vec<u8>);

/// Model key: (user key, Reverse(seq)) sorts like internal keys.
type ModelKey = (Vec<u8>, std::cmp::Reverse<SeqNo>);

fn child() -> impl Strategy<Value = Vec<(Vec<u8>, SeqNo, bool)>> {
    prop::collection::vec(
        (
            prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'c']), 0..3),
            0u64..12,
            any::<bool>(),
        ),
        0..25,
    )
}

/// Sorts and de-duplicates one child's entries; the value names the child.
fn build(child_index: usize, raw: &[(Vec<u8>, SeqNo, bool)]) -> Vec<Entry> {
    let mut m: BTreeMap<ModelKey, Entry> = BTreeMap::new();
    for (k, s, put) in raw {
        let kind = if *put {
            ValueKind::Put
        } else {
            ValueKind::Delete
        };
        m.insert(
            (k.clone(), std::cmp::Reverse(*s)),
            (k.clone(), *s, kind, vec![child_index as u8]),
        );
    }
    m.into_values().collect()
}

fn drain(it: &mut MergingIterator<VecIterator>, limit: usize) -> Vec<Entry> {
    let mut out = Vec::new();
    while it.valid() && out.len() < limit {
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn merge_equals_sorted_concatenation(
        raw in prop::collection::vec(child(), 0..6),
        seek_key in prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'c']), 0..3),
        seek_seq in 0u64..14,
    ) {
        let children: Vec<Vec<Entry>> = raw.iter().enumerate().map(|(i, c)| build(i, c)).collect();
        // Model: insert oldest child first, so the lowest index overwrites duplicates.
        let mut model: BTreeMap<ModelKey, Entry> = BTreeMap::new();
        for c in children.iter().rev() {
            for e in c {
                model.insert((e.0.clone(), std::cmp::Reverse(e.1)), e.clone());
            }
        }
        let mut it = MergingIterator::new(children.iter().cloned().map(VecIterator::new).collect());
        it.seek_to_first().unwrap();
        let expected: Vec<Entry> = model.values().cloned().collect();
        prop_assert_eq!(drain(&mut it, usize::MAX), expected);

        it.seek(&seek_key, seek_seq).unwrap();
        let from: Vec<Entry> = model
            .range((seek_key.clone(), std::cmp::Reverse(seek_seq))..)
            .map(|(_, e)| e.clone())
            .collect();
        prop_assert_eq!(drain(&mut it, usize::MAX), from);
    }
}
