//! PLACEHOLDER implementation of the public API (in memory, no persistence), so the server and
//! search crates can be built against the final signatures while the LSM internals land.

use crate::batch::WriteBatch;
use crate::cf::{ColumnFamily, DEFAULT_CF_ID, DEFAULT_CF_NAME};
use crate::error::{Error, Result};
use crate::options::Options;
use kvstore_base::ValueKind;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

type Map = BTreeMap<(u32, Vec<u8>), Vec<u8>>;

struct Inner {
    map: Mutex<Arc<Map>>,
    cfs: Mutex<Vec<ColumnFamily>>,
    seq: Mutex<u64>,
}

/// An open database. Cheap to clone (clones share one engine); `Send + Sync`.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

/// Per-level shape of the tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LevelStats {
    pub files: usize,
    pub bytes: u64,
}

/// Engine statistics, a consistent-enough copy taken at one moment.
#[derive(Clone, Debug, Default)]
pub struct DbStats {
    /// Per level (index 0 = L0), summed over column families.
    pub levels: Vec<LevelStats>,
    /// Bytes written to disk (WAL + flush + compaction) ÷ bytes of user data written.
    pub write_amplification: f64,
    /// User bytes (keys + values) written through the API.
    pub user_bytes_written: u64,
    /// WAL bytes appended.
    pub wal_bytes_written: u64,
    /// SSTable bytes written by flushes.
    pub flush_bytes_written: u64,
    /// SSTable bytes written by compactions.
    pub compaction_bytes_written: u64,
    /// Bytes held by active and frozen memtables.
    pub memtable_bytes: u64,
    /// Frozen memtables waiting to be flushed.
    pub immutable_memtables: usize,
    pub flushes: u64,
    pub compactions: u64,
    /// Writes that were slowed down or had to wait for flush/compaction.
    pub write_stalls: u64,
    /// Total time writers spent stalled, in microseconds.
    pub stall_micros: u64,
    /// WAL fsyncs performed and their total latency.
    pub wal_syncs: u64,
    pub wal_sync_micros: u64,
    /// Bytes held by live SSTables.
    pub live_sst_bytes: u64,
    /// Last sequence number assigned.
    pub last_sequence: u64,
    /// Block cache use.
    pub block_cache_bytes: u64,
    pub block_cache_hits: u64,
    pub block_cache_misses: u64,
    /// `Some(reason)` once a failed persist has poisoned the database.
    pub poisoned: Option<String>,
}

/// A consistent read view pinned at one sequence number.
pub struct Snapshot {
    map: Arc<Map>,
    seq: u64,
}

/// Iterator over `(key, value)` pairs in key order.
pub struct DbIterator {
    items: std::vec::IntoIter<(Vec<u8>, Vec<u8>)>,
}

impl Iterator for DbIterator {
    type Item = Result<(Vec<u8>, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        self.items.next().map(Ok)
    }
}

fn to_bounds<K: AsRef<[u8]>>(range: &impl RangeBounds<K>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let m = |b: Bound<&K>| match b {
        Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    };
    (m(range.start_bound()), m(range.end_bound()))
}

