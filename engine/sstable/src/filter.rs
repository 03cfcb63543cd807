//! The whole-table bloom filter over user keys: building it, decoding it, probing it.
//!
//! One filter per table (not per block): a point lookup that misses it skips the table without
//! touching the index or a data block. Keys are hashed once with xxh3-64 ([`bloom_hash`]); the
//! engine hashes a lookup key once and probes every candidate table's filter with that hash.
//!
//! **Why blocked.** A filter of a large table is far bigger than the CPU caches, so each probe
//! that lands on a different cache line is a memory access. The builder writes a *blocked*
//! filter (the idea of RocksDB's FastLocalBloom): the hash picks one 64-byte (512-bit) line and
//! all `k` probes fall inside it, so a lookup costs one cache miss per table instead of up to
//! `k`. The price is a slightly higher false-positive rate at the same size (keys are not spread
//! evenly over the lines): ≈ 0.97 % instead of ≈ 0.84 % at 10 bits per key (measured).
//!
//! Two encodings, told apart by the last byte (the format is specified byte for byte in
//! `docs/formats/sstable.md`, "Filter block"):
//! - **blocked** (written by [`build_filter`]): `lines[64 * L] | k u8 | 0x80`. A key with hash
//!   `h` uses line `((h >> 32) * L) >> 32` and, in it, bits `x_i >> 23` for `i` in `0..k`, where
//!   `x_0 = h as u32` and `x_{i+1} = x_i * 0x9E3779B9 (mod 2^32)`.
//! - **legacy** (written by older builds, still read): `bits[B] | k u8` with `1 <= k <= 30`,
//!   probed over the whole array by double hashing, `(h1 + i * h2) mod 8B`.
//!
//! In both, bit `j` of a bit array (or of a line) is bit `j % 8` of byte `j / 8`.
//!
//! Invariants of a decoded [`BloomFilter`] (anything else is rejected by [`BloomFilter::decode`]):
//! - blocked: `1 <= L <= u32::MAX` whole lines, `1 <= k <= 30`;
//! - legacy: at least 8 bytes of bits, `1 <= k <= 30`.
//!
//! Blocked lines are kept in 64-byte-aligned memory, so a line is exactly one cache line.

use kvstore_base::checksum::xxh3;

/// Smallest legacy filter, so a table with few keys still gets a useful rate.
const MIN_FILTER_BITS: usize = 64;
const MAX_PROBES: u8 = 30;

/// Last byte of a blocked filter. A legacy filter ends in its probe count, `1..=30`.
pub const BLOCKED_MARKER: u8 = 0x80;
/// Bytes of one line of a blocked filter: one cache line.
pub const LINE_BYTES: usize = 64;
const LINE_BITS: usize = LINE_BYTES * 8;
/// Multiplier that derives each probe of a line from the previous one: 2^32 / φ, odd, so the
/// sequence `x_i` runs through many distinct values and its top bits change at every step.
const PROBE_MULTIPLIER: u32 = 0x9E37_79B9;

/// The hash a filter is built from and probed with.
#[inline]
pub fn bloom_hash(user_key: &[u8]) -> u64 {
    xxh3(user_key)
}

/// Probes per key of a blocked filter with `bits_per_key` bits per key.
///
/// Below `bits_per_key * ln 2` (the optimum of a standard filter): the keys of a blocked filter
/// are not spread evenly over its lines, and an overfull line loses more to extra probes than an
/// underfull one gains. Chosen from the false-positive rates measured with the probe sequence
/// of this module (500k keys, 3M absent hashes, `k` in 1..=16 for each bits per key): the best
/// `k`, or where two are within noise of each other the smaller (fewer probes). At 10 bits per
/// key, 6 and 7 both measure 0.96 %. `blocked_probe_count_is_near_optimal` re-checks a few.
fn blocked_num_probes(bits_per_key: usize) -> u8 {
    match bits_per_key {
        0..=2 => 1,
        3 => 2,
        4..=5 => 3,
        6 => 4,
        7..=8 => 5,
        9..=10 => 6,
        11..=12 => 7,
        13..=14 => 8,
        15..=16 => 9,
        // Beyond that the rate is below 0.06 % and flat in `k` within a few probes; grow slowly.
        17..=22 => 10,
        b => (11 + (b - 23) / 4).min(MAX_PROBES as usize) as u8,
    }
}

