//! Hierarchical Navigable Small World graph (Malkov & Yashunin, 2016), written for this crate.
//!
//! Layout: node `i` owns `vectors[i*dim .. (i+1)*dim]` (unit length) and, once linked, its
//! neighbours on every layer `l <= level(i)`: layer 0 in one flat array (`links0`, a fixed
//! slot of `1 + 2·m` u32 per node: count, then ids — 132 bytes, three cache lines at the
//! default `m = 16`), so a search reads a node's neighbours from consecutive lines instead of
//! chasing three pointers; upper layers in `upper[i][l - 1]`. Vectors are *pushed*
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
use kvstore_base::coding::{get_u32, get_u64, put_u32, put_u64};
use kvstore_base::prefetch::prefetch_line;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Graph construction and search parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Neighbours per node on upper layers (2·m on layer 0). Default 16.
    pub m: usize,
    /// Candidate list size while inserting. Default 64 (as pgvector): on real 64-d vectors it
    /// builds about 1.7× faster than 128 for the same recall within 0.002 (docs/search.md), and
    /// under a sustained write load linking is the largest CPU cost of a document.
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
            ef_construction: 64,
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
    /// Layer-0 neighbours: node `i`'s slot is `links0[i*stride0 .. (i+1)*stride0]`, holding
    /// the count then up to `2·m` ids.
    links0: Vec<u32>,
    /// `upper[node][layer - 1]`: neighbours on layers 1..=level(node) (empty for most nodes).
    upper: Vec<Vec<Vec<u32>>>,
    entry: Option<u32>,
    max_level: usize,
    rng: u64,
    /// Nodes linked by this process (not saved): what a restart cost in graph work.
    linked_here: u64,
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
            links0: Vec::new(),
            upper: Vec::new(),
            entry: None,
            max_level: 0,
            rng: params.seed | 1,
            linked_here: 0,
        }
    }

    /// Sets the candidate-list sizes (they shape future links and searches, not the graph's
    /// validity, so a loaded graph takes today's options).
    pub(crate) fn set_search_params(&mut self, ef_construction: usize, ef_search: usize) {
        self.params.ef_construction = ef_construction.max(1);
        self.params.ef_search = ef_search;
    }

    /// Nodes this process linked (a graph loaded from disk starts at 0).
    pub fn linked_here(&self) -> u64 {
        self.linked_here
    }

    /// Number of nodes linked into the graph.
    pub fn len(&self) -> usize {
        self.upper.len()
    }

    fn stride0(&self) -> usize {
        1 + 2 * self.params.m
    }

    /// Neighbours of `id` on `layer` (`layer <= level(id)`).
    fn neighbours(&self, id: u32, layer: usize) -> &[u32] {
        if layer == 0 {
            let s = id as usize * self.stride0();
            let n = self.links0[s] as usize;
            &self.links0[s + 1..s + 1 + n]
        } else {
            &self.upper[id as usize][layer - 1]
        }
    }

    fn set_neighbours(&mut self, id: u32, layer: usize, ns: &[u32]) {
        if layer == 0 {
            let s = id as usize * self.stride0();
            self.links0[s] = ns.len() as u32;
            self.links0[s + 1..s + 1 + ns.len()].copy_from_slice(ns);
        } else {
            self.upper[id as usize][layer - 1] = ns.to_vec();
        }
    }

    /// Number of layers `id` is on (its level + 1).
    fn layers(&self, id: u32) -> usize {
        self.upper[id as usize].len() + 1
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
        self.upper.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Mean number of neighbours of the nodes present on `layer` (a health figure).
    pub fn mean_degree(&self, layer: usize) -> f64 {
        let on: Vec<u32> = (0..self.len() as u32)
            .filter(|&i| self.layers(i) > layer)
            .collect();
        if on.is_empty() {
            return 0.0;
        }
        on.iter()
            .map(|&i| self.neighbours(i, layer).len())
            .sum::<usize>() as f64
            / on.len() as f64
    }

    /// The stored (normalised) vector of `id`.
    pub fn vector(&self, id: u32) -> &[f32] {
        let s = id as usize * self.dim;
        &self.vectors[s..s + self.dim]
    }

    /// Asks the CPU to start loading the vector of `id` (neighbours are scattered in memory;
    /// loading them all before computing any distance overlaps the cache misses).
    #[inline(always)]
    fn prefetch(&self, id: u32) {
        let p = self.vectors.as_ptr().wrapping_add(id as usize * self.dim);
        // One prefetch per 16 floats (a cache line), over the whole vector whatever `dim`;
        // `wrapping_add` keeps the arithmetic defined whatever the address.
        for off in (0..self.dim).step_by(16) {
            prefetch_line(p.wrapping_add(off).cast::<u8>());
        }
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
        let id = self.len() as u32;
        if id as usize >= self.pushed() {
            return false;
        }
        self.linked_here += 1;
        let v = self.vector(id).to_vec();
        let v = v.as_slice();
        let level = self.random_level();
        self.upper.push(vec![Vec::new(); level]);
        let stride = self.stride0();
        self.links0.resize(self.links0.len() + stride, 0);
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
                self.add_link(n, l, id);
            }
            self.set_neighbours(id, l, &chosen);
            eps = found.iter().map(|c| c.id).collect();
        }
        if level > self.max_level {
            self.max_level = level;
            self.entry = Some(id);
        }
        true
    }

    /// Adds `id` to the neighbours of `n` on `layer`; when that overflows the list, re-selects
    /// them (heuristic, as at insertion) among the old ones and `id`.
    fn add_link(&mut self, n: u32, layer: usize, id: u32) {
        let cur = self.neighbours(n, layer);
        if cur.len() < self.max_links(layer) {
            let mut ns = cur.to_vec();
            ns.push(id);
            self.set_neighbours(n, layer, &ns);
            return;
        }
        let base = self.vector(n);
        let mut cands: Vec<Cand> = cur
            .iter()
            .chain(std::iter::once(&id))
            .map(|&x| Cand {
                d: self.dist(base, x),
                id: x,
            })
            .collect();
        cands.sort();
        let chosen = self.select(&cands, self.max_links(layer));
        self.set_neighbours(n, layer, &chosen);
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
            for &n in self.neighbours(ep, layer) {
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
            let ns = self.neighbours(c.id, layer);
            for &n in ns {
                self.prefetch(n);
            }
            for &n in ns {
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

    /// Appends the graph's encoding (`docs/formats/hnsw.md`, "graph"): parameters, generator
    /// state, every stored vector, then the links of every linked node.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        let u32_of = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        for x in [
            u32_of(self.dim),
            u32_of(self.params.m),
            u32_of(self.params.ef_construction),
            u32_of(self.params.ef_search),
        ] {
            put_u32(out, x);
        }
        put_u64(out, self.params.seed);
        put_u64(out, self.rng);
        put_u32(out, u32_of(self.max_level));
        put_u32(out, self.entry.unwrap_or(u32::MAX));
        put_u32(out, u32_of(self.pushed()));
        put_u32(out, u32_of(self.len()));
        out.reserve(self.vectors.len() * 4 + self.links0.len() * 4);
        for x in &self.vectors {
            put_u32(out, x.to_bits());
        }
        for &x in &self.links0 {
            put_u32(out, x);
        }
        for layers in &self.upper {
            put_u32(out, u32_of(layers.len()));
            for ns in layers {
                put_u32(out, u32_of(ns.len()));
                for &n in ns {
                    put_u32(out, n);
                }
            }
        }
    }

    /// Reads a graph written by [`Hnsw::encode_into`], checking every invariant a search
    /// relies on (a link names a linked node present on that layer, counts within bounds, the
    /// entry on the top layer), so that no input can make a later search panic.
    pub(crate) fn decode_from(r: &mut Reader<'_>) -> std::result::Result<Hnsw, String> {
        let dim = r.u32()? as usize;
        let m = r.u32()? as usize;
        let ef_construction = r.u32()? as usize;
        let ef_search = r.u32()? as usize;
        let seed = r.u64()?;
        let rng = r.u64()?;
        let max_level = r.u32()? as usize;
        let entry = r.u32()?;
        let pushed = r.u32()? as usize;
        let linked = r.u32()? as usize;
        if dim == 0 || m < 2 || linked > pushed || max_level > 16 {
            return Err(format!(
                "bad graph header: dim {dim}, m {m}, {linked} of {pushed} linked, top layer {max_level}"
            ));
        }
        let mut g = Hnsw::new(
            dim,
            HnswParams {
                m,
                ef_construction,
                ef_search,
                seed,
            },
        );
        g.rng = rng;
        g.max_level = max_level;
        g.vectors = r.f32s(pushed.checked_mul(dim).ok_or("vector count overflows")?)?;
        let stride = g.stride0();
        g.links0 = r.u32s(linked.checked_mul(stride).ok_or("link count overflows")?)?;
        g.upper = Vec::with_capacity(linked);
        for _ in 0..linked {
            let levels = r.u32()? as usize;
            if levels > 16 {
                return Err(format!("a node on {levels} upper layers"));
            }
            let mut layers = Vec::with_capacity(levels);
            for _ in 0..levels {
                let n = r.u32()? as usize;
                if n > m {
                    return Err(format!("{n} upper-layer neighbours, more than m = {m}"));
                }
                layers.push(r.u32s(n)?);
            }
            g.upper.push(layers);
        }
        g.entry = match entry {
            u32::MAX if linked == 0 => None,
            e if (e as usize) < linked && g.layers(e) == max_level + 1 => Some(e),
            e => return Err(format!("entry node {e} is not on the top layer")),
        };
        for id in 0..linked as u32 {
            let s = id as usize * stride;
            if g.links0[s] as usize > 2 * m {
                return Err(format!("node {id} has {} layer-0 neighbours", g.links0[s]));
            }
            for l in 0..g.layers(id) {
                if let Some(&bad) = g
                    .neighbours(id, l)
                    .iter()
                    .find(|&&n| n as usize >= linked || g.layers(n) <= l)
                {
                    return Err(format!("node {id} links to {bad} on layer {l}"));
                }
            }
        }
        Ok(g)
    }
}

