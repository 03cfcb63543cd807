//! BM25 end to end: scores equal hand-computed values; phrases; prefixes; snippets.
mod common;
use common::*;

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-4
}

fn corpus() -> (tempfile::TempDir, kvstore_search::Indexer) {
    let (d, ix) = indexer();
    ix.put(b"d1", b"The spark plug fails", None).unwrap();
    ix.put(b"d2", b"plug the plug", None).unwrap();
    ix.put(b"d3", b"a wing", None).unwrap();
    (d, ix)
}

#[test]
fn bm25_scores_match_hand_computed_values() {
    let (_d, ix) = corpus();
    // N = 3, avgdl = 3, df(plug) = 2: idf = ln(1.6)
    let hits = ix.search("plugs", 10, false).unwrap();
    assert_eq!(keys(&hits), ["d2", "d1"]);
    assert!(close(hits[0].score, 0.646_255), "{}", hits[0].score); // tf 2, dl 3
    assert!(close(hits[1].score, 0.413_603), "{}", hits[1].score); // tf 1, dl 4
    assert!(hits
        .iter()
        .all(|h| h.value.is_none() && h.snippet.is_none()));
}

#[test]
fn phrase_matches_adjacent_terms_only() {
    let (_d, ix) = corpus();
    let hits = ix.search(r#""spark plug""#, 10, false).unwrap();
    assert_eq!(keys(&hits), ["d1"]);
    // idf(spark) + idf(plug), tf 1, dl 4
    assert!(close(hits[0].score, 1.276_733), "{}", hits[0].score);
    assert!(ix.search(r#""plug spark""#, 10, false).unwrap().is_empty());
    assert_eq!(
        keys(&ix.search(r#""plug the plug""#, 10, false).unwrap()),
        ["d2"]
    );
}

#[test]
fn prefix_expands_to_indexed_terms() {
    let (_d, ix) = corpus();
    assert_eq!(keys(&ix.search("pl*", 10, false).unwrap()), ["d2", "d1"]);
    assert_eq!(keys(&ix.search("wi*", 10, false).unwrap()), ["d3"]);
    assert!(ix.search("zz*", 10, false).unwrap().is_empty());
}

#[test]
fn or_semantics_top_k_and_values_with_snippets() {
    let (_d, ix) = corpus();
    let hits = ix.search("wing plug", 2, true).unwrap();
    assert_eq!(hits.len(), 2);
    let d3 = ix.search("wing", 10, true).unwrap();
    assert_eq!(d3[0].value.as_deref(), Some(&b"a wing"[..]));
    assert_eq!(d3[0].snippet.as_deref(), Some("a <b>wing</b>"));
    assert!(ix.search("", 10, false).unwrap().is_empty());
    assert!(ix.search("nothing matches", 10, false).unwrap().is_empty());
    assert!(ix.search("wing", 0, false).unwrap().is_empty());
    assert!(ix.search("wing", kvstore_search::MAX_K + 1, false).is_err());
}

#[test]
fn non_utf8_values_are_indexed_lossily_and_stored_unchanged() {
    let (_d, ix) = indexer();
    let v = b"caf\xff wing".to_vec();
    ix.put(b"bin", &v, None).unwrap();
    let hits = ix.search("wing", 10, true).unwrap();
    assert_eq!(hits[0].value.as_deref(), Some(v.as_slice()));
}
