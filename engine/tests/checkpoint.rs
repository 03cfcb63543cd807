//! Checkpoints: taken while writes, flushes and compactions go on, a checkpoint opens as exactly
//! the source at its sequence number — every column family, range tombstones included — stays
//! valid whatever the source does next, survives a power cut once returned, and
//! `verify_checkpoint` refuses a damaged or incomplete copy naming the file.

mod common;

use common::{apply, dump, fault_options, small_options, Model};
use kvstore_engine::fs::{FaultFs, FileSystem, StdFs};
use kvstore_engine::{verify_checkpoint, Db, Error, Options};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

type Op = (Vec<u8>, Option<Vec<u8>>);

#[test]
fn a_checkpoint_taken_under_writes_opens_as_the_source_at_its_sequence() {
    for round in 0..3u64 {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let db = Db::open(
            &src,
            Options {
                sync: false,
                ..small_options()
            },
        )
        .unwrap();
        let base = db.stats().last_sequence;
        let stop = Arc::new(AtomicBool::new(false));
        // One writer, one entry per write: write i has sequence base + 1 + i.
        let writer = {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(round);
                let mut ops: Vec<Op> = Vec::new();
                while !stop.load(Ordering::Relaxed) || ops.len() < 2_000 {
                    let k = format!("k{:03}", rng.gen_range(0..300)).into_bytes();
                    if rng.gen_bool(0.1) {
                        db.delete(&k).unwrap();
                        ops.push((k, None));
                    } else {
                        let v = vec![rng.gen::<u8>(); rng.gen_range(1..200)];
                        db.put(&k, &v).unwrap();
                        ops.push((k, Some(v)));
                    }
                }
                ops
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(150 + 100 * round));
        let cp = db.checkpoint(tmp.path().join("cp")).unwrap();
        stop.store(true, Ordering::Relaxed);
        let ops = writer.join().unwrap();
        let n = (cp.seq - base) as usize;
        assert!(
            n > 0 && n < ops.len(),
            "round {round}: checkpoint at write {n} of {}",
            ops.len()
        );
        let mut at_cp = Model::new();
        apply(&mut at_cp, &ops[..n]);
        let mut now = at_cp.clone();
        apply(&mut now, &ops[n..]);
        assert!(db.stats().flushes > 3, "the copy raced no flush");

        let verified = verify_checkpoint(&StdFs, &tmp.path().join("cp")).unwrap();
        assert_eq!(verified.seq, cp.seq);
        let copy = Db::open(tmp.path().join("cp"), small_options()).unwrap();
        assert_eq!(
            dump(&copy),
            at_cp,
            "round {round}: the checkpoint at write {n}"
        );
        assert_eq!(dump(&db), now, "the source goes on");
        // The source compacting and deleting its files does not touch the copy's links.
        db.compact_range(None, None).unwrap();
        drop(db);
        std::fs::remove_dir_all(&src).unwrap();
        assert_eq!(dump(&copy), at_cp);
        copy.put(b"new", b"write").unwrap();
    }
}

#[test]
fn every_column_family_and_range_tombstone_is_in_the_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path().join("src"), small_options()).unwrap();
    let docs = db.create_cf("docs").unwrap();
    for i in 0..300u32 {
        db.put(format!("a{i:03}").as_bytes(), b"x").unwrap();
        db.put_cf(&docs, format!("d{i:03}").as_bytes(), b"y")
            .unwrap();
    }
    db.flush().unwrap();
    db.delete_range(b"a100", b"a200").unwrap();
    db.delete_range_cf(&docs, b"d000", b"d050").unwrap();
    db.put(b"a150", b"after").unwrap();
    let cp = db.checkpoint(tmp.path().join("cp")).unwrap();
    assert!(cp.files.iter().any(|f| f.ends_with(".sst")));
    let copy = Db::open(tmp.path().join("cp"), small_options()).unwrap();
    assert_eq!(dump(&copy), dump(&db));
    let cdocs = copy.cf("docs").expect("the docs column family");
    let all = |d: &Db, cf| -> Vec<_> {
        d.scan_cf::<Vec<u8>>(cf, ..)
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    let want: Vec<(Vec<u8>, Vec<u8>)> = all(&db, &docs);
    assert_eq!(all(&copy, &cdocs), want);
    assert_eq!(want.len(), 250);
    assert_eq!(copy.get(b"a150").unwrap(), Some(b"after".to_vec()));
    assert_eq!(copy.get(b"a151").unwrap(), None);
}

