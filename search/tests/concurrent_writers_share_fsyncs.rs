//! Concurrent document writers are not serialized on the collection statistics: each writes
//! its stripe's counter records (`counters.rs`) under that stripe's lock, so writers of
//! different stripes commit together and share fsyncs (the engine's group commit). With one
//! lock held across every write and its fsync — how the statistics used to be kept — each write
//! paid its own fsync: as many fsyncs as writes.

mod common;

use common::indexer;
use std::sync::Arc;

#[test]
fn sixteen_concurrent_writers_share_fsyncs_and_leave_a_consistent_index() {
    let (_dir, ix) = indexer();
    let ix = Arc::new(ix);
    let (threads, per) = (16, 25);
    let before = ix.db().stats().wal_syncs;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let ix = ix.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    let key = format!("t{t:02}-{i:03}");
                    let text = format!("shared words and token{t} plus item{i}");
                    ix.put(key.as_bytes(), text.as_bytes(), None).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let writes = (threads * per) as u64;
    let syncs = ix.db().stats().wal_syncs - before;
    eprintln!("{writes} durable document writes from {threads} threads: {syncs} WAL fsyncs");
    // Serialized writers pay one fsync each (400); four stripes let about four commit together
    // (~140 here). The bound leaves room for a loaded machine's scheduling.
    assert!(
        syncs * 4 <= writes * 3,
        "{syncs} fsyncs for {writes} writes: the writers were serialized"
    );
    let report = ix.verify().unwrap();
    assert_eq!(report.documents, writes);
    assert_eq!(ix.stats().unwrap().collection.doc_count, writes);
    assert_eq!(
        ix.search("shared", 1000, false).unwrap().len(),
        writes as usize
    );
}
