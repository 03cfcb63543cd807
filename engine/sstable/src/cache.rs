//! The block cache: decoded data blocks shared by every table reader of a database.
//!
//! Keyed by `(file_number, block_offset)` — file numbers are never reused, so a key names one
//! block forever. Bounded by bytes (each block is charged [`Block::charge`]) and split into
//! [`NUM_SHARDS`] shards, each a `Mutex` around its own LRU, so concurrent readers rarely contend.
//! Each shard holds at most `capacity / NUM_SHARDS` bytes; a block larger than that is not cached.
//!
//! Values are `Arc<Block>`: an evicted block stays alive while an iterator still holds it.

use crate::block::Block;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub const NUM_SHARDS: usize = 16;

type CacheKey = (u64, u64);

struct Entry {
    block: Arc<Block>,
    /// The shard's `tick` when this entry was last used; its key in `lru`.
    last_used: u64,
    charge: usize,
}

#[derive(Default)]
struct Shard {
    map: HashMap<CacheKey, Entry>,
    /// Entries by last use, oldest first.
    lru: BTreeMap<u64, CacheKey>,
    tick: u64,
    usage: usize,
}

impl Shard {
    fn touch(&mut self, key: CacheKey) -> Option<Arc<Block>> {
        self.tick += 1;
        let tick = self.tick;
        let e = self.map.get_mut(&key)?;
        self.lru.remove(&e.last_used);
        e.last_used = tick;
        self.lru.insert(tick, key);
        Some(e.block.clone())
    }

    fn remove(&mut self, key: &CacheKey) -> usize {
        match self.map.remove(key) {
            Some(e) => {
                self.lru.remove(&e.last_used);
                self.usage -= e.charge;
                e.charge
            }
            None => 0,
        }
    }
}

/// A sharded, byte-bounded LRU cache of decoded blocks.
pub struct BlockCache {
    shards: Vec<Mutex<Shard>>,
    shard_capacity: usize,
    /// Sum of the shards' usage, kept beside them so reading it takes no lock.
    usage: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("capacity", &(self.shard_capacity * NUM_SHARDS))
            .field("usage", &self.usage_bytes())
            .finish()
    }
}

impl BlockCache {
    pub fn new(capacity_bytes: usize) -> Arc<Self> {
        Arc::new(BlockCache {
            shards: (0..NUM_SHARDS)
                .map(|_| Mutex::new(Shard::default()))
                .collect(),
            shard_capacity: capacity_bytes / NUM_SHARDS,
            usage: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    fn shard(&self, key: CacheKey) -> &Mutex<Shard> {
        // Blocks of one file sit at varied offsets; mix both halves so they spread over shards.
        let h =
            key.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ key.1.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        &self.shards[((h >> 32) as usize) % NUM_SHARDS]
    }

    /// The cached block, counting a hit or a miss.
    pub fn get(&self, file_number: u64, offset: u64) -> Option<Arc<Block>> {
        let key = (file_number, offset);
        let found = self.shard(key).lock().touch(key);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Caches `block`, evicting least recently used blocks of its shard to make room.
    pub fn insert(&self, file_number: u64, offset: u64, block: Arc<Block>) {
        let key = (file_number, offset);
        let charge = block.charge();
        if charge > self.shard_capacity {
            return;
        }
        let mut shard = self.shard(key).lock();
        let mut freed = shard.remove(&key);
        while shard.usage + charge > self.shard_capacity {
            let Some((_, oldest)) = shard.lru.pop_first() else {
                break;
            };
            if let Some(e) = shard.map.remove(&oldest) {
                shard.usage -= e.charge;
                freed += e.charge;
            }
        }
        shard.tick += 1;
        let tick = shard.tick;
        shard.map.insert(
            key,
            Entry {
                block,
                last_used: tick,
                charge,
            },
        );
        shard.lru.insert(tick, key);
        shard.usage += charge;
        drop(shard);
        self.usage.fetch_add(charge as u64, Ordering::Relaxed);
        self.usage.fetch_sub(freed as u64, Ordering::Relaxed);
    }

    /// Drops every block of `file_number` (called when the table is deleted).
    pub fn evict_file(&self, file_number: u64) {
        let mut freed = 0;
        for shard in &self.shards {
            let mut s = shard.lock();
            let keys: Vec<CacheKey> = s
                .map
                .keys()
                .filter(|k| k.0 == file_number)
                .copied()
                .collect();
            for k in keys {
                freed += s.remove(&k);
            }
        }
        self.usage.fetch_sub(freed as u64, Ordering::Relaxed);
    }

    /// Bytes charged for the blocks cached now.
    pub fn usage_bytes(&self) -> u64 {
        self.usage.load(Ordering::Relaxed)
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{BlockBuilder, BlockOrigin};
    use std::path::Path;

    fn block(value_len: usize) -> Arc<Block> {
        let mut b = BlockBuilder::new(16);
        b.add(b"k", 1 << 8 | 1, &vec![7u8; value_len]).unwrap();
        let origin = BlockOrigin {
            file: Arc::from(Path::new("t.sst")),
            offset: 0,
            exact: true,
        };
        Arc::new(Block::decode(b.finish(), origin).unwrap())
    }

    #[test]
    fn hit_miss_and_usage() {
        let c = BlockCache::new(1 << 20);
        assert!(c.get(1, 0).is_none());
        let b = block(100);
        c.insert(1, 0, b.clone());
        assert!(c.get(1, 0).is_some());
        assert_eq!((c.hits(), c.misses()), (1, 1));
        assert_eq!(c.usage_bytes(), b.charge() as u64);
        c.insert(1, 0, b.clone()); // replacing does not double-charge
        assert_eq!(c.usage_bytes(), b.charge() as u64);
    }

    #[test]
    fn stays_within_capacity_and_evicts_lru() {
        let one = block(1000).charge();
        let c = BlockCache::new(NUM_SHARDS * one * 4);
        for off in 0..1000u64 {
            c.insert(9, off * 4096, block(1000));
            assert!(c.usage_bytes() <= (NUM_SHARDS * one * 4) as u64);
        }
        // Recently inserted blocks are there; the first ones are gone.
        assert!(c.get(9, 999 * 4096).is_some());
        assert!(c.get(9, 0).is_none());
    }

    #[test]
    fn evict_file_removes_only_that_file() {
        let c = BlockCache::new(1 << 20);
        for off in 0..10 {
            c.insert(1, off, block(10));
            c.insert(2, off, block(10));
        }
        c.evict_file(1);
        assert!(c.get(1, 3).is_none());
        assert!(c.get(2, 3).is_some());
        assert_eq!(c.usage_bytes(), 10 * block(10).charge() as u64);
    }

    #[test]
    fn oversized_blocks_are_not_cached() {
        let c = BlockCache::new(NUM_SHARDS * 100);
        c.insert(1, 0, block(1000));
        assert_eq!(c.usage_bytes(), 0);
        assert!(c.get(1, 0).is_none());
    }
}
