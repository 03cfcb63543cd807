//! Options that shape a table as it is written. A reader needs none of them: everything it must
//! know (compression per block, filter parameters) is recorded in the file itself.

/// How data blocks are compressed. Recorded per block, so tables written with different settings
/// (or blocks that did not compress well) read alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Blocks are stored as built.
    #[default]
    None,
    /// Each data block is compressed with zstd at this level; a block is kept uncompressed when
    /// zstd does not shrink it by at least 12.5 %.
    Zstd(i32),
}

/// How a [`crate::TableBuilder`] lays out a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOptions {
    /// Target uncompressed size of a data block; a block is cut once it reaches this size, so a
    /// block may exceed it by one entry.
    pub block_size_bytes: usize,
    /// Bloom filter bits per distinct user key; 0 writes no filter.
    pub bloom_bits_per_key: usize,
    /// Compression of data blocks (index, filter and properties are never compressed).
    pub compression: Compression,
    /// Entries between restart points in data blocks (a restart stores its key in full).
    /// Values below 1 are treated as 1.
    pub restart_interval: usize,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            block_size_bytes: 4096,
            bloom_bits_per_key: 10,
            compression: Compression::None,
            restart_interval: 16,
        }
    }
}
