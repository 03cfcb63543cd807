//! The engine's limits hold at exactly their boundary (the largest key, range end and value are
//! accepted, one byte more is refused with `InvalidArgument` and nothing written), a cleared
//! batch writes nothing it held, and the table options a user sets reach the tables built.

mod common;

use common::fault_options;
use kvstore_engine::fs::FaultFs;
use kvstore_engine::{Compression, Db, Error, Options, WriteBatch, MAX_KEY_BYTES, MAX_VALUE_BYTES};

#[test]
fn keys_and_range_ends_are_limited_at_exactly_the_limit() {
    let fs = FaultFs::new();
    let db = Db::open("/lim", fault_options(&fs)).unwrap();
    let at = vec![b'k'; MAX_KEY_BYTES];
    let over = vec![b'k'; MAX_KEY_BYTES + 1];
    db.put(&at, b"v").unwrap();
    assert_eq!(db.get(&at).unwrap().as_deref(), Some(&b"v"[..]));
    assert!(matches!(
        db.put(&over, b"v"),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(db.get(&over).unwrap(), None);

    let mut end = vec![b'z'; MAX_KEY_BYTES];
    db.delete_range(b"a", &end).unwrap();
    assert_eq!(db.get(&at).unwrap(), None, "the range covers it");
    end.push(b'z');
    let seq = db.stats().last_sequence;
    assert!(matches!(
        db.delete_range(b"a", &end),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(db.stats().last_sequence, seq, "nothing was written");
}

#[test]
fn a_value_one_byte_over_the_limit_is_refused() {
    let fs = FaultFs::new();
    let db = Db::open("/val", fault_options(&fs)).unwrap();
    let over = vec![0u8; MAX_VALUE_BYTES + 1];
    assert!(matches!(
        db.put(b"k", &over),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(db.get(b"k").unwrap(), None);
}

#[test]
fn a_cleared_batch_writes_only_what_was_added_after() {
    let fs = FaultFs::new();
    let db = Db::open("/clr", fault_options(&fs)).unwrap();
    let mut b = WriteBatch::new();
    b.put(b"a", b"1");
    b.delete(b"x");
    b.clear();
    assert!(b.is_empty());
    assert_eq!(b.len(), 0);
    b.put(b"b", b"2");
    db.write(b).unwrap();
    assert_eq!(db.get(b"a").unwrap(), None);
    assert_eq!(db.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(db.stats().last_sequence, 1);
}

/// Bytes of tables after writing the same 3,000 compressible entries and flushing, with the
/// given block size, bloom bits per key and compression.
fn table_bytes(
    block_size_bytes: usize,
    bloom_bits_per_key: usize,
    compression: Compression,
) -> u64 {
    let fs = FaultFs::new();
    let opts = Options {
        memtable_size_bytes: 64 << 20,
        block_size_bytes,
        bloom_bits_per_key,
        compression,
        ..fault_options(&fs)
    };
    let db = Db::open("/opt", opts).unwrap();
    for i in 0..3000u32 {
        let v = format!("value {i:06} of a document, repeated words words words words");
        db.put(format!("key{i:06}").as_bytes(), v.as_bytes())
            .unwrap();
    }
    db.flush().unwrap();
    let s = db.stats();
    // One flush, no compaction: what it wrote is what the tables hold.
    assert_eq!(s.flush_bytes_written, s.live_sst_bytes);
    s.live_sst_bytes
}

#[test]
fn the_table_options_reach_the_tables_built() {
    let base = table_bytes(4096, 10, Compression::None);
    let zstd = table_bytes(4096, 10, Compression::Zstd(3));
    let no_bloom = table_bytes(4096, 0, Compression::None);
    let small_blocks = table_bytes(256, 10, Compression::None);
    eprintln!("base {base}, zstd {zstd}, no bloom {no_bloom}, 256-byte blocks {small_blocks}");
    assert!(zstd * 2 < base, "compression: {zstd} vs {base}");
    // 10 bits a key for 3,000 keys is about 3.7 KiB of filter.
    assert!(no_bloom + 3000 < base, "bloom bits: {no_bloom} vs {base}");
    assert!(
        small_blocks > base + 3000,
        "block size: {small_blocks} vs {base}"
    );
}

#[test]
fn fewer_than_two_levels_is_refused_two_is_accepted() {
    for levels in [0, 1] {
        let fs = FaultFs::new();
        let opts = Options {
            num_levels: levels,
            ..fault_options(&fs)
        };
        assert!(
            matches!(Db::open("/lv", opts), Err(Error::InvalidArgument(_))),
            "{levels} levels"
        );
    }
    let fs = FaultFs::new();
    let opts = Options {
        num_levels: 2,
        ..fault_options(&fs)
    };
    let db = Db::open("/lv", opts).unwrap();
    db.put(b"k", b"v").unwrap();
}
