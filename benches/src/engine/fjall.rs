//! fjall: its defaults (LZ4 blocks, journal written to OS buffers on every write, no per-write
//! fsync) with the same cache budget; `put_sync` persists the journal with
//! `PersistMode::SyncData` (fdatasync) before returning.

use super::{BenchEngine, EngineConfig};
use anyhow::Result;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use std::path::Path;

pub struct Fjall {
    db: Database,
    ks: Keyspace,
    cfg: EngineConfig,
}

impl Fjall {
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let db = Database::builder(dir)
            .cache_size(cfg.cache_bytes as u64)
            .open()?;
        let ks = db.keyspace("default", KeyspaceCreateOptions::default)?;
        Ok(Fjall {
            db,
            ks,
            cfg: cfg.clone(),
        })
    }
}

impl BenchEngine for Fjall {
    fn name(&self) -> &'static str {
        "fjall"
    }

    fn settings(&self) -> String {
        format!(
            "fjall 3.1 (defaults): journal on, written to OS buffers per write, no per-write fsync (fillsync: persist(PersistMode::SyncData) after each write); cache {} MiB, LZ4",
            self.cfg.cache_bytes >> 20
        )
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        Ok(self.ks.insert(key, value)?)
    }

    fn put_sync(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.ks.insert(key, value)?;
        Ok(self.db.persist(PersistMode::SyncData)?)
    }

    fn delete(&self, key: &[u8]) -> Result<()> {
        Ok(self.ks.remove(key)?)
    }

    fn get(&self, key: &[u8]) -> Result<bool> {
        Ok(self.ks.get(key)?.is_some())
    }

    fn scan_all(&self) -> Result<(u64, u64)> {
        let (mut n, mut bytes) = (0u64, 0u64);
        for g in self.ks.iter() {
            let (k, v) = g.into_inner()?;
            n += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        Ok((n, bytes))
    }

    fn seek_next(&self, key: &[u8], n: usize) -> Result<usize> {
        let mut read = 0;
        for g in self.ks.range(key..).take(n) {
            std::hint::black_box(g.into_inner()?);
            read += 1;
        }
        Ok(read)
    }

    fn flush(&self) -> Result<()> {
        Ok(self.db.persist(PersistMode::SyncAll)?)
    }

    fn notes(&self) -> String {
        format!(
            "tables {}, L0 {}",
            self.ks.table_count(),
            self.ks.l0_table_count()
        )
    }
}
