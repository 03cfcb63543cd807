//! [`Indexer`]: the write path (document + every index change in one `WriteBatch`) and the
//! query entry points.
//!
//! Write path, for each document, in one batch:
//! 1. read the old `docmeta` record (latest state, under the document's stripe lock);
//! 2. delete the old postings whose term the new text lacks (the others are overwritten);
//! 3. put the document, its postings, its `docmeta` record and its vector;
//! 4. update the document-frequency and statistics records of the document's stripe
//!    (`counters.rs`), and the applied position when one is given ([`Indexer::apply`]).
//!
//! Then the engine applies the batch atomically (WAL first), and only then is the in-memory
//! vector index updated. A crash anywhere leaves either the old document with its old indexes
//! or the new one with its new indexes; the vector index is rebuilt from `vectors` at open.
//!
//! Invariants:
//! - the locks of the stripes a write touches (its documents' stripes, taken in stripe order)
//!   are held from step 1 to the vector-index update, so each batch is computed from exactly
//!   the records it replaces — a document and its stripe's counter records belong to that
//!   stripe alone — and the vector index sees each key's writes in engine order. Writes to
//!   other stripes go on meanwhile, and the engine's group commit shares their fsyncs.
//! - All writes to indexed documents go through the `Indexer`; a key written to the default
//!   column family directly is stored but not searchable (and has no stale postings either).
//! - Values are UTF-8 text; other bytes are indexed through lossy UTF-8 decoding (invalid
//!   sequences become U+FFFD, which is not a word) and stored unchanged.
//! - Every query reads one engine snapshot; hits are checked against it, so no result names a
//!   key that the snapshot cannot read.

use crate::analysis::Analyzer;
use crate::counters::{self, stripe_of, STRIPES};
use crate::derived::{ApplyCx, Deltas, DerivedIndex, FullTextIndex, VectorRecords};
use crate::embedder::{Embedder, StaticEmbedder, MODEL_DIR_ENV};
use crate::error::{Error, Result};
use crate::hnsw::{dot, persist, GraphBuilder, SavePolicy, VectorIndex};
use crate::keys::{
    decode_df_record, decode_docmeta, decode_stats_record, decode_vector, df_key, doc_key,
    encode_counter, encode_stats_delta, stats_key, CollectionStats, DocMeta, CF_DOCMETA,
    CF_INVERTED, CF_VECTORS, POSITION_KEY,
};
use crate::options::SearchOptions;
use crate::searcher::FullTextSearcher;
use crate::snippet::snippet;
use kvstore_engine::fs::FileSystem;
use kvstore_engine::{ColumnFamily, Db, WriteBatch};
use parking_lot::{Mutex, RwLock};
use std::borrow::Cow;
use std::collections::HashSet;

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A document for [`Indexer::put_many_with_vectors`]: key, value, optional vector.
pub type DocWithVector = (Vec<u8>, Vec<u8>, Option<Vec<f32>>);

type DocRef<'a> = (&'a [u8], &'a [u8], Option<Vec<f32>>);

/// A document analyzed and embedded by [`Indexer::prepare_doc`], owning its key and value.
pub type PreparedDoc = Prepared<'static>;

impl Prepared<'_> {
    /// The document's key.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// Key plus value bytes (what a writer queue bounds its groups by).
    pub fn size_bytes(&self) -> usize {
        self.key.len() + self.value.len()
    }
}

/// Most threads [`Indexer::put_many`] analyzes and embeds a batch with.
const PREPARE_THREADS_MAX: usize = 4;
/// Fewest documents per preparation thread (below that, spawning costs more than it saves).
const PREPARE_DOCS_PER_THREAD_MIN: usize = 64;

/// Largest `k` a query may ask for (the HTTP API's limit too: one limit for every layer).
pub const MAX_K: usize = 1000;

/// One ranked result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub key: Vec<u8>,
    /// BM25 score (full text) or cosine similarity (semantic); higher is better.
    pub score: f32,
    /// The document, when asked for (`with_values`).
    pub value: Option<Vec<u8>>,
    /// A highlighted excerpt (HTML fragment, see [`crate::snippet`]), when asked for.
    pub snippet: Option<String>,
}

