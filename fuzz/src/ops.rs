//! The op-sequence crash scenario: puts, deletes, range deletes, batches, flushes, compactions
//! and clean reopens over [`FaultFs`] with tiny options, a fuzzer-chosen point after which every fsync
//! (or every write) fails, then a power cut — optionally tearing unsynced tails — and a reopen.
//!
//! Oracle (as in `engine/tests/crash_recovery.rs`): the recovered database holds exactly the
//! acknowledged writes, plus at most the one write that failed, applied whole.

use kvstore_engine::fs::{FaultFs, FaultKind};
use kvstore_engine::{Db, Options, WriteBatch};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// At most this many ops run per input, to keep an execution short.
pub const MAX_OPS: usize = 48;
/// At most this many clean reopens per input (each costs threads and a flush).
pub const MAX_REOPENS: usize = 3;

#[derive(Debug, Clone)]
pub enum Op {
    /// Key index (mod 32) and value length (× 4 bytes, so values cross block boundaries).
    Put {
        key: u8,
        len: u8,
    },
    Delete {
        key: u8,
    },
    /// Deletes keys `from .. from + 1 + span % 8` (indexes mod 32) with one range tombstone.
    DeleteRange {
        from: u8,
        span: u8,
    },
    /// `(key, Some(len))` puts, `(key, None)` deletes, in one atomic batch.
    Batch(Vec<(u8, Option<u8>)>),
    Flush,
    Compact,
    /// A clean close and reopen (no crash).
    Reopen,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    /// Operations of the chosen kind that succeed before all later ones fail (taken mod 64:
    /// a scenario performs tens of fsyncs, so most choices land inside it).
    pub fail_after: u8,
    /// `true`: appends fail; `false`: fsyncs (file and directory) fail.
    pub fail_writes: bool,
    /// `Some(seed)`: the crash keeps a random part of each unsynced tail, last byte flipped.
    pub tear: Option<u64>,
    pub ops: Vec<Op>,
}

impl Scenario {
    /// Decodes a scenario densely, so that almost every mutation of the input is a different
    /// but valid scenario: `[fail_after][flags: bit 0 fail writes, bit 1 tear][tear seed u64 LE]`
    /// then ops, each an opcode byte (mod 16: 0–6 put, 7–9 delete, 10–11 batch, 12 flush,
    /// 13 compact, 14 reopen, 15 range delete) and its argument bytes (put: key, length;
    /// delete: key; range delete: first key, span; batch: count, then key and length per
    /// entry, length 255 meaning delete). Input that ends
    /// inside an op ends the scenario.
    pub fn parse(data: &[u8]) -> Scenario {
        let mut it = data.iter().copied();
        let fail_after = it.next().unwrap_or(0);
        let flags = it.next().unwrap_or(0);
        let mut seed = [0u8; 8];
        for b in &mut seed {
            *b = it.next().unwrap_or(0);
        }
        let mut ops = Vec::new();
        while let Some(code) = it.next() {
            let op = match code % 16 {
                7..=9 => it.next().map(|key| Op::Delete { key }),
                10 | 11 => it.next().and_then(|n| {
                    let entries: Vec<_> = (0..=n % 8)
                        .map_while(|_| {
                            let key = it.next()?;
                            let len = it.next()?;
                            Some((key, (len != 255).then_some(len)))
                        })
                        .collect();
                    (entries.len() == usize::from(n % 8) + 1).then_some(Op::Batch(entries))
                }),
                12 => Some(Op::Flush),
                15 => it
                    .next()
                    .zip(it.next())
                    .map(|(from, span)| Op::DeleteRange { from, span }),
                13 => Some(Op::Compact),
                14 => Some(Op::Reopen),
                _ => it
                    .next()
                    .zip(it.next())
                    .map(|(key, len)| Op::Put { key, len }),
            };
            match op {
                Some(op) => ops.push(op),
                None => break,
            }
        }
        Scenario {
            fail_after,
            fail_writes: flags & 1 != 0,
            tear: (flags & 2 != 0).then(|| u64::from_le_bytes(seed)),
            ops,
        }
    }
}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;
type Ops = Vec<(Vec<u8>, Option<Vec<u8>>)>;

fn key(k: u8) -> Vec<u8> {
    format!("key{:02}", k % 32).into_bytes()
}

/// A value that names the write that made it, so a stale or misplaced value is caught.
fn value(serial: u64, len: u8) -> Vec<u8> {
    let stamp = format!("v{serial}-");
    stamp
        .bytes()
        .cycle()
        .take(stamp.len() + 4 * len as usize)
        .collect()
}

fn apply(model: &mut Model, ops: &Ops) {
    for (k, v) in ops {
        match v {
            Some(v) => model.insert(k.clone(), v.clone()),
            None => model.remove(k),
        };
    }
}

