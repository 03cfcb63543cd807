//! KVStore search: ranked full-text (BM25) and semantic (embeddings + HNSW) search over the
//! documents of the default column family, kept as secondary column families.
//!
//! Guarantees:
//! - **Atomic with the data.** [`Indexer`] writes a document and every index change it causes
//!   (postings in `inverted`, per-document and collection statistics in `docmeta`, the vector in
//!   `vectors`) in one engine `WriteBatch`. After a crash, data and indexes agree.
//! - **No stale results.** An overwrite removes the old postings, a delete removes all of them,
//!   and a query reads one engine snapshot, so it never names a key the snapshot cannot read.
//! - **Bounded query memory.** Full-text queries stream postings document-at-a-time (with
//!   MaxScore pruning and seeks) and keep a `k`-entry heap.
//! - **Writes do not wait for the graph.** New vectors are linked into the HNSW graph by a
//!   background thread; until then they are searched exactly, so they are found at once.
//! - **Offline.** The default embedder (potion-base-2M) is compiled in; nothing is downloaded.
//!
//! Module map, in the order data flows (formats in `docs/search.md`):
//! - [`analysis`]: text → terms with positions (the same for documents and queries);
//! - [`keys`]: byte formats of every index record;
//! - [`indexer`]: the write path and the query entry points;
//! - [`query`]: the query language (words, `"phrases"`, `prefix*`);
//! - [`postings`]: streaming one term's postings from a snapshot;
//! - [`bm25`]: the ranking function (pure);
//! - [`searcher`]: document-at-a-time scoring; [`topk`]: the bounded result heap;
//! - [`snippet`]: highlighted excerpts;
//! - [`embedder`]: the `Embedder` trait, the static Model2Vec model, a hashing fallback;
//! - [`hnsw`]: the HNSW graph and the keyed vector index with tombstones;
//! - `verify`: [`Indexer::verify`], a full consistency check of indexes against documents.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod analysis;
pub mod bm25;
pub mod counters;
mod derived;
pub mod embedder;
mod error;
pub mod hnsw;
pub mod indexer;
pub mod keys;
mod options;
pub mod postings;
pub mod query;
pub mod searcher;
pub mod snippet;
pub mod topk;
mod verify;

pub use bm25::Bm25Params;
pub use embedder::{Embedder, HashingEmbedder, StaticEmbedder};
pub use error::{Error, Result};
pub use hnsw::HnswParams;
pub use indexer::{DocWithVector, Hit, IndexStats, Indexer, PreparedDoc, PreparedOp, MAX_K};
pub use options::{SearchOptions, DEFAULT_EXACT_THRESHOLD, DEFAULT_MAX_PREFIX_EXPANSIONS};
pub use verify::VerifyReport;