/// Counts describing the indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexStats {
    /// Documents in the inverted index and the sum of their lengths (in terms).
    pub collection: CollectionStats,
    /// Vectors searchable in memory.
    pub vectors: usize,
    /// HNSW nodes including tombstones.
    pub graph_nodes: usize,
    /// Vectors stored but not yet linked into the graph (searched exactly meanwhile).
    pub graph_pending: usize,
    /// Nodes this process linked: after a restart that loaded the graph file, only the
    /// vectors written since it was saved; after a rebuild, every vector.
    pub graph_linked_since_open: u64,
}

/// A document analyzed and embedded, ready to be written (computed outside the write lock).
/// Borrowed for [`Indexer::put_many`]; owned ([`PreparedDoc`]) when a caller prepares
/// documents itself, in parallel, before handing them to one writer
/// ([`Indexer::prepare_doc`], [`Indexer::put_prepared`]), or ships them to other replicas in a
/// [`PreparedOp`] (serializable: a replica applies the leader's tokens and embedding instead
/// of recomputing them).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prepared<'a> {
    pub(crate) key: Cow<'a, [u8]>,
    pub(crate) value: Cow<'a, [u8]>,
    pub(crate) doc_len: u32,
    /// Distinct terms, sorted, each with the range of its positions in `positions`.
    pub(crate) terms: Vec<(String, std::ops::Range<usize>)>,
    /// Positions of every term, grouped by term (in `terms` order), ascending within a term.
    pub(crate) positions: Vec<u32>,
    pub(crate) vector: Vec<f32>,
}

/// A write prepared once — analysed, embedded, validated: pure work, done in parallel — and
/// then applied by [`Indexer::apply`] on any store, any number of times, with the same result:
/// the unit a replication log carries.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum PreparedOp {
    /// Documents written in one atomic batch; a key given twice keeps its last version.
    Put(Vec<PreparedDoc>),
    /// Documents deleted, with their index entries, in one atomic batch.
    Delete(Vec<Vec<u8>>),
}

impl Prepared<'_> {
    /// Checks what a prepared document received from elsewhere claims, so that applying it
    /// can neither panic nor write an index that disagrees with itself: terms sorted, distinct
    /// and free of `0x00`, their position ranges tiling `positions` in order, positions
    /// ascending within a term, and a finite vector of `dim` numbers.
    fn validate(&self, dim: usize) -> Result<()> {
        let bad = |why: String| Err(Error::InvalidQuery(format!("prepared document: {why}")));
        if self.vector.len() != dim {
            return Err(Error::DimensionMismatch {
                expected: dim,
                got: self.vector.len(),
            });
        }
        if self.vector.iter().any(|x| !x.is_finite()) {
            return bad("vector is not finite".into());
        }
        let mut next = 0;
        for (i, (t, r)) in self.terms.iter().enumerate() {
            if t.is_empty() || t.contains('\0') {
                return bad(format!("bad term {t:?}"));
            }
            if i > 0 && self.terms[i - 1].0 >= *t {
                return bad("terms not sorted and distinct".into());
            }
            if r.start != next || r.end <= r.start || r.end > self.positions.len() {
                return bad(format!("position range of {t:?} out of place"));
            }
            if self.positions[r.clone()].windows(2).any(|w| w[0] >= w[1]) {
                return bad(format!("positions of {t:?} not ascending"));
            }
            next = r.end;
        }
        if next != self.positions.len()
            || self.positions.len() > self.doc_len as usize
            || self.positions.iter().any(|&p| p >= self.doc_len)
        {
            return bad("positions do not match the terms and length".into());
        }
        Ok(())
    }

    /// The document's distinct terms with their positions, sorted by term.
    pub(crate) fn postings(&self) -> impl ExactSizeIterator<Item = (&str, &[u32])> {
        self.terms
            .iter()
            .map(|(t, r)| (t.as_str(), &self.positions[r.clone()]))
    }

    pub(crate) fn has_term(&self, term: &str) -> bool {
        self.terms
            .binary_search_by(|(t, _)| t.as_str().cmp(term))
            .is_ok()
    }
}

