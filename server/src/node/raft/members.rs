//! Cluster membership operations beyond the seed's `join`: a fresh node asking a member to admit
//! it (`POST /cluster/join {"via"}`, etcd's `member add` and start in one call), and removing a
//! member (`DELETE /cluster/members/<id>`, etcd's `member remove`).
//!
//! Owns: the decisions (pure functions [`voter_fitness`] and [`removal_keeps_quorum`], unit-tested
//! without sockets), the [`ChangeGate`] that serializes membership changes on a node, the
//! membership peer messages ([`RPC_ADMIT`], [`RPC_REMOVE`], [`RPC_REMOVED`],
//! [`RPC_MEMBER_CHECK`]), and the *removed* state of a node that was taken out of its cluster
//! (`<data>/REMOVED`), which it learns from the leader's notice, or — removed while it was
//! down — by asking the members when it hears no leader ([`removal_watch`]).
//!
//! Invariants:
//! - one membership change at a time per leader: every change takes the [`ChangeGate`]; a
//!   second one is refused (409) rather than queued behind a change that may take a minute;
//! - a voter is removed only when, by a probe made just before (each voter asked who it is, and
//!   its replication within [`HEALTHY_LAG_ENTRIES`] of the leader's log), a quorum of the
//!   current configuration *and* of the new one would be reachable: openraft commits the joint
//!   configuration under both, and a joint configuration that cannot commit leaves the cluster
//!   stuck between the two (openraft 0.9 never finishes it by itself);
//! - the leader never removes itself (openraft would let it, and the cluster would be leaderless
//!   until an election): move leadership first (`/become_primary`);
//! - a new node is promoted to voter only once its log is within [`CAUGHT_UP_LAG_ENTRIES`] of the
//!   leader's: openraft's own "caught up" (`add_learner(.., true)`) is `replication_lag_threshold`,
//!   here twice the snapshot interval (100k entries by default), and a voter that far behind
//!   counts in every quorum while it acknowledges nothing;
//! - a node told it was removed stops campaigning and refuses writes and linearizable reads
//!   (503) for good: the marker is fsynced before the notice is acknowledged, and read at start;
//! - a member says "removed" to a node that asks only when it is certain
//!   ([`removed_by_membership`]): a current member is never told it was removed.

use super::network::{decode, encode, PeerError};
use super::node::{from_peer, normalize_url, to_peer, unavailable, RaftNode, HELLO_TIMEOUT};
use super::{raft_id, Member};
use crate::error::ApiError;
use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::ChangeMembers;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A fresh node asks to be admitted: the body is its [`Member`]; the answer the
/// `/cluster/join` JSON, as text. Sent to any member; a follower forwards it to the leader.
pub const RPC_ADMIT: &str = "admit";
/// Remove a member: the body is its name; the answer the `DELETE /cluster/members` JSON, as
/// text. Sent to any member; a follower forwards it to the leader.
pub const RPC_REMOVE: &str = "remove";
/// The leader tells a node it was removed ([`RemovedNotice`]); the answer is unit.
pub const RPC_REMOVED: &str = "removed";
/// "Am I still a member?" ([`MemberCheck`]), asked by a node that hears no leader for a while:
/// the answer is `Some(RemovedNotice)` only when the asked member is certain it was removed.
/// How a node removed while it was down learns it when it comes back (etcd's peers answer a
/// removed member's messages with "removed" the same way).
pub const RPC_MEMBER_CHECK: &str = "member-check";

/// How far (entries) behind the leader's log a voter may be and still count as able to
/// acknowledge at once: a few hundred entries are a few heartbeats of catch-up on a loaded
/// cluster, not a node that is down or rebuilding.
pub const HEALTHY_LAG_ENTRIES: u64 = 300;
/// How close (entries) to the leader's log a learner must be before it is promoted to voter.
pub const CAUGHT_UP_LAG_ENTRIES: u64 = 300;
/// Longest the probe of one voter waits for its answer (a paused or partitioned node).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest a membership change waits to be committed (both of its entries).
pub const CHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the leader waits for a removed node to acknowledge its notice.
pub const NOTICE_TIMEOUT: Duration = Duration::from_secs(2);
/// The marker of a removed node, in its data directory.
pub const REMOVED_FILE: &str = "REMOVED";
/// How long a voter hears no leader before it asks the members whether it was removed.
pub const LEADERLESS_BEFORE_ASKING: Duration = Duration::from_secs(2);

