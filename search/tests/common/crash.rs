//! Crashing *inside* an indexing operation, and checking what survives against a clean index.
//!
//! The nemesis and the checker are separate pieces:
//! - [`PowerCutFs`] (`power_cut_fs.rs`) numbers the changing operations of an in-memory
//!   [`FaultFs`] and, armed with a [`Cut`], loses power right after the k-th (only fsynced data
//!   survives) or fails it with an I/O error (the engine then refuses writes; the power is cut
//!   afterwards).
//! - [`check_every_cut`] replays a history of indexing operations on a fresh disk once per
//!   file operation k of the chosen steps and per kind of cut, reopens what survived and
//!   requires its *whole* content (documents, postings, `docmeta` records, document
//!   frequencies, collection statistics, vectors) to equal, byte for byte, what a clean index of
//!   the documents before or after the interrupted step holds (after it, if the step was
//!   acknowledged). The clean index (`model.rs`) is built by inserting each surviving document
//!   once into an empty store, so it never goes through the overwrite or delete path. Searches
//!   (full text and semantic, including the in-memory vector index rebuilt at open) are then
//!   compared with a brute-force scan of the same documents, and the survivor must take writes.
//!
//! A document written in one engine batch and its index entries in another is caught at the
//! cut between the two batches: the survivor then matches neither state.

use super::model::{
    check_searches, clean_dump, diff, doc, dump, models, opts, Dump, Model, Op, DIR,
};
use super::power_cut_fs::{Cut, PowerCutFs};
use kvstore_engine::fs::FaultFs;
use kvstore_engine::{Db, Options};
use kvstore_search::Indexer;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// What one replay left behind.
struct Run {
    disk: FaultFs,
    /// Outcome of each step run (the replay stops at the first error).
    results: Vec<Result<(), String>>,
    log: Vec<String>,
    fired: bool,
    /// The store as its own process saw it right after a failed step (before the power cut).
    live: Option<(Dump, Result<(), String>)>,
}

fn open(fs: &PowerCutFs) -> Result<Indexer, String> {
    let db = Db::open(
        DIR,
        Options {
            fs: Arc::new(fs.clone()),
            ..Options::default()
        },
    )
    .map_err(|e| format!("Db::open: {e}"))?;
    Indexer::open(db, opts()).map_err(|e| format!("Indexer::open: {e}"))
}

/// Runs `history` on a fresh disk with `cut` armed once the store is open, then cuts the
/// power: the process dies right after its last step, acknowledged or not.
fn replay(history: &[Op], cut: Option<Cut>, tear_seed: Option<u64>, models: &[Model]) -> Run {
    let disk = FaultFs::new();
    let fs = PowerCutFs::new(disk.clone());
    let ix = open(&fs).unwrap();
    fs.arm(cut, tear_seed);
    let mut results = Vec::new();
    for op in history {
        let r = op.run(&ix).map_err(|e| e.to_string());
        let failed = r.is_err();
        results.push(r);
        if failed {
            break;
        }
    }
    // After a failed step the process still serves reads: they must show the state before or
    // after that step, searches included.
    let live = results.last().is_some_and(|r| r.is_err()).then(|| {
        let acked = results.len() - 1;
        let searches = check_searches(&ix, &models[acked])
            .or_else(|_| check_searches(&ix, &models[acked + 1]));
        (dump(&ix), searches)
    });
    fs.power_off();
    drop(ix);
    Run {
        disk,
        results,
        log: fs.log(),
        fired: fs.fired(),
        live,
    }
}

/// Which of the `allowed` states (indexes into the models) `got` is a clean index of; the
/// differences from each when none.
fn match_state(
    got: &Dump,
    allowed: &[usize],
    clean: &mut impl FnMut(usize) -> Dump,
) -> Result<usize, String> {
    let mut why = String::new();
    for &s in allowed {
        let want = clean(s);
        if *got == want {
            return Ok(s);
        }
        let _ = writeln!(
            why,
            "  vs a clean index of the documents after the first {s} steps:\n{}",
            diff(got, &want)
        );
    }
    Err(why)
}

/// How the interrupted steps came out, over all cuts.
#[derive(Debug, Default, Clone, Copy)]
pub struct CutReport {
    /// Replays run (one per file operation and kind of cut).
    pub runs: usize,
    /// Cuts after which the interrupted step was wholly absent.
    pub lost: usize,
    /// Cuts after which it was wholly present.
    pub survived: usize,
}

