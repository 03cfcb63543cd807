//! Health, cluster, admin, metrics and the OpenAPI document.

mod common;

use common::{call, expect_error, http, start};
use serde_json::json;

#[tokio::test]
async fn ops_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &["--node-id", "alpha"]).await;
    let h = http();

    let (st, b) = call(h.get(s.url("/health"))).await;
    assert_eq!(st, 200);
    assert_eq!(b["status"], "ok");
    assert_eq!(b["node_id"], "alpha");

    let (st, b) = call(h.get(s.url("/cluster/status"))).await;
    assert_eq!(
        (st, b),
        (
            200,
            json!({"node_id": "alpha", "mode": "standalone", "role": "standalone"})
        )
    );

    // cluster changes are refused clearly in standalone mode
    let msg = expect_error(
        h.post(s.url("/cluster/join"))
            .json(&json!({"node_id": "beta", "address": "127.0.0.1:5001"})),
        409,
    )
    .await;
    assert!(msg.contains("standalone"), "{msg}");
    expect_error(
        h.post(s.url("/cluster/join"))
            .json(&json!({"address": "x:1"})),
        400,
    )
    .await;
    expect_error(h.post(s.url("/cluster/join")).body("{"), 400).await;
    let msg = expect_error(h.post(s.url("/become_primary")), 409).await;
    assert!(msg.contains("standalone"), "{msg}");
    let msg = expect_error(h.delete(s.url("/cluster/members/beta")), 409).await;
    assert!(msg.contains("standalone"), "{msg}");
    let msg = expect_error(
        h.post(s.url("/cluster/join"))
            .json(&json!({"via": "http://127.0.0.1:5001"})),
        409,
    )
    .await;
    assert!(msg.contains("standalone"), "{msg}");

    // admin
    call(
        h.post(s.url("/set"))
            .json(&json!({"key": "a", "value": "1"})),
    )
    .await;
    assert_eq!(
        call(h.post(s.url("/admin/flush"))).await,
        (200, json!({"ok": true}))
    );
    assert_eq!(
        call(h.post(s.url("/admin/compact"))).await,
        (200, json!({"ok": true}))
    );
    let (st, b) = call(h.get(s.url("/admin/stats"))).await;
    assert_eq!(st, 200);
    for field in [
        "levels",
        "wal_syncs",
        "memtable_bytes",
        "compactions",
        "write_stalls",
    ] {
        assert!(b.get(field).is_some(), "stats lack {field}: {b}");
    }
    assert_eq!(call(h.get(s.url("/get/a"))).await.1["value"], "1");

    // metrics: Prometheus text with per-route counts, latencies and engine gauges
    let resp = h.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    for needle in [
        r#"kvstore_http_requests_total{method="POST",route="set",status="200"} 1"#,
        r#"kvstore_http_requests_total{method="GET",route="get",status="200"}"#,
        r#"kvstore_http_requests_total{method="POST",route="cluster_join",status="409"}"#,
        "kvstore_http_request_duration_seconds_bucket{route=\"set\"",
        r#"kvstore_engine{stat="wal_syncs"}"#,
        r#"kvstore_engine{stat="wal_sync_micros"}"#,
        r#"kvstore_engine{stat="wal_bytes_written"}"#,
        r#"kvstore_engine{stat="memtable_bytes"}"#,
        r#"kvstore_engine{stat="compactions"}"#,
        r#"kvstore_engine{stat="write_stalls"}"#,
        r#"kvstore_level_files{level="0"}"#,
        r#"kvstore_level_bytes{level="0"}"#,
        "kvstore_engine_poisoned 0",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }

    // the OpenAPI document lists every route, and every listed route exists
    let (st, doc) = call(h.get(s.url("/openapi.json"))).await;
    assert_eq!(st, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/get/{key}", "get"),
        ("/set", "post"),
        ("/delete/{key}", "delete"),
        ("/bulk_set", "post"),
        ("/search", "get"),
        ("/semantic_search", "get"),
        ("/semantic_search", "post"),
        ("/scan", "get"),
        ("/health", "get"),
        ("/cluster/status", "get"),
        ("/cluster/join", "post"),
        ("/cluster/members/{id}", "delete"),
        ("/become_primary", "post"),
        ("/admin/flush", "post"),
        ("/admin/compact", "post"),
        ("/admin/stats", "get"),
        ("/admin/checkpoint", "post"),
        ("/admin/checkpoint/{id}", "get"),
        ("/admin/checkpoint/{id}", "delete"),
        ("/admin/checkpoint/{id}/{file}", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ];
    let mut listed = 0;
    for (path, ops) in paths {
        for (method, _) in ops.as_object().unwrap() {
            listed += 1;
            assert!(
                expected.contains(&(path.as_str(), method.as_str())),
                "{method} {path} documented but not expected"
            );
            // the route exists: anything but 404-no-such-route / 405
            let url = s.url(&path.replace("{key}", "zz"));
            let req = match method.as_str() {
                "get" => h.get(url),
                "post" => h.post(url).body("{}"),
                "delete" => h.delete(url),
                m => panic!("unexpected method {m}"),
            };
            let resp = req.send().await.unwrap();
            let st = resp.status().as_u16();
            let body = resp.text().await.unwrap();
            assert_ne!(st, 405, "{method} {path}");
            assert!(
                !(st == 404 && body.contains("no such route")),
                "{method} {path}"
            );
        }
    }
    assert_eq!(listed, expected.len());
}
