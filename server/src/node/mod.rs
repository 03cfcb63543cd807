//! The [`Node`] trait: what the routes ask of a node, whatever its cluster mode.
//!
//! Routes validate the request (sizes, types), then call a `Node`; they never touch the engine.
//! A mode decides where a write goes and how a read is served. Implementations:
//! - [`StandaloneNode`]: one process, writes through `kvstore_search::Indexer` into the local
//!   engine; concurrent plain `/set`s share one batch and fsync (`group_commit`).
//! - [`raft::RaftNode`]: the same store replicated by openraft; writes go through the leader.
//! - masterless: not yet built (`--mode masterless` is refused at start-up).
//!
//! # To ensure correctness, an implementation must
//! 1. answer `Ok` to a write only once it is durable (survives kill -9 and power loss);
//! 2. apply a write — a document with every index change it causes, or a whole bulk — all or
//!    nothing, so a failure (real or injected by `debug_fail`) never leaves half of it;
//! 3. never block the async runtime: engine calls go to blocking threads (`spawn_blocking`) —
//!    except point reads, inline for speed (see `StandaloneNode::get`: a known gap);
//! 4. map every failure to an [`ApiError`], never panic on client input;
//! 5. make a checkpoint a copy of the whole node (data and every index) as of one point of its
//!    history — every write acknowledged before the call, none it never applied — while it
//!    keeps serving.

mod fail;
mod group_commit;
pub mod raft;
pub(crate) mod standalone;

pub use fail::{FailPoint, FailureInjector};
pub use standalone::StandaloneNode;

use crate::error::ApiError;
use async_trait::async_trait;
use serde::Serialize;
use std::path::PathBuf;

/// A document write: `value` under `key`, optionally with a caller-supplied embedding.
#[derive(Clone, Debug)]
pub struct SetRequest {
    pub key: String,
    pub value: String,
    pub vector: Option<Vec<f32>>,
    pub debug_fail: bool,
}

/// A page of a key-ordered scan. `start` is inclusive, `end` exclusive; `prefix` narrows both.
#[derive(Clone, Debug, Default)]
pub struct ScanRequest {
    pub start: Option<String>,
    pub end: Option<String>,
    pub prefix: Option<String>,
    /// At most this many items (at least 1).
    pub limit: usize,
}

/// One page of scan results, in key order.
#[derive(Clone, Debug, Serialize)]
pub struct ScanPage {
    pub items: Vec<KeyValue>,
    /// The `start` of the next page; `None` when this page is the last.
    pub next: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// One ranked search result.
#[derive(Clone, Debug, Serialize)]
pub struct SearchHit {
    pub key: String,
    pub score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
}

/// What a semantic search is by.
#[derive(Clone, Debug)]
pub enum SemanticQuery {
    Text(String),
    Vector(Vec<f32>),
}

/// What `/health` reports when the node can serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Ok,
    /// Reads met corrupt data: those keys answer 500, the rest are served, writes go on; the
    /// data directory needs repair or a restore.
    Degraded(String),
}

/// `/cluster/status`.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterStatus {
    pub node_id: String,
    pub mode: String,
    pub role: String,
    /// What the mode adds (term, leader, members, ...), at the top level of the JSON.
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// How fresh a read must be (`?consistency=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Consistency {
    /// Reflects every write acknowledged before the read began (default).
    #[default]
    Linearizable,
    /// Whatever this node's replica holds now: no round trip, possibly behind.
    Stale,
}

/// A node of any mode. `Send + Sync`: one instance serves every request concurrently.
#[async_trait]
pub trait Node: Send + Sync + 'static {
    /// The value under `key`, `None` when absent.
    async fn get(&self, key: String, consistency: Consistency) -> Result<Option<String>, ApiError>;
    /// Stores a document durably (and its index entries, atomically).
    async fn set(&self, req: SetRequest) -> Result<(), ApiError>;
    /// Deletes `key`; `false` when it was absent.
    async fn delete(&self, key: String, debug_fail: bool) -> Result<bool, ApiError>;
    /// Stores all `items` durably in one atomic batch (all or nothing).
    async fn bulk_set(
        &self,
        items: Vec<(String, String)>,
        debug_fail: bool,
    ) -> Result<(), ApiError>;
    /// Returns once this node's replica reflects every write acknowledged before the call
    /// (`Linearizable`), at once for `Stale`: what search and scan, served from the local
    /// replica, run behind. A single replica is always current.
    async fn read_barrier(&self, _consistency: Consistency) -> Result<(), ApiError> {
        Ok(())
    }
    async fn scan(&self, req: ScanRequest) -> Result<ScanPage, ApiError>;
    /// BM25-ranked full-text search, best first.
    async fn search(&self, query: String, k: usize) -> Result<Vec<SearchHit>, ApiError>;
    /// Vector search, best first.
    async fn semantic_search(
        &self,
        query: SemanticQuery,
        k: usize,
    ) -> Result<Vec<SearchHit>, ApiError>;
    /// `Err` when the node cannot serve writes (e.g. a poisoned engine); `Degraded` when it
    /// serves but has met damaged data.
    async fn health(&self) -> Result<Health, ApiError>;
    fn status(&self) -> ClusterStatus;
    /// Numbers for `/metrics` (`kvstore_cluster{stat}`); none for a single node.
    fn cluster_stats(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
    /// Adds nodes (name, URL) to the cluster (`/cluster/join`).
    async fn join(&self, peers: Vec<(String, String)>) -> Result<serde_json::Value, ApiError>;
    /// Makes this node the primary (`/become_primary`).
    async fn become_primary(&self) -> Result<serde_json::Value, ApiError>;
    /// Asks the member at `via` to admit this (fresh) node to its cluster
    /// (`/cluster/join {"via"}`). Modes without membership refuse it (409).
    async fn join_via(&self, via: String) -> Result<serde_json::Value, ApiError> {
        Err(ApiError::Conflict(format!(
            "cannot join the cluster of {via}: this node runs in standalone mode; cluster \
             membership needs --mode raft"
        )))
    }
    /// Removes the member named `node_id` from the cluster (`DELETE /cluster/members/<id>`).
    /// Modes without membership refuse it (409).
    async fn remove_member(&self, node_id: String) -> Result<serde_json::Value, ApiError> {
        Err(ApiError::Conflict(format!(
            "cannot remove {node_id:?}: this node runs in standalone mode and has no cluster \
             members; membership needs --mode raft"
        )))
    }
    /// Flushes memtables to SSTables and waits.
    async fn flush(&self) -> Result<(), ApiError>;
    /// Compacts the whole key range and waits.
    async fn compact(&self) -> Result<(), ApiError>;
    async fn stats(&self) -> Result<kvstore_engine::DbStats, ApiError>;
    /// Writes a consistent, openable copy of the node's database into `dir` (created; must not
    /// hold anything) while reads and writes go on (`/admin/checkpoint`, `docs/backup.md`).
    async fn checkpoint(&self, dir: PathBuf) -> Result<kvstore_engine::Checkpoint, ApiError>;
    /// Serves a request from another node of the cluster (`POST /raft/<rpc>`, with the
    /// sender's cluster id when it has one); the answer is the response body. Modes without
    /// peers have none.
    async fn peer(
        &self,
        rpc: String,
        _cluster: Option<String>,
        _body: bytes::Bytes,
    ) -> Result<Vec<u8>, ApiError> {
        Err(ApiError::NotFound(format!(
            "no peer endpoint {rpc:?}: this node is not in a cluster mode"
        )))
    }
    /// Releases the engine; called once, after the last request finished.
    async fn close(&self) -> Result<(), kvstore_engine::Error>;
}