#[test]
fn a_returned_checkpoint_survives_a_power_cut() {
    let fs = FaultFs::new();
    let db = Db::open("/src", fault_options(&fs)).unwrap();
    let mut model = Model::new();
    for i in 0..500u32 {
        let (k, v) = (format!("k{i:03}").into_bytes(), vec![i as u8; 50]);
        db.put(&k, &v).unwrap();
        model.insert(k, v);
    }
    db.checkpoint("/cp").unwrap();
    fs.crash(None);
    drop(db);
    verify_checkpoint(&fs, Path::new("/cp")).unwrap();
    let copy = Db::open("/cp", fault_options(&fs)).unwrap();
    assert_eq!(dump(&copy), model);
}

#[test]
fn a_damaged_or_incomplete_checkpoint_is_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path().join("src"), small_options()).unwrap();
    for i in 0..400u32 {
        db.put(format!("k{i:03}").as_bytes(), &[7u8; 60]).unwrap();
    }
    let cp = db.checkpoint(tmp.path().join("cp")).unwrap();
    let table = cp
        .files
        .iter()
        .find(|f| f.ends_with(".sst"))
        .unwrap()
        .clone();
    let wal = cp
        .files
        .iter()
        .find(|f| f.ends_with(".log"))
        .unwrap()
        .clone();
    let fresh = |name: &str| {
        let d = tmp.path().join(name);
        std::fs::create_dir(&d).unwrap();
        for f in &cp.files {
            std::fs::copy(tmp.path().join("cp").join(f), d.join(f)).unwrap();
        }
        d
    };
    let refused = |d: &Path, file: &str| {
        let e = verify_checkpoint(&StdFs, d).unwrap_err();
        assert!(e.to_string().contains(file), "{e} does not name {file}");
    };

    let d = fresh("flipped");
    let p = d.join(&table);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[40] ^= 0x40;
    std::fs::write(&p, bytes).unwrap();
    refused(&d, &table);

    let d = fresh("cut-wal");
    let p = d.join(&wal);
    let len = std::fs::metadata(&p).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    refused(&d, &wal);

    let d = fresh("missing-table");
    std::fs::remove_file(d.join(&table)).unwrap();
    refused(&d, "MANIFEST");

    let d = fresh("no-current");
    std::fs::remove_file(d.join("CURRENT")).unwrap();
    refused(&d, "CURRENT");

    verify_checkpoint(&StdFs, &fresh("intact")).unwrap();
}

#[test]
fn a_checkpoint_into_a_non_empty_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path().join("src"), small_options()).unwrap();
    db.put(b"k", b"v").unwrap();
    let cp = tmp.path().join("cp");
    std::fs::create_dir(&cp).unwrap();
    std::fs::write(cp.join("something"), b"x").unwrap();
    let e = db.checkpoint(&cp).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    assert!(StdFs.exists(&cp.join("something")));
}

/// `verify_checkpoint` reads any database directory (a checkpoint is one): its sequence is that
/// of the last record in the WAL — past the manifest's, which lags until a flush — with
/// multi-entry batches counted whole; and a segment below the manifest's `log_number` (left by
/// a crash before a flush deleted it) is not part of the state: not read, not listed.
#[test]
fn verify_counts_the_wal_past_the_manifest_and_ignores_obsolete_segments() {
    let fs = FaultFs::new();
    let db = Db::open("/db", fault_options(&fs)).unwrap();
    for i in 0..50u32 {
        db.put(format!("a{i:03}").as_bytes(), b"x").unwrap();
    }
    db.flush().unwrap();
    for i in 0..20u32 {
        let mut b = kvstore_engine::WriteBatch::new();
        b.put(format!("b{i:03}"), b"y");
        b.put(format!("c{i:03}"), b"z");
        b.delete(format!("a{i:03}"));
        db.write(b).unwrap();
    }
    let last = db.stats().last_sequence;
    fs.crash(None);
    drop(db);
    common::leave_file(&fs, "/db", "000000.log", b"not a log at all");

    let cp = verify_checkpoint(&fs, Path::new("/db")).unwrap();
    assert_eq!(cp.seq, last);
    assert!(
        !cp.files.iter().any(|f| f == "000000.log"),
        "{:?}",
        cp.files
    );
    let db = Db::open("/db", fault_options(&fs)).unwrap();
    assert_eq!(db.stats().last_sequence, last, "open agrees");
}
