//! Databases written before the counters were striped hold one unstriped statistics record
//! (`'S'`, version 1) and one document-frequency record per term (`'T' term`). They are still
//! read — summed with the stripe records — and later writes correct them through signed stripe
//! deltas, so such a database needs no migration.

mod common;

use common::{indexer, keys};
use kvstore_engine::WriteBatch;
use kvstore_search::keys::{
    decode_df_record, decode_stats_record, encode_df, encode_stats, term_of_key, CollectionStats,
    STATS_KEY,
};
use kvstore_search::Indexer;
use std::collections::BTreeMap;

/// Rewrites every stripe record of `ix` as the legacy records an older version would hold.
fn make_legacy(ix: &Indexer) {
    let db = ix.db();
    let meta = db.cf("docmeta").unwrap();
    let mut b = WriteBatch::new();
    let (mut docs, mut len) = (0i64, 0i64);
    let mut df: BTreeMap<String, i64> = BTreeMap::new();
    for kv in db.scan_prefix_cf(&meta, b"").unwrap() {
        let (k, v) = kv.unwrap();
        if k[0] == b'S' {
            let (d, l) = decode_stats_record(&k, &v).unwrap();
            docs += d;
            len += l;
            b.delete_cf(&meta, &k);
        } else if k[0] == b'T' {
            *df.entry(term_of_key(&k).unwrap().to_string()).or_default() +=
                decode_df_record(&k, &v).unwrap();
            b.delete_cf(&meta, &k);
        }
    }
    let stats = CollectionStats {
        doc_count: docs as u64,
        total_len: len as u64,
    };
    b.put_cf(&meta, STATS_KEY, encode_stats(&stats));
    for (t, n) in df {
        let mut k = vec![b'T'];
        k.extend_from_slice(t.as_bytes());
        b.put_cf(&meta, k, encode_df(n as u64));
    }
    db.write(b).unwrap();
}

#[test]
fn legacy_records_are_summed_and_corrected_by_later_writes() {
    let (_d, ix) = indexer();
    ix.put(b"a", b"spark plug gap", None).unwrap();
    ix.put(b"b", b"spark wing", None).unwrap();
    ix.put(b"c", b"wing flutter", None).unwrap();
    let stats = ix.stats().unwrap().collection;
    let ranked = keys(&ix.search("spark wing", 10, false).unwrap());
    make_legacy(&ix);
    let meta = common::cf_keys(&ix, "docmeta");
    assert!(meta.contains(&b"S".to_vec()) && meta.contains(&b"Tspark".to_vec()));
    assert_eq!(ix.stats().unwrap().collection, stats);
    assert_eq!(keys(&ix.search("spark wing", 10, false).unwrap()), ranked);
    ix.verify().unwrap();

    // Later writes land in stripes; the sums stay right.
    ix.put(b"a", b"wing root", None).unwrap();
    assert!(ix.delete(b"b").unwrap());
    ix.put(b"d", b"spark timing", None).unwrap();
    ix.verify().unwrap();
    let s = ix.stats().unwrap().collection;
    assert_eq!((s.doc_count, s.total_len), (3, 2 + 2 + 2));
    assert_eq!(keys(&ix.search("spark", 10, false).unwrap()), ["d"]);
    assert_eq!(
        keys(&ix.search("gap", 10, false).unwrap()),
        Vec::<String>::new()
    );
    let wing = keys(&ix.search("wing", 10, false).unwrap());
    assert_eq!(wing.len(), 2, "{wing:?}");
}
