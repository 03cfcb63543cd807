//! RocksDB through the `rocksdb` crate: its defaults plus a 10-bit bloom filter, LZ4 blocks and
//! the same block cache and write buffer budget. WAL on; `put_sync` sets `WriteOptions::sync`.

use super::{BenchEngine, EngineConfig};
use anyhow::Result;
use rocksdb::{BlockBasedOptions, Cache, DBCompressionType, Options, WriteOptions, DB};
use std::path::Path;

pub struct RocksDb {
    db: DB,
    cfg: EngineConfig,
    nosync: WriteOptions,
    sync: WriteOptions,
}

impl RocksDb {
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let mut table = BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        table.set_block_cache(&Cache::new_lru_cache(cfg.cache_bytes));
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_compression_type(DBCompressionType::Lz4);
        opts.set_write_buffer_size(cfg.memtable_bytes);
        opts.set_block_based_table_factory(&table);
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        Ok(RocksDb {
            db: DB::open(&opts, dir)?,
            cfg: cfg.clone(),
            nosync: WriteOptions::default(),
            sync,
        })
    }
}

impl BenchEngine for RocksDb {
    fn name(&self) -> &'static str {
        "rocksdb"
    }

    fn settings(&self) -> String {
        format!(
            "rocksdb 11.8.1 (crate rocksdb 0.25): WAL on, WriteOptions sync=false (fillsync: sync=true); write buffer {} MiB, LRU block cache {} MiB, bloom 10 bits/key, LZ4, otherwise defaults",
            self.cfg.memtable_bytes >> 20,
            self.cfg.cache_bytes >> 20
        )
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        Ok(self.db.put_opt(key, value, &self.nosync)?)
    }

    fn put_sync(&self, key: &[u8], value: &[u8]) -> Result<()> {
        Ok(self.db.put_opt(key, value, &self.sync)?)
    }

    fn delete(&self, key: &[u8]) -> Result<()> {
        Ok(self.db.delete_opt(key, &self.nosync)?)
    }

    fn get(&self, key: &[u8]) -> Result<bool> {
        Ok(self
            .db
            .get_pinned(key)?
            .map(|v| std::hint::black_box(v.len()))
            .is_some())
    }

    fn scan_all(&self) -> Result<(u64, u64)> {
        let (mut n, mut bytes) = (0u64, 0u64);
        let mut it = self.db.raw_iterator();
        it.seek_to_first();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            n += 1;
            bytes += (k.len() + v.len()) as u64;
            it.next();
        }
        it.status()?;
        Ok((n, bytes))
    }

    fn seek_next(&self, key: &[u8], n: usize) -> Result<usize> {
        let mut it = self.db.raw_iterator();
        it.seek(key);
        let mut read = 0;
        while read < n && it.valid() {
            std::hint::black_box((it.key(), it.value()));
            read += 1;
            it.next();
        }
        it.status()?;
        Ok(read)
    }

    fn flush(&self) -> Result<()> {
        self.db.flush()?;
        self.db.flush_wal(true)?;
        Ok(())
    }

    fn notes(&self) -> String {
        let files = (0..7)
            .map(|l| {
                self.db
                    .property_int_value(&format!("rocksdb.num-files-at-level{l}"))
                    .ok()
                    .flatten()
                    .unwrap_or(0)
            })
            .collect::<Vec<_>>();
        // RocksDB's own account of where its bytes went (WAL, flush, compaction per level), to
        // set beside kvstore's `written MB` line: `DB_BENCH_ROCKSDB_STATS=1 db_bench ...`.
        if std::env::var_os("DB_BENCH_ROCKSDB_STATS").is_some() {
            if let Ok(Some(stats)) = self.db.property_value("rocksdb.stats") {
                eprintln!("{stats}");
            }
        }
        format!("levels {files:?}")
    }
}
