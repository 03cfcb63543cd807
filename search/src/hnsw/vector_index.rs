//! [`VectorIndex`]: document keys ↔ graph nodes, tombstones, and the exact/HNSW switch.
//!
//! Invariants: a key maps to at most one live node (`by_key`); an overwritten or deleted key's
//! old node is a tombstone (`live[id] == false`), still walked by searches but never returned.
//! When tombstones outnumber live nodes (and exceed [`COMPACT_MIN_TOMBSTONES`]) the graph is
//! rebuilt from the live vectors. Zero vectors are not indexed (cosine is undefined for them).
//! Below `exact_threshold` live vectors, search is an exact scan of the live vectors.
//!
//! Deferred linking: with `set_deferred(true)` an upsert only stores the vector; a background
//! builder links waiting vectors with [`VectorIndex::build_step`]. A search then merges the
//! graph's answer with an exact scan of the waiting vectors, so a vector is findable from the
//! moment it is upserted, linked or not.

use super::dot;
use super::graph::{Hnsw, HnswParams, Reader};
use crate::embedder::normalize;
use crate::topk::TopK;
use std::collections::HashMap;
use std::sync::Arc;

/// Tombstones tolerated before a rebuild is considered.
pub const COMPACT_MIN_TOMBSTONES: usize = 1024;

/// The in-memory vector index of the documents.
#[derive(Debug)]
pub struct VectorIndex {
    graph: Hnsw,
    /// `keys[id]`: the document of node `id`.
    keys: Vec<Arc<[u8]>>,
    /// `live[id]`: false for tombstones.
    live: Vec<bool>,
    by_key: HashMap<Arc<[u8]>, u32>,
    exact_threshold: usize,
    /// Leave linking to `build_step` (a background builder) instead of doing it in `upsert`.
    deferred: bool,
    /// Changes so far (upserts, removals, links), and how many of them the last saved graph
    /// file holds: the difference is what a restart would have to redo.
    changes: u64,
    saved_changes: u64,
}

impl VectorIndex {
    pub fn new(dim: usize, params: HnswParams, exact_threshold: usize) -> VectorIndex {
        VectorIndex {
            graph: Hnsw::new(dim, params),
            keys: Vec::new(),
            live: Vec::new(),
            by_key: HashMap::new(),
            exact_threshold,
            deferred: false,
            changes: 0,
            saved_changes: 0,
        }
    }

    /// Chooses whether `upsert` links new vectors itself (false, the default) or leaves them to
    /// [`VectorIndex::build_step`].
    pub fn set_deferred(&mut self, deferred: bool) {
        self.deferred = deferred;
        if !deferred {
            while self.graph.link_next() {}
        }
    }

    /// Vectors stored but not yet linked into the graph.
    pub fn pending(&self) -> usize {
        self.graph.pushed() - self.graph.len()
    }

    /// Links up to `max` waiting vectors; returns how many it linked.
    pub fn build_step(&mut self, max: usize) -> usize {
        let mut n = 0;
        while n < max && self.graph.link_next() {
            n += 1;
        }
        self.changes += n as u64;
        n
    }

    pub fn dim(&self) -> usize {
        self.graph.dim()
    }

    /// Live (searchable) vectors.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The graph (read-only), for inspection.
    pub fn graph(&self) -> &Hnsw {
        &self.graph
    }

    /// Graph nodes, tombstones included.
    pub fn nodes(&self) -> usize {
        self.keys.len()
    }

    /// Sets the vector of `key` (any length-`dim` vector; it is normalised here).
    pub fn upsert(&mut self, key: &[u8], vector: &[f32]) {
        self.remove(key);
        let mut v = vector.to_vec();
        normalize(&mut v);
        self.upsert_unit(key, v);
    }

    /// `upsert` of an already normalised vector, after the key's old node (if any) is gone.
    fn upsert_unit(&mut self, key: &[u8], v: Vec<f32>) {
        if v.len() != self.dim() || v.iter().all(|x| *x == 0.0) || v.iter().any(|x| !x.is_finite())
        {
            return;
        }
        self.changes += 1;
        let k: Arc<[u8]> = Arc::from(key);
        let id = if self.deferred {
            self.graph.push(&v)
        } else {
            self.graph.insert(&v)
        };
        self.keys.push(k.clone());
        self.live.push(true);
        self.by_key.insert(k, id);
    }

    /// Forgets `key` (its node becomes a tombstone).
    pub fn remove(&mut self, key: &[u8]) {
        if self.tombstone(key) {
            self.maybe_compact();
        }
    }

    /// Makes `key`'s node a tombstone without compacting (ids stay stable); true if it had one.
    fn tombstone(&mut self, key: &[u8]) -> bool {
        match self.by_key.remove(key) {
            Some(id) => {
                self.live[id as usize] = false;
                self.changes += 1;
                true
            }
            None => false,
        }
    }

