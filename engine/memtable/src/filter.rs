//! [`KeyFilter`]: a concurrent, in-memory bloom filter over the user keys of one memtable.
//!
//! Why: a point lookup searches the memtable first, and on a data set larger than the memtable
//! most lookups find nothing there; the skiplist search that says so chases a pointer per level
//! (about a quarter of a `readrandom` profile at 1M keys). The filter answers "certainly not
//! here" with one cache line.
//!
//! Layout: a power-of-two array of `AtomicU64` words. A key's xxh3 hash picks one word (high 32
//! bits) and three bits inside it (three 6-bit slices of the low bits): a "blocked" bloom
//! filter, so an insert is one `fetch_or` and a probe one load. Nothing of it is ever written to
//! disk.
//!
//! Ordering: bits are only ever set, with `Relaxed` stores. A writer sets a key's bits *before*
//! inserting the entry into the skiplist, and the engine publishes the entry's sequence number
//! (a `SeqCst` store) only after that; a reader loads that sequence number before probing. So a
//! reader that may see an entry also sees its bits, and the filter never hides a visible entry.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes of filter per byte of memtable budget: 1/64, i.e. 1 MiB for a 64 MiB memtable — about
/// 22 bits per entry of 16-byte keys and 100-byte values, 8 bits per entry at the smallest
/// possible entries.
pub const FILTER_BYTES_PER_MEMTABLE_BYTE: usize = 64;
/// Upper bound of one filter (a 512 MiB memtable would not get more than this).
pub const MAX_FILTER_BYTES: usize = 8 << 20;

/// A concurrent blocked bloom filter over user keys. `Send + Sync`.
pub struct KeyFilter {
    words: Box<[AtomicU64]>,
    /// `words.len() - 1` (the length is a power of two).
    mask: u64,
}

impl KeyFilter {
    /// A filter of about `bytes` bytes (rounded down to a power of two, at least one word).
    pub fn with_bytes(bytes: usize) -> KeyFilter {
        let words = (bytes.min(MAX_FILTER_BYTES) / 8).max(1);
        let words = if words.is_power_of_two() {
            words
        } else {
            words.next_power_of_two() / 2
        };
        KeyFilter {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            mask: words as u64 - 1,
        }
    }

    /// The filter a memtable of `memtable_bytes` gets.
    pub fn for_memtable(memtable_bytes: usize) -> KeyFilter {
        Self::with_bytes(memtable_bytes / FILTER_BYTES_PER_MEMTABLE_BYTE)
    }

    #[inline]
    fn locate(&self, user_key: &[u8]) -> (usize, u64) {
        self.locate_hash(kvstore_base::checksum::xxh3(user_key))
    }

    /// `h` is `xxh3(user_key)`, the hash the SSTable filters use too, so a lookup hashes once.
    #[inline]
    fn locate_hash(&self, h: u64) -> (usize, u64) {
        let word = ((h >> 32) & self.mask) as usize;
        let bits = (1u64 << (h & 63)) | (1u64 << ((h >> 6) & 63)) | (1u64 << ((h >> 12) & 63));
        (word, bits)
    }

    /// Records `user_key`. Call before the entry becomes findable (see the module docs).
    #[inline]
    pub fn insert(&self, user_key: &[u8]) {
        let (w, bits) = self.locate(user_key);
        self.words[w].fetch_or(bits, Ordering::Relaxed);
    }

    /// False only if `user_key` was certainly never inserted.
    #[inline]
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.may_contain_hash(kvstore_base::checksum::xxh3(user_key))
    }

    /// [`KeyFilter::may_contain`] for a key whose `xxh3` is `h`.
    #[inline]
    pub fn may_contain_hash(&self, h: u64) -> bool {
        let (w, bits) = self.locate_hash(h);
        self.words[w].load(Ordering::Relaxed) & bits == bits
    }

    /// Starts loading the word [`KeyFilter::may_contain_hash`] will read for `h`, so a lookup
    /// can have this miss in flight together with the table filters' ones.
    #[inline]
    pub fn prefetch_hash(&self, h: u64) {
        let (w, _) = self.locate_hash(h);
        kvstore_base::prefetch::prefetch_line(self.words[w].as_ptr().cast_const().cast());
    }

    /// Bytes of memory the filter holds.
    pub fn bytes(&self) -> usize {
        self.words.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let f = KeyFilter::with_bytes(64 << 10); // 512 Ki bits
        for i in 0..20_000u32 {
            f.insert(format!("key{i:08}").as_bytes());
        }
        for i in 0..20_000u32 {
            assert!(f.may_contain(format!("key{i:08}").as_bytes()));
        }
        let fp = (0..20_000u32)
            .filter(|i| f.may_contain(format!("other{i:08}").as_bytes()))
            .count();
        // 26 bits per key, 3 bits in one word: well under 2 %.
        assert!(fp < 400, "{fp} false positives of 20000");
    }

    #[test]
    fn sizes_are_powers_of_two_and_bounded() {
        assert_eq!(KeyFilter::with_bytes(0).bytes(), 8);
        assert_eq!(KeyFilter::with_bytes(1000).bytes(), 512);
        assert_eq!(KeyFilter::for_memtable(64 << 20).bytes(), 1 << 20);
        assert_eq!(KeyFilter::with_bytes(1 << 40).bytes(), MAX_FILTER_BYTES);
    }
}
