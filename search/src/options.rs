//! [`SearchOptions`]: every tunable of the search layer, with defaults that work offline.

use crate::bm25::Bm25Params;
use crate::embedder::Embedder;
use crate::hnsw::HnswParams;
use std::path::PathBuf;
use std::sync::Arc;

/// Default live-vector count below which semantic search is an exact scan.
pub const DEFAULT_EXACT_THRESHOLD: usize = 2_000;
/// Default cap on the terms one `prefix*` expands to.
pub const DEFAULT_MAX_PREFIX_EXPANSIONS: usize = 50;

/// Tuning of the search layer. `SearchOptions::default()` uses the compiled-in potion-base-2M
/// embedder (or the directory in `KVSTORE_MODEL_DIR`), BM25 k1 = 1.2, b = 0.75.
#[derive(Clone)]
pub struct SearchOptions {
    /// The embedder; `None` = the default static model (see `model_dir`).
    pub embedder: Option<Arc<dyn Embedder>>,
    /// A Model2Vec model directory replacing the compiled-in potion-base-2M (checked before the
    /// `KVSTORE_MODEL_DIR` environment variable). Ignored when `embedder` is set.
    pub model_dir: Option<PathBuf>,
    /// BM25 parameters.
    pub bm25: Bm25Params,
    /// HNSW graph parameters.
    pub hnsw: HnswParams,
    /// Below this many live vectors semantic search is exact (default 2,000).
    pub exact_threshold: usize,
    /// Most indexed terms a `prefix*` query term expands to, the most frequent first
    /// (default 50).
    pub max_prefix_expansions: usize,
    /// Link new vectors into the HNSW graph on a background thread (default true), so writes
    /// do not pay for graph construction; vectors not yet linked are searched exactly.
    pub background_graph_build: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            embedder: None,
            model_dir: None,
            bm25: Bm25Params::default(),
            hnsw: HnswParams::default(),
            exact_threshold: DEFAULT_EXACT_THRESHOLD,
            max_prefix_expansions: DEFAULT_MAX_PREFIX_EXPANSIONS,
            background_graph_build: true,
        }
    }
}

impl std::fmt::Debug for SearchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchOptions")
            .field(
                "embedder",
                &self.embedder.as_ref().map(|e| format!("dim {}", e.dim())),
            )
            .field("model_dir", &self.model_dir)
            .field("bm25", &self.bm25)
            .field("hnsw", &self.hnsw)
            .field("exact_threshold", &self.exact_threshold)
            .field("max_prefix_expansions", &self.max_prefix_expansions)
            .field("background_graph_build", &self.background_graph_build)
            .finish()
    }
}
