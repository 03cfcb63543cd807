//! A manifest roll that fails part-way retires the old manifest (issue 20, finding 4).
//!
//! The roll renames `CURRENT` to name a new manifest and then syncs the directory. If only that
//! directory sync fails, the rename may still become durable — the next directory sync anyone
//! makes (a flush syncs the directory for its new tables) persists it. A flush in flight that
//! then appended its edit to the *old* manifest and deleted the WAL segments the edit made
//! obsolete left a database whose live manifest names a deleted segment.

use crate::fs::{FaultFs, FaultKind};
use crate::{Db, Options};
use std::sync::Arc;

#[test]
fn failed_manifest_roll_refuses_later_edits_so_no_wal_is_deleted_behind_current() {
    let fs = FaultFs::new();
    let opts = || Options {
        fs: Arc::new(fs.clone()),
        memtable_size_bytes: 1 << 20,
        ..Options::default()
    };
    let db = Db::open("/roll", opts()).unwrap();
    for i in 0..50 {
        db.put(format!("k{i:02}").as_bytes(), b"v").unwrap();
    }
    let inner = &db.inner;
    {
        let mut vs = inner.versions.lock();
        // The roll syncs the new manifest, then CURRENT's temporary file, then the directory:
        // only that third sync fails.
        fs.inject_once(FaultKind::Sync, 2);
        let e = inner.roll_manifest(&mut vs).unwrap_err();
        inner.poison_for("manifest roll failed", &e);
    }
    // A flush that was already under way when the roll failed (poisoned, the flush thread
    // starts no new one, so this test runs it by hand).
    {
        let mut w = inner.queue.writer.lock();
        inner.switch_memtable(&mut w).unwrap();
    }
    assert!(
        inner.flush_oldest().is_err(),
        "a flush must not append to a manifest that CURRENT may no longer name"
    );
    fs.crash(None);
    drop(db);
    let db = Db::open("/roll", opts()).expect("reopen after the failed roll");
    let n = db.scan::<Vec<u8>>(..).unwrap().count();
    assert_eq!(n, 50, "every acknowledged write survives");
}
