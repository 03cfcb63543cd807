//! The inverted index as a derived index: postings in `inverted`, the per-document record and the
//! counter deltas (document frequencies, collection statistics) in `docmeta`.

use super::{ApplyCx, DerivedIndex};
use crate::counters::stripe_of;
use crate::indexer::Prepared;
use crate::keys::{
    doc_key, encode_docmeta_into, encode_posting_into, posting_key, posting_key_into, DocMeta,
};
use kvstore_engine::ColumnFamily;

pub(crate) struct FullTextIndex {
    pub inverted: ColumnFamily,
    pub docmeta: ColumnFamily,
}

impl FullTextIndex {
    /// Removes the old version's postings, except those of terms `keep` shares (overwritten),
    /// and its counter contributions.
    fn remove<'t>(
        &self,
        cx: &mut ApplyCx<'_, 't>,
        key: &[u8],
        old: &'t DocMeta,
        keep: Option<&Prepared<'_>>,
    ) {
        let stripe = stripe_of(key);
        for t in &old.terms {
            if !keep.is_some_and(|k| k.has_term(t)) {
                cx.batch.delete_cf(&self.inverted, posting_key(t, key));
            }
            *cx.deltas.df.entry((t.as_str(), stripe)).or_default() -= 1;
        }
        let s = cx.deltas.stats.entry(stripe).or_default();
        s.0 -= 1;
        s.1 -= i64::from(old.doc_len);
    }
}

impl DerivedIndex for FullTextIndex {
    fn index<'t>(&self, cx: &mut ApplyCx<'_, 't>, d: &'t Prepared<'_>, old: Option<&'t DocMeta>) {
        if let Some(old) = old {
            self.remove(cx, &d.key, old, Some(d));
        }
        let stripe = stripe_of(&d.key);
        for (t, pos) in d.postings() {
            posting_key_into(&mut cx.kbuf, t, &d.key);
            encode_posting_into(&mut cx.vbuf, d.doc_len, pos);
            cx.batch.put_cf(&self.inverted, &cx.kbuf, &cx.vbuf);
            *cx.deltas.df.entry((t, stripe)).or_default() += 1;
        }
        encode_docmeta_into(
            &mut cx.vbuf,
            d.doc_len,
            d.terms.iter().map(|(t, _)| t.as_str()),
        );
        cx.batch.put_cf(&self.docmeta, doc_key(&d.key), &cx.vbuf);
        let s = cx.deltas.stats.entry(stripe).or_default();
        s.0 += 1;
        s.1 += i64::from(d.doc_len);
    }

    fn unindex<'t>(&self, cx: &mut ApplyCx<'_, 't>, key: &[u8], old: &'t DocMeta) {
        self.remove(cx, key, old, None);
        cx.batch.delete_cf(&self.docmeta, doc_key(key));
    }
}
