//! Concurrent durable writers share fsyncs, and every acknowledged write survives a reopen.

mod common;

use common::small_options;
use kvstore_engine::Db;
use std::sync::Arc;

#[test]
fn concurrent_writers_share_fsyncs_and_all_writes_survive() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(tmp.path(), small_options()).unwrap());
    let threads = 8;
    let per = 200;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    db.put(
                        format!("t{t}-{i:04}").as_bytes(),
                        format!("v{i}").as_bytes(),
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let s = db.stats();
    let writes = (threads * per) as u64;
    assert!(s.wal_syncs >= 1 && s.wal_syncs <= writes, "{s:?}");
    eprintln!("{writes} durable writes used {} WAL fsyncs", s.wal_syncs);
    db.close().unwrap();
    drop(db);

    let db = Db::open(tmp.path(), small_options()).unwrap();
    for t in 0..threads {
        for i in 0..per {
            assert_eq!(
                db.get(format!("t{t}-{i:04}").as_bytes()).unwrap(),
                Some(format!("v{i}").into_bytes())
            );
        }
    }
}
