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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub node_id: String,
    pub mode: String,
    pub role: String,
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
