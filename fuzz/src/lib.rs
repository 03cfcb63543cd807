//! Shared pieces of KVStore's fuzz targets (see `README.md`).
//!
//! Random bytes rarely get past a 64-bit checksum, so most targets have two modes: the raw
//! bytes as they are (what a damaged disk gives), and *assembled*, where the fuzzer's bytes are
//! framed or sealed with correct checksums first, so the decoders behind the checksum see
//! arbitrary but checksum-valid input (what a format bug or a crafted file gives).
//!
//! - [`log`]: framing of WAL segments and manifests (`docs/formats/wal.md`).
//! - [`table`]: assembling SSTables from fuzzer-chosen blocks (`docs/formats/sstable.md`).
//! - [`ops`]: the op-sequence crash scenario checked against a `BTreeMap` model.

pub mod log;
pub mod ops;
pub mod table;
