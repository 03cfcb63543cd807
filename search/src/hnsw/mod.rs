//! Vector search: a hand-built HNSW graph ([`graph::Hnsw`]) and the keyed index over it
//! ([`VectorIndex`]) that the [`crate::Indexer`] keeps in memory, and the background
//! [`GraphBuilder`] that links new vectors into the graph.
//!
//! Similarity is cosine: vectors are L2-normalised on insert, so cosine = dot product and the
//! graph's distance is `1 − dot`.

mod builder;
pub mod graph;
pub mod persist;
mod vector_index;

pub use builder::{GraphBuilder, GraphSaver, SavePolicy, BUILD_CHUNK, SAVE_AFTER_CHANGES};
pub use graph::{Hnsw, HnswParams};
pub use vector_index::VectorIndex;

/// Dot product. Uses AVX2 + FMA when the CPU has them (checked once per call, a cached atomic
/// load), else a portable loop the compiler vectorises for the baseline target.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_portable(a, b)
}

/// Dot product with eight independent accumulators, so the compiler can vectorise it.
#[inline(always)]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
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

/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    // SAFETY (all loads): `i + 16 <= n` (or `i + 8 <= n`) and both slices hold `n` floats;
    // unaligned loads are used.
    while i + 16 <= n {
        s0 = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.as_ptr().add(i)),
            _mm256_loadu_ps(b.as_ptr().add(i)),
            s0,
        );
        s1 = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.as_ptr().add(i + 8)),
            _mm256_loadu_ps(b.as_ptr().add(i + 8)),
            s1,
        );
        i += 16;
    }
    if i + 8 <= n {
        s0 = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.as_ptr().add(i)),
            _mm256_loadu_ps(b.as_ptr().add(i)),
            s0,
        );
        i += 8;
    }
    let s = _mm256_add_ps(s0, s1);
    let half = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    let q = _mm_add_ps(half, _mm_movehl_ps(half, half));
    let r = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
    let mut total = _mm_cvtss_f32(r);
    while i < n {
        total += a[i] * b[i];
        i += 1;
    }
    total
}

#[cfg(test)]
mod tests {
    #[test]
    fn dot_matches_the_naive_sum() {
        let a: Vec<f32> = (0..65).map(|i| (i % 19) as f32 * 0.5).collect();
        let b: Vec<f32> = (0..65).map(|i| 1.0 - (i % 19) as f32).collect();
        let naive: f32 = a[..19].iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((super::dot(&a[..19], &b[..19]) - naive).abs() < 1e-3);
        assert!((super::dot_portable(&a[..19], &b[..19]) - naive).abs() < 1e-3);
        // Every length the SIMD loop splits differently: empty, a tail only, whole blocks, both.
        for n in [0, 1, 7, 8, 9, 16, 17, 64, 65] {
            let (x, y) = (&a[..n], &b[..n]);
            let naive: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
            assert!((super::dot(x, y) - naive).abs() < 1e-3, "n = {n}");
        }
        let long: Vec<f32> = (0..67).map(|i| (i as f32 * 0.37).sin()).collect();
        let naive: f32 = long.iter().map(|x| x * x).sum();
        assert!((super::dot(&long, &long) - naive).abs() < 1e-3);
        assert_eq!(super::dot(&[], &[]), 0.0);
    }
}
