//! The block cache: decoded data blocks shared by every table reader of a database.
//!
//! Keyed by `(file_number, block_offset)` — file numbers are never reused, so a key names one
//! block forever. Bounded by bytes (each block is charged [`Block::charge`]) and split into
//! [`NUM_SHARDS`] shards, each a `Mutex` around its own cache, so concurrent readers rarely
//! contend. Each shard holds at most `capacity / NUM_SHARDS` bytes; a block larger than that is
//! not cached.
//!
//! Replacement is CLOCK (second chance), an approximation of LRU: a hit only sets the entry's
//! `referenced` bit, and eviction sweeps a hand over the slots, clearing set bits and evicting
//! the first entry found clear. Why not an exact LRU: on a read-heavy workload that misses a
//! lot, keeping an ordered recency index (it was a `BTreeMap`) up to date on every hit and
//! insert cost more than the block read it was saving (profile in `benches/runs/2026-11-journal.md`).
//!
//! Buffer recycling: the buffer of an evicted block nobody else holds goes to a small per-shard
//! spare list ([`SPARE_BUFFERS_PER_SHARD`]), and a miss is handed one of them
//! ([`BlockCache::get_or_spare`]) to read the missing block into, so the steady state of a
//! missing workload neither frees nor allocates nor zero-fills a block buffer. This serves
//! tables read with `pread` (file systems that do not map files, e.g. `FaultFs`) and stored
//! uncompressed; on the real file system tables are mapped, their uncompressed blocks bypass the
//! cache, and a compressed block's miss decompresses into a fresh buffer. Spare buffers are
//! not charged to the capacity (at most `NUM_SHARDS * SPARE_BUFFERS_PER_SHARD` blocks).
//!
//! Values are `Arc<Block>`: an evicted block stays alive while an iterator still holds it.

use crate::block::Block;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub const NUM_SHARDS: usize = 16;
/// Buffers of evicted blocks each shard keeps for the next misses to read into.
pub const SPARE_BUFFERS_PER_SHARD: usize = 4;

type CacheKey = (u64, u64);

/// A multiply-rotate hasher for the two integers of a [`CacheKey`] (SipHash's DoS resistance is
/// not needed: keys are file numbers and offsets the engine chose).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(26) ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

struct Slot {
    key: CacheKey,
    /// `None` when the slot is free (its index is then in `Shard::free_slots`).
    block: Option<Arc<Block>>,
    charge: usize,
    /// Set by a hit, cleared by the passing clock hand: the entry's second chance.
    referenced: bool,
}

#[derive(Default)]
struct Shard {
    /// Key -> index in `slots`.
    map: HashMap<CacheKey, usize, BuildHasherDefault<KeyHasher>>,
    slots: Vec<Slot>,
    free_slots: Vec<usize>,
    /// The clock hand: the next slot eviction looks at.
    hand: usize,
    usage: usize,
    /// Buffers of evicted blocks, for the next misses to read into.
    spare: Vec<Vec<u8>>,
}

impl Shard {
    fn touch(&mut self, key: CacheKey) -> Option<Arc<Block>> {
        let i = *self.map.get(&key)?;
        let slot = &mut self.slots[i];
        slot.referenced = true;
        slot.block.clone()
    }

    /// Frees slot `i` (which must hold a block) and returns the block and its charge.
    fn release(&mut self, i: usize) -> Option<(Arc<Block>, usize)> {
        let slot = &mut self.slots[i];
        let block = slot.block.take()?;
        let charge = std::mem::take(&mut slot.charge);
        slot.referenced = false;
        self.map.remove(&slot.key);
        self.free_slots.push(i);
        self.usage -= charge;
        Some((block, charge))
    }

    /// Evicts one block by the clock rule; its charge, or `None` when the shard is empty.
    fn evict_one(&mut self) -> Option<usize> {
        let n = self.slots.len();
        // Two sweeps clear every bit, so the second one evicts unless the shard is empty.
        for _ in 0..2 * n {
            let i = self.hand;
            self.hand = (self.hand + 1) % n;
            let slot = &mut self.slots[i];
            if slot.block.is_none() {
                continue;
            }
            if slot.referenced {
                slot.referenced = false;
                continue;
            }
            let (block, charge) = self.release(i)?;
            self.recycle(block);
            return Some(charge);
        }
        None
    }

    /// Keeps the buffer of `block` for a later miss when no one else holds the block.
    fn recycle(&mut self, block: Arc<Block>) {
        if self.spare.len() < SPARE_BUFFERS_PER_SHARD {
            if let Ok(b) = Arc::try_unwrap(block) {
                let buf = b.into_data();
                // A block borrowed from a memory map has no buffer to give.
                if buf.capacity() > 0 {
                    self.spare.push(buf);
                }
            }
        }
    }
}

