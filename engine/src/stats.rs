//! Engine counters, updated with relaxed atomics on the hot paths and read by `Db::stats`.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub(crate) struct Counters {
    pub user_bytes: AtomicU64,
    pub wal_bytes: AtomicU64,
    pub wal_syncs: AtomicU64,
    pub wal_sync_micros: AtomicU64,
    pub flush_bytes: AtomicU64,
    pub compaction_bytes: AtomicU64,
    pub flushes: AtomicU64,
    pub compactions: AtomicU64,
    pub stalls: AtomicU64,
    pub stall_micros: AtomicU64,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Damaged data met by reads (`get`, scans): how often, and the first report, which names the
/// file and offset. Reads keep going — the damaged key answers an error, the rest are served —
/// but the database is no longer healthy and an operator must know (`Db::corruption`).
#[derive(Default)]
pub(crate) struct CorruptionLog {
    count: AtomicU64,
    first: Mutex<Option<String>>,
}

impl CorruptionLog {
    /// Records `e` if it is corruption.
    pub fn note(&self, e: &crate::Error) {
        if !e.is_corruption() {
            return;
        }
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first.lock();
        if first.is_none() {
            *first = Some(e.to_string());
        }
        // IMPORTANT: bounded logging: a scan over a damaged table must not flood the log.
        if n < 10 || n.is_power_of_two() {
            tracing::error!(seen = n + 1, error = %e, "read met corrupt data");
        }
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn first(&self) -> Option<String> {
        self.first.lock().clone()
    }
}
