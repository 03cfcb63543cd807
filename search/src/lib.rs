//! PLACEHOLDER STAGE: the public API of the search layer is fixed here so the server can be
//! built against it; the indexes are being built. Writes go through [`Indexer`], which puts the
//! document and every index change into one engine `WriteBatch`.

use kvstore_engine::{Db, WriteBatch};
use parking_lot::Mutex;

/// Errors of the search layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Engine(#[from] kvstore_engine::Error),
    /// A caller-supplied vector has the wrong dimension.
    #[error("vector has dimension {got}, the index expects {expected}")]
    DimensionMismatch { expected: usize, got: usize },
    /// A query or argument the search layer cannot accept.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The embedder failed to load or to embed.
    #[error("embedder error: {0}")]
    Embedder(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// One ranked result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub key: Vec<u8>,
    pub score: f32,
    /// The document, when asked for (`with_values`).
    pub value: Option<Vec<u8>>,
    /// A highlighted excerpt, when asked for.
    pub snippet: Option<String>,
}

/// Tuning of the search layer.
#[derive(Debug, Clone, Default)]
pub struct SearchOptions {}

/// The write path and query engine over documents stored in the default column family.
pub struct Indexer {
    db: Db,
    write_lock: Mutex<()>,
}

impl Indexer {
    /// Opens the indexes over `db` (creating their column families) and loads the embedder.
    pub fn open(db: Db, opts: SearchOptions) -> Result<Indexer> {
        let _ = opts;
        Ok(Indexer {
            db,
            write_lock: Mutex::new(()),
        })
    }

    /// The engine underneath.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Stores `value` under `key` with its postings and vector in one atomic batch. `vector`
    /// overrides the embedder (dimension checked).
    pub fn put(&self, key: &[u8], value: &[u8], vector: Option<Vec<f32>>) -> Result<()> {
        let _ = vector;
        let _g = self.write_lock.lock();
        let mut b = WriteBatch::new();
        b.put(key, value);
        Ok(self.db.write(b)?)
    }

    /// Stores many documents in one atomic batch (all or nothing).
    pub fn put_many(&self, items: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        let _g = self.write_lock.lock();
        let mut b = WriteBatch::new();
        for (k, v) in items {
            b.put(k, v);
        }
        Ok(self.db.write(b)?)
    }

    /// Deletes `key` and its index entries in one atomic batch; false when it was absent.
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        let _g = self.write_lock.lock();
        if self.db.get(key)?.is_none() {
            return Ok(false);
        }
        let mut b = WriteBatch::new();
        b.delete(key);
        self.db.write(b)?;
        Ok(true)
    }

    /// BM25-ranked full-text search, best first.
    pub fn search(&self, query: &str, k: usize, with_values: bool) -> Result<Vec<Hit>> {
        let _ = (query, k, with_values);
        Ok(Vec::new())
    }

    /// Semantic search by the embedding of `query`, best first.
    pub fn semantic_search(&self, query: &str, k: usize) -> Result<Vec<Hit>> {
        let _ = (query, k);
        Ok(Vec::new())
    }

    /// Semantic search by a caller-supplied vector, best first.
    pub fn semantic_search_vector(&self, vector: &[f32], k: usize) -> Result<Vec<Hit>> {
        let _ = (vector, k);
        Ok(Vec::new())
    }

    /// Dimension of the vectors in the index.
    pub fn dimension(&self) -> usize {
        64
    }
}
