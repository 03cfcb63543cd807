//! Scenario: the real HTTP server over a fault-injecting file system (`FaultFs`).
//!
//! - a failed fsync or write poisons the engine: writes answer 503 with a JSON error, reads go on,
//!   `/health` says unavailable, and after a restart every acknowledged write is there;
//! - a full disk answers 507, and writes resume by themselves once space returns;
//! - a damaged table: the keys in the damaged block answer 500 with a JSON error, the others
//!   are served, and `/health` (503, "degraded") and `/metrics` report the damage.

use kvstore_engine::fs::{FaultFs, FaultKind, FileSystem};
use kvstore_server::{Server, ServerConfig};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DIR: &str = "/faulty/data";

struct Running {
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<Result<(), kvstore_server::ServerError>>,
    http: reqwest::Client,
}

async fn start(fs: &FaultFs) -> Running {
    let mut engine = kvstore_engine::Options {
        fs: Arc::new(fs.clone()),
        // Small tables and no cache, so that a few hundred keys make several data blocks
        // and every read goes to the file.
        memtable_size_bytes: 256 * 1024,
        block_cache_bytes: 0,
        ..kvstore_engine::Options::default()
    };
    engine.block_size_bytes = 1024;
    let server = Server::bind(ServerConfig {
        port: 0,
        data_dir: DIR.into(),
        engine,
        ..ServerConfig::default()
    })
    .await
    .expect("server starts");
    let url = format!("http://{}", server.local_addr());
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    Running {
        url,
        stop,
        handle,
        http: reqwest::Client::new(),
    }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        // A poisoned engine may fail its final sync on close; that is reported, not fatal.
        let _ = self.handle.await.expect("server task");
    }

    async fn set(&self, key: &str, value: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/set", self.url))
            .json(&json!({ "key": key, "value": value }))
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.expect("JSON body"))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn text(&self, path: &str) -> String {
        let r = self.http.get(format!("{}{path}", self.url)).send().await;
        r.expect("request").text().await.expect("body")
    }
}

