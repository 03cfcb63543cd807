//! Measures what a memtable entry really costs: resident bytes per entry of 16-byte keys and
//! 100-byte values (db_bench's shape) against what the memtable charges toward its flush
//! budget ([`kvstore_memtable::ENTRY_OVERHEAD_BYTES`] is set from this).
//!
//! With `bare`, it measures instead the floor of any memtable built on `crossbeam_skiplist`: a
//! bare node whose key is one 8-byte word (a handle to bytes kept elsewhere) and whose value is
//! empty. Whatever else an entry needs (its key, trailer and value) comes on top of that.
//!
//! `cargo run --release -p kvstore-memtable --example footprint [entries] [bare]`
use crossbeam_skiplist::SkipMap;
use kvstore_base::ValueKind;
use kvstore_memtable::MemTable;

fn rss() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    s.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<usize>()
        .unwrap()
        * 4096
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("entries: a number"))
        .unwrap_or(1_000_000);
    let mut x = 12345u64;
    if std::env::args().nth(2).as_deref() == Some("bare") {
        let before = rss();
        let bare: SkipMap<u64, ()> = SkipMap::new();
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bare.insert(x, ());
        }
        println!(
            "{} bare crossbeam nodes (8-byte key, no value): {:.1} resident bytes/node",
            bare.len(),
            (rss() - before) as f64 / bare.len() as f64
        );
        return;
    }
    let value = [7u8; 100];
    let before = rss();
    let m = MemTable::new();
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = format!("{:016}", x % 10_000_000_000);
        m.insert(k.as_bytes(), i + 1, ValueKind::Put, &value);
    }
    let after = rss();
    println!(
        "{} entries: {:.1} resident bytes/entry, charged {:.1}",
        m.len(),
        (after - before) as f64 / n as f64,
        m.approximate_bytes() as f64 / n as f64
    );
}
