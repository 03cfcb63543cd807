//! Property: for random sorted entries and random options, a table answers `get`, `seek` and a
//! full scan exactly like a `BTreeMap` model of the same entries.

mod common;

use common::*;
use kvstore_base::fs::FaultFs;
use kvstore_base::iter::InternalIterator;
use kvstore_base::{InternalKey, ValueKind};
use kvstore_sstable::{BlockCache, Compression, TableOptions};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Small alphabet and short keys so that keys share prefixes and collide across versions.
fn key() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), any::<u8>()],
        0..6,
    )
}

fn model() -> impl Strategy<Value = BTreeMap<InternalKey, Vec<u8>>> {
    proptest::collection::vec(
        (
            key(),
            0u64..50,
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..40),
        ),
        1..300,
    )
    .prop_map(|raw| {
        let mut m = BTreeMap::new();
        let mut seen = std::collections::HashSet::new();
        for (k, s, put, v) in raw {
            // One entry per (user key, seq), as the iterator contract requires.
            if !seen.insert((k.clone(), s)) {
                continue;
            }
            let kind = if put {
                ValueKind::Put
            } else {
                ValueKind::Delete
            };
            let v = if put { v } else { Vec::new() };
            m.insert(InternalKey::new(k, s, kind), v);
        }
        m
    })
}

fn options() -> impl Strategy<Value = TableOptions> {
    (1usize..600, 0usize..14, any::<bool>(), 1usize..20).prop_map(|(bs, bits, z, ri)| {
        TableOptions {
            block_size_bytes: bs,
            bloom_bits_per_key: bits,
            compression: if z {
                Compression::Zstd(1)
            } else {
                Compression::None
            },
            restart_interval: ri,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn table_matches_btreemap(
        m in model(),
        opts in options(),
        probes in proptest::collection::vec((key(), 0u64..55), 1..40),
    ) {
        let entries: Vec<Entry> =
            m.iter().map(|(k, v)| (k.user_key.clone(), k.seq, k.kind, v.clone())).collect();
        let fs = FaultFs::new();
        let path = Path::new("/p.sst");
        write_table(&fs, path, &entries, opts);
        let t = open(&fs, path, Some(BlockCache::new(4096))).unwrap();
        prop_assert_eq!(scan(&t).unwrap(), entries.clone());

        // Probe both random keys and stored keys.
        let stored = entries.iter().step_by(5).map(|e| (e.0.clone(), e.1));
        for (k, s) in probes.into_iter().chain(stored) {
            prop_assert_eq!(t.get(&k, s).unwrap(), model_get(&entries, &k, s));
            let mut it = t.iter();
            it.seek(&k, s).unwrap();
            // Model seek: first entry >= (k, s) in internal order (kind does not matter since
            // (user key, seq) is unique; Put sorts before Delete at equal seq).
            let target = InternalKey::new(k.clone(), s, ValueKind::Put);
            let want = m.range(target..).next();
            match want {
                None => prop_assert!(!it.valid()),
                Some((ik, v)) => {
                    prop_assert!(it.valid());
                    prop_assert_eq!(it.user_key(), &ik.user_key[..]);
                    prop_assert_eq!(it.seq(), ik.seq);
                    prop_assert_eq!(it.kind(), ik.kind);
                    prop_assert_eq!(it.value(), &v[..]);
                }
            }
        }
    }
}