/// The write path and query engine over documents stored in the default column family.
pub struct Indexer {
    pub(crate) db: Db,
    /// One lock per stripe of documents (see the module invariants); readers never take them.
    stripes: Vec<Mutex<()>>,
    pub(crate) inverted: ColumnFamily,
    pub(crate) docmeta: ColumnFamily,
    pub(crate) vectors: ColumnFamily,
    pub(crate) analyzer: Analyzer,
    embedder: Arc<dyn Embedder>,
    /// Upserts and removals happen only while the stripe locks of their keys are held, after
    /// the batch is applied; the background builder only links already-stored vectors.
    vector_index: Arc<RwLock<VectorIndex>>,
    /// Links new vectors into the HNSW graph off the write path (when enabled). Stopped and
    /// joined on drop.
    builder: Option<GraphBuilder>,
    /// The derived indexes every write updates, in this order (`derived/`).
    indexes: Vec<Box<dyn DerivedIndex>>,
    opts: SearchOptions,
}

impl Indexer {
    /// Opens the indexes over `db` (creating their column families), loads the embedder and
    /// rebuilds the vector index from the `vectors` column family.
    pub fn open(db: Db, opts: SearchOptions) -> Result<Indexer> {
        let inverted = db.create_cf(CF_INVERTED)?;
        let docmeta = db.create_cf(CF_DOCMETA)?;
        let vectors = db.create_cf(CF_VECTORS)?;
        let embedder: Arc<dyn Embedder> = match (&opts.embedder, &opts.model_dir) {
            (Some(e), _) => e.clone(),
            (None, Some(dir)) => Arc::new(StaticEmbedder::from_dir(dir)?),
            (None, None) => match std::env::var_os(MODEL_DIR_ENV) {
                Some(dir) if !dir.is_empty() => {
                    Arc::new(StaticEmbedder::from_dir(&PathBuf::from(dir))?)
                }
                _ => Arc::new(StaticEmbedder::potion_base_2m()?),
            },
        };
        let dim = embedder.dim();
        let mut vi = load_graph(&db, dim, &opts);
        vi.set_deferred(opts.background_graph_build);
        // The stored vectors are the truth; the loaded graph (if any) is brought in line.
        let stored =
            db.snapshot()
                .scan_prefix_cf(&vectors, b"")?
                .map(|kv| -> Result<(Vec<u8>, Vec<f32>)> {
                    let (k, v) = kv?;
                    let vector = decode_vector(&k, &v, dim)?;
                    Ok((k, vector))
                });
        let (kept, upserted, removed) = vi.reconcile(stored)?;
        if kept + upserted + removed > 0 {
            tracing::info!(
                kept,
                relinked = upserted,
                removed,
                "vector index: graph reconciled with the stored vectors"
            );
        }
        let vector_index = Arc::new(RwLock::new(vi));
        let builder = if opts.background_graph_build {
            let (fs, dir) = (db.file_system().clone(), db.path().to_path_buf());
            let saver = move |vi: &RwLock<VectorIndex>| {
                if let Err(e) = save_graph(fs.as_ref(), &dir, vi) {
                    tracing::warn!(error = %e, "vector index: saving the graph failed");
                }
            };
            Some(GraphBuilder::spawn(
                vector_index.clone(),
                Box::new(saver),
                SavePolicy::default(),
            )?)
        } else {
            None
        };
        let indexes: Vec<Box<dyn DerivedIndex>> = vec![
            Box::new(FullTextIndex {
                inverted: inverted.clone(),
                docmeta: docmeta.clone(),
            }),
            Box::new(VectorRecords {
                vectors: vectors.clone(),
                index: vector_index.clone(),
            }),
        ];
        Ok(Indexer {
            indexes,
            db,
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            inverted,
            docmeta,
            vectors,
            analyzer: Analyzer::english(),
            embedder,
            vector_index,
            builder,
            opts,
        })
    }