/// What a node asks with [`RPC_MEMBER_CHECK`]: its name and the index of its last log entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberCheck {
    pub name: String,
    pub last_log_index: Option<u64>,
}

/// What the leader tells a node it removed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RemovedNotice {
    /// The removed node's name.
    pub name: String,
    /// The leader that removed it.
    pub by: String,
    /// The names of the members left.
    pub members: Vec<String>,
}

/// Why a voter would not help commit a membership change right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unfit {
    /// It did not answer the probe (down, paused, partitioned), or answered as another node.
    Unreachable(String),
    /// Its log is this many entries behind the leader's.
    Behind(u64),
}

impl std::fmt::Display for Unfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unfit::Unreachable(why) => write!(f, "unreachable ({why})"),
            Unfit::Behind(n) => write!(f, "{n} entries behind the primary"),
        }
    }
}

/// Whether a voter can acknowledge a new entry at once: it answered the probe and its matched
/// log is within [`HEALTHY_LAG_ENTRIES`] of the leader's last entry.
pub fn voter_fitness(
    answered: Result<(), String>,
    matched: Option<u64>,
    leader_last: u64,
) -> Result<(), Unfit> {
    answered.map_err(Unfit::Unreachable)?;
    let behind = leader_last.saturating_sub(matched.unwrap_or(0));
    if matched.is_none() || behind > HEALTHY_LAG_ENTRIES {
        return Err(Unfit::Behind(behind));
    }
    Ok(())
}

/// Whether removing `removing` from the voter set `config` keeps a quorum able to commit the
/// change: a majority of `fit` voters in `config` (for the joint entry) and in `config` without
/// `removing` (for the joint entry and the final one).
pub fn removal_keeps_quorum(config: &BTreeSet<u64>, removing: u64, fit: &BTreeSet<u64>) -> bool {
    let majority = |c: &BTreeSet<u64>| c.intersection(fit).count() > c.len() / 2;
    let mut next = config.clone();
    next.remove(&removing);
    !next.is_empty() && majority(config) && majority(&next)
}

/// Whether a member may tell the asker ([`MemberCheck`]) it was removed: only when the
/// member's membership does not list it, is applied there (so committed: it cannot be undone),
/// and was decided after the asker's last entry. Had the asker been added again since, it would
/// hold that later entry; so a "removed" can never hit a current member, even when the member
/// answering lags behind.
pub fn removed_by_membership(
    asker_last: Option<u64>,
    listed: bool,
    membership_index: Option<u64>,
    applied: Option<u64>,
) -> bool {
    let (Some(at), Some(applied)) = (membership_index, applied) else {
        return false;
    };
    !listed && applied >= at && asker_last.is_none_or(|l| l < at)
}

/// Serializes membership changes on a node: a change holds it from its first check to its
/// answer. It records what the holder does, for the refusal of the next one.
#[derive(Default)]
pub struct ChangeGate {
    lock: tokio::sync::Mutex<()>,
    /// What the holder is doing ("removing node3"); meaningful only while `lock` is held.
    what: std::sync::Mutex<String>,
}

