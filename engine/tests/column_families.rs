//! Column families: atomic batches across them, persistence of their names and data across a
//! reopen, and a clear error for a handle the database does not know.

mod common;

use common::fault_options;
use kvstore_engine::fs::FaultFs;
use kvstore_engine::{Db, Error, WriteBatch};
use std::path::Path;

#[test]
fn batches_span_column_families_and_survive_reopen() {
    let fs = FaultFs::new();
    let dir = Path::new("/cf");
    let db = Db::open(dir, fault_options(&fs)).unwrap();
    let idx = db.create_cf("index").unwrap();
    assert_eq!(db.create_cf("index").unwrap(), idx);
    let mut b = WriteBatch::new();
    b.put(b"doc", b"hello");
    b.put_cf(&idx, b"hello", b"doc");
    db.write(b).unwrap();
    db.close().unwrap();
    drop(db);

    let db = Db::open(dir, fault_options(&fs)).unwrap();
    let idx = db.cf("index").expect("column family persisted");
    assert_eq!(db.get(b"doc").unwrap().as_deref(), Some(&b"hello"[..]));
    assert_eq!(
        db.get_cf(&idx, b"hello").unwrap().as_deref(),
        Some(&b"doc"[..])
    );
    assert_eq!(db.get_cf(&idx, b"doc").unwrap(), None);
}

#[test]
fn a_handle_from_another_database_is_refused_and_nothing_is_written() {
    let (fs1, fs2) = (FaultFs::new(), FaultFs::new());
    let db1 = Db::open(Path::new("/a"), fault_options(&fs1)).unwrap();
    let db2 = Db::open(Path::new("/b"), fault_options(&fs2)).unwrap();
    db2.create_cf("one").unwrap();
    let foreign = db2.create_cf("two").unwrap();
    let mut b = WriteBatch::new();
    b.put(b"k", b"v");
    b.put_cf(&foreign, b"k", b"v");
    assert!(matches!(db1.write(b), Err(Error::ColumnFamilyNotFound(_))));
    assert_eq!(db1.get(b"k").unwrap(), None);
}

/// A delete in a column family removes the key there only — in a batch, alone, and after a
/// reopen — and an empty batch is a no-op: no sequence number, no WAL record, no fsync.
#[test]
fn deletes_in_a_column_family_and_empty_batches() {
    let fs = FaultFs::new();
    let dir = Path::new("/cfdel");
    let db = Db::open(dir, fault_options(&fs)).unwrap();
    let idx = db.create_cf("index").unwrap();
    let mut b = WriteBatch::new();
    for k in [&b"a"[..], b"b", b"c"] {
        b.put(k, b"data");
        b.put_cf(&idx, k, b"index");
    }
    db.write(b).unwrap();
    let mut b = WriteBatch::new();
    b.delete_cf(&idx, b"a");
    db.write(b).unwrap();
    db.delete_cf(&idx, b"b").unwrap();
    assert_eq!(db.get_cf(&idx, b"a").unwrap(), None);
    assert_eq!(db.get_cf(&idx, b"b").unwrap(), None);
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"data"[..]));

    let before = db.stats();
    db.write(WriteBatch::new()).unwrap();
    let after = db.stats();
    assert_eq!(after.last_sequence, before.last_sequence);
    assert_eq!(after.wal_bytes_written, before.wal_bytes_written);
    assert_eq!(after.wal_syncs, before.wal_syncs);
    db.close().unwrap();
    drop(db);

    let db = Db::open(dir, fault_options(&fs)).unwrap();
    let idx = db.cf("index").unwrap();
    assert_eq!(db.get_cf(&idx, b"a").unwrap(), None);
    assert_eq!(db.get_cf(&idx, b"b").unwrap(), None);
    assert_eq!(
        db.get_cf(&idx, b"c").unwrap().as_deref(),
        Some(&b"index"[..])
    );
    assert_eq!(db.get(b"b").unwrap().as_deref(), Some(&b"data"[..]));
}

/// Values far above a megabyte are accepted (the limit is 256 MiB) and read back whole.
#[test]
fn a_value_of_several_megabytes_is_stored_whole() {
    let fs = FaultFs::new();
    let db = Db::open("/big", fault_options(&fs)).unwrap();
    let v: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    db.put(b"big", &v).unwrap();
    assert_eq!(db.get(b"big").unwrap().as_deref(), Some(&v[..]));
}
