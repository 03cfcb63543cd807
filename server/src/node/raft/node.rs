//! [`RaftNode`]: the [`Node`] of `--mode raft` — the document store replicated by openraft.
//!
//! - **Writes** are prepared where they arrive (tokens, embedding: `Indexer::prepare_doc`), then
//!   proposed as one log entry: by this node when it leads, else forwarded, prepared, to the
//!   leader (`RPC_WRITE`). The answer comes after the entry is committed and applied on the
//!   leader. A write not committed within [`WRITE_TIMEOUT`] answers 503 (it may still be
//!   applied later: never a false 200, possibly a false 503, as in etcd).
//! - **Reads**: `get` is linearizable by default — the leader confirms it still leads with a
//!   quorum round (`ensure_linearizable`, read index) and then reads its applied state; a
//!   follower forwards the read to the leader (`RPC_READ`). `consistency=stale` reads the local
//!   replica. Searches and scans read the local replica (stale) for now.
//! - **Membership**: `join` on an uninitialized node makes a cluster of itself, then adds each
//!   peer as a learner, waits for it to catch up, and promotes it (one change at a time); sent
//!   to a follower it is forwarded to the leader. Joining through a member (`join_via`) and
//!   removing a member are in `members.rs`.
//! - **Election watchdog** (DESIGN.md, openraft 0.9 trap 1): when no leader has been known for
//!   longer than the election timeout, the node waits a fresh random delay and campaigns,
//!   so two survivors cannot stay in a split-vote lockstep.
//!
//! Invariants: nothing answers 200 for a write before openraft reports it applied; a node that
//! is not (or no longer) the leader never serves a linearizable read from its own state.

use super::members::{self, ChangeGate};
use super::network::{
    decode, encode, HoldRequest, Network, PeerClient, PeerError, RPC_APPEND, RPC_HELLO, RPC_HOLD,
    RPC_JOIN, RPC_READ, RPC_READ_INDEX, RPC_RELEASE, RPC_SNAPSHOT, RPC_VOTE, RPC_WRITE,
};
use super::proposer::Proposer;
use super::read_index::ReadIndex;
use super::recovery::{self, Forced};
use super::{
    cluster_of, new_cluster_id, raft_id, LogStore, Member, Response, StateMachine, TypeConfig,
};
use crate::error::ApiError;
use crate::node::standalone::{hits, scan_page, utf8};
use crate::node::{
    ClusterStatus, Consistency, FailPoint, FailureInjector, Health, Node, ScanPage, ScanRequest,
    SearchHit, SemanticQuery, SetRequest,
};
use async_trait::async_trait;
use bytes::Bytes;
use kvstore_search::{Indexer, PreparedOp, SearchOptions};
use openraft::error::{ForwardToLeader, RaftError};
use openraft::{Raft, ServerState};
use rand::Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest a write waits to be committed and applied before answering 503.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a linearizable read waits for its quorum round.
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest a request waits for a leader to be known.
pub const LEADER_WAIT: Duration = Duration::from_secs(3);
/// How long a node without a membership waits for one before refusing a request.
pub const JOIN_GRACE: Duration = Duration::from_millis(1000);
/// Longest a leadership transfer (`become_primary`) may take; past it the old primary resumes.
pub const TRANSFER_DEADLINE: Duration = Duration::from_secs(4);
/// Longest a primary asked to hand over waits for the target to hold every entry it has (well
/// within [`HELLO_TIMEOUT`], the hold request's own).
pub const CATCH_UP_WAIT: Duration = Duration::from_secs(1);
/// Longest `join` waits for a new member to say who it is.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest `join` waits for a new member to catch up.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(60);
/// Heartbeat and election timeouts (ms): etcd's heartbeat, a tighter election window. openraft
/// 0.9 makes a follower refuse votes until `ELECTION_MAX_MS` after it last heard the leader
/// (its leader lease), so a failover takes at least that: measured 1.25 s median with 400/700
/// against 1.77 s with 500/1000 (`raft_cluster::three_primary_kills_in_a_row_...`).
pub const HEARTBEAT_MS: u64 = 100;
pub const ELECTION_MIN_MS: u64 = 400;
pub const ELECTION_MAX_MS: u64 = 700;

/// Default entries between two snapshots (`RaftSettings::snapshot_every`).
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 50_000;

/// How a Raft node is started.
#[derive(Clone, Debug)]
pub struct RaftSettings {
    /// This node's name (`--node-id`); its Raft id is [`raft_id`] of it.
    pub name: String,
    /// The URL peers reach this node at.
    pub url: String,
    /// `<data>`: the log goes to `<data>/raft-log`, the store to `<data>/state`.
    pub data_dir: PathBuf,
    pub search: SearchOptions,
    /// Entries between two snapshots (then the log is purged behind the snapshot, keeping a
    /// fifth of this); a follower further behind than the log catches up by snapshot.
    pub snapshot_every: u64,
    /// The bearer token sent with every peer message when the cluster runs with
    /// `--auth-token-file` (every member is started with the same file).
    pub peer_token: Option<String>,
    /// `--force-new-cluster`: start as the only member of the cluster, keeping this node's data
    /// (`recovery.rs`).
    pub force_new_cluster: bool,
    /// The address this node's connections to its peers leave from (`None`: the system
    /// picks). Set to the bound address when it is a specific one, so that a peer sees this
    /// node's messages come from the address it serves on: a firewall rule between two
    /// addresses then cuts both directions of a link (the partition tests need it on loopback,
    /// where every node would otherwise send from 127.0.0.1).
    pub local_address: Option<std::net::IpAddr>,
}

