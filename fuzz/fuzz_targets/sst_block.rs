//! One decoded SSTable block (data or index; what sits behind a verified checksum): arbitrary
//! bytes must be rejected by `Block::decode` or iterate in strictly increasing internal-key
//! order, with every error a corruption report, never a panic or an endless loop.
#![no_main]

use kvstore_base::iter::InternalIterator;
use kvstore_base::key::cmp_internal;
use kvstore_sstable::block::{Block, BlockIter, BlockOrigin};
use libfuzzer_sys::fuzz_target;
use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let origin = BlockOrigin {
        file: Arc::from(Path::new("fuzz.sst")),
        offset: 0,
        exact: true,
    };
    let Ok(block) = Block::decode(data.to_vec(), origin) else {
        return;
    };
    let block = Arc::new(block);
    let mut it = BlockIter::new(block.clone());
    let mut seen: Vec<(Vec<u8>, u64)> = Vec::new();
    if it.seek_to_first().is_ok() {
        while it.valid() {
            let cur = (it.user_key().to_vec(), it.seq());
            if let Some((k, s)) = seen.last() {
                assert_eq!(
                    cmp_internal(k, *s, &cur.0, cur.1),
                    Ordering::Less,
                    "block iterated out of order"
                );
            }
            let _ = it.value().len();
            seen.push(cur);
            assert!(seen.len() <= data.len(), "more entries than bytes");
            if let Err(e) = it.next() {
                assert!(e.is_corruption());
                assert!(!it.valid());
            }
        }
    }
    // Seeks to every key seen and to a few others land at or after their target.
    let probes = seen
        .iter()
        .cloned()
        .chain([(Vec::new(), u64::MAX >> 8), (vec![0xff; 4], 0)]);
    for (k, s) in probes {
        let mut it = BlockIter::new(block.clone());
        match it.seek(&k, s) {
            Ok(()) if it.valid() => {
                assert_ne!(
                    cmp_internal(it.user_key(), it.seq(), &k, s),
                    Ordering::Less,
                    "seek landed before its target"
                );
            }
            Ok(()) => {}
            Err(e) => assert!(e.is_corruption()),
        }
    }
});
