//! Overwriting the same keys many times: background compaction keeps the bytes on disk under
//! twice the live data.

mod common;

use kvstore_engine::{Db, Options};
use std::time::{Duration, Instant};

/// Bytes of the files in `p`. Background compaction may delete a table between the listing and
/// its `stat`; such a file no longer takes space, so it counts as 0 instead of failing the test.
fn dir_bytes(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum()
}

#[test]
fn overwrites_keep_disk_usage_under_twice_the_live_data() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = Options {
        sync: false,
        memtable_size_bytes: 128 * 1024,
        max_bytes_for_level_base: Some(1024 * 1024),
        target_file_size_bytes: 256 * 1024,
        ..Options::default()
    };
    let db = Db::open(tmp.path(), opts).unwrap();
    let keys = 20_000;
    let value = vec![b'x'; 100];
    for round in 0..15u32 {
        for k in 0..keys {
            let mut v = value.clone();
            v[..4].copy_from_slice(&round.to_le_bytes());
            db.put(format!("key{k:06}").as_bytes(), &v).unwrap();
        }
    }
    db.flush().unwrap();
    // Let background compaction catch up (no manual compaction).
    let deadline = Instant::now() + Duration::from_secs(30);
    let live = (keys as u64) * (9 + 100);
    let mut on_disk = dir_bytes(tmp.path());
    while on_disk > 2 * live && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        on_disk = dir_bytes(tmp.path());
    }
    let s = db.stats();
    eprintln!(
        "live {live} B, on disk {on_disk} B ({:.2}x), levels {:?}, write amp {:.2}",
        on_disk as f64 / live as f64,
        s.levels,
        s.write_amplification
    );
    assert!(on_disk < 2 * live, "on disk {on_disk} B for {live} B live");
    assert_eq!(
        db.get(b"key000042").unwrap().unwrap()[..4],
        14u32.to_le_bytes()
    );
}
