//! Writes the seed corpora under `fuzz/corpus/<target>/seed-*` from real files made by the
//! engine's own writers: a database on `FaultFs` is filled and closed without a final flush, so
//! its directory holds WAL segments, SSTables and a manifest; tables are also built directly
//! with `TableBuilder` (raw and zstd, with and without a bloom filter).
//!
//! Run from `fuzz/`: `cargo run --example make_seeds` (deterministic; rerun after a format change).

use kvstore_base::fs::{FaultFs, FileSystem};
use kvstore_base::ValueKind;
use kvstore_engine::{Db, Options, WriteBatch};
use kvstore_fuzz::log::payloads;
use kvstore_sstable::{Compression, TableBuilder, TableOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = PathBuf::from("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("create corpus dir");
    std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write seed");
}

fn with_mode(mode: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![mode];
    v.extend_from_slice(body);
    v
}

fn build_db(fs: &FaultFs, dir: &Path) {
    let opts = Options {
        fs: Arc::new(fs.clone()),
        memtable_size_bytes: 2 * 1024,
        block_size_bytes: 256,
        l0_compaction_trigger: 3,
        target_file_size_bytes: 2 * 1024,
        num_levels: 4,
        ..Options::default()
    };
    let db = Db::open(dir, opts).expect("open");
    for i in 0..120u32 {
        let k = format!("key{:03}", i % 50);
        if i % 7 == 3 {
            db.delete(k.as_bytes()).expect("delete");
        } else {
            db.put(k.as_bytes(), format!("value-{i}").repeat(3).as_bytes())
                .expect("put");
        }
        if i % 40 == 20 {
            db.flush().expect("flush");
        }
    }
    let mut b = WriteBatch::new();
    b.put(b"batch-a", b"1");
    b.delete(b"key001");
    b.put(b"batch-b", b"");
    db.write(b).expect("batch");
    db.close().expect("close");
}

fn table(fs: &FaultFs, n: usize, opts: TableOptions) -> Vec<u8> {
    let path = Path::new("/t/000001.sst");
    let file = fs.create(path).expect("create");
    let mut b = TableBuilder::new(file, path.to_path_buf(), opts);
    for i in 0..n {
        let key = format!("user{:04}", i * 3);
        b.add(key.as_bytes(), 100, ValueKind::Put, b"value-value-value")
            .expect("add");
        if i % 4 == 0 {
            b.add(key.as_bytes(), 50, ValueKind::Delete, b"")
                .expect("add");
        }
    }
    b.finish().expect("finish");
    fs.read_all(path).expect("read")
}

fn main() {
    let fs = FaultFs::new();
    let dir = Path::new("/db");
    build_db(&fs, dir);
    let mut names = fs.list_dir(dir).expect("list");
    names.sort();
    let (mut wals, mut ssts, mut manifests) = (0, 0, 0);
    for name in names {
        let data = fs.read_all(&dir.join(&name)).expect("read");
        if name.ends_with(".log") && data.len() > 16 {
            wals += 1;
            write("wal_segment", &format!("raw-{wals}"), &with_mode(2, &data));
            for (i, p) in payloads(&data).into_iter().take(3).enumerate() {
                write("write_batch", &format!("wal{wals}-{i}"), &p);
            }
        } else if name.ends_with(".sst") && ssts < 2 {
            ssts += 1;
            write("sst_file", &format!("engine-{ssts}"), &with_mode(0, &data));
        } else if name.starts_with("MANIFEST-") {
            manifests += 1;
            write(
                "manifest",
                &format!("raw-{manifests}"),
                &with_mode(1, &data),
            );
            for (i, p) in payloads(&data).into_iter().take(3).enumerate() {
                write(
                    "manifest",
                    &format!("edit-{manifests}-{i}"),
                    &with_mode(0, &p),
                );
            }
        }
    }
    assert!(wals > 0 && ssts > 0 && manifests > 0, "database shape");

    let plain = table(
        &fs,
        40,
        TableOptions {
            block_size_bytes: 128,
            ..TableOptions::default()
        },
    );
    write("sst_file", "builder-raw", &with_mode(0, &plain));
    let zstd = table(
        &fs,
        40,
        TableOptions {
            block_size_bytes: 512,
            bloom_bits_per_key: 0,
            compression: Compression::Zstd(1),
            ..TableOptions::default()
        },
    );
    write("sst_file", "builder-zstd-nofilter", &with_mode(2, &zstd));
    // Assembled-mode seeds: arbitrary bytes the `Unstructured` decoder turns into tables.
    write("sst_file", "assembled-1", &with_mode(1, &[7u8; 200]));
    write(
        "sst_file",
        "assembled-2",
        &with_mode(3, &plain[..plain.len().min(600)]),
    );

    // Blocks: a data block with restarts every 2 entries, and an index-like block.
    let mut b = kvstore_sstable::block::BlockBuilder::new(2);
    for i in 0..12u64 {
        let key = format!("blk{:03}", i);
        b.add(key.as_bytes(), ((100 - i) << 8) | 1, b"v")
            .expect("add");
    }
    write("sst_block", "data", &b.finish());
    let mut b = kvstore_sstable::block::BlockBuilder::new(1);
    b.add(b"a", (5 << 8) | 1, &[0, 40]).expect("add");
    b.add(b"m", 3 << 8, &[40, 40]).expect("add");
    write("sst_block", "index", &b.finish());

    // Framed-mode seeds for the log targets: the real payloads, re-framed.
    for name in fs.list_dir(dir).expect("list") {
        if name.ends_with(".log") {
            let data = fs.read_all(&dir.join(&name)).expect("read");
            let ps = payloads(&data);
            let mut framed = vec![3u8];
            // `Framed` from `arbitrary`: Vec<Vec<u8>> lengths are taken from the input's end, so
            // the real payloads concatenated are a fair start for the mutator.
            for p in ps.iter().take(4) {
                framed.extend_from_slice(p);
            }
            write("wal_segment", "framed", &framed);
            break;
        }
    }
    write(
        "manifest",
        "framed",
        &with_mode(2, b"\x01\x05\x02\x09\x03\x04"),
    );

    // engine_ops (format: `Scenario::parse`): one scenario touching every op, then
    // pseudo-random byte patterns for different mixes.
    let mut ops = vec![40u8, 2, 1, 2, 3, 4, 5, 6, 7, 8];
    for k in 0..24u8 {
        ops.extend_from_slice(&[0, k, 20 + k]);
    }
    ops.extend_from_slice(&[12, 7, 3, 10, 2, 30, 5, 31, 255, 32, 9, 13, 14]);
    for k in 0..12u8 {
        ops.extend_from_slice(&[1, k * 2, 60]);
    }
    ops.extend_from_slice(&[12, 8, 5, 13]);
    write("engine_ops", "every-op", &ops);
    for (i, seed) in [0x11u8, 0x5a, 0xc3, 0x27].into_iter().enumerate() {
        let mut x = u64::from(seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let bytes: Vec<u8> = (0..256)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        write("engine_ops", &format!("ops-{i}"), &bytes);
    }
    println!("seed corpora written under corpus/");
}
