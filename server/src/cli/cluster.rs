//! `kvstore cluster status|join|leave|become-primary`: cluster membership from the command
//! line, as `etcdctl member list|add|remove` and `move-leader` are for etcd
//! (`docs/operations.md`). Each is one call of `kvstore_client` against `--url`.

use super::Conn;
use anyhow::Context;
use clap::{Args, Subcommand};
use kvstore_client::{ClusterStatus, MemberInfo};
use serde_json::json;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ClusterArgs {
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Subcommand, Debug)]
enum ClusterCommand {
    /// The node's role, term, primary and the members it knows (with their lag, on the
    /// primary).
    Status {
        #[command(flatten)]
        conn: Conn,
    },
    /// Make the (fresh) node at --url join the cluster of the member at --via: it is added as a
    /// learner, caught up, then promoted to voter. Returns once it is a voter.
    Join {
        /// URL of any member of the cluster to join.
        #[arg(long)]
        via: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Remove a member from the cluster: the node at --url itself, or --node ID (through the
    /// node at --url). The primary cannot be removed: move leadership first (become-primary on
    /// another node).
    Leave {
        /// The node id to remove (default: the node at --url).
        #[arg(long, value_name = "ID")]
        node: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Make the node at --url the primary (leadership transfer).
    BecomePrimary {
        #[command(flatten)]
        conn: Conn,
    },
}

pub fn run(args: ClusterArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(run_async(args.command))
}

async fn run_async(cmd: ClusterCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ClusterCommand::Status { conn } => {
            let status = conn.client()?.cluster_status().await?;
            if conn.json {
                println!("{}", json!(status));
            } else {
                print_status(&status);
            }
        }
        ClusterCommand::Join { via, conn } => {
            let r = conn.client()?.cluster_join_via(&via).await?;
            if conn.json {
                println!("{}", json!(r));
            } else {
                println!(
                    "joined {} through {via}",
                    r.joined.as_deref().unwrap_or("the node")
                );
                print_members(&r.members);
            }
        }
        ClusterCommand::Leave { node, conn } => {
            let c = conn.client()?;
            let node = match node {
                Some(n) => n,
                None => c.cluster_status().await?.node_id,
            };
            let r = c.remove_member(&node).await?;
            if conn.json {
                println!("{}", json!(r));
            } else {
                let told = if r.notified {
                    "it knows it was removed"
                } else {
                    "it could not be told (down?): do not restart it with its data directory"
                };
                println!("removed {} ({told})", r.removed);
                print_members(&r.members);
            }
        }
        ClusterCommand::BecomePrimary { conn } => {
            let r = conn.client()?.become_primary().await?;
            if conn.json {
                println!("{}", json!(r));
            } else {
                match r.took_ms {
                    Some(ms) => println!("{} is the primary (took {ms} ms)", r.node_id),
                    None => println!("{} is the primary (already was)", r.node_id),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_status(s: &ClusterStatus) {
    println!("node_id: {}", s.node_id);
    println!("mode:    {}", s.mode);
    println!("role:    {}", s.role);
    if let Some(t) = s.term {
        println!("term:    {t}");
    }
    if s.mode != "standalone" {
        match (&s.leader_id, &s.leader_url) {
            (Some(id), Some(url)) => println!("primary: {id} ({url})"),
            (Some(id), None) => println!("primary: {id}"),
            _ => println!("primary: (none known)"),
        }
    }
    if !s.members.is_empty() {
        print_members(&s.members);
    }
}

fn print_members(members: &[MemberInfo]) {
    println!("members:");
    for m in members {
        let kind = if m.voter { "voter" } else { "learner" };
        let lag = m.lag.map(|l| format!("  lag {l}")).unwrap_or_default();
        println!("  {:<12} {:<30} {kind}{lag}", m.node_id, m.url);
    }
}
