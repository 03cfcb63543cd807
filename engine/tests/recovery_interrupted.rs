//! Recovery is idempotent under crashes: an open, or a disk-full resumption, interrupted at any
//! fsync, directory sync or append — by a failure, a full disk or a power cut, and then again
//! during the next open — never leaves a database that a later open refuses, nor one that lost
//! an acknowledged write or kept a torn one.
//!
//! Each case is rebuilt from scratch on a fresh in-memory file system for every fault point, so
//! a failure names the exact point (`sync N`, `write N`, `space N`) and replays alone.

mod common;

use common::{apply, dump, fault_options, Model};
use kvstore_engine::fs::{FaultFs, FaultKind, FileSystem};
use kvstore_engine::{Db, Options, WriteBatch};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::path::{Path, PathBuf};

const DIR: &str = "/db";

/// Where an open (or a resumption) is made to fail.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// The N-th sync (file or directory) from now fails, and every later one (a dying disk).
    Sync(u64),
    /// The N-th append from now fails, and every later one.
    Write(u64),
    /// Appends fail with "no space" once the files hold N more bytes than now.
    Space(u64),
}

fn arm(fs: &FaultFs, f: Fault) {
    match f {
        Fault::Sync(n) => fs.inject(FaultKind::Sync, n),
        Fault::Write(n) => fs.inject(FaultKind::Write, n),
        Fault::Space(n) => fs.set_capacity(Some(fs.total_bytes() + n)),
    }
}

/// Options with a memtable large enough that the setup's writes stay in the WAL (so an open
/// has a recovered memtable to flush).
fn wal_only(fs: &FaultFs) -> Options {
    Options {
        memtable_size_bytes: 1 << 20,
        ..fault_options(fs)
    }
}

fn newest_wal(fs: &FaultFs) -> PathBuf {
    let mut logs: Vec<String> = fs
        .list_dir(Path::new(DIR))
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".log"))
        .collect();
    logs.sort();
    Path::new(DIR).join(logs.last().expect("a WAL segment"))
}

/// 20 durable puts, then one put with `sync = false`, then a power cut that keeps part of that
/// last record, damaged: the newest WAL segment ends in a torn tail. Returns the acknowledged
/// state (the torn put is not in it).
fn torn_tail_case(fs: &FaultFs) -> Model {
    let db = Db::open(DIR, wal_only(fs)).unwrap();
    let mut model = Model::new();
    for i in 0..20 {
        let (k, v) = (format!("k{i:02}"), format!("value {i}"));
        db.put(k.as_bytes(), v.as_bytes()).unwrap();
        model.insert(k.into_bytes(), v.into_bytes());
    }
    let wal = newest_wal(fs);
    let synced_len = fs.file_len(&wal).unwrap();
    let mut b = WriteBatch::new();
    b.put(b"unsynced", vec![7u8; 40]);
    db.write_opt(b, false).unwrap();
    // Seed 3 keeps a non-empty part of the unsynced record (checked below).
    fs.crash(Some(&mut StdRng::seed_from_u64(3)));
    drop(db);
    assert!(
        fs.file_len(&wal).unwrap() > synced_len,
        "the crash did not tear the tail"
    );
    model
}

/// Opens with `fault` armed; whether or not that open succeeds, power is then cut. Returns
/// whether the open succeeded.
fn interrupted_open(fs: &FaultFs, fault: Fault) -> bool {
    arm(fs, fault);
    let opened = match Db::open(DIR, wal_only(fs)) {
        Ok(db) => {
            fs.crash(None);
            drop(db);
            true
        }
        Err(_) => {
            fs.crash(None);
            false
        }
    };
    fs.clear_faults();
    opened
}

fn assert_opens_with(fs: &FaultFs, model: &Model, what: &str) {
    let db = Db::open(DIR, wal_only(fs)).unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    assert_eq!(&dump(&db), model, "{what}: recovered state");
    db.close().unwrap();
    // And once more, after a clean close: still the same.
    let db = Db::open(DIR, wal_only(fs)).unwrap_or_else(|e| panic!("{what}: 2nd reopen: {e}"));
    assert_eq!(&dump(&db), model, "{what}: state after a second open");
}