pub struct RaftNode {
    pub(super) me: Member,
    pub(super) id: u64,
    pub(super) raft: Raft<TypeConfig>,
    /// A handle on the state machine openraft drives, for reads (its store changes when a
    /// snapshot is installed, so it is asked each time).
    sm: StateMachine,
    pub(super) peers: PeerClient,
    fail: FailureInjector,
    watchdog: tokio::task::JoinHandle<()>,
    /// While a leadership transfer holds this node still: until when (see `become_primary`).
    hold: Arc<std::sync::Mutex<Option<Instant>>>,
    /// Times the leader this node knows changed (to another node or to none) since start.
    leader_changes: Arc<std::sync::atomic::AtomicU64>,
    leader_watch: tokio::task::JoinHandle<()>,
    /// Groups this node's proposals into log entries while it leads.
    proposer: Proposer,
    /// Shares leadership confirmations between concurrent linearizable reads.
    read_index: ReadIndex,
    /// `<data>`: where the removed marker goes (`members.rs`).
    pub(super) data_dir: PathBuf,
    /// Set once this node was removed from its cluster (for good: `<data>/REMOVED`); read by
    /// every request and by the election watchdog.
    pub(super) removed: Arc<AtomicBool>,
    /// Asks the members whether this node was removed while it heard no leader
    /// (`members::removal_watch`); aborted at close.
    removal_watch: tokio::task::JoinHandle<()>,
    /// Serializes membership changes while this node leads (`members.rs`).
    pub(super) gate: ChangeGate,
}

pub(super) fn unavailable(what: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(what.to_string())
}

pub(super) fn to_peer(e: ApiError) -> PeerError {
    PeerError {
        status: e.status().as_u16(),
        message: e.to_string(),
    }
}

pub(super) fn from_peer(e: PeerError) -> ApiError {
    match e.status {
        400 => ApiError::BadRequest(e.message),
        404 => ApiError::NotFound(e.message),
        409 => ApiError::Conflict(e.message),
        507 => ApiError::InsufficientStorage(e.message),
        500 => ApiError::Internal(e.message),
        _ => ApiError::Unavailable(e.message),
    }
}

/// The record of member `id` in `membership`, when there is one; 409 when that Raft id is
/// another name's (two names hashing alike).
pub(super) fn member_named<'a>(
    membership: &'a openraft::Membership<u64, Member>,
    id: u64,
    name: &str,
) -> Result<Option<&'a Member>, ApiError> {
    match membership.get_node(&id) {
        Some(existing) if existing.name != name => Err(ApiError::Conflict(format!(
            "{name} has the Raft id of member {}: choose another node id",
            existing.name
        ))),
        found => Ok(found),
    }
}

pub(super) fn normalize_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

