//! `kvstore-http-bench`: an HTTP load generator reporting req/s and p50/p99 latency for GET and
//! durable SET at several concurrencies, against a running server. Not a test; run by hand:
//!
//! ```text
//! cargo build --release
//! target/release/kvstore serve 5000 --data-dir /tmp/bench-data &
//! target/release/kvstore-http-bench --url http://127.0.0.1:5000
//! ```
//!
//! Targets, for side-by-side runs on one machine:
//! - `--target kvstore` (default): `POST /set` and `GET /get/<key>`.
//! - `--target etcd`: etcd's JSON gateway (`POST /v3/kv/put`, `POST /v3/kv/range`), e.g. Debian's
//!   `etcd-server` started as `etcd --data-dir /tmp/etcd` (listens on 127.0.0.1:2379).
//! - `--target kvstore` against `kvstore-http-bench serve-map --port 5001`: a bare in-memory warp
//!   map with the same routes, the HTTP ceiling.
//!
//! Output, one line per (operation, concurrency):
//! `set   c=16   :  5234 req/s  p50   2.9 ms  p99   6.1 ms  (26170 ok, 0 errors)`.

use clap::{Parser, Subcommand, ValueEnum};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use warp::Filter;

#[derive(Parser, Debug)]
#[command(name = "kvstore-http-bench", about = "HTTP load benchmark for KVStore")]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Base URL of the server under test.
    #[arg(long, default_value = "http://127.0.0.1:5000")]
    url: String,
    #[arg(long, value_enum, default_value = "kvstore")]
    target: Target,
    /// Comma-separated concurrency levels.
    #[arg(long, default_value = "1,16,64", value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// Seconds per (operation, concurrency) case.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Distinct keys (GETs read keys written during the SET phase, or preloaded).
    #[arg(long, default_value_t = 10_000)]
    keys: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Serve a bare in-memory map over warp with the kvstore routes (the HTTP ceiling).
    ServeMap {
        #[arg(long, default_value_t = 5001)]
        port: u16,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Target {
    Kvstore,
    Etcd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Set,
    Get,
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for c in input.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

struct Bench {
    http: reqwest::Client,
    url: String,
    target: Target,
    value: String,
}

impl Bench {
    async fn request(&self, op: Op, key: &str) -> Result<(), String> {
        let req = match (self.target, op) {
            (Target::Kvstore, Op::Set) => self
                .http
                .post(format!("{}/set", self.url))
                .json(&serde_json::json!({ "key": key, "value": self.value })),
            (Target::Kvstore, Op::Get) => self.http.get(format!("{}/get/{key}", self.url)),
            (Target::Etcd, Op::Set) => self.http.post(format!("{}/v3/kv/put", self.url)).json(
                &serde_json::json!({ "key": base64(key.as_bytes()), "value": base64(self.value.as_bytes()) }),
            ),
            (Target::Etcd, Op::Get) => self
                .http
                .post(format!("{}/v3/kv/range", self.url))
                .json(&serde_json::json!({ "key": base64(key.as_bytes()) })),
        };
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        resp.bytes().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("status {status}"))
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

async fn run_case(bench: Arc<Bench>, op: Op, conc: usize, seconds: f64, keys: usize) {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..conc {
        let bench = Arc::clone(&bench);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut i = w;
            while Instant::now() < deadline {
                let key = format!("bench{:08}", i % keys);
                i += conc;
                let t = Instant::now();
                match bench.request(op, &key).await {
                    Ok(()) => lat.push(t.elapsed().as_micros() as u64),
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errors += e;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let name = match op {
        Op::Set => "set",
        Op::Get => "get",
    };
    println!(
        "{name:<5} c={conc:<4} : {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} ok, {errors} errors)",
        all.len() as f64 / elapsed,
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        all.len(),
    );
}

async fn serve_map(port: u16) {
    type Map = Arc<std::sync::Mutex<HashMap<String, String>>>;
    let map: Map = Arc::default();
    let m1 = Arc::clone(&map);
    let get = warp::path("get")
        .and(warp::path::tail())
        .and(warp::get())
        .map(move |t: warp::path::Tail| {
            let key = t.as_str().to_string();
            let v = m1.lock().ok().and_then(|m| m.get(&key).cloned());
            match v {
                Some(value) => warp::reply::with_status(
                    warp::reply::json(&serde_json::json!({ "key": key, "value": value })),
                    warp::http::StatusCode::OK,
                ),
                None => warp::reply::with_status(
                    warp::reply::json(&serde_json::json!({ "error": "not found" })),
                    warp::http::StatusCode::NOT_FOUND,
                ),
            }
        });
    let m2 = Arc::clone(&map);
    let set = warp::path!("set")
        .and(warp::post())
        .and(warp::body::content_length_limit(64 << 20))
        .and(warp::body::json())
        .map(move |b: serde_json::Value| {
            if let (Some(k), Some(v)) = (b["key"].as_str(), b["value"].as_str()) {
                if let Ok(mut m) = m2.lock() {
                    m.insert(k.to_string(), v.to_string());
                }
            }
            warp::reply::json(&serde_json::json!({ "ok": true }))
        });
    println!("bare warp map listening on http://127.0.0.1:{port}");
    warp::serve(get.or(set)).run(([127, 0, 0, 1], port)).await;
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        if let Some(Cmd::ServeMap { port }) = cli.cmd {
            serve_map(port).await;
            return Ok(());
        }
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()?;
        let bench = Arc::new(Bench {
            http,
            url: cli.url.trim_end_matches('/').to_string(),
            target: cli.target,
            value: "v".repeat(cli.value_bytes),
        });
        println!(
            "# {:?} at {}: {} keys, {}-byte values, {} s per case",
            cli.target, cli.url, cli.keys, cli.value_bytes, cli.seconds
        );
        // Preload every key once so GETs hit.
        for i in 0..cli.keys.min(100_000) {
            bench
                .request(Op::Set, &format!("bench{i:08}"))
                .await
                .map_err(|e| anyhow::anyhow!("preload failed: {e}"))?;
            if i == 0 && cli.keys > 1000 {
                eprintln!("preloading {} keys...", cli.keys);
            }
        }
        for op in [Op::Set, Op::Get] {
            for &c in &cli.concurrency {
                run_case(
                    Arc::clone(&bench),
                    op,
                    c.max(1),
                    cli.seconds,
                    cli.keys.max(1),
                )
                .await;
            }
        }
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn percentiles() {
        let v: Vec<u64> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(percentile(&v, 0.5), 51.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