/// A cursor over a graph file's body: the fixed-width fields of `kvstore_base::coding`, each
/// failing with a message (not panicking) past the end.
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
}

fn short(what: &str) -> String {
    format!("truncated: {what} runs past the end")
}

impl<'a> Reader<'a> {
    pub(crate) fn bytes(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if n > self.buf.len() {
            return Err(format!("{n} bytes wanted, {} left", self.buf.len()));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    pub(crate) fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.bytes(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> std::result::Result<u32, String> {
        get_u32(&mut self.buf).ok_or_else(|| short("a u32"))
    }
    pub(crate) fn u64(&mut self) -> std::result::Result<u64, String> {
        get_u64(&mut self.buf).ok_or_else(|| short("a u64"))
    }
    fn u32s(&mut self, n: usize) -> std::result::Result<Vec<u32>, String> {
        let mut b = self.bytes(n.checked_mul(4).ok_or("length overflows")?)?;
        Ok((0..n).filter_map(|_| get_u32(&mut b)).collect())
    }
    fn f32s(&mut self, n: usize) -> std::result::Result<Vec<f32>, String> {
        let mut b = self.bytes(n.checked_mul(4).ok_or("length overflows")?)?;
        Ok((0..n)
            .filter_map(|_| get_u32(&mut b))
            .map(f32::from_bits)
            .collect())
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
        for n in 0..h.len() as u32 {
            for l in 0..h.layers(n) {
                let ls = h.neighbours(n, l);
                assert!(ls.len() <= h.max_links(l));
                assert!(ls.iter().all(|&x| h.layers(x) > l && x != n));
            }
        }
        let none = h.search(&[1.0, 0.0], 5, 16, &|_| false);
        assert!(none.is_empty());
    }
}
