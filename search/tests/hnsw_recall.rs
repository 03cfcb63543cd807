//! HNSW recall@10 against exact search: on 5,000 random 64-d vectors, on real vectors (rows of
//! potion-base-2M's token table, queried with held-out rows), and through the Indexer.
mod common;
use common::*;
use kvstore_search::hnsw::{HnswParams, VectorIndex};
use kvstore_search::{Indexer, SearchOptions, StaticEmbedder};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

fn random_vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect())
        .collect()
}

fn recall_at_10(ix: &VectorIndex, queries: &[Vec<f32>]) -> f64 {
    recall_at_10_ef(ix, queries, ix_ef())
}

fn recall_at_10_ef(ix: &VectorIndex, queries: &[Vec<f32>], ef: usize) -> f64 {
    let mut found = 0;
    for q in queries {
        let exact: Vec<_> = ix.search_exact(q, 10).into_iter().map(|h| h.0).collect();
        let approx = ix.search_hnsw(q, 10, ef);
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

/// 8,000 shuffled non-zero rows of the potion-base-2M token table (real 64-d vectors) to index,
/// and 300 other rows as queries.
fn potion_rows() -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let model = StaticEmbedder::potion_base_2m().unwrap();
    let mut rows: Vec<Vec<f32>> = model
        .token_rows()
        .filter(|r| r.iter().any(|x| *x != 0.0))
        .map(<[f32]>::to_vec)
        .collect();
    rows.shuffle(&mut rand::rngs::StdRng::seed_from_u64(7));
    let queries = rows.split_off(8_000);
    (rows, queries.into_iter().take(300).collect())
}

#[test]
fn recall_at_10_is_at_least_0_95_on_real_embedding_vectors() {
    let (base, queries) = potion_rows();
    let mut ix = VectorIndex::new(64, HnswParams::default(), 0);
    for (i, v) in base.iter().enumerate() {
        ix.upsert(format!("t{i}").as_bytes(), v);
    }
    let r = recall_at_10(&ix, &queries);
    eprintln!(
        "HNSW recall@10 = {r:.3} (8k potion token rows, ef {})",
        ix_ef()
    );
    assert!(r >= 0.95, "recall@10 = {r}");

    // The measure discriminates: a crippled graph (2 links per node, tiny candidate lists)
    // over the same vectors falls well short.
    let weak = HnswParams {
        m: 2,
        ef_construction: 4,
        ..HnswParams::default()
    };
    let mut bad = VectorIndex::new(64, weak, 0);
    for (i, v) in base.iter().enumerate() {
        bad.upsert(format!("t{i}").as_bytes(), v);
    }
    let r = recall_at_10_ef(&bad, &queries, 10);
    assert!(
        r < 0.9,
        "a 2-link graph searched with ef 10 should miss neighbours: {r}"
    );
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