/// How many syncs a clean open of `make`'s database performs: the fault points to try.
fn syncs_of_clean_open(make: impl Fn(&FaultFs) -> Model) -> u64 {
    let fs = FaultFs::new();
    make(&fs);
    let before = fs.sync_count();
    let db = Db::open(DIR, wal_only(&fs)).unwrap();
    let n = fs.sync_count() - before;
    drop(db);
    n
}

fn every_fault(max_syncs: u64) -> Vec<Fault> {
    let mut v: Vec<Fault> = (0..=max_syncs).map(Fault::Sync).collect();
    v.extend((0..12).map(Fault::Write));
    v.extend((0..40).map(|i| Fault::Space(i * 97)));
    v
}

/// Regression (issue 20, finding 1): a reopen after a torn WAL tail created a new segment and
/// was then interrupted; the torn segment was no longer the newest, and every later open
/// refused it as corruption ("record runs past the end of the file").
#[test]
fn torn_wal_tail_then_interrupted_reopen_still_opens() {
    let syncs = syncs_of_clean_open(torn_tail_case);
    assert!(
        syncs >= 4,
        "a recovering open syncs its WAL, manifest and tables"
    );
    let mut interrupted = 0;
    for f in every_fault(syncs) {
        let fs = FaultFs::new();
        let model = torn_tail_case(&fs);
        if !interrupted_open(&fs, f) {
            interrupted += 1;
        }
        assert_opens_with(&fs, &model, &format!("{f:?}"));
    }
    assert!(
        interrupted > 20,
        "few opens were interrupted: {interrupted}"
    );
}

/// The same, two interrupted opens deep: a failed open, a power cut, another failed open at
/// another point, another power cut, then a clean open.
#[test]
fn torn_wal_tail_then_two_interrupted_reopens_still_opens() {
    let syncs = syncs_of_clean_open(torn_tail_case);
    for first in 0..=syncs {
        for second in [
            Fault::Sync(0),
            Fault::Sync(2),
            Fault::Sync(syncs / 2),
            Fault::Space(300),
        ] {
            let fs = FaultFs::new();
            let model = torn_tail_case(&fs);
            interrupted_open(&fs, Fault::Sync(first));
            interrupted_open(&fs, second);
            assert_opens_with(&fs, &model, &format!("Sync({first}) then {second:?}"));
        }
    }
}

/// Regression (issue 20, finding 1, second form): the disk fills during the recovery flush;
/// space comes back and the database is opened again without any crash.
#[test]
fn disk_full_during_recovery_flush_then_space_returns() {
    for i in 0..40u64 {
        let fs = FaultFs::new();
        let model = torn_tail_case(&fs);
        fs.set_capacity(Some(fs.total_bytes() + i * 97));
        let failed = Db::open(DIR, wal_only(&fs)).is_err();
        fs.clear_faults();
        if failed {
            // A second failed open, then space for good.
            fs.set_capacity(Some(fs.total_bytes() + 50));
            let _ = Db::open(DIR, wal_only(&fs));
            fs.clear_faults();
        }
        assert_opens_with(&fs, &model, &format!("space {}", i * 97));
    }
}

/// A database poisoned by a full disk: `(fs, db, acknowledged state, the write that failed)`.
fn disk_full_case(seed: u64) -> (FaultFs, Db, Model, (Vec<u8>, Vec<u8>)) {
    let fs = FaultFs::new();
    let db = Db::open(DIR, fault_options(&fs)).unwrap();
    let mut model = Model::new();
    let put = |db: &Db, model: &mut Model, i: u64| -> Result<(), (Vec<u8>, Vec<u8>)> {
        let k = format!("k{:03}", (i * 7 + seed) % 300).into_bytes();
        let v = vec![(i % 251) as u8; 120];
        match db.put(&k, &v) {
            Ok(()) => {
                model.insert(k, v);
                Ok(())
            }
            Err(e) => {
                assert!(e.is_disk_full(), "{e}");
                Err((k, v))
            }
        }
    };
    for i in 0..150 {
        put(&db, &mut model, i).unwrap();
    }
    fs.set_capacity(Some(fs.total_bytes() + 3_000 + seed * 1_500));
    for i in 150..10_000 {
        if let Err(failed) = put(&db, &mut model, i) {
            fs.set_capacity(None);
            return (fs, db, model, failed);
        }
    }
    panic!("the disk never filled");
}

