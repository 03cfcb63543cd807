//! `kvstore serve` with token files that cannot be used: each stops the start-up with a
//! message naming the flag or variable, never a node without authentication. And the
//! environment variables do what the flags do.

mod common;

use common::{http, start_with_env};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `kvstore serve --port 0 --data-dir <dir>/data <args>`, which must exit by itself
/// within 20 s (a node that started instead is killed and fails the test).
fn serve_must_fail(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut child = Command::new(common::BIN)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.join("data"))
        .args(args)
        .env_remove("KVSTORE_AUTH_TOKEN_FILE")
        .env_remove("KVSTORE_READ_TOKEN_FILE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let o = child.wait_with_output().unwrap();
            panic!(
                "{args:?} {env:?} started a node: {}",
                String::from_utf8_lossy(&o.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o: Output = child.wait_with_output().unwrap();
    assert!(!o.status.success(), "{args:?} {env:?}");
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("listening"),
        "{args:?} {env:?}"
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn unusable_token_files_stop_the_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = |name: &str| d.join(name).to_str().unwrap().to_string();
    std::fs::write(d.join("empty"), "").unwrap();
    std::fs::write(d.join("blank"), " \n\t\n").unwrap();
    std::fs::write(d.join("spaced"), "two words\n").unwrap();
    std::fs::write(d.join("good"), "good-token-0123456789\n").unwrap();
    std::fs::write(d.join("good2"), "good-token-0123456789").unwrap();

    for (args, needles) in [
        (
            vec!["--auth-token-file", &path("empty")],
            vec!["--auth-token-file", "empty"],
        ),
        (
            vec!["--auth-token-file", &path("blank")],
            vec!["--auth-token-file", "empty"],
        ),
        (
            vec!["--auth-token-file", &path("missing")],
            vec!["--auth-token-file", "cannot be read"],
        ),
        (
            vec!["--auth-token-file", d.to_str().unwrap()],
            vec!["--auth-token-file", "cannot be read"],
        ),
        (
            vec!["--auth-token-file", &path("spaced")],
            vec!["--auth-token-file", "visible ASCII"],
        ),
        (
            vec![
                "--auth-token-file",
                &path("good"),
                "--read-token-file",
                &path("empty"),
            ],
            vec!["--read-token-file", "empty"],
        ),
        (
            vec!["--read-token-file", &path("good")],
            vec!["--read-token-file needs --auth-token-file"],
        ),
        (
            vec!["--metrics-auth"],
            vec!["--metrics-auth needs --auth-token-file"],
        ),
        (
            vec![
                "--auth-token-file",
                &path("good"),
                "--read-token-file",
                &path("good2"),
            ],
            vec!["same as the full token"],
        ),
    ] {
        let err = serve_must_fail(d, &args, &[]);
        for n in needles {
            assert!(err.contains(n), "{args:?}: {n:?} not in {err}");
        }
        assert!(!err.contains("good-token"), "{err}");
    }

    for (env, needle) in [
        (
            [("KVSTORE_AUTH_TOKEN_FILE", path("empty"))],
            "--auth-token-file",
        ),
        // set to nothing: clap refuses it ("a value is required"), rather than reading it
        // as unset, which would start a node without authentication
        (
            [("KVSTORE_AUTH_TOKEN_FILE", String::new())],
            "--auth-token-file",
        ),
        (
            [("KVSTORE_READ_TOKEN_FILE", String::new())],
            "--read-token-file",
        ),
    ] {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let err = serve_must_fail(d, &[], &env);
        assert!(err.contains(needle), "{env:?}: {err}");
    }
}

#[tokio::test]
async fn environment_variables_turn_authentication_on() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    let read = dir.path().join("read");
    std::fs::write(&full, "env-full-token-0123456789\n").unwrap();
    std::fs::write(&read, "env-read-token-0123456789\n").unwrap();
    let s = start_with_env(
        &dir.path().join("data"),
        &[],
        &[
            ("KVSTORE_AUTH_TOKEN_FILE", full.to_str().unwrap()),
            ("KVSTORE_READ_TOKEN_FILE", read.to_str().unwrap()),
        ],
    )
    .await;
    let h = http();
    let status = |r: reqwest::RequestBuilder| async move { r.send().await.unwrap().status() };
    assert_eq!(status(h.get(s.url("/get/k"))).await, 401);
    let set = serde_json::json!({"key": "k", "value": "v"});
    let with = |r: reqwest::RequestBuilder, t: &str| r.bearer_auth(t);
    assert_eq!(
        status(with(
            h.post(s.url("/set")).json(&set),
            "env-full-token-0123456789"
        ))
        .await,
        200
    );
    assert_eq!(
        status(with(h.get(s.url("/get/k")), "env-read-token-0123456789")).await,
        200
    );
    assert_eq!(
        status(with(
            h.post(s.url("/set")).json(&set),
            "env-read-token-0123456789"
        ))
        .await,
        403
    );
}
