//! An overwrite removes the old postings, a delete removes all of a document's index entries;
//! document frequencies and statistics follow — and a crash in the middle of either leaves the
//! old version with all its entries or the new one with all of its own, never a mix.
mod common;
use common::crash::check_every_cut;
use common::model::{assert_clean, doc, doc_v, Model, Op, DIM};
use common::*;
use kvstore_search::keys::{self, posting_key};
use kvstore_search::Indexer;

fn stats(ix: &Indexer) -> (u64, u64) {
    let c = ix.stats().unwrap().collection;
    (c.doc_count, c.total_len)
}

/// Runs `ops` on `ix` and on the model.
fn run(ix: &Indexer, m: &mut Model, ops: &[Op]) {
    for op in ops {
        op.apply_to(m);
        op.run(ix).unwrap();
    }
}

/// Documents sharing some terms with the one the crash tests overwrite or delete, so its
/// document frequencies and the statistics change without reaching zero.
fn setup() -> Vec<Op> {
    vec![
        Op::Put(doc("k", "old words here spark")),
        Op::Put(doc("other", "words plug")),
        Op::Put(doc_v("vec", "spark plug gap", vec![0.25; DIM])),
    ]
}

#[test]
fn a_crash_inside_an_overwrite_leaves_the_old_or_the_new_version_never_both() {
    let mut one_vector = vec![0.0; DIM];
    one_vector[0] = 1.0;
    for (seed, op) in [
        // Shares "word" and "plug" with the old version and the other documents.
        Op::Put(doc("k", "new words plug plug")),
        // The new text holds none of the old terms.
        Op::Put(doc("k", "wing")),
        // A caller-supplied vector replaced, and the text with it.
        Op::Put(doc_v("vec", "heat shield", one_vector)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut history = setup();
        history.push(op);
        let r = check_every_cut(&history, setup().len(), seed as u64);
        assert!(r.lost > 0 && r.survived > 0, "{r:?}");
    }
}

#[test]
fn a_crash_inside_a_delete_leaves_all_of_the_index_entries_or_none() {
    for (seed, key) in ["k", "vec"].into_iter().enumerate() {
        let mut history = setup();
        history.push(Op::Delete(key.into()));
        let r = check_every_cut(&history, setup().len(), 10 + seed as u64);
        assert!(r.lost > 0 && r.survived > 0, "{r:?}");
    }
}

#[test]
fn overwrite_replaces_postings_and_stats() {
    let (_d, ix) = indexer();
    let mut m = Model::new();
    run(
        &ix,
        &mut m,
        &[
            Op::Put(doc("k", "old words here")),
            Op::Put(doc("other", "words")),
        ],
    );
    assert_eq!(stats(&ix), (2, 4));
    run(&ix, &mut m, &[Op::Put(doc("k", "new words"))]);
    assert_eq!(stats(&ix), (2, 3));
    assert!(ix.search("old", 10, false).unwrap().is_empty());
    assert!(ix.search("here", 10, false).unwrap().is_empty());
    assert_eq!(keys(&ix.search("new", 10, false).unwrap()), ["k"]);
    let inv = cf_keys(&ix, "inverted");
    assert!(!inv.contains(&posting_key("old", b"k")));
    assert!(inv.contains(&posting_key("word", b"k")));
    assert_eq!(inv.len(), 3); // new/k, word/k, word/other
                              // The term dictionary forgets terms no document holds.
    let meta = cf_keys(&ix, "docmeta");
    let has_term = |t: &str| meta.iter().any(|k| keys::term_of_key(k) == Some(t));
    assert!(!has_term("old"));
    assert!(has_term("word"));
    assert_clean(&ix, &m, "after an overwrite");
}

#[test]
fn delete_removes_every_index_entry() {
    let (_d, ix) = indexer();
    let mut m = Model::new();
    run(
        &ix,
        &mut m,
        &[Op::Put(doc("k", "spark plug")), Op::Put(doc("j", "wing"))],
    );
    assert!(ix.delete(b"k").unwrap());
    m.remove("k");
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
    let j = keys::stripe_of(b"j");
    assert_eq!(
        meta,
        [
            b"Dj".to_vec(),
            keys::stats_key(j).to_vec(),
            keys::df_key("wing", j)
        ]
    );
    assert_eq!(stats(&ix), (1, 1));
    assert_eq!(ix.db().get(b"k").unwrap(), None);
    assert_clean(&ix, &m, "after a delete");
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
fn many_overwrites_and_deletes_leave_exactly_the_last_version() {
    let (_d, ix) = indexer();
    let mut m = Model::new();
    for i in 0..50 {
        let text = format!("version{i} common");
        run(&ix, &mut m, &[Op::Put(doc("doc", &text))]);
        if i % 10 == 9 {
            run(&ix, &mut m, &[Op::Delete("doc".into())]);
        }
    }
    run(&ix, &mut m, &[Op::Put(doc("doc", "version49 common"))]);
    assert_eq!(stats(&ix), (1, 2));
    assert!(ix.search("version3", 10, false).unwrap().is_empty());
    assert_eq!(keys(&ix.search("version49", 10, false).unwrap()), ["doc"]);
    assert_eq!(ix.stats().unwrap().vectors, 1);
    assert_clean(&ix, &m, "after many overwrites");
}

/// A value stored in the data column family without index entries (written by the engine
/// directly, as a store older than its indexes holds) is still a live key: deleting it deletes
/// it and says so, rather than answering "absent" and leaving it readable.
#[test]
fn a_value_without_index_entries_is_still_deleted() {
    let (_d, ix) = indexer();
    ix.db().put(b"raw", b"written below the indexer").unwrap();
    ix.put(b"indexed", b"spark plug", None).unwrap();
    assert!(ix.delete(b"raw").unwrap(), "a live key answered absent");
    assert_eq!(ix.db().get(b"raw").unwrap(), None);
    assert!(!ix.delete(b"raw").unwrap(), "deleted twice");
    assert!(ix.delete(b"indexed").unwrap());
    assert_eq!(stats(&ix), (0, 0));
}
