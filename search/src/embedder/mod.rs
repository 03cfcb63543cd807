//! Embedders: text → dense vector, for semantic search.
//!
//! [`Embedder`] is the seam: the index stores whatever vectors the embedder returns, so another
//! model plugs in by implementing the trait and passing it in `SearchOptions::embedder`.
//! Shipped implementations:
//! - [`StaticEmbedder`] (default): a Model2Vec static model — the text's WordPiece tokens are
//!   looked up in an embedding table and averaged, then L2-normalised. The default loads
//!   potion-base-2M (MIT, MinishLab; 64 dimensions) from files compiled into the binary, so it
//!   works offline with no download; a directory with the same four files can replace it.
//! - [`HashingEmbedder`]: a deterministic feature-hashing bag of analyzed terms; no model, for
//!   tests and for deployments that want no model at all. It is lexical, not semantic.

mod hashing;
mod static_model;
mod wordpiece;

pub use hashing::HashingEmbedder;
pub use static_model::{StaticEmbedder, DEFAULT_MAX_TOKENS, MODEL_DIR_ENV};
pub use wordpiece::WordPiece;

use crate::error::Result;

/// Turns text into a fixed-dimension vector.
///
/// To ensure correctness, an implementation must:
/// - return vectors of exactly [`Embedder::dim`] components, for every input (the empty text
///   included; an all-zero vector is allowed and is never returned by semantic search);
/// - be deterministic: the same text gives the same vector, on every run and machine, because
///   vectors are stored at write time and queries are embedded later;
/// - keep the same model for the life of an index: swapping it (even at the same dimension)
///   requires re-putting every document (vectors from two models are not comparable).
pub trait Embedder: Send + Sync {
    /// Number of components of every vector.
    fn dim(&self) -> usize;
    /// The vector of `text`.
    fn embed(&self, text: &str) -> Result<Vec<f32>>;
}

/// Scales `v` to unit length in place (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 && n.is_finite() {
        v.iter_mut().for_each(|x| *x /= n);
    }
}