fn error_of(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no JSON error in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_fsync_answers_503_keeps_reads_and_a_restart_recovers_every_acknowledged_write() {
    failed_persist_answers_503_and_a_restart_recovers(FaultKind::Sync, "fsync").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_write_answers_503_keeps_reads_and_a_restart_recovers_every_acknowledged_write() {
    failed_persist_answers_503_and_a_restart_recovers(FaultKind::Write, "append").await;
}

async fn failed_persist_answers_503_and_a_restart_recovers(kind: FaultKind, what: &str) {
    let fs = FaultFs::new();
    let s = start(&fs).await;
    for i in 0..20 {
        assert_eq!(s.set(&format!("k{i}"), &format!("v{i}")).await.0, 200);
    }
    fs.inject(kind, 0);
    let (status, body) = s.set("doomed", "x").await;
    assert_eq!(status, 503, "{body}");
    assert!(error_of(&body).contains(what), "{body}");
    // Poisoned: later writes are refused too, reads are served.
    fs.clear_faults();
    let (status, body) = s.set("later", "y").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        s.get("/get/k3").await,
        (200, json!({"key": "k3", "value": "v3"}))
    );
    let (status, health) = s.get("/health").await;
    assert_eq!(status, 503);
    assert_eq!(health["status"], "unavailable", "{health}");
    s.stop().await;

    // Power cut, then a restart on the same disk.
    fs.crash(None);
    let s = start(&fs).await;
    for i in 0..20 {
        let (status, body) = s.get(&format!("/get/k{i}")).await;
        assert_eq!(status, 200, "k{i} acknowledged but lost: {body}");
        assert_eq!(body["value"], format!("v{i}"));
    }
    assert_eq!(s.get("/get/later").await.0, 404);
    assert_eq!(s.set("after", "restart").await.0, 200);
    assert_eq!(s.get("/health").await.0, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_answers_507_and_writes_resume_when_space_returns() {
    let fs = FaultFs::new();
    let s = start(&fs).await;
    assert_eq!(s.set("before", "full").await.0, 200);
    fs.set_capacity(Some(fs.total_bytes() + 64 * 1024));
    let value = "v".repeat(4096);
    let mut acked = Vec::new();
    let mut first_failure = None;
    for i in 0..200 {
        let key = format!("fill{i:03}");
        match s.set(&key, &value).await {
            (200, _) => acked.push(key),
            (status, body) => {
                first_failure = Some((status, body));
                break;
            }
        }
    }
    let (status, body) = first_failure.expect("the disk filled up");
    assert_eq!(status, 507, "{body}");
    assert!(!error_of(&body).is_empty());
    // While full, writes keep failing cleanly (507 or 503), never hang or 500.
    let (status, body) = s.set("while-full", "x").await;
    assert!(status == 507 || status == 503, "{status} {body}");

    fs.set_capacity(None);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = s.set("after-space", "back").await;
        if status == 200 {
            break;
        }
        assert!(status == 507 || status == 503, "{status} {body}");
        assert!(Instant::now() < deadline, "writes did not resume: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for key in acked
        .iter()
        .map(String::as_str)
        .chain(["before", "after-space"])
    {
        assert_eq!(s.get(&format!("/get/{key}")).await.0, 200, "{key} lost");
    }
    assert_eq!(s.get("/health").await.0, 200);
    s.stop().await;
}

/// The table of the default column family: the only one holding the raw values (tables are
/// not compressed by default), recognised by the `Zq` marker in every value.
fn value_table(fs: &FaultFs) -> String {
    let dir = Path::new(DIR);
    let tables: Vec<String> = fs
        .list_dir(dir)
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".sst"))
        .filter(|n| {
            let data = fs.read_all(&dir.join(n)).unwrap();
            data.windows(6).any(|w| w == b"Zq0000")
        })
        .collect();
    assert_eq!(tables.len(), 1, "one table holds the values: {tables:?}");
    tables[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_table_serves_other_keys_answers_500_and_health_reports_it() {
    let fs = FaultFs::new();
    let s = start(&fs).await;
    let value = |i: usize| format!("Zq{i:04} ").repeat(30);
    for i in 0..300 {
        assert_eq!(s.set(&format!("key{i:04}"), &value(i)).await.0, 200);
    }
    let r = s.http.post(format!("{}/admin/flush", s.url)).send().await;
    assert_eq!(r.unwrap().status().as_u16(), 200);
    assert_eq!(s.get("/health").await.0, 200);
    s.stop().await;

    // A byte inside the first data block of the values' table.
    let table = value_table(&fs);
    fs.corrupt(&Path::new(DIR).join(&table), 40, 0xff).unwrap();

    let s = start(&fs).await;
    let (mut ok, mut failed) = (0, 0);
    for i in 0..300 {
        let (status, body) = s.get(&format!("/get/key{i:04}")).await;
        match status {
            200 => {
                assert_eq!(body["value"], value(i), "key{i:04}: a wrong value");
                ok += 1;
            }
            500 => {
                assert!(error_of(&body).contains("corruption"), "{body}");
                failed += 1;
            }
            other => panic!("key{i:04}: {other} {body}"),
        }
    }
    assert!(failed > 0, "the damaged block was never read");
    assert!(
        ok > failed,
        "the other keys are served ({ok} ok, {failed} failed)"
    );

    let (status, health) = s.get("/health").await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(error_of(&health).contains(&table), "{health}");
    let metrics = s.text("/metrics").await;
    let line = metrics
        .lines()
        .find(|l| l.contains("corruptions_seen") && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("no corruptions_seen metric in:\n{metrics}"));
    let seen: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(seen, failed as f64, "{line}");
    // Writes still work: the damage is confined to one table.
    assert_eq!(s.set("new", "write").await.0, 200);
    s.stop().await;
}

/// A read that blocks in the file system (a page the disk must fetch) holds only its own
/// request: with one runtime worker, two reads blocked on the disk wait side by side, and
/// `/health` answers meanwhile. (A read run inline on the worker stalls every connection
/// behind it: the two reads would take twice as long.)
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
#[ignore = "known gap: GET reads inline on the runtime worker (block_in_place halved GET \
            throughput); fails today, passes with the read under block_in_place"]
async fn a_read_blocked_on_the_disk_does_not_stall_other_requests() {
    let fs = FaultFs::new();
    let s = start(&fs).await;
    assert_eq!(s.set("slow", "value").await.0, 200);
    let r = s.http.post(format!("{}/admin/flush", s.url)).send().await;
    assert_eq!(r.unwrap().status().as_u16(), 200);

    let delay = Duration::from_millis(1500);
    fs.set_read_delay(delay);
    let started = Instant::now();
    let slow = |http: reqwest::Client, url: String| async move {
        let r = http.get(format!("{url}/get/slow")).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let a = tokio::spawn(slow(s.http.clone(), s.url.clone()));
    let b = tokio::spawn(slow(s.http.clone(), s.url.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = s.get("/health").await;
    let health_took = started.elapsed();
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let both_took = started.elapsed();
    fs.set_read_delay(Duration::ZERO);
    assert_eq!(status, 200, "{body}");
    for (status, body) in [a, b] {
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("value"), "{body}");
    }
    assert!(
        both_took >= delay,
        "the reads did not go to the slow file ({both_took:?})"
    );
    assert!(
        both_took < delay * 2 - delay / 4,
        "two reads blocked on the disk took {both_took:?}: one waited for the other"
    );
    assert!(
        health_took < delay,
        "/health waited {health_took:?} behind reads blocked in the file system"
    );
    s.stop().await;
}
