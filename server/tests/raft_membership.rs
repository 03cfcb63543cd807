//! Cluster membership with real processes on loopback, as an etcd operator runs it: a fresh node
//! joins through any member (`POST /cluster/join {"via"}`), members are removed
//! (`DELETE /cluster/members/<id>`) — a live secondary, and a dead one — and every refusal says
//! why with its status: unknown id (404), the primary, the last voter, a removal that would leave
//! no reachable quorum, a change while another runs, a node id already a member under another
//! URL (409), a via-URL that cannot be reached (503). A removed node knows it, refuses writes,
//! stops campaigning (no term moves anywhere), and still knows it after a restart; a node
//! removed while it was down learns it from the members when it comes back.
//! (Standalone mode's 409s: `ops_endpoints.rs`.)

mod common;

use common::cluster::{free_port, Cluster, ONE_CLUSTER};
use common::{call, expect_error, http, start};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

impl Cluster {
    /// `POST /cluster/join {"via"}` on node `i`.
    async fn join_via(&self, i: usize, via: &str) -> (u16, Value) {
        call(
            http()
                .post(self.url(i, "/cluster/join"))
                .json(&json!({ "via": via })),
        )
        .await
    }

    /// `DELETE /cluster/members/<name>` sent to node `i`.
    async fn remove(&self, i: usize, name: &str) -> (u16, Value) {
        call(http().delete(self.url(i, &format!("/cluster/members/{name}")))).await
    }

    /// Removes `name` through node `i`, retrying a 503 (a leader change under way) a few
    /// times; a 404 on a retry means the earlier attempt went through after all.
    async fn remove_retrying(&self, i: usize, name: &str) {
        for attempt in 0..5 {
            let (status, body) = self.remove(i, name).await;
            match status {
                200 => return,
                404 if attempt > 0 => return,
                503 => tokio::time::sleep(Duration::from_millis(500)).await,
                _ => panic!("removing {name}: {status} {body}"),
            }
        }
        panic!("removing {name}: still 503 after 5 attempts");
    }

    async fn term(&self, i: usize) -> u64 {
        let s = self.status(i).await;
        s["term"].as_u64().unwrap_or_else(|| panic!("no term: {s}"))
    }

    async fn terms(&self, among: &[usize]) -> Vec<u64> {
        let mut out = Vec::new();
        for &i in among {
            out.push(self.term(i).await);
        }
        out
    }
}

