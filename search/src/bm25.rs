//! BM25 ranking as pure functions (Robertson/Spärck Jones weighting with Lucene's non-negative
//! IDF, the variant Tantivy and Lucene use).
//!
//! ```text
//! idf(t)     = ln(1 + (N − df + 0.5) / (df + 0.5))
//! score(t,d) = idf(t) · tf·(k1 + 1) / (tf + k1·(1 − b + b·dl/avgdl))
//! ```
//! A document's score is the sum over query clauses, each multiplied by how often the clause
//! occurs in the query. A phrase scores like one term with tf = number of phrase matches and
//! idf = sum of its terms' idfs (Lucene's convention).

/// BM25 parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25Params {
    /// Term-frequency saturation (default 1.2).
    pub k1: f32,
    /// Length normalisation, 0 = none, 1 = full (default 0.75).
    pub b: f32,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Bm25Params { k1: 1.2, b: 0.75 }
    }
}

/// Inverse document frequency of a term found in `df` of `n` documents; never negative.
pub fn idf(df: u64, n: u64) -> f32 {
    let df = df.min(n) as f64;
    let n = n as f64;
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln() as f32
}

/// BM25 contribution of one term occurring `tf` times in a document of length `dl`.
pub fn term_score(idf: f32, tf: f32, dl: f32, avgdl: f32, p: Bm25Params) -> f32 {
    if tf <= 0.0 {
        return 0.0;
    }
    let norm = p.k1 * (1.0 - p.b + p.b * dl / avgdl.max(f32::MIN_POSITIVE));
    idf * tf * (p.k1 + 1.0) / (tf + norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-5
    }

    #[test]
    fn idf_hand_computed() {
        // ln(1 + 2.5/1.5) = ln(8/3)
        assert!(close(idf(1, 3), 0.980_829_25));
        // every document has it: ln(1 + 0.5/10.5)
        assert!(close(idf(10, 10), 0.046_520_016));
        assert!(idf(10, 10) > 0.0);
        assert!(idf(1, 1000) > idf(10, 1000));
    }

    #[test]
    fn term_score_hand_computed() {
        let p = Bm25Params::default();
        // tf 2, dl 4, avgdl 5: 2·2.2 / (2 + 1.2·(0.25 + 0.6)) = 4.4 / 3.02
        assert!(close(term_score(idf(1, 3), 2.0, 4.0, 5.0, p), 1.429_022_8));
        // tf 1, dl 10, avgdl 5, df = N = 10
        assert!(close(
            term_score(idf(10, 10), 1.0, 10.0, 5.0, p),
            0.033_014_205
        ));
        assert_eq!(term_score(1.0, 0.0, 4.0, 5.0, p), 0.0);
    }

    #[test]
    fn saturation_and_length_normalisation() {
        let p = Bm25Params::default();
        let s = |tf: f32, dl: f32| term_score(1.0, tf, dl, 10.0, p);
        assert!(s(2.0, 10.0) > s(1.0, 10.0));
        assert!(s(100.0, 10.0) < p.k1 + 1.0);
        assert!(s(1.0, 5.0) > s(1.0, 20.0));
        let no_norm = Bm25Params { k1: 1.2, b: 0.0 };
        assert!(close(
            term_score(1.0, 1.0, 5.0, 10.0, no_norm),
            term_score(1.0, 1.0, 50.0, 10.0, no_norm)
        ));
    }
}
