//! [`ServerConfig`]: how a node is started, and the request limits it enforces.

use crate::auth::AuthConfig;
use std::path::PathBuf;

/// Largest key the HTTP API accepts, in bytes (the engine allows more; the API promises 4 KiB).
pub const MAX_KEY_BYTES: usize = 4 * 1024;
/// Default largest value, in bytes (`--max-value-bytes`).
pub const DEFAULT_MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;
/// Default largest request body, in bytes (`--max-body-bytes`). Bounds `/bulk_set` too.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Default probability that a `debug_fail: true` write is failed on purpose.
pub const DEFAULT_DEBUG_FAIL_PROBABILITY: f64 = 0.01;
/// Default idle time after which a checkpoint made for download is removed.
pub const DEFAULT_CHECKPOINT_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// How a node takes part in a cluster. `Masterless` is not implemented yet: it is refused at
/// start-up with [`crate::ServerError::UnsupportedMode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Standalone,
    Raft,
    Masterless,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::Raft => "raft",
            Mode::Masterless => "masterless",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Size limits checked on every request, before anything reaches the engine.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Keys are 1..=`max_key_bytes` bytes of UTF-8.
    pub max_key_bytes: usize,
    /// Values are at most this many bytes of UTF-8.
    pub max_value_bytes: usize,
    /// Request bodies are read up to this many bytes; past it the answer is 413.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_key_bytes: MAX_KEY_BYTES,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Everything `kvstore serve` is told.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Interface to listen on (default `127.0.0.1`).
    pub host: String,
    /// TCP port; 0 picks a free one (the bound address is reported by [`crate::Server::local_addr`]).
    pub port: u16,
    /// Directory of the engine's files.
    pub data_dir: PathBuf,
    /// This node's name in `/health` and `/cluster/status`.
    pub node_id: String,
    pub mode: Mode,
    pub limits: Limits,
    /// Probability in `[0, 1]` that a write sent with `debug_fail: true` fails on purpose.
    pub debug_fail_probability: f64,
    /// How long a graceful shutdown waits for in-flight requests before closing anyway.
    pub shutdown_grace: std::time::Duration,
    /// The engine's options (durable defaults). Tests put a fault-injecting file system here.
    pub engine: kvstore_engine::Options,
    /// A checkpoint made for download (`/admin/checkpoint`) that no request names for this long
    /// is removed (`crate::checkpoints`).
    pub checkpoint_ttl: std::time::Duration,
    /// Which bearer tokens requests need (`crate::auth`); off by default.
    pub auth: AuthConfig,
    /// The URL other nodes reach this one at (raft mode); default `http://<bound address>`.
    pub advertise_url: Option<String>,
    /// Raft log entries between two snapshots.
    pub raft_snapshot_every: u64,
    /// Raft mode: start as the only member of the cluster, keeping the data (unsafe recovery
    /// after a quorum is lost for good; `docs/operations.md`).
    pub force_new_cluster: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 5000,
            data_dir: PathBuf::from("./data"),
            node_id: "node1".into(),
            mode: Mode::Standalone,
            limits: Limits::default(),
            debug_fail_probability: DEFAULT_DEBUG_FAIL_PROBABILITY,
            shutdown_grace: std::time::Duration::from_secs(30),
            engine: kvstore_engine::Options::default(),
            checkpoint_ttl: DEFAULT_CHECKPOINT_TTL,
            auth: AuthConfig::off(),
            advertise_url: None,
            raft_snapshot_every: crate::node::raft::DEFAULT_SNAPSHOT_EVERY,
            force_new_cluster: false,
        }
    }
}