/// After a crash during a disk-full episode, the recovered state is the acknowledged one,
/// plus at most the write that failed (its bytes may have reached the disk).
fn check_recovered(fs: &FaultFs, model: &Model, failed: &(Vec<u8>, Vec<u8>), what: &str) {
    let db = Db::open(DIR, fault_options(fs)).unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
    let got = dump(&db);
    let mut with_failed = model.clone();
    with_failed.insert(failed.0.clone(), failed.1.clone());
    assert!(
        &got == model || got == with_failed,
        "{what}: recovered state is neither the acknowledged one nor that plus the failed write"
    );
}

/// Regression (issue 20, finding 2): a disk-full resumption reserved the new WAL segment's
/// number, advanced `log_number` to it in the manifest, and created it only afterwards; an
/// interruption in between left a manifest naming a missing segment ("the manifest lost an
/// edit"), and the database never opened again.
#[test]
fn interrupted_disk_full_resumption_leaves_an_openable_database() {
    let faults: Vec<Fault> = (0..24)
        .map(Fault::Sync)
        .chain((0..8).map(Fault::Write))
        .chain((0..20).map(|i| Fault::Space(i * 211)))
        .collect();
    for seed in 0..3 {
        for &f in &faults {
            let (fs, db, model, failed) = disk_full_case(seed);
            arm(&fs, f);
            let _ = db.resume();
            fs.crash(None);
            drop(db);
            fs.clear_faults();
            check_recovered(&fs, &model, &failed, &format!("seed {seed}, {f:?}"));
        }
    }
}

/// A resumption interrupted by a power cut with torn tails, then an interrupted open, then a
/// clean one.
#[test]
fn interrupted_resumption_then_interrupted_open() {
    for seed in 0..3 {
        for n in (0..16).step_by(3) {
            for m in [0, 1, 3, 6] {
                let (fs, db, model, failed) = disk_full_case(seed);
                fs.inject(FaultKind::Sync, n);
                let _ = db.resume();
                fs.crash(Some(&mut StdRng::seed_from_u64(seed * 100 + n)));
                drop(db);
                fs.clear_faults();
                fs.inject(FaultKind::Sync, m);
                if let Ok(db) = Db::open(DIR, fault_options(&fs)) {
                    fs.crash(None);
                    drop(db);
                } else {
                    fs.crash(None);
                }
                fs.clear_faults();
                check_recovered(&fs, &model, &failed, &format!("seed {seed}, {n}, then {m}"));
            }
        }
    }
}

/// The tolerance is exactly that: a torn segment followed by a segment holding records is
/// damage, not a crash, and is refused naming the torn segment.
#[test]
fn a_torn_segment_followed_by_records_is_still_corruption() {
    let fs = FaultFs::new();
    torn_tail_case(&fs);
    let torn = newest_wal(&fs);
    let bytes = fs.read_all(&torn).unwrap();
    let later = Path::new(DIR).join("000099.log");
    let mut f = fs.create(&later).unwrap();
    f.append(&bytes).unwrap();
    f.sync().unwrap();
    fs.sync_dir(Path::new(DIR)).unwrap();
    let e = Db::open(DIR, wal_only(&fs)).err().expect("open must fail");
    assert!(e.is_corruption(), "{e}");
    let name = torn.file_name().unwrap().to_str().unwrap();
    assert!(e.to_string().contains(name), "{e}");
}

