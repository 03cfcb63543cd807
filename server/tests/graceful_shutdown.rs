//! SIGTERM lets an in-flight request finish (and its write persist), then the server exits 0.

mod common;

use common::{call, http, start};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn sigterm_finishes_in_flight_requests() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = start(&data, &[]).await;

    // A request whose body is only half sent when the signal arrives.
    let body = br#"{"key": "in-flight", "value": "finished after SIGTERM"}"#;
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /set HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let pid = s.child.id().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "server exited with a request in flight"
    );

    sock.write_all(&body[10..]).await.unwrap();
    let mut resp = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut resp))
        .await
        .expect("response in time")
        .unwrap();
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains(r#"{"ok":true}"#), "{resp}");

    let status = s.wait_exit();
    assert!(status.success(), "{status:?}\n{}", s.stderr());
    drop(s);

    // The acknowledged write is there after a restart (needs the persistent engine).
    let s = start(&data, &[]).await;
    let (st, b) = call(http().get(s.url("/get/in-flight"))).await;
    assert_eq!(
        (st, b["value"].as_str()),
        (200, Some("finished after SIGTERM"))
    );
}
