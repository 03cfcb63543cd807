//! `kvstore serve --force-new-cluster`: after two of three members are lost for good, the
//! survivor restarts as a cluster of one with all its data, takes writes again, and grows back
//! with a new member; a node with nothing to recover, or not in raft mode, is refused clearly.

mod common;

use common::cluster::{Cluster, ONE_CLUSTER};
use common::{call, http, BIN};
use serde_json::{json, Value};
use std::process::Command;

fn member_names(status: &Value) -> Vec<String> {
    let mut names: Vec<String> = status["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members in {status}"))
        .iter()
        .map(|m| m["node_id"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_survivor_recovers_every_write_and_grows_back() {
    let _one = ONE_CLUSTER.lock().await;
    let mut c = Cluster::start(3).await;
    c.form_from_node1().await;
    let primary = c.wait_primary().await;
    for i in 0..20 {
        let (status, body) = c.set(primary, &format!("k{i}"), &format!("v{i}")).await;
        assert_eq!(status, 200, "{body}");
    }
    // The survivor holds every acknowledged write before the others are lost.
    let survivor = (primary + 1) % 3;
    c.wait_replicated(survivor, "k19", "v19").await;
    for i in 0..3 {
        if i != survivor {
            c.nodes[i].as_mut().unwrap().kill9();
            c.nodes[i] = None;
        }
    }
    // No quorum: the survivor refuses writes.
    let (status, body) = c.set(survivor, "lost", "x").await;
    assert_eq!(status, 503, "a write without a quorum: {body}");

    // The unsafe recovery: restart with the flag.
    c.nodes[survivor].as_mut().unwrap().kill9();
    c.extra = vec!["--force-new-cluster".into()];
    c.nodes[survivor] = Some(c.spawn(survivor).await);
    assert_eq!(c.wait_primary().await, survivor);
    let s = c.status(survivor).await;
    assert_eq!(
        member_names(&s),
        vec![format!("node{}", survivor + 1)],
        "{s}"
    );
    for i in 0..20 {
        let (status, body) = c.get(survivor, &format!("k{i}"), false).await;
        assert_eq!((status, &body["value"]), (200, &json!(format!("v{i}"))));
    }
    let (status, body) = c.set(survivor, "after", "recovery").await;
    assert_eq!(status, 200, "{body}");

    // A restart that still carries the flag changes nothing; one without it resumes as primary.
    for extra in [vec!["--force-new-cluster".to_string()], Vec::new()] {
        c.nodes[survivor].as_mut().unwrap().kill9();
        c.extra = extra;
        c.nodes[survivor] = Some(c.spawn(survivor).await);
        assert_eq!(c.wait_primary().await, survivor);
        let (status, body) = c.get(survivor, "after", false).await;
        assert_eq!((status, &body["value"]), (200, &json!("recovery")));
        let s = c.status(survivor).await;
        assert_eq!(member_names(&s).len(), 1, "{s}");
    }

    // An old member comes back wiped, as a new node, and joins the recovered cluster.
    let old = (survivor + 1) % 3;
    std::fs::remove_dir_all(c.dir.path().join(format!("node{}", old + 1))).unwrap();
    c.nodes[old] = Some(c.spawn(old).await);
    let peers = json!({"peers": [{"node_id": format!("node{}", old + 1), "url": c.url(old, "")}]});
    let (status, body) = call(http().post(c.url(survivor, "/cluster/join")).json(&peers)).await;
    assert_eq!(status, 200, "{body}");
    c.wait_replicated(old, "k0", "v0").await;
    c.wait_replicated(old, "after", "recovery").await;
    assert_eq!(member_names(&c.status(old).await).len(), 2);
}

#[test]
fn nothing_to_recover_and_other_modes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |args: &[&str]| {
        let o = Command::new(BIN)
            .args(["serve", "--port", "0", "--force-new-cluster"])
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(!o.status.success(), "started with {args:?}");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let err = refused(&["--mode", "raft"]);
    assert!(err.contains("never a member"), "{err}");
    let err = refused(&[]);
    assert!(err.contains("--mode raft"), "{err}");
}
