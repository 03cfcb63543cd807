//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use kvstore_engine::fs::{FaultFs, FileSystem};
use kvstore_engine::{Db, Options, WriteBatch};
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

/// The expected contents of the default column family.
pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;
/// A batch's operations for a model: `(key, value)`, `None` for a delete.
pub type Ops = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// Applies `ops` to `model`, in order.
pub fn apply(model: &mut Model, ops: &[(Vec<u8>, Option<Vec<u8>>)]) {
    for (k, v) in ops {
        match v {
            Some(v) => model.insert(k.clone(), v.clone()),
            None => model.remove(k),
        };
    }
}

/// One to four puts (random bytes, length in `value_len`) and deletes (one in five) over `keys`
/// keys `k000`…, as a batch and as the model's operations.
pub fn random_batch(rng: &mut StdRng, keys: u32, value_len: Range<usize>) -> (WriteBatch, Ops) {
    let mut ops = Ops::new();
    let mut b = WriteBatch::new();
    for _ in 0..rng.gen_range(1..5) {
        let k = format!("k{:03}", rng.gen_range(0..keys)).into_bytes();
        if rng.gen_bool(0.2) {
            b.delete(&k);
            ops.push((k, None));
        } else {
            let len = rng.gen_range(value_len.clone());
            let v: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            b.put(&k, &v);
            ops.push((k, Some(v)));
        }
    }
    (b, ops)
}

/// Leaves a file `name` in `dir` holding `bytes`, its content and name durable — what a crash
/// leaves behind (an unfinished table, an old segment, a temporary file).
pub fn leave_file(fs: &FaultFs, dir: &str, name: &str, bytes: &[u8]) {
    let dir = std::path::Path::new(dir);
    let mut f = fs.create(&dir.join(name)).unwrap();
    f.append(bytes).unwrap();
    f.sync().unwrap();
    fs.sync_dir(dir).unwrap();
}

/// Options that make a tiny workload flush and compact often.
pub fn small_options() -> Options {
    Options {
        memtable_size_bytes: 4 * 1024,
        max_immutable_memtables: 2,
        block_cache_bytes: 64 * 1024,
        block_size_bytes: 512,
        l0_compaction_trigger: 2,
        l0_slowdown_writes_trigger: 6,
        l0_stop_writes_trigger: 10,
        max_bytes_for_level_base: Some(16 * 1024),
        level_size_multiplier: 4,
        target_file_size_bytes: 4 * 1024,
        num_levels: 4,
        ..Options::default()
    }
}

pub fn fault_options(fs: &FaultFs) -> Options {
    Options {
        fs: Arc::new(fs.clone()),
        ..small_options()
    }
}

/// Every live key/value of the default column family.
pub fn dump(db: &Db) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.scan::<Vec<u8>>(..)
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}
