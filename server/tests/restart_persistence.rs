//! Data written before a graceful shutdown (SIGTERM) is there after a restart.
//! Needs the persistent engine (fails against the in-memory placeholder).

mod common;

use common::{call, http, start};
use serde_json::json;

#[tokio::test]
async fn restart_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let h = http();

    let mut s = start(&data, &[]).await;
    call(
        h.post(s.url("/set"))
            .json(&json!({"key": "a/b", "value": "1"})),
    )
    .await;
    call(
        h.post(s.url("/set"))
            .json(&json!({"key": "gone", "value": "x"})),
    )
    .await;
    call(
        h.post(s.url("/bulk_set"))
            .json(&json!({"items": [["p1", "one"], ["p2", "two"]]})),
    )
    .await;
    call(h.delete(s.url("/delete/gone"))).await;
    let status = s.sigterm();
    assert!(
        status.success(),
        "exit after SIGTERM: {status:?}\n{}",
        s.stderr()
    );
    drop(s);

    let s = start(&data, &[]).await;
    assert_eq!(call(h.get(s.url("/get/a%2Fb"))).await.1["value"], "1");
    assert_eq!(call(h.get(s.url("/get/p1"))).await.1["value"], "one");
    assert_eq!(call(h.get(s.url("/get/p2"))).await.1["value"], "two");
    assert_eq!(call(h.get(s.url("/get/gone"))).await.0, 404);
}
