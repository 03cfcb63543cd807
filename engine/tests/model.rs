//! Property test: random operation sequences against a `BTreeMap` model, including range
//! deletes, flushes, compactions, snapshots and reopens.

mod common;

use common::{dump, fault_options};
use kvstore_engine::fs::FaultFs;
use kvstore_engine::{Db, WriteBatch};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone)]
enum Op {
    Put(u8, Vec<u8>),
    Delete(u8),
    /// Deletes `[a, b)`.
    DeleteRange(u8, u8),
    Batch(Vec<(u8, Option<Vec<u8>>)>),
    /// A batch with a range delete in the middle: the puts before it are hidden, not those
    /// after it.
    BatchAroundRange(Vec<(u8, Vec<u8>)>, u8, u8, Vec<(u8, Vec<u8>)>),
    Get(u8),
    Scan(u8, u8),
    Snapshot,
    CheckSnapshots,
    Flush,
    Compact,
    Reopen,
}

fn key(k: u8) -> Vec<u8> {
    format!("key{k:03}").into_bytes()
}

fn op() -> impl Strategy<Value = Op> {
    let val = proptest::collection::vec(any::<u8>(), 0..300);
    prop_oneof![
        30 => (0u8..60, val.clone()).prop_map(|(k, v)| Op::Put(k, v)),
        8 => (0u8..60).prop_map(Op::Delete),
        2 => (0u8..60, 1u8..20).prop_map(|(a, n)| Op::DeleteRange(a, a.saturating_add(n))),
        1 => (
            proptest::collection::vec((0u8..60, val.clone()), 0..4),
            0u8..60,
            1u8..20,
            proptest::collection::vec((0u8..60, val.clone()), 0..4)
        )
            .prop_map(|(pre, a, n, post)| Op::BatchAroundRange(pre, a, a.saturating_add(n), post)),
        6 => proptest::collection::vec((0u8..60, proptest::option::of(val)), 1..8).prop_map(Op::Batch),
        10 => (0u8..60).prop_map(Op::Get),
        4 => (0u8..60, 0u8..60).prop_map(|(a, b)| Op::Scan(a.min(b), a.max(b))),
        2 => Just(Op::Snapshot),
        2 => Just(Op::CheckSnapshots),
        2 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

fn run(ops: Vec<Op>) {
    let fs = FaultFs::new();
    let dir = Path::new("/model");
    let mut db = Db::open(dir, fault_options(&fs)).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut snaps = Vec::new();
    for op in ops {
        match op {
            Op::Put(k, v) => {
                db.put(&key(k), &v).unwrap();
                model.insert(key(k), v);
            }
            Op::Delete(k) => {
                db.delete(&key(k)).unwrap();
                model.remove(&key(k));
            }
            Op::DeleteRange(a, b) => {
                db.delete_range(&key(a), &key(b)).unwrap();
                model.retain(|k, _| !(key(a) <= *k && *k < key(b)));
            }
            Op::BatchAroundRange(pre, a, b, post) => {
                let mut batch = WriteBatch::new();
                for (k, v) in pre {
                    batch.put(key(k), &v);
                    model.insert(key(k), v);
                }
                batch.delete_range(key(a), key(b));
                model.retain(|k, _| !(key(a) <= *k && *k < key(b)));
                for (k, v) in post {
                    batch.put(key(k), &v);
                    model.insert(key(k), v);
                }
                db.write(batch).unwrap();
            }
            Op::Batch(items) => {
                let mut b = WriteBatch::new();
                for (k, v) in items {
                    match v {
                        Some(v) => {
                            b.put(key(k), &v);
                            model.insert(key(k), v);
                        }
                        None => {
                            b.delete(key(k));
                            model.remove(&key(k));
                        }
                    }
                }
                db.write(b).unwrap();
            }
            Op::Get(k) => assert_eq!(db.get(&key(k)).unwrap(), model.get(&key(k)).cloned()),
            Op::Scan(a, b) => {
                let got: Vec<_> = db
                    .scan(key(a)..key(b))
                    .unwrap()
                    .map(|r| r.unwrap())
                    .collect();
                let want: Vec<_> = model
                    .range(key(a)..key(b))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(got, want);
                // The borrowing cursor yields the same entries.
                let mut it = db.scan(key(a)..key(b)).unwrap();
                let mut got_ref = Vec::new();
                while let Some(kv) = it.next_ref() {
                    let (k, v) = kv.unwrap();
                    got_ref.push((k.to_vec(), v.to_vec()));
                }
                assert_eq!(got_ref, want);
            }
            Op::Snapshot => snaps.push((db.snapshot(), model.clone())),
            Op::CheckSnapshots => {
                for (s, m) in &snaps {
                    let got: BTreeMap<_, _> =
                        s.scan::<Vec<u8>>(..).unwrap().map(|r| r.unwrap()).collect();
                    assert_eq!(&got, m);
                    for k in m.keys().take(5) {
                        assert_eq!(s.get(k).unwrap().as_ref(), m.get(k));
                    }
                }
            }
            Op::Flush => db.flush().unwrap(),
            Op::Compact => db.compact_range(None, None).unwrap(),
            Op::Reopen => {
                snaps.clear();
                db.close().unwrap();
                drop(db);
                db = Db::open(dir, fault_options(&fs)).unwrap();
            }
        }
    }
    assert_eq!(dump(&db), model);
    db.close().unwrap();
    drop(db);
    let db = Db::open(dir, fault_options(&fs)).unwrap();
    assert_eq!(dump(&db), model);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn engine_matches_btreemap_model(ops in proptest::collection::vec(op(), 1..250)) {
        run(ops);
    }
}
