//! `kvstore serve`.

use super::{ModeArg, ServeArgs};
use anyhow::Context;
use kvstore_server::auth::{load_token_file, AuthConfig};
use kvstore_server::{Limits, Mode, Server, ServerConfig};
use std::io::Write;
use std::process::ExitCode;

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let mode = match args.mode {
        ModeArg::Standalone => Mode::Standalone,
        ModeArg::Raft => Mode::Raft,
        ModeArg::Masterless => Mode::Masterless,
    };
    if mode == Mode::Masterless {
        anyhow::bail!(
            "mode {mode} is not yet supported; start the node with --mode standalone or --mode raft"
        );
    }
    if args.force_new_cluster && mode != Mode::Raft {
        anyhow::bail!("--force-new-cluster is for --mode raft (this node runs in mode {mode})");
    }
    let auth = auth_config(&args)?;
    let config = ServerConfig {
        host: args.host,
        port: args.port_arg.or(args.port).unwrap_or(5000),
        data_dir: args.data_dir,
        node_id: args.node_id,
        mode,
        limits: Limits {
            max_value_bytes: args.max_value_bytes,
            max_body_bytes: args.max_body_bytes,
            ..Limits::default()
        },
        debug_fail_probability: args.debug_fail_probability,
        auth,
        advertise_url: args.advertise_url,
        raft_snapshot_every: args.raft_snapshot_every,
        force_new_cluster: args.force_new_cluster,
        ..ServerConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(async move {
        let data_dir = config.data_dir.display().to_string();
        let node_id = config.node_id.clone();
        let server = Server::bind(config).await?;
        let addr = server.local_addr();
        tracing::info!(%addr, data_dir, node_id, "kvstore listening");
        // The first stdout line names the bound address, so `--port 0` users can find it.
        let mut out = std::io::stdout().lock();
        writeln!(out, "kvstore listening on http://{addr}")?;
        out.flush()?;
        drop(out);
        server.run(kvstore_server::shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The tokens of `--auth-token-file` and `--read-token-file`, read once at start-up (a changed
/// file takes effect at the next start: `docs/security.md`).
fn auth_config(args: &ServeArgs) -> anyhow::Result<AuthConfig> {
    let load = |flag, path: &Option<std::path::PathBuf>| {
        path.as_deref()
            .map(|p| load_token_file(flag, p))
            .transpose()
    };
    let full = load("--auth-token-file", &args.auth_token_file)?;
    let read = load("--read-token-file", &args.read_token_file)?;
    Ok(AuthConfig::new(full, read, args.metrics_auth)?)
}
