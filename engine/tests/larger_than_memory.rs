//! A data set 20× the memory budget (memtables + block cache) is written, read back and
//! scanned; memtable memory stays bounded throughout.

mod common;

use kvstore_engine::{Db, Options};

#[test]
fn data_twenty_times_the_memory_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let memtable = 128 * 1024;
    let cache = 128 * 1024;
    let opts = Options {
        sync: false,
        memtable_size_bytes: memtable,
        max_immutable_memtables: 2,
        block_cache_bytes: cache,
        max_bytes_for_level_base: Some(1024 * 1024),
        target_file_size_bytes: 512 * 1024,
        ..Options::default()
    };
    let budget = memtable * 3 + cache;
    let value_len = 200;
    let n = (budget * 20) / (value_len + 12) + 1;
    let db = Db::open(tmp.path(), opts.clone()).unwrap();
    let mut peak_mem = 0;
    for i in 0..n {
        let k = format!("k{:08}", (i * 7919) % n);
        let v = vec![(i % 251) as u8; value_len];
        db.put(k.as_bytes(), &v).unwrap();
        if i % 1000 == 0 {
            peak_mem = peak_mem.max(db.stats().memtable_bytes);
        }
    }
    db.flush().unwrap();
    let s = db.stats();
    eprintln!(
        "{n} keys, {} SST bytes, levels {:?}, peak memtable {peak_mem} B",
        s.live_sst_bytes, s.levels
    );
    assert!(s.live_sst_bytes as usize >= budget * 15);
    // A frozen memtable may overshoot by one group's worth of writes.
    assert!(
        peak_mem as usize <= memtable * 4,
        "memtables grew to {peak_mem}"
    );
    assert!(s.block_cache_bytes as usize <= cache * 2);
    drop(db);

    let db = Db::open(tmp.path(), opts).unwrap();
    for i in (0..n).step_by(97) {
        let k = format!("k{:08}", (i * 7919) % n);
        let v = db
            .get(k.as_bytes())
            .unwrap()
            .expect("written key is readable");
        assert_eq!(v, vec![(i % 251) as u8; value_len]);
    }
    assert_eq!(db.get(b"k99999999").unwrap(), None);
    let mut count = 0;
    for kv in db.scan::<Vec<u8>>(..).unwrap() {
        kv.unwrap();
        count += 1;
    }
    assert_eq!(count, n);
}
