//! Every bad input answers a 4xx with a JSON error, and writes nothing.

mod common;

use common::{call, expect_error, http, start};
use serde_json::json;

#[tokio::test]
async fn bad_input_is_rejected_with_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        &["--max-value-bytes", "1024", "--max-body-bytes", "65536"],
    )
    .await;
    let h = http();
    let set = || h.post(s.url("/set"));

    // malformed JSON, wrong shapes and types
    for body in [
        "{bad",
        "",
        "[]",
        "\"str\"",
        "null",
        r#"{"value": "v"}"#,
        r#"{"key": "k"}"#,
        r#"{"key": 1, "value": "v"}"#,
        r#"{"key": "k", "value": 5}"#,
        r#"{"key": "k", "value": {"a": 1}}"#,
        r#"{"key": "k", "value": ["x"]}"#,
        r#"{"key": "k", "value": null}"#,
        r#"{"key": "k", "value": true}"#,
        r#"{"key": "k", "value": "v", "debug_fail": "yes"}"#,
        r#"{"key": "k", "value": "v", "vector": "nope"}"#,
    ] {
        expect_error(set().body(body), 400).await;
    }
    // The message names what was wrong, with the JSON type that was sent.
    for (body, says) in [
        (
            r#"{"key": 1, "value": "v"}"#,
            "\"key\" must be a JSON string, got a number",
        ),
        (
            r#"{"key": "k", "value": null}"#,
            "\"value\" must be a JSON string, got null",
        ),
        (r#"{"key": "k", "value": ["x"]}"#, "got an array"),
        (
            r#"{"key": "k", "value": "v", "debug_fail": "yes"}"#,
            "must be a boolean, got a string",
        ),
        (
            r#"{"key": "k", "value": "v", "vector": {}}"#,
            "array of numbers, got an object",
        ),
    ] {
        let (st, b) = call(set().body(body)).await;
        assert_eq!(st, 400, "{body}");
        let msg = b["error"].as_str().unwrap_or_default();
        assert!(msg.contains(says), "{body}: {msg}");
    }
    // Vector components that are not finite f32 (1e39 overflows it) are refused.
    for v in [json!([1.0, 1e39]), json!([-1e39]), json!([1.0, "x"])] {
        let (st, b) = call(set().json(&json!({"key": "vec", "value": "v", "vector": v}))).await;
        assert_eq!(st, 400, "{v}: {b}");
        assert!(
            b["error"].as_str().unwrap_or_default().contains("finite"),
            "{b}"
        );
    }
    // empty key
    expect_error(set().json(&json!({"key": "", "value": "v"})), 400).await;
    expect_error(h.get(s.url("/get/")), 400).await;
    expect_error(h.get(s.url("/get")), 400).await;
    expect_error(h.delete(s.url("/delete/")), 400).await;
    // invalid UTF-8 after percent-decoding
    expect_error(h.get(s.url("/get/%FF%FE")), 400).await;

    // oversized key (> 4 KiB), value (> --max-value-bytes) and body (> --max-body-bytes)
    let big_key = "k".repeat(4097);
    expect_error(set().json(&json!({"key": big_key, "value": "v"})), 413).await;
    expect_error(h.get(s.url(&format!("/get/{big_key}"))), 413).await;
    let ok_key = "k".repeat(4096);
    assert_eq!(
        call(set().json(&json!({"key": ok_key, "value": "v"})))
            .await
            .0,
        200
    );
    expect_error(
        set().json(&json!({"key": "big", "value": "v".repeat(1025)})),
        413,
    )
    .await;
    assert_eq!(
        call(set().json(&json!({"key": "fits", "value": "v".repeat(1024)})))
            .await
            .0,
        200
    );
    let huge_body = format!(r#"{{"key": "k", "value": "{}"}}"#, "v".repeat(70_000));
    expect_error(set().body(huge_body.clone()), 413).await;
    // Over the body limit although every field is within its own limit (the padding is JSON
    // whitespace): the body limit alone must refuse it, declared or streamed, and exactly past
    // the limit — a body of exactly the limit is read.
    let padded = |len: usize| {
        let core = r#"{"key": "padded", "value": "v"}"#;
        format!("{}{core}", " ".repeat(len - core.len()))
    };
    expect_error(set().body(padded(65_537)), 413).await;
    let (status, body) = post_chunked(&s.url, "/set", padded(65_537).as_bytes()).await;
    assert!(status.contains(" 413 "), "{status} {body}");
    let (status, body) = post_chunked(&s.url, "/set", padded(65_536).as_bytes()).await;
    assert!(
        status.contains(" 200 "),
        "a body of exactly the limit: {status} {body}"
    );
    assert_eq!(call(set().body(padded(65_536))).await.0, 200);
    assert_eq!(call(h.delete(s.url("/delete/padded"))).await.0, 200);
    // also when the body is streamed without a Content-Length (chunked)
    let (status, body) = post_chunked(&s.url, "/set", huge_body.as_bytes()).await;
    assert!(status.contains(" 413 "), "{status} {body}");
    assert!(body.contains("\"error\""), "{body}");
    expect_error(
        h.post(s.url("/bulk_set"))
            .json(&json!({"items": [["a", "v".repeat(70_000)]]})),
        413,
    )
    .await;

    // bulk: one bad item rejects the whole request and writes nothing
    for items in [
        json!([["b1", "1"], ["b2", 2], ["b3", "3"]]),
        json!([["b1", "1"], ["", "x"]]),
        json!([["b1", "1"], ["b2"]]),
        json!([["b1", "1"], {"key": "b2"}]),
        json!([["b1", "1"], 7]),
        json!([["b1", "1"], ["b2", "v".repeat(1025)]]),
    ] {
        let (st, b) = call(h.post(s.url("/bulk_set")).json(&json!({ "items": items }))).await;
        assert!(st == 400 || st == 413, "{st} {b}");
        assert!(b["error"].is_string());
        assert_eq!(
            call(h.get(s.url("/get/b1"))).await.0,
            404,
            "partial bulk write"
        );
    }
    expect_error(
        h.post(s.url("/bulk_set"))
            .json(&json!({"items": {"a": "b"}})),
        400,
    )
    .await;
    expect_error(h.post(s.url("/bulk_set")).json(&json!({})), 400).await;
    expect_error(h.post(s.url("/bulk_set")).body("{nope"), 400).await;

    // k: negative, zero, absurd, not a number
    for k in ["-1", "0", "1001", "99999999999999999999999", "abc", "1.5"] {
        expect_error(h.get(s.url(&format!("/search?q=x&k={k}"))), 400).await;
        expect_error(h.get(s.url(&format!("/semantic_search?q=x&k={k}"))), 400).await;
    }
    expect_error(h.get(s.url("/search")), 400).await;
    expect_error(h.get(s.url("/search?q=")), 400).await;
    expect_error(
        h.post(s.url("/semantic_search"))
            .json(&json!({"q": "x", "k": -3})),
        400,
    )
    .await;
    expect_error(
        h.post(s.url("/semantic_search")).json(&json!({"k": 3})),
        400,
    )
    .await;
    expect_error(h.get(s.url("/scan?limit=0")), 400).await;
    expect_error(h.get(s.url("/scan?limit=5000")), 400).await;

    // unknown routes: 404; wrong methods: 405 — always JSON
    for path in [
        "/",
        "/nope",
        "/set/extra",
        "/admin",
        "/admin/nope",
        "/cluster",
    ] {
        expect_error(h.get(s.url(path)), 404).await;
    }
    expect_error(h.get(s.url("/set")), 405).await;
    expect_error(h.put(s.url("/set")), 405).await;
    expect_error(h.post(s.url("/get/k")), 405).await;
    expect_error(h.get(s.url("/delete/k")), 405).await;
    expect_error(h.get(s.url("/bulk_set")), 405).await;
    expect_error(h.post(s.url("/health")), 405).await;
    expect_error(h.get(s.url("/admin/flush")), 405).await;
    expect_error(h.delete(s.url("/metrics")), 405).await;

    // nothing of the above was written, and the server is still healthy
    for k in ["k", "big", "b1", "b2", "b3", "a", "vec", "padded"] {
        assert_eq!(call(h.get(s.url(&format!("/get/{k}")))).await.0, 404, "{k}");
    }
    assert_eq!(call(h.get(s.url("/health"))).await.0, 200);
}

/// POSTs `body` with `Transfer-Encoding: chunked` (no Content-Length) over a raw socket and
/// returns the status line and the response body.
async fn post_chunked(url: &str, path: &str, body: &[u8]) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(4096) {
        let frame = format!("{:x}\r\n", chunk.len());
        // The server may answer 413 and close before the whole body is sent.
        if sock.write_all(frame.as_bytes()).await.is_err()
            || sock.write_all(chunk).await.is_err()
            || sock.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = sock.write_all(b"0\r\n\r\n").await;
    let mut resp = Vec::new();
    let _ = sock.read_to_end(&mut resp).await;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text.lines().next().unwrap_or("").to_string();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}
