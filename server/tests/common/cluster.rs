//! A raft cluster of real `kvstore` processes on loopback, for the cluster test files: start n
//! nodes on fixed free ports (a restarted node must come back on its own port: the membership
//! records its URL), signal and restart them, and wait for an agreed primary or a replicated key.

use super::{call, http, start, TestServer};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// One cluster at a time: three nodes each on a 2-core machine already make heartbeats late
/// under load, and a late heartbeat is a (legitimate, but test-disturbing) election.
pub static ONE_CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The value of `kvstore_cluster{stat="<name>"}` in a `/metrics` text.
pub fn cluster_stat(text: &str, name: &str) -> f64 {
    let prefix = format!("kvstore_cluster{{stat=\"{name}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
        .parse()
        .unwrap()
}

/// A port that was free a moment ago (a restarted node must come back on its own port: the
/// membership records its URL).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub ports: Vec<u16>,
    pub nodes: Vec<Option<TestServer>>,
    pub extra: Vec<String>,
}

impl Cluster {
    pub async fn start(n: usize) -> Cluster {
        Cluster::start_with(n, Vec::new()).await
    }

    pub async fn start_with(n: usize, extra: Vec<String>) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let mut c = Cluster {
            dir,
            ports,
            nodes: Vec::new(),
            extra,
        };
        for i in 0..n {
            let s = c.spawn(i).await;
            c.nodes.push(Some(s));
        }
        c
    }

    pub async fn spawn(&self, i: usize) -> TestServer {
        let data = self.dir.path().join(format!("node{}", i + 1));
        let port = self.ports[i].to_string();
        let name = format!("node{}", i + 1);
        // The positional port wins over the harness's `--port 0`.
        let mut args = vec![port.as_str(), "--mode", "raft", "--node-id", &name];
        args.extend(self.extra.iter().map(String::as_str));
        start(Path::new(&data), &args).await
    }

    pub fn signal(&self, i: usize, sig: &str) {
        let pid = self.nodes[i].as_ref().unwrap().child.id().to_string();
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    pub fn url(&self, i: usize, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports[i])
    }

    pub async fn status(&self, i: usize) -> Value {
        call(http().get(self.url(i, "/cluster/status"))).await.1
    }

    /// Waits until every running node names the same primary; returns its index.
    pub async fn wait_primary(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut leaders = Vec::new();
            for (i, n) in self.nodes.iter().enumerate() {
                if n.is_some() {
                    leaders.push((i, self.status(i).await));
                }
            }
            let named: Vec<Option<&str>> = leaders
                .iter()
                .map(|(_, s)| s["leader_id"].as_str())
                .collect();
            if let Some(Some(l)) = named.first() {
                if named.iter().all(|n| *n == Some(*l)) {
                    if let Some((i, _)) = leaders
                        .iter()
                        .find(|(_, s)| s["role"] == "primary" && s["node_id"] == *l)
                    {
                        return *i;
                    }
                }
            }
            assert!(Instant::now() < deadline, "no agreed primary: {leaders:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn set(&self, i: usize, key: &str, value: &str) -> (u16, Value) {
        call(
            http()
                .post(self.url(i, "/set"))
                .json(&json!({ "key": key, "value": value })),
        )
        .await
    }

    pub async fn get(&self, i: usize, key: &str, stale: bool) -> (u16, Value) {
        let q = if stale { "?consistency=stale" } else { "" };
        call(http().get(self.url(i, &format!("/get/{key}{q}")))).await
    }

    /// Waits until node `i`'s own replica holds `value` under `key`.
    pub async fn wait_replicated(&self, i: usize, key: &str, value: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = self.get(i, key, true).await;
            if status == 200 && body["value"] == value {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node{} never got {key}: {status} {body}",
                i + 1
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
