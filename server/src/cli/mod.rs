//! Command-line parsing (clap) and dispatch. Part of the `kvstore` binary, not of the library.

mod backup;
mod bulk;
mod client_cmds;
mod cluster;
mod serve;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "kvstore",
    version,
    about = "KVStore: a persistent key-value store spoken to over HTTP"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a node.
    Serve(ServeArgs),
    /// Print the value of KEY.
    Get {
        key: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Store VALUE under KEY (durable when the command returns).
    Set {
        key: String,
        value: String,
        /// Ask the server to fail this write on purpose with a small probability.
        #[arg(long)]
        debug_fail: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Delete KEY.
    Delete {
        key: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Store many pairs from JSON lines ({"key","value"} or ["k","v"]) or CSV (key,value).
    BulkSet(bulk::BulkArgs),
    /// List keys and values in key order.
    Scan {
        #[arg(long)]
        start: Option<String>,
        #[arg(long)]
        end: Option<String>,
        #[arg(long)]
        prefix: Option<String>,
        /// Items per page (1..=1000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Follow pages to the end instead of printing one page.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Full-text search.
    Search {
        query: String,
        #[arg(short, long, default_value_t = 10)]
        k: usize,
        #[command(flatten)]
        conn: Conn,
    },
    /// Semantic search.
    SemanticSearch {
        query: String,
        #[arg(short, long, default_value_t = 10)]
        k: usize,
        #[command(flatten)]
        conn: Conn,
    },
    /// Health and cluster status of a node.
    Status {
        #[command(flatten)]
        conn: Conn,
    },
    /// Cluster membership (raft mode): status, join --via, leave, become-primary.
    Cluster(cluster::ClusterArgs),
    /// Copy a consistent checkpoint of a running node into PATH (new or empty), verified.
    Backup(backup::BackupArgs),
    /// Restore a backup into a new or empty data directory (offline: no node may run on it).
    Restore(backup::RestoreArgs),
}

/// Where the server is, how to authenticate, and how to print.
#[derive(Args, Debug, Clone)]
pub struct Conn {
    /// Base URL of the server.
    #[arg(long, env = "KVSTORE_URL", default_value = "http://127.0.0.1:5000")]
    pub url: String,
    /// File holding the bearer token to send (the node's --auth-token-file, or its
    /// --read-token-file for reads). Without it, the token in $KVSTORE_TOKEN, if set. There is
    /// no --token flag: a command line is visible to every user of the machine.
    #[arg(long, env = "KVSTORE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Print JSON (for scripts) instead of human-readable text.
    #[arg(long)]
    pub json: bool,
}

/// The environment variable holding a token itself (`Conn::token_file` wins over it).
const TOKEN_ENV: &str = "KVSTORE_TOKEN";

impl Conn {
    /// A client for `--url`, sending the token of `--token-file`, `$KVSTORE_TOKEN_FILE` or
    /// `$KVSTORE_TOKEN` (in that order) when one is given. An unreadable or empty token file,
    /// or an empty `$KVSTORE_TOKEN`, is an error rather than a request without a token.
    pub fn client(&self) -> anyhow::Result<kvstore_client::Client> {
        use anyhow::{anyhow, Context};
        use kvstore_server::auth::Token;
        let token = match &self.token_file {
            Some(path) => Some(Token::from_file(path).map_err(|e| {
                anyhow!(
                    "--token-file (or KVSTORE_TOKEN_FILE) {}: the token file {e}",
                    path.display()
                )
            })?),
            None => match std::env::var(TOKEN_ENV) {
                Ok(text) => Some(Token::new(&text).map_err(|e| anyhow!("{TOKEN_ENV} {e}"))?),
                Err(std::env::VarError::NotPresent) => None,
                Err(std::env::VarError::NotUnicode(_)) => {
                    anyhow::bail!("{TOKEN_ENV} is not valid UTF-8")
                }
            },
        };
        let mut builder = kvstore_client::Client::builder(&self.url);
        if let Some(t) = token {
            builder = builder.bearer_token(t.expose_secret());
        }
        builder
            .build()
            .with_context(|| format!("bad --url {}", self.url))
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ModeArg {
    Standalone,
    Raft,
    Masterless,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Port to listen on (same as --port; 0 picks a free port).
    #[arg(value_name = "PORT")]
    port_arg: Option<u16>,
    /// Port to listen on [default: 5000]; 0 picks a free port. The bound address is printed on
    /// stdout as `kvstore listening on http://HOST:PORT`.
    #[arg(long, env = "KVSTORE_PORT")]
    port: Option<u16>,
    /// Interface to listen on.
    #[arg(long, env = "KVSTORE_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Directory of the database files.
    #[arg(long, env = "KVSTORE_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// This node's id.
    #[arg(long, env = "KVSTORE_NODE_ID", default_value = "node1")]
    node_id: String,
    /// Cluster mode: standalone, or raft (primary/secondary with leader election; masterless
    /// is not implemented yet).
    #[arg(long, env = "KVSTORE_MODE", value_enum, default_value = "standalone")]
    mode: ModeArg,
    /// The URL other nodes reach this one at (raft mode); default http://HOST:PORT as bound.
    #[arg(long, env = "KVSTORE_ADVERTISE_URL")]
    advertise_url: Option<String>,
    /// Raft log entries between two snapshots (a follower further behind catches up by
    /// snapshot).
    #[arg(long, default_value_t = kvstore_server::node::raft::DEFAULT_SNAPSHOT_EVERY, value_parser = clap::value_parser!(u64).range(1..))]
    raft_snapshot_every: u64,
    /// Raft mode, unsafe recovery after a quorum is lost for good (as etcd's flag): start as
    /// the only member of the cluster, keeping this node's data. Other old members must join
    /// again with empty data directories. Use it once, then restart without it.
    #[arg(long)]
    force_new_cluster: bool,
    /// Largest value accepted, in bytes.
    #[arg(long, default_value_t = kvstore_server::config::DEFAULT_MAX_VALUE_BYTES)]
    max_value_bytes: usize,
    /// Largest request body accepted, in bytes (bounds /bulk_set).
    #[arg(long, default_value_t = kvstore_server::config::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// File holding the token every request but /health, /openapi.json and /metrics must carry
    /// as `Authorization: Bearer <token>` (surrounding whitespace removed). Without it, the
    /// node asks for no token. An empty or unreadable file stops the start-up.
    #[arg(long, env = "KVSTORE_AUTH_TOKEN_FILE", value_name = "FILE")]
    auth_token_file: Option<PathBuf>,
    /// File holding a second token that may only read and search (/get, /scan, /search,
    /// /semantic_search, /cluster/status); writes and admin calls with it get 403. Needs
    /// --auth-token-file.
    #[arg(long, env = "KVSTORE_READ_TOKEN_FILE", value_name = "FILE")]
    read_token_file: Option<PathBuf>,
    /// Make /metrics need a token too (either one). Needs --auth-token-file.
    #[arg(long)]
    metrics_auth: bool,
    /// Probability that a write sent with debug_fail=true fails on purpose (testing aid).
    #[arg(long, default_value_t = kvstore_server::config::DEFAULT_DEBUG_FAIL_PROBABILITY, hide = true)]
    debug_fail_probability: f64,
}

/// Runs the chosen command; the exit code says whether it did what was asked.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::BulkSet(args) => bulk::run(args),
        Command::Backup(args) => backup::run_backup(args),
        Command::Restore(args) => backup::run_restore(args),
        Command::Cluster(args) => cluster::run(args),
        other => client_cmds::run(other),
    }
}
