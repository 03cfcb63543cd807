//! The store under every replication mode: a write is prepared once (analysis, embedding) into
//! a serializable [`PreparedOp`], and applying the same operations in the same order to fresh
//! stores gives byte-identical state — every column family, checked through a checkpoint — with
//! the applied position stored in the same batch, so after a crash it names exactly the last
//! operation whose effects are there. A malformed operation received from elsewhere is refused
//! whole.

mod common;

use common::hashing_opts;
use common::model::{dump, Dump, DIM};
use kvstore_engine::fs::FaultFs;
use kvstore_engine::{Db, Options};
use kvstore_search::{Indexer, PreparedOp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

const WORDS: &[&str] = &[
    "spark", "plug", "wing", "flow", "boundary", "layer", "heat", "shock", "wave", "nozzle",
];

/// A history of prepared operations (puts, overwrites, batches with a key twice, deletes of
/// present and absent keys), prepared by `ix` and sent through JSON as a log would carry it.
fn history(ix: &Indexer, seed: u64, n: usize) -> Vec<PreparedOp> {
    let mut rng = StdRng::seed_from_u64(seed);
    let text = |rng: &mut StdRng| {
        (0..rng.gen_range(0..8))
            .map(|_| WORDS[rng.gen_range(0..WORDS.len())])
            .collect::<Vec<_>>()
            .join(" ")
    };
    (0..n)
        .map(|_| {
            let op = if rng.gen_bool(0.2) {
                PreparedOp::Delete(vec![format!("d{}", rng.gen_range(0..12)).into_bytes()])
            } else {
                let docs = (0..rng.gen_range(1..4))
                    .map(|_| {
                        let key = format!("d{}", rng.gen_range(0..12)).into_bytes();
                        let vector = rng
                            .gen_bool(0.3)
                            .then(|| (0..DIM).map(|_| rng.gen_range(-1.0..1.0)).collect());
                        ix.prepare_doc(key, text(&mut rng).into_bytes(), vector)
                            .unwrap()
                    })
                    .collect();
                PreparedOp::Put(docs)
            };
            let json = serde_json::to_string(&op).unwrap();
            let back: PreparedOp = serde_json::from_str(&json).unwrap();
            assert_eq!(back, op, "a prepared operation survives serialization");
            back
        })
        .collect()
}

fn store(dir: &Path) -> Indexer {
    Indexer::open(
        Db::open(dir, Options::default()).unwrap(),
        hashing_opts(DIM),
    )
    .unwrap()
}

/// A hash of every record of every column family of the database in `dir`.
fn content_hash(dir: &Path) -> u64 {
    let db = Db::open(dir, Options::default()).unwrap();
    let mut h = DefaultHasher::new();
    for name in db.cf_names() {
        let cf = db.cf(&name).unwrap();
        name.hash(&mut h);
        for kv in db.scan_cf::<Vec<u8>>(&cf, ..).unwrap() {
            kv.unwrap().hash(&mut h);
        }
    }
    h.finish()
}

#[test]
fn the_same_prepared_operations_give_identical_stores() {
    let tmp = tempfile::tempdir().unwrap();
    let preparer = store(&tmp.path().join("leader"));
    for seed in 0..3 {
        let ops = history(&preparer, seed, 60);
        let (a, b) = (
            tmp.path().join(format!("a{seed}")),
            tmp.path().join(format!("b{seed}")),
        );
        let (sa, sb) = (store(&a), store(&b));
        for (i, op) in ops.iter().enumerate() {
            let pos = (i as u64 + 1).to_be_bytes();
            sa.apply(op, Some(&pos)).unwrap();
        }
        // The second store applies them from another thread's view of time: flushes in
        // between, so its tables differ while its content must not.
        for (i, op) in ops.iter().enumerate() {
            let pos = (i as u64 + 1).to_be_bytes();
            sb.apply(op, Some(&pos)).unwrap();
            if i % 7 == 0 {
                sb.db().flush().unwrap();
            }
        }
        assert_eq!(dump(&sa), dump(&sb), "seed {seed}: stores differ");
        sa.verify().unwrap();
        let want = (ops.len() as u64).to_be_bytes().to_vec();
        assert_eq!(sb.applied_position().unwrap(), Some(want));
        let (ca, cb) = (
            tmp.path().join(format!("cp-a{seed}")),
            tmp.path().join(format!("cp-b{seed}")),
        );
        sa.db().checkpoint(&ca).unwrap();
        sb.db().checkpoint(&cb).unwrap();
        assert_eq!(
            content_hash(&ca),
            content_hash(&cb),
            "seed {seed}: checkpoints differ"
        );
        // Searches agree too.
        for w in WORDS {
            let (ra, rb) = (
                sa.search(w, 20, false).unwrap(),
                sb.search(w, 20, false).unwrap(),
            );
            assert_eq!(ra, rb, "seed {seed}: search {w}");
        }
    }
}

#[test]
fn after_a_crash_the_applied_position_names_exactly_the_state() {
    let tmp = tempfile::tempdir().unwrap();
    let preparer = store(&tmp.path().join("leader"));
    let ops = history(&preparer, 42, 25);
    // The state after each prefix of the log, from a store that never crashed.
    let reference: Vec<Dump> = {
        let r = store(&tmp.path().join("reference"));
        let mut states = vec![dump(&r)];
        for (i, op) in ops.iter().enumerate() {
            r.apply(op, Some(&(i as u64 + 1).to_be_bytes())).unwrap();
            states.push(dump(&r));
        }
        states
    };
    let mut seen = std::collections::BTreeSet::new();
    for n in 0..50 {
        let fs = FaultFs::new();
        let opts = || Options {
            fs: Arc::new(fs.clone()),
            ..Options::default()
        };
        let ix = Indexer::open(Db::open("/r", opts()).unwrap(), hashing_opts(DIM)).unwrap();
        fs.inject(kvstore_engine::fs::FaultKind::Sync, n);
        for (i, op) in ops.iter().enumerate() {
            if ix.apply(op, Some(&(i as u64 + 1).to_be_bytes())).is_err() {
                break;
            }
        }
        fs.crash(Some(&mut StdRng::seed_from_u64(n)));
        drop(ix);
        fs.clear_faults();
        let ix = Indexer::open(Db::open("/r", opts()).unwrap(), hashing_opts(DIM)).unwrap();
        let k = ix
            .applied_position()
            .unwrap()
            .map_or(0, |p| u64::from_be_bytes(p.try_into().unwrap()) as usize);
        assert_eq!(
            dump(&ix),
            reference[k],
            "sync {n}: the store is not the state after operation {k}"
        );
        seen.insert(k);
    }
    assert!(seen.len() > 5, "too few distinct crash points: {seen:?}");
}

#[test]
fn a_malformed_prepared_operation_is_refused_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let ix = store(tmp.path());
    let good = ix
        .prepare_doc(b"k".to_vec(), b"spark plug spark wing".to_vec(), None)
        .unwrap();
    ix.apply(&PreparedOp::Put(vec![good.clone()]), Some(b"1"))
        .unwrap();
    let before = dump(&ix);
    let json = serde_json::to_value(&good).unwrap();
    let broken = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = json.clone();
        edit(&mut v);
        let mut other = v.clone();
        other["key"] = serde_json::json!(b"other".to_vec());
        let doc = serde_json::from_value(v).unwrap();
        let fine = serde_json::from_value(serde_json::to_value(&good).unwrap()).unwrap();
        PreparedOp::Put(vec![fine, doc])
    };
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "range past the positions",
            Box::new(|v| v["terms"][0][1]["end"] = 99.into()),
        ),
        (
            "terms out of order",
            Box::new(|v| v["terms"][0][0] = "zzz".into()),
        ),
        (
            "descending positions within a term",
            Box::new(|v| v["positions"] = serde_json::json!([1, 2, 0, 3])),
        ),
        (
            "a position past the end",
            Box::new(|v| v["positions"] = serde_json::json!([1, 0, 2, 9])),
        ),
        (
            "vector of another dimension",
            Box::new(|v| v["vector"] = serde_json::json!([1.0])),
        ),
        (
            "length below the positions",
            Box::new(|v| v["doc_len"] = 1.into()),
        ),
        (
            "a term with NUL",
            Box::new(|v| v["terms"][0][0] = "a\u{0}b".into()),
        ),
        // The document is "spark plug spark wing": terms plug [1], spark [0, 2], wing [3].
        (
            "overlapping position ranges, each ascending",
            Box::new(|v| {
                v["terms"][0][1] = serde_json::json!({"start": 0, "end": 2});
                v["terms"][1][1] = serde_json::json!({"start": 1, "end": 3});
                v["positions"] = serde_json::json!([0, 1, 2, 3]);
            }),
        ),
        (
            "positions no term claims",
            Box::new(|v| {
                v["positions"] = serde_json::json!([1, 0, 2, 3, 5]);
                v["doc_len"] = 6.into();
            }),
        ),
        (
            "more positions than the length (one position, two terms)",
            Box::new(|v| {
                v["positions"] = serde_json::json!([0, 0, 1, 1]);
                v["doc_len"] = 2.into();
            }),
        ),
    ];
    for (what, edit) in cases {
        let op = broken(&*edit);
        assert!(
            ix.apply(&op, Some(b"2")).is_err(),
            "{what}: a malformed operation was applied"
        );
        assert_eq!(dump(&ix), before, "{what}: something was written");
    }
    assert_eq!(ix.applied_position().unwrap(), Some(b"1".to_vec()));
}
