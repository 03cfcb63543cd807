//! Vector search: a hand-built HNSW graph ([`graph::Hnsw`]) and the keyed index over it
//! ([`VectorIndex`]) that the [`crate::Indexer`] keeps in memory, and the background
//! [`GraphBuilder`] that links new vectors into the graph.
//!
//! Similarity is cosine: vectors are L2-normalised on insert, so cosine = dot product and the
//! graph's distance is `1 − dot`.

mod builder;
pub mod graph;
mod vector_index;

pub use builder::{GraphBuilder, BUILD_CHUNK};
pub use graph::{Hnsw, HnswParams};
pub use vector_index::VectorIndex;

/// Dot product (eight independent accumulators, so the compiler can vectorise it).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    #[test]
    fn dot_matches_the_naive_sum() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((super::dot(&a, &b) - naive).abs() < 1e-3);
        assert_eq!(super::dot(&[], &[]), 0.0);
    }
}
