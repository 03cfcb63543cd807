//! An overwrite removes the old postings, a delete removes all; statistics follow.
mod common;
use common::*;
use kvstore_search::keys::{decode_stats, posting_key, STATS_KEY};

fn stats(ix: &kvstore_search::Indexer) -> (u64, u64) {
    let c = ix.stats().unwrap().collection;
    (c.doc_count, c.total_len)
}

#[test]
fn overwrite_replaces_postings_and_stats() {
    let (_d, ix) = indexer();
    ix.put(b"k", b"old words here", None).unwrap();
    ix.put(b"other", b"words", None).unwrap();
    assert_eq!(stats(&ix), (2, 4));
    ix.put(b"k", b"new words", None).unwrap();
    assert_eq!(stats(&ix), (2, 3));
    assert!(ix.search("old", 10, false).unwrap().is_empty());
    assert!(ix.search("here", 10, false).unwrap().is_empty());
    assert_eq!(keys(&ix.search("new", 10, false).unwrap()), ["k"]);
    let inv = cf_keys(&ix, "inverted");
    assert!(!inv.contains(&posting_key("old", b"k")));
    assert!(inv.contains(&posting_key("word", b"k")));
    assert_eq!(inv.len(), 3); // new/k, word/k, word/other
                              // the term dictionary forgets terms no document holds
    let meta = cf_keys(&ix, "docmeta");
    assert!(!meta.contains(&b"Told".to_vec()));
    assert!(meta.contains(&b"Tword".to_vec()));
    ix.verify().unwrap();
}

#[test]
fn delete_removes_every_index_entry() {
    let (_d, ix) = indexer();
    ix.put(b"k", b"spark plug", None).unwrap();
    ix.put(b"j", b"wing", None).unwrap();
    assert!(ix.delete(b"k").unwrap());
    assert!(!ix.delete(b"k").unwrap());
    assert!(!ix.delete(b"never").unwrap());
    assert!(ix.search("spark plug", 10, false).unwrap().is_empty());
    assert!(ix
        .semantic_search("spark plug", 10)
        .unwrap()
        .iter()
        .all(|h| h.key != b"k"));
    assert_eq!(cf_keys(&ix, "inverted"), [posting_key("wing", b"j")]);
    assert_eq!(cf_keys(&ix, "vectors"), [b"j".to_vec()]);
    let meta = cf_keys(&ix, "docmeta");
    assert_eq!(meta, [b"Dj".to_vec(), b"S".to_vec(), b"Twing".to_vec()]);
    let cf = ix.db().cf("docmeta").unwrap();
    let s = decode_stats(&ix.db().get_cf(&cf, STATS_KEY).unwrap().unwrap()).unwrap();
    assert_eq!((s.doc_count, s.total_len), (1, 1));
    assert_eq!(ix.db().get(b"k").unwrap(), None);
    assert_eq!(ix.verify().unwrap().documents, 1);
}

#[test]
fn scores_use_updated_statistics_after_delete() {
    let (_d, ix) = indexer();
    ix.put(b"d1", b"The spark plug fails", None).unwrap();
    ix.put(b"d2", b"plug the plug", None).unwrap();
    ix.put(b"d3", b"a wing", None).unwrap();
    ix.delete(b"d2").unwrap();
    // N = 2, avgdl = 3, df(plug) = 1, tf 1, dl 4 (hand-computed)
    let hits = ix.search("plug", 10, false).unwrap();
    assert_eq!(keys(&hits), ["d1"]);
    assert!(
        (hits[0].score - 0.609_970).abs() < 1e-4,
        "{}",
        hits[0].score
    );
}

#[test]
fn many_overwrites_leave_exactly_the_last_version() {
    let (_d, ix) = indexer();
    for i in 0..50 {
        ix.put(b"doc", format!("version{i} common").as_bytes(), None)
            .unwrap();
    }
    assert_eq!(stats(&ix), (1, 2));
    assert_eq!(cf_keys(&ix, "inverted").len(), 2);
    assert!(ix.search("version3", 10, false).unwrap().is_empty());
    assert_eq!(keys(&ix.search("version49", 10, false).unwrap()), ["doc"]);
    assert_eq!(ix.stats().unwrap().vectors, 1);
    ix.verify().unwrap();
}
