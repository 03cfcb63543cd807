//! Starts the real `kvstore` binary for black-box tests.
//!
//! The server is started with `--port 0`: it binds a free port and prints
//! `kvstore listening on http://127.0.0.1:PORT` as its first stdout line, which is read here, so
//! there is no race between picking a port and binding it. Ready = `GET /health` answers 200.
#![allow(dead_code)]

pub mod cluster;
pub mod linearizability;
pub mod partition;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_kvstore");

/// A running server process; killed when dropped.
pub struct TestServer {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub stderr_path: PathBuf,
}

/// Starts `kvstore serve --port 0 --data-dir <data_dir> <extra...>` and waits until healthy.
pub async fn start(data_dir: &Path, extra: &[&str]) -> TestServer {
    start_with_env(data_dir, extra, &[]).await
}

/// [`start`] with environment variables set for the server (after `RUST_LOG=warn`, so a
/// `RUST_LOG` here wins).
pub async fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> TestServer {
    try_start_with_env(data_dir, extra, env)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// [`start_with_env`], answering why the server did not start instead of panicking (a caller
/// that picked a port that was taken meanwhile can pick another).
pub async fn try_start_with_env(
    data_dir: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Result<TestServer, String> {
    let stderr_path = data_dir.with_extension(format!("stderr-{}.log", unique()));
    let stderr = std::fs::File::create(&stderr_path).expect("create stderr log");
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg("--port")
        .arg("0")
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env("RUST_LOG", "warn")
        // A developer's own settings must not turn authentication on under every test.
        .env_remove("KVSTORE_AUTH_TOKEN_FILE")
        .env_remove("KVSTORE_READ_TOKEN_FILE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn kvstore");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read first stdout line");
    let url = match line.trim().strip_prefix("kvstore listening on ") {
        Some(u) => u.to_string(),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "server did not start: stdout {line:?}, stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            ));
        }
    };
    let server = TestServer {
        child,
        url,
        stderr_path,
    };
    server.wait_healthy().await;
    Ok(server)
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(self.url("/health")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "server never became healthy");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// kill -9.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the process to exit (at most 20 s).
    pub fn sigterm(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
        self.wait_exit()
    }

    /// Waits for the process to exit (at most 20 s).
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP client for raw requests.
pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// Sends a request and returns (status, parsed JSON body). Panics if the body is not JSON.
pub async fn call(req: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let resp = req.send().await.expect("request failed");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("body is not JSON ({e}): {text:?} (status {status})"));
    (status, json)
}

/// Asserts an error response: the status and a JSON `{"error": <non-empty string>}`.
pub async fn expect_error(req: reqwest::RequestBuilder, status: u16) -> String {
    let (got, body) = call(req).await;
    assert_eq!(got, status, "body: {body}");
    let msg = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field: {body}"));
    assert!(!msg.is_empty());
    msg.to_string()
}
