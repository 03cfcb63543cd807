//! Property test: a memtable behaves like a `BTreeMap` of internal keys.

use std::collections::BTreeMap;
use std::sync::Arc;

use kvstore_base::iter::InternalIterator;
use kvstore_base::{InternalKey, SeqNo, ValueKind};
use kvstore_memtable::MemTable;
use proptest::prelude::*;

/// Newest model entry of `key` with seq <= snap.
fn model_get(
    model: &BTreeMap<InternalKey, Vec<u8>>,
    key: &[u8],
    snap: SeqNo,
) -> Option<(SeqNo, ValueKind, Vec<u8>)> {
    model
        .range(InternalKey::new(key.to_vec(), snap, ValueKind::Put)..)
        .next()
        .filter(|(k, _)| k.user_key == key)
        .map(|(k, v)| (k.seq, k.kind, v.clone()))
}

fn small_key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'c']), 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn memtable_matches_btreemap(
        writes in prop::collection::vec((small_key(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..8)), 0..120),
        reads in prop::collection::vec((small_key(), 0u64..140), 0..40),
        steps in 0usize..200,
    ) {
        let mem = Arc::new(MemTable::new());
        let mut model = BTreeMap::new();
        for (i, (key, is_put, value)) in writes.iter().enumerate() {
            let seq = i as SeqNo + 1;
            let (kind, value) = if *is_put { (ValueKind::Put, value.clone()) } else { (ValueKind::Delete, Vec::new()) };
            mem.insert(key, seq, kind, &value);
            model.insert(InternalKey::new(key.clone(), seq, kind), value);
        }
        prop_assert_eq!(mem.len(), model.len());

        for (key, snap) in &reads {
            prop_assert_eq!(mem.get(key, *snap), model_get(&model, key, *snap));
        }

        // Full scan equals the model in order.
        let mut it = mem.iter();
        it.seek_to_first().unwrap();
        for (k, v) in &model {
            prop_assert!(it.valid());
            prop_assert_eq!((it.user_key(), it.seq(), it.kind(), it.value()), (&k.user_key[..], k.seq, k.kind, &v[..]));
            it.next().unwrap();
        }
        prop_assert!(!it.valid());

        // Seek then step: same as the model's range from the seek target.
        for (key, snap) in &reads {
            it.seek(key, *snap).unwrap();
            let mut expected = model.range(InternalKey::new(key.clone(), *snap, ValueKind::Put)..);
            for _ in 0..steps.min(20) {
                match expected.next() {
                    Some((k, v)) => {
                        prop_assert!(it.valid());
                        prop_assert_eq!((it.user_key(), it.seq(), it.kind(), it.value()), (&k.user_key[..], k.seq, k.kind, &v[..]));
                        it.next().unwrap();
                    }
                    None => {
                        prop_assert!(!it.valid());
                        break;
                    }
                }
            }
        }
    }
}
