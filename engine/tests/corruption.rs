//! Scenario: damaged files in a closed database never make the engine lie.
//!
//! One database is built on `FaultFs` with data in every kind of file — tables in L0 and in the
//! last level, a manifest with several edits, `CURRENT`, and a WAL segment holding the last
//! writes — and closed. Then, for many `(file, offset, mask)` choices, a copy of it is damaged
//! (a byte flipped, or the file cut short) and reopened. The rule checked:
//!
//! - `Db::open` fails with an error whose message names the damaged file; or
//! - every `get` of every key ever written returns the right value or an `Err`, and a full scan
//!   returns a prefix of the right contents, then ends or fails: never a wrong value, never a
//!   resurrected delete, never a silently missing key.
//!
//! One exception, the documented torn-tail rule (`docs/formats/wal.md`): damage inside the
//! *last records of the newest WAL segment* may be taken for a torn write, and then the writes
//! of the damaged record and of every record after it vanish — wholly, batch by batch. Each
//! key may then read as of just before the damaged record, and nothing else. The manifest has
//! no such exception: its reader also allows a torn tail, but a lost *durable* edit leaves the
//! older state naming deleted files, and open refuses (`manifest::check_referenced_files`).
//!
//! A flipped *length field* in an acknowledged WAL record used to pass for a torn tail (the
//! reader could not find the valid records after it); the `synced` field of the log format
//! (version 2) now proves those records durable. Its regression test is
//! `flipped_wal_length_in_an_acknowledged_record_is_reported_not_dropped`.

mod common;

use common::small_options;
use kvstore_engine::fs::{FaultFs, FileSystem};
use kvstore_engine::{Db, Options, WriteBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

const DIR: &str = "/corrupt";
const LOG_HEADER_BYTES: usize = 16;
/// Record header without / with the `synced` field (bit 31 of the length word says which).
const RECORD_HEADER_BYTES: usize = 12;
const SYNCED_RECORD_HEADER_BYTES: usize = 20;

/// The closed database every trial starts from.
struct Image {
    files: BTreeMap<String, Vec<u8>>,
    /// Contents after every write.
    full: Model,
    /// `before[r]`: contents before the write in WAL record `r` (`before[0]` = all tables).
    before: Vec<Model>,
    /// Every key ever written, plus keys never written.
    keys: Vec<Vec<u8>>,
    /// `(start, end)` of each record of the WAL segment and of the manifest.
    wal_records: Vec<(usize, usize)>,
    manifest_records: Vec<(usize, usize)>,
    wal: String,
    manifest: String,
}

fn options(fs: &FaultFs) -> Options {
    Options {
        fs: Arc::new(fs.clone()),
        // Flushes and compactions happen only when the test asks, so the image is the same
        // on every run and a failing offset reproduces.
        memtable_size_bytes: 1 << 20,
        l0_compaction_trigger: 100,
        l0_slowdown_writes_trigger: 200,
        l0_stop_writes_trigger: 300,
        block_size_bytes: 256,
        target_file_size_bytes: 1024,
        ..small_options()
    }
}

fn val(tag: &str, i: usize) -> Vec<u8> {
    format!("{tag}-{i}-").repeat(1 + i % 5).into_bytes()
}

fn records(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = LOG_HEADER_BYTES;
    while pos + RECORD_HEADER_BYTES <= data.len() {
        let word = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap());
        let header = if word >> 31 == 1 {
            SYNCED_RECORD_HEADER_BYTES
        } else {
            RECORD_HEADER_BYTES
        };
        let end = pos + header + (word & !(1 << 31)) as usize;
        assert!(end <= data.len(), "undamaged log parses");
        out.push((pos, end));
        pos = end;
    }
    assert_eq!(pos, data.len());
    out
}

