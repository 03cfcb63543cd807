//! The pruned (MaxScore, seeking) query path ranks exactly like an exhaustive BM25 computed
//! here from the raw documents.
mod common;
use common::*;
use kvstore_search::analysis::Analyzer;
use kvstore_search::bm25::{idf, term_score, Bm25Params};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

fn zipf_word(rng: &mut impl Rng) -> String {
    let rank = 300f64.powf(rng.gen::<f64>()) as usize;
    format!("w{rank}")
}

#[test]
fn pruned_search_equals_exhaustive_bm25() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (_d, ix) = indexer();
    let a = Analyzer::english();
    let docs: Vec<(String, String)> = (0..600)
        .map(|i| {
            let n = rng.gen_range(3..40);
            let t: Vec<String> = (0..n).map(|_| zipf_word(&mut rng)).collect();
            (format!("d{i:04}"), t.join(" "))
        })
        .collect();
    let items: Vec<_> = docs
        .iter()
        .map(|(k, v)| (k.clone().into_bytes(), v.clone().into_bytes()))
        .collect();
    ix.put_many(&items).unwrap();

    let analyzed: Vec<(String, Vec<String>)> = docs
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                a.analyze(v).into_iter().map(|t| t.term).collect(),
            )
        })
        .collect();
    let n = analyzed.len() as u64;
    let avgdl = analyzed.iter().map(|d| d.1.len()).sum::<usize>() as f32 / n as f32;
    let mut df: HashMap<&str, u64> = HashMap::new();
    for (_, terms) in &analyzed {
        let mut u: Vec<&str> = terms.iter().map(String::as_str).collect();
        u.sort();
        u.dedup();
        for t in u {
            *df.entry(t).or_default() += 1;
        }
    }
    let p = Bm25Params::default();
    for _ in 0..150 {
        let q: Vec<String> = (0..rng.gen_range(1..5))
            .map(|_| zipf_word(&mut rng))
            .collect();
        let k = rng.gen_range(1..15);
        let mut qtf: HashMap<String, f32> = HashMap::new();
        for w in &q {
            *qtf.entry(a.term(w)).or_default() += 1.0;
        }
        let mut expected: Vec<(String, f32)> = analyzed
            .iter()
            .filter_map(|(key, terms)| {
                let mut s = 0.0;
                let mut hit = false;
                for (t, w) in &qtf {
                    let tf = terms.iter().filter(|x| *x == t).count() as f32;
                    if tf > 0.0 {
                        hit = true;
                        let i = idf(df[t.as_str()], n) * w;
                        s += term_score(i, tf, terms.len() as f32, avgdl, p);
                    }
                }
                hit.then(|| (key.clone(), s))
            })
            .collect();
        expected.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        expected.truncate(k);
        let got = ix.search(&q.join(" "), k, false).unwrap();
        assert_eq!(got.len(), expected.len(), "query {q:?}");
        for (g, e) in got.iter().zip(&expected) {
            assert!(
                (g.score - e.1).abs() < 1e-3,
                "query {q:?}: {} {} vs {} {}",
                String::from_utf8_lossy(&g.key),
                g.score,
                e.0,
                e.1
            );
        }
    }
}
