//! Raft mode with real processes on loopback: the seed's flow (three nodes started with
//! `--mode raft`, one `/cluster/join`), replication to both secondaries, writes and reads
//! through secondaries, and a kill -9 of the primary: a new primary is elected, every
//! acknowledged write is still there, and the old primary restarts as a secondary and catches
//! up — with no new `join`.

mod common;

use common::cluster::{cluster_stat, free_port, Cluster, ONE_CLUSTER};
use common::{call, expect_error, http, start};
use kvstore_server::node::raft::network::{encode, HoldRequest};
use kvstore_server::node::raft::raft_id;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_flow_replication_forwarding_and_failover_after_kill9_of_the_primary() {
    let _one = ONE_CLUSTER.lock().await;
    let mut c = Cluster::start(3).await;

    // Never joined: healthy, uninitialized, refusing writes with a clear 503.
    let s = c.status(0).await;
    assert_eq!(s["mode"], "raft", "{s}");
    assert_eq!(s["role"], "uninitialized", "{s}");
    let msg = expect_error(
        http()
            .post(c.url(0, "/set"))
            .json(&json!({"key": "k", "value": "v"})),
        503,
    )
    .await;
    assert!(msg.contains("not joined"), "{msg}");

    // A peer that cannot be reached, or that is another node, is named in a clear error
    // (and nothing is added).
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let msg = expect_error(
        http()
            .post(c.url(0, "/cluster/join"))
            .json(&json!({"node_id": "node9", "url": nowhere})),
        503,
    )
    .await;
    assert!(msg.contains("cannot reach node9"), "{msg}");
    let msg = expect_error(
        http()
            .post(c.url(0, "/cluster/join"))
            .json(&json!({"node_id": "node7", "url": c.url(1, "")})),
        409,
    )
    .await;
    assert!(msg.contains("node2"), "{msg}");

    // The seed's flow: one join on node1 names the two others.
    let peers = json!({"peers": [
        {"node_id": "node2", "url": c.url(1, "")},
        {"node_id": "node3", "url": c.url(2, "")},
    ]});
    let (status, body) = call(http().post(c.url(0, "/cluster/join")).json(&peers)).await;
    assert_eq!(status, 200, "{body}");
    let members = body["members"].as_array().unwrap();
    assert_eq!(members.len(), 3, "{body}");
    assert!(members.iter().all(|m| m["voter"] == true), "{body}");
    assert_eq!(c.wait_primary().await, 0);
    for i in [1, 2] {
        assert_eq!(c.status(i).await["role"], "secondary");
    }
    // Joining members again is a no-op success.
    let (status, body) = call(http().post(c.url(0, "/cluster/join")).json(&peers)).await;
    assert_eq!(status, 200, "{body}");

    // Writes to every node (the secondaries forward them), read back linearizably anywhere,
    // and replicated to every replica with their indexes.
    let mut acked = Vec::new();
    for i in 0..30 {
        let key = format!("doc{i:03}");
        let value = format!("spark plug number {i}");
        let (status, body) = c.set(i % 3, &key, &value).await;
        assert_eq!(status, 200, "write through node{}: {body}", i % 3 + 1);
        acked.push((key, value));
    }
    for (i, (key, value)) in acked.iter().enumerate() {
        let (status, body) = c.get((i + 1) % 3, key, false).await;
        assert_eq!((status, &body["value"]), (200, &json!(value)), "{body}");
    }
    for i in 0..3 {
        c.wait_replicated(i, "doc029", "spark plug number 29").await;
        let (status, body) = call(http().get(c.url(i, "/search?q=spark"))).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            !body["results"].as_array().unwrap().is_empty(),
            "node{}: the index was not replicated: {body}",
            i + 1
        );
    }
    // A delete through a secondary.
    let (status, body) = call(http().delete(c.url(2, "/delete/doc000"))).await;
    assert_eq!((status, &body["deleted"]), (200, &json!(true)), "{body}");
    expect_error(http().get(c.url(1, "/get/doc000")), 404).await;
    expect_error(http().delete(c.url(1, "/delete/doc000")), 404).await;
    acked.remove(0);

    // A secondary paused while the others commit must not answer from its stale replica: a
    // linearizable read right after it resumes sees every write acknowledged before it.
    let primary = c.wait_primary().await;
    let paused = (0..3).find(|i| *i != primary).unwrap();
    c.signal(paused, "-STOP");
    for i in 0..10 {
        let (status, body) = c.set(primary, &format!("doc{i:03}x"), "while paused").await;
        assert_eq!(status, 200, "{body}");
        acked.push((format!("doc{i:03}x"), "while paused".into()));
    }
    c.signal(paused, "-CONT");
    // Search and scan run on the resumed secondary's own replica, after a read index from the
    // primary: they see every write acknowledged before them too.
    let keys = |body: &Value, field: &str| -> Vec<String> {
        body[field]
            .as_array()
            .unwrap_or_else(|| panic!("no {field} in {body}"))
            .iter()
            .map(|h| h["key"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, body) = call(http().get(c.url(paused, "/search?q=paused&k=20"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(keys(&body, "results").len(), 10, "a stale search: {body}");
    let (status, body) = call(
        http()
            .post(c.url(paused, "/semantic_search"))
            .json(&json!({"q": "while paused", "k": 20})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        keys(&body, "results").contains(&"doc009x".to_string()),
        "a stale semantic search: {body}"
    );
    let msg = expect_error(
        http().get(c.url(paused, "/search?q=paused&consistency=fresh")),
        400,
    )
    .await;
    assert!(msg.contains("consistency"), "{msg}");
    let (status, body) =
        call(http().get(c.url(paused, "/search?q=paused&consistency=stale"))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(http().get(c.url(paused, "/scan?start=doc009x&limit=1"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        keys(&body, "items"),
        vec!["doc009x"],
        "a stale scan: {body}"
    );
    for i in 0..10 {
        let (status, body) = c.get(paused, &format!("doc{i:03}x"), false).await;
        assert_eq!(
            (status, &body["value"]),
            (200, &json!("while paused")),
            "a stale read from the resumed secondary: {body}"
        );
    }

    // Without a quorum (both secondaries paused) the primary acknowledges nothing: a write
    // and a linearizable read answer 503 within their timeouts, never a false 200.
    let primary = c.wait_primary().await;
    for i in (0..3).filter(|i| *i != primary) {
        c.signal(i, "-STOP");
    }
    let started = Instant::now();
    let (status, body) = c.set(primary, "no-quorum", "never acknowledged").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("no quorum"),
        "{body}"
    );
    let (status, body) = c.get(primary, "doc001", false).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    // A stale read is served from the local replica.
    let (status, body) = c.get(primary, "doc001", true).await;
    assert_eq!(status, 200, "{body}");
    for i in (0..3).filter(|i| *i != primary) {
        c.signal(i, "-CONT");
    }

    // kill -9 of the primary: the two others elect a new one and keep taking writes.
    let old = c.wait_primary().await;
    c.nodes[old].as_mut().unwrap().kill9();
    c.nodes[old] = None;
    let started = Instant::now();
    let new = c.wait_primary().await;
    assert_ne!(new, old);
    eprintln!("failover took {:?}", started.elapsed());
    let survivor = (0..3).find(|i| *i != old && *i != new).unwrap();
    for i in 0..10 {
        let key = format!("after{i}");
        let (status, body) = c.set(survivor, &key, "written after the kill").await;
        assert_eq!(status, 200, "{body}");
        acked.push((key, "written after the kill".into()));
    }
    for (key, value) in &acked {
        let (status, body) = c.get(survivor, key, false).await;
        assert_eq!(
            (status, &body["value"]),
            (200, &json!(value)),
            "{key}: {body}"
        );
    }

    // The old primary restarts (no new join) as a secondary and catches up.
    let s = c.spawn(old).await;
    c.nodes[old] = Some(s);
    c.wait_replicated(old, "after9", "written after the kill")
        .await;
    assert_eq!(c.wait_primary().await, new);
    let s = c.status(old).await;
    assert_eq!(s["role"], "secondary", "{s}");
    for (key, value) in &acked {
        let (status, body) = c.get(old, key, true).await;
        assert_eq!(
            (status, &body["value"]),
            (200, &json!(value)),
            "{key}: {body}"
        );
    }
}

/// With `--auth-token-file` on every member, peers authenticate to each other with the token
/// (the cluster forms and forwards writes), and a peer message without it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_on_peers_use_the_token_and_strangers_are_refused() {
    let _one = ONE_CLUSTER.lock().await;
    let secrets = tempfile::tempdir().unwrap();
    let token = "raft-cluster-test-token-0123456789";
    let file = secrets.path().join("token");
    std::fs::write(&file, token).unwrap();
    let c = Cluster::start_with(
        3,
        vec![
            "--auth-token-file".into(),
            file.to_str().unwrap().to_string(),
        ],
    )
    .await;
    let auth = format!("Bearer {token}");
    let peers = json!({"peers": [
        {"node_id": "node2", "url": c.url(1, "")},
        {"node_id": "node3", "url": c.url(2, "")},
    ]});
    expect_error(http().post(c.url(0, "/cluster/join")).json(&peers), 401).await;
    // A member started with another token is refused with a clear error, not a long wait.
    let other = secrets.path().join("other");
    std::fs::write(&other, "a-different-token-9876543210-abcdef").unwrap();
    let stranger_dir = c.dir.path().join("stranger");
    let stranger = start(
        &stranger_dir,
        &[
            "--mode",
            "raft",
            "--node-id",
            "node4",
            "--auth-token-file",
            other.to_str().unwrap(),
        ],
    )
    .await;
    let msg = expect_error(
        http()
            .post(c.url(0, "/cluster/join"))
            .header("authorization", &auth)
            .json(&json!({"node_id": "node4", "url": stranger.url})),
        503,
    )
    .await;
    assert!(msg.contains("401"), "{msg}");
    let (status, body) = call(
        http()
            .post(c.url(0, "/cluster/join"))
            .header("authorization", &auth)
            .json(&peers),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A write through a secondary reaches the primary (forwarded with the token) and every
    // replica.
    let (status, body) = call(
        http()
            .post(c.url(2, "/set"))
            .header("authorization", &auth)
            .json(&json!({"key": "k", "value": "guarded"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for i in 0..3 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = call(
                http()
                    .get(c.url(i, "/get/k?consistency=stale"))
                    .header("authorization", &auth),
            )
            .await;
            if status == 200 {
                assert_eq!(body["value"], "guarded");
                break;
            }
            assert!(Instant::now() < deadline, "node{}: {status} {body}", i + 1);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // A peer message from someone without the token.
    let r = http()
        .post(c.url(1, "/raft/vote"))
        .body(vec![0u8; 8])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

/// Kills the primary `rounds` times in a row: each time the two survivors elect a new primary
/// (the election watchdog guards openraft 0.9's split-vote lockstep), writes go on, and the
/// killed node restarts and catches up. Prints the failover times (kill -9 → all survivors
/// agree on a new primary).
async fn repeated_failovers(rounds: usize) {
    let _one = ONE_CLUSTER.lock().await;
    let mut c = Cluster::start(3).await;
    c.form_from_node1().await;
    let mut times = Vec::new();
    for round in 0..rounds {
        let old = c.wait_primary().await;
        c.nodes[old].as_mut().unwrap().kill9();
        c.nodes[old] = None;
        let started = Instant::now();
        let new = c.wait_primary().await;
        times.push(started.elapsed());
        assert_ne!(new, old);
        let key = format!("round{round}");
        let (status, body) = c.set(new, &key, "after a failover").await;
        assert_eq!(status, 200, "round {round}: {body}");
        let s = c.spawn(old).await;
        c.nodes[old] = Some(s);
        c.wait_replicated(old, &key, "after a failover").await;
    }
    for round in 0..rounds {
        let (status, body) = c.get(0, &format!("round{round}"), false).await;
        assert_eq!((status, &body["value"]), (200, &json!("after a failover")));
    }
    // /metrics: the primary says so, and counts the leader changes and terms it saw.
    let primary = c.wait_primary().await;
    let text = http()
        .get(c.url(primary, "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let stat = |name: &str| cluster_stat(&text, name);
    assert_eq!(stat("is_leader"), 1.0);
    assert_eq!(stat("voters"), 3.0);
    assert!(stat("term") >= rounds as f64 + 1.0, "{text}");
    assert!(stat("leader_changes") >= 1.0, "{text}");
    assert!(stat("applied_index") >= rounds as f64, "{text}");
    times.sort();
    eprintln!(
        "{rounds} failovers: median {:?}, max {:?} (all: {times:?})",
        times[times.len() / 2],
        times[times.len() - 1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_primary_kills_in_a_row_each_elect_a_new_primary() {
    repeated_failovers(3).await;
}

/// The long version: `cargo test -p kvstore-server --test raft_cluster -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn twenty_primary_kills_in_a_row_each_elect_a_new_primary() {
    repeated_failovers(20).await;
}

/// `become_primary` moves leadership to the node asked, twenty times in a row, and writes and
/// linearizable reads go on around each move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn become_primary_moves_leadership_twenty_times_in_a_row() {
    let _one = ONE_CLUSTER.lock().await;
    let c = Cluster::start(3).await;
    let peers = json!({"peers": [
        {"node_id": "node2", "url": c.url(1, "")},
        {"node_id": "node3", "url": c.url(2, "")},
    ]});
    let (status, body) = call(http().post(c.url(0, "/cluster/join")).json(&peers)).await;
    assert_eq!(status, 200, "{body}");
    // On the primary: a no-op.
    let (status, body) = call(http().post(c.url(0, "/become_primary"))).await;
    assert_eq!((status, &body["role"]), (200, &json!("primary")), "{body}");
    // A primary held for a transfer serves neither writes nor linearizable reads until
    // released (it may be about to lose its leadership).
    let hold = HoldRequest {
        target: raft_id("node2"),
        millis: 3_000,
        quiet: false,
    };
    let peer = |rpc: &str, body: Vec<u8>| {
        http()
            .post(c.url(0, &format!("/raft/{rpc}")))
            .body(body)
            .send()
    };
    let r = peer("hold", encode(&hold).unwrap()).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (status, body) = c.set(0, "held", "x").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("transfer"),
        "{body}"
    );
    assert_eq!(c.get(0, "moved0", false).await.0, 503);
    let r = peer("release", encode(&()).unwrap()).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(c.set(0, "held", "x").await.0, 200);
    let mut took = Vec::new();
    for round in 0..20 {
        let primary = c.wait_primary().await;
        let target = (primary + 1 + round % 2) % 3;
        let (status, body) = call(http().post(c.url(target, "/become_primary"))).await;
        assert_eq!(
            status,
            200,
            "round {round}: node{} → node{}: {body}",
            primary + 1,
            target + 1
        );
        took.push(body["took_ms"].as_u64().unwrap());
        assert_eq!(c.wait_primary().await, target, "round {round}");
        let key = format!("moved{round}");
        let (status, body) = c.set(primary, &key, "after a move").await;
        assert_eq!(status, 200, "round {round}: {body}");
        let (status, body) = c.get(primary, &key, false).await;
        assert_eq!((status, &body["value"]), (200, &json!("after a move")));
    }
    took.sort();
    eprintln!(
        "20 transfers: median {} ms, max {} ms",
        took[took.len() / 2],
        took[took.len() - 1]
    );
}

/// A secondary down while the others write past several snapshots (and purge their logs behind
/// them) catches up by snapshot when it comes back: the packed checkpoint travels in chunks over
/// the peer transport and is installed, then the log tail follows; its replica — documents and
/// search indexes — equals the primary's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secondary_far_behind_catches_up_by_snapshot() {
    let _one = ONE_CLUSTER.lock().await;
    let mut c = Cluster::start_with(3, vec!["--raft-snapshot-every".into(), "100".into()]).await;
    let peers = json!({"peers": [
        {"node_id": "node2", "url": c.url(1, "")},
        {"node_id": "node3", "url": c.url(2, "")},
    ]});
    let (status, body) = call(http().post(c.url(0, "/cluster/join")).json(&peers)).await;
    assert_eq!(status, 200, "{body}");
    let primary = c.wait_primary().await;
    let down = (primary + 2) % 3;
    c.nodes[down].as_mut().unwrap().kill9();
    c.nodes[down] = None;
    // 400 documents in bulks of 4: 100 entries, then 100 more, ... past several snapshots.
    for b in 0..100 {
        let items: Vec<Value> = (0..4)
            .map(|i| json!([format!("bulk{b:03}-{i}"), format!("gasket {b} part {i}")]))
            .collect();
        let (status, body) = call(
            http()
                .post(c.url(primary, "/bulk_set"))
                .json(&json!({ "items": items })),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    for b in 0..150 {
        let (status, body) = c.set(primary, &format!("single{b:03}"), "washer").await;
        assert_eq!(status, 200, "{body}");
    }
    let ports = c.ports.clone();
    let metrics = |i: usize| {
        let url = format!("http://127.0.0.1:{}/metrics", ports[i]);
        async move { http().get(url).send().await.unwrap().text().await.unwrap() }
    };
    let snap_of = |text: &str| cluster_stat(text, "snapshot_index");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = metrics(primary).await;
        if snap_of(&text) >= 100.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the primary made no snapshot:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The log the stopped node would need is gone: it can only catch up by snapshot.
    let purged = cluster_stat(&metrics(primary).await, "purged_index");
    assert!(
        purged >= 50.0,
        "the primary kept its log (purged to {purged})"
    );

    let s = c.spawn(down).await;
    c.nodes[down] = Some(s);
    c.wait_replicated(down, "single149", "washer").await;
    assert!(
        snap_of(&metrics(down).await) >= 100.0,
        "node{} caught up without installing a snapshot",
        down + 1
    );
    for b in [0, 37, 99] {
        let (status, body) = c.get(down, &format!("bulk{b:03}-3"), true).await;
        assert_eq!(
            (status, &body["value"]),
            (200, &json!(format!("gasket {b} part 3")))
        );
    }
    // The indexes came with the snapshot: the same search answers the same on both.
    let search = |i: usize| {
        let url = c.url(i, "/search?q=gasket&k=1000");
        async move {
            call(http().get(url)).await.1["results"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(search(down).await, 400);
    assert_eq!(search(primary).await, 400);
}

/// Writes that arrive together are committed together (the proposer groups them into shared
/// log entries), and each is still answered with its own outcome: every set acknowledged and
/// readable through a secondary, every delete reporting whether its own key was there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_log_entries_and_each_gets_its_own_answer() {
    let _one = ONE_CLUSTER.lock().await;
    let c = Cluster::start(3).await;
    c.form_from_node1().await;
    let primary = c.wait_primary().await;
    let last_index = |i: usize| {
        let url = c.url(i, "/metrics");
        async move {
            let text = http().get(url).send().await.unwrap().text().await.unwrap();
            cluster_stat(&text, "last_log_index")
        }
    };
    for i in 0..32 {
        assert_eq!(c.set(primary, &format!("old{i}"), "x").await.0, 200);
    }
    let before = last_index(primary).await;
    const WRITES: usize = 256;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..WRITES {
        let (set_url, del_url) = (
            c.url(primary, "/set"),
            // Half the deletes name a key that exists, half one that never did.
            c.url(
                primary,
                &format!("/delete/{}{}", ["old", "none"][(i / 8) % 2], i / 8),
            ),
        );
        tasks.spawn(async move {
            if i % 8 == 0 {
                let (status, body) = call(http().delete(del_url)).await;
                (i, status, body)
            } else {
                let body = json!({"key": format!("k{i}"), "value": format!("v{i}")});
                let (status, body) = call(http().post(set_url).json(&body)).await;
                (i, status, body)
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        let (i, status, body) = r.unwrap();
        match (i % 8, i % 16) {
            (0, 0) => assert_eq!(
                (status, &body["deleted"]),
                (200, &json!(true)),
                "{i}: {body}"
            ),
            (0, _) => assert_eq!(status, 404, "{i}: a delete of a missing key: {body}"),
            _ => assert_eq!(status, 200, "{i}: {body}"),
        }
    }
    let entries = last_index(primary).await - before;
    eprintln!("{WRITES} concurrent writes in {entries} log entries");
    assert!(
        entries < WRITES as f64 / 2.0,
        "{WRITES} concurrent writes took {entries} log entries: they are not grouped"
    );
    let secondary = (primary + 1) % 3;
    for i in (0..WRITES).filter(|i| i % 8 != 0) {
        let (status, body) = c.get(secondary, &format!("k{i}"), false).await;
        assert_eq!((status, &body["value"]), (200, &json!(format!("v{i}"))));
    }
    for i in (0..WRITES).filter(|i| i % 16 == 0) {
        let (status, _) = c.get(secondary, &format!("old{}", i / 8), false).await;
        assert_eq!(status, 404, "old{} was deleted", i / 8);
    }
}

/// Every cluster draws an id when it is initialized and its members send it with every peer
/// message: a member of another cluster is neither added by a join nor listened to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_cluster_is_refused() {
    let _one = ONE_CLUSTER.lock().await;
    // a = {node1, node2}; b = {node1, node3} (b's node2 stays out of it).
    let a = Cluster::start(2).await;
    let b = Cluster::start(3).await;
    for (c, other) in [(&a, 1), (&b, 2)] {
        let peers =
            json!({"peers": [{"node_id": format!("node{}", other + 1), "url": c.url(other, "")}]});
        let (status, body) = call(http().post(c.url(0, "/cluster/join")).json(&peers)).await;
        assert_eq!(status, 200, "{body}");
    }
    let hello = |url: String| async move {
        let bytes = http()
            .post(url)
            .body(encode(&()).unwrap())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let m: kvstore_server::node::raft::Member =
            kvstore_server::node::raft::network::decode(&bytes).unwrap();
        m.cluster
    };
    let (a_id, b_id) = (
        hello(a.url(1, "/raft/hello")).await,
        hello(b.url(2, "/raft/hello")).await,
    );
    assert_eq!((a_id.len(), b_id.len()), (16, 16), "{a_id:?} {b_id:?}");
    assert_ne!(a_id, b_id);
    assert_eq!(
        hello(b.url(0, "/raft/hello")).await,
        b_id,
        "b's members share its id"
    );
    assert_eq!(
        hello(b.url(1, "/raft/hello")).await,
        "",
        "a node in no cluster has no id"
    );
    // b's node3 cannot be added to a.
    let (status, body) = call(http().post(a.url(0, "/cluster/join")).json(&json!({
        "peers": [{"node_id": "node3", "url": b.url(2, "")}]
    })))
    .await;
    assert_eq!(status, 409, "{body}");
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.contains("another cluster") && msg.contains(&b_id),
        "{msg}"
    );
    // A peer message carrying a's id is refused by b's members before it is read.
    let r = http()
        .post(b.url(2, "/raft/vote"))
        .header("x-kvstore-cluster", &a_id)
        .body(vec![0u8; 8])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let text = r.text().await.unwrap();
    assert!(text.contains(&a_id) && text.contains(&b_id), "{text}");
    // b's node2, in no cluster, can still be added to a (and takes a's id).
    let (status, body) = call(http().post(a.url(0, "/cluster/join")).json(&json!({
        "peers": [{"node_id": "node2b", "url": b.url(1, "")}]
    })))
    .await;
    assert_eq!(status, 409, "it is node2, not node2b: {body}");
    // Both clusters still work.
    for c in [&a, &b] {
        assert_eq!(c.set(0, "still", "here").await.0, 200);
    }
}

/// The primary paused (SIGSTOP) for longer than the election timeout: the two others elect a
/// new primary and take writes; resumed (SIGCONT), the old primary steps down and its very
/// first linearizable read already sees the write made while it was paused — never its own
/// stale replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_primary_is_replaced_and_steps_down_without_a_stale_read() {
    let _one = ONE_CLUSTER.lock().await;
    let c = Cluster::start(3).await;
    c.form_from_node1().await;
    let old = c.wait_primary().await;
    assert_eq!(c.set(old, "k", "before the pause").await.0, 200);
    let others: Vec<usize> = (0..3).filter(|i| *i != old).collect();
    for &i in &others {
        c.wait_replicated(i, "k", "before the pause").await;
    }
    c.signal(old, "-STOP");
    let new = c.primary_among(&others).await;
    let (status, body) = c.set(new, "k", "while the old primary was paused").await;
    assert_eq!(status, 200, "{body}");
    // Reads sent while it is still paused wait in its sockets beside the new primary's
    // messages: on SIGCONT it meets both at once, the moment a stale read would slip out.
    let early: Vec<_> = (0..8)
        .map(|_| {
            let url = c.url(old, "/get/k");
            tokio::spawn(async move { call(http().get(url)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.signal(old, "-CONT");
    // Its first answers may be 503 (it learns of the new term while serving: "retry"); no
    // answer may be its stale value.
    let mut answers = Vec::new();
    for e in early {
        answers.push(e.await.unwrap());
    }
    assert!(
        answers
            .iter()
            .all(|(s, b)| *s == 503 || b["value"] == json!("while the old primary was paused")),
        "the resumed old primary answered from its stale replica: {answers:?}"
    );
    loop {
        let (status, body) = c.get(old, "k", false).await;
        answers.push((status, body.clone()));
        if status == 200 {
            assert_eq!(
                body["value"],
                json!("while the old primary was paused"),
                "the resumed old primary answered from its stale replica: {answers:?}"
            );
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(answers.len() < 50, "no answer: {answers:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        c.wait_primary().await,
        new,
        "the old primary did not step down"
    );
}