fn build() -> Image {
    let fs = FaultFs::new();
    let dir = Path::new(DIR);
    let db = Db::open(dir, options(&fs)).unwrap();
    let mut full = Model::new();
    let mut keys = Vec::new();
    let put = |db: &Db, full: &mut Model, k: Vec<u8>, v: Vec<u8>| {
        db.put(&k, &v).unwrap();
        full.insert(k, v);
    };
    // 1. 80 keys, compacted down to several tables in the last level.
    for i in 0..80 {
        let k = format!("k{i:03}").into_bytes();
        keys.push(k.clone());
        put(&db, &mut full, k, val("one", i));
    }
    db.compact_range(None, None).unwrap();
    // 2. Overwrites and deletes: one L0 table.
    for i in (0..80).step_by(3) {
        put(
            &db,
            &mut full,
            format!("k{i:03}").into_bytes(),
            val("two", i),
        );
    }
    for i in (1..80).step_by(10) {
        let k = format!("k{i:03}").into_bytes();
        db.delete(&k).unwrap();
        full.remove(&k);
    }
    db.flush().unwrap();
    // 3. More overwrites, new keys, deletes of fresh keys: another L0 table.
    for i in (0..80).step_by(5) {
        put(
            &db,
            &mut full,
            format!("k{i:03}").into_bytes(),
            val("three", i),
        );
    }
    for i in 0..20 {
        let k = format!("n{i:03}").into_bytes();
        keys.push(k.clone());
        put(&db, &mut full, k, val("new", i));
    }
    for i in (0..20).step_by(7) {
        let k = format!("n{i:03}").into_bytes();
        db.delete(&k).unwrap();
        full.remove(&k);
    }
    db.flush().unwrap();
    // 4. Writes left in the WAL: one record each, singles and batches.
    let mut before = vec![full.clone()];
    for i in 0..12 {
        let mut b = WriteBatch::new();
        let mut ops = Vec::new();
        match i % 4 {
            0 => ops.push((format!("k{:03}", i * 6).into_bytes(), Some(val("wal", i)))),
            1 => ops.push((format!("k{:03}", i * 6 + 3).into_bytes(), None)),
            2 => {
                for j in 0..3 {
                    let k = format!("w{:03}", i * 3 + j).into_bytes();
                    keys.push(k.clone());
                    ops.push((k, Some(val("batch", i + j))));
                }
                ops.push((format!("n{:03}", i).into_bytes(), None));
            }
            _ => ops.push((
                format!("n{:03}", i + 1).into_bytes(),
                Some(val("walnew", i)),
            )),
        }
        for (k, v) in &ops {
            match v {
                Some(v) => {
                    b.put(k, v);
                    full.insert(k.clone(), v.clone());
                }
                None => {
                    b.delete(k);
                    full.remove(k);
                }
            }
        }
        db.write(b).unwrap();
        before.push(full.clone());
    }
    before.pop();
    db.close().unwrap();
    drop(db);
    keys.push(b"absent".to_vec());
    keys.push(b"k999".to_vec());

    let mut files = BTreeMap::new();
    for name in fs.list_dir(dir).unwrap() {
        files.insert(name.clone(), fs.read_all(&dir.join(&name)).unwrap());
    }
    let pick = |f: &dyn Fn(&str) -> bool| -> String {
        let v: Vec<_> = files.keys().filter(|n| f(n)).cloned().collect();
        assert_eq!(v.len(), 1, "one file of the kind in {:?}", files.keys());
        v[0].clone()
    };
    let wal = pick(&|n| n.ends_with(".log"));
    let manifest = pick(&|n| n.starts_with("MANIFEST-"));
    let wal_records = records(&files[&wal]);
    let manifest_records = records(&files[&manifest]);
    assert_eq!(wal_records.len(), 12, "one WAL record per write of phase 4");
    assert!(manifest_records.len() >= 3, "manifest holds several edits");
    let tables = files.keys().filter(|n| n.ends_with(".sst")).count();
    assert!(
        tables >= 4,
        "tables in L0 and the last level: {:?}",
        files.keys()
    );
    Image {
        files,
        full,
        before,
        keys,
        wal_records,
        manifest_records,
        wal,
        manifest,
    }
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    Flip { offset: usize, mask: u8 },
    Truncate { len: usize },
}

