//! `put_many` (and `put_prepared`) is one batch: all the documents with all their index entries,
//! or nothing — also when the power fails or a write or fsync fails in the middle of it.
mod common;
use common::crash::check_every_cut;
use common::model::{assert_clean, doc, doc_v, dump, Doc, Model, Op, DIM};
use common::*;

/// A store the batch below overwrites in part.
fn setup() -> Vec<Op> {
    vec![
        Op::Put(doc("a", "old wing words")),
        Op::Put(doc("b", "spark plug")),
        Op::Put(doc_v("c", "heat shield", vec![0.5; DIM])),
        Op::Put(doc("keep", "plug flow")),
    ]
}

/// Overwrites (with other terms, with a vector), new documents, a key given twice, an empty
/// text: every kind of change a batch makes to postings, statistics and vectors.
fn batch() -> Vec<Doc> {
    let mut v = vec![0.0; DIM];
    v[3] = 1.0;
    let mut ds = vec![
        doc("a", "new wing flap"),
        doc_v("b", "spark gap", v),
        doc("c", "heat heat"),
        doc("d", "first version"),
        doc("empty", ""),
    ];
    ds.extend((0..8).map(|i| doc(&format!("n{i}"), &format!("shared number{i} wing"))));
    ds.push(doc("d", "second version plug"));
    ds
}

#[test]
fn a_crash_inside_put_many_leaves_all_of_the_batch_or_none() {
    let mut history = setup();
    history.push(Op::PutMany(batch()));
    let r = check_every_cut(&history, setup().len(), 1);
    assert!(r.lost > 0 && r.survived > 0, "{r:?}");
}

#[test]
fn a_crash_inside_put_prepared_leaves_all_of_the_batch_or_none() {
    let mut history = setup();
    history.push(Op::PutPrepared(batch()));
    let r = check_every_cut(&history, setup().len(), 2);
    assert!(r.lost > 0 && r.survived > 0, "{r:?}");
}

#[test]
fn put_many_indexes_everything_like_a_clean_store() {
    let (_d, ix) = indexer();
    let docs: Vec<_> = (0..100)
        .map(|i| doc(&format!("k{i:03}"), &format!("doc number{i} shared")))
        .collect();
    let op = Op::PutMany(docs);
    let mut m = Model::new();
    op.apply_to(&mut m);
    op.run(&ix).unwrap();
    assert_eq!(ix.search("shared", 1000, false).unwrap().len(), 100);
    assert_eq!(ix.stats().unwrap().vectors, 100);
    assert_clean(&ix, &m, "after put_many");
}

#[test]
fn duplicate_keys_keep_the_last_value() {
    let (_d, ix) = indexer();
    let op = Op::PutMany(vec![doc("a", "first"), doc("a", "second")]);
    let mut m = Model::new();
    op.apply_to(&mut m);
    op.run(&ix).unwrap();
    assert!(ix.search("first", 10, false).unwrap().is_empty());
    assert_eq!(keys(&ix.search("second", 10, false).unwrap()), ["a"]);
    assert_clean(&ix, &m, "after a batch with a key given twice");
}

#[test]
fn a_rejected_batch_writes_nothing() {
    let (_d, ix) = indexer();
    let mut m = Model::new();
    let first = Op::Put(doc("before", "wing"));
    first.apply_to(&mut m);
    first.run(&ix).unwrap();
    let before = dump(&ix);
    let huge_key = vec![b'x'; kvstore_engine::MAX_KEY_BYTES + 1];
    let items = vec![
        (b"ok".to_vec(), b"wing flap".to_vec()),
        (huge_key, b"wing".to_vec()),
    ];
    assert!(ix.put_many(&items).is_err());
    assert!(dump(&ix) == before, "a rejected put_many changed the store");

    let bad_dim = vec![
        (b"ok".to_vec(), b"wing".to_vec(), None),
        (b"bad".to_vec(), b"wing".to_vec(), Some(vec![1.0; 3])),
    ];
    assert!(matches!(
        ix.put_many_with_vectors(bad_dim),
        Err(kvstore_search::Error::DimensionMismatch {
            expected: 16,
            got: 3
        })
    ));
    assert!(
        dump(&ix) == before,
        "a rejected put_many_with_vectors changed the store"
    );
    assert_clean(&ix, &m, "after the rejected batches");

    // Document frequencies stay exact after the rejected batches: `wing` is in 1 document,
    // then 2, then 1 again.
    for op in [
        Op::Put(doc("after", "wing flap")),
        Op::Delete("before".into()),
        Op::PutMany(vec![doc("more", "flap")]),
    ] {
        op.apply_to(&mut m);
        op.run(&ix).unwrap();
    }
    assert_clean(&ix, &m, "after writes that follow the rejected batches");
}

#[test]
fn prepared_documents_write_like_put_many() {
    let (_d, ix) = indexer();
    let mut m = Model::new();
    let first = Op::Put(doc("a", "old words here"));
    first.apply_to(&mut m);
    first.run(&ix).unwrap();
    // Prepared before the overwrite below is applied, and before each other: what a document
    // replaces is read at write time, so the result is the same as put_many's.
    let docs = vec![
        doc("a", "first"),
        doc("b", "bravo shared"),
        doc("a", "second shared"),
    ];
    let prepared = docs
        .iter()
        .map(|d| ix.prepare_doc(d.key.clone().into(), d.text.clone().into(), None))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(prepared[1].key(), b"b");
    ix.put_prepared(prepared).unwrap();
    Op::PutPrepared(docs).apply_to(&mut m);
    assert!(ix.search("old", 10, false).unwrap().is_empty());
    assert_eq!(keys(&ix.search("second", 10, false).unwrap()), ["a"]);
    assert_clean(&ix, &m, "after put_prepared");
}

/// Large batches are analyzed and embedded on several threads: the result must be the same as
/// one thread's (order kept, last duplicate wins across the threads' chunks, an error in any
/// chunk rejects the whole batch).
#[test]
fn a_large_batch_prepared_in_parallel_is_indexed_like_a_small_one() {
    let (_d, ix) = indexer();
    let mut docs: Vec<_> = (0..600)
        .map(|i| {
            doc(
                &format!("k{:03}", i % 500),
                &format!("doc number{i} shared"),
            )
        })
        .collect();
    docs.push(doc("k007", "final version"));
    let op = Op::PutMany(docs);
    let mut m = Model::new();
    op.apply_to(&mut m);
    op.run(&ix).unwrap();
    assert_eq!(keys(&ix.search("final", 10, false).unwrap()), ["k007"]);
    // k000..k099 were overwritten within the batch by number500..number599.
    assert_eq!(keys(&ix.search("number510", 10, false).unwrap()), ["k010"]);
    assert!(ix.search("number10", 10, false).unwrap().is_empty());
    assert_clean(&ix, &m, "after a large batch");

    let before = dump(&ix);
    let mut bad: Vec<_> = (0..400)
        .map(|i| (format!("n{i:03}").into_bytes(), b"wing".to_vec(), None))
        .collect();
    bad[350].2 = Some(vec![1.0; 3]);
    assert!(matches!(
        ix.put_many_with_vectors(bad),
        Err(kvstore_search::Error::DimensionMismatch { .. })
    ));
    assert!(
        dump(&ix) == before,
        "a rejected large batch changed the store"
    );
}