impl ChangeGate {
    /// Takes the gate, or refuses (409) naming the change in progress.
    pub fn try_begin(&self, what: String) -> Result<tokio::sync::MutexGuard<'_, ()>, ApiError> {
        let guard = self.lock.try_lock().map_err(|_| {
            let current = self.what.lock().unwrap_or_else(|e| e.into_inner()).clone();
            ApiError::Conflict(format!(
                "a membership change is already in progress ({current}); retry when it is done"
            ))
        })?;
        *self.what.lock().unwrap_or_else(|e| e.into_inner()) = what;
        Ok(guard)
    }

    /// Takes the gate, waiting for the change in progress (the seed's `join`, whose callers
    /// never had a 409 for it).
    pub async fn begin(&self, what: String) -> tokio::sync::MutexGuard<'_, ()> {
        let guard = self.lock.lock().await;
        *self.what.lock().unwrap_or_else(|e| e.into_inner()) = what;
        guard
    }
}

/// Whether `data_dir` holds the marker of a removed node.
pub fn was_removed(data_dir: &Path) -> bool {
    data_dir.join(REMOVED_FILE).exists()
}

/// Writes the removed marker durably: temporary file, fsync, rename, directory fsync.
fn persist_removal(data_dir: &Path, notice: &RemovedNotice) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = data_dir.join(format!("{REMOVED_FILE}.tmp"));
    let text = json!({ "name": notice.name, "removed_by": notice.by, "members": notice.members });
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(format!("{text}\n").as_bytes())?;
    // IMPORTANT: fsync before the rename, so the marker is whole whenever it exists.
    f.sync_all()?;
    std::fs::rename(&tmp, data_dir.join(REMOVED_FILE))?;
    // IMPORTANT: fsync the directory, so the rename survives a power loss: a removed node that
    // forgot it would campaign again with its old configuration (harmless to the others, which
    // have a longer log, but it would forward writes for clients as if it were a member).
    std::fs::File::open(data_dir)?.sync_all()
}

/// Marks this node removed: no campaigns (openraft's timer; the election watchdog checks the
/// flag too), the flag every request checks, and the marker on disk.
async fn mark_removed(
    raft: &openraft::Raft<super::TypeConfig>,
    removed: &AtomicBool,
    data_dir: &Path,
    notice: &RemovedNotice,
) -> Result<(), ApiError> {
    removed.store(true, Ordering::SeqCst);
    let rc = raft.runtime_config();
    rc.elect(false);
    rc.heartbeat(false);
    let dir = data_dir.to_path_buf();
    let n = notice.clone();
    tokio::task::spawn_blocking(move || persist_removal(&dir, &n))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| unavailable(format!("cannot record the removal: {e}")))?;
    tracing::warn!(by = %notice.by, "this node was removed from the cluster");
    Ok(())
}

/// Runs beside a node for its life: while it is a voter (by its own configuration) and has
/// heard no leader for [`LEADERLESS_BEFORE_ASKING`], it asks the other members whether it was
/// removed, and stops as a member when one says so with certainty.
pub(super) async fn removal_watch(
    raft: openraft::Raft<super::TypeConfig>,
    peers: super::network::PeerClient,
    name: String,
    data_dir: std::path::PathBuf,
    removed: std::sync::Arc<AtomicBool>,
) {
    let id = raft_id(&name);
    let mut leaderless_since: Option<Instant> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if removed.load(Ordering::SeqCst) {
            return;
        }
        let m = raft.metrics().borrow().clone();
        if m.running_state.is_err() {
            return;
        }
        let voter = m.membership_config.voter_ids().any(|v| v == id);
        if m.current_leader.is_some() || !voter {
            leaderless_since = None;
            continue;
        }
        if leaderless_since.get_or_insert_with(Instant::now).elapsed() < LEADERLESS_BEFORE_ASKING {
            continue;
        }
        let q = MemberCheck {
            name: name.clone(),
            last_log_index: m.last_log_index,
        };
        for (other, n) in m.membership_config.nodes() {
            if *other == id {
                continue;
            }
            let answer: Result<Result<Option<RemovedNotice>, PeerError>, _> = peers
                .call(&n.url, RPC_MEMBER_CHECK, &q, PROBE_TIMEOUT)
                .await;
            if let Ok(Ok(Some(notice))) = answer {
                if notice.name == name && !notice.members.contains(&name) {
                    if let Err(e) = mark_removed(&raft, &removed, &data_dir, &notice).await {
                        tracing::warn!(error = %e, "removed, but the marker was not written");
                    }
                    return;
                }
            }
        }
        // Ask again after another while, not at every tick.
        leaderless_since = None;
    }
}