/// One transient failure (a single fsync or directory sync fails, later ones succeed) at every
/// sync point of a workload whose flushes, compactions and manifest rolls never stop; then a
/// power cut with torn tails, then a reopen: exactly the acknowledged writes, plus at most the
/// one in flight. A transient failure is the dangerous kind: the engine must not go on as if
/// the failed step had happened (a manifest roll whose directory sync failed, finding 4).
#[test]
fn transient_sync_failure_at_every_point_of_flush_compaction_and_manifest_roll() {
    let opts = |fs: &FaultFs| Options {
        max_manifest_bytes: 1024,
        ..fault_options(fs)
    };
    let mut rolled = false;
    for n in 0..240u64 {
        let fs = FaultFs::new();
        let db = Db::open(DIR, opts(&fs)).unwrap();
        let first_manifest = manifest_name(&fs);
        let mut rng = StdRng::seed_from_u64(n);
        let mut model = Model::new();
        fs.inject_once(FaultKind::Sync, n);
        let mut in_flight = None;
        for _ in 0..150 {
            let (b, ops) = common::random_batch(&mut rng, 60, 100..1200);
            match db.write(b) {
                Ok(()) => apply(&mut model, &ops),
                Err(_) => {
                    in_flight = Some(ops);
                    break;
                }
            }
        }
        rolled |= manifest_name(&fs) != first_manifest;
        fs.crash(Some(&mut rng));
        drop(db);
        let db = Db::open(DIR, opts(&fs)).unwrap_or_else(|e| panic!("sync {n}: reopen: {e}"));
        let got = dump(&db);
        let mut with = model.clone();
        if let Some(ops) = &in_flight {
            apply(&mut with, ops);
        }
        assert!(got == model || got == with, "sync {n}: recovered state");
    }
    assert!(rolled, "the workload never rolled the manifest");
}

/// Keys `k000`..`k299`, each 50 bytes of `fill`, then a clean close (after a flush if `flush`).
fn write_300_keys_and_close(fs: &FaultFs, fill: u8, flush: bool) {
    let db = Db::open(DIR, fault_options(fs)).unwrap();
    for i in 0..300u32 {
        db.put(format!("k{i:03}").as_bytes(), &[fill; 50]).unwrap();
    }
    if flush {
        db.flush().unwrap();
    }
    db.close().unwrap();
}

fn manifest_name(fs: &FaultFs) -> Option<String> {
    fs.list_dir(Path::new(DIR))
        .unwrap()
        .into_iter()
        .find(|f| f.starts_with("MANIFEST"))
}

/// A first open interrupted at any sync point leaves no acknowledged data, and the next open
/// creates the database as if nothing had happened.
#[test]
fn an_interrupted_first_open_leaves_a_creatable_directory() {
    for n in 0..10 {
        let fs = FaultFs::new();
        fs.inject(FaultKind::Sync, n);
        let opened = Db::open(DIR, fault_options(&fs));
        fs.crash(None);
        drop(opened);
        fs.clear_faults();
        let db = Db::open(DIR, fault_options(&fs))
            .unwrap_or_else(|e| panic!("sync {n}: the next open failed: {e}"));
        db.put(b"k", b"v").unwrap();
    }
}

/// Without `CURRENT` a directory holding data is not a new database: creating one there would
/// delete the tables and segments as unreferenced. The open is refused, naming `CURRENT`, and
/// nothing is deleted.
#[test]
fn a_missing_current_over_data_is_refused_not_wiped() {
    let fs = FaultFs::new();
    write_300_keys_and_close(&fs, 1, false);
    let current = Path::new(DIR).join("CURRENT");
    fs.remove_file(&current).unwrap();
    let before = fs.list_dir(Path::new(DIR)).unwrap();
    let e = Db::open(DIR, fault_options(&fs))
        .err()
        .expect("open must fail");
    assert!(
        e.is_corruption() && e.to_string().contains("CURRENT"),
        "{e}"
    );
    assert_eq!(
        fs.list_dir(Path::new(DIR)).unwrap(),
        before,
        "files were touched"
    );
}

