//! `--metrics-auth`: `/metrics` needs a token (either one) while `/health` and
//! `/openapi.json` stay open. Without the flag, `/metrics` is open (`auth_roles.rs`).

mod common;

use common::{http, start};

#[tokio::test]
async fn metrics_auth_closes_metrics_only() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    let read = dir.path().join("read");
    std::fs::write(&full, "metrics-full-0123456789\n").unwrap();
    std::fs::write(&read, "metrics-read-0123456789\n").unwrap();
    let s = start(
        &dir.path().join("data"),
        &[
            "--auth-token-file",
            full.to_str().unwrap(),
            "--read-token-file",
            read.to_str().unwrap(),
            "--metrics-auth",
        ],
    )
    .await;
    let h = http();
    let status = |r: reqwest::RequestBuilder| async move { r.send().await.unwrap().status() };

    let resp = h.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));
    let body = resp.text().await.unwrap();
    assert!(!body.contains("kvstore_"), "{body}");
    assert_eq!(
        status(h.get(s.url("/metrics")).bearer_auth("wrong-0123456789")).await,
        401
    );
    // a scraper can hold the read-only token
    let text = h
        .get(s.url("/metrics"))
        .bearer_auth("metrics-read-0123456789")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"kvstore_auth_failures_total{reason="missing"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"kvstore_auth_failures_total{reason="invalid"} 1"#),
        "{text}"
    );
    assert_eq!(
        status(
            h.get(s.url("/metrics"))
                .bearer_auth("metrics-full-0123456789")
        )
        .await,
        200
    );
    assert_eq!(status(h.get(s.url("/health"))).await, 200);
    assert_eq!(status(h.get(s.url("/openapi.json"))).await, 200);
}
