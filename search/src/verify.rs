//! [`Indexer::verify`]: a full consistency check of the indexes against the documents.
//!
//! Used by tests (after overwrites, deletes, crashes) and available to operators. It reads one
//! snapshot and checks, for every document that has a `docmeta` record: the document exists;
//! re-analysing it gives exactly its recorded terms and its postings; every posting belongs to
//! such a document; the term dictionary's document frequencies and the collection statistics
//! (sums of striped records) equal the counts; and the `vectors` keys are exactly the indexed documents, of the right
//! dimension. Cost: one pass over the index column families; memory: one counter per term.

use crate::counters;
use crate::error::{Error, Result};
use crate::indexer::Indexer;
use crate::keys::{
    decode_docmeta, decode_posting, decode_vector, posting_key, CollectionStats, CF_DOCMETA,
    CF_INVERTED, CF_VECTORS, STATS_KEY,
};
use std::collections::{BTreeMap, HashMap};

/// What [`Indexer::verify`] counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VerifyReport {
    pub documents: u64,
    pub postings: u64,
    pub terms: u64,
    pub vectors: u64,
}

fn bad(cf: &'static str, key: &[u8], why: impl Into<String>) -> Error {
    Error::corrupt(cf, key, why)
}

impl Indexer {
    /// Checks that the indexes agree with the documents (see the module docs); the first
    /// disagreement is returned as [`Error::Corrupt`].
    pub fn verify(&self) -> Result<VerifyReport> {
        let snap = self.db.snapshot();
        let mut df: HashMap<String, u64> = HashMap::new();
        let mut stats = CollectionStats::default();
        let mut report = VerifyReport::default();
        for kv in snap.scan_prefix_cf(&self.docmeta, b"D")? {
            let (mk, mv) = kv?;
            let doc = &mk[1..];
            let meta = decode_docmeta(&mk, &mv)?;
            let value = snap
                .get(doc)?
                .ok_or_else(|| bad(CF_DOCMETA, &mk, "docmeta of a missing document"))?;
            let mut expected: BTreeMap<String, Vec<u32>> = BTreeMap::new();
            let toks = self.analyzer.analyze(&String::from_utf8_lossy(&value));
            let len = toks.len() as u32;
            for t in toks {
                expected.entry(t.term).or_default().push(t.position);
            }
            if meta.doc_len != len || !meta.terms.iter().eq(expected.keys()) {
                return Err(bad(
                    CF_DOCMETA,
                    &mk,
                    "terms or length differ from the document",
                ));
            }
            for (term, positions) in &expected {
                let pk = posting_key(term, doc);
                let pv = snap
                    .get_cf(&self.inverted, &pk)?
                    .ok_or_else(|| bad(CF_INVERTED, &pk, "missing posting"))?;
                let p = decode_posting(&pk, &pv)?;
                if &p.positions != positions || p.doc_len != len {
                    return Err(bad(CF_INVERTED, &pk, "posting differs from the document"));
                }
                *df.entry(term.clone()).or_default() += 1;
            }
            stats.doc_count += 1;
            stats.total_len += u64::from(len);
        }
        report.documents = stats.doc_count;
        // Every posting belongs to an indexed document (counted above).
        let total: u64 = df.values().sum();
        for kv in snap.scan_prefix_cf(&self.inverted, b"")? {
            kv?;
            report.postings += 1;
        }
        if report.postings != total {
            return Err(bad(
                CF_INVERTED,
                b"",
                format!(
                    "{} postings, the documents account for {total}",
                    report.postings
                ),
            ));
        }
        // The striped records summed per term (`counters.rs`): every term counted above, with
        // its count, and no other.
        for (term, got) in counters::terms_with_prefix(&snap, &self.docmeta, "")? {
            if df.remove(&term) != Some(got) {
                return Err(bad(
                    CF_DOCMETA,
                    term.as_bytes(),
                    format!("df {got} is wrong"),
                ));
            }
            report.terms += 1;
        }
        if let Some(t) = df.keys().next() {
            return Err(bad(CF_DOCMETA, t.as_bytes(), "term without a df record"));
        }
        let stored = counters::collection_stats(&snap, &self.docmeta)?;
        if stored != stats {
            return Err(bad(
                CF_DOCMETA,
                STATS_KEY,
                format!("stats {stored:?}, counted {stats:?}"),
            ));
        }
        for kv in snap.scan_prefix_cf(&self.vectors, b"")? {
            let (k, v) = kv?;
            decode_vector(&k, &v, self.dimension())?;
            let mut mk = vec![b'D'];
            mk.extend_from_slice(&k);
            if snap.get_cf(&self.docmeta, &mk)?.is_none() {
                return Err(bad(CF_VECTORS, &k, "vector of an unindexed document"));
            }
            report.vectors += 1;
        }
        if report.vectors != report.documents {
            return Err(bad(
                CF_VECTORS,
                b"",
                format!(
                    "{} vectors for {} documents",
                    report.vectors, report.documents
                ),
            ));
        }
        Ok(report)
    }
}
