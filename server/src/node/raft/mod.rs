//! Raft mode: the node, its peer network, and the two storage halves openraft 0.9 asks of an
//! application (`storage-v2`).
//!
//! - [`LogStore`]: the Raft log, the vote and the committed id, in an engine database of their
//!   own (`<data>/raft-log`), each append fsynced before openraft is told it is durable.
//! - [`StateMachine`]: the document store ([`kvstore_search::Indexer`]) applying each entry's
//!   [`PreparedOp`] deterministically, with the entry's log id and the cluster membership
//!   written as the store's applied position in the same batch — so after a crash the store
//!   says exactly which entry it reflects, and no entry is applied twice or skipped. Its
//!   snapshots are engine checkpoints packed into one file (`snapshot_file`).
//! - [`RaftNode`] (`node.rs`): the [`crate::node::Node`] of `--mode raft` — writes through
//!   the leader, linearizable reads, membership, the election watchdog.
//! - `network.rs`: peer messages over HTTP (`POST /raft/<rpc>`, CBOR, one pooled client).
//! - [`members`]: joining through a member, removing a member, and the removed state (etcd's
//!   `member add` / `member remove`), with the quorum checks they make first.
//!
//! Guarantees and what is not built yet: `docs/consistency.md`; formats: `docs/formats/raft.md`.

// openraft's traits fix the error type (`StorageError`, 200+ bytes); the helpers return it too.
#![allow(clippy::result_large_err)]

mod log_store;
pub mod members;
pub mod network;
mod node;
mod proposer;
mod read_index;
mod recovery;
mod snapshot_file;
mod state_machine;

pub use log_store::LogStore;
pub use node::{RaftNode, RaftSettings, DEFAULT_SNAPSHOT_EVERY};
pub use state_machine::StateMachine;

use kvstore_search::PreparedOp;
use serde::{Deserialize, Serialize};
#[allow(unused_imports)]
use std::io::Cursor;

openraft::declare_raft_types!(
    /// The Raft types of a KVStore cluster.
    pub TypeConfig:
        D = Request,
        R = Responses,
        NodeId = u64,
        Node = Member,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
);

/// What a log entry carries: the writes the leader grouped into it (`proposer.rs`), each
/// prepared once by the node it was sent to (tokens, embedding) and applied as it is by every
/// replica, in order, each as its own atomic batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredRequest")]
pub struct Request {
    pub ops: Vec<PreparedOp>,
}

/// A [`Request`] as logs hold it: entries written before writes were grouped carry one `op`;
/// they still read back (and replay) after an upgrade. A plain struct, not an untagged enum:
/// serde buffers an untagged enum's whole input before choosing (every byte of a key and value
/// a node of its own), which cost the leader about 6 % of its CPU under writes (perf).
#[derive(Deserialize)]
struct StoredRequest {
    #[serde(default)]
    ops: Option<Vec<PreparedOp>>,
    #[serde(default)]
    op: Option<PreparedOp>,
}

impl TryFrom<StoredRequest> for Request {
    type Error = &'static str;

    fn try_from(r: StoredRequest) -> Result<Request, Self::Error> {
        match (r.ops, r.op) {
            (Some(ops), None) => Ok(Request { ops }),
            (None, Some(op)) => Ok(Request { ops: vec![op] }),
            _ => Err(
                "a log entry's request carries either \"ops\" or (written before grouping) \"op\"",
            ),
        }
    }
}

/// A member of the cluster as the membership config records it: its name (`--node-id`) and the
/// URL its peers and forwarded requests reach it at. Its Raft id is [`raft_id`] of the name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub url: String,
    /// The id of the cluster it was added to, drawn when the cluster was initialized; every
    /// peer message carries it, and a node of another cluster is refused. Empty in records
    /// written before cluster ids existed (such a cluster checks nothing) and in the answer of a
    /// node that belongs to no cluster yet.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
}

/// A new cluster's id: 64 random-enough bits (time, process, name), in hex.
pub fn new_cluster_id(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!("{name}/{nanos}/{}", std::process::id());
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(seed.as_bytes()))
}

/// The cluster id recorded in `membership`: this node's record's, else any member's.
pub fn cluster_of(membership: &openraft::Membership<u64, Member>, id: u64) -> String {
    membership
        .get_node(&id)
        .map(|m| m.cluster.clone())
        .filter(|c| !c.is_empty())
        .or_else(|| {
            membership
                .nodes()
                .map(|(_, m)| m.cluster.clone())
                .find(|c| !c.is_empty())
        })
        .unwrap_or_default()
}

impl std::fmt::Display for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.url)
    }
}

/// The Raft id of the node named `name`: a 64-bit hash, so operators deal in names and two
/// nodes never need to agree on a numbering. (Two names colliding is a 2⁻⁶⁴ event; `join`
/// refuses a name whose id is already a member under another name.)
pub fn raft_id(name: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(name.as_bytes())
}

/// What applying one operation answered. An operation the store refuses (a malformed prepared
/// document) is refused identically on every replica; the refusal is the answer, and the entry
/// still counts as applied.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub error: Option<String>,
    /// For a delete: how many of its keys held a document when it was applied.
    #[serde(default)]
    pub deleted: Option<u64>,
}

/// What applying an entry answered: one [`Response`] per operation, in the entry's order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Responses {
    pub results: Vec<Response>,
}

/// The Raft storage error of this node type.
pub type StorageError = openraft::StorageError<u64>;
