//! A failed write or fsync in *background* work — a flush writing an L0 table, a compaction
//! writing its outputs — poisons the database like a failed WAL fsync does: later writes are
//! refused, every acknowledged write stays readable (from memtables and the old tables), and a
//! reopen recovers all of it. (`poison.rs` covers the WAL; `corruption.rs` damage at rest.)

mod common;

use common::{dump, fault_options};
use kvstore_engine::fs::{FaultFs, FaultKind};
use kvstore_engine::{Db, Error, Options};
use std::collections::BTreeMap;
use std::path::Path;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// Flushes and compactions only when the test asks, so the fault hits the step it names.
fn options(fs: &FaultFs) -> Options {
    Options {
        memtable_size_bytes: 1 << 20,
        l0_compaction_trigger: 100,
        l0_slowdown_writes_trigger: 200,
        l0_stop_writes_trigger: 300,
        ..fault_options(fs)
    }
}

fn fill(db: &Db, model: &mut Model, round: usize) {
    for i in 0..60 {
        let k = format!("k{:03}", (i * 7 + round) % 90).into_bytes();
        let v = format!("r{round}-{i}-").repeat(1 + i % 4).into_bytes();
        db.put(&k, &v).unwrap();
        model.insert(k, v);
    }
}

/// Poisoned, refuses writes, still serves every acknowledged write; then a reopen recovers
/// all of them and takes writes again.
fn assert_poisoned_but_readable_then_recovers(
    fs: &FaultFs,
    dir: &Path,
    db: Db,
    model: &Model,
    reason_names: &str,
) {
    assert!(db.health().is_err(), "a failed background persist poisons");
    let reason = db.stats().poisoned.expect("poison reason");
    assert!(reason.contains(reason_names), "poisoned for: {reason}");
    assert!(matches!(db.put(b"x", b"y"), Err(Error::Poisoned { .. })));
    for (k, v) in model {
        assert_eq!(
            db.get(k).unwrap().as_ref(),
            Some(v),
            "get {k:?} while poisoned"
        );
    }
    assert_eq!(&dump(&db), model, "scan while poisoned");
    drop(db);

    fs.clear_faults();
    let db = Db::open(dir, options(fs)).unwrap();
    assert!(db.health().is_ok());
    assert_eq!(
        &dump(&db),
        model,
        "reopen recovers every acknowledged write"
    );
    db.put(b"after", b"reopen").unwrap();
    assert_eq!(db.get(b"after").unwrap().as_deref(), Some(&b"reopen"[..]));
}

#[test]
fn failed_table_write_during_flush_poisons_keeps_reads_and_recovers_on_reopen() {
    let fs = FaultFs::new();
    let dir = Path::new("/flush-fault");
    let db = Db::open(dir, options(&fs)).unwrap();
    let mut model = Model::new();
    fill(&db, &mut model, 0);
    db.flush().unwrap();
    fill(&db, &mut model, 1);
    // The flush first creates the next WAL segment (one append: its header); the append after
    // that is the new table's first block, and it fails.
    fs.inject(FaultKind::Write, 1);
    assert!(
        db.flush().is_err(),
        "flush must report the failed table write"
    );
    assert_poisoned_but_readable_then_recovers(&fs, dir, db, &model, ".sst");
}

#[test]
fn failed_fsync_during_compaction_poisons_keeps_reads_and_recovers_on_reopen() {
    let fs = FaultFs::new();
    let dir = Path::new("/compaction-fault");
    let db = Db::open(dir, options(&fs)).unwrap();
    let mut model = Model::new();
    for round in 0..3 {
        fill(&db, &mut model, round);
        db.flush().unwrap();
    }
    // Everything is flushed: the next fsync is a compaction output's.
    fs.inject(FaultKind::Sync, 0);
    assert!(db.compact_range(None, None).is_err());
    assert_poisoned_but_readable_then_recovers(&fs, dir, db, &model, "compaction failed");
}