/// Line of a blocked filter with `num_lines` lines (`<= u32::MAX`) that `hash` uses: the high 32
/// bits scaled to `0..num_lines` (multiply-shift, no division).
#[inline]
fn line_index(hash: u64, num_lines: usize) -> usize {
    (((hash >> 32) * num_lines as u64) >> 32) as usize
}

/// Bit positions (`0..512`) inside its line that `hash` sets and probes. Positions may repeat.
#[inline]
fn line_probes(hash: u64, num_probes: u8) -> impl Iterator<Item = usize> {
    let mut x = hash as u32;
    (0..num_probes).map(move |_| {
        let bit = (x >> 23) as usize;
        x = x.wrapping_mul(PROBE_MULTIPLIER);
        bit
    })
}

/// Encodes a blocked filter over the given key hashes (one per distinct user key).
pub fn build_filter(hashes: &[u64], bits_per_key: usize) -> Vec<u8> {
    build_blocked(hashes, bits_per_key, blocked_num_probes(bits_per_key))
}

/// [`build_filter`] with an explicit probe count, `1..=30`.
fn build_blocked(hashes: &[u64], bits_per_key: usize, num_probes: u8) -> Vec<u8> {
    // At most u32::MAX lines (256 GiB), the range of `line_index`; at least one.
    let num_lines = hashes
        .len()
        .saturating_mul(bits_per_key)
        .div_ceil(LINE_BITS)
        .clamp(1, u32::MAX as usize);
    let mut out = vec![0u8; num_lines * LINE_BYTES + 2];
    for &h in hashes {
        let base = line_index(h, num_lines) * LINE_BYTES;
        for bit in line_probes(h, num_probes) {
            out[base + bit / 8] |= 1 << (bit % 8);
        }
    }
    let n = out.len();
    out[n - 2] = num_probes;
    out[n - 1] = BLOCKED_MARKER;
    out
}

/// Number of probes that minimises the false-positive rate of a standard filter:
/// `bits_per_key * ln 2`.
fn legacy_num_probes(bits_per_key: usize) -> u8 {
    ((bits_per_key as f64 * 0.69).round() as u64).clamp(1, MAX_PROBES as u64) as u8
}

/// Bits of a legacy filter of `num_bits` bits that `hash` sets and probes.
#[inline]
fn probes(hash: u64, num_probes: u8, num_bits: u64) -> impl Iterator<Item = u64> {
    let h1 = hash & 0xffff_ffff;
    let h2 = hash >> 32;
    (0..num_probes as u64).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % num_bits)
}

/// Encodes a filter in the legacy (whole-array) encoding, byte for byte as older builds wrote
/// it. New tables never use it: it exists to test and benchmark the reading of old tables.
#[doc(hidden)]
pub fn build_legacy_filter(hashes: &[u64], bits_per_key: usize) -> Vec<u8> {
    let bits = hashes
        .len()
        .saturating_mul(bits_per_key)
        .max(MIN_FILTER_BITS);
    let bytes = bits.div_ceil(8);
    let num_bits = (bytes * 8) as u64;
    let k = legacy_num_probes(bits_per_key);
    let mut out = vec![0u8; bytes + 1];
    for &h in hashes {
        for bit in probes(h, k, num_bits) {
            out[(bit / 8) as usize] |= 1 << (bit % 8);
        }
    }
    out[bytes] = k;
    out
}

/// One line of a blocked filter, as 64-bit words: bit `j` of the line is bit `j % 64` of word
/// `j / 64` (the words are the line's bytes read little-endian). Aligned to a cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u64; LINE_BYTES / 8]);

enum Repr {
    Blocked { lines: Vec<Line>, num_probes: u8 },
    Legacy { bits: Vec<u8>, num_probes: u8 },
}

/// A decoded filter. Answers "maybe present" or "certainly absent".
pub struct BloomFilter {
    repr: Repr,
}

impl std::fmt::Debug for BloomFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, bytes, k) = match &self.repr {
            Repr::Blocked { lines, num_probes } => {
                ("blocked", lines.len() * LINE_BYTES, num_probes)
            }
            Repr::Legacy { bits, num_probes } => ("legacy", bits.len(), num_probes),
        };
        f.debug_struct("BloomFilter")
            .field("encoding", &kind)
            .field("bytes", &bytes)
            .field("num_probes", k)
            .finish()
    }
}

