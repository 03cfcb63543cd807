//! KVStore itself: WAL on, `sync = false` for ordinary writes, `write_opt(.., true)` (fsync
//! before ack, shared by group commit) for `put_sync`.

use super::{BenchEngine, EngineConfig};
use anyhow::Result;
use kvstore_engine::{Compression, Db, Options, WriteBatch};
use std::path::Path;

pub struct KvStore {
    db: Db,
    cfg: EngineConfig,
}

impl KvStore {
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let opts = Options {
            sync: false,
            memtable_size_bytes: cfg.memtable_bytes,
            block_cache_bytes: cfg.cache_bytes,
            compression: if cfg.kvstore_zstd > 0 {
                Compression::Zstd(cfg.kvstore_zstd)
            } else {
                Compression::None
            },
            ..Options::default()
        };
        Ok(KvStore {
            db: Db::open(dir, opts)?,
            cfg: cfg.clone(),
        })
    }

    fn write(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        Ok(self.db.write_opt(b, sync)?)
    }
}

impl Drop for KvStore {
    fn drop(&mut self) {
        let _ = self.db.close();
    }
}

impl BenchEngine for KvStore {
    fn name(&self) -> &'static str {
        "kvstore"
    }

    fn settings(&self) -> String {
        format!(
            "kvstore {}: WAL on, sync=false (fillsync: write_opt sync=true, fsync before ack, group commit); memtable {} MiB, block cache {} MiB, bloom 10 bits/key, zstd {}",
            env!("CARGO_PKG_VERSION"),
            self.cfg.memtable_bytes >> 20,
            self.cfg.cache_bytes >> 20,
            self.cfg.kvstore_zstd
        )
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(key, value, false)
    }

    fn put_sync(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(key, value, true)
    }

    fn delete(&self, key: &[u8]) -> Result<()> {
        Ok(self.db.delete(key)?)
    }

    fn get(&self, key: &[u8]) -> Result<bool> {
        Ok(self.db.get(key)?.is_some())
    }

    fn scan_all(&self) -> Result<(u64, u64)> {
        let (mut n, mut bytes) = (0u64, 0u64);
        // Borrowed entries, as the RocksDB and redb adapters read theirs.
        let mut it = self.db.scan::<Vec<u8>>(..)?;
        while let Some(kv) = it.next_ref() {
            let (k, v) = kv?;
            n += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        Ok((n, bytes))
    }

    fn seek_next(&self, key: &[u8], n: usize) -> Result<usize> {
        let mut read = 0;
        let mut it = self.db.scan(key..)?;
        while read < n {
            let Some(kv) = it.next_ref() else { break };
            let (k, v) = kv?;
            std::hint::black_box((k.len(), v.len()));
            read += 1;
        }
        Ok(read)
    }

    fn flush(&self) -> Result<()> {
        Ok(self.db.flush()?)
    }

    fn notes(&self) -> String {
        let s = self.db.stats();
        format!(
            "levels {:?}; written MB: WAL {} flush {} ({} flushes) compaction {} ({} tasks); stalls {} ({} ms); WAL fsyncs {} (mean {} us); block cache hits {} misses {}",
            s.levels.iter().map(|l| l.files).collect::<Vec<_>>(),
            s.wal_bytes_written >> 20,
            s.flush_bytes_written >> 20,
            s.flushes,
            s.compaction_bytes_written >> 20,
            s.compactions,
            s.write_stalls,
            s.stall_micros / 1000,
            s.wal_syncs,
            s.wal_sync_micros / s.wal_syncs.max(1),
            s.block_cache_hits,
            s.block_cache_misses
        )
    }

    fn own_write_amplification(&self) -> Option<f64> {
        Some(self.db.stats().write_amplification)
    }

    fn wait_for_compaction(&self) -> Result<bool> {
        self.db.wait_for_compactions()?;
        Ok(true)
    }
}
