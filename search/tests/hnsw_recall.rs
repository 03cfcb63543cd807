//! HNSW recall@10 against exact search on 5,000 random 64-d vectors, through the Indexer.
mod common;
use common::*;
use kvstore_search::hnsw::{HnswParams, VectorIndex};
use kvstore_search::{Indexer, SearchOptions};
use rand::{Rng, SeedableRng};

fn random_vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect())
        .collect()
}

fn recall_at_10(ix: &VectorIndex, queries: &[Vec<f32>]) -> f64 {
    let mut found = 0;
    for q in queries {
        let exact: Vec<_> = ix.search_exact(q, 10).into_iter().map(|h| h.0).collect();
        let approx = ix.search_hnsw(q, 10, ix_ef());
        found += approx.iter().filter(|h| exact.contains(&h.0)).count();
    }
    found as f64 / (queries.len() * 10) as f64
}

fn ix_ef() -> usize {
    HnswParams::default().ef_search
}

#[test]
fn recall_at_10_is_at_least_0_95_on_5k_random_vectors() {
    let dim = 64;
    let mut ix = VectorIndex::new(dim, HnswParams::default(), 0);
    for (i, v) in random_vectors(5_000, dim, 1).iter().enumerate() {
        ix.upsert(format!("v{i}").as_bytes(), v);
    }
    let queries = random_vectors(200, dim, 2);
    let r = recall_at_10(&ix, &queries);
    eprintln!("HNSW recall@10 = {r:.3} (5k random 64-d, ef {})", ix_ef());
    assert!(r >= 0.95, "recall@10 = {r}");
}

#[test]
fn indexer_uses_hnsw_above_the_threshold_with_high_recall() {
    let (_d, db) = db();
    let opts = SearchOptions {
        exact_threshold: 500,
        ..hashing_opts(32)
    };
    let ix = Indexer::open(db, opts).unwrap();
    let vs = random_vectors(2_000, 32, 3);
    let items = vs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            (
                format!("v{i:05}").into_bytes(),
                b"text".to_vec(),
                Some(v.clone()),
            )
        })
        .collect();
    ix.put_many_with_vectors(items).unwrap();
    ix.wait_for_graph();
    assert_eq!(ix.stats().unwrap().graph_pending, 0);
    let mut found = 0;
    let queries = random_vectors(50, 32, 4);
    for q in &queries {
        let exact: Vec<_> = ix
            .semantic_search_exact(q, 10)
            .unwrap()
            .into_iter()
            .map(|h| h.0)
            .collect();
        let approx = ix.semantic_search_vector(q, 10).unwrap();
        assert_eq!(approx.len(), 10);
        found += approx.iter().filter(|h| exact.contains(&h.key)).count();
    }
    let r = found as f64 / 500.0;
    assert!(r >= 0.95, "recall@10 through the Indexer = {r}");
}
