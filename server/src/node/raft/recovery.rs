//! `--force-new-cluster`: the explicit, unsafe way back after a quorum is lost for good (as
//! etcd's flag of the same name).
//!
//! Before Raft starts, this node's log gets one more entry: a membership of this node alone,
//! under a term above every term it has seen, and its vote moves to that term. openraft takes the
//! last membership in the log as the one in force, so the node starts as the single voter of a
//! cluster that keeps everything it had: the store, the snapshot, and every entry of its log —
//! including entries the old cluster may never have committed, which the new single-member
//! cluster now commits (the unsafe part: another old member may hold different ones). Old
//! members must not come back with their old data; they join again, wiped, as new nodes.
//!
//! Invariants: the log stays contiguous (the entry goes right after the last one, or after the
//! purged point when the log is empty); a node that never was a member is refused (nothing to
//! recover); a node that already is its cluster's only voter is left as it is, so a restart that
//! still carries the flag changes nothing.

use super::{LogStore, Member, StateMachine, TypeConfig};
use openraft::storage::{RaftLogReader, RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership, Vote};
use std::collections::{BTreeMap, BTreeSet};

/// What [`force_single_member`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Forced {
    /// The membership entry written: the new cluster starts at it.
    NewMembership(LogId<u64>),
    /// Already the only voter: nothing written.
    AlreadyAlone,
}

/// Makes this node (`id`, `me`) the only member of its cluster, keeping all its data.
pub async fn force_single_member(
    log: &mut LogStore,
    sm: &mut StateMachine,
    id: u64,
    me: &Member,
) -> Result<Forced, String> {
    let storage = |e: openraft::StorageError<u64>| format!("--force-new-cluster: {e}");
    let state = log.get_log_state().await.map_err(storage)?;
    let (applied, membership) = sm.applied_state().await.map_err(storage)?;
    let Some(last) = state.last_log_id.or(applied) else {
        return Err(format!(
            "--force-new-cluster: node {} was never a member of a cluster: there is nothing to \
             recover (start it without the flag, and join it)",
            me.name
        ));
    };
    if applied.is_some_and(|a| a.index > last.index) {
        return Err(format!(
            "--force-new-cluster: the store is ahead of the raft log ({} > {}): refusing to \
             touch a log that does not cover the store",
            applied.map_or(0, |a| a.index),
            last.index
        ));
    }
    // The membership in force is the last one in the log after the applied one.
    let mut current = membership.membership().clone();
    let from = applied.map_or(0, |a| a.index + 1);
    if from <= last.index {
        for e in log
            .try_get_log_entries(from..=last.index)
            .await
            .map_err(storage)?
        {
            if let EntryPayload::Membership(m) = e.payload {
                current = m;
            }
        }
    }
    let alone = BTreeSet::from([id]);
    if current.get_joint_config().len() == 1
        && current.get_joint_config()[0] == alone
        && current.learner_ids().next().is_none()
    {
        return Ok(Forced::AlreadyAlone);
    }
    let vote = log.read_vote().await.map_err(storage)?;
    let term = vote
        .map_or(0, |v| v.leader_id().term)
        .max(last.leader_id.term)
        + 1;
    let log_id = LogId::new(CommittedLeaderId::new(term, id), last.index + 1);
    // The recovered cluster keeps its id: its members-to-be are checked against it.
    let me = Member {
        cluster: super::cluster_of(&current, id),
        ..me.clone()
    };
    let nodes = BTreeMap::from([(id, me)]);
    let entry: Entry<TypeConfig> = Entry {
        log_id,
        payload: EntryPayload::Membership(Membership::new(vec![alone], nodes)),
    };
    log.save_vote(&Vote::new_committed(term, id))
        .await
        .map_err(storage)?;
    log.blocking_append([entry]).await.map_err(storage)?;
    Ok(Forced::NewMembership(log_id))
}
