//! The in-memory vector index is rebuilt from the `vectors` column family at open, and a
//! document's vector is written with it: after a reopen, or a crash in the middle of a write,
//! every document is found by its own vector and no stale vector is.
mod common;
use common::crash::check_every_cut;
use common::model::{assert_clean, doc, doc_v, Model, Op, DIM};
use common::*;
use kvstore_engine::{Db, Options};
use kvstore_search::Indexer;

fn vec_for(i: usize) -> Vec<f32> {
    let mut v = vec![0.0f32; DIM];
    v[i % DIM] = 1.0;
    v[(i / DIM + 1 + i % DIM) % DIM] += 0.5;
    v
}

/// 40 documents with their own vectors, one deleted.
fn fill() -> Vec<Op> {
    let mut ops: Vec<_> = (0..40)
        .map(|i| Op::Put(doc_v(&format!("k{i}"), "text", vec_for(i))))
        .collect();
    ops.push(Op::Delete("k5".into()));
    ops
}

fn run(ix: &Indexer, m: &mut Model, ops: &[Op]) {
    for op in ops {
        op.apply_to(m);
        op.run(ix).unwrap();
    }
}

fn check(ix: &Indexer, m: &Model) {
    assert_eq!(ix.stats().unwrap().vectors, 39);
    let hits = ix.semantic_search_vector(&vec_for(7), 1).unwrap();
    assert_eq!(hits[0].key, b"k7");
    assert!(ix
        .semantic_search_vector(&vec_for(5), 40)
        .unwrap()
        .iter()
        .all(|h| h.key != b"k5"));
    assert_clean(ix, m, "after the reopen");
}

#[test]
fn reopening_the_indexer_on_the_same_db_rebuilds_vectors() {
    let (_d, db) = db();
    let mut m = Model::new();
    let ix = Indexer::open(db.clone(), hashing_opts(DIM)).unwrap();
    run(&ix, &mut m, &fill());
    drop(ix);
    let ix = Indexer::open(db, hashing_opts(DIM)).unwrap();
    check(&ix, &m);
}

/// On the real disk: close the database, open the directory again.
#[test]
fn reopening_the_database_directory_rebuilds_vectors_and_postings() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Model::new();
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let ix = Indexer::open(db.clone(), hashing_opts(DIM)).unwrap();
        run(&ix, &mut m, &fill());
        run(&ix, &mut m, &[Op::Put(doc("doc", "spark plug"))]);
        drop(ix);
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let ix = Indexer::open(db, hashing_opts(DIM)).unwrap();
    assert_eq!(
        ix.db().get(b"doc").unwrap().as_deref(),
        Some(&b"spark plug"[..])
    );
    assert_eq!(ix.stats().unwrap().vectors, 40);
    assert_eq!(
        keys(&ix.search("\"spark plug\"", 10, false).unwrap()),
        ["doc"]
    );
    let hits = ix.semantic_search_vector(&vec_for(7), 1).unwrap();
    assert_eq!(hits[0].key, b"k7");
    assert_clean(&ix, &m, "after reopening the directory");
}

#[test]
fn a_crash_inside_a_vector_write_keeps_each_document_with_its_own_vector() {
    let setup: Vec<Op> = (0..6)
        .map(|i| Op::Put(doc_v(&format!("k{i}"), "wing", vec_for(i))))
        .collect();
    let steps = [
        // A new text and a new vector for an existing document.
        Op::Put(doc_v("k1", "spark plug", vec_for(20))),
        // The same text, a new vector.
        Op::Put(doc_v("k2", "wing", vec_for(21))),
        // The embedder's vector replaces a supplied one.
        Op::Put(doc("k3", "heat shield")),
        Op::Delete("k4".into()),
        Op::PutMany(vec![
            doc_v("k0", "flow", vec_for(22)),
            doc_v("new", "plate", vec_for(23)),
        ]),
    ];
    for (seed, step) in steps.into_iter().enumerate() {
        let mut history = setup.clone();
        history.push(step);
        let r = check_every_cut(&history, setup.len(), 20 + seed as u64);
        assert!(r.lost > 0 && r.survived > 0, "{r:?}");
    }
}
