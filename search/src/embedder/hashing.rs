//! [`HashingEmbedder`]: analyzed terms hashed into signed buckets, L2-normalised.

use super::{normalize, Embedder};
use crate::analysis::Analyzer;
use crate::error::Result;

/// Deterministic, model-free embedder (FNV-1a of each analyzed term picks a bucket and a sign).
#[derive(Debug)]
pub struct HashingEmbedder {
    dim: usize,
    analyzer: Analyzer,
}

impl HashingEmbedder {
    pub fn new(dim: usize) -> HashingEmbedder {
        HashingEmbedder {
            dim: dim.max(1),
            analyzer: Analyzer::english(),
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Embedder for HashingEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, text: &str) -> Result<Vec<f32>> {
        let mut v = vec![0f32; self.dim];
        for t in self.analyzer.analyze(text) {
            let h = fnv1a(t.term.as_bytes());
            let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
            v[(h % self.dim as u64) as usize] += sign;
        }
        normalize(&mut v);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_normalised_and_sized() {
        let e = HashingEmbedder::new(16);
        let a = e.embed("wing flutter").unwrap();
        assert_eq!(a, e.embed("Wings flutter").unwrap());
        assert_eq!(a.len(), 16);
        assert!((a.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(e.embed("").unwrap().iter().all(|x| *x == 0.0));
    }
}
