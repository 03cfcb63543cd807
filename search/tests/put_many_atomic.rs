//! `put_many` is one batch: all documents and their indexes, or nothing.
mod common;
use common::*;

#[test]
fn put_many_indexes_everything_in_one_batch() {
    let (_d, ix) = indexer();
    let items: Vec<_> = (0..100)
        .map(|i| {
            (
                format!("k{i:03}").into_bytes(),
                format!("doc number{i} shared").into_bytes(),
            )
        })
        .collect();
    let seq = ix.db().stats().last_sequence;
    ix.put_many(&items).unwrap();
    assert_eq!(ix.stats().unwrap().collection.doc_count, 100);
    assert_eq!(ix.search("shared", 1000, false).unwrap().len(), 100);
    assert_eq!(ix.stats().unwrap().vectors, 100);
    assert!(ix.db().stats().last_sequence > seq);
    assert_eq!(ix.verify().unwrap().documents, 100);
}

#[test]
fn duplicate_keys_keep_the_last_value() {
    let (_d, ix) = indexer();
    ix.put_many(&[
        (b"a".to_vec(), b"first".to_vec()),
        (b"a".to_vec(), b"second".to_vec()),
    ])
    .unwrap();
    assert!(ix.search("first", 10, false).unwrap().is_empty());
    assert_eq!(keys(&ix.search("second", 10, false).unwrap()), ["a"]);
    assert_eq!(ix.stats().unwrap().collection.doc_count, 1);
}

#[test]
fn a_rejected_batch_writes_nothing() {
    let (_d, ix) = indexer();
    ix.put(b"before", b"wing", None).unwrap();
    let huge_key = vec![b'x'; kvstore_engine::MAX_KEY_BYTES + 1];
    let items = vec![
        (b"ok".to_vec(), b"wing flap".to_vec()),
        (huge_key, b"wing".to_vec()),
    ];
    assert!(ix.put_many(&items).is_err());
    assert_eq!(ix.db().get(b"ok").unwrap(), None);
    assert_eq!(
        keys(&ix.search("wing flap", 10, false).unwrap()),
        ["before"]
    );
    assert_eq!(ix.stats().unwrap().collection.doc_count, 1);
    assert_eq!(ix.stats().unwrap().vectors, 1);

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
    assert_eq!(ix.db().get(b"ok").unwrap(), None);
    assert_eq!(ix.verify().unwrap().documents, 1);

    // Document frequencies stay exact after the rejected batches: `wing` is in 1 document,
    // then 2, then 1 again.
    ix.put(b"after", b"wing flap", None).unwrap();
    assert_eq!(ix.verify().unwrap().documents, 2);
    assert!(ix.delete(b"before").unwrap());
    ix.put_many(&[(b"more".to_vec(), b"flap".to_vec())])
        .unwrap();
    assert_eq!(ix.verify().unwrap().documents, 2);
}

#[test]
fn prepared_documents_write_like_put_many() {
    let (_d, ix) = indexer();
    ix.put(b"a", b"old words here", None).unwrap();
    // Prepared before the overwrite below is applied, and before each other: what a document
    // replaces is read at write time, so the result is the same as put_many's.
    let docs = vec![
        ix.prepare_doc(b"a".to_vec(), b"first".to_vec(), None)
            .unwrap(),
        ix.prepare_doc(b"b".to_vec(), b"bravo shared".to_vec(), None)
            .unwrap(),
        ix.prepare_doc(b"a".to_vec(), b"second shared".to_vec(), None)
            .unwrap(),
    ];
    assert_eq!(docs[1].key(), b"b");
    ix.put_prepared(docs).unwrap();
    assert!(ix.search("first", 10, false).unwrap().is_empty());
    assert!(ix.search("old", 10, false).unwrap().is_empty());
    assert_eq!(keys(&ix.search("second", 10, false).unwrap()), ["a"]);
    assert_eq!(keys(&ix.search("shared", 10, false).unwrap()).len(), 2);
    assert_eq!(ix.stats().unwrap().collection.doc_count, 2);
    assert_eq!(ix.verify().unwrap().documents, 2);
}

/// Large batches are analyzed and embedded on several threads: the result must be the same as
/// one thread's (order kept, last duplicate wins across the threads' chunks, an error in any
/// chunk rejects the whole batch).
#[test]
fn a_large_batch_prepared_in_parallel_is_indexed_like_a_small_one() {
    let (_d, ix) = indexer();
    let mut items: Vec<_> = (0..600)
        .map(|i| {
            (
                format!("k{:03}", i % 500).into_bytes(),
                format!("doc number{i} shared").into_bytes(),
            )
        })
        .collect();
    items.push((b"k007".to_vec(), b"final version".to_vec()));
    ix.put_many(&items).unwrap();
    assert_eq!(ix.stats().unwrap().collection.doc_count, 500);
    assert_eq!(keys(&ix.search("final", 10, false).unwrap()), ["k007"]);
    // k000..k099 were overwritten within the batch by number500..number599.
    assert_eq!(keys(&ix.search("number510", 10, false).unwrap()), ["k010"]);
    assert!(ix.search("number10", 10, false).unwrap().is_empty());
    assert_eq!(ix.search("shared", 1000, false).unwrap().len(), 499);
    assert_eq!(ix.verify().unwrap().documents, 500);

    let mut bad: Vec<_> = (0..400)
        .map(|i| (format!("n{i:03}").into_bytes(), b"wing".to_vec(), None))
        .collect();
    bad[350].2 = Some(vec![1.0; 3]);
    assert!(matches!(
        ix.put_many_with_vectors(bad),
        Err(kvstore_search::Error::DimensionMismatch { .. })
    ));
    assert_eq!(ix.db().get(b"n000").unwrap(), None);
    assert_eq!(ix.stats().unwrap().collection.doc_count, 500);
}
