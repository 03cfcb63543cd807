//! `delete_range`: one entry hides a whole key range — in the memtable, after a flush, after
//! compactions, after a reopen or a crash — without hiding what was written after it or what
//! an older snapshot sees; `compact_range` then removes the data and the tombstone itself.

mod common;

use common::{dump, fault_options, small_options};
use kvstore_engine::fs::FaultFs;
use kvstore_engine::{Db, Error, WriteBatch};
use std::collections::BTreeMap;

fn key(i: u32) -> Vec<u8> {
    format!("k{i:04}").into_bytes()
}

/// 400 keys 0..400, values `v{i}`, flushed and compacted to the last level.
fn filled(db: &Db) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut model = BTreeMap::new();
    for i in 0..400 {
        let v = format!("v{i}").into_bytes();
        db.put(&key(i), &v).unwrap();
        model.insert(key(i), v);
    }
    db.compact_range(None, None).unwrap();
    model
}

fn remove_range(model: &mut BTreeMap<Vec<u8>, Vec<u8>>, a: u32, b: u32) {
    model.retain(|k, _| !(key(a) <= *k && *k < key(b)));
}

#[test]
fn a_range_delete_hides_its_range_everywhere_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), small_options()).unwrap();
    let mut model = filled(&db);
    db.delete_range(&key(100), &key(200)).unwrap();
    remove_range(&mut model, 100, 200);
    // Written after the tombstone: visible.
    db.put(&key(150), b"after").unwrap();
    model.insert(key(150), b"after".to_vec());
    let check = |db: &Db, what: &str| {
        assert_eq!(dump(db), model, "{what}: scan");
        for i in [0, 99, 100, 101, 150, 199, 200, 399] {
            assert_eq!(
                db.get(&key(i)).unwrap().as_ref(),
                model.get(&key(i)),
                "{what}: get {i}"
            );
        }
        let cf = db.default_cf();
        let n = db.scan_prefix_cf(&cf, b"k01").unwrap().count();
        assert_eq!(n, 1, "{what}: prefix scan of k01.. finds only k0150");
    };
    check(&db, "in the memtable");
    db.flush().unwrap();
    check(&db, "flushed");
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), small_options()).unwrap();
    check(&db, "reopened");
    db.compact_range(None, None).unwrap();
    check(&db, "compacted");
}

#[test]
fn compact_range_removes_the_hidden_data_and_then_the_tombstone() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), small_options()).unwrap();
    let mut model = filled(&db);
    let before = db.stats().live_sst_bytes;
    db.delete_range(&key(0), &key(300)).unwrap();
    remove_range(&mut model, 0, 300);
    db.flush().unwrap();
    assert_eq!(db.stats().range_tombstones, 1);
    db.compact_range(Some(&key(0)), Some(&key(300))).unwrap();
    let s = db.stats();
    assert_eq!(s.range_tombstones, 0, "the tombstone outlived what it hid");
    assert!(
        s.live_sst_bytes * 2 < before,
        "hidden data not removed: {} of {before} bytes left",
        s.live_sst_bytes
    );
    assert_eq!(dump(&db), model);
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), small_options()).unwrap();
    assert_eq!(dump(&db), model, "after a reopen, without the tombstone");
}

#[test]
fn an_older_snapshot_keeps_seeing_the_range_through_compactions() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), small_options()).unwrap();
    let full = filled(&db);
    let snap = db.snapshot();
    db.delete_range(&key(50), &key(350)).unwrap();
    db.compact_range(None, None).unwrap();
    let seen: BTreeMap<_, _> = snap
        .scan::<Vec<u8>>(..)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(seen, full, "the snapshot lost keys it could see");
    assert_eq!(snap.get(&key(200)).unwrap(), Some(b"v200".to_vec()));
    assert_eq!(db.get(&key(200)).unwrap(), None);
    assert_eq!(
        db.stats().range_tombstones,
        1,
        "still needed by the snapshot"
    );
    drop(snap);
    db.compact_range(None, None).unwrap();
    assert_eq!(db.stats().range_tombstones, 0);
    assert_eq!(db.get(&key(200)).unwrap(), None);
    assert_eq!(db.get(&key(350)).unwrap(), Some(b"v350".to_vec()));
}

#[test]
fn a_range_delete_in_a_batch_is_atomic_and_survives_a_power_cut() {
    let fs = FaultFs::new();
    let db = Db::open("/dr", fault_options(&fs)).unwrap();
    let mut model = filled(&db);
    let cf = db.create_cf("other").unwrap();
    db.put_cf(&cf, &key(120), b"other cf").unwrap();
    let mut b = WriteBatch::new();
    b.put(key(110), b"before the range delete");
    b.delete_range(key(100), key(130));
    b.put(key(120), b"after the range delete");
    db.write(b).unwrap();
    remove_range(&mut model, 100, 130);
    model.insert(key(120), b"after the range delete".to_vec());
    fs.crash(None);
    drop(db);
    let db = Db::open("/dr", fault_options(&fs)).unwrap();
    assert_eq!(dump(&db), model);
    let cf = db.cf("other").unwrap();
    assert_eq!(
        db.get_cf(&cf, &key(120)).unwrap(),
        Some(b"other cf".to_vec()),
        "another column family is untouched"
    );
}

#[test]
fn an_empty_or_reversed_range_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), small_options()).unwrap();
    for (a, b) in [(&b"b"[..], &b"a"[..]), (b"a", b"a")] {
        let e = db.delete_range(a, b).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    }
}
