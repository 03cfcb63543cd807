//! The model the crash tests check a store against: histories of indexing operations, the
//! documents they leave, whole-store dumps compared with a clean index of those documents, and
//! searches compared with a brute-force scan of them.
//!
//! The clean index is built by inserting each document once into an empty store (on its own
//! in-memory disk), so it never goes through the overwrite or delete path under test.

use super::hashing_opts;
use kvstore_engine::fs::FaultFs;
use kvstore_engine::{Db, Options, DEFAULT_CF_NAME};
use kvstore_search::keys::{CF_DOCMETA, CF_INVERTED, CF_VECTORS};
use kvstore_search::{Embedder, HashingEmbedder, Indexer, SearchOptions, MAX_K};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;

/// Dimension of every vector in these tests (the hashing embedder's and the supplied ones).
pub const DIM: usize = 16;
/// Where a database lives on its in-memory disk.
pub const DIR: &str = "/db";

/// The search options of every store here (deterministic embedder, no model load).
pub fn opts() -> SearchOptions {
    hashing_opts(DIM)
}

/// A document as the test writes it; `vector: None` lets the embedder compute it.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    pub key: String,
    pub text: String,
    pub vector: Option<Vec<f32>>,
}

pub fn doc(key: &str, text: &str) -> Doc {
    Doc {
        key: key.into(),
        text: text.into(),
        vector: None,
    }
}

pub fn doc_v(key: &str, text: &str, vector: Vec<f32>) -> Doc {
    Doc {
        vector: Some(vector),
        ..doc(key, text)
    }
}

/// One indexing operation of a history.
#[derive(Debug, Clone)]
pub enum Op {
    Put(Doc),
    PutMany(Vec<Doc>),
    PutPrepared(Vec<Doc>),
    Delete(String),
}

/// The documents a store should hold, by key.
pub type Model = BTreeMap<String, Doc>;

impl Op {
    /// What the operation does to the documents.
    pub fn apply_to(&self, m: &mut Model) {
        match self {
            Op::Put(d) => {
                m.insert(d.key.clone(), d.clone());
            }
            // A key given twice keeps its last version.
            Op::PutMany(ds) | Op::PutPrepared(ds) => {
                for d in ds {
                    m.insert(d.key.clone(), d.clone());
                }
            }
            Op::Delete(k) => {
                m.remove(k);
            }
        }
    }

    /// Runs it through the `Indexer`.
    pub fn run(&self, ix: &Indexer) -> kvstore_search::Result<()> {
        match self {
            Op::Put(d) => ix.put(d.key.as_bytes(), d.text.as_bytes(), d.vector.clone()),
            Op::PutMany(ds) if ds.iter().all(|d| d.vector.is_none()) => {
                let items: Vec<_> = ds
                    .iter()
                    .map(|d| (d.key.clone().into_bytes(), d.text.clone().into_bytes()))
                    .collect();
                ix.put_many(&items)
            }
            Op::PutMany(ds) => ix.put_many_with_vectors(
                ds.iter()
                    .map(|d| {
                        let (k, t) = (d.key.clone(), d.text.clone());
                        (k.into_bytes(), t.into_bytes(), d.vector.clone())
                    })
                    .collect(),
            ),
            Op::PutPrepared(ds) => {
                let prepared = ds
                    .iter()
                    .map(|d| {
                        let (k, t) = (d.key.clone(), d.text.clone());
                        ix.prepare_doc(k.into_bytes(), t.into_bytes(), d.vector.clone())
                    })
                    .collect::<kvstore_search::Result<Vec<_>>>()?;
                ix.put_prepared(prepared)
            }
            Op::Delete(k) => ix.delete(k.as_bytes()).map(|_| ()),
        }
    }
}

/// The models before the history and after each of its steps (`history.len() + 1` of them).
pub fn models(history: &[Op]) -> Vec<Model> {
    let mut out = vec![Model::new()];
    for op in history {
        let mut m = out[out.len() - 1].clone();
        op.apply_to(&mut m);
        out.push(m);
    }
    out
}

