//! The engine's error: what a caller of [`crate::Db`] can get back.

/// Result alias for engine calls.
pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Storage failed or stored data is damaged (I/O, corruption, checksum); carries the file and
    /// offset.
    #[error(transparent)]
    Storage(#[from] kvstore_base::Error),

    /// A write to the WAL or a persist step failed earlier; the database refuses all writes until
    /// it is reopened, because the durable state of the failed write is unknown.
    #[error("database is poisoned and refuses writes: {reason}")]
    Poisoned { reason: String },

    /// The named column family does not exist.
    #[error("column family not found: {0}")]
    ColumnFamilyNotFound(String),

    /// The caller passed something the engine cannot accept (empty key, oversized value...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The database was closed.
    #[error("database is closed")]
    Closed,
}

impl Error {
    /// True when stored data is damaged (as opposed to a failing device or a bad argument).
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Storage(e) if e.is_corruption())
    }

    /// True when the device is out of space.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Error::Storage(e) => e.is_disk_full(),
            Error::Poisoned { reason } => {
                reason.contains("No space") || reason.contains("no space")
            }
            _ => false,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Storage(kvstore_base::Error::io("io", e))
    }
}
