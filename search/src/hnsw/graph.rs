//! Hierarchical Navigable Small World graph (Malkov & Yashunin, 2016), written for this crate.
//!
//! Layout: node `i` owns `vectors[i*dim .. (i+1)*dim]` (unit length) and, once linked,
//! `links[i][l]`, its neighbours on layer `l` for every `l <= level(i)`. Vectors are *pushed*
//! first and *linked* into the graph in id order, possibly later ([`Hnsw::link_next`]): ids
//! `0..len()` are in the graph, ids `len()..pushed()` wait (callers scan those exactly). Layer 0 keeps up to `2·m` neighbours, upper
//! layers `m`. Neighbours are chosen with the paper's heuristic (algorithm 4), which keeps the
//! graph navigable on clustered data. Node ids are dense and never reused; removal is the
//! caller's business (tombstones: pass a filter to [`Hnsw::search`]).
//!
//! Invariants: every link points at an existing node on a layer that node has; `entry` is a node
//! of the top layer `max_level`. Levels come from a seeded xorshift generator, so a graph built
//! from the same inputs in the same order is the same graph.

use super::dot;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Graph construction and search parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Neighbours per node on upper layers (2·m on layer 0). Default 16.
    pub m: usize,
    /// Candidate list size while inserting. Default 128.
    pub ef_construction: usize,
    /// Candidate list size while searching (at least k is used). Default 128.
    pub ef_search: usize,
    /// Seed of the level generator.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 16,
            ef_construction: 128,
            ef_search: 128,
            seed: 0x5eed_cafe_f00d_d00d,
        }
    }
}

