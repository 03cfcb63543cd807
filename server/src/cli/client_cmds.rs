//! The client subcommands other than `bulk-set`.

use super::{Command, Conn};
use anyhow::Context;
use kvstore_client::{Client, ScanOptions, SearchResults, SetOptions};
use serde_json::json;
use std::process::ExitCode;

fn client(conn: &Conn) -> anyhow::Result<Client> {
    conn.client()
}

fn print_json(v: &serde_json::Value) {
    println!("{v}");
}

fn print_hits(r: &SearchResults, conn: &Conn) {
    if conn.json {
        print_json(&json!(r));
        return;
    }
    if r.results.is_empty() {
        println!("(no results)");
    }
    for (i, h) in r.results.iter().enumerate() {
        println!("{:>3}. {}  (score {:.4})", i + 1, h.key, h.score);
    }
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(run_async(cmd))
}

async fn run_async(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Get { key, conn } => match client(&conn)?.get(&key).await? {
            Some(v) => {
                if conn.json {
                    print_json(&json!({ "key": key, "value": v }));
                } else {
                    println!("{v}");
                }
                Ok(ExitCode::SUCCESS)
            }
            None => {
                if conn.json {
                    print_json(&json!({ "key": key, "value": null }));
                }
                eprintln!("not found: {key}");
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Set {
            key,
            value,
            debug_fail,
            conn,
        } => {
            let opts = SetOptions {
                debug_fail,
                ..SetOptions::default()
            };
            client(&conn)?.set_with(&key, &value, &opts).await?;
            if conn.json {
                print_json(&json!({ "ok": true }));
            } else {
                println!("OK");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Delete { key, conn } => {
            let deleted = client(&conn)?.delete(&key).await?;
            if conn.json {
                print_json(&json!({ "ok": deleted, "deleted": deleted }));
            } else if deleted {
                println!("deleted");
            }
            if !deleted {
                eprintln!("not found: {key}");
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Scan {
            start,
            end,
            prefix,
            limit,
            all,
            conn,
        } => {
            let c = client(&conn)?;
            let mut opts = ScanOptions {
                start,
                end,
                prefix,
                limit: Some(limit),
            };
            loop {
                let page = c.scan(&opts).await?;
                for kv in &page.items {
                    if conn.json {
                        print_json(&json!(kv));
                    } else {
                        println!("{}\t{}", kv.key, kv.value);
                    }
                }
                match page.next {
                    Some(next) if all => opts.start = Some(next),
                    Some(next) => {
                        if !conn.json {
                            eprintln!("(more: --start {next:?} or --all)");
                        }
                        break;
                    }
                    None => break,
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Search { query, k, conn } => {
            let r = client(&conn)?.search(&query, k).await?;
            print_hits(&r, &conn);
            Ok(ExitCode::SUCCESS)
        }
        Command::SemanticSearch { query, k, conn } => {
            let r = client(&conn)?.semantic_search(&query, k).await?;
            print_hits(&r, &conn);
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { conn } => {
            let c = client(&conn)?;
            let health = c.health().await;
            let status = c.cluster_status().await?;
            let healthy = health.is_ok();
            if conn.json {
                let h = match &health {
                    Ok(h) => json!(h),
                    Err(e) => json!({ "status": "unavailable", "error": e.to_string() }),
                };
                print_json(&json!({ "health": h, "cluster": status }));
            } else {
                match &health {
                    Ok(h) => println!("health:  {}", h.status),
                    Err(e) => println!("health:  UNAVAILABLE ({e})"),
                }
                println!("node_id: {}", status.node_id);
                println!("mode:    {}", status.mode);
                println!("role:    {}", status.role);
            }
            Ok(if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Serve(_)
        | Command::BulkSet(_)
        | Command::Backup(_)
        | Command::Restore(_)
        | Command::Cluster(_) => {
            unreachable!("dispatched in cli::run")
        }
    }
}
