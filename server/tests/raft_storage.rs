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
        payload: EntryPayload::Normal(Request { op }),
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
        replies[2].error.is_some(),
        "the forged document was applied"
    );
    assert!(replies
        .iter()
        .enumerate()
        .all(|(i, r)| i == 2 || r.error.is_none()));
    // A refused entry that is the last one applied is still the applied position.
    let mut again = serde_json::to_value(doc("bad2", "spark")).unwrap();
    again["doc_len"] = 0.into();
    let again = PreparedOp::Put(vec![serde_json::from_value(again).unwrap()]);
    let replies = sm.apply([normal(6, again.clone())]).await.unwrap();
    assert!(replies[0].error.is_some());
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