/// Every record of the default and index column families, by (column family, key).
pub type Dump = BTreeMap<(&'static str, Vec<u8>), Vec<u8>>;

/// One snapshot of everything `ix` stores. Counter records whose delta reaches zero are
/// deleted, so a store and a clean index of the same documents hold the same records.
pub fn dump(ix: &Indexer) -> Dump {
    let db = ix.db();
    let snap = db.snapshot();
    let mut out = Dump::new();
    for cf_name in [DEFAULT_CF_NAME, CF_INVERTED, CF_DOCMETA, CF_VECTORS] {
        let cf = db
            .cf(cf_name)
            .unwrap_or_else(|| panic!("no column family {cf_name}"));
        for kv in snap.scan_prefix_cf(&cf, b"").unwrap() {
            let (k, v) = kv.unwrap();
            out.insert((cf_name, k), v);
        }
    }
    out
}

/// A fresh store on its own in-memory disk, opened like the one under test.
pub fn fresh_indexer() -> Indexer {
    let db = Db::open(
        DIR,
        Options {
            fs: Arc::new(FaultFs::new()),
            ..Options::default()
        },
    )
    .unwrap();
    Indexer::open(db, opts()).unwrap()
}

/// What a clean index of the documents of `m` holds: each document inserted once, in key
/// order, into an empty store.
pub fn clean_dump(m: &Model) -> Dump {
    let ix = fresh_indexer();
    for d in m.values() {
        ix.put(d.key.as_bytes(), d.text.as_bytes(), d.vector.clone())
            .unwrap();
    }
    dump(&ix)
}

fn show(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes.iter().take(48) {
        match b {
            0 => s.push('/'),
            b' '..=b'~' => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    if bytes.len() > 48 {
        s.push_str("...");
    }
    s
}

/// The differences between a store's dump and a clean index's, one line each (at most 8).
pub fn diff(got: &Dump, clean: &Dump) -> String {
    let keys: BTreeSet<_> = got.keys().chain(clean.keys()).collect();
    let mut lines = Vec::new();
    for k in keys {
        let (g, c) = (got.get(k), clean.get(k));
        if g != c {
            let v = |x: Option<&Vec<u8>>| x.map_or("<none>".into(), |v| format!("{:?}", show(v)));
            lines.push(format!(
                "    {} {:?}: store has {}, clean index has {}",
                k.0,
                show(&k.1),
                v(g),
                v(c)
            ));
        }
    }
    let n = lines.len();
    lines.truncate(8);
    if n > 8 {
        lines.push(format!("    ... and {} more", n - 8));
    }
    lines.join("\n")
}

/// Fails unless `ix` holds exactly a clean index of the documents of `m`.
pub fn assert_clean(ix: &Indexer, m: &Model, what: &str) {
    let (got, want) = (dump(ix), clean_dump(m));
    assert!(
        got == want,
        "{what}: the store differs from a clean index of its documents:\n{}",
        diff(&got, &want)
    );
    ix.verify()
        .unwrap_or_else(|e| panic!("{what}: verify: {e}"));
    check_searches(ix, m).unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// The vector a document is indexed with.
fn vector_of(d: &Doc) -> Vec<f32> {
    d.vector
        .clone()
        .unwrap_or_else(|| HashingEmbedder::new(DIM).embed(&d.text).unwrap())
}

fn cosine(a: &[f32], b: &[f32]) -> Option<f32> {
    let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
    let (na, nb) = (dot(a, a).sqrt(), dot(b, b).sqrt());
    (na > 0.0 && nb > 0.0).then(|| dot(a, b) / (na * nb))
}

/// Searches agree with a brute-force scan of the documents of `m`: each word of each document
/// finds exactly the documents holding its term, with their values; a semantic search by the
/// vector of a document (of up to 16 of them) finds every document with a non-zero vector,
/// scored like the scan, both through the snapshot ([`Indexer::semantic_search_vector`]) and in
/// the in-memory vector index ([`Indexer::semantic_search_exact`], rebuilt from `vectors` at
/// open).
pub fn check_searches(ix: &Indexer, m: &Model) -> Result<(), String> {
    let an = ix.analyzer();
    let terms: BTreeMap<&str, BTreeSet<String>> = m
        .values()
        .map(|d| {
            let t = an.analyze(&d.text).into_iter().map(|t| t.term).collect();
            (d.key.as_str(), t)
        })
        .collect();
    let words: BTreeSet<&str> = m
        .values()
        .flat_map(|d| d.text.split_whitespace())
        .chain(["absentword"])
        .collect();
    for w in words {
        let Some(term) = an.analyze(w).into_iter().next().map(|t| t.term) else {
            continue;
        };
        let want: BTreeSet<&str> = terms
            .iter()
            .filter(|(_, ts)| ts.contains(&term))
            .map(|(k, _)| *k)
            .collect();
        let hits = ix.search(w, MAX_K, true).map_err(|e| e.to_string())?;
        let got: BTreeSet<&str> = hits
            .iter()
            .map(|h| std::str::from_utf8(&h.key).unwrap())
            .collect();
        if got != want {
            return Err(format!(
                "search {w:?} found {got:?}, the documents hold it in {want:?}"
            ));
        }
        for h in &hits {
            let key = std::str::from_utf8(&h.key).unwrap();
            if h.value.as_deref() != Some(m[key].text.as_bytes()) {
                return Err(format!("search {w:?}: {key} came back with a stale value"));
            }
        }
    }
    let vectors: BTreeMap<&str, Vec<f32>> = m
        .values()
        .map(|d| (d.key.as_str(), vector_of(d)))
        .filter(|(_, v)| v.iter().any(|x| *x != 0.0))
        .collect();
    // Every document is in each result; a few query vectors are enough to see all of them.
    let step = vectors.len().div_ceil(16).max(1);
    for (qk, q) in vectors.iter().step_by(step) {
        let want: BTreeMap<&str, f32> = vectors
            .iter()
            .filter_map(|(k, v)| Some((*k, cosine(q, v)?)))
            .collect();
        let snap_hits: Vec<(Vec<u8>, f32)> = ix
            .semantic_search_vector(q, vectors.len())
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|h| (h.key, h.score))
            .collect();
        let mem_hits = ix
            .semantic_search_exact(q, MAX_K)
            .map_err(|e| e.to_string())?;
        for (which, hits) in [("semantic search", snap_hits), ("vector index", mem_hits)] {
            let got: BTreeMap<&str, f32> = hits
                .iter()
                .map(|(k, s)| (std::str::from_utf8(k).unwrap(), *s))
                .collect();
            let same = got.len() == want.len()
                && got
                    .iter()
                    .all(|(k, s)| want.get(k).is_some_and(|w| (w - s).abs() < 1e-4));
            if !same {
                return Err(format!(
                    "{which} by the vector of {qk}: got {got:?}, a scan of the documents gives \
                     {want:?}"
                ));
            }
        }
    }
    Ok(())
}