/// The error of a node that was removed: it no longer serves as a member.
pub fn removed_error(name: &str) -> ApiError {
    ApiError::Unavailable(format!(
        "node {name} was removed from the cluster: it serves no writes or linearizable reads \
         (stale reads show its data as of the removal); to join a cluster again, start it with \
         an empty data directory"
    ))
}

fn change_error(e: RaftError<u64, ClientWriteError<u64, Member>>) -> ApiError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => super::node::not_leader(&f),
        RaftError::APIError(ClientWriteError::ChangeMembershipError(
            ChangeMembershipError::InProgress(p),
        )) => ApiError::Conflict(format!(
            "a membership change is already in progress ({p}); retry when it is done"
        )),
        RaftError::APIError(ClientWriteError::ChangeMembershipError(other)) => {
            ApiError::Conflict(format!("membership change refused: {other}"))
        }
        RaftError::Fatal(f) => unavailable(format!("raft stopped: {f}")),
    }
}

impl RaftNode {
    /// Whether this node was removed from its cluster.
    pub(super) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::SeqCst)
    }

    /// 409 on a removed node, for the membership calls made on it.
    fn refuse_if_removed(&self) -> Result<(), ApiError> {
        if self.is_removed() {
            return Err(ApiError::Conflict(removed_error(&self.me.name).to_string()));
        }
        Ok(())
    }

    /// `POST /cluster/join {"via"}` on this node: ask the member at `via` to admit it.
    pub(super) async fn join_via_here(&self, via: String) -> Result<Value, ApiError> {
        self.refuse_if_removed()?;
        let via = normalize_url(&via);
        if via == self.me.url {
            return Err(ApiError::BadRequest(format!(
                "\"via\" names this node itself ({via}): name a member of the cluster to join"
            )));
        }
        if self.initialized() {
            // Already a member: only a retry towards a member of the same cluster is
            // harmless. Joining another cluster would mix two logs (no cluster id says which).
            let hello: Member = self
                .peers
                .call(&via, super::network::RPC_HELLO, &(), HELLO_TIMEOUT)
                .await
                .map_err(|e| unavailable(format!("cannot reach {via}: {e}")))?;
            let m = self.raft.metrics().borrow().clone();
            let same = m
                .membership_config
                .membership()
                .get_node(&raft_id(&hello.name))
                .is_some_and(|n| n.url == hello.url);
            if !same {
                return Err(ApiError::Conflict(format!(
                    "node {} already belongs to a cluster that does not include {} at {via}; \
                     to move it, remove it from its cluster and start it with an empty data \
                     directory",
                    self.me.name, hello.name
                )));
            }
        }
        let answer: Result<String, PeerError> = self
            .peers
            .call(
                &via,
                RPC_ADMIT,
                &self.me,
                super::node::JOIN_TIMEOUT + CHANGE_TIMEOUT * 2,
            )
            .await
            .map_err(|e| unavailable(format!("cannot reach {via} to join through it: {e}")))?;
        let text = answer.map_err(from_peer)?;
        serde_json::from_str(&text).map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// `RPC_ADMIT`: admits `member` if this node leads, else forwards the request to the leader.
    pub(super) async fn admit(&self, member: Member) -> Result<Value, ApiError> {
        self.refuse_if_removed()?;
        let (leader, node) = self.wait_leader().await?;
        if leader == self.id {
            return self.admit_here(member).await;
        }
        let answer: Result<String, PeerError> = self
            .peers
            .call(
                &node.url,
                RPC_ADMIT,
                &member,
                super::node::JOIN_TIMEOUT + CHANGE_TIMEOUT * 2,
            )
            .await
            .map_err(|e| unavailable(format!("cannot reach the leader {}: {e}", node.name)))?;
        let text = answer.map_err(from_peer)?;
        serde_json::from_str(&text).map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// On the leader: adds `member` as a learner, waits until it is caught up, promotes it to
    /// voter, and answers once it holds its promotion. A member already a voter at the same
    /// URL is a no-op; under another URL, a 409.
    async fn admit_here(&self, member: Member) -> Result<Value, ApiError> {
        // The new member's record carries this cluster's id (`Member::cluster`).
        let member = Member {
            url: normalize_url(&member.url),
            cluster: self.cluster_id(),
            ..member
        };
        let name = member.name.clone();
        let _gate = self.gate.try_begin(format!("adding {name}"))?;
        self.check_not_held()?;
        let id = raft_id(&name);
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership().clone();
        if let Some(existing) = super::node::member_named(&membership, id, &name)? {
            if existing.url != member.url {
                return Err(ApiError::Conflict(format!(
                    "node id {name} is already a member, at {}, not {}: remove it first \
                     (DELETE /cluster/members/{name}) or start the new node with another \
                     --node-id",
                    existing.url, member.url
                )));
            }
            if membership.voter_ids().any(|v| v == id) {
                return Ok(json!({ "ok": true, "joined": name, "members": self.members_json() }));
            }
        }
        // The leader must reach the node at the URL it gave (its --advertise-url): the node
        // reaching us proves nothing about the other direction.
        self.check_newcomer(&member).await?;
        tokio::time::timeout(
            CHANGE_TIMEOUT,
            self.raft.add_learner(id, member.clone(), false),
        )
        .await
        .map_err(|_| unavailable(format!("adding {name} as a learner timed out")))?
        .map_err(change_error)?;
        let caught_up = self
            .raft
            .wait(Some(super::node::JOIN_TIMEOUT))
            .metrics(
                |m| {
                    let last = m.last_log_index.unwrap_or(0);
                    m.replication
                        .as_ref()
                        .and_then(|r| r.get(&id).copied().flatten())
                        .is_some_and(|l| l.index + CAUGHT_UP_LAG_ENTRIES >= last)
                },
                format!("{name} caught up"),
            )
            .await;
        if caught_up.is_err() {
            // Leave no learner behind: a retry starts clean, and the leader stops sending it
            // the log.
            let _ = tokio::time::timeout(
                CHANGE_TIMEOUT,
                self.raft
                    .change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([id])), false),
            )
            .await;
            return Err(unavailable(format!(
                "{name} at {} did not catch up within {:?}; it was not added",
                member.url,
                super::node::JOIN_TIMEOUT
            )));
        }
        let changed = tokio::time::timeout(
            CHANGE_TIMEOUT,
            self.raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false),
        )
        .await
        .map_err(|_| unavailable(format!("promoting {name} timed out")))?
        .map_err(change_error)?;
        self.wait_promoted(id, &name, changed.log_id.index, CHANGE_TIMEOUT)
            .await?;
        tracing::info!(%name, url = %member.url, "member admitted");
        Ok(json!({ "ok": true, "joined": name, "members": self.members_json() }))
    }

    /// `DELETE /cluster/members/<name>` on this node: removes the member if this node leads,
    /// else forwards the request to the leader.
    pub(super) async fn remove_member_here(&self, name: String) -> Result<Value, ApiError> {
        self.refuse_if_removed()?;
        let (leader, node) = self.wait_leader().await?;
        if leader == self.id {
            return self.remove_as_leader(name).await;
        }
        let answer: Result<String, PeerError> = self
            .peers
            .call(
                &node.url,
                RPC_REMOVE,
                &name,
                CHANGE_TIMEOUT + PROBE_TIMEOUT + NOTICE_TIMEOUT + Duration::from_secs(5),
            )
            .await
            .map_err(|e| unavailable(format!("cannot reach the leader {}: {e}", node.name)))?;
        let text = answer.map_err(from_peer)?;
        serde_json::from_str(&text).map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// On the leader: checks, probes, changes the membership, and tells the removed node.
    async fn remove_as_leader(&self, name: String) -> Result<Value, ApiError> {
        let started = Instant::now();
        let _gate = self.gate.try_begin(format!("removing {name}"))?;
        self.check_not_held()?;
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership().clone();
        let id = raft_id(&name);
        let node = match membership.get_node(&id) {
            Some(n) if n.name == name => n.clone(),
            _ => {
                let names: Vec<&str> = membership.nodes().map(|(_, n)| n.name.as_str()).collect();
                return Err(ApiError::NotFound(format!(
                    "no member {name:?} in the cluster (members: {})",
                    names.join(", ")
                )));
            }
        };
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let change = if voters.contains(&id) {
            if voters.len() == 1 {
                return Err(ApiError::Conflict(format!(
                    "{name} is the last voter: a cluster cannot remove its last voter"
                )));
            }
            if id == self.id {
                return Err(ApiError::Conflict(format!(
                    "{name} is the primary: move leadership first (POST /become_primary on \
                     another voter, `kvstore cluster become-primary --url <its url>`), then \
                     remove it"
                )));
            }
            // The configuration the change starts from: the last of a joint one (an earlier
            // change interrupted by a leader change), which openraft's next step keeps.
            let config: BTreeSet<u64> = membership
                .get_joint_config()
                .last()
                .cloned()
                .unwrap_or_default();
            let unfit = self.probe_voters(&m, &voters).await;
            let fit: BTreeSet<u64> = voters
                .iter()
                .copied()
                .filter(|v| !unfit.contains_key(v))
                .collect();
            if !removal_keeps_quorum(&config, id, &fit) {
                let why: Vec<String> = unfit
                    .iter()
                    .map(|(v, u)| {
                        let n = membership.get_node(v).map_or("?", |n| n.name.as_str());
                        format!("{n} is {u}")
                    })
                    .collect();
                return Err(ApiError::Conflict(format!(
                    "removing {name} would leave the cluster without a reachable quorum ({}): \
                     bring those voters back, or remove them first",
                    why.join("; ")
                )));
            }
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        tokio::time::timeout(CHANGE_TIMEOUT, self.raft.change_membership(change, false))
            .await
            .map_err(|_| {
                unavailable(format!(
                    "removing {name} was not committed within {CHANGE_TIMEOUT:?}; it may still \
                     complete: check /cluster/status"
                ))
            })?
            .map_err(change_error)?;
        let left: Vec<String> = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .nodes()
            .map(|(_, n)| n.name.clone())
            .collect();
        let notice = RemovedNotice {
            name: name.clone(),
            by: self.me.name.clone(),
            members: left,
        };
        // Best effort: a dead node cannot hear it (it learns nothing until someone tells it;
        // `docs/operations.md` says to wipe it).
        let notified: Result<Result<(), PeerError>, _> = self
            .peers
            .call(&node.url, RPC_REMOVED, &notice, NOTICE_TIMEOUT)
            .await;
        let notified = matches!(notified, Ok(Ok(())));
        tracing::info!(%name, notified, took = ?started.elapsed(), "member removed");
        Ok(json!({
            "ok": true,
            "removed": name,
            "notified": notified,
            "members": self.members_json(),
        }))
    }

    /// Asks every voter but this one who it is (concurrently, [`PROBE_TIMEOUT`] each) and
    /// checks its replication: the voters that could not acknowledge an entry now.
    async fn probe_voters(
        &self,
        m: &openraft::RaftMetrics<u64, Member>,
        voters: &BTreeSet<u64>,
    ) -> BTreeMap<u64, Unfit> {
        let last = m.last_log_index.unwrap_or(0);
        let membership = m.membership_config.membership();
        let probes: Vec<_> = voters
            .iter()
            .filter(|v| **v != self.id)
            .map(|v| {
                let v = *v;
                let node = membership.get_node(&v).cloned().unwrap_or_default();
                let matched = m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(&v).copied().flatten())
                    .map(|l| l.index);
                let peers = self.peers.clone();
                // Concurrently: a paused voter costs one PROBE_TIMEOUT, not one each.
                (
                    v,
                    tokio::spawn(async move {
                        let answered: Result<(), String> = match peers
                            .call::<_, Member>(
                                &node.url,
                                super::network::RPC_HELLO,
                                &(),
                                PROBE_TIMEOUT,
                            )
                            .await
                        {
                            Ok(h) if h.name == node.name => Ok(()),
                            Ok(h) => Err(format!("{} answers as {}", node.url, h.name)),
                            Err(e) => Err(e.to_string()),
                        };
                        voter_fitness(answered, matched, last)
                    }),
                )
            })
            .collect();
        let mut unfit = BTreeMap::new();
        for (v, p) in probes {
            let verdict = p
                .await
                .unwrap_or_else(|e| Err(Unfit::Unreachable(format!("probe failed: {e}"))));
            if let Err(u) = verdict {
                unfit.insert(v, u);
            }
        }
        unfit
    }

    /// `RPC_REMOVED`: the leader says this node was removed. From now on it does not campaign
    /// and refuses writes and linearizable reads; the marker makes that survive a restart.
    pub(super) async fn on_removed(&self, notice: RemovedNotice) -> Result<(), ApiError> {
        if notice.name != self.me.name || notice.members.contains(&self.me.name) {
            return Err(ApiError::Conflict(format!(
                "a removal notice for {:?} (members left: {:?}) does not remove {}",
                notice.name, notice.members, self.me.name
            )));
        }
        mark_removed(&self.raft, &self.removed, &self.data_dir, &notice).await
    }

    /// `RPC_MEMBER_CHECK`: tells the asker it was removed when this node is certain
    /// ([`removed_by_membership`]); `None` otherwise, and always from a removed node.
    fn member_check(&self, q: MemberCheck) -> Option<RemovedNotice> {
        if self.is_removed() {
            return None;
        }
        let m = self.raft.metrics().borrow().clone();
        let stored = &m.membership_config;
        let listed = stored.membership().get_node(&raft_id(&q.name)).is_some();
        let at = stored.log_id().map(|l| l.index);
        if !removed_by_membership(
            q.last_log_index,
            listed,
            at,
            m.last_applied.map(|l| l.index),
        ) {
            return None;
        }
        Some(RemovedNotice {
            name: q.name,
            by: self.me.name.clone(),
            members: stored.nodes().map(|(_, n)| n.name.clone()).collect(),
        })
    }

    /// Serves the membership peer messages; `None` for any other RPC.
    pub(super) async fn serve_member_rpc(
        &self,
        rpc: &str,
        body: &[u8],
    ) -> Option<Result<Vec<u8>, ApiError>> {
        let bad = |e: String| ApiError::BadRequest(e);
        let enc = |r: Result<Vec<u8>, String>| r.map_err(ApiError::Internal);
        let as_text = |r: Result<Value, ApiError>| r.map(|v| v.to_string()).map_err(to_peer);
        Some(match rpc {
            RPC_ADMIT => match decode::<Member>(body) {
                Ok(member) => enc(encode(&as_text(self.admit(member).await))),
                Err(e) => Err(bad(e)),
            },
            RPC_REMOVE => match decode::<String>(body) {
                Ok(name) => enc(encode(&as_text(self.remove_member_here(name).await))),
                Err(e) => Err(bad(e)),
            },
            RPC_REMOVED => match decode::<RemovedNotice>(body) {
                Ok(n) => enc(encode(&self.on_removed(n).await.map_err(to_peer))),
                Err(e) => Err(bad(e)),
            },
            RPC_MEMBER_CHECK => match decode::<MemberCheck>(body) {
                Ok(q) => enc(encode(&Ok::<_, PeerError>(self.member_check(q)))),
                Err(e) => Err(bad(e)),
            },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u64]) -> BTreeSet<u64> {
        ids.iter().copied().collect()
    }

    #[test]
    fn a_voter_is_fit_when_it_answers_and_is_within_the_lag_limit() {
        assert_eq!(voter_fitness(Ok(()), Some(1000), 1000), Ok(()));
        assert_eq!(
            voter_fitness(Ok(()), Some(1000 - HEALTHY_LAG_ENTRIES), 1000),
            Ok(())
        );
        assert_eq!(
            voter_fitness(Ok(()), Some(999 - HEALTHY_LAG_ENTRIES), 1000),
            Err(Unfit::Behind(HEALTHY_LAG_ENTRIES + 1))
        );
        // Never acknowledged anything yet.
        assert_eq!(voter_fitness(Ok(()), None, 5), Err(Unfit::Behind(5)));
        assert_eq!(
            voter_fitness(Err("refused".into()), Some(1000), 1000),
            Err(Unfit::Unreachable("refused".into()))
        );
    }

    #[test]
    fn removal_needs_a_fit_majority_of_the_old_and_of_the_new_configuration() {
        // 3 voters, remove a dead one: 1 and 2 are a majority of both {1,2,3} and {1,2}.
        assert!(removal_keeps_quorum(&set(&[1, 2, 3]), 3, &set(&[1, 2])));
        // 3 voters, 3 dead, remove 2: {1,3} has only 1 fit voter.
        assert!(!removal_keeps_quorum(&set(&[1, 2, 3]), 2, &set(&[1, 2])));
        // 2 voters, remove the dead one: the joint entry needs both of {1,2}.
        assert!(!removal_keeps_quorum(&set(&[1, 2]), 2, &set(&[1])));
        assert!(removal_keeps_quorum(&set(&[1, 2]), 2, &set(&[1, 2])));
        // 4 voters with two down: {1,2} is no majority of {1,2,3,4}.
        assert!(!removal_keeps_quorum(&set(&[1, 2, 3, 4]), 4, &set(&[1, 2])));
        // 4 voters with one down, removing it: 3 of 4, then 3 of 3.
        assert!(removal_keeps_quorum(
            &set(&[1, 2, 3, 4]),
            4,
            &set(&[1, 2, 3])
        ));
        // 5 voters, two down, removing a live one: 3 of 5, then 2 of 4 — not a majority.
        assert!(!removal_keeps_quorum(
            &set(&[1, 2, 3, 4, 5]),
            3,
            &set(&[1, 2, 3])
        ));
        // Never down to no voter.
        assert!(!removal_keeps_quorum(&set(&[1]), 1, &set(&[1])));
    }

    #[test]
    fn only_a_committed_membership_decided_after_the_askers_log_says_removed() {
        // Membership at 40, applied, not listing the asker whose log ends at 30: removed.
        assert!(removed_by_membership(Some(30), false, Some(40), Some(45)));
        assert!(removed_by_membership(None, false, Some(40), Some(40)));
        // Listed: a member.
        assert!(!removed_by_membership(Some(30), true, Some(40), Some(45)));
        // Not applied here yet: may still be undone.
        assert!(!removed_by_membership(Some(30), false, Some(40), Some(39)));
        // The asker holds entries at or past that membership: it may have been added again
        // since (a later entry this member has not seen).
        assert!(!removed_by_membership(Some(40), false, Some(40), Some(45)));
        assert!(!removed_by_membership(Some(50), false, Some(40), Some(45)));
        assert!(!removed_by_membership(Some(30), false, None, Some(45)));
    }

    #[test]
    fn the_gate_refuses_a_second_change_naming_the_first() {
        let gate = ChangeGate::default();
        let held = gate.try_begin("removing node3".into()).unwrap();
        let e = gate.try_begin("adding node5".into()).unwrap_err();
        assert_eq!(e.status().as_u16(), 409);
        assert!(e.to_string().contains("removing node3"), "{e}");
        drop(held);
        assert!(gate.try_begin("adding node5".into()).is_ok());
    }
}