/// Runs `kvstore <args> --url <url>`; returns (success, stdout, stderr).
async fn cli(args: &[&str], url: &str) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(common::BIN);
    cmd.args(args).arg("--url").arg(url);
    cmd.env_remove("KVSTORE_TOKEN")
        .env_remove("KVSTORE_TOKEN_FILE")
        .stdin(std::process::Stdio::null());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn names(body: &Value) -> Vec<String> {
    let mut v: Vec<String> = body["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members: {body}"))
        .iter()
        .map(|m| m["node_id"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn error_of(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_via_grows_three_to_four_and_a_removed_secondary_stops_serving_and_campaigning() {
    let _one = ONE_CLUSTER.lock().await;
    let started = Instant::now();
    let mut c = Cluster::start(4).await;
    c.form_first(3).await;
    assert_eq!(c.primary_among(&[0, 1, 2]).await, 0);
    for i in 0..20 {
        let (status, body) = c.set(i % 3, &format!("k{i:02}"), "before the join").await;
        assert_eq!(status, 200, "{body}");
    }

    // Join refusals, on the fresh node4. A via-URL nobody answers at: 503 naming it.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let msg = expect_error(
        http()
            .post(c.url(3, "/cluster/join"))
            .json(&json!({ "via": nowhere })),
        503,
    )
    .await;
    assert!(msg.contains(&nowhere), "{msg}");
    assert_eq!(c.status(3).await["role"], "uninitialized");
    // Both shapes in one body: 400.
    expect_error(
        http()
            .post(c.url(3, "/cluster/join"))
            .json(&json!({"via": c.url(0, ""), "node_id": "node4"})),
        400,
    )
    .await;
    // A new process taking the id of a member at another URL: 409, and nothing changes.
    let stranger = start(
        &c.dir.path().join("stranger"),
        &["--mode", "raft", "--node-id", "node3"],
    )
    .await;
    let msg = expect_error(
        http()
            .post(stranger.url("/cluster/join"))
            .json(&json!({ "via": c.url(1, "") })),
        409,
    )
    .await;
    assert!(
        msg.contains("node3") && msg.contains("already a member"),
        "{msg}"
    );
    drop(stranger);
    let s = c.status(0).await;
    assert_eq!(names(&s), ["node1", "node2", "node3"], "{s}");

    // node4 joins through a secondary (forwarded to the primary): a voter holding the data.
    let (status, body) = c.join_via(3, &c.url(1, "")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body), ["node1", "node2", "node3", "node4"], "{body}");
    assert!(
        body["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["voter"] == true),
        "{body}"
    );
    assert_eq!(c.status(3).await["role"], "secondary");
    c.wait_replicated(3, "k19", "before the join").await;
    // Again, through another member: a no-op success.
    let (status, body) = c.join_via(3, &c.url(2, "")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = c.set(3, "through-node4", "after the join").await;
    assert_eq!(status, 200, "{body}");

    // Removal refusals: an unknown id, the primary.
    let (status, body) = c.remove(1, "node9").await;
    assert_eq!(status, 404, "{body}");
    assert!(error_of(&body).contains("node9"), "{body}");
    let (status, body) = c.remove(1, "node1").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        error_of(&body).contains("primary") && error_of(&body).contains("become_primary"),
        "{body}"
    );

    // Remove the secondary node3, through node4 (forwarded to the primary).
    let terms = c.terms(&[0, 1, 2, 3]).await;
    let (status, body) = c.remove(3, "node3").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["notified"], true, "{body}");
    assert_eq!(names(&body), ["node1", "node2", "node4"], "{body}");

    // The removed node knows it: refuses writes (503), linearizable reads and membership calls,
    // still serves its replica as it was.
    let s = c.status(2).await;
    assert_eq!(s["role"], "removed", "{s}");
    let (status, body) = c.set(2, "to-removed", "x").await;
    assert_eq!(status, 503, "{body}");
    assert!(error_of(&body).contains("removed"), "{body}");
    assert_eq!(c.get(2, "k00", false).await.0, 503);
    let (status, body) = c.get(2, "k00", true).await;
    assert_eq!((status, &body["value"]), (200, &json!("before the join")));
    let (status, body) = c.join_via(2, &c.url(0, "")).await;
    assert_eq!(status, 409, "{body}");

    // The others go on taking writes, through every remaining node.
    for i in [0, 1, 3] {
        let (status, body) = c.set(i, &format!("after-removal-{i}"), "x").await;
        assert_eq!(status, 200, "through node{}: {body}", i + 1);
    }
    // No election anywhere: the removed node does not campaign (its term would grow within an
    // election timeout, 0.4-0.7 s) and nobody else's term moves.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = c.terms(&[0, 1, 2, 3]).await;
    assert_eq!(after, terms, "terms moved after the removal");
    assert_eq!(c.primary_among(&[0, 1, 3]).await, 0);

    // The removal survives a restart: the node comes back removed and does not campaign.
    c.nodes[2].as_mut().unwrap().kill9();
    c.nodes[2] = Some(c.spawn(2).await);
    let s = c.status(2).await;
    assert_eq!(s["role"], "removed", "{s}");
    assert_eq!(c.set(2, "to-removed", "x").await.0, 503);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        c.term(2).await,
        terms[2],
        "the restarted removed node campaigned"
    );
    assert_eq!(c.term(0).await, terms[0]);
    eprintln!("join-via and removal scenario took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_dead_node_and_the_refusals_that_protect_the_quorum() {
    let _one = ONE_CLUSTER.lock().await;
    let started = Instant::now();
    let mut c = Cluster::start(4).await;
    c.form_first(4).await;
    assert_eq!(c.primary_among(&[0, 1, 2, 3]).await, 0);
    let (status, body) = c.set(1, "k", "v").await;
    assert_eq!(status, 200, "{body}");

    // kill -9 node4, then remove it through a secondary, with the CLI: the three others are a
    // healthy quorum of both the old configuration and the new one.
    c.nodes[3].as_mut().unwrap().kill9();
    c.nodes[3] = None;
    let (ok, out, err) = cli(
        &["cluster", "leave", "--node", "node4", "--json"],
        &c.url(1, ""),
    )
    .await;
    assert!(ok, "{out} {err}");
    let body: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["notified"], false, "a dead node was told: {body}");
    assert_eq!(names(&body), ["node1", "node2", "node3"], "{body}");
    for i in 0..3 {
        let (status, body) = c.set(i, &format!("after-dead-{i}"), "x").await;
        assert_eq!(status, 200, "through node{}: {body}", i + 1);
    }

    // node4 comes back with its old data: nobody told it, and it still holds a configuration
    // naming it a voter. Hearing no leader, it asks the members, learns it was removed, and
    // stops; its campaigns meanwhile move nobody's term.
    let terms = c.terms(&[0, 1, 2]).await;
    c.nodes[3] = Some(c.spawn(3).await);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = c.status(3).await;
        if s["role"] == "removed" {
            break;
        }
        assert!(Instant::now() < deadline, "node4 never learned: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = c.set(3, "to-removed", "x").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        c.terms(&[0, 1, 2]).await,
        terms,
        "node4's return moved a term"
    );
    assert!(c.dir.path().join("node4").join("REMOVED").exists());

    // node3 paused: removing node2 would leave {node1, node3}, of which only node1 answers.
    // Refused (409, naming node3) — the probe of node3 takes a second, and meanwhile a second
    // change is refused as in progress.
    c.signal(2, "-STOP");
    let url = c.url(0, "/cluster/members/node2");
    let first = tokio::spawn(async move { call(http().delete(url)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = c.remove(0, "node3").await;
    assert_eq!(status, 409, "{body}");
    assert!(error_of(&body).contains("in progress"), "{body}");
    let (status, body) = first.await.unwrap();
    c.signal(2, "-CONT");
    assert_eq!(status, 409, "{body}");
    let msg = error_of(&body);
    assert!(
        msg.contains("quorum") && msg.contains("node3 is unreachable"),
        "{body}"
    );
    // (node3, paused past its election timeout, may campaign when it resumes and move the
    // primary: from here on the primary is asked, not assumed.)
    let p = c.primary_among(&[0, 1, 2]).await;
    let (ok, out, err) = cli(&["cluster", "status", "--json"], &c.url(p, "")).await;
    assert!(ok, "{out} {err}");
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["role"], "primary", "{s}");
    assert_eq!(names(&s), ["node1", "node2", "node3"], "{s}");

    // Down to one voter, then the last voter cannot go (the CLI exits non-zero with the
    // server's message).
    let mut left = vec![0, 1, 2];
    while left.len() > 1 {
        let p = c.primary_among(&left).await;
        let victim = *left.iter().find(|i| **i != p).unwrap();
        c.remove_retrying(p, &format!("node{}", victim + 1)).await;
        left.retain(|i| *i != victim);
    }
    let p = left[0];
    let s = c.status(p).await;
    assert_eq!(names(&s), [format!("node{}", p + 1)], "{s}");
    let (ok, out, err) = cli(&["cluster", "leave"], &c.url(p, "")).await;
    assert!(!ok, "the last voter was removed: {out}");
    assert!(err.contains("409") && err.contains("last voter"), "{err}");
    let (status, body) = c.set(p, "alone", "still writable").await;
    assert_eq!(status, 200, "{body}");
    eprintln!(
        "dead-node removal and refusals took {:?}",
        started.elapsed()
    );
}