fn scan_map(map: &Map, cf: u32, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> DbIterator {
    let items: Vec<_> = map
        .range((cf, Vec::new())..)
        .take_while(|((c, _), _)| *c == cf)
        .filter(|((_, k), _)| (start.as_ref(), end.as_ref()).contains(k))
        .map(|((_, k), v)| (k.clone(), v.clone()))
        .collect();
    DbIterator {
        items: items.into_iter(),
    }
}

impl Db {
    /// Opens (creating if allowed) the database in `path`.
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let _ = (path.as_ref(), opts);
        Ok(Db {
            inner: Arc::new(Inner {
                map: Mutex::new(Arc::new(Map::new())),
                cfs: Mutex::new(vec![ColumnFamily::new(DEFAULT_CF_ID, DEFAULT_CF_NAME)]),
                seq: Mutex::new(0),
            }),
        })
    }

    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        self.write(b)
    }

    pub fn delete(&self, key: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete(key);
        self.write(b)
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_cf(&self.default_cf(), key)
    }

    pub fn put_cf(&self, cf: &ColumnFamily, key: &[u8], value: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put_cf(cf, key, value);
        self.write(b)
    }

    pub fn delete_cf(&self, cf: &ColumnFamily, key: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete_cf(cf, key);
        self.write(b)
    }

    pub fn get_cf(&self, cf: &ColumnFamily, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.inner.map.lock().get(&(cf.id(), key.to_vec())).cloned())
    }

    /// Applies `batch` atomically: after a crash, all of it or none of it is there. Durable
    /// before it returns when `Options::sync` is set.
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        batch.validate()?;
        let mut m = self.inner.map.lock();
        let map = Arc::make_mut(&mut m);
        for e in batch.iter() {
            match e.kind {
                ValueKind::Put => {
                    map.insert((e.cf_id, e.key.to_vec()), e.value.to_vec());
                }
                ValueKind::Delete => {
                    map.remove(&(e.cf_id, e.key.to_vec()));
                }
            }
        }
        *self.inner.seq.lock() += batch.len() as u64;
        Ok(())
    }

    /// Returns the column family `name`, creating it (durably) if it does not exist.
    pub fn create_cf(&self, name: &str) -> Result<ColumnFamily> {
        let mut cfs = self.inner.cfs.lock();
        if let Some(cf) = cfs.iter().find(|c| c.name() == name) {
            return Ok(cf.clone());
        }
        let cf = ColumnFamily::new(cfs.len() as u32, name);
        cfs.push(cf.clone());
        Ok(cf)
    }

    /// The column family `name`, if it exists.
    pub fn cf(&self, name: &str) -> Option<ColumnFamily> {
        self.inner.cfs.lock().iter().find(|c| c.name() == name).cloned()
    }

    /// Names of all column families.
    pub fn cf_names(&self) -> Vec<String> {
        self.inner.cfs.lock().iter().map(|c| c.name().to_string()).collect()
    }

    /// The `default` column family.
    pub fn default_cf(&self) -> ColumnFamily {
        ColumnFamily::new(DEFAULT_CF_ID, DEFAULT_CF_NAME)
    }

    /// A read view of the database as of now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            map: self.inner.map.lock().clone(),
            seq: *self.inner.seq.lock(),
        }
    }

    /// Keys and values of the default column family within `range`, in key order.
    pub fn scan<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Result<DbIterator> {
        self.snapshot().scan(range)
    }

    /// Keys and values of `cf` within `range`, in key order.
    pub fn scan_cf<K: AsRef<[u8]>>(
        &self,
        cf: &ColumnFamily,
        range: impl RangeBounds<K>,
    ) -> Result<DbIterator> {
        self.snapshot().scan_cf(cf, range)
    }

    /// Keys and values of `cf` starting with `prefix`, in key order.
    pub fn scan_prefix_cf(&self, cf: &ColumnFamily, prefix: &[u8]) -> Result<DbIterator> {
        self.snapshot().scan_prefix_cf(cf, prefix)
    }

    /// Writes every memtable to an SSTable and waits for it.
    pub fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// Compacts the tables overlapping `[start, end]` (None = unbounded) down the levels and
    /// waits for it.
    pub fn compact_range(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        let _ = (start, end);
        Ok(())
    }

    /// Engine statistics.
    pub fn stats(&self) -> DbStats {
        DbStats {
            last_sequence: *self.inner.seq.lock(),
            levels: vec![LevelStats::default(); 7],
            ..Default::default()
        }
    }

    /// `Err(Poisoned)` once a failed persist has made the database refuse writes.
    pub fn health(&self) -> Result<()> {
        Ok(())
    }

    /// Flushes nothing, waits for background work to stop and releases the directory lock.
    /// Dropping the last handle does the same; `close` reports errors.
    pub fn close(&self) -> Result<()> {
        Ok(())
    }
}

impl Snapshot {
    /// The sequence number this snapshot reads at.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn get_cf(&self, cf: &ColumnFamily, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.map.get(&(cf.id(), key.to_vec())).cloned())
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_cf(&ColumnFamily::new(DEFAULT_CF_ID, DEFAULT_CF_NAME), key)
    }

    pub fn scan<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Result<DbIterator> {
        self.scan_cf(&ColumnFamily::new(DEFAULT_CF_ID, DEFAULT_CF_NAME), range)
    }

    pub fn scan_cf<K: AsRef<[u8]>>(
        &self,
        cf: &ColumnFamily,
        range: impl RangeBounds<K>,
    ) -> Result<DbIterator> {
        let (s, e) = to_bounds(&range);
        Ok(scan_map(&self.map, cf.id(), s, e))
    }

    pub fn scan_prefix_cf(&self, cf: &ColumnFamily, prefix: &[u8]) -> Result<DbIterator> {
        let p = prefix.to_vec();
        let it = scan_map(&self.map, cf.id(), Bound::Included(p.clone()), Bound::Unbounded);
        let items: Vec<_> = it
            .items
            .take_while(|(k, _)| k.starts_with(&p))
            .collect();
        Ok(DbIterator {
            items: items.into_iter(),
        })
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn f<T: Send + Sync>() {}
    f::<Db>();
    let _ = Error::Closed;
}