impl RaftNode {
    /// Opens the log and the store under `settings.data_dir` and starts Raft. A node that was
    /// a member before resumes its place (the vote, log and membership are on disk); a new one
    /// waits, uninitialized, for `join`.
    pub async fn start(settings: RaftSettings, fail: FailureInjector) -> Result<RaftNode, String> {
        let id = raft_id(&settings.name);
        // Its cluster is the membership's (`cluster_id`), not part of its own settings.
        let me = Member {
            name: settings.name.clone(),
            url: normalize_url(&settings.url),
            cluster: String::new(),
        };
        let dir = settings.data_dir.clone();
        let search = settings.search.clone();
        let (mut log, mut sm) = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let log = LogStore::open(&dir.join("raft-log")).map_err(|e| e.to_string())?;
            let sm = StateMachine::open(&dir.join("state"), search).map_err(|e| e.to_string())?;
            Ok::<_, String>((log, sm))
        })
        .await
        .map_err(|e| e.to_string())??;
        if settings.force_new_cluster {
            match recovery::force_single_member(&mut log, &mut sm, id, &me).await? {
                Forced::NewMembership(at) => tracing::warn!(
                    node = %me.name, term = at.leader_id.term, index = at.index,
                    "--force-new-cluster: this node is now the only member of its cluster, with \
                     all its data; entries the old cluster may not have committed are kept and \
                     will be committed. Old members must join again with empty data directories. \
                     Remove the flag before the next restart"
                ),
                Forced::AlreadyAlone => tracing::warn!(
                    node = %me.name,
                    "--force-new-cluster: this node already is the only member; nothing changed \
                     (remove the flag)"
                ),
            }
        }
        let config = openraft::Config {
            cluster_name: "kvstore".into(),
            heartbeat_interval: HEARTBEAT_MS,
            election_timeout_min: ELECTION_MIN_MS,
            election_timeout_max: ELECTION_MAX_MS,
            // A snapshot is a checkpoint of the whole store: worth it only after many entries.
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(settings.snapshot_every),
            max_in_snapshot_log_to_keep: (settings.snapshot_every / 5).max(1),
            // openraft: above LogsSinceLast, or a snapshot cannot end a learner's lag.
            replication_lag_threshold: settings.snapshot_every * 2,
            ..Default::default()
        }
        .validate()
        .map_err(|e| format!("raft config: {e}"))?;
        let peers = PeerClient::new(settings.peer_token.as_deref(), settings.local_address)?;
        let network = Network {
            client: peers.clone(),
        };
        let raft = Raft::new(id, Arc::new(config), network, log, sm.clone())
            .await
            .map_err(|e| format!("cannot start raft: {e}"))?;
        // A node removed before it stopped stays removed: it must not campaign with the
        // configuration it still holds (`members.rs`).
        let removed = Arc::new(AtomicBool::new(members::was_removed(&settings.data_dir)));
        if removed.load(Ordering::SeqCst) {
            tracing::warn!("this node was removed from its cluster: it will not campaign");
            raft.runtime_config().elect(false);
        }
        let watchdog = tokio::spawn(election_watchdog(raft.clone(), id, Arc::clone(&removed)));
        let leader_changes = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let leader_watch = tokio::spawn(watch_metrics(
            raft.clone(),
            id,
            Arc::clone(&leader_changes),
            peers.clone(),
        ));
        let proposer = Proposer::start(raft.clone(), WRITE_TIMEOUT);
        let removal_watch = tokio::spawn(members::removal_watch(
            raft.clone(),
            peers.clone(),
            settings.name.clone(),
            settings.data_dir.clone(),
            Arc::clone(&removed),
        ));
        Ok(RaftNode {
            proposer,
            read_index: ReadIndex::default(),
            me,
            id,
            raft,
            sm,
            peers,
            fail,
            watchdog,
            hold: Arc::default(),
            leader_changes,
            leader_watch,
            data_dir: settings.data_dir,
            removed,
            removal_watch,
            gate: ChangeGate::default(),
        })
    }

    fn indexer(&self) -> Arc<Indexer> {
        self.sm.indexer()
    }

    /// The id of the cluster this node belongs to; empty before it has joined one.
    pub(super) fn cluster_id(&self) -> String {
        cluster_of(
            self.raft.metrics().borrow().membership_config.membership(),
            self.id,
        )
    }

    /// The leader as this node knows it: its id and member record.
    /// On every write and linearizable read: it reads the metrics in place (a whole clone
    /// would copy the replication map each time).
    fn leader(&self) -> Option<(u64, Member)> {
        let rx = self.raft.metrics();
        let m = rx.borrow();
        let id = m.current_leader?;
        let node = m.membership_config.membership().get_node(&id)?.clone();
        Some((id, node))
    }

    /// The leader, waiting up to [`LEADER_WAIT`] for one to be elected.
    pub(super) async fn wait_leader(&self) -> Result<(u64, Member), ApiError> {
        if self.is_removed() {
            return Err(members::removed_error(&self.me.name));
        }
        if let Some(l) = self.leader() {
            return Ok(l);
        }
        // A member just added learns its membership a moment after the leader counts it as
        // replicated (`join` returns then): wait that moment before calling it a stranger.
        let joined = self
            .raft
            .wait(Some(JOIN_GRACE))
            .metrics(has_members, "membership")
            .await
            .is_ok();
        if !joined {
            return Err(unavailable(format!(
                "node {} has not joined a cluster (raft mode): POST /cluster/join on it, or \
                 on a member, first",
                self.me.name
            )));
        }
        let _ = self
            .raft
            .wait(Some(LEADER_WAIT))
            .metrics(|m| m.current_leader.is_some(), "a leader")
            .await;
        self.leader().ok_or_else(|| {
            unavailable(format!(
                "no leader: no quorum of the cluster elected one within {LEADER_WAIT:?}"
            ))
        })
    }

    pub(super) fn initialized(&self) -> bool {
        has_members(&self.raft.metrics().borrow())
    }

    /// 503 while a leadership transfer holds this node still: a primary handing over must
    /// neither append (an entry would renew the followers' leases and defeat the transfer) nor
    /// serve a read it may no longer be entitled to.
    pub(super) fn check_not_held(&self) -> Result<(), ApiError> {
        let hold = *self.hold.lock().unwrap_or_else(|e| e.into_inner());
        match hold {
            Some(until) if Instant::now() < until => Err(unavailable(
                "leadership transfer in progress; retry in a moment",
            )),
            _ => Ok(()),
        }
    }

    /// Holds this node still for a leadership transfer to `req.target`; on the primary, only
    /// once the target has every entry (waiting up to [`CATCH_UP_WAIT`] for it: under writes a
    /// follower is routinely an entry or two behind). Lifted by `release` or when the time
    /// runs out.
    async fn hold_for(&self, req: &HoldRequest) -> Result<(), ApiError> {
        let leads = self.raft.metrics().borrow().current_leader == Some(self.id);
        if leads {
            self.wait_target_caught_up(req.target).await?;
        }
        let millis = req.millis.min(TRANSFER_DEADLINE.as_millis() as u64);
        let until = Instant::now() + Duration::from_millis(millis);
        *self.hold.lock().unwrap_or_else(|e| e.into_inner()) = Some(until);
        let rc = self.raft.runtime_config();
        if req.quiet {
            rc.heartbeat(false);
        }
        rc.elect(false);
        let (raft, hold) = (self.raft.clone(), Arc::clone(&self.hold));
        tokio::spawn(async move {
            tokio::time::sleep_until(until.into()).await;
            release(&raft, &hold, Some(until));
        });
        if leads {
            // Writes already past the hold check may have appended while the target caught
            // up: it must hold those too (no new one can start now).
            if let Err(e) = self.wait_target_caught_up(req.target).await {
                release(&self.raft, &self.hold, Some(until));
                return Err(e);
            }
        }
        Ok(())
    }

    /// On the primary: waits up to [`CATCH_UP_WAIT`] until `target` holds every entry this
    /// node has now; 409 saying how far behind it is otherwise.
    async fn wait_target_caught_up(&self, target: u64) -> Result<(), ApiError> {
        let last = self.raft.metrics().borrow().last_log_index.unwrap_or(0);
        let matched = |m: &openraft::RaftMetrics<u64, Member>| {
            m.replication
                .as_ref()
                .and_then(|r| r.get(&target).copied().flatten())
                .map_or(0, |l| l.index)
        };
        let caught_up = self
            .raft
            .wait(Some(CATCH_UP_WAIT))
            .metrics(|m| matched(m) >= last, "the target caught up")
            .await;
        if caught_up.is_err() {
            let behind = last.saturating_sub(matched(&self.raft.metrics().borrow()));
            return Err(ApiError::Conflict(format!(
                "the target is not caught up: {behind} entries behind the primary after \
                 {CATCH_UP_WAIT:?}"
            )));
        }
        Ok(())
    }

    /// Proposes `op` as this node (the leader), grouped with the writes proposed meanwhile
    /// (`proposer.rs`), and waits for it to be applied.
    async fn propose_here(&self, op: PreparedOp) -> Result<Response, ApiError> {
        self.check_not_held()?;
        self.proposer.propose(op).await
    }

    /// Proposes `op` through the leader, wherever it is.
    async fn propose(&self, op: PreparedOp) -> Result<Response, ApiError> {
        let (leader, node) = self.wait_leader().await?;
        if leader == self.id {
            return self.propose_here(op).await;
        }
        let answer: Result<Response, PeerError> = self
            .peers
            .call(&node.url, RPC_WRITE, &op, WRITE_TIMEOUT)
            .await
            .map_err(|e| unavailable(format!("cannot reach the leader {}: {e}", node.name)))?;
        answer.map_err(from_peer)
    }

    /// Confirms this node still leads (a quorum round started after the call, shared with the
    /// reads that arrived meanwhile: `read_index.rs`) and waits until it has applied up to its
    /// commit index as of that round; answers that index (the read index).
    async fn confirm_leadership(&self) -> Result<Option<u64>, ApiError> {
        self.check_not_held()?;
        let raft = self.raft.clone();
        self.read_index
            .get(move || {
                let raft = raft.clone();
                async move {
                    match tokio::time::timeout(READ_TIMEOUT, raft.ensure_linearizable()).await {
                        Err(_) => Err(unavailable(format!(
                            "no quorum: leadership not confirmed within {READ_TIMEOUT:?}"
                        ))),
                        Ok(Err(RaftError::APIError(
                            openraft::error::CheckIsLeaderError::ForwardToLeader(f),
                        ))) => Err(not_leader(&f)),
                        Ok(Err(e)) => Err(unavailable(format!("read failed: {e}"))),
                        Ok(Ok(read)) => Ok(read.map(|l| l.index)),
                    }
                    .map_err(to_peer)
                }
            })
            .await
            .map_err(from_peer)
    }

    /// A linearizable read of `key` served here (this node must lead).
    async fn read_here(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>, ApiError> {
        self.confirm_leadership().await?;
        let ix = self.indexer();
        // Inline on the worker, as standalone GET (`standalone::get`: the measured reason).
        Ok(ix.db().get(&key)?)
    }

    /// Before `member` is added: asks it who it is. Adding a node that cannot be reached,
    /// refuses our token, is another node or belongs to another cluster would otherwise wait
    /// out the whole catch-up timeout, or worse.
    pub(super) async fn check_newcomer(&self, member: &Member) -> Result<(), ApiError> {
        let name = &member.name;
        let hello: Member = self
            .peers
            .call(&member.url, RPC_HELLO, &(), HELLO_TIMEOUT)
            .await
            .map_err(|e| unavailable(format!("cannot reach {name} at {}: {e}", member.url)))?;
        if hello.name != *name {
            return Err(ApiError::Conflict(format!(
                "{} is node {:?}, not {name:?}",
                member.url, hello.name
            )));
        }
        if !hello.cluster.is_empty() && hello.cluster != member.cluster {
            return Err(ApiError::Conflict(format!(
                "{name} at {} already belongs to another cluster ({}): remove it there, or \
                 start it with an empty data directory, before adding it here",
                member.url, hello.cluster
            )));
        }
        Ok(())
    }

    /// Waits until member `id` holds the entry `at` that made it a voter: a join answers then,
    /// so that the new member serves (and forwards) requests as soon as the caller hears back.
    pub(super) async fn wait_promoted(
        &self,
        id: u64,
        name: &str,
        at: u64,
        timeout: Duration,
    ) -> Result<(), ApiError> {
        self.raft
            .wait(Some(timeout))
            .metrics(
                |m| {
                    m.replication
                        .as_ref()
                        .and_then(|r| r.get(&id).copied().flatten())
                        .is_some_and(|l| l.index >= at)
                },
                format!("{name} has the new membership"),
            )
            .await
            .map_err(|e| unavailable(format!("{name} did not receive its promotion: {e}")))?;
        Ok(())
    }

    async fn join_here(&self, peers: Vec<(String, String)>) -> Result<Value, ApiError> {
        // Waits for a change in progress rather than refusing: the seed's callers never had a
        // 409 for that.
        let _gate = self.gate.begin("the seed's join".into()).await;
        for (name, url) in peers {
            let id = raft_id(&name);
            let member = Member {
                name: name.clone(),
                url: normalize_url(&url),
                cluster: self.cluster_id(),
            };
            let m = self.raft.metrics().borrow().clone();
            let membership = m.membership_config.membership().clone();
            member_named(&membership, id, &name)?;
            let voters: BTreeSet<u64> = membership.voter_ids().collect();
            if voters.contains(&id) {
                continue;
            }
            self.check_newcomer(&member).await?;
            let added = tokio::time::timeout(
                JOIN_TIMEOUT,
                self.raft.add_learner(id, member.clone(), true),
            )
            .await;
            match added {
                Err(_) => {
                    return Err(unavailable(format!(
                        "{name} at {} did not catch up within {JOIN_TIMEOUT:?}",
                        member.url
                    )))
                }
                Ok(Err(e)) => {
                    return Err(unavailable(format!(
                        "cannot add {name} at {}: {e}",
                        member.url
                    )))
                }
                Ok(Ok(_)) => {}
            }
            let mut new_voters = voters;
            new_voters.insert(id);
            let changed =
                tokio::time::timeout(JOIN_TIMEOUT, self.raft.change_membership(new_voters, false))
                    .await
                    .map_err(|_| unavailable(format!("promoting {name} timed out")))?
                    .map_err(|e| unavailable(format!("cannot promote {name}: {e}")))?;
            self.wait_promoted(id, &name, changed.log_id.index, JOIN_TIMEOUT)
                .await?;
            tracing::info!(%name, url = %member.url, "member added");
        }
        Ok(json!({ "ok": true, "members": self.members_json() }))
    }

    pub(super) fn members_json(&self) -> Vec<Value> {
        let m = self.raft.metrics().borrow().clone();
        let voters: BTreeSet<u64> = m.membership_config.voter_ids().collect();
        let matched: BTreeMap<u64, Option<u64>> = m
            .replication
            .as_ref()
            .map(|r| r.iter().map(|(id, l)| (*id, l.map(|l| l.index))).collect())
            .unwrap_or_default();
        let last = m.last_log_index.unwrap_or(0);
        m.membership_config
            .nodes()
            .map(|(id, n)| {
                let mut v = json!({
                    "node_id": n.name,
                    "url": n.url,
                    "voter": voters.contains(id),
                });
                if let Some(mi) = matched.get(id) {
                    let mi = mi.unwrap_or(0);
                    v["matched_index"] = json!(mi);
                    v["lag"] = json!(last.saturating_sub(mi));
                }
                v
            })
            .collect()
    }

    async fn write_with_failpoint(
        &self,
        debug_fail: bool,
        op: PreparedOp,
    ) -> Result<Response, ApiError> {
        match self.fail.pick(debug_fail) {
            None => self.propose(op).await,
            Some(FailPoint::BeforeWrite) => Err(ApiError::SimulatedFailure),
            Some(FailPoint::AfterWrite) => {
                self.propose(op).await?;
                Err(ApiError::SimulatedFailure)
            }
        }
    }

    async fn prepare(
        &self,
        docs: Vec<(String, String, Option<Vec<f32>>)>,
    ) -> Result<PreparedOp, ApiError> {
        let ix = self.indexer();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(docs.len());
            for (k, v, vector) in docs {
                out.push(ix.prepare_doc(k.into_bytes(), v.into_bytes(), vector)?);
            }
            Ok(PreparedOp::Put(out))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("prepare task failed: {e}")))?
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Indexer) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let ix = self.indexer();
        tokio::task::spawn_blocking(move || f(&ix))
            .await
            .map_err(|e| ApiError::Internal(format!("storage task failed: {e}")))?
    }

    /// Serves a peer's request; the answer is CBOR.
    async fn serve_peer(&self, rpc: &str, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        if let Some(answer) = self.serve_member_rpc(rpc, body).await {
            return answer;
        }
        let bad = |e: String| ApiError::BadRequest(e);
        let enc = |r: Result<Vec<u8>, String>| r.map_err(ApiError::Internal);
        match rpc {
            RPC_APPEND => {
                let req = decode(body).map_err(bad)?;
                enc(encode(&self.raft.append_entries(req).await))
            }
            RPC_VOTE => {
                let req = decode(body).map_err(bad)?;
                enc(encode(&self.raft.vote(req).await))
            }
            RPC_SNAPSHOT => {
                let req = decode(body).map_err(bad)?;
                enc(encode(&self.raft.install_snapshot(req).await))
            }
            RPC_WRITE => {
                let op: PreparedOp = decode(body).map_err(bad)?;
                enc(encode(&self.propose_here(op).await.map_err(to_peer)))
            }
            RPC_READ => {
                let key: Vec<u8> = decode(body).map_err(bad)?;
                enc(encode(&self.read_here(key).await.map_err(to_peer)))
            }
            RPC_READ_INDEX => enc(encode(&self.confirm_leadership().await.map_err(to_peer))),
            RPC_JOIN => {
                let peers: Vec<(String, String)> = decode(body).map_err(bad)?;
                let r = self.join_here(peers).await.map_err(to_peer);
                enc(encode(&r.map(|v| v.to_string())))
            }
            // A removed node refuses to be added again: its log is the old cluster's, and its
            // marker would keep it from serving anyway (start it with an empty data directory).
            RPC_HELLO if self.is_removed() => Err(ApiError::Conflict(
                members::removed_error(&self.me.name).to_string(),
            )),
            RPC_HELLO => enc(encode(&Member {
                cluster: self.cluster_id(),
                ..self.me.clone()
            })),
            RPC_HOLD | RPC_RELEASE if self.is_removed() => Err(ApiError::Conflict(
                members::removed_error(&self.me.name).to_string(),
            )),
            RPC_HOLD => {
                let req: HoldRequest = decode(body).map_err(bad)?;
                enc(encode(&self.hold_for(&req).await.map_err(to_peer)))
            }
            RPC_RELEASE => {
                release(&self.raft, &self.hold, None);
                enc(encode(&()))
            }
            other => Err(ApiError::NotFound(format!("no peer RPC {other:?}"))),
        }
    }
}