    fn maybe_compact(&mut self) {
        let dead = self.nodes() - self.len();
        if dead < COMPACT_MIN_TOMBSTONES || dead <= self.len() {
            return;
        }
        let mut fresh = VectorIndex::new(self.dim(), self.graph.params(), self.exact_threshold);
        fresh.deferred = self.deferred;
        // The saved file (if any) no longer matches: everything is unsaved.
        fresh.changes = self.changes + 1;
        for (id, key) in self.keys.iter().enumerate() {
            if self.live[id] {
                fresh.upsert(key, self.graph.vector(id as u32));
            }
        }
        *self = fresh;
    }

    /// The `k` keys most similar to `query` by cosine, best first: exact below the threshold,
    /// HNSW above it.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<(Vec<u8>, f32)> {
        if self.len() < self.exact_threshold {
            return self.search_exact(query, k);
        }
        let ef = self.graph.params().ef_search;
        self.search_hnsw(query, k, ef)
    }

    fn unit(&self, query: &[f32]) -> Option<Vec<f32>> {
        let mut q = query.to_vec();
        normalize(&mut q);
        (q.len() == self.dim() && q.iter().any(|x| *x != 0.0)).then_some(q)
    }

    /// Exact cosine top-k over every live vector.
    pub fn search_exact(&self, query: &[f32], k: usize) -> Vec<(Vec<u8>, f32)> {
        let Some(q) = self.unit(query) else {
            return Vec::new();
        };
        let mut top = TopK::new(k);
        for (id, key) in self.keys.iter().enumerate() {
            if self.live[id] {
                let s = dot(&q, self.graph.vector(id as u32));
                if top.len() < k || top.threshold().is_some_and(|t| s >= t) {
                    top.push(s, key.to_vec());
                }
            }
        }
        top.into_sorted()
    }

    /// Approximate cosine top-k through the graph with candidate list `ef`.
    pub fn search_hnsw(&self, query: &[f32], k: usize, ef: usize) -> Vec<(Vec<u8>, f32)> {
        let Some(q) = self.unit(query) else {
            return Vec::new();
        };
        let live = &self.live;
        let found = self.graph.search(&q, k, ef, &|id| live[id as usize]);
        if self.pending() == 0 {
            return found
                .into_iter()
                .map(|(id, s)| (self.keys[id as usize].to_vec(), s))
                .collect();
        }
        let mut top = TopK::new(k);
        for (id, s) in found {
            top.push(s, self.keys[id as usize].to_vec());
        }
        for id in self.graph.len()..self.graph.pushed() {
            if self.live[id] {
                let s = dot(&q, self.graph.vector(id as u32));
                if top.len() < k || top.threshold().is_some_and(|t| s >= t) {
                    top.push(s, self.keys[id].to_vec());
                }
            }
        }
        top.into_sorted()
    }

    /// Nodes this process linked: 0 right after a graph was loaded from its file, every
    /// vector after a rebuild.
    pub fn linked_here(&self) -> u64 {
        self.graph.linked_here()
    }

    /// Changes (upserts, removals, links) the last saved graph file does not hold.
    pub fn unsaved_changes(&self) -> u64 {
        self.changes - self.saved_changes
    }

    /// Records that a file encoded when [`VectorIndex::changes_now`] was `at` is durable.
    pub fn mark_saved(&mut self, at: u64) {
        self.saved_changes = self.saved_changes.max(at);
    }

    /// The change counter, to pass to [`VectorIndex::mark_saved`] once an encoding made now is
    /// saved.
    pub fn changes_now(&self) -> u64 {
        self.changes
    }

    /// The body of the graph file (`docs/formats/hnsw.md`): the graph, then each node's
    /// liveness and document key.
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        self.graph.encode_into(out);
        for (id, key) in self.keys.iter().enumerate() {
            out.push(u8::from(self.live[id]));
            kvstore_base::coding::put_u32(out, key.len() as u32);
            out.extend_from_slice(key);
        }
    }

    /// Reads a body written by [`VectorIndex::encode_body`]; `exact_threshold` and the search
    /// parameters `ef_*` come from today's options, not the file.
    pub(crate) fn decode_body(
        r: &mut Reader<'_>,
        params: HnswParams,
        exact_threshold: usize,
    ) -> std::result::Result<VectorIndex, String> {
        let mut graph = Hnsw::decode_from(r)?;
        graph.set_search_params(params.ef_construction, params.ef_search);
        let n = graph.pushed();
        let mut ix = VectorIndex::new(graph.dim(), params, exact_threshold);
        ix.keys.reserve(n);
        ix.live.reserve(n);
        for id in 0..n {
            let live = match r.u8()? {
                0 => false,
                1 => true,
                b => return Err(format!("node {id}: liveness byte {b}")),
            };
            let len = r.u32()? as usize;
            let key: Arc<[u8]> = Arc::from(r.bytes(len)?);
            if live && ix.by_key.insert(key.clone(), id as u32).is_some() {
                return Err(format!("two live nodes for one key (node {id})"));
            }
            ix.keys.push(key);
            ix.live.push(live);
        }
        if !r.buf.is_empty() {
            return Err(format!("{} bytes after the last node", r.buf.len()));
        }
        ix.graph = graph;
        Ok(ix)
    }

    /// Brings a loaded graph in line with the stored vectors, the truth: a node whose key
    /// holds the same (normalised) vector is kept as it is; a key whose vector is new or
    /// changed is upserted (linked by whoever links, like any write); a live node whose key
    /// no longer has a vector becomes a tombstone. Returns (kept, upserted, removed).
    pub fn reconcile<E>(
        &mut self,
        stored: impl IntoIterator<Item = std::result::Result<(Vec<u8>, Vec<f32>), E>>,
    ) -> std::result::Result<(usize, usize, usize), E> {
        // Ids stay stable (no compaction) until the end, so `seen` stays meaningful.
        let mut seen = vec![false; self.nodes()];
        let (mut kept, mut upserted) = (0, 0);
        for item in stored {
            let (key, mut v) = item?;
            normalize(&mut v);
            match self.by_key.get(key.as_slice()) {
                Some(&id) if self.graph.vector(id) == v.as_slice() => {
                    seen[id as usize] = true;
                    kept += 1;
                }
                _ => {
                    self.tombstone(&key);
                    self.upsert_unit(&key, v);
                    upserted += 1;
                }
            }
        }
        let gone: Vec<Arc<[u8]>> = (0..seen.len())
            .filter(|&id| self.live[id] && !seen[id])
            .map(|id| self.keys[id].clone())
            .collect();
        for k in &gone {
            self.tombstone(k);
        }
        self.maybe_compact();
        Ok((kept, upserted, gone.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overwrite_and_delete_hide_old_vectors() {
        let mut ix = VectorIndex::new(2, HnswParams::default(), 0);
        ix.upsert(b"a", &[1.0, 0.0]);
        ix.upsert(b"b", &[0.0, 1.0]);
        ix.upsert(b"a", &[0.0, 2.0]);
        assert_eq!(ix.len(), 2);
        assert_eq!(ix.nodes(), 3);
        let r = ix.search(&[1.0, 0.0], 10);
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|(_, s)| s.abs() < 1e-6));
        ix.remove(b"b");
        assert_eq!(ix.search_exact(&[0.0, 1.0], 10), [(b"a".to_vec(), 1.0)]);
        ix.upsert(b"z", &[0.0, 0.0]);
        assert_eq!(ix.len(), 1);
        assert!(ix.search(&[0.0, 0.0], 3).is_empty());
    }

    #[test]
    fn deferred_vectors_are_found_before_and_after_linking() {
        let mut ix = VectorIndex::new(2, HnswParams::default(), 0);
        ix.set_deferred(true);
        for i in 0..100u32 {
            let a = i as f32 * 0.05;
            ix.upsert(&i.to_be_bytes(), &[a.cos(), a.sin()]);
        }
        assert_eq!(ix.pending(), 100);
        let q = [0.5f32.cos(), 0.5f32.sin()];
        assert_eq!(ix.search_hnsw(&q, 1, 16)[0].0, 10u32.to_be_bytes().to_vec());
        assert_eq!(ix.build_step(60), 60);
        assert_eq!(ix.search_hnsw(&q, 1, 16)[0].0, 10u32.to_be_bytes().to_vec());
        while ix.build_step(64) > 0 {}
        assert_eq!(ix.pending(), 0);
        assert_eq!(ix.search_hnsw(&q, 1, 16)[0].0, 10u32.to_be_bytes().to_vec());
    }

    #[test]
    fn compaction_rebuilds_from_live_vectors() {
        let mut ix = VectorIndex::new(2, HnswParams::default(), 0);
        for i in 0..3000u32 {
            let a = i as f32;
            ix.upsert(&i.to_be_bytes(), &[a.cos(), a.sin()]);
        }
        for i in 0..2500u32 {
            ix.remove(&i.to_be_bytes());
        }
        assert_eq!(ix.len(), 500);
        assert!(ix.nodes() < 3000, "rebuilt: {}", ix.nodes());
        let q = [2999f32.cos(), 2999f32.sin()];
        assert_eq!(ix.search(&q, 1)[0].0, 2999u32.to_be_bytes().to_vec());
    }
}