impl BloomFilter {
    /// Decodes a filter block of either encoding; `None` when it breaks the invariants above.
    pub fn decode(data: Vec<u8>) -> Option<BloomFilter> {
        if *data.last()? == BLOCKED_MARKER {
            Self::decode_blocked(&data)
        } else {
            Self::decode_legacy(data)
        }
    }

    /// `lines | k | BLOCKED_MARKER`.
    fn decode_blocked(data: &[u8]) -> Option<BloomFilter> {
        let body = data.get(..data.len().checked_sub(2)?)?;
        let k = data[data.len() - 2];
        let num_lines = body.len() / LINE_BYTES;
        if body.len() % LINE_BYTES != 0
            || num_lines == 0
            || num_lines > u32::MAX as usize
            || k == 0
            || k > MAX_PROBES
        {
            return None;
        }
        let lines = body
            .chunks_exact(LINE_BYTES)
            .map(|bytes| {
                let mut line = Line([0; LINE_BYTES / 8]);
                for (word, b) in line.0.iter_mut().zip(bytes.chunks_exact(8)) {
                    let mut le = [0u8; 8];
                    le.copy_from_slice(b);
                    *word = u64::from_le_bytes(le);
                }
                line
            })
            .collect();
        Some(BloomFilter {
            repr: Repr::Blocked {
                lines,
                num_probes: k,
            },
        })
    }

    /// `bits | k`, as written by older builds.
    fn decode_legacy(mut data: Vec<u8>) -> Option<BloomFilter> {
        let k = data.pop()?;
        if data.len() < MIN_FILTER_BITS / 8 || k == 0 || k > MAX_PROBES {
            return None;
        }
        Some(BloomFilter {
            repr: Repr::Legacy {
                bits: data,
                num_probes: k,
            },
        })
    }

    /// Whether the filter is in the blocked encoding (what [`build_filter`] writes).
    pub fn is_blocked(&self) -> bool {
        matches!(self.repr, Repr::Blocked { .. })
    }

    /// False only if no key with this hash was added.
    #[inline]
    pub fn may_contain_hash(&self, hash: u64) -> bool {
        match &self.repr {
            Repr::Blocked { lines, num_probes } => {
                // `line_index < lines.len()` since decode keeps `1 <= len <= u32::MAX`.
                let Some(line) = lines.get(line_index(hash, lines.len())) else {
                    return true;
                };
                // All probes, no early exit: they read the one line already being fetched,
                // and a data-dependent branch per probe would mispredict often.
                let mut x = hash as u32;
                let mut missing = 0u64;
                for _ in 0..*num_probes {
                    let bit = x >> 23;
                    missing |= !(line.0[(bit >> 6) as usize] >> (bit & 63)) & 1;
                    x = x.wrapping_mul(PROBE_MULTIPLIER);
                }
                missing == 0
            }
            Repr::Legacy { bits, num_probes } => legacy_may_contain(bits, *num_probes, hash),
        }
    }

    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.may_contain_hash(bloom_hash(user_key))
    }

    /// Starts loading the line [`BloomFilter::may_contain_hash`] will read for `hash`. A caller
    /// that probes several filters for one key prefetches them all first, so their cache
    /// misses overlap instead of following one another. Legacy filters read up to `k` lines
    /// and are not prefetched.
    #[inline]
    pub fn prefetch_hash(&self, hash: u64) {
        if let Repr::Blocked { lines, .. } = &self.repr {
            if let Some(line) = lines.get(line_index(hash, lines.len())) {
                crate::table::prefetch_line(line.0.as_ptr().cast());
            }
        }
    }
}