/// Ends a hold (`only` a given one: a timer does not end a later hold), resuming heartbeats and
/// campaigns.
fn release(
    raft: &Raft<TypeConfig>,
    hold: &std::sync::Mutex<Option<Instant>>,
    only: Option<Instant>,
) {
    let mut h = hold.lock().unwrap_or_else(|e| e.into_inner());
    if only.is_some() && *h != only {
        return;
    }
    *h = None;
    let rc = raft.runtime_config();
    rc.heartbeat(true);
    rc.elect(true);
}

/// Whether the node has a membership (has joined or formed a cluster).
fn has_members(m: &openraft::RaftMetrics<u64, Member>) -> bool {
    m.membership_config.nodes().next().is_some()
}

pub(super) fn not_leader(f: &ForwardToLeader<u64, Member>) -> ApiError {
    match &f.leader_node {
        Some(n) => unavailable(format!(
            "leadership moved to {} while the request was served; retry",
            n.name
        )),
        None => unavailable("no leader at the moment; retry"),
    }
}

/// Counts every change of the leader this node knows, from openraft's metrics channel (each
/// change is published there, so none is missed between two scrapes).
/// Follows openraft's metrics: counts leader changes, and keeps the cluster id the peer client
/// sends in step with the membership.
async fn watch_metrics(
    raft: Raft<TypeConfig>,
    id: u64,
    count: Arc<std::sync::atomic::AtomicU64>,
    peers: PeerClient,
) {
    let mut rx = raft.metrics();
    let mut last = rx.borrow().current_leader;
    // The metrics change on every applied entry; the cluster id only with the membership.
    let mut membership_at = None;
    loop {
        let (now, cluster) = {
            let m = rx.borrow_and_update();
            let at = *m.membership_config.log_id();
            let cluster = (membership_at != Some(at)).then(|| {
                membership_at = Some(at);
                cluster_of(m.membership_config.membership(), id)
            });
            (m.current_leader, cluster)
        };
        if let Some(c) = cluster {
            peers.set_cluster(&c);
        }
        if now != last {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            last = now;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// DESIGN.md trap 1: openraft 0.9 draws each node's election timeout once, so after a split
/// vote two survivors can campaign in lockstep forever. When no leader has been known for
/// longer than the election timeout, wait a fresh random delay and campaign.
async fn election_watchdog(raft: Raft<TypeConfig>, id: u64, removed: Arc<AtomicBool>) {
    let mut leaderless_since: Option<Instant> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(HEARTBEAT_MS)).await;
        let m = raft.metrics().borrow().clone();
        if m.running_state.is_err() {
            return;
        }
        let voter = m.membership_config.voter_ids().any(|v| v == id);
        // A removed node still holds a configuration that names it a voter: it must not act on
        // it (`members.rs`). Its campaigns stay off even if a leadership-transfer hold from
        // before its removal ends now and turns them back on.
        if removed.load(Ordering::SeqCst) {
            raft.runtime_config().elect(false);
            leaderless_since = None;
            continue;
        }
        if m.current_leader.is_some() || !voter {
            leaderless_since = None;
            continue;
        }
        let since = *leaderless_since.get_or_insert_with(Instant::now);
        if since.elapsed() > Duration::from_millis(ELECTION_MAX_MS) {
            let jitter = rand::thread_rng().gen_range(0..ELECTION_MIN_MS);
            tokio::time::sleep(Duration::from_millis(jitter)).await;
            if raft.metrics().borrow().current_leader.is_none() {
                tracing::info!("no leader for a while: campaigning with a fresh random delay");
                let _ = raft.trigger().elect().await;
            }
            leaderless_since = None;
        }
    }
}

#[async_trait]
impl Node for RaftNode {
    async fn get(&self, key: String, consistency: Consistency) -> Result<Option<String>, ApiError> {
        let key = key.into_bytes();
        let value = match consistency {
            Consistency::Stale => {
                let ix = self.indexer();
                ix.db().get(&key)?
            }
            Consistency::Linearizable => {
                let (leader, node) = self.wait_leader().await?;
                if leader == self.id {
                    self.read_here(key).await?
                } else {
                    let answer: Result<Option<Vec<u8>>, PeerError> = self
                        .peers
                        .call(&node.url, RPC_READ, &key, READ_TIMEOUT)
                        .await
                        .map_err(|e| {
                            unavailable(format!("cannot reach the leader {}: {e}", node.name))
                        })?;
                    answer.map_err(from_peer)?
                }
            }
        };
        Ok(value.map(utf8))
    }

    async fn set(&self, req: SetRequest) -> Result<(), ApiError> {
        let op = self.prepare(vec![(req.key, req.value, req.vector)]).await?;
        self.write_with_failpoint(req.debug_fail, op).await?;
        Ok(())
    }

    async fn delete(&self, key: String, debug_fail: bool) -> Result<bool, ApiError> {
        let op = PreparedOp::Delete(vec![key.into_bytes()]);
        let r = self.write_with_failpoint(debug_fail, op).await?;
        Ok(r.deleted.unwrap_or(0) > 0)
    }

    async fn bulk_set(
        &self,
        items: Vec<(String, String)>,
        debug_fail: bool,
    ) -> Result<(), ApiError> {
        let op = self
            .prepare(items.into_iter().map(|(k, v)| (k, v, None)).collect())
            .await?;
        self.write_with_failpoint(debug_fail, op).await?;
        Ok(())
    }

    async fn read_barrier(&self, consistency: Consistency) -> Result<(), ApiError> {
        if consistency == Consistency::Stale {
            return Ok(());
        }
        let (leader, node) = self.wait_leader().await?;
        if leader == self.id {
            self.confirm_leadership().await?;
            return Ok(());
        }
        let answer: Result<Option<u64>, PeerError> = self
            .peers
            .call(&node.url, RPC_READ_INDEX, &(), READ_TIMEOUT)
            .await
            .map_err(|e| unavailable(format!("cannot reach the leader {}: {e}", node.name)))?;
        if let Some(index) = answer.map_err(from_peer)? {
            self.raft
                .wait(Some(READ_TIMEOUT))
                .applied_index_at_least(Some(index), "the read index")
                .await
                .map_err(|e| {
                    unavailable(format!(
                        "this replica did not apply up to the leader's read index {index} \
                         within {READ_TIMEOUT:?}: {e}"
                    ))
                })?;
        }
        Ok(())
    }

    async fn scan(&self, req: ScanRequest) -> Result<ScanPage, ApiError> {
        self.blocking(move |ix| scan_page(ix, &req)).await
    }

    async fn search(&self, query: String, k: usize) -> Result<Vec<SearchHit>, ApiError> {
        self.blocking(move |ix| Ok(hits(ix.search(&query, k, false)?)))
            .await
    }

    async fn semantic_search(
        &self,
        query: SemanticQuery,
        k: usize,
    ) -> Result<Vec<SearchHit>, ApiError> {
        self.blocking(move |ix| {
            if let SemanticQuery::Vector(v) = &query {
                if v.len() != ix.dimension() {
                    return Err(ApiError::BadRequest(format!(
                        "vector has {} dimensions; this node's embeddings have {}",
                        v.len(),
                        ix.dimension()
                    )));
                }
            }
            Ok(hits(match query {
                SemanticQuery::Text(q) => ix.semantic_search(&q, k)?,
                SemanticQuery::Vector(v) => ix.semantic_search_vector(&v, k)?,
            }))
        })
        .await
    }

    async fn health(&self) -> Result<Health, ApiError> {
        let m = self.raft.metrics().borrow().clone();
        if let Err(e) = &m.running_state {
            return Err(unavailable(format!("raft stopped: {e}")));
        }
        self.blocking(|ix| {
            ix.db()
                .health()
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            Ok(Health::Ok)
        })
        .await
    }

    fn status(&self) -> ClusterStatus {
        let m = self.raft.metrics().borrow().clone();
        let voter = m.membership_config.voter_ids().any(|v| v == self.id);
        let removed = self.is_removed();
        let role = if removed {
            "removed"
        } else if !self.initialized() {
            "uninitialized"
        } else {
            match m.state {
                ServerState::Leader => "primary",
                ServerState::Candidate => "candidate",
                ServerState::Follower if voter => "secondary",
                ServerState::Learner | ServerState::Follower => "learner",
                ServerState::Shutdown => "shutdown",
            }
        };
        // A removed node's idea of the leader is the one it last heard of: not worth showing.
        let leader = if removed { None } else { self.leader() };
        let mut details = serde_json::Map::new();
        details.insert("term".into(), json!(m.current_term));
        details.insert(
            "leader_id".into(),
            json!(leader.as_ref().map(|(_, n)| n.name.clone())),
        );
        details.insert(
            "leader_url".into(),
            json!(leader.as_ref().map(|(_, n)| n.url.clone())),
        );
        details.insert("url".into(), json!(self.me.url));
        details.insert("last_log_index".into(), json!(m.last_log_index));
        details.insert(
            "applied_index".into(),
            json!(m.last_applied.map(|l| l.index)),
        );
        details.insert("members".into(), json!(self.members_json()));
        ClusterStatus {
            node_id: self.me.name.clone(),
            mode: "raft".into(),
            role: role.into(),
            details,
        }
    }

    fn cluster_stats(&self) -> Vec<(&'static str, f64)> {
        let m = self.raft.metrics().borrow().clone();
        let last = m.last_log_index.unwrap_or(0);
        let lag = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .filter(|(id, _)| **id != self.id)
                    .map(|(_, l)| last.saturating_sub(l.map_or(0, |l| l.index)))
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        let voters = m.membership_config.voter_ids().count();
        let nodes = m.membership_config.nodes().count();
        vec![
            ("term", m.current_term as f64),
            (
                "is_leader",
                f64::from(u8::from(m.current_leader == Some(self.id))),
            ),
            (
                "leader_changes",
                self.leader_changes
                    .load(std::sync::atomic::Ordering::Relaxed) as f64,
            ),
            ("last_log_index", last as f64),
            (
                "applied_index",
                m.last_applied.map_or(0, |l| l.index) as f64,
            ),
            ("snapshot_index", m.snapshot.map_or(0, |l| l.index) as f64),
            ("purged_index", m.purged.map_or(0, |l| l.index) as f64),
            ("max_follower_lag", lag as f64),
            ("voters", voters as f64),
            ("learners", (nodes - voters) as f64),
        ]
    }

    async fn join(&self, peers: Vec<(String, String)>) -> Result<Value, ApiError> {
        if self.is_removed() {
            return Err(ApiError::Conflict(
                members::removed_error(&self.me.name).to_string(),
            ));
        }
        if !self.initialized() {
            let mut members = BTreeMap::new();
            let me = Member {
                cluster: new_cluster_id(&self.me.name),
                ..self.me.clone()
            };
            members.insert(self.id, me);
            self.raft
                .initialize(members)
                .await
                .map_err(|e| unavailable(format!("cannot initialize the cluster: {e}")))?;
            self.raft
                .wait(Some(Duration::from_secs(10)))
                .current_leader(self.id, "leader of a new cluster")
                .await
                .map_err(|e| unavailable(format!("no leader after initializing: {e}")))?;
            tracing::info!(name = %self.me.name, "initialized a new cluster");
        }
        let (leader, node) = self.wait_leader().await?;
        if leader == self.id {
            return self.join_here(peers).await;
        }
        let answer: Result<String, PeerError> = self
            .peers
            .call(&node.url, RPC_JOIN, &peers, JOIN_TIMEOUT)
            .await
            .map_err(|e| unavailable(format!("cannot reach the leader {}: {e}", node.name)))?;
        let text = answer.map_err(from_peer)?;
        serde_json::from_str(&text).map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// Leadership transfer built from openraft 0.9's public controls (it has none of its own):
    /// the primary checks that this node has every entry, then stops campaigns, writes and
    /// linearizable reads (and its heartbeats, when more than three voters need followers'
    /// votes); the other voters stop campaigning; this node campaigns until it wins or until
    /// [`TRANSFER_DEADLINE`]. Then everyone resumes (at the deadline at the latest, by
    /// itself). No read is served by the old primary in between.
    async fn become_primary(&self) -> Result<Value, ApiError> {
        if self.is_removed() {
            return Err(ApiError::Conflict(
                members::removed_error(&self.me.name).to_string(),
            ));
        }
        let started = Instant::now();
        let (leader, leader_node) = self.wait_leader().await?;
        if leader == self.id {
            return Ok(json!({ "ok": true, "role": "primary", "node_id": self.me.name }));
        }
        let m = self.raft.metrics().borrow().clone();
        if !m.membership_config.voter_ids().any(|v| v == self.id) {
            return Err(ApiError::Conflict(format!(
                "{} is not a voter: only a voter can become primary",
                self.me.name
            )));
        }
        let others: Vec<Member> = m
            .membership_config
            .nodes()
            .filter(|(id, _)| **id != self.id && **id != leader)
            .map(|(_, n)| n.clone())
            .collect();
        // The primary, which keeps no lease on itself, votes for the target at once; with
        // three voters that is a quorum. More voters need followers' votes too, which come
        // only once their leases on the primary lapse: then the primary must go quiet.
        let voters = m.membership_config.voter_ids().count();
        let req = HoldRequest {
            target: self.id,
            millis: TRANSFER_DEADLINE.as_millis() as u64,
            quiet: 2 < voters / 2 + 1,
        };
        let held: Result<(), PeerError> = self
            .peers
            .call(&leader_node.url, RPC_HOLD, &req, HELLO_TIMEOUT)
            .await
            .map_err(|e| unavailable(format!("cannot reach the primary: {e}")))?;
        held.map_err(from_peer)?;
        for n in &others {
            // Best effort: a voter that cannot be reached cannot campaign against us either.
            let _: Result<Result<(), PeerError>, _> =
                self.peers.call(&n.url, RPC_HOLD, &req, HELLO_TIMEOUT).await;
        }
        let deadline = started + TRANSFER_DEADLINE;
        let mut won = false;
        while Instant::now() < deadline {
            let _ = self.raft.trigger().elect().await;
            let wait = Duration::from_millis(ELECTION_MIN_MS / 2)
                .min(deadline.saturating_duration_since(Instant::now()));
            if self
                .raft
                .wait(Some(wait))
                .current_leader(self.id, "leadership transfer")
                .await
                .is_ok()
            {
                won = true;
                break;
            }
        }
        for n in others.iter().chain([&leader_node]) {
            let _: Result<(), _> = self
                .peers
                .call(&n.url, RPC_RELEASE, &(), HELLO_TIMEOUT)
                .await;
        }
        if won {
            tracing::info!(took = ?started.elapsed(), "leadership transferred here");
            Ok(json!({
                "ok": true,
                "role": "primary",
                "node_id": self.me.name,
                "took_ms": started.elapsed().as_millis() as u64,
            }))
        } else {
            Err(unavailable(format!(
                "{} did not win an election within {TRANSFER_DEADLINE:?}; the primary resumes",
                self.me.name
            )))
        }
    }

    async fn join_via(&self, via: String) -> Result<Value, ApiError> {
        self.join_via_here(via).await
    }

    async fn remove_member(&self, node_id: String) -> Result<Value, ApiError> {
        self.remove_member_here(node_id).await
    }

    async fn flush(&self) -> Result<(), ApiError> {
        self.blocking(|ix| Ok(ix.db().flush()?)).await
    }

    async fn compact(&self) -> Result<(), ApiError> {
        self.blocking(|ix| Ok(ix.db().compact_range(None, None)?))
            .await
    }

    async fn stats(&self) -> Result<kvstore_engine::DbStats, ApiError> {
        self.blocking(|ix| Ok(ix.db().stats())).await
    }

    async fn checkpoint(&self, dir: PathBuf) -> Result<kvstore_engine::Checkpoint, ApiError> {
        self.blocking(move |ix| Ok(ix.db().checkpoint(&dir)?)).await
    }

    async fn peer(
        &self,
        rpc: String,
        cluster: Option<String>,
        body: Bytes,
    ) -> Result<Vec<u8>, ApiError> {
        // "Who are you?" is answered to anyone: it is how a join finds out that a node belongs
        // to another cluster, and says so.
        if let Some(theirs) = cluster.filter(|_| rpc != RPC_HELLO) {
            // The id the peer client sends: kept in step with the membership by
            // `watch_metrics`, so checking it costs a read lock, not a metrics snapshot.
            if let Some(mine) = self.peers.other_cluster(&theirs) {
                return Err(ApiError::Conflict(format!(
                    "node {} belongs to cluster {mine}; this message came from a node of \
                     cluster {theirs} (another cluster, or a data directory reused across \
                     clusters)",
                    self.me.name
                )));
            }
        }
        self.serve_peer(&rpc, &body).await
    }

    async fn close(&self) -> Result<(), kvstore_engine::Error> {
        self.watchdog.abort();
        self.leader_watch.abort();
        self.removal_watch.abort();
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
        let ix = self.indexer();
        tokio::task::spawn_blocking(move || match ix.close() {
            Ok(()) => Ok(()),
            Err(kvstore_search::Error::Engine(e)) => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "closing the store");
                Ok(())
            }
        })
        .await
        .unwrap_or(Ok(()))
    }
}
