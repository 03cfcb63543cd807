//! Scenario: many threads insert into one memtable at once; nothing is lost or misordered.

use std::sync::Arc;
use std::thread;

use kvstore_base::iter::InternalIterator;
use kvstore_base::key::cmp_internal;
use kvstore_base::ValueKind;
use kvstore_memtable::{MemTable, ENTRY_OVERHEAD_BYTES};

#[test]
fn concurrent_inserts_are_all_visible_in_order() {
    const THREADS: u64 = 6;
    const PER_THREAD: u64 = 2_000;
    let mem = Arc::new(MemTable::new());
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let mem = Arc::clone(&mem);
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    // Threads share user keys (i % 97) but every seq is unique.
                    let seq = t * PER_THREAD + i + 1;
                    let key = format!("user{:03}", i % 97);
                    mem.insert(key.as_bytes(), seq, ValueKind::Put, &seq.to_le_bytes());
                }
            })
        })
        .collect();
    // A reader scanning concurrently must always see a sorted sequence.
    let reader = {
        let mem = Arc::clone(&mem);
        thread::spawn(move || {
            for _ in 0..5 {
                let mut it = mem.iter();
                it.seek_to_first().unwrap();
                let mut prev: Option<(Vec<u8>, u64)> = None;
                while it.valid() {
                    if let Some((k, s)) = &prev {
                        assert!(cmp_internal(k, *s, it.user_key(), it.seq()).is_lt());
                    }
                    prev = Some((it.user_key().to_vec(), it.seq()));
                    it.next().unwrap();
                }
            }
        })
    };
    for h in handles {
        h.join().unwrap();
    }
    reader.join().unwrap();

    let total = (THREADS * PER_THREAD) as usize;
    assert_eq!(mem.len(), total);
    assert_eq!(
        mem.approximate_bytes(),
        total * (7 + 8 + ENTRY_OVERHEAD_BYTES)
    );
    for seq in 1..=THREADS * PER_THREAD {
        let i = (seq - 1) % PER_THREAD;
        let key = format!("user{:03}", i % 97);
        let (s, kind, v) = mem.get(key.as_bytes(), seq).unwrap();
        assert!(s <= seq && kind == ValueKind::Put);
        assert_eq!(v, s.to_le_bytes());
    }
    let mut it = mem.iter();
    it.seek_to_first().unwrap();
    let mut n = 0;
    while it.valid() {
        n += 1;
        it.next().unwrap();
    }
    assert_eq!(n, total);
}