/// A candidate: distance to the query, node id. Ordered by distance, then id.
#[derive(Debug, Clone, Copy)]
struct Cand {
    d: f32,
    id: u32,
}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> Ordering {
        self.d.total_cmp(&o.d).then(self.id.cmp(&o.id))
    }
}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl PartialEq for Cand {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Cand {}

/// The graph.
#[derive(Debug, Clone)]
pub struct Hnsw {
    dim: usize,
    params: HnswParams,
    vectors: Vec<f32>,
    /// `links[node][layer]`.
    links: Vec<Vec<Vec<u32>>>,
    entry: Option<u32>,
    max_level: usize,
    rng: u64,
}

impl Hnsw {
    pub fn new(dim: usize, params: HnswParams) -> Hnsw {
        Hnsw {
            dim,
            params: HnswParams {
                m: params.m.max(2),
                ef_construction: params.ef_construction.max(1),
                ..params
            },
            vectors: Vec::new(),
            links: Vec::new(),
            entry: None,
            max_level: 0,
            rng: params.seed | 1,
        }
    }

    /// Number of nodes linked into the graph.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Number of vectors stored (linked or waiting).
    pub fn pushed(&self) -> usize {
        self.vectors.len() / self.dim.max(1)
    }

    /// Stores a unit-length vector without linking it; returns its id.
    pub fn push(&mut self, v: &[f32]) -> u32 {
        debug_assert_eq!(v.len(), self.dim);
        let id = self.pushed() as u32;
        self.vectors.extend_from_slice(v);
        id
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Mean number of neighbours of the nodes present on `layer` (a health figure).
    pub fn mean_degree(&self, layer: usize) -> f64 {
        let on: Vec<_> = self.links.iter().filter_map(|l| l.get(layer)).collect();
        if on.is_empty() {
            return 0.0;
        }
        on.iter().map(|l| l.len()).sum::<usize>() as f64 / on.len() as f64
    }

    /// The stored (normalised) vector of `id`.
    pub fn vector(&self, id: u32) -> &[f32] {
        let s = id as usize * self.dim;
        &self.vectors[s..s + self.dim]
    }

    fn dist(&self, q: &[f32], id: u32) -> f32 {
        1.0 - dot(q, self.vector(id))
    }

    fn random_level(&mut self) -> usize {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let u = ((r >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let ml = 1.0 / (self.params.m as f64).ln();
        ((-u.ln() * ml) as usize).min(16)
    }

    fn max_links(&self, layer: usize) -> usize {
        if layer == 0 {
            2 * self.params.m
        } else {
            self.params.m
        }
    }

    /// Adds a unit-length vector of `dim` components and links it; returns its id.
    pub fn insert(&mut self, v: &[f32]) -> u32 {
        let id = self.push(v);
        while self.link_next() {}
        id
    }

    /// Links the first waiting vector into the graph; false when none waits.
    pub fn link_next(&mut self) -> bool {
        let id = self.links.len() as u32;
        if id as usize >= self.pushed() {
            return false;
        }
        let v = self.vector(id).to_vec();
        let v = v.as_slice();
        let level = self.random_level();
        self.links.push(vec![Vec::new(); level + 1]);
        let Some(mut ep) = self.entry else {
            self.entry = Some(id);
            self.max_level = level;
            return true;
        };
        for l in (level + 1..=self.max_level).rev() {
            ep = self.greedy(v, ep, l);
        }
        let mut eps = vec![ep];
        for l in (0..=level.min(self.max_level)).rev() {
            let found = self.search_layer(v, &eps, self.params.ef_construction, l, &|_| true);
            let chosen = self.select(&found, self.params.m);
            for &n in &chosen {
                self.links[n as usize][l].push(id);
                if self.links[n as usize][l].len() > self.max_links(l) {
                    self.shrink(n, l);
                }
            }
            self.links[id as usize][l] = chosen;
            eps = found.iter().map(|c| c.id).collect();
        }
        if level > self.max_level {
            self.max_level = level;
            self.entry = Some(id);
        }
        true
    }

    /// Re-selects the neighbours of `n` on `layer` after it overflowed.
    fn shrink(&mut self, n: u32, layer: usize) {
        let base = self.vector(n).to_vec();
        let mut cands: Vec<Cand> = self.links[n as usize][layer]
            .iter()
            .map(|&id| Cand {
                d: self.dist(&base, id),
                id,
            })
            .collect();
        cands.sort();
        self.links[n as usize][layer] = self.select(&cands, self.max_links(layer));
    }

    /// The neighbour heuristic: take candidates nearest first, skipping any that is closer to
    /// an already chosen neighbour than to the base. `cands` is sorted nearest first.
    fn select(&self, cands: &[Cand], m: usize) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::with_capacity(m);
        for c in cands {
            if out.len() >= m {
                break;
            }
            let v = self.vector(c.id);
            if out.iter().all(|&r| 1.0 - dot(v, self.vector(r)) > c.d) {
                out.push(c.id);
            }
        }
        out
    }

    fn greedy(&self, q: &[f32], mut ep: u32, layer: usize) -> u32 {
        let mut best = self.dist(q, ep);
        loop {
            let mut moved = false;
            for &n in &self.links[ep as usize][layer] {
                let d = self.dist(q, n);
                if d < best {
                    best = d;
                    ep = n;
                    moved = true;
                }
            }
            if !moved {
                return ep;
            }
        }
    }

    /// Best-first search of one layer; returns up to `ef` nodes passing `keep`, nearest first.
    /// Nodes failing `keep` are still walked through (tombstones keep the graph connected).
    fn search_layer(
        &self,
        q: &[f32],
        eps: &[u32],
        ef: usize,
        layer: usize,
        keep: &dyn Fn(u32) -> bool,
    ) -> Vec<Cand> {
        let mut visited = vec![0u64; self.len().div_ceil(64)];
        let mut seen = |id: u32| {
            let (w, b) = (id as usize / 64, id as usize % 64);
            let was = visited[w] >> b & 1 == 1;
            visited[w] |= 1 << b;
            was
        };
        let mut frontier = BinaryHeap::new(); // min-heap via Reverse
        let mut results: BinaryHeap<Cand> = BinaryHeap::new(); // max-heap: worst on top
        for &e in eps {
            if seen(e) {
                continue;
            }
            let c = Cand {
                d: self.dist(q, e),
                id: e,
            };
            frontier.push(std::cmp::Reverse(c));
            if keep(e) {
                results.push(c);
            }
        }
        while results.len() > ef {
            results.pop();
        }
        while let Some(std::cmp::Reverse(c)) = frontier.pop() {
            if results.len() >= ef && results.peek().is_some_and(|w| c.d > w.d) {
                break;
            }
            for &n in &self.links[c.id as usize][layer] {
                if seen(n) {
                    continue;
                }
                let d = self.dist(q, n);
                let full = results.len() >= ef;
                if !full || results.peek().is_some_and(|w| d < w.d) {
                    frontier.push(std::cmp::Reverse(Cand { d, id: n }));
                    if keep(n) {
                        results.push(Cand { d, id: n });
                        if results.len() > ef {
                            results.pop();
                        }
                    }
                }
            }
        }
        results.into_sorted_vec()
    }

    /// The `k` nodes nearest to unit vector `q` among those passing `keep`, with their cosine
    /// similarity, best first. `ef` (at least `k`) trades speed for recall.
    pub fn search(
        &self,
        q: &[f32],
        k: usize,
        ef: usize,
        keep: &dyn Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        let Some(mut ep) = self.entry else {
            return Vec::new();
        };
        for l in (1..=self.max_level).rev() {
            ep = self.greedy(q, ep, l);
        }
        let mut found = self.search_layer(q, &[ep], ef.max(k), 0, keep);
        found.truncate(k);
        found.into_iter().map(|c| (c.id, 1.0 - c.d)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_itself_and_keeps_links_bounded() {
        let mut h = Hnsw::new(2, HnswParams::default());
        for i in 0..200 {
            let a = i as f32 * 0.0314;
            h.insert(&[a.cos(), a.sin()]);
        }
        for i in [0u32, 57, 199] {
            let r = h.search(h.vector(i), 1, 16, &|_| true);
            assert_eq!(r[0].0, i);
            assert!((r[0].1 - 1.0).abs() < 1e-5);
        }
        for (n, layers) in h.links.iter().enumerate() {
            for (l, ls) in layers.iter().enumerate() {
                assert!(ls.len() <= h.max_links(l));
                assert!(ls
                    .iter()
                    .all(|&x| h.links[x as usize].len() > l && x as usize != n));
            }
        }
        let none = h.search(&[1.0, 0.0], 5, 16, &|_| false);
        assert!(none.is_empty());
    }
}
