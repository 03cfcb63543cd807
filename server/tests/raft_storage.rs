//! Raft mode's storage: the log store and the state machine pass openraft 0.9's own storage
//! suite (log state, vote, entries, truncation, purging, membership, apply, snapshot build,
//! transfer and install), and beyond it: documents written through log entries are in the
//! store, a malformed operation is refused as the entry's answer without stopping the log, and
//! everything — log, vote, applied position, current snapshot — survives a reopen.

use kvstore_search::{HashingEmbedder, PreparedOp, SearchOptions};
use kvstore_server::node::raft::{LogStore, Request, StateMachine, StorageError, TypeConfig};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{
    CommittedLeaderId, Entry, EntryPayload, LogId, Membership, RaftLogReader, RaftSnapshotBuilder,
    Vote,
};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use tempfile::TempDir;

fn opts() -> SearchOptions {
    SearchOptions {
        embedder: Some(Arc::new(HashingEmbedder::new(8))),
        background_graph_build: false,
        ..Default::default()
    }
}

fn open(dir: &Path) -> (LogStore, StateMachine) {
    (
        LogStore::open(&dir.join("raft-log")).unwrap(),
        StateMachine::open(&dir.join("state"), opts()).unwrap(),
    )
}

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().unwrap();
        let (log, sm) = open(dir.path());
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(Builder).unwrap();
}

fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn normal(index: u64, op: PreparedOp) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(1, index),
        payload: EntryPayload::Normal(Request { ops: vec![op] }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_write_documents_refusals_are_answers_and_everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut sm) = open(dir.path());
    let ix = sm.indexer();
    let doc = |k: &str, text: &str| {
        ix.prepare_doc(k.as_bytes().to_vec(), text.as_bytes().to_vec(), None)
            .unwrap()
    };
    let members = Membership::new(vec![BTreeSet::from([1, 2, 3])], None);
    let mut forged = serde_json::to_value(doc("bad", "spark plug")).unwrap();
    forged["terms"][0][0] = "zzz".into();
    let forged = serde_json::from_value(forged).unwrap();
    let entries = vec![
        Entry {
            log_id: log_id(1, 1),
            payload: EntryPayload::Membership(members.clone()),
        },
        normal(2, PreparedOp::Put(vec![doc("a", "spark plug gap")])),
        normal(3, PreparedOp::Put(vec![doc("b", "wing mirror"), forged])),
        normal(4, PreparedOp::Put(vec![doc("c", "spark wing")])),
        normal(5, PreparedOp::Delete(vec![b"c".to_vec()])),
    ];
    log.save_vote(&Vote::new(1, 1)).await.unwrap();
    log.blocking_append(entries.clone()).await.unwrap();
    let replies = sm.apply(entries).await.unwrap();
    assert_eq!(replies.len(), 5);
    assert!(
        replies[2].results[0].error.is_some(),
        "the forged document was applied"
    );
    assert!(replies
        .iter()
        .enumerate()
        .all(|(i, r)| i == 2 || r.results.iter().all(|r| r.error.is_none())));
    // A refused entry that is the last one applied is still the applied position.
    let mut again = serde_json::to_value(doc("bad2", "spark")).unwrap();
    again["doc_len"] = 0.into();
    let again = PreparedOp::Put(vec![serde_json::from_value(again).unwrap()]);
    let replies = sm.apply([normal(6, again.clone())]).await.unwrap();
    assert!(replies[0].results[0].error.is_some());
    log.blocking_append([normal(6, again)]).await.unwrap();
    assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 6)));
    let snap = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    assert_eq!(snap.meta.last_log_id, Some(log_id(1, 6)));
    drop((log, sm, ix));

    let (mut log, mut sm) = open(dir.path());
    let ix = sm.indexer();
    assert_eq!(
        ix.db().get(b"a").unwrap().as_deref(),
        Some(&b"spark plug gap"[..])
    );
    assert_eq!(
        ix.db().get(b"b").unwrap(),
        None,
        "a refused batch is refused whole"
    );
    assert_eq!(ix.db().get(b"c").unwrap(), None);
    let hits: Vec<Vec<u8>> = ix
        .search("spark", 10, false)
        .unwrap()
        .into_iter()
        .map(|h| h.key)
        .collect();
    assert_eq!(hits, vec![b"a".to_vec()]);
    let (applied, membership) = sm.applied_state().await.unwrap();
    assert_eq!(applied, Some(log_id(1, 6)));
    assert_eq!(membership.membership(), &members);
    assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(1, 1)));
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id, Some(log_id(1, 6)));
    assert_eq!(log.try_get_log_entries(2..4).await.unwrap().len(), 2);
    let current = sm
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("the snapshot survives");
    assert_eq!(current.meta, snap.meta);
}

