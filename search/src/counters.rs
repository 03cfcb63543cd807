//! Striped counters: the collection statistics (document count, total length) and the document
//! frequency of each term, as sums over per-stripe records.
//!
//! Every document belongs to one stripe ([`stripe_of`] its key); its contributions to the
//! counters go to that stripe's records, written in the document's own batch while the writer
//! holds that stripe's lock (`Indexer`). So writers of documents in different stripes never
//! read or write the same record, and do not wait for each other: the engine's group commit
//! then shares one fsync among them. A record holds a signed delta; a counter's value is the
//! sum of its records (and of a legacy unstriped record, from before the stripes). A record
//! whose delta reaches zero is deleted, so a store holds the same records whatever history led
//! to its documents.
//!
//! Readers sum at read time, from one snapshot: the statistics are a prefix scan of at most
//! `STRIPES + 1` records, a term's frequency a range scan of as many.

use crate::error::Result;
use crate::keys::{
    decode_df_record, decode_stats_record, df_range, term_of_key, CollectionStats, STATS_KEY,
};
pub use crate::keys::{stripe_of, STRIPES};
use kvstore_engine::{ColumnFamily, Snapshot};

/// The collection statistics as of `snap`.
pub fn collection_stats(snap: &Snapshot, docmeta: &ColumnFamily) -> Result<CollectionStats> {
    let (mut docs, mut len) = (0i64, 0i64);
    for kv in snap.scan_prefix_cf(docmeta, STATS_KEY)? {
        let (k, v) = kv?;
        let (d, l) = decode_stats_record(&k, &v)?;
        docs += d;
        len += l;
    }
    Ok(CollectionStats {
        doc_count: docs.max(0) as u64,
        total_len: len.max(0) as u64,
    })
}

/// How many documents contain `term`, as of `snap`.
pub fn doc_freq(snap: &Snapshot, docmeta: &ColumnFamily, term: &str) -> Result<u64> {
    let (start, end) = df_range(term);
    let mut df = 0i64;
    for kv in snap.scan_cf(docmeta, start..end)? {
        let (k, v) = kv?;
        df += decode_df_record(&k, &v)?;
    }
    Ok(df.max(0) as u64)
}

/// Every term of the dictionary starting with `prefix`, with its document frequency, in term
/// order (terms whose records sum to zero are left out).
pub fn terms_with_prefix(
    snap: &Snapshot,
    docmeta: &ColumnFamily,
    prefix: &str,
) -> Result<Vec<(String, u64)>> {
    let mut out: Vec<(String, i64)> = Vec::new();
    for kv in snap.scan_prefix_cf(docmeta, &crate::keys::term_key_prefix(prefix))? {
        let (k, v) = kv?;
        let Some(t) = term_of_key(&k) else { continue };
        let d = decode_df_record(&k, &v)?;
        // A term's records are adjacent: the legacy one, then its stripes.
        match out.last_mut() {
            Some((last, sum)) if last == t => *sum += d,
            _ => out.push((t.to_string(), d)),
        }
    }
    Ok(out
        .into_iter()
        .filter(|(_, d)| *d > 0)
        .map(|(t, d)| (t, d as u64))
        .collect())
}
