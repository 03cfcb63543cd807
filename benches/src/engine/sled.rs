//! sled 0.34: its defaults (log-structured pagecache, background flush every 500 ms, no
//! per-write fsync) with the same cache budget; `put_sync` calls `Db::flush` (fsync) after the
//! insert.

use super::{BenchEngine, EngineConfig};
use anyhow::Result;
use std::path::Path;

pub struct Sled {
    db: sled::Db,
    cfg: EngineConfig,
}

impl Sled {
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cfg.cache_bytes as u64)
            .open()?;
        Ok(Sled {
            db,
            cfg: cfg.clone(),
        })
    }
}

impl BenchEngine for Sled {
    fn name(&self) -> &'static str {
        "sled"
    }

    fn settings(&self) -> String {
        format!(
            "sled 0.34 (defaults): log on, flush every 500 ms, no per-write fsync (fillsync: Db::flush after each insert); cache {} MiB",
            self.cfg.cache_bytes >> 20
        )
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.db.insert(key, value)?;
        Ok(())
    }

    fn put_sync(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.db.insert(key, value)?;
        self.db.flush()?;
        Ok(())
    }

    fn delete(&self, key: &[u8]) -> Result<()> {
        self.db.remove(key)?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<bool> {
        Ok(self.db.get(key)?.is_some())
    }

    fn scan_all(&self) -> Result<(u64, u64)> {
        let (mut n, mut bytes) = (0u64, 0u64);
        for kv in self.db.iter() {
            let (k, v) = kv?;
            n += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        Ok((n, bytes))
    }

    fn seek_next(&self, key: &[u8], n: usize) -> Result<usize> {
        let mut read = 0;
        for kv in self.db.range(key..).take(n) {
            std::hint::black_box(kv?);
            read += 1;
        }
        Ok(read)
    }

    fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}