    /// The engine underneath.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Saves the HNSW graph beside the database, so the next open loads it instead of linking
    /// every vector again (see [`crate::hnsw::persist`]). The builder also saves it by itself
    /// once enough has changed; [`Indexer::close`] saves what is left.
    pub fn save_vector_graph(&self) -> Result<()> {
        save_graph(
            self.db.file_system().as_ref(),
            self.db.path(),
            &self.vector_index,
        )
    }

    /// A clean close: saves the graph if it changed since its last save, then closes the
    /// database (flushing it). A failed save does not stop the close (the graph is derived
    /// data: the next open rebuilds what the file lacks); its error is returned after.
    pub fn close(&self) -> Result<()> {
        let saved = if self.vector_index.read().unsaved_changes() > 0 {
            self.save_vector_graph()
        } else {
            Ok(())
        };
        self.db.close()?;
        saved
    }

    /// Dimension of the vectors in the index.
    pub fn dimension(&self) -> usize {
        self.embedder.dim()
    }

    /// The analyzer documents and queries go through.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    fn check_dim(&self, got: usize) -> Result<()> {
        let expected = self.dimension();
        if got != expected {
            return Err(Error::DimensionMismatch { expected, got });
        }
        Ok(())
    }

    fn prepare<'a>(
        &self,
        key: Cow<'a, [u8]>,
        value: Cow<'a, [u8]>,
        vector: Option<Vec<f32>>,
    ) -> Result<Prepared<'a>> {
        let text = String::from_utf8_lossy(&value);
        let tokens = self.analyzer.analyze(&text);
        let vector = match vector {
            Some(v) => {
                self.check_dim(v.len())?;
                v
            }
            None => {
                let v = self.embedder.embed(&text)?;
                self.check_dim(v.len())?;
                v
            }
        };
        let doc_len = tokens.len() as u32;
        // Group by term without a map: a stable sort by term keeps each term's positions in
        // text order (ascending), and the term strings move instead of being copied.
        let mut tokens: Vec<(String, u32)> =
            tokens.into_iter().map(|t| (t.term, t.position)).collect();
        tokens.sort_by(|a, b| a.0.cmp(&b.0));
        let mut terms: Vec<(String, std::ops::Range<usize>)> = Vec::new();
        let mut positions = Vec::with_capacity(tokens.len());
        for (i, (term, pos)) in tokens.into_iter().enumerate() {
            positions.push(pos);
            match terms.last_mut() {
                Some((t, r)) if *t == term => r.end = i + 1,
                _ => terms.push((term, i..i + 1)),
            }
        }
        drop(text);
        Ok(Prepared {
            key,
            value,
            doc_len,
            terms,
            positions,
            vector,
        })
    }

    fn read_meta(&self, key: &[u8]) -> Result<Option<DocMeta>> {
        let k = doc_key(key);
        self.db
            .get_cf(&self.docmeta, &k)?
            .map(|v| decode_docmeta(&k, &v))
            .transpose()
    }

    /// Takes the locks of the stripes of `keys`, in stripe order (so two writers never wait
    /// for each other in a cycle).
    fn lock_stripes<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k [u8]>,
    ) -> Vec<parking_lot::MutexGuard<'_, ()>> {
        let mut ids: Vec<u8> = keys.into_iter().map(stripe_of).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.iter()
            .map(|&i| self.stripes[usize::from(i)].lock())
            .collect()
    }

    /// The current value of the counter record `key` of `docmeta` (0 when absent).
    fn counter(&self, key: &[u8]) -> Result<i64> {
        Ok(match self.db.get_cf(&self.docmeta, key)? {
            Some(v) => decode_df_record(key, &v)?,
            None => 0,
        })
    }

    /// Writes `docs` and deletes `deletes` in one batch, with `position` (if any) stored in
    /// the same batch. Must be called with the stripe locks of every key held.
    fn write_locked(
        &self,
        docs: &[&Prepared<'_>],
        deletes: &[&[u8]],
        position: Option<&[u8]>,
    ) -> Result<()> {
        let mut b = WriteBatch::new();
        // What the batch replaces, read first so the counter deltas below can borrow the term
        // strings (of the old and the new versions) instead of copying them.
        let old_docs: Vec<Option<DocMeta>> = docs
            .iter()
            .map(|d| self.read_meta(&d.key))
            .collect::<Result<_>>()?;
        let old_deleted: Vec<Option<DocMeta>> = deletes
            .iter()
            .map(|k| self.read_meta(k))
            .collect::<Result<_>>()?;
        // One delta per distinct (term, stripe) of the whole batch, so a term shared by many
        // documents costs one read and one write of its record per stripe.
        let mut deltas = Deltas::default();
        let mut cx = ApplyCx {
            batch: &mut b,
            deltas: &mut deltas,
            kbuf: Vec::new(),
            vbuf: Vec::new(),
        };
        for (d, old) in docs.iter().zip(&old_docs) {
            cx.batch.put(&d.key, &d.value);
            for ix in &self.indexes {
                ix.index(&mut cx, d, old.as_ref());
            }
        }
        for (key, old) in deletes.iter().zip(&old_deleted) {
            if let Some(old) = old {
                for ix in &self.indexes {
                    ix.unindex(&mut cx, key, old);
                }
            }
            cx.batch.delete(key);
        }
        // BTreeMaps: the records are written in one order whatever the history (deterministic
        // batches).
        for ((t, stripe), delta) in deltas.df {
            if delta == 0 {
                continue;
            }
            let k = df_key(t, stripe);
            match self.counter(&k)? + delta {
                0 => b.delete_cf(&self.docmeta, &k),
                n => b.put_cf(&self.docmeta, &k, encode_counter(n)),
            }
        }
        for (stripe, (docs_delta, len_delta)) in deltas.stats {
            if (docs_delta, len_delta) == (0, 0) {
                continue;
            }
            let k = stats_key(stripe);
            let (d0, l0) = match self.db.get_cf(&self.docmeta, &k)? {
                Some(v) => decode_stats_record(&k, &v)?,
                None => (0, 0),
            };
            match (d0 + docs_delta, l0 + len_delta) {
                (0, 0) => b.delete_cf(&self.docmeta, k),
                (d, l) => b.put_cf(&self.docmeta, k, encode_stats_delta(d, l)),
            }
        }
        if let Some(p) = position {
            b.put_cf(&self.docmeta, POSITION_KEY, p);
        }
        // The batch is the unit of atomicity: after a crash all of it or none of it is there.
        self.db.write(b)?;
        for ix in &self.indexes {
            ix.applied(docs, deletes);
        }
        if let Some(b) = &self.builder {
            b.wrote(docs.len());
        }
        Ok(())
    }

    /// Stores `value` under `key` with its postings and vector in one atomic batch. `vector`
    /// overrides the embedder (dimension checked).
    pub fn put(&self, key: &[u8], value: &[u8], vector: Option<Vec<f32>>) -> Result<()> {
        let doc = self.prepare(Cow::Borrowed(key), Cow::Borrowed(value), vector)?;
        let _g = self.lock_stripes([key]);
        self.write_locked(&[&doc], &[], None)
    }

    /// Stores many documents in one atomic batch (all or nothing). A key given twice keeps its
    /// last value, as if put one after the other.
    pub fn put_many(&self, items: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        let with: Vec<_> = items
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice(), None))
            .collect();
        self.put_many_inner(with)
    }

    /// [`Indexer::put_many`] with an optional caller-supplied vector per document.
    pub fn put_many_with_vectors(&self, mut items: Vec<DocWithVector>) -> Result<()> {
        // The vectors are moved, not copied: only keys and values stay borrowed.
        let with: Vec<_> = items
            .iter_mut()
            .map(|(k, v, x)| (k.as_slice(), v.as_slice(), x.take()))
            .collect();
        self.put_many_inner(with)
    }

    fn put_many_inner(&self, items: Vec<DocRef<'_>>) -> Result<()> {
        let kept = last_version_of_each_key(items, |d| d.0);
        let docs = self.prepare_all(kept)?;
        let docs: Vec<&Prepared<'_>> = docs.iter().collect();
        let _g = self.lock_stripes(docs.iter().map(|d| &*d.key));
        self.write_locked(&docs, &[], None)
    }

    /// Analyzes and embeds `items` (pure CPU work, no lock held), on several threads when the
    /// batch is large enough to pay for them; the order is kept.
    fn prepare_all<'a>(&self, mut items: Vec<DocRef<'a>>) -> Result<Vec<Prepared<'a>>> {
        let prep = |(k, v, x): DocRef<'a>| self.prepare(Cow::Borrowed(k), Cow::Borrowed(v), x);
        if items.len() < 2 * PREPARE_DOCS_PER_THREAD_MIN {
            return items.into_iter().map(prep).collect();
        }
        // The machine's parallelism is read once per process: on Linux the call reads the
        // affinity mask and cgroup files each time.
        static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let cpus =
            *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let threads = cpus
            .min(PREPARE_THREADS_MAX)
            .min(items.len() / PREPARE_DOCS_PER_THREAD_MIN)
            .max(1);
        // Owned chunks in order, each moved to its thread (the vectors are not copied).
        let per = items.len().div_ceil(threads);
        let mut chunks = Vec::with_capacity(threads);
        while items.len() > per {
            chunks.push(items.split_off(items.len() - per));
        }
        chunks.push(items);
        chunks.reverse();
        let run = |chunk: Vec<DocRef<'a>>| chunk.into_iter().map(prep).collect::<Result<Vec<_>>>();
        let mut chunks = chunks.into_iter();
        let first = chunks.next().unwrap_or_default();
        std::thread::scope(|s| {
            // Every chunk but the first on its own thread; if a thread cannot be started, this
            // thread prepares that chunk itself (slower, never wrong).
            let parts: Vec<_> = chunks
                .map(|chunk| {
                    // `spawn_scoped` consumes its closure even when it fails, so the chunk goes
                    // through a slot the failure path can take it back from.
                    let slot = std::sync::Arc::new(Mutex::new(Some(chunk)));
                    let theirs = slot.clone();
                    std::thread::Builder::new()
                        .name("kvstore-prepare".into())
                        .spawn_scoped(s, move || run(theirs.lock().take().unwrap_or_default()))
                        .map_err(|_| slot.lock().take().unwrap_or_default())
                })
                .collect();
            let mut out = run(first)?;
            for p in parts {
                let part = match p {
                    Ok(h) => h.join().map_err(|_| {
                        Error::Embedder("a document preparation thread panicked".into())
                    })??,
                    Err(chunk) => run(chunk)?,
                };
                out.extend(part);
            }
            Ok(out)
        })
    }

    /// Analyzes and embeds one document without touching the store (no lock, no I/O), so
    /// callers can prepare documents in parallel and write them later with
    /// [`Indexer::put_prepared`]. `vector` overrides the embedder (dimension checked).
    pub fn prepare_doc(
        &self,
        key: Vec<u8>,
        value: Vec<u8>,
        vector: Option<Vec<f32>>,
    ) -> Result<PreparedDoc> {
        self.prepare(Cow::Owned(key), Cow::Owned(value), vector)
    }

    /// Stores documents prepared by [`Indexer::prepare_doc`] in one atomic batch (all or
    /// nothing), exactly as [`Indexer::put_many_with_vectors`] would: a key given twice keeps
    /// its last version. Preparation reads no state, so a document prepared before an
    /// unrelated write is still written correctly: the old postings and statistics it replaces
    /// are read here, under the stripe locks.
    pub fn put_prepared(&self, docs: Vec<PreparedDoc>) -> Result<()> {
        let kept = last_version_of_each_key(docs.iter().collect(), |d| &d.key);
        let _g = self.lock_stripes(kept.iter().map(|d| &*d.key));
        self.write_locked(&kept, &[], None)
    }

    /// Applies a prepared operation in one atomic batch, storing `position` (opaque bytes: a
    /// replication log index, a clock) in the same batch when given, so that after a crash
    /// [`Indexer::applied_position`] names exactly the last operation whose effects are there.
    /// Deterministic: the same operations applied in the same order to stores in the same
    /// state leave byte-identical records. Documents received from elsewhere are checked first
    /// (a malformed one is refused, nothing written).
    pub fn apply(&self, op: &PreparedOp, position: Option<&[u8]>) -> Result<()> {
        match op {
            PreparedOp::Put(docs) => {
                for d in docs {
                    d.validate(self.dimension())?;
                }
                let kept = last_version_of_each_key(docs.iter().collect(), |d| &d.key);
                let _g = self.lock_stripes(kept.iter().map(|d| &*d.key));
                self.write_locked(&kept, &[], position)
            }
            PreparedOp::Delete(keys) => {
                let mut keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                keys.sort_unstable();
                keys.dedup();
                let _g = self.lock_stripes(keys.iter().copied());
                self.write_locked(&[], &keys, position)
            }
        }
    }

    /// The position stored by the last [`Indexer::apply`] that carried one.
    pub fn applied_position(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(&self.docmeta, POSITION_KEY)?)
    }

    /// Deletes `key` and its index entries in one atomic batch; false when it was absent.
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        let _g = self.lock_stripes([key]);
        if self.db.get(key)?.is_none() && self.read_meta(key)?.is_none() {
            return Ok(false);
        }
        self.write_locked(&[], &[key], None)?;
        Ok(true)
    }

    fn check_k(k: usize) -> Result<()> {
        if k > MAX_K {
            return Err(Error::InvalidQuery(format!(
                "k = {k} exceeds the limit of {MAX_K}"
            )));
        }
        Ok(())
    }

    /// BM25-ranked full-text search, best first. Query syntax: words, `"quoted phrases"`,
    /// `prefix*` (see [`crate::query`]). `with_values` adds each document and a snippet.
    pub fn search(&self, query: &str, k: usize, with_values: bool) -> Result<Vec<Hit>> {
        Self::check_k(k)?;
        let snap = self.db.snapshot();
        let res = FullTextSearcher {
            snap: &snap,
            inverted: &self.inverted,
            docmeta: &self.docmeta,
            analyzer: &self.analyzer,
            params: self.opts.bm25,
            max_prefix_expansions: self.opts.max_prefix_expansions,
        }
        .run(query, k)?;
        let mut hits = Vec::with_capacity(res.hits.len());
        for (key, score) in res.hits {
            if !with_values {
                hits.push(Hit {
                    key,
                    score,
                    value: None,
                    snippet: None,
                });
                continue;
            }
            // Postings and document come from the same snapshot and batch, so the value is
            // there; a key missing here was deleted behind the Indexer's back and is skipped.
            if let Some(v) = snap.get(&key)? {
                let s = snippet(&String::from_utf8_lossy(&v), &self.analyzer, &res.terms);
                hits.push(Hit {
                    key,
                    score,
                    value: Some(v),
                    snippet: Some(s),
                });
            }
        }
        Ok(hits)
    }

    /// Semantic search by the embedding of `query`, best first (score = cosine similarity).
    pub fn semantic_search(&self, query: &str, k: usize) -> Result<Vec<Hit>> {
        let v = self.embedder.embed(query)?;
        self.semantic_search_vector(&v, k)
    }

    /// Semantic search by a caller-supplied vector, best first (score = cosine similarity).
    pub fn semantic_search_vector(&self, vector: &[f32], k: usize) -> Result<Vec<Hit>> {
        Self::check_k(k)?;
        self.check_dim(vector.len())?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let snap = self.db.snapshot();
        // A few spare candidates cover documents written after the snapshot was taken.
        let cands = self.vector_index.read().search(vector, k + k / 4 + 4);
        let qn = dot(vector, vector).sqrt();
        let mut hits = Vec::with_capacity(k);
        for (key, _) in cands {
            let Some(bytes) = snap.get_cf(&self.vectors, &key)? else {
                continue;
            };
            // Score from the snapshot's vector, so scores and keys agree with one state.
            let v = decode_vector(&key, &bytes, self.dimension())?;
            let vn = dot(&v, &v).sqrt();
            if vn == 0.0 || qn == 0.0 {
                continue;
            }
            hits.push(Hit {
                key,
                score: dot(vector, &v) / (qn * vn),
                value: None,
                snippet: None,
            });
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.key.cmp(&b.key)));
        hits.truncate(k);
        Ok(hits)
    }

    /// Exact (brute-force) semantic search, for measuring the HNSW's recall.
    pub fn semantic_search_exact(&self, vector: &[f32], k: usize) -> Result<Vec<(Vec<u8>, f32)>> {
        Self::check_k(k)?;
        self.check_dim(vector.len())?;
        Ok(self.vector_index.read().search_exact(vector, k))
    }

    /// Links every stored vector into the HNSW graph now, in the caller's thread (the
    /// background builder would get there too). For benchmarks and tests.
    pub fn wait_for_graph(&self) {
        while self.vector_index.write().build_step(64) > 0 {}
    }

    /// Document count, total length and vector-index sizes, as of now.
    pub fn stats(&self) -> Result<IndexStats> {
        let collection = counters::collection_stats(&self.db.snapshot(), &self.docmeta)?;
        let vi = self.vector_index.read();
        Ok(IndexStats {
            collection,
            vectors: vi.len(),
            graph_nodes: vi.nodes(),
            graph_pending: vi.pending(),
            graph_linked_since_open: vi.linked_here(),
        })
    }
}

