//! The default value limit: a 16 MiB value round-trips; one byte more is 413.

mod common;

use common::{call, expect_error, http, start};
use serde_json::json;

#[tokio::test]
async fn sixteen_mib_values() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &[]).await;
    let h = http();
    let limit = 16 * 1024 * 1024;
    let value = "x".repeat(limit);
    let (st, _) = call(
        h.post(s.url("/set"))
            .json(&json!({"key": "big", "value": value})),
    )
    .await;
    assert_eq!(st, 200);
    let (st, b) = call(h.get(s.url("/get/big"))).await;
    assert_eq!(st, 200);
    assert_eq!(b["value"].as_str().unwrap().len(), limit);
    let over = "x".repeat(limit + 1);
    let msg = expect_error(
        h.post(s.url("/set"))
            .json(&json!({"key": "big2", "value": over})),
        413,
    )
    .await;
    assert!(msg.contains("value"), "{msg}");
    assert_eq!(call(h.get(s.url("/get/big2"))).await.0, 404);
}
