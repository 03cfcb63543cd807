//! Benchmark support for KVStore: the engines `db_bench` drives ([`engine`]), the workloads
//! ([`workload`]), the SVG plot ([`plot`]), and small helpers (keys, values, percentiles, I/O
//! counters). The criterion micro-benchmarks live in `benches/benches/`.
//!
//! The side-by-side anchors (RocksDB, fjall, sled, redb) are compiled only with the `compare`
//! feature, so normal builds and CI never build RocksDB's C++.

pub mod engine;
pub mod plot;
pub mod workload;

use std::path::Path;

/// A 1 MiB pool of random bytes; values are slices of it at varying offsets (like RocksDB's
/// db_bench `RandomGenerator`), so generating a value costs no RNG work per byte. The bytes are
/// incompressible.
pub struct ValuePool {
    data: Vec<u8>,
    pos: usize,
}

impl ValuePool {
    pub fn new(seed: u64) -> Self {
        use rand::{RngCore, SeedableRng};
        let mut data = vec![0u8; 1 << 20];
        rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
        ValuePool { data, pos: 0 }
    }

    /// The next value of `len` bytes (`len` must be at most 64 KiB).
    pub fn next(&mut self, len: usize) -> &[u8] {
        if self.pos + len > self.data.len() {
            self.pos = 0;
        }
        let v = &self.data[self.pos..self.pos + len];
        // An odd stride so consecutive values differ and alignment varies.
        self.pos += len + 7;
        v
    }
}

/// Bytes this process has passed to write-type system calls so far (`wchar` of
/// `/proc/self/io`, all threads). `None` where the file does not exist.
pub fn process_bytes_written() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/io").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Total size of the files under `p`, recursively.
pub fn dir_bytes(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Formats key `i` as a fixed-width 16-byte key (db_bench's default key size), so byte order
/// equals numeric order.
/// Only the low 16 decimal digits are kept. No allocation: it runs once per operation.
pub fn key(i: u64) -> [u8; 16] {
    let mut k = [b'0'; 16];
    let mut n = i;
    for d in k.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

/// Latency percentiles over per-operation samples, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// Computes percentiles from nanosecond samples (sorted in place).
pub fn percentiles(samples: &mut [u64]) -> Percentiles {
    if samples.is_empty() {
        return Percentiles {
            p50: 0.0,
            p99: 0.0,
            p999: 0.0,
            max: 0.0,
        };
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i] as f64 / 1000.0
    };
    Percentiles {
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        max: at(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_numerically_and_are_16_bytes() {
        assert_eq!(&key(42), b"0000000000000042");
        assert_eq!(&key(u64::MAX), b"6744073709551615");
        assert!(key(9) < key(10));
    }

    #[test]
    fn value_pool_gives_requested_lengths_and_wraps() {
        let mut p = ValuePool::new(1);
        for _ in 0..20_000 {
            assert_eq!(p.next(100).len(), 100);
        }
        let a = p.next(100).to_vec();
        assert_ne!(a, p.next(100));
    }

    #[test]
    fn dir_bytes_counts_nested_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), [0u8; 10]).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/b"), [0u8; 5]).unwrap();
        assert_eq!(dir_bytes(d.path()), 15);
    }

    #[test]
    fn waitforcompaction_settles_kvstore_and_is_not_a_workload() {
        use crate::engine::{open, EngineConfig};
        use crate::workload::{run, WorkloadConfig, WAIT_FOR_COMPACTION};
        let d = tempfile::tempdir().unwrap();
        let cfg = EngineConfig {
            memtable_bytes: 64 << 10,
            cache_bytes: 1 << 20,
            kvstore_zstd: 0,
        };
        let db = open("kvstore", d.path(), &cfg).unwrap();
        let wl = WorkloadConfig {
            num: 20_000,
            reads: 1_000,
            value_size: 100,
            sync_ops: 10,
            seed: 1,
            progress: false,
        };
        run(db.as_ref(), "fillrandom", &wl).unwrap();
        assert!(db.wait_for_compaction().unwrap());
        let e = run(db.as_ref(), WAIT_FOR_COMPACTION, &wl).unwrap_err();
        assert!(e.to_string().contains("unknown benchmark"), "{e}");
    }

    #[test]
    fn percentiles_of_known_samples() {
        let mut s: Vec<u64> = (1..=1000).map(|i| i * 1000).collect();
        let p = percentiles(&mut s);
        assert_eq!(p.p50, 501.0);
        assert_eq!(p.p99, 990.0);
        assert_eq!(p.max, 1000.0);
    }
}