/// The graph saved beside `db` if it is intact and fits today's options; an empty index
/// otherwise (logged: the vectors are then all linked again).
fn load_graph(db: &Db, dim: usize, opts: &SearchOptions) -> VectorIndex {
    let fresh = || VectorIndex::new(dim, opts.hnsw, opts.exact_threshold);
    match persist::load(db.file_system().as_ref(), db.path()) {
        Ok(None) => fresh(),
        Ok(Some(bytes)) => match persist::decode(&bytes, dim, opts.hnsw, opts.exact_threshold) {
            Ok(vi) => vi,
            Err(why) => {
                tracing::warn!(file = persist::GRAPH_FILE, %why, "vector index: graph file not used; rebuilding from the stored vectors");
                fresh()
            }
        },
        Err(e) => {
            tracing::warn!(file = persist::GRAPH_FILE, error = %e, "vector index: graph file unreadable; rebuilding from the stored vectors");
            fresh()
        }
    }
}

/// Encodes the graph under the read lock (writers wait for a copy, not for the disk), writes
/// it, and records what the file holds.
fn save_graph(fs: &dyn FileSystem, dir: &Path, vi: &RwLock<VectorIndex>) -> Result<()> {
    let (bytes, at) = {
        let g = vi.read();
        (persist::encode(&g), g.changes_now())
    };
    persist::save(fs, dir, &bytes).map_err(|source| Error::Io {
        what: format!(
            "saving the vector graph {}",
            dir.join(persist::GRAPH_FILE).display()
        ),
        source,
    })?;
    vi.write().mark_saved(at);
    Ok(())
}

/// `items` with only the last occurrence of each key, in order: a key given twice in one
/// batch keeps its last version, as if written one after the other.
fn last_version_of_each_key<'k, T>(items: Vec<T>, key: impl Fn(&T) -> &'k [u8]) -> Vec<T> {
    let mut seen = HashSet::with_capacity(items.len());
    let mut kept: Vec<T> = Vec::with_capacity(items.len());
    // Walking backwards, keep the first time a key is seen.
    for item in items.into_iter().rev() {
        if seen.insert(key(&item)) {
            kept.push(item);
        }
    }
    kept.reverse();
    kept
}
