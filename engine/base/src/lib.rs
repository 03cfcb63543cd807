//! Shared vocabulary of the KVStore engine.
//!
//! Every engine crate (`memtable`, `sstable`, `compaction`, the `engine` itself) speaks in the
//! terms defined here, so none of them depends on another's internals:
//!
//! - [`key`]: sequence numbers, value kinds and the internal-key order
//!   (user key ascending, then sequence number descending, then kind descending).
//! - [`iter`]: [`iter::InternalIterator`], the one cursor trait every sorted source implements.
//! - [`fs`]: the narrow [`fs::FileSystem`] trait all engine I/O goes through, with the real
//!   implementation ([`fs::StdFs`]) and a fault-injecting in-memory one ([`fs::FaultFs`]) that
//!   loses everything not fsynced at a simulated crash.
//! - [`coding`]: little-endian fixed integers and LEB128 varints, bounds-checked on decode.
//! - [`checksum`]: the xxh3-64 checksum used by every on-disk format.
//! - [`prefetch`]: the software prefetch the read paths use to overlap cache misses.
//! - [`error`]: the engine-level error, whose variants carry their evidence (file, offset,
//!   expected/actual checksum).
//!
//! Invariant kept by every decoder in the engine: arbitrary bytes yield an [`Error`], never a
//! panic, an unbounded allocation or a wrong value.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod checksum;
pub mod coding;
pub mod error;
pub mod fs;
pub mod iter;
pub mod key;
pub mod prefetch;

pub use error::{Error, Result};
pub use key::{InternalKey, SeqNo, ValueKind, MAX_SEQ};
