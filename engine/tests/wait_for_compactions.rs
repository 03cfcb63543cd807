//! `Db::wait_for_compactions` returns only once background work has settled: no memtable left
//! to flush, L0 under its trigger, and the picker finding nothing to do (so a second wait
//! starts no compaction); it refuses on a closed database.

mod common;

use common::small_options;
use kvstore_engine::{Db, Error};

#[test]
fn returns_once_flushes_and_compactions_have_settled() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = small_options();
    let trigger = opts.l0_compaction_trigger;
    let db = Db::open(tmp.path(), opts).unwrap();
    for i in 0..6_000u32 {
        db.put(
            format!("k{:06}", (i * 7919) % 6_000).as_bytes(),
            &[b'v'; 40],
        )
        .unwrap();
    }
    db.wait_for_compactions().unwrap();
    let s = db.stats();
    assert_eq!(s.immutable_memtables, 0, "{s:?}");
    assert!(s.flushes > 0 && s.compactions > 0, "{s:?}");
    assert!(
        s.levels[0].files < trigger,
        "L0 still at the trigger: {:?}",
        s.levels
    );
    // Settled means settled: nothing more runs by itself afterwards.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(db.stats().compactions, s.compactions);
    db.wait_for_compactions().unwrap();
    assert_eq!(db.stats().compactions, s.compactions);
    assert_eq!(
        db.get(b"k000042").unwrap().as_deref(),
        Some(&[b'v'; 40][..])
    );

    db.close().unwrap();
    assert!(matches!(db.wait_for_compactions(), Err(Error::Closed)));
}
