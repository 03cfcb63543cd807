//! A network partition isolating the primary of a 3-node Raft cluster (iptables on loopback,
//! `common/partition.rs`): the two others elect a new primary and take writes; the old primary,
//! alone, acknowledges no write (503 "no quorum" within the write timeout) and answers no
//! linearizable read from its replica, which is stale; once the partition heals it steps down,
//! drops the write it could not commit, catches up, and every acknowledged write is on every
//! node.

mod common;

use common::cluster::{loopback_hosts, Cluster, ONE_CLUSTER};
use common::partition::Firewall;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_primary_acknowledges_nothing_serves_no_stale_read_and_catches_up_after() {
    let _one = ONE_CLUSTER.lock().await;
    let Some(fw) = Firewall::for_test("raft_partition") else {
        return;
    };
    let started = Instant::now();
    let c = Cluster::start_with_hosts(loopback_hosts(3), Vec::new()).await;
    c.form_from_node1().await;
    let old = c.wait_primary().await;
    let majority: Vec<usize> = (0..3).filter(|i| *i != old).collect();

    let mut acked: Vec<(String, String)> = Vec::new();
    for i in 0..6 {
        let (key, value) = (format!("before{i}"), format!("written before, {i}"));
        let (status, body) = c.set(i % 3, &key, &value).await;
        assert_eq!(status, 200, "{body}");
        acked.push((key, value));
    }
    let (status, body) = c.set(old, "x", "before the partition").await;
    assert_eq!(status, 200, "{body}");

    fw.isolate(c.hosts[old], &c.hosts);
    let cut = Instant::now();
    // Both sides at once: the minority's answers take the write and read timeouts (5 s, 3 s),
    // which the majority's failover fits inside.
    let minority_write = async {
        let t = Instant::now();
        let answer = c.set(old, "minority", "sent to the isolated primary").await;
        (answer, t.elapsed())
    };
    let majority_side = async {
        let new = c.primary_among(&majority).await;
        let failover = cut.elapsed();
        let mut acked = Vec::new();
        for j in 0..6 {
            let (key, value) = (
                format!("during{j}"),
                format!("written by the majority, {j}"),
            );
            let (status, body) = c.set(majority[j % 2], &key, &value).await;
            assert_eq!(status, 200, "through node{}: {body}", majority[j % 2] + 1);
            acked.push((key, value));
        }
        let (status, body) = c.set(majority[1], "x", "after the partition").await;
        assert_eq!(status, 200, "{body}");
        acked.push(("x".into(), "after the partition".into()));
        // Now the old primary's replica is stale for "x", and it still thinks it leads.
        let (status, body) = c.get(old, "x", true).await;
        assert_eq!(
            (status, body["value"].as_str()),
            (200, Some("before the partition")),
            "{body}"
        );
        let t = Instant::now();
        let read = c.get(old, "x", false).await;
        (new, failover, acked, read, t.elapsed())
    };
    let ((write, write_took), (new, failover, during, read, read_took)) =
        tokio::join!(minority_write, majority_side);
    eprintln!("failover on the majority side: {failover:?}");
    assert_ne!(new, old);
    acked.extend(during);

    // The isolated primary acknowledged nothing, and said why.
    let (status, body) = write;
    assert_eq!(status, 503, "a write acknowledged without a quorum: {body}");
    let msg = body["error"].as_str().unwrap_or_default();
    assert!(msg.contains("no quorum"), "{body}");
    assert!(write_took < Duration::from_secs(8), "{write_took:?}");
    // Nor did it answer a linearizable read from its stale replica.
    let (status, body) = read;
    assert_ne!(
        body["value"].as_str(),
        Some("before the partition"),
        "a stale linearizable read from the isolated old primary"
    );
    assert_eq!(status, 503, "{body}");
    assert!(read_took < Duration::from_secs(6), "{read_took:?}");

    // Heal: the old primary hears the new term, steps down and catches up.
    fw.heal();
    let healed = Instant::now();
    // (The majority's primary stays, in practice; what matters is that the old one is not.)
    let after = c.wait_primary().await;
    assert_ne!(
        after, old,
        "the old primary, behind the majority, cannot lead again"
    );
    c.wait_replicated(old, "x", "after the partition").await;
    eprintln!(
        "stepped down and caught up {:?} after healing",
        healed.elapsed()
    );
    let s = c.status(old).await;
    assert_eq!(s["role"], "secondary", "{s}");
    for i in 0..3 {
        for (key, value) in &acked {
            c.wait_replicated(i, key, value).await;
        }
        // The write the isolated primary could not commit was never applied anywhere: its
        // entry, in the old term, was replaced by the new primary's log.
        let (status, body) = c.get(i, "minority", true).await;
        assert_eq!(status, 404, "node{}: {body}", i + 1);
    }
    // And linearizable reads agree through every node.
    for i in 0..3 {
        let (status, body) = c.get(i, "x", false).await;
        assert_eq!(
            (status, body["value"].as_str()),
            (200, Some("after the partition"))
        );
    }
    eprintln!("whole test: {:?}", started.elapsed());
}