/// Either kind of data alone is enough to refuse: tables with no WAL record left, or WAL
/// records with no table yet. (Empty segments alone are what an interrupted first open
/// leaves: `an_interrupted_first_open_leaves_a_creatable_directory`.)
#[test]
fn tables_alone_or_wal_records_alone_without_current_are_refused() {
    let current = Path::new(DIR).join("CURRENT");
    // Tables only.
    let fs = FaultFs::new();
    write_300_keys_and_close(&fs, 1, false);
    fs.remove_file(&current).unwrap();
    for name in fs.list_dir(Path::new(DIR)).unwrap() {
        if name.ends_with(".log") {
            fs.remove_file(&Path::new(DIR).join(name)).unwrap();
        }
    }
    let e = Db::open(DIR, fault_options(&fs))
        .err()
        .expect("tables alone");
    assert!(e.to_string().contains(".sst"), "{e}");

    // WAL records only: acknowledged writes not yet flushed.
    let fs = FaultFs::new();
    let db = Db::open(DIR, fault_options(&fs)).unwrap();
    db.put(b"k", b"acknowledged").unwrap();
    fs.crash(None);
    drop(db);
    assert!(!fs
        .list_dir(Path::new(DIR))
        .unwrap()
        .iter()
        .any(|n| n.ends_with(".sst")));
    fs.remove_file(&current).unwrap();
    let e = Db::open(DIR, fault_options(&fs))
        .err()
        .expect("WAL records alone");
    assert!(e.to_string().contains(".log"), "{e}");
}

/// Open removes what no version references — a table whose flush or compaction never reached
/// the manifest, WAL segments below the manifest's `log_number`, older manifests, temporary
/// files — and keeps everything live.
#[test]
fn open_removes_files_no_version_references() {
    let fs = FaultFs::new();
    // Flushed first: the reopen then recovers nothing and flushes nothing (a flush at open
    // would delete the old segments by itself).
    write_300_keys_and_close(&fs, 2, true);
    let junk = [
        "000098.sst",
        "000000.log",
        "MANIFEST-000000",
        "000097.dbtmp",
    ];
    for name in junk {
        common::leave_file(&fs, DIR, name, b"left behind");
    }

    let db = Db::open(DIR, fault_options(&fs)).unwrap();
    let names = fs.list_dir(Path::new(DIR)).unwrap();
    for name in junk {
        assert!(!names.iter().any(|n| n == name), "{name} kept: {names:?}");
    }
    assert_eq!(db.get(b"k150").unwrap().as_deref(), Some(&[2u8; 50][..]));
    assert!(names.iter().any(|n| n.ends_with(".sst")));
    // The segment the reopened database writes to is live: a write acknowledged now survives
    // a power cut.
    db.put(b"after", b"reopen").unwrap();
    // The file system may make the removals durable at any moment.
    fs.sync_dir(Path::new(DIR)).unwrap();
    fs.crash(None);
    drop(db);
    let db = Db::open(DIR, fault_options(&fs)).unwrap();
    assert_eq!(db.get(b"after").unwrap().as_deref(), Some(&b"reopen"[..]));
}

/// A file number names one file ever (`docs/formats/wal.md`): a file a crash left behind with a
/// number the manifest never recorded (created before its edit was durable) is not reused —
/// the next files are numbered past it.
#[test]
fn numbers_of_files_left_by_a_crash_are_not_reused() {
    let fs = FaultFs::new();
    let db = Db::open(DIR, fault_options(&fs)).unwrap();
    db.put(b"k", b"v").unwrap();
    db.close().unwrap();
    drop(db);
    common::leave_file(&fs, DIR, "000099.sst", b"an unfinished table");

    let db = Db::open(DIR, fault_options(&fs)).unwrap();
    db.put(b"k2", b"v").unwrap();
    let numbers: Vec<u64> = fs
        .list_dir(Path::new(DIR))
        .unwrap()
        .iter()
        .filter_map(|n| n.strip_suffix(".log").and_then(|n| n.parse().ok()))
        .collect();
    assert!(
        !numbers.is_empty() && numbers.iter().all(|&n| n > 99),
        "WAL segments {numbers:?} reuse numbers up to a crashed file's 99"
    );
}
