//! Point lookups across many overlapping L0 tables: the newest version of a key wins, whether
//! the lookup gathers the covering tables and probes their filters together (up to 16 tables)
//! or, behind a deeper L0 backlog, goes table by table. Compaction is held off so the tables
//! stay in L0.

mod common;

use common::fault_options;
use kvstore_engine::fs::FaultFs;
use kvstore_engine::{Db, Options};
use std::collections::BTreeMap;
use std::path::Path;

fn options(fs: &FaultFs) -> Options {
    Options {
        l0_compaction_trigger: 1000,
        l0_slowdown_writes_trigger: 2000,
        l0_stop_writes_trigger: 3000,
        memtable_size_bytes: 1 << 20,
        ..fault_options(fs)
    }
}

/// `rounds` flushes, each overwriting or deleting a different part of 40 keys, then every key
/// read back (and again after a reopen) against a model.
fn overlapping_l0_tables(rounds: usize) {
    let fs = FaultFs::new();
    let dir = Path::new("/lookup");
    let db = Db::open(dir, options(&fs)).unwrap();
    let mut model = BTreeMap::new();
    for r in 0..rounds {
        for k in 0..40usize {
            let key = format!("key{k:02}").into_bytes();
            if (k + r) % 7 == 0 {
                db.delete(&key).unwrap();
                model.remove(&key);
            } else if k % (r % 4 + 1) == 0 {
                let v = format!("round {r} key {k}").into_bytes();
                db.put(&key, &v).unwrap();
                model.insert(key, v);
            }
        }
        db.flush().unwrap();
    }
    let l0 = db.stats().levels[0].files;
    assert_eq!(l0, rounds, "every round is its own L0 table");
    let check = |db: &Db| {
        for k in 0..42usize {
            let key = format!("key{k:02}").into_bytes();
            assert_eq!(
                db.get(&key).unwrap(),
                model.get(&key).cloned(),
                "key{k:02} after {rounds} rounds"
            );
        }
    };
    check(&db);
    db.close().unwrap();
    drop(db);
    let db = Db::open(dir, options(&fs)).unwrap();
    check(&db);
}

#[test]
fn newest_version_wins_among_overlapping_l0_tables() {
    overlapping_l0_tables(12);
}

#[test]
fn newest_version_wins_behind_a_deep_l0_backlog() {
    // More covering tables than a lookup gathers at once (16).
    overlapping_l0_tables(24);
}
