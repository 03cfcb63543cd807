//! redb 4: a copy-on-write B-tree with no WAL. Each write is its own transaction committed with
//! `Durability::None` (not fsynced; made durable by the next `Immediate` commit) — the closest
//! match to "log on, no per-write fsync"; `put_sync` commits with `Durability::Immediate`.
//! Each read opens a read transaction.

use super::{BenchEngine, EngineConfig};
use anyhow::Result;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bench");

pub struct Redb {
    db: Database,
    cfg: EngineConfig,
}

impl Redb {
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let db = Database::builder()
            .set_cache_size(cfg.cache_bytes)
            .create(dir.join("bench.redb"))?;
        let tx = db.begin_write()?;
        tx.open_table(TABLE)?;
        tx.commit()?;
        Ok(Redb {
            db,
            cfg: cfg.clone(),
        })
    }

    fn write(
        &self,
        durability: Durability,
        f: impl FnOnce(&mut redb::Table<&[u8], &[u8]>) -> Result<()>,
    ) -> Result<()> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(durability)?;
        {
            let mut t = tx.open_table(TABLE)?;
            f(&mut t)?;
        }
        tx.commit()?;
        Ok(())
    }
}

impl BenchEngine for Redb {
    fn name(&self) -> &'static str {
        "redb"
    }

    fn settings(&self) -> String {
        format!(
            "redb 4.6: no WAL; one transaction per write with Durability::None (fillsync: Durability::Immediate); cache {} MiB",
            self.cfg.cache_bytes >> 20
        )
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(Durability::None, |t| {
            t.insert(key, value)?;
            Ok(())
        })
    }

    fn put_sync(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(Durability::Immediate, |t| {
            t.insert(key, value)?;
            Ok(())
        })
    }

    fn delete(&self, key: &[u8]) -> Result<()> {
        self.write(Durability::None, |t| {
            t.remove(key)?;
            Ok(())
        })
    }

    fn get(&self, key: &[u8]) -> Result<bool> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(TABLE)?;
        let found = t.get(key)?.map(|v| std::hint::black_box(v.value().len()));
        Ok(found.is_some())
    }

    fn scan_all(&self) -> Result<(u64, u64)> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(TABLE)?;
        let (mut n, mut bytes) = (0u64, 0u64);
        for kv in t.iter()? {
            let (k, v) = kv?;
            n += 1;
            bytes += (k.value().len() + v.value().len()) as u64;
        }
        Ok((n, bytes))
    }

    fn seek_next(&self, key: &[u8], n: usize) -> Result<usize> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(TABLE)?;
        let mut read = 0;
        for kv in t.range(key..)?.take(n) {
            let (k, v) = kv?;
            std::hint::black_box((k.value().len(), v.value().len()));
            read += 1;
        }
        Ok(read)
    }

    fn flush(&self) -> Result<()> {
        // An empty Immediate commit makes every earlier Durability::None commit durable.
        self.write(Durability::Immediate, |_| Ok(()))
    }
}