/// A fresh file system holding the image with `damage` applied to `file`.
fn damaged(img: &Image, file: &str, damage: Damage) -> FaultFs {
    let fs = FaultFs::new();
    let dir = Path::new(DIR);
    fs.create_dir_all(dir).unwrap();
    for (name, data) in &img.files {
        let mut f = fs.create(&dir.join(name)).unwrap();
        f.append(data).unwrap();
        f.sync().unwrap();
    }
    fs.sync_dir(dir).unwrap();
    let path = dir.join(file);
    match damage {
        Damage::Flip { offset, mask } => fs.corrupt(&path, offset, mask).unwrap(),
        Damage::Truncate { len } => fs.truncate(&path, len).unwrap(),
    }
    fs
}

/// Reopens a damaged copy and checks the rule; `torn_from` is the first WAL record the damage
/// may drop (the torn-tail exception), `None` when nothing may vanish. Returns a description
/// of the violation, if any.
fn check(img: &Image, file: &str, damage: Damage, torn_from: Option<usize>) -> Option<String> {
    let fs = damaged(img, file, damage);
    let at = format!("{file} {damage:?}");
    let db = match Db::open(DIR, options(&fs)) {
        Ok(db) => db,
        Err(e) => {
            let msg = e.to_string();
            return (!msg.contains(file))
                .then(|| format!("{at}: open failed without naming the file: {msg}"));
        }
    };
    let torn = torn_from.map(|r| &img.before[r]);
    let allowed = |k: &[u8], got: Option<&Vec<u8>>| {
        got == img.full.get(k) || torn.is_some_and(|m| got == m.get(k))
    };
    for k in &img.keys {
        match db.get(k) {
            Ok(got) if !allowed(k, got.as_ref()) => {
                return Some(format!(
                    "{at}: get({}) = {:?}, want {:?}",
                    String::from_utf8_lossy(k),
                    got.map(|v| String::from_utf8_lossy(&v).into_owned()),
                    img.full
                        .get(k)
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                ));
            }
            _ => {}
        }
    }
    // A scan returns a prefix of one allowed state (all of it unless it fails).
    let mut got = Vec::new();
    let mut failed = false;
    for r in db.scan::<Vec<u8>>(..).unwrap() {
        match r {
            Ok(kv) => got.push(kv),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    let fits = |m: &Model| {
        let want: Vec<_> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if failed {
            want.starts_with(&got)
        } else {
            want == got
        }
    };
    if !(fits(&img.full) || torn.is_some_and(fits)) {
        return Some(format!(
            "{at}: scan returned {} entries (failed: {failed}), not a prefix of the contents \
             ({} entries)",
            got.len(),
            img.full.len()
        ));
    }
    None
}

/// Offsets to damage in a file of `len` bytes: the first and last `edge` bytes, and `n`
/// more chosen at random.
fn offsets(rng: &mut StdRng, len: usize, edge: usize, n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..len.min(edge))
        .chain(len.saturating_sub(edge)..len)
        .collect();
    v.extend((0..n).map(|_| rng.gen_range(0..len)));
    v.sort_unstable();
    v.dedup();
    v
}

const MASKS: [u8; 3] = [0x01, 0x80, 0x5a];

fn run(img: &Image, cases: &[(String, Damage, Option<usize>)]) -> Vec<String> {
    cases
        .iter()
        .filter_map(|(file, d, torn)| check(img, file, *d, *torn))
        .collect()
}

fn report(what: &str, cases: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{what}: {} of {cases} damaged databases broke the rule; first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
    eprintln!("{what}: {cases} damaged databases, all refused or read correctly");
}

#[test]
fn damaged_tables_fail_open_or_read_correctly() {
    let img = build();
    let mut rng = StdRng::seed_from_u64(1);
    let mut cases = Vec::new();
    for (name, data) in img.files.iter().filter(|(n, _)| n.ends_with(".sst")) {
        // Every byte, one mask each (cycling), plus all-bits flips on a random sample.
        for off in 0..data.len() {
            let mask = MASKS[off % MASKS.len()];
            cases.push((name.clone(), Damage::Flip { offset: off, mask }, None));
        }
        for off in offsets(&mut rng, data.len(), 0, 40) {
            let mask = 0xff;
            cases.push((name.clone(), Damage::Flip { offset: off, mask }, None));
        }
        for len in (0..data.len()).step_by(37).chain([data.len() - 1]) {
            cases.push((name.clone(), Damage::Truncate { len }, None));
        }
    }
    let failures = run(&img, &cases);
    report("tables", cases.len(), &failures);
}

#[test]
fn damaged_current_and_manifest_fail_open() {
    let img = build();
    let mut cases = Vec::new();
    let current = img.files["CURRENT"].len();
    for off in 0..current {
        for mask in MASKS {
            cases.push((
                "CURRENT".to_string(),
                Damage::Flip { offset: off, mask },
                None,
            ));
        }
    }
    for len in 0..current {
        cases.push(("CURRENT".to_string(), Damage::Truncate { len }, None));
    }
    // Header (magic, version) and every byte of the checksum and payload of every record but
    // the last: a valid record follows each, so none of it can pass for a torn tail.
    let m = &img.manifest;
    for off in 0..12 {
        cases.push((
            m.clone(),
            Damage::Flip {
                offset: off,
                mask: 0x01,
            },
            None,
        ));
    }
    let recs = &img.manifest_records;
    for (i, &(start, end)) in recs[..recs.len() - 1].iter().enumerate() {
        for off in start + 4..end {
            let mask = MASKS[(off + i) % MASKS.len()];
            cases.push((m.clone(), Damage::Flip { offset: off, mask }, None));
        }
    }
    let failures = run(&img, &cases);
    report("CURRENT and manifest", cases.len(), &failures);
}

#[test]
fn damaged_wal_fails_open_or_drops_only_the_damaged_tail() {
    let img = build();
    let w = &img.wal;
    let recs = &img.wal_records;
    let last = recs.len() - 1;
    let mut cases = Vec::new();
    for off in 0..12 {
        cases.push((
            w.clone(),
            Damage::Flip {
                offset: off,
                mask: 0x01,
            },
            None,
        ));
    }
    // Checksum and payload of every record but the last: a valid record follows, so this is
    // corruption, not a torn tail — nothing may vanish.
    for (i, &(start, end)) in recs[..last].iter().enumerate() {
        for off in start + 4..end {
            let mask = MASKS[(off + i) % MASKS.len()];
            cases.push((w.clone(), Damage::Flip { offset: off, mask }, None));
        }
    }
    // Any byte of the last record: it may be taken for a torn write and dropped, whole.
    let (start, end) = recs[last];
    for off in start..end {
        let mask = MASKS[off % MASKS.len()];
        cases.push((w.clone(), Damage::Flip { offset: off, mask }, Some(last)));
    }
    // Any cut: the records from the one the cut falls in onwards may vanish.
    let len = img.files[w].len();
    for cut in 0..len {
        let torn = recs
            .iter()
            .position(|&(_, e)| e > cut)
            .unwrap_or(recs.len());
        let torn = torn.min(last);
        cases.push((w.clone(), Damage::Truncate { len: cut }, Some(torn)));
    }
    let failures = run(&img, &cases);
    report("WAL", cases.len(), &failures);
}

/// Regression: damage to the manifest's last edit, or a cut manifest, used to read as a torn
/// tail, and open served the state before the last flush (stale values) and deleted that
/// flush's table. Now open sees that the older state names files that are gone and refuses
/// (`manifest::check_referenced_files`).
#[test]
fn damaged_last_manifest_edit_is_reported_not_dropped() {
    let img = build();
    let m = &img.manifest;
    let recs = &img.manifest_records;
    let mut cases = Vec::new();
    let (start, end) = recs[recs.len() - 1];
    for off in start..end {
        cases.push((
            m.clone(),
            Damage::Flip {
                offset: off,
                mask: 0x01,
            },
            None,
        ));
    }
    for &(start, _) in &recs[..recs.len() - 1] {
        for off in start..start + 4 {
            cases.push((
                m.clone(),
                Damage::Flip {
                    offset: off,
                    mask: 0x80,
                },
                None,
            ));
        }
    }
    let len = img.files[m].len();
    for cut in 0..len {
        cases.push((m.clone(), Damage::Truncate { len: cut }, None));
    }
    let failures = run(&img, &cases);
    report("manifest tail", cases.len(), &failures);
}

/// Regression: a flipped length field in a WAL record with valid records after it was taken
/// for a torn tail, and open silently dropped acknowledged writes. Every record but the last
/// was fsynced before the next was written, so now open must fail or read everything.
#[test]
fn flipped_wal_length_in_an_acknowledged_record_is_reported_not_dropped() {
    let img = build();
    let recs = &img.wal_records;
    let mut cases = Vec::new();
    for &(start, _) in &recs[..recs.len() - 1] {
        for off in start..start + 4 {
            for mask in MASKS {
                cases.push((img.wal.clone(), Damage::Flip { offset: off, mask }, None));
            }
        }
    }
    let failures = run(&img, &cases);
    report("WAL length fields", cases.len(), &failures);
}

/// A read that meets a damaged block answers an error for that key, the rest are still served,
/// and the database remembers the damage (`Db::corruption`, `DbStats::corruptions_seen`) so a
/// server can report it in its health check.
#[test]
fn reads_that_meet_corrupt_data_are_counted_and_reported() {
    let fs = FaultFs::new();
    let opts = || Options {
        block_cache_bytes: 0,
        ..options(&fs)
    };
    let value = |i: usize| format!("value-{i:04}-").repeat(4).into_bytes();
    {
        let db = Db::open(DIR, opts()).unwrap();
        for i in 0..400 {
            db.put(format!("key{i:04}").as_bytes(), &value(i)).unwrap();
        }
        db.flush().unwrap();
        db.close().unwrap();
    }
    let dir = Path::new(DIR);
    let sst = fs
        .list_dir(dir)
        .unwrap()
        .into_iter()
        .find(|n| n.ends_with(".sst"))
        .expect("a table");
    // A byte inside the first data block: the table still opens (footer, index and filter are
    // intact), and only the keys of that block are lost.
    fs.corrupt(&dir.join(&sst), 40, 0xff).unwrap();

    let db = Db::open(DIR, opts()).unwrap();
    assert_eq!(db.corruption(), None, "nothing has been read yet");
    let (mut ok, mut failed) = (0, 0);
    for i in 0..400 {
        match db.get(format!("key{i:04}").as_bytes()) {
            Ok(v) => {
                assert_eq!(v, Some(value(i)), "key{i:04}: a wrong value, not an error");
                ok += 1;
            }
            Err(e) => {
                assert!(e.is_corruption(), "{e}");
                failed += 1;
            }
        }
    }
    assert!(failed > 0, "the damaged block was never read");
    assert!(
        ok > failed,
        "keys outside the damaged block are still served ({ok} ok)"
    );
    let report = db.corruption().expect("the damage is remembered");
    assert!(report.contains(&sst), "report names the table: {report}");
    assert_eq!(db.stats().corruptions_seen, failed as u64);

    // A scan that hits the damage is counted too.
    let scanned_error = db.scan::<Vec<u8>>(..).unwrap().any(|r| r.is_err());
    assert!(scanned_error);
    assert_eq!(db.stats().corruptions_seen, failed as u64 + 1);
    // Writes go on: the damage is in one table, the database is not poisoned.
    db.put(b"after", b"damage").unwrap();
    assert_eq!(db.get(b"after").unwrap(), Some(b"damage".to_vec()));
}
