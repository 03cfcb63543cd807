//! `kvstore serve` flags and environment variables.

mod common;

use common::BIN;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn unbuilt_cluster_modes_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .args(["serve", "--port", "0", "--mode", "masterless", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not yet supported"), "{err}");
    let o = Command::new(BIN)
        .args(["serve", "--mode", "paxos"])
        .output()
        .unwrap();
    assert!(!o.status.success());
}

#[test]
fn environment_variables_and_positional_port() {
    let dir = tempfile::tempdir().unwrap();
    // KVSTORE_PORT=0, KVSTORE_DATA_DIR and KVSTORE_NODE_ID
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("KVSTORE_PORT", "0")
        .env("KVSTORE_DATA_DIR", dir.path().join("envdata"))
        .env("KVSTORE_NODE_ID", "from-env")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("kvstore listening on ")
        .unwrap()
        .to_string();
    let client = kvstore_client::blocking::Client::new(&url).unwrap();
    assert_eq!(client.cluster_status().unwrap().node_id, "from-env");
    assert!(dir.path().join("envdata").is_dir());
    child.kill().unwrap();
    child.wait().unwrap();

    // the positional port wins over KVSTORE_PORT (a busy port makes the bind fail clearly)
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let o = Command::new(BIN)
        .args(["serve", &port, "--data-dir"])
        .arg(dir.path().join("d2"))
        .env("KVSTORE_PORT", "0")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot bind") && err.contains(&port), "{err}");
}