/// Probe of a legacy filter.
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
fn legacy_may_contain(bits: &[u8], num_probes: u8, hash: u64) -> bool {
    let num_bits = (bits.len() * 8) as u64;
    let mut bit = (hash & 0xffff_ffff) % num_bits;
    let step = (hash >> 32) % num_bits;
    let mut all = true;
    for _ in 0..num_probes {
        let byte = bits.get((bit / 8) as usize).copied().unwrap_or(0);
        all &= byte & (1 << (bit % 8)) != 0;
        bit += step;
        if bit >= num_bits {
            bit -= num_bits;
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_hashes(prefix: &str, n: u32) -> Vec<u64> {
        (0..n)
            .map(|i| bloom_hash(format!("{prefix}{i}").as_bytes()))
            .collect()
    }

    fn filter_over(n: u32, bits_per_key: usize) -> BloomFilter {
        BloomFilter::decode(build_filter(&key_hashes("key", n), bits_per_key)).unwrap()
    }

    fn legacy_filter_over(n: u32, bits_per_key: usize) -> BloomFilter {
        BloomFilter::decode(build_legacy_filter(&key_hashes("key", n), bits_per_key)).unwrap()
    }

    /// Fraction of `absent` hashes the filter lets through.
    fn fp_rate(f: &BloomFilter, absent: &[u64]) -> f64 {
        absent.iter().filter(|&&h| f.may_contain_hash(h)).count() as f64 / absent.len() as f64
    }

    const FP_KEYS: u32 = 100_000;
    const FP_ABSENT: u32 = 400_000;

    #[test]
    fn no_false_negatives() {
        for bits_per_key in [1, 4, 10, 20] {
            for n in [1, 7, 100, 10_000] {
                let f = filter_over(n, bits_per_key);
                assert!(f.is_blocked());
                let g = legacy_filter_over(n, bits_per_key);
                assert!(!g.is_blocked());
                for i in 0..n {
                    let key = format!("key{i}");
                    assert!(f.may_contain(key.as_bytes()), "blocked {bits_per_key} {n}");
                    assert!(g.may_contain(key.as_bytes()), "legacy {bits_per_key} {n}");
                }
            }
        }
    }

    #[test]
    fn blocked_false_positive_rate_at_10_bits_per_key() {
        let f = filter_over(FP_KEYS, 10);
        let rate = fp_rate(&f, &key_hashes("absent", FP_ABSENT));
        println!("blocked filter, 10 bits/key, k = 6: false-positive rate {rate:.5}");
        // Theory for 512-bit lines at 10 bits per key, k = 6: ≈ 0.96 %.
        assert!(rate < 0.0115, "false-positive rate {rate}");
    }

    #[test]
    fn legacy_false_positive_rate_at_10_bits_per_key() {
        let f = legacy_filter_over(FP_KEYS, 10);
        let rate = fp_rate(&f, &key_hashes("absent", FP_ABSENT));
        println!("legacy filter, 10 bits/key, k = 7: false-positive rate {rate:.5}");
        // Theory: (1 - e^(-0.7))^7 ≈ 0.82 %.
        assert!(rate < 0.0095, "false-positive rate {rate}");
    }

    /// Measures the false-positive rate for each `k` near the chosen one: the chosen `k` must be
    /// within 5 % (relative) of the best measured (at 10 bits per key, `k` = 5 or 8 is ~10 %
    /// worse than 6). Fails if the probe sequence or the choice of
    /// `k` goes off (e.g. positions that repeat or correlate with the line).
    #[test]
    fn blocked_probe_count_is_near_optimal() {
        let absent = key_hashes("absent", FP_ABSENT);
        for bits_per_key in [6usize, 8, 10, 12, 16] {
            let hashes = key_hashes("key", FP_KEYS);
            let chosen = blocked_num_probes(bits_per_key);
            let rate = |k: u8| {
                let f = BloomFilter::decode(build_blocked(&hashes, bits_per_key, k)).unwrap();
                fp_rate(&f, &absent)
            };
            let rates: Vec<(u8, f64)> = (chosen.saturating_sub(2).max(1)..=chosen + 2)
                .map(|k| (k, rate(k)))
                .collect();
            println!("{bits_per_key} bits/key, chosen k = {chosen}: {rates:?}");
            let best = rates.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
            let at_chosen = rates.iter().find(|r| r.0 == chosen).unwrap().1;
            assert!(
                at_chosen <= best * 1.05,
                "{bits_per_key} bits/key: k = {chosen} gives {at_chosen}, best {best}"
            );
        }
        assert_eq!(blocked_num_probes(10), 6);
    }

    #[test]
    fn blocked_probes_stay_in_one_line() {
        // Each key sets bits in exactly the line `line_index` names, and only there.
        let num_lines = 37;
        for seed in 0..500u64 {
            let h = xxh3(&seed.to_le_bytes());
            let hashes = [h];
            let enc = build_blocked(&hashes, num_lines * LINE_BITS, 6);
            assert_eq!(enc.len(), num_lines * LINE_BYTES + 2);
            let line = line_index(h, num_lines);
            for (i, &b) in enc[..enc.len() - 2].iter().enumerate() {
                if i / LINE_BYTES != line {
                    assert_eq!(b, 0, "seed {seed}: byte {i} outside line {line}");
                }
            }
            // Exactly the probed bits, clearing any one of them makes the probe fail.
            let set: u32 = enc.iter().rev().skip(2).map(|b| b.count_ones()).sum();
            let mut distinct: Vec<usize> = line_probes(h, 6).collect();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(set as usize, distinct.len());
            for bit in distinct {
                let mut g = enc.clone();
                g[line * LINE_BYTES + bit / 8] &= !(1 << (bit % 8));
                assert!(!BloomFilter::decode(g).unwrap().may_contain_hash(h));
            }
        }
    }

    #[test]
    fn line_index_covers_all_lines() {
        for num_lines in [1usize, 2, 3, 1000, u32::MAX as usize] {
            assert_eq!(line_index(0, num_lines), 0);
            assert_eq!(line_index(u64::MAX, num_lines), num_lines - 1);
            assert!(line_index(0x8000_0000_0000_0000, num_lines) <= num_lines / 2);
        }
    }

    #[test]
    fn blocked_lines_are_cache_aligned() {
        let f = filter_over(10_000, 10);
        let Repr::Blocked { lines, .. } = &f.repr else {
            panic!("not blocked")
        };
        assert_eq!(std::mem::size_of::<Line>(), LINE_BYTES);
        assert_eq!(lines.as_ptr() as usize % LINE_BYTES, 0);
        assert_eq!(lines.len(), (10_000usize * 10).div_ceil(LINE_BITS));
    }

    #[test]
    fn blocked_encoding_layout() {
        let enc = build_filter(&key_hashes("key", 1000), 10);
        // 10 000 bits round up to 20 lines.
        assert_eq!(enc.len(), 20 * LINE_BYTES + 2);
        assert_eq!(enc[enc.len() - 2], 6);
        assert_eq!(enc[enc.len() - 1], BLOCKED_MARKER);
        // Decoded words are the line bytes read little-endian.
        let f = BloomFilter::decode(enc.clone()).unwrap();
        let Repr::Blocked { lines, num_probes } = &f.repr else {
            panic!("not blocked")
        };
        assert_eq!(*num_probes, 6);
        for (i, line) in lines.iter().enumerate() {
            for (w, word) in line.0.iter().enumerate() {
                let at = i * LINE_BYTES + w * 8;
                assert_eq!(word.to_le_bytes(), enc[at..at + 8]);
            }
        }
    }

    #[test]
    fn probe_walk_visits_the_bits_the_builder_set() {
        // The incremental probe of a legacy filter must match `probes` bit for bit, or filters
        // written by older builds would give false negatives.
        for num_bits in [64u64, 72, 1000, 12_344, 1 << 20] {
            for seed in 0..200u64 {
                let hash = xxh3(&seed.to_le_bytes()).wrapping_mul(seed | 1);
                let bytes = (num_bits / 8) as usize;
                let mut bits = vec![0u8; bytes];
                for bit in probes(hash, 7, num_bits) {
                    bits[(bit / 8) as usize] |= 1 << (bit % 8);
                }
                let legacy = |bits: &[u8]| {
                    let f = BloomFilter::decode([bits, &[7]].concat()).unwrap();
                    assert!(!f.is_blocked());
                    f
                };
                assert!(
                    legacy(&bits).may_contain_hash(hash),
                    "num_bits {num_bits} seed {seed}"
                );
                // Exactly those bits: clearing any one of them must make the probe fail.
                for bit in probes(hash, 7, num_bits) {
                    let mut g = bits.clone();
                    g[(bit / 8) as usize] &= !(1 << (bit % 8));
                    assert!(!legacy(&g).may_contain_hash(hash));
                }
            }
        }
    }

    /// `build_legacy_filter` writes exactly what `build_filter` wrote before the blocked
    /// encoding (checksums of the old builder's output, recorded before the change).
    #[test]
    fn legacy_builder_matches_the_old_bytes() {
        for (n, bits_per_key, len, sum) in [
            (0u32, 10usize, 9usize, 0x6d91f9179858129bu64),
            (1, 10, 9, 0x5b270ac1db659d15),
            (1000, 10, 1251, 0xb981311b3f52ea96),
            (777, 7, 681, 0xdb161af5e1a940ed),
            (5000, 16, 10001, 0x98c2b00317e79bef),
        ] {
            let f = build_legacy_filter(&key_hashes("key", n), bits_per_key);
            assert_eq!((f.len(), xxh3(&f)), (len, sum), "{n} keys, {bits_per_key}");
        }
    }

    #[test]
    fn tiny_filter_still_works() {
        let enc = build_filter(&key_hashes("key", 1), 10);
        assert_eq!(enc.len(), LINE_BYTES + 2);
        let f = BloomFilter::decode(enc).unwrap();
        assert!(f.may_contain(b"key0"));
        let absent = key_hashes("absent", 10_000);
        // One key, 6 bits of 512 set: (6/512)^6 ≈ 0.
        assert!(fp_rate(&f, &absent) < 0.001);
        // No keys at all (the builder never does this) still makes a valid, empty filter.
        let empty = BloomFilter::decode(build_filter(&[], 10)).unwrap();
        assert_eq!(fp_rate(&empty, &absent), 0.0);

        let g = legacy_filter_over(1, 10);
        assert!(g.may_contain(b"key0"));
        let Repr::Legacy { bits, .. } = &g.repr else {
            panic!("not legacy")
        };
        assert!(bits.len() >= 8);
    }

    #[test]
    fn probe_count_is_clamped() {
        assert_eq!(legacy_num_probes(1), 1);
        assert_eq!(legacy_num_probes(10), 7);
        assert_eq!(legacy_num_probes(1000), 30);
        assert_eq!(blocked_num_probes(0), 1);
        assert_eq!(blocked_num_probes(1), 1);
        assert_eq!(blocked_num_probes(10), 6);
        assert_eq!(blocked_num_probes(1000), 30);
        // Never decreasing in bits per key.
        for b in 1..200 {
            assert!(blocked_num_probes(b) <= blocked_num_probes(b + 1), "{b}");
        }
    }

    #[test]
    fn decode_rejects_bad_legacy_encodings() {
        assert!(BloomFilter::decode(vec![]).is_none());
        assert!(BloomFilter::decode(vec![0xff; 8]).is_none()); // only 7 bytes of bits
        assert!(BloomFilter::decode([vec![0u8; 8], vec![0]].concat()).is_none());
        assert!(BloomFilter::decode([vec![0u8; 8], vec![31]].concat()).is_none());
        assert!(BloomFilter::decode([vec![0u8; 8], vec![30]].concat()).is_some());
    }

    #[test]
    fn decode_rejects_bad_blocked_encodings() {
        let blocked = |bytes: usize, k: u8| {
            let mut v = vec![0u8; bytes];
            v.extend([k, BLOCKED_MARKER]);
            BloomFilter::decode(v)
        };
        assert!(blocked(64, 6).is_some_and(|f| f.is_blocked()));
        assert!(blocked(3 * 64, 30).is_some());
        // Not a whole number of lines, or none.
        assert!(blocked(0, 6).is_none());
        assert!(blocked(63, 6).is_none());
        assert!(blocked(65, 6).is_none());
        assert!(blocked(2 * 64 - 1, 6).is_none());
        // k out of range.
        assert!(blocked(64, 0).is_none());
        assert!(blocked(64, 31).is_none());
        assert!(blocked(64, BLOCKED_MARKER).is_none());
        assert!(blocked(64, 255).is_none());
        // Too short for the trailer.
        assert!(BloomFilter::decode(vec![BLOCKED_MARKER]).is_none());
        assert!(BloomFilter::decode(vec![6, BLOCKED_MARKER]).is_none());
        // Other trailing bytes are neither encoding.
        for last in [0u8, 31, 0x7f, 0x81, 0xff] {
            let mut v = vec![0u8; 64];
            v.extend([6, last]);
            assert!(BloomFilter::decode(v).is_none(), "last byte {last:#x}");
        }
    }
}