/// For every file operation made by `history[from..]` and each kind of cut (power off after it
/// with no torn tail, with a torn tail, and failing it), replays `history` on a fresh disk with
/// that cut, reopens and checks (module docs): the store holds exactly a clean index of the
/// documents before or after the interrupted step (after it when the step was acknowledged),
/// verifies, searches like a brute-force scan, and takes a further write.
pub fn check_every_cut(history: &[Op], from: usize, seed: u64) -> CutReport {
    let models = models(history);
    let mut cache: HashMap<usize, Dump> = HashMap::new();
    let mut clean = |s: usize| {
        cache
            .entry(s)
            .or_insert_with(|| clean_dump(&models[s]))
            .clone()
    };
    // A dry run numbers the file operations of each step.
    let fs = PowerCutFs::new(FaultFs::new());
    let ix = open(&fs).unwrap();
    fs.arm(None, None);
    let mut bounds = vec![0u64];
    for (i, op) in history.iter().enumerate() {
        op.run(&ix)
            .unwrap_or_else(|e| panic!("step {i} ({op:?}) failed without a fault: {e}"));
        bounds.push(fs.ops());
    }
    let dry_log = fs.log();
    let got = dump(&ix);
    drop(ix);
    if let Err(why) = match_state(&got, &[history.len()], &mut clean) {
        panic!("without a fault, the store is not a clean index of its documents:\n{why}");
    }
    let (first, last) = (bounds[from], bounds[history.len()]);
    assert!(
        last > first,
        "steps {from}.. made no file operation: there is nothing to cut"
    );
    let mut report = CutReport::default();
    for k in first + 1..=last {
        let step = bounds.iter().position(|&b| b >= k).unwrap() - 1;
        for (cut, tear) in [
            (Cut::PowerOffAfter(k), None),
            (Cut::PowerOffAfter(k), Some(seed ^ k)),
            (Cut::Fail(k), Some(seed ^ k)),
        ] {
            report.runs += 1;
            let run = replay(history, Some(cut), tear, &models);
            let ctx = || {
                let ops = &dry_log[bounds[step] as usize..bounds[step + 1] as usize];
                format!(
                    "seed {seed}, {cut:?} (torn tail: {}), inside step {step} ({:?}) whose \
                     file operations are [{}]; step results {:?}",
                    tear.is_some(),
                    history[step],
                    ops.join(", "),
                    run.results
                )
            };
            // The cut is where the dry run said: the history makes the same file operations
            // each time (no background I/O moves them).
            let upto = (k as usize).min(run.log.len());
            assert!(
                run.fired && run.log[..upto] == dry_log[..upto],
                "{}: the replay's file operations differ from the dry run's:\n  {:?}\n  {:?}",
                ctx(),
                &run.log[..upto],
                &dry_log[..upto]
            );
            let acked = run.results.iter().take_while(|r| r.is_ok()).count();
            assert!(acked >= step, "{}: a step before the cut failed", ctx());
            let mut allowed = vec![acked];
            if acked < run.results.len() {
                allowed.push(acked + 1);
            }
            let fs = PowerCutFs::new(run.disk.clone());
            let ix = open(&fs).unwrap_or_else(|e| panic!("{}: reopen: {e}", ctx()));
            let state = match match_state(&dump(&ix), &allowed, &mut clean) {
                Ok(s) => s,
                Err(why) => panic!(
                    "{}: after the crash the store is a clean index neither before nor after \
                     the interrupted step (acknowledged steps: {acked}):\n{why}",
                    ctx()
                ),
            };
            if let Some((live, searches)) = &run.live {
                if let Err(why) = match_state(live, &allowed, &mut clean) {
                    panic!(
                        "{}: right after the failed step, its own process reads a store that \
                         is a clean index neither before nor after it:\n{why}",
                        ctx()
                    );
                }
                if let Err(e) = searches {
                    panic!("{}: right after the failed step: {e}", ctx());
                }
            }
            if state > step {
                report.survived += 1;
            } else {
                report.lost += 1;
            }
            ix.verify()
                .unwrap_or_else(|e| panic!("{}: verify after the crash: {e}", ctx()));
            check_searches(&ix, &models[state])
                .unwrap_or_else(|e| panic!("{}: after the crash: {e}", ctx()));
            // The survivor takes writes again, and indexes them like a clean store.
            let more = doc("zz-after-crash", "wing after the crash");
            ix.put(more.key.as_bytes(), more.text.as_bytes(), None)
                .unwrap_or_else(|e| panic!("{}: a write after the crash: {e}", ctx()));
            let mut m = models[state].clone();
            m.insert(more.key.clone(), more);
            let (got, want) = (dump(&ix), clean_dump(&m));
            assert!(
                got == want,
                "{}: a write after the crash was not indexed like in a clean store:\n{}",
                ctx(),
                diff(&got, &want)
            );
        }
    }
    report
}
