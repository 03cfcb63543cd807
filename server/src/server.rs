//! [`Server`]: opens the engine and search indexes, binds the socket, serves until shutdown,
//! then closes the engine.
//!
//! Shutdown order (why a crash or signal at any step is safe): the listener stops accepting;
//! in-flight requests finish (each acknowledged write is already durable in the WAL); after
//! the last one, or after `shutdown_grace`, the node removes its checkpoints and closes the
//! engine. A kill -9 at any point loses nothing acknowledged, because acknowledgement waits for
//! the fsync (and checkpoints a killed node left are removed at the next start).

use crate::auth::Authenticator;
use crate::checkpoints::{CheckpointStore, CHECKPOINTS_DIR};
use crate::config::{Mode, ServerConfig};
use crate::error::ServerError;
use crate::metrics::Metrics;
use crate::node::raft::{RaftNode, RaftSettings};
use crate::node::{FailureInjector, Node, StandaloneNode};
use crate::routes::{routes, State};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// A bound, not yet serving, node.
pub struct Server {
    /// Accepts connections from `run` on; dropped (closed) when shutdown begins.
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    /// Shared with every request; closed by `run` after the last request.
    node: Arc<dyn Node>,
    state: Arc<State>,
    config: ServerConfig,
}

/// Opens the document store of a standalone node in `config.data_dir`.
async fn open_indexer(config: &ServerConfig) -> Result<kvstore_search::Indexer, ServerError> {
    let dir = config.data_dir.clone();
    let engine_opts = config.engine.clone();
    tokio::task::spawn_blocking(move || {
        let path = dir.display().to_string();
        engine_opts
            .fs
            .create_dir_all(&dir)
            .map_err(|e| ServerError::OpenDb {
                path: path.clone(),
                source: e.into(),
            })?;
        let db = kvstore_engine::Db::open(&dir, engine_opts)
            .map_err(|source| ServerError::OpenDb { path, source })?;
        Ok::<_, ServerError>(kvstore_search::Indexer::open(
            db,
            kvstore_search::SearchOptions::default(),
        )?)
    })
    .await
    .map_err(|e| ServerError::Config(format!("open task failed: {e}")))?
}

/// Starts a Raft node; peers reach it at `--advertise-url`, else at the bound address.
async fn start_raft(
    config: &ServerConfig,
    bound: SocketAddr,
    fail: FailureInjector,
) -> Result<RaftNode, ServerError> {
    let url = match &config.advertise_url {
        Some(u) => u.clone(),
        None if bound.ip().is_unspecified() => format!("http://127.0.0.1:{}", bound.port()),
        None => format!("http://{bound}"),
    };
    RaftNode::start(
        RaftSettings {
            name: config.node_id.clone(),
            url,
            data_dir: config.data_dir.clone(),
            search: kvstore_search::SearchOptions::default(),
            snapshot_every: config.raft_snapshot_every.max(1),
            peer_token: config
                .auth
                .peer_token()
                .map(|t| t.expose_secret().to_string()),
            force_new_cluster: config.force_new_cluster,
            // Bound to one address: peers see our messages come from it (a wildcard bind
            // leaves the choice to the system, as before).
            local_address: (!bound.ip().is_unspecified()).then(|| bound.ip()),
        },
        fail,
    )
    .await
    .map_err(|e| ServerError::Config(format!("raft mode: {e}")))
}

impl Server {
    /// Opens the database and indexes under `config.data_dir` and binds `host:port`.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        if config.mode == Mode::Masterless {
            return Err(ServerError::UnsupportedMode(config.mode.to_string()));
        }
        if !(0.0..=1.0).contains(&config.debug_fail_probability) {
            return Err(ServerError::Config(
                "debug-fail probability must be within 0..=1".into(),
            ));
        }
        if config.auth.enabled() {
            tracing::info!(
                read_only_token = config.auth.has_read_token(),
                metrics_auth = config.auth.metrics_auth(),
                "authentication on: requests need a bearer token"
            );
            for flag in config.auth.short_tokens() {
                tracing::warn!(
                    flag,
                    "token shorter than {} bytes: easy to guess; use a long random one",
                    crate::auth::MIN_RECOMMENDED_TOKEN_BYTES
                );
            }
        }
        let addr = format!("{}:{}", config.host, config.port);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: addr.clone(),
                source,
            })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        let fail = FailureInjector::new(config.debug_fail_probability);
        let node: Arc<dyn Node> = match config.mode {
            Mode::Raft => Arc::new(start_raft(&config, local_addr, fail).await?),
            _ => Arc::new(
                StandaloneNode::new(open_indexer(&config).await?, config.node_id.clone(), fail)
                    .map_err(|e| {
                        ServerError::Config(format!("cannot start the write queue: {e}"))
                    })?,
            ),
        };
        let metrics = Metrics::new().map_err(|e| ServerError::Config(format!("metrics: {e}")))?;
        let checkpoints =
            CheckpointStore::new(config.data_dir.join(CHECKPOINTS_DIR), config.checkpoint_ttl);
        checkpoints.remove_leftovers().await;
        let state = Arc::new(State {
            node: Arc::clone(&node),
            limits: config.limits,
            metrics: Arc::new(metrics),
            checkpoints: Arc::new(checkpoints),
            auth: Arc::new(Authenticator::new(config.auth.clone())),
        });
        Ok(Server {
            listener,
            local_addr,
            node,
            state,
            config,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, lets in-flight requests finish (at most
    /// `shutdown_grace`), then closes the engine.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = tx.send(true);
        };
        let serve = warp::serve(routes(Arc::clone(&self.state)))
            .incoming(self.listener)
            .graceful(signal)
            .run();
        let grace = self.config.shutdown_grace;
        let sweeper = self.state.checkpoints.start_sweeper();
        let deadline = async move {
            let mut rx = rx;
            while !*rx.borrow() {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            () = serve => {}
            () = deadline => tracing::warn!(?grace, "requests still running after the grace period; closing anyway"),
        }
        sweeper.abort();
        self.state.checkpoints.remove_all().await;
        drop(self.state);
        self.node.close().await.map_err(ServerError::Close)?;
        tracing::info!("database closed");
        Ok(())
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}
