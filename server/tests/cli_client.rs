//! The client subcommands of the `kvstore` binary against a real server.

mod common;

use common::{start, BIN};
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn kv(url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--url")
        .arg(url)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn out(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[tokio::test]
async fn cli_client_commands() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &[]).await;
    let u = s.url.clone();
    tokio::task::spawn_blocking(move || {
        let url = u.as_str();
        assert_eq!(out(&kv(url, &["set", "a/b", "hello world"], None)), "OK\n");
        assert_eq!(out(&kv(url, &["get", "a/b"], None)), "hello world\n");
        let j: serde_json::Value =
            serde_json::from_str(&out(&kv(url, &["get", "a/b", "--json"], None))).unwrap();
        assert_eq!(j, serde_json::json!({"key": "a/b", "value": "hello world"}));
        let missing = kv(url, &["get", "nope"], None);
        assert!(!missing.status.success());
        assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"));

        // bulk-set: JSON lines from stdin, in several batches
        let lines: String = (0..25)
            .map(|i| format!("{{\"key\": \"j{i:02}\", \"value\": \"v{i}\"}}\n"))
            .collect();
        let o = kv(url, &["bulk-set", "--batch-size", "10"], Some(&lines));
        assert_eq!(out(&o), "25 pairs written\n");
        assert_eq!(out(&kv(url, &["get", "j24"], None)), "v24\n");
        // ["k","v"] lines
        let o = kv(
            url,
            &["bulk-set", "-", "--json"],
            Some("[\"x1\",\"1\"]\n\n[\"x2\",\"2\"]\n"),
        );
        assert_eq!(out(&o).trim(), r#"{"count":2,"ok":true}"#);
        // CSV from a file, with a header and a quoted comma
        let csv = std::env::temp_dir().join(format!("kvstore-cli-{}.csv", std::process::id()));
        std::fs::write(&csv, "key,value\nc1,\"one, two\"\nc2,three\n").unwrap();
        let o = kv(url, &["bulk-set", csv.to_str().unwrap()], None);
        std::fs::remove_file(&csv).unwrap();
        assert_eq!(out(&o), "2 pairs written\n");
        assert_eq!(out(&kv(url, &["get", "c1"], None)), "one, two\n");
        // a bad line fails the command and names the line
        let o = kv(url, &["bulk-set"], Some("[\"ok\",\"1\"]\n[\"bad\",2]\n"));
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("line 2"));

        // scan
        let o = out(&kv(url, &["scan", "--prefix", "j", "--limit", "3"], None));
        assert_eq!(o, "j00\tv0\nj01\tv1\nj02\tv2\n");
        let o = out(&kv(
            url,
            &["scan", "--prefix", "j", "--limit", "3", "--all"],
            None,
        ));
        assert_eq!(o.lines().count(), 25);
        let o = out(&kv(url, &["scan", "--prefix", "c", "--json"], None));
        assert_eq!(o.lines().count(), 2);

        // search and semantic search answer (results depend on the search layer)
        out(&kv(url, &["search", "hello", "-k", "5"], None));
        let j: serde_json::Value =
            serde_json::from_str(&out(&kv(url, &["search", "hello", "--json"], None))).unwrap();
        assert!(j["results"].is_array());
        out(&kv(url, &["semantic-search", "greeting"], None));
        let bad_k = kv(url, &["search", "hello", "-k", "0"], None);
        assert!(!bad_k.status.success());
        assert!(String::from_utf8_lossy(&bad_k.stderr).contains("400"));

        // status
        let o = out(&kv(url, &["status"], None));
        assert!(
            o.contains("health:  ok") && o.contains("role:    standalone"),
            "{o}"
        );
        let j: serde_json::Value =
            serde_json::from_str(&out(&kv(url, &["status", "--json"], None))).unwrap();
        assert_eq!(j["cluster"]["mode"], "standalone");

        // delete
        assert_eq!(out(&kv(url, &["delete", "a/b"], None)), "deleted\n");
        assert!(!kv(url, &["delete", "a/b"], None).status.success());

        // unreachable server: a clear error, non-zero exit
        let o = kv("http://127.0.0.1:9", &["get", "x"], None);
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("error"));
    })
    .await
    .unwrap();
}
