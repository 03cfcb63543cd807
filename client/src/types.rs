//! Request options and response shapes of the API.

use serde::{Deserialize, Serialize};

/// Options of a single write.
#[derive(Clone, Debug, Default)]
pub struct SetOptions {
    /// An embedding to store instead of the server's own (dimension checked).
    pub vector: Option<Vec<f32>>,
    /// Ask the server to fail this write on purpose with a small probability (testing aid).
    pub debug_fail: bool,
}

/// A key and its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// What to scan: `start` inclusive, `end` exclusive, `prefix`, at most `limit` items.
#[derive(Clone, Debug, Default)]
pub struct ScanOptions {
    pub start: Option<String>,
    pub end: Option<String>,
    pub prefix: Option<String>,
    pub limit: Option<usize>,
}

/// One page of a scan; pass `next` as `start` to continue.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScanPage {
    pub items: Vec<KeyValue>,
    pub next: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchHit {
    pub key: String,
    pub score: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchResults {
    pub query: Option<String>,
    pub results: Vec<SearchHit>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub node_id: String,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
}

/// `GET /cluster/status`. `role` is `standalone`, or in raft mode `primary`, `secondary`,
/// `learner`, `candidate`, `uninitialized` or `removed`. The other fields are raft mode's
/// (absent, `None` or empty, on a standalone node).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub node_id: String,
    pub mode: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,
    /// The primary's node id, when this node knows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_url: Option<String>,
    /// The URL the other members reach this node at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_log_index: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_index: Option<u64>,
    /// The cluster's members as this node knows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberInfo>,
}

/// A member of a raft cluster, as `/cluster/status` and the membership calls list it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub node_id: String,
    pub url: String,
    /// A voter (counts in quorums); `false` for a learner still catching up.
    pub voter: bool,
    /// On the primary: the last entry this member is known to hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_index: Option<u64>,
    /// On the primary: how many entries this member is behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<u64>,
}

/// The answer of `POST /cluster/join {"via"}`: the node joined (or already was a voter).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinResult {
    pub ok: bool,
    /// The node that joined.
    #[serde(default)]
    pub joined: Option<String>,
    pub members: Vec<MemberInfo>,
}

/// The answer of `DELETE /cluster/members/<id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveResult {
    pub ok: bool,
    pub removed: String,
    /// Whether the removed node acknowledged that it was removed (a dead node cannot).
    pub notified: bool,
    /// The members left.
    pub members: Vec<MemberInfo>,
}

/// The answer of `POST /become_primary`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BecomePrimary {
    pub ok: bool,
    pub role: String,
    pub node_id: String,
    /// How long the transfer took; absent when the node already was the primary.
    #[serde(default)]
    pub took_ms: Option<u64>,
}

/// A checkpoint the server made for download (`POST /admin/checkpoint`): every write up to
/// `seq` and none after; its files in the order to write them (`CURRENT` last).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointInfo {
    pub id: String,
    pub seq: u64,
    pub files: Vec<CheckpointFile>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointFile {
    pub name: String,
    pub size: u64,
}
