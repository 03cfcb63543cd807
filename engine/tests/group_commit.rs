//! Group commit: concurrent durable writers share fsyncs, and no write is acknowledged before
//! its WAL record is fsynced — checked by a power cut in the middle of the run, with no clean
//! close (which would sync the WAL and hide a missing fsync).

mod common;

use common::{fault_options, small_options};
use kvstore_engine::fs::FaultFs;
use kvstore_engine::{Db, Options};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

#[test]
fn concurrent_durable_writers_share_fsyncs() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(tmp.path(), small_options()).unwrap());
    let threads = 8;
    let per = 200;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    db.put(
                        format!("t{t}-{i:04}").as_bytes(),
                        format!("v{i}").as_bytes(),
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let s = db.stats();
    let writes = (threads * per) as u64;
    eprintln!("{writes} durable writes used {} WAL fsyncs", s.wal_syncs);
    // The write-amplification figures count every user byte once: keys "tN-NNNN" (7 bytes)
    // and values "vN".."vNNN" (2 to 4 bytes), plus each entry's framing.
    assert!(
        s.user_bytes_written >= writes * 9 && s.user_bytes_written <= writes * 20,
        "user bytes {} for {writes} small writes",
        s.user_bytes_written
    );
    // One fsync per write would be `writes`; grouped, 8 writers share them (about 200 here).
    assert!(
        s.wal_syncs >= 1 && s.wal_syncs * 2 <= writes,
        "{} fsyncs for {writes} writes from {threads} writers: not grouped",
        s.wal_syncs
    );
}

#[test]
fn acknowledged_writes_survive_a_power_cut_mid_run() {
    let fs = FaultFs::new();
    let opts = || Options {
        // Large enough that no memtable switch (which syncs the old segment) hides a write
        // acknowledged without its own fsync.
        memtable_size_bytes: 4 << 20,
        ..fault_options(&fs)
    };
    let db = Db::open("/gc", opts()).unwrap();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..6)
        .map(|t| {
            let (db, acked) = (db.clone(), acked.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    let k = format!("t{t}-{i:05}");
                    // Fails once the power is cut (the file handles die).
                    if db.put(k.as_bytes(), b"v").is_err() {
                        return;
                    }
                    acked.lock().push(k);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    fs.crash(None);
    for h in handles {
        h.join().unwrap();
    }
    drop(db);
    let acked = acked.lock();
    assert!(
        acked.len() > 100,
        "too few writes before the cut: {}",
        acked.len()
    );
    let db = Db::open("/gc", opts()).unwrap();
    for k in acked.iter() {
        assert!(
            db.get(k.as_bytes()).unwrap().is_some(),
            "{k} was acknowledged but lost in the power cut"
        );
    }
}

#[test]
fn a_batch_larger_than_a_group_is_written_alone() {
    // A group takes at most 4 MiB of batches, but a single larger batch must still be taken
    // (alone), written, acknowledged and kept.
    let fs = FaultFs::new();
    let db = Db::open("/big", fault_options(&fs)).unwrap();
    let big = vec![0x5au8; 5 << 20];
    db.put(b"big", &big).unwrap();
    db.put(b"small", b"v").unwrap();
    assert_eq!(db.get(b"big").unwrap().as_deref(), Some(&big[..]));
    fs.crash(None);
    drop(db);
    let db = Db::open("/big", fault_options(&fs)).unwrap();
    assert_eq!(db.get(b"big").unwrap().map(|v| v.len()), Some(big.len()));
    assert_eq!(db.get(b"small").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn unsynced_writes_are_made_durable_by_a_clean_close() {
    let fs = FaultFs::new();
    let opts = || Options {
        sync: false,
        memtable_size_bytes: 4 << 20,
        ..fault_options(&fs)
    };
    let db = Db::open("/close", opts()).unwrap();
    for i in 0..100u32 {
        db.put(format!("k{i:03}").as_bytes(), b"v").unwrap();
    }
    db.close().unwrap();
    fs.crash(None);
    drop(db);
    let db = Db::open("/close", opts()).unwrap();
    assert_eq!(
        db.scan::<Vec<u8>>(..).unwrap().count(),
        100,
        "writes made with sync = false were lost after a clean close"
    );
}
