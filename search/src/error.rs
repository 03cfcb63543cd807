//! The search layer's error: what a caller of [`crate::Indexer`] can get back.

/// Result alias for search calls.
pub type Result<T> = std::result::Result<T, Error>;

/// Errors of the search layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine failed (I/O, corruption, poisoned, bad argument).
    #[error(transparent)]
    Engine(#[from] kvstore_engine::Error),
    /// A caller-supplied vector (or a stored one, at open) has the wrong dimension.
    #[error("vector has dimension {got}, the index expects {expected}")]
    DimensionMismatch { expected: usize, got: usize },
    /// A query or argument the search layer cannot accept.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The embedder failed to load or to embed.
    #[error("embedder error: {0}")]
    Embedder(String),
    /// A file the search layer keeps beside the database (the HNSW graph) could not be
    /// written.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// An index record does not decode: the column family, the key and what was wrong.
    #[error("corrupt {cf} record at key {key:?}: {reason}")]
    Corrupt {
        cf: &'static str,
        key: Vec<u8>,
        reason: String,
    },
}

impl Error {
    pub(crate) fn corrupt(cf: &'static str, key: &[u8], reason: impl Into<String>) -> Error {
        Error::Corrupt {
            cf,
            key: key.to_vec(),
            reason: reason.into(),
        }
    }
}
