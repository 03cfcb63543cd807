//! Disk full: writes fail cleanly with a disk-full error, reads keep working, and writes resume
//! by themselves once space returns — without a restart and without losing or resurrecting
//! anything, including across a crash during or after the resumption.

mod common;

use common::{dump, fault_options};
use kvstore_engine::fs::{FaultFs, FileSystem};
use kvstore_engine::Db;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

fn fill(db: &Db, model: &mut BTreeMap<Vec<u8>, Vec<u8>>, from: usize, n: usize) -> usize {
    for i in from..from + n {
        let k = format!("k{:05}", i % 700).into_bytes();
        let v = vec![(i % 251) as u8; 150];
        match db.put(&k, &v) {
            Ok(()) => {
                model.insert(k, v);
            }
            Err(e) => {
                assert!(e.is_disk_full(), "write failed with {e}, not disk full");
                return i - from;
            }
        }
    }
    n
}

/// Retries a write until the engine has resumed (it retries the resumption at most once a
/// second).
fn write_when_resumed(db: &Db, k: &[u8], v: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match db.put(k, v) {
            Ok(()) => return,
            Err(e) if Instant::now() < deadline => {
                assert!(e.is_disk_full(), "{e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("writes never resumed: {e}"),
        }
    }
}

#[test]
fn writes_resume_after_space_returns() {
    let fs = FaultFs::new();
    let dir = Path::new("/full");
    let db = Db::open(dir, fault_options(&fs)).unwrap();
    let mut model = BTreeMap::new();
    fill(&db, &mut model, 0, 300);
    // Leave a little room so the failure lands somewhere inside the next writes, flushes or
    // compactions.
    let used: u64 = fs.total_bytes();
    fs.set_capacity(Some(used + 20_000));
    let written = fill(&db, &mut model, 300, 5_000);
    assert!(written < 5_000, "the disk never filled");
    assert!(db.health().is_err());
    // A compaction still running can delete its inputs and make room, and then the next write
    // rightly resumes by itself: to check that writes keep failing while the disk is full, it
    // must stay full whatever background work deletes.
    fs.set_capacity(Some(0));
    // Past the once-a-second limit, so this write does try to resume, and that must fail too.
    std::thread::sleep(Duration::from_millis(1100));
    assert!(db.put(b"x", b"y").unwrap_err().is_disk_full());
    // Reads are still served.
    assert_eq!(dump(&db), model);

    fs.set_capacity(None);
    write_when_resumed(&db, b"after", b"resume");
    model.insert(b"after".to_vec(), b"resume".to_vec());
    assert!(db.health().is_ok());
    fill(&db, &mut model, 6_000, 300);
    assert_eq!(dump(&db), model);

    // Everything survives a crash after the resumption.
    fs.crash(None);
    drop(db);
    let db = Db::open(dir, fault_options(&fs)).unwrap();
    assert_eq!(dump(&db), model);
}

#[test]
fn crash_while_disk_is_full_recovers_every_acknowledged_write() {
    let fs = FaultFs::new();
    let dir = Path::new("/full2");
    let db = Db::open(dir, fault_options(&fs)).unwrap();
    let mut model = BTreeMap::new();
    fill(&db, &mut model, 0, 200);
    fs.set_capacity(Some(fs.total_bytes() + 5_000));
    fill(&db, &mut model, 200, 5_000);
    fs.crash(None);
    drop(db);
    fs.set_capacity(None);
    let db = Db::open(dir, fault_options(&fs)).unwrap();
    assert_eq!(dump(&db), model);
}

/// The disk fills at many different points (inside WAL appends, flushes, compactions, manifest
/// edits); each time writes must resume, or a crash-and-reopen must recover, with exactly the
/// acknowledged writes.
#[test]
fn disk_full_at_many_points_then_resume_or_crash() {
    for (i, extra) in (0..40u64).map(|i| (i, 300 + i * 977)) {
        let fs = FaultFs::new();
        let dir = Path::new("/sweep");
        let db = Db::open(dir, fault_options(&fs)).unwrap();
        let mut model = BTreeMap::new();
        fill(&db, &mut model, 0, 100);
        fs.set_capacity(Some(fs.total_bytes() + extra));
        fill(&db, &mut model, 100, 3_000);
        if i % 2 == 0 {
            fs.set_capacity(None);
            write_when_resumed(&db, b"after", b"resume");
            model.insert(b"after".to_vec(), b"resume".to_vec());
            fill(&db, &mut model, 4_000, 200);
            assert_eq!(dump(&db), model, "point {i}: state after resume");
        }
        fs.crash(None);
        drop(db);
        fs.set_capacity(None);
        let db = Db::open(dir, fault_options(&fs))
            .unwrap_or_else(|e| panic!("point {i}: reopen failed: {e}"));
        assert_eq!(dump(&db), model, "point {i}: recovered state");
    }
}

/// The disk fills in the middle of a WAL append, leaving a partial record; once space returns
/// the resumption must move writes to a new segment (never append after the partial record)
/// and flush what the failed segment held before accepting writes: later writes, a power cut
/// and a reopen keep every acknowledged write.
#[test]
fn writes_after_a_partial_wal_record_go_to_a_new_segment() {
    let fs = FaultFs::new();
    let dir = Path::new("/partial");
    let opts = || kvstore_engine::Options {
        memtable_size_bytes: 1 << 20,
        ..fault_options(&fs)
    };
    let db = Db::open(dir, opts()).unwrap();
    let mut model = BTreeMap::new();
    fill(&db, &mut model, 0, 50);
    // Room for part of one record only.
    fs.set_capacity(Some(fs.total_bytes() + 40));
    assert_eq!(
        fill(&db, &mut model, 50, 10),
        0,
        "the first write must fail"
    );
    fs.set_capacity(None);
    assert!(db.resume().unwrap(), "writes resumed");
    // Before it accepts a write, the resumption has flushed everything the failed segment
    // held: nothing frozen is left, and only the new segment remains.
    assert_eq!(db.stats().immutable_memtables, 0);
    let logs = fs
        .list_dir(dir)
        .unwrap()
        .into_iter()
        .filter(|f| f.ends_with(".log"))
        .count();
    assert_eq!(logs, 1, "the failed segment outlived the resumption");
    db.put(b"after", b"resume").unwrap();
    model.insert(b"after".to_vec(), b"resume".to_vec());
    fill(&db, &mut model, 100, 50);
    fs.crash(None);
    drop(db);
    let db = Db::open(dir, opts()).unwrap_or_else(|e| panic!("reopen failed: {e}"));
    assert_eq!(dump(&db), model);
}
