//! Builds one block in memory. The caller (the table builder) guarantees the entry order and
//! decides when a block is full.

use kvstore_base::coding::{put_u32, put_u64, put_varint};
use kvstore_base::{Error, Result};

/// Bytes an entry may need beyond its key and value: three varints and the trailer.
const ENTRY_OVERHEAD_MAX_BYTES: usize = 3 * 10 + 8;

/// Accumulates prefix-compressed entries and the restart array of one block.
#[derive(Debug)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    /// Offsets in `buf` of the entries stored with their full key, ascending; the first is 0.
    restarts: Vec<u32>,
    restart_interval: usize,
    /// Entries added since the last restart point.
    since_restart: usize,
    /// The user key of the last entry added (prefix compression is over user keys only).
    last_key: Vec<u8>,
    num_entries: usize,
}

impl BlockBuilder {
    /// `restart_interval` below 1 is treated as 1 (every entry a restart point).
    pub fn new(restart_interval: usize) -> Self {
        BlockBuilder {
            buf: Vec::new(),
            restarts: Vec::new(),
            restart_interval: restart_interval.max(1),
            since_restart: 0,
            last_key: Vec::new(),
            num_entries: 0,
        }
    }

    /// Appends an entry. Entries must come in strictly increasing internal-key order (checked by
    /// the caller). Fails only when the block would outgrow the u32 offsets of its format.
    pub fn add(&mut self, user_key: &[u8], trailer: u64, value: &[u8]) -> Result<()> {
        let needed = user_key.len() + value.len() + ENTRY_OVERHEAD_MAX_BYTES;
        if self.buf.len() + needed + 4 * (self.restarts.len() + 2) > u32::MAX as usize {
            return Err(Error::InvalidArgument(format!(
                "entry of {} key bytes and {} value bytes does not fit in a block",
                user_key.len(),
                value.len()
            )));
        }
        let shared = if self.since_restart == 0 || self.num_entries == 0 {
            self.restarts.push(self.buf.len() as u32);
            0
        } else {
            common_prefix_len(&self.last_key, user_key)
        };
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, (user_key.len() - shared) as u64);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(&user_key[shared..]);
        put_u64(&mut self.buf, trailer);
        self.buf.extend_from_slice(value);
        self.last_key.clear();
        self.last_key.extend_from_slice(user_key);
        self.num_entries += 1;
        self.since_restart = (self.since_restart + 1) % self.restart_interval;
        Ok(())
    }

    /// Size of the block if finished now.
    pub fn estimated_size(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    pub fn is_empty(&self) -> bool {
        self.num_entries == 0
    }

    /// Appends the restart array and returns the encoded block, leaving the builder empty and
    /// ready for the next block.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        for r in &self.restarts {
            put_u32(&mut out, *r);
        }
        put_u32(&mut out, self.restarts.len() as u32);
        self.restarts.clear();
        self.since_restart = 0;
        self.last_key.clear();
        self.num_entries = 0;
        out
    }
}

fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
