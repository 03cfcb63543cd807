//! A raft cluster of real `kvstore` processes on loopback, for the cluster test files: start n
//! nodes on fixed free ports (a restarted node must come back on its own port: the membership
//! records its URL), signal and restart them, and wait for an agreed primary or a replicated key.
//! A cluster started with [`Cluster::start_with_hosts`] gives each node its own loopback address
//! ([`loopback_hosts`]), so that `partition::Firewall` can cut the links between them.

use super::{call, http, TestServer};
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr};
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
    free_port_on(LOCALHOST)
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    /// Node `i` serves on `hosts[i]:ports[i]` (`127.0.0.1` unless started with
    /// [`Cluster::start_with_hosts`]).
    pub hosts: Vec<IpAddr>,
    pub ports: Vec<u16>,
    pub nodes: Vec<Option<TestServer>>,
    pub extra: Vec<String>,
}

impl Cluster {
    pub async fn start(n: usize) -> Cluster {
        Cluster::start_with(n, Vec::new()).await
    }

    pub async fn start_with(n: usize, extra: Vec<String>) -> Cluster {
        Cluster::start_with_hosts(vec![LOCALHOST; n], extra).await
    }

    /// A cluster of `hosts.len()` nodes, node `i` serving on `hosts[i]` (and sending its peer
    /// messages from it).
    pub async fn start_with_hosts(hosts: Vec<IpAddr>, extra: Vec<String>) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let n = hosts.len();
        let ports: Vec<u16> = hosts.iter().map(|h| free_port_on(*h)).collect();
        let mut c = Cluster {
            dir,
            hosts,
            ports,
            nodes: Vec::new(),
            extra,
        };
        for i in 0..n {
            // A port free a moment ago can be taken by another test's server before this one
            // binds it; a node that never ran can start on another one.
            let mut tries = 0;
            let s = loop {
                match c.try_spawn(i).await {
                    Ok(s) => break s,
                    Err(e) if e.contains("Address already in use") && tries < 5 => {
                        tries += 1;
                        c.ports[i] = free_port_on(c.hosts[i]);
                    }
                    Err(e) => panic!("{e}"),
                }
            };
            c.nodes.push(Some(s));
        }
        c
    }

    pub async fn spawn(&self, i: usize) -> TestServer {
        self.try_spawn(i).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts node `i` on its host and port, or says why it did not start.
    pub async fn try_spawn(&self, i: usize) -> Result<TestServer, String> {
        let data = self.dir.path().join(format!("node{}", i + 1));
        let port = self.ports[i].to_string();
        let name = format!("node{}", i + 1);
        // The positional port wins over the harness's `--port 0`.
        let host = self.hosts[i].to_string();
        let mut args = vec![port.as_str(), "--mode", "raft", "--node-id", &name];
        if self.hosts[i] != LOCALHOST {
            args.extend(["--host", host.as_str()]);
        }
        args.extend(self.extra.iter().map(String::as_str));
        super::try_start_with_env(Path::new(&data), &args, &[]).await
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
        format!("http://{}:{}{path}", self.hosts[i], self.ports[i])
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

/// The harness's default address.
pub const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// `n` loopback addresses of their own for one cluster: `127.a.b.1` to `127.a.b.n`, `a` and `b`
/// random, so that test processes running at the same time (and firewall rules they add) never
/// share one, and never `127.0.0.1`, where the test's clients and every other test live. Linux
/// routes all of 127.0.0.0/8 to the loopback interface: nothing needs configuring.
pub fn loopback_hosts(n: usize) -> Vec<IpAddr> {
    use rand::Rng;
    assert!((1..255).contains(&n));
    let mut rng = rand::thread_rng();
    let (a, b) = (rng.gen_range(1..=254u8), rng.gen_range(0..=255u8));
    (1..=n as u8)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, a, b, i)))
        .collect()
}

/// A port that was free on `host` a moment ago.
pub fn free_port_on(host: IpAddr) -> u16 {
    std::net::TcpListener::bind((host, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// For the partition and linearizability tests: forming the cluster, and questions that must
/// not panic while nodes are down or cut off.
impl Cluster {
    /// Forms the cluster: one `join` on node1 naming every other node; waits for an agreed
    /// primary.
    pub async fn form_from_node1(&self) {
        self.form_first(self.nodes.len()).await;
    }

    /// The seed's flow on the first `n` nodes: one `join` on node1 naming node2..node`n`;
    /// waits until they agree on a primary (the others are left out).
    pub async fn form_first(&self, n: usize) {
        let peers: Vec<Value> = (1..n)
            .map(|i| json!({"node_id": format!("node{}", i + 1), "url": self.url(i, "")}))
            .collect();
        let (status, body) = call(
            http()
                .post(self.url(0, "/cluster/join"))
                .json(&json!({ "peers": peers })),
        )
        .await;
        assert_eq!(status, 200, "join: {body}");
        self.primary_among(&(0..n).collect::<Vec<_>>()).await;
    }

    /// Node `i`'s `/cluster/status`, or `None` when it does not answer within `timeout`.
    pub async fn status_within(&self, i: usize, timeout: Duration) -> Option<Value> {
        let r = http()
            .get(self.url(i, "/cluster/status"))
            .timeout(timeout)
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    /// The primary a majority of the cluster's nodes name now, if it says it is primary (an
    /// old primary cut off from the others may still think it leads: it is not the answer).
    pub async fn current_primary(&self) -> Option<usize> {
        let mut named = Vec::new();
        let mut says_primary = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.is_none() {
                continue;
            }
            if let Some(s) = self.status_within(i, Duration::from_millis(500)).await {
                if let Some(l) = s["leader_id"].as_str() {
                    named.push(l.to_string());
                }
                if s["role"] == "primary" {
                    says_primary.push(i);
                }
            }
        }
        let majority = self.nodes.len() / 2 + 1;
        says_primary.into_iter().find(|&i| {
            let name = format!("node{}", i + 1);
            named.iter().filter(|n| **n == name).count() >= majority
        })
    }

    /// Waits until every node of `among` names the same primary, one of them; returns it.
    pub async fn primary_among(&self, among: &[usize]) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut statuses = Vec::new();
            for &i in among {
                statuses.push((i, self.status_within(i, Duration::from_secs(1)).await));
            }
            let names: Vec<Option<&str>> = statuses
                .iter()
                .map(|(_, s)| s.as_ref().and_then(|s| s["leader_id"].as_str()))
                .collect();
            if let Some(Some(l)) = names.first() {
                if names.iter().all(|n| n == &Some(*l)) {
                    let found = statuses.iter().find(|(_, s)| {
                        s.as_ref()
                            .is_some_and(|s| s["role"] == "primary" && s["node_id"] == *l)
                    });
                    if let Some((i, _)) = found {
                        return *i;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no primary agreed among nodes {among:?}: {statuses:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// kill -9 of node `i` (the slot is left empty until [`Cluster::respawn`]).
    pub fn kill9_node(&mut self, i: usize) {
        if let Some(mut s) = self.nodes[i].take() {
            s.kill9();
        }
    }

    /// Starts node `i` again on its address, port and data.
    pub async fn respawn(&mut self, i: usize) {
        assert!(self.nodes[i].is_none(), "node{} is running", i + 1);
        let s = self.spawn(i).await;
        self.nodes[i] = Some(s);
    }
}
