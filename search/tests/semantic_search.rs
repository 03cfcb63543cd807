//! Semantic search with the default (potion-base-2M) embedder and caller-supplied vectors.
mod common;
use common::*;
use kvstore_search::{Error, Indexer, SearchOptions};

#[test]
fn default_embedder_ranks_related_documents_first() {
    let (_d, db) = db();
    let ix = Indexer::open(db, SearchOptions::default()).unwrap();
    assert_eq!(ix.dimension(), 64);
    ix.put(b"air", b"supersonic aircraft wing design and lift", None)
        .unwrap();
    ix.put(
        b"food",
        b"chocolate cake recipe with butter and sugar",
        None,
    )
    .unwrap();
    ix.put(b"sea", b"ship hull resistance in waves", None)
        .unwrap();
    let hits = ix.semantic_search("airplane flight", 3).unwrap();
    assert_eq!(hits[0].key, b"air");
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(hits[0].score <= 1.0001);
}

#[test]
fn caller_vectors_override_and_dimension_is_checked() {
    let (_d, ix) = indexer(); // dim 16
    let mut v = vec![0.0f32; 16];
    v[3] = 2.0;
    ix.put(b"mine", b"any text", Some(v.clone())).unwrap();
    ix.put(b"other", b"more text", None).unwrap();
    let hits = ix.semantic_search_vector(&v, 1).unwrap();
    assert_eq!(hits[0].key, b"mine");
    assert!((hits[0].score - 1.0).abs() < 1e-5);
    assert!(matches!(
        ix.put(b"bad", b"x", Some(vec![1.0; 5])),
        Err(Error::DimensionMismatch {
            expected: 16,
            got: 5
        })
    ));
    assert!(matches!(
        ix.semantic_search_vector(&[1.0; 17], 3),
        Err(Error::DimensionMismatch {
            expected: 16,
            got: 17
        })
    ));
    assert_eq!(ix.db().get(b"bad").unwrap(), None);
    // a zero query vector has no direction: no results, no error
    assert!(ix.semantic_search_vector(&[0.0; 16], 3).unwrap().is_empty());
}

#[test]
fn overwritten_vectors_are_not_returned() {
    let (_d, ix) = indexer();
    let mut a = vec![0.0f32; 16];
    a[0] = 1.0;
    let mut b = vec![0.0f32; 16];
    b[1] = 1.0;
    ix.put(b"k", b"t", Some(a.clone())).unwrap();
    ix.put(b"k", b"t", Some(b.clone())).unwrap();
    let hits = ix.semantic_search_vector(&a, 5).unwrap();
    assert_eq!(hits.len(), 1);
    assert!(hits[0].score.abs() < 1e-6);
}
