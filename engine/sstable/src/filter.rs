//! The whole-table bloom filter over user keys.
//!
//! One filter per table (not per block): a point lookup that misses it skips the table without
//! touching the index or a data block. Keys are hashed once with xxh3-64 and probed by double
//! hashing, `bit_i = (h1 + i * h2) mod num_bits` with `h1`/`h2` the low/high 32 bits, which
//! performs like `k` independent hashes for a bloom filter.
//!
//! Encoding: `bits[num_bits / 8] | num_probes u8`. Invariants: at least 8 bytes of bits,
//! `1 <= num_probes <= 30`. With `b` bits per key the false-positive rate is about
//! `(1 - e^(-k/b))^k` — ≈ 0.8 % at `b = 10`, `k = 7`.

use kvstore_base::checksum::xxh3;

/// Smallest filter, so a table with few keys still gets a useful rate.
const MIN_FILTER_BITS: usize = 64;
const MAX_PROBES: u8 = 30;

/// The hash a filter is built from and probed with.
#[inline]
pub fn bloom_hash(user_key: &[u8]) -> u64 {
    xxh3(user_key)
}

/// Number of probes that minimises the false-positive rate: `bits_per_key * ln 2`.
fn num_probes(bits_per_key: usize) -> u8 {
    ((bits_per_key as f64 * 0.69).round() as u64).clamp(1, MAX_PROBES as u64) as u8
}

#[inline]
fn probes(hash: u64, num_probes: u8, num_bits: u64) -> impl Iterator<Item = u64> {
    let h1 = hash & 0xffff_ffff;
    let h2 = hash >> 32;
    (0..num_probes as u64).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % num_bits)
}

/// Encodes a filter over the given key hashes (one per distinct user key).
pub fn build_filter(hashes: &[u64], bits_per_key: usize) -> Vec<u8> {
    let bits = hashes
        .len()
        .saturating_mul(bits_per_key)
        .max(MIN_FILTER_BITS);
    let bytes = bits.div_ceil(8);
    let num_bits = (bytes * 8) as u64;
    let k = num_probes(bits_per_key);
    let mut out = vec![0u8; bytes + 1];
    for &h in hashes {
        for bit in probes(h, k, num_bits) {
            out[(bit / 8) as usize] |= 1 << (bit % 8);
        }
    }
    out[bytes] = k;
    out
}

/// A decoded filter. Answers "maybe present" or "certainly absent".
#[derive(Debug)]
pub struct BloomFilter {
    bits: Vec<u8>,
    num_probes: u8,
}

impl BloomFilter {
    /// Decodes a filter block; `None` when it breaks the invariants above.
    pub fn decode(mut data: Vec<u8>) -> Option<BloomFilter> {
        let k = data.pop()?;
        if data.len() < MIN_FILTER_BITS / 8 || k == 0 || k > MAX_PROBES {
            return None;
        }
        Some(BloomFilter {
            bits: data,
            num_probes: k,
        })
    }

    /// False only if no key with this hash was added.
    ///
    /// Visits the same bits as [`probes`] with two divisions instead of one per probe:
    /// `h1 + i * h2` never wraps (`h1, h2 < 2^32`, `i < 2^5`), so
    /// `(h1 + i * h2) mod n = (h1 mod n + i * (h2 mod n)) mod n`, and each step adds
    /// `h2 mod n < n` to a value `< n`, so one conditional subtraction reduces it.
    ///
    /// All probes are made, without stopping at the first clear bit: each probe of a large
    /// filter is a cache miss, and with no branch between them the loads are independent, so
    /// the CPU has them all in flight at once — about one miss's latency for the lookup instead
    /// of one per probe (a table that holds the key pays all `num_probes` of them).
    #[inline]
    pub fn may_contain_hash(&self, hash: u64) -> bool {
        let num_bits = (self.bits.len() * 8) as u64;
        let mut bit = (hash & 0xffff_ffff) % num_bits;
        let step = (hash >> 32) % num_bits;
        let mut all = true;
        for _ in 0..self.num_probes {
            let byte = self.bits.get((bit / 8) as usize).copied().unwrap_or(0);
            all &= byte & (1 << (bit % 8)) != 0;
            bit += step;
            if bit >= num_bits {
                bit -= num_bits;
            }
        }
        all
    }

    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.may_contain_hash(bloom_hash(user_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_over(n: u32, bits_per_key: usize) -> BloomFilter {
        let hashes: Vec<u64> = (0..n)
            .map(|i| bloom_hash(format!("key{i}").as_bytes()))
            .collect();
        BloomFilter::decode(build_filter(&hashes, bits_per_key)).unwrap()
    }

    #[test]
    fn no_false_negatives() {
        let f = filter_over(10_000, 10);
        for i in 0..10_000 {
            assert!(f.may_contain(format!("key{i}").as_bytes()));
        }
    }

    #[test]
    fn false_positive_rate_is_about_one_percent() {
        let f = filter_over(10_000, 10);
        let fp = (0..10_000)
            .filter(|i| f.may_contain(format!("absent{i}").as_bytes()))
            .count();
        let rate = fp as f64 / 10_000.0;
        assert!(rate < 0.03, "false-positive rate {rate}");
    }

    #[test]
    fn probe_walk_visits_the_bits_the_builder_set() {
        // The incremental probe of `may_contain_hash` must match `probes` bit for bit, or
        // filters written by older builds would give false negatives.
        for num_bits in [64u64, 72, 1000, 12_344, 1 << 20] {
            for seed in 0..200u64 {
                let hash = xxh3(&seed.to_le_bytes()).wrapping_mul(seed | 1);
                let bytes = (num_bits / 8) as usize;
                let mut bits = vec![0u8; bytes];
                for bit in probes(hash, 7, num_bits) {
                    bits[(bit / 8) as usize] |= 1 << (bit % 8);
                }
                let f = BloomFilter {
                    bits,
                    num_probes: 7,
                };
                assert!(f.may_contain_hash(hash), "num_bits {num_bits} seed {seed}");
                // Exactly those bits: clearing any one of them must make the probe fail.
                for bit in probes(hash, 7, num_bits) {
                    let mut g = BloomFilter {
                        bits: f.bits.clone(),
                        num_probes: 7,
                    };
                    g.bits[(bit / 8) as usize] &= !(1 << (bit % 8));
                    assert!(!g.may_contain_hash(hash));
                }
            }
        }
    }

    #[test]
    fn tiny_filter_still_works() {
        let f = filter_over(1, 10);
        assert!(f.may_contain(b"key0"));
        assert!(f.bits.len() >= 8);
    }

    #[test]
    fn probe_count_is_clamped() {
        assert_eq!(num_probes(1), 1);
        assert_eq!(num_probes(10), 7);
        assert_eq!(num_probes(1000), 30);
    }

    #[test]
    fn decode_rejects_bad_encodings() {
        assert!(BloomFilter::decode(vec![]).is_none());
        assert!(BloomFilter::decode(vec![0xff; 8]).is_none()); // only 7 bytes of bits
        assert!(BloomFilter::decode([vec![0u8; 8], vec![0]].concat()).is_none());
        assert!(BloomFilter::decode([vec![0u8; 8], vec![31]].concat()).is_none());
        assert!(BloomFilter::decode([vec![0u8; 8], vec![30]].concat()).is_some());
    }
}