/// An entry carrying several operations (the proposer's grouping): each gets its own answer,
/// a refused one does not stop the others, and applying the entry a second time (a crash
/// between two of its operations re-applies it whole) leaves the same state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_operations_answer_one_by_one_and_reapplying_the_entry_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, mut sm) = open(dir.path());
    let ix = sm.indexer();
    let doc = |k: &str, text: &str| {
        ix.prepare_doc(k.as_bytes().to_vec(), text.as_bytes().to_vec(), None)
            .unwrap()
    };
    let mut forged = serde_json::to_value(doc("bad", "spark plug")).unwrap();
    forged["terms"][0][0] = "zzz".into();
    let forged: kvstore_search::PreparedDoc = serde_json::from_value(forged).unwrap();
    let grouped = |index| Entry {
        log_id: log_id(1, index),
        payload: EntryPayload::Normal(Request {
            ops: vec![
                PreparedOp::Put(vec![doc("a", "spark plug")]),
                PreparedOp::Put(vec![forged.clone()]),
                PreparedOp::Put(vec![doc("b", "wing mirror")]),
                PreparedOp::Delete(vec![b"a".to_vec(), b"zz".to_vec()]),
                PreparedOp::Put(vec![doc("a", "spark wing")]),
            ],
        }),
    };
    let replies = sm.apply([grouped(1)]).await.unwrap();
    let answers: Vec<(bool, Option<u64>)> = replies[0]
        .results
        .iter()
        .map(|r| (r.error.is_some(), r.deleted))
        .collect();
    assert_eq!(
        answers,
        vec![
            (false, None),
            (true, None),
            (false, None),
            (false, Some(1)),
            (false, None)
        ]
    );
    let state = |ix: &kvstore_search::Indexer| {
        let hits = |q: &str| -> Vec<(Vec<u8>, u32)> {
            ix.search(q, 10, false)
                .unwrap()
                .into_iter()
                .map(|h| (h.key, (h.score * 1e4) as u32))
                .collect()
        };
        (
            ix.db().get(b"a").unwrap(),
            ix.db().get(b"b").unwrap(),
            ix.db().get(b"bad").unwrap(),
            hits("spark"),
            hits("wing"),
            hits("plug"),
        )
    };
    let once = state(&ix);
    assert_eq!(once.0.as_deref(), Some(&b"spark wing"[..]));
    assert_eq!(once.2, None, "the refused operation was applied");
    assert!(once.5.is_empty(), "the overwritten text is still indexed");
    sm.apply([grouped(1)]).await.unwrap();
    assert_eq!(
        state(&ix),
        once,
        "applying the entry again changed the store"
    );
    assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 1)));
}

/// A log written before writes were grouped (`{"op": ...}` entries) still reads back, as
/// one-operation entries.
#[test]
fn entries_from_before_grouping_still_decode() {
    let op = PreparedOp::Delete(vec![b"k".to_vec()]);
    let old = serde_json::json!({ "op": op });
    let new: Request = serde_json::from_value(old).unwrap();
    assert_eq!(
        new,
        Request {
            ops: vec![op.clone()]
        }
    );
    let now = serde_json::to_value(&new).unwrap();
    assert_eq!(serde_json::from_value::<Request>(now).unwrap(), new);
    assert!(serde_json::from_value::<Request>(serde_json::json!({ "opz": op })).is_err());
}