fn options(fs: &FaultFs) -> Options {
    Options {
        fs: Arc::new(fs.clone()),
        memtable_size_bytes: 2 * 1024,
        max_immutable_memtables: 1,
        block_cache_bytes: 16 * 1024,
        block_size_bytes: 256,
        l0_compaction_trigger: 2,
        l0_slowdown_writes_trigger: 6,
        l0_stop_writes_trigger: 10,
        max_bytes_for_level_base: Some(8 * 1024),
        level_size_multiplier: 4,
        target_file_size_bytes: 2 * 1024,
        num_levels: 4,
        ..Options::default()
    }
}

fn dump(db: &Db) -> Result<Model, String> {
    let mut out = Model::new();
    for r in db.scan::<Vec<u8>>(..).map_err(|e| e.to_string())? {
        let (k, v) = r.map_err(|e| e.to_string())?;
        out.insert(k, v);
    }
    Ok(out)
}

/// What one scenario did, for statistics.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    /// Writes acknowledged before the crash.
    pub acknowledged: usize,
    /// True when an op failed (the injected fault hit before the crash).
    pub fault_hit: bool,
    /// Keys checked after recovery.
    pub keys_checked: usize,
}

/// Runs `s` and panics (for the fuzzer to report) if recovery breaks the oracle.
pub fn run(s: &Scenario) -> Summary {
    let mut summary = Summary::default();
    let fs = FaultFs::new();
    let dir = Path::new("/fuzz");
    let mut db = Some(Db::open(dir, options(&fs)).expect("open of a fresh database"));
    let kind = if s.fail_writes {
        FaultKind::Write
    } else {
        FaultKind::Sync
    };
    fs.inject(kind, u64::from(s.fail_after % 64));

    let mut model = Model::new();
    let mut in_flight: Option<Ops> = None;
    let mut serial = 0u64;
    let mut reopens = 0;
    for op in s.ops.iter().take(MAX_OPS) {
        let Some(d) = &db else { break };
        let mut ops = Ops::new();
        let mut batch = WriteBatch::new();
        let mut add = |k: u8, len: Option<u8>, ops: &mut Ops| {
            serial += 1;
            let k = key(k);
            match len {
                Some(len) => {
                    let v = value(serial, len);
                    batch.put(&k, &v);
                    ops.push((k, Some(v)));
                }
                None => {
                    batch.delete(&k);
                    ops.push((k, None));
                }
            }
        };
        let result = match op {
            Op::Put { key, len } => {
                add(*key, Some(*len), &mut ops);
                d.write(batch)
            }
            Op::Delete { key } => {
                add(*key, None, &mut ops);
                d.write(batch)
            }
            Op::DeleteRange { from, span } => {
                let a = from % 32;
                let b = a + 1 + span % 8;
                let (start, end) = (key(a), format!("key{b:02}").into_bytes());
                for k in model.keys().filter(|k| **k >= start && **k < end) {
                    ops.push((k.clone(), None));
                }
                batch.delete_range(&start, &end);
                d.write(batch)
            }
            Op::Batch(entries) => {
                for (k, len) in entries.iter().take(8) {
                    add(*k, *len, &mut ops);
                }
                d.write(batch)
            }
            Op::Flush => d.flush(),
            Op::Compact => d.compact_range(None, None),
            Op::Reopen => {
                if reopens == MAX_REOPENS {
                    continue;
                }
                reopens += 1;
                let closed = d.close();
                db = None;
                closed.and_then(|()| {
                    db = Some(Db::open(dir, options(&fs))?);
                    Ok(())
                })
            }
        };
        match result {
            Ok(()) => {
                summary.acknowledged +=
                    usize::from(!ops.is_empty() || matches!(op, Op::DeleteRange { .. }));
                apply(&mut model, &ops);
            }
            Err(_) => {
                summary.fault_hit = true;
                if !ops.is_empty() || matches!(op, Op::DeleteRange { .. }) {
                    in_flight = Some(ops);
                }
                break;
            }
        }
    }

    match s.tear {
        Some(seed) => fs.crash(Some(&mut StdRng::seed_from_u64(seed))),
        None => fs.crash(None),
    }
    drop(db);
    fs.clear_faults();

    let db = Db::open(dir, options(&fs))
        .unwrap_or_else(|e| panic!("reopen after the crash failed: {e}"));
    let got = dump(&db).unwrap_or_else(|e| panic!("scan after the crash failed: {e}"));
    if got != model {
        let mut with = model.clone();
        if let Some(ops) = &in_flight {
            apply(&mut with, ops);
        }
        assert!(
            got == with,
            "recovered state is not the acknowledged history: {} keys recovered, {} acknowledged, \
             in flight {:?}\nrecovered: {:?}\nexpected: {:?}",
            got.len(),
            model.len(),
            in_flight,
            got.keys().collect::<Vec<_>>(),
            model.keys().collect::<Vec<_>>()
        );
    }
    // Point reads agree with the scan.
    for (k, v) in &got {
        let r = db
            .get(k)
            .unwrap_or_else(|e| panic!("get after the crash failed: {e}"));
        assert_eq!(r.as_ref(), Some(v), "get disagrees with scan for {k:?}");
    }
    summary.keys_checked = got.len();
    summary
}
