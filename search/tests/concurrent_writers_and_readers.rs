//! Writers and readers at once: every hit names a document that holds a matching value in the
//! snapshot it was read from, and the indexes end consistent.
mod common;
use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[test]
fn concurrent_overwrites_deletes_and_searches_stay_consistent() {
    let (_d, ix) = indexer();
    let ix = Arc::new(ix);
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3 {
        let ix = ix.clone();
        writers.push(std::thread::spawn(move || {
            for i in 0..300 {
                let key = format!("k{}", (i * 7 + w) % 25).into_bytes();
                match i % 5 {
                    0 => {
                        ix.delete(&key).unwrap();
                    }
                    1 | 2 => ix
                        .put(&key, format!("alpha beta {i}").as_bytes(), None)
                        .unwrap(),
                    _ => ix
                        .put(&key, format!("gamma delta {i}").as_bytes(), None)
                        .unwrap(),
                }
            }
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (ix, stop) = (ix.clone(), stop.clone());
        readers.push(std::thread::spawn(move || {
            let mut seen = 0;
            while !stop.load(Ordering::Relaxed) {
                for h in ix.search("alpha", 50, true).unwrap() {
                    let v = String::from_utf8(h.value.unwrap()).unwrap();
                    assert!(v.starts_with("alpha"), "stale hit {:?} → {v}", h.key);
                    seen += 1;
                }
                let _ = ix.semantic_search("gamma", 5).unwrap();
            }
            seen
        }));
    }
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    let report = ix.verify().unwrap();
    assert_eq!(report.documents, ix.stats().unwrap().collection.doc_count);
    assert_eq!(report.vectors as usize, ix.stats().unwrap().vectors);
}
