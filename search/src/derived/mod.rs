//! Derived indexes: what a document adds to and removes from an index, inside the document's own
//! `WriteBatch` — the plug-in point of the store's write path.
//!
//! The `Indexer` writes a batch of documents by reading what each replaces (its `docmeta`
//! record), then asking every derived index in turn to add its records for the new version and
//! remove those of the old one, then resolving the counter deltas (`counters.rs`) and writing
//! the batch; once it is durable, each index updates its in-memory state. A new kind of index
//! is a new implementation of [`DerivedIndex`] registered in `Indexer::open`; the write path does
//! not change.
//!
//! To ensure correctness, an implementation must:
//! 1. only add to the batch (never write to the engine itself): the batch is the unit of
//!    atomicity, so after a crash the document and every index agree;
//! 2. be deterministic — the same document and old metadata give the same records — so stores
//!    applying the same operations stay byte-identical;
//! 3. leave in-memory state alone until [`DerivedIndex::applied`], which runs only after the
//!    batch is durable, under the documents' stripe locks (so in engine order per key).

mod full_text;
mod vectors;

pub(crate) use full_text::FullTextIndex;
pub(crate) use vectors::VectorRecords;

use crate::indexer::Prepared;
use crate::keys::DocMeta;
use kvstore_engine::WriteBatch;
use std::collections::BTreeMap;

/// A batch's changes to the striped counters: document frequency per `(term, stripe)`, and
/// `(documents, total length)` per stripe. BTreeMaps, so the records are written in one order
/// whatever the history.
#[derive(Default)]
pub(crate) struct Deltas<'t> {
    pub df: BTreeMap<(&'t str, u8), i64>,
    pub stats: BTreeMap<u8, (i64, i64)>,
}

/// What a derived index writes into while a batch is built, and scratch buffers for encoding
/// keys and values, reused across the batch's documents.
pub(crate) struct ApplyCx<'b, 't> {
    pub batch: &'b mut WriteBatch,
    pub deltas: &'b mut Deltas<'t>,
    pub kbuf: Vec<u8>,
    pub vbuf: Vec<u8>,
}

/// One derived index (see the module docs for the obligations).
pub(crate) trait DerivedIndex: Send + Sync {
    /// Adds the records of `doc`, replacing those of its previous version (`old`, if indexed).
    fn index<'t>(&self, cx: &mut ApplyCx<'_, 't>, doc: &'t Prepared<'_>, old: Option<&'t DocMeta>);
    /// Adds the removal of the records of the indexed document `key` (whose metadata is `old`).
    fn unindex<'t>(&self, cx: &mut ApplyCx<'_, 't>, key: &[u8], old: &'t DocMeta);
    /// Runs once the batch holding `docs` and `deletes` is durable.
    fn applied(&self, docs: &[&Prepared<'_>], deletes: &[&[u8]]) {
        let _ = (docs, deletes);
    }
}
