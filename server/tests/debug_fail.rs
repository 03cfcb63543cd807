//! `debug_fail: true` with the failure probability forced to 1: every such write answers 500
//! "simulated failure", and each one is then wholly present or wholly absent.

mod common;

use common::{call, http, start};
use serde_json::json;

#[tokio::test]
async fn debug_fail_keeps_the_store_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &["--debug-fail-probability", "1"]).await;
    let h = http();
    let (mut applied, mut absent) = (0, 0);
    for i in 0..30 {
        let (st, b) = call(h.post(s.url("/set")).json(&json!({
            "key": format!("s{i}"), "value": "v", "debug_fail": true
        })))
        .await;
        assert_eq!((st, b), (500, json!({"error": "simulated failure"})));
        match call(h.get(s.url(&format!("/get/s{i}")))).await.0 {
            200 => applied += 1,
            404 => absent += 1,
            other => panic!("unexpected {other}"),
        }

        let items: Vec<_> = (0..5)
            .map(|j| [format!("b{i}/{j}"), format!("{j}")])
            .collect();
        let (st, b) = call(
            h.post(s.url("/bulk_set"))
                .json(&json!({"items": items, "debug_fail": true})),
        )
        .await;
        assert_eq!((st, b), (500, json!({"error": "simulated failure"})));
        let (_, page) = call(h.get(s.url(&format!("/scan?prefix=b{i}/")))).await;
        let n = page["items"].as_array().unwrap().len();
        assert!(n == 0 || n == 5, "bulk partially applied: {n} of 5");
    }
    assert!(
        applied > 0 && absent > 0,
        "both failure points: {applied} applied, {absent} absent"
    );

    // without the flag, writes are not failed
    let (st, _) = call(
        h.post(s.url("/set"))
            .json(&json!({"key": "plain", "value": "v"})),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = call(
        h.post(s.url("/set"))
            .json(&json!({"key": "plain", "value": "v", "debug_fail": false})),
    )
    .await;
    assert_eq!(st, 200);
    // delete takes it as a query parameter
    let resp = h
        .delete(s.url("/delete/plain?debug_fail=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
}
