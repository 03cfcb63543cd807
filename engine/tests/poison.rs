//! A failed fsync poisons the database: later writes fail, health says so, reads keep working,
//! and a reopen recovers every acknowledged write.

mod common;

use common::fault_options;
use kvstore_engine::fs::{FaultFs, FaultKind};
use kvstore_engine::{Db, Error};
use std::path::Path;

#[test]
fn failed_wal_fsync_poisons_until_reopen() {
    let fs = FaultFs::new();
    let dir = Path::new("/poison");
    let db = Db::open(dir, fault_options(&fs)).unwrap();
    db.put(b"a", b"1").unwrap();
    fs.inject(FaultKind::Sync, 0);
    assert!(db.put(b"b", b"2").is_err());
    fs.clear_faults();
    // Even with the disk healthy again, no write is accepted: the failed fsync's outcome is unknown.
    assert!(matches!(db.put(b"c", b"3"), Err(Error::Poisoned { .. })));
    assert!(db.health().is_err());
    assert!(db.stats().poisoned.is_some());
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    drop(db);

    let db = Db::open(dir, fault_options(&fs)).unwrap();
    assert!(db.health().is_ok());
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get(b"c").unwrap(), None);
    db.put(b"d", b"4").unwrap();
}

#[test]
fn disk_full_fails_writes_cleanly_and_reopen_resumes() {
    let fs = FaultFs::new();
    let dir = Path::new("/full");
    let db = Db::open(dir, fault_options(&fs)).unwrap();
    db.put(b"a", b"1").unwrap();
    fs.set_capacity(Some(0));
    let e = db.put(b"b", &[7u8; 100]).unwrap_err();
    assert!(e.is_disk_full(), "{e}");
    drop(db);
    fs.clear_faults();
    let db = Db::open(dir, fault_options(&fs)).unwrap();
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    db.put(b"b", b"2").unwrap();
}
