//! The engine-level error shared by the engine crates.
//!
//! Variants carry their evidence so an operator can find the damaged byte: the file, the offset,
//! and for checksums what was stored and what was computed.

use std::path::PathBuf;

/// Result alias used throughout the engine crates.
pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O call failed. `context` names the operation and file.
    #[error("I/O error ({context}): {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// Bytes on disk do not decode: structure is damaged.
    #[error("corruption in {file} at offset {offset}: {detail}")]
    Corruption {
        file: PathBuf,
        offset: u64,
        detail: String,
    },

    /// A checksum did not match: bytes changed after they were written.
    #[error("checksum mismatch in {file} at offset {offset}: stored {expected:#018x}, computed {got:#018x}")]
    ChecksumMismatch {
        file: PathBuf,
        offset: u64,
        expected: u64,
        got: u64,
    },

    /// A caller passed something the engine cannot accept.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    /// Wraps an `std::io::Error` with a short description of what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Builds a [`Error::Corruption`].
    pub fn corruption(file: impl Into<PathBuf>, offset: u64, detail: impl Into<String>) -> Self {
        Error::Corruption {
            file: file.into(),
            offset,
            detail: detail.into(),
        }
    }

    /// True for errors that mean stored data is damaged (as opposed to a failing device).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            Error::Corruption { .. } | Error::ChecksumMismatch { .. }
        )
    }

    /// True when the underlying device reported that it is out of space.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Error::Io { source, .. } => {
                source.kind() == std::io::ErrorKind::StorageFull
                    || source.raw_os_error() == Some(28)
            }
            _ => false,
        }
    }
}
