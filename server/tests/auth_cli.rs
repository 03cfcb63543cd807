//! The `kvstore` client subcommands against a node that needs a token: `--token-file`,
//! `KVSTORE_TOKEN_FILE` and `KVSTORE_TOKEN`, and `kvstore backup`, whose downloads need it too.

mod common;

use common::{start, BIN};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const FULL: &str = "cli-full-Tq4Wn8Zr2Lx6Pc0";
const READ: &str = "cli-read-Mv5Hs1Kd7Bg3Yf9";

/// `kvstore <args> --url <url>` with exactly the token variables in `env` set.
fn kv(url: &str, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--url")
        .arg(url)
        .env_remove("KVSTORE_TOKEN")
        .env_remove("KVSTORE_TOKEN_FILE")
        .envs(env.iter().copied())
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
        let mut i = child.stdin.take().unwrap();
        i.write_all(input.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn fails_with(o: &Output, needle: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "succeeded: {err}");
    assert!(err.contains(needle), "{needle:?} not in: {err}");
    for secret in [FULL, READ] {
        assert!(!err.contains(secret), "{err}");
    }
    err
}

/// `args` then `extra`.
fn with<'a>(args: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    [args, extra].concat()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn cli_commands_send_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.token");
    let read = dir.path().join("read.token");
    std::fs::write(&full, format!("{FULL}\n")).unwrap();
    std::fs::write(&read, format!("{READ}\n")).unwrap();
    let s = start(
        &dir.path().join("data"),
        &[
            "--auth-token-file",
            path(&full),
            "--read-token-file",
            path(&read),
        ],
    )
    .await;
    let u = s.url.clone();
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let url = u.as_str();
        let ff = ["--token-file", path(&full)];
        let rf = ["--token-file", path(&read)];

        // no token: refused, and the message says so
        fails_with(&kv(url, &["set", "a", "1"], &[], None), "401");
        fails_with(&kv(url, &["get", "a"], &[], None), "401");

        // the full token, three ways
        assert_eq!(
            ok(&kv(url, &with(&["set", "a", "1"], &ff), &[], None)),
            "OK\n"
        );
        let env_file = [("KVSTORE_TOKEN_FILE", path(&full))];
        assert_eq!(ok(&kv(url, &["set", "b", "2"], &env_file, None)), "OK\n");
        let env_token = [("KVSTORE_TOKEN", FULL)];
        assert_eq!(ok(&kv(url, &["set", "c", "3"], &env_token, None)), "OK\n");
        // the file wins over KVSTORE_TOKEN
        let both = [("KVSTORE_TOKEN", "wrong-0123456789")];
        assert_eq!(ok(&kv(url, &with(&["get", "c"], &ff), &both, None)), "3\n");
        let o = kv(url, &with(&["bulk-set"], &ff), &[], Some("[\"d\",\"4\"]\n"));
        assert_eq!(ok(&o), "1 pairs written\n");

        // the read-only token reads, searches and scans, and writes nothing
        assert_eq!(ok(&kv(url, &with(&["get", "d"], &rf), &[], None)), "4\n");
        ok(&kv(url, &with(&["search", "4"], &rf), &[], None));
        ok(&kv(url, &with(&["scan"], &rf), &[], None));
        let st = ok(&kv(url, &with(&["status"], &rf), &[], None));
        assert!(st.contains("health:  ok"), "{st}");
        fails_with(&kv(url, &with(&["set", "a", "x"], &rf), &[], None), "403");
        fails_with(&kv(url, &with(&["delete", "a"], &rf), &[], None), "403");
        let o = kv(url, &with(&["bulk-set"], &rf), &[], Some("[\"e\",\"5\"]\n"));
        fails_with(&o, "403");
        assert_eq!(ok(&kv(url, &with(&["get", "a"], &ff), &[], None)), "1\n");

        // a wrong or unusable token is an error, not a request without one
        let wrong = [("KVSTORE_TOKEN", "wrong-0123456789")];
        fails_with(&kv(url, &["get", "a"], &wrong, None), "401");
        fails_with(
            &kv(url, &["get", "a"], &[("KVSTORE_TOKEN", "")], None),
            "KVSTORE_TOKEN is empty",
        );
        let missing = d.join("missing.token");
        let o = kv(
            url,
            &["get", "a", "--token-file", path(&missing)],
            &[],
            None,
        );
        fails_with(&o, "cannot be read");

        // backup: a checkpoint made and downloaded file by file, all with the token
        let backup = d.join("backup");
        let o = kv(url, &with(&["backup", path(&backup)], &ff), &[], None);
        ok(&o);
        assert!(backup.join("backup.json").is_file());
        let backup2 = d.join("backup2");
        fails_with(
            &kv(url, &with(&["backup", path(&backup2)], &rf), &[], None),
            "403",
        );
    })
    .await
    .unwrap();
}