/// A sharded, byte-bounded CLOCK cache of decoded blocks.
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

    fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The cached block, counting a hit or a miss.
    pub fn get(&self, file_number: u64, offset: u64) -> Option<Arc<Block>> {
        let key = (file_number, offset);
        let found = self.shard(key).lock().touch(key);
        self.count(found.is_some());
        found
    }

    /// The cached block, or on a miss a buffer to read it into (a recycled one when the shard
    /// has one, else an empty `Vec`). Counts a hit or a miss; one lock either way.
    pub fn get_or_spare(&self, file_number: u64, offset: u64) -> Result<Arc<Block>, Vec<u8>> {
        let key = (file_number, offset);
        let mut shard = self.shard(key).lock();
        let found = shard.touch(key);
        let r = match found {
            Some(b) => Ok(b),
            None => Err(shard.spare.pop().unwrap_or_default()),
        };
        drop(shard);
        self.count(r.is_ok());
        r
    }

    /// Caches `block`, evicting blocks of its shard (CLOCK order) to make room.
    pub fn insert(&self, file_number: u64, offset: u64, block: Arc<Block>) {
        let key = (file_number, offset);
        let charge = block.charge();
        if charge > self.shard_capacity {
            return;
        }
        let mut shard = self.shard(key).lock();
        let mut freed = 0;
        if let Some(&i) = shard.map.get(&key) {
            if let Some((old, c)) = shard.release(i) {
                freed += c;
                shard.recycle(old);
            }
        }
        while shard.usage + charge > self.shard_capacity {
            match shard.evict_one() {
                Some(c) => freed += c,
                None => break,
            }
        }
        let slot = Slot {
            key,
            block: Some(block),
            charge,
            referenced: false,
        };
        let i = match shard.free_slots.pop() {
            Some(i) => {
                shard.slots[i] = slot;
                i
            }
            None => {
                shard.slots.push(slot);
                shard.slots.len() - 1
            }
        };
        shard.map.insert(key, i);
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
            let slots: Vec<usize> = s
                .map
                .iter()
                .filter(|(k, _)| k.0 == file_number)
                .map(|(_, i)| *i)
                .collect();
            for i in slots {
                if let Some((block, c)) = s.release(i) {
                    freed += c;
                    s.recycle(block);
                }
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
    fn a_hit_gives_a_block_a_second_chance() {
        let one = block(1000).charge();
        // One shard's worth of room for two blocks; keys chosen in one shard.
        let c = BlockCache::new(NUM_SHARDS * (2 * one + one / 2));
        let same_shard: Vec<u64> = (0..10_000u64)
            .filter(|off| std::ptr::eq(c.shard((1, *off)), c.shard((1, 0))))
            .take(3)
            .collect();
        let (a, b, d) = (same_shard[0], same_shard[1], same_shard[2]);
        c.insert(1, a, block(1000));
        c.insert(1, b, block(1000));
        assert!(c.get(1, a).is_some()); // a referenced, b not
        c.insert(1, d, block(1000)); // evicts b, not a
        assert!(c.get(1, a).is_some());
        assert!(c.get(1, b).is_none());
        assert!(c.get(1, d).is_some());
    }

    #[test]
    fn evicted_buffers_are_handed_to_misses() {
        let one = block(1000).charge();
        let c = BlockCache::new(NUM_SHARDS * one);
        let same_shard: Vec<u64> = (0..10_000u64)
            .filter(|off| std::ptr::eq(c.shard((1, *off)), c.shard((1, 0))))
            .take(3)
            .collect();
        c.insert(1, same_shard[0], block(1000));
        c.insert(1, same_shard[1], block(1000)); // evicts the first; nobody holds it
        match c.get_or_spare(1, same_shard[2]) {
            Ok(_) => panic!("not cached"),
            Err(buf) => assert!(buf.capacity() >= 1000),
        }
        // A block still held elsewhere is not recycled.
        let held = c.get(1, same_shard[1]).unwrap();
        c.insert(1, same_shard[2], block(1000));
        assert!(c.get(1, same_shard[1]).is_none());
        assert!(matches!(c.get_or_spare(1, same_shard[0]), Err(b) if b.capacity() == 0));
        drop(held);
    }

    #[test]
    fn oversized_blocks_are_not_cached() {
        let c = BlockCache::new(NUM_SHARDS * 100);
        c.insert(1, 0, block(1000));
        assert_eq!(c.usage_bytes(), 0);
        assert!(c.get(1, 0).is_none());
    }
}
