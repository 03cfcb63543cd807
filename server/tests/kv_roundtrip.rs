//! Set, get, overwrite, delete, bulk and scan through the real binary, with path-encoded keys.

mod common;

use common::{call, http, start};
use serde_json::json;

#[tokio::test]
async fn kv_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &[]).await;
    let h = http();

    // set / get / overwrite
    let (st, b) = call(
        h.post(s.url("/set"))
            .json(&json!({"key": "k1", "value": "v1"})),
    )
    .await;
    assert_eq!((st, b), (200, json!({"ok": true})));
    let (st, b) = call(h.get(s.url("/get/k1"))).await;
    assert_eq!((st, b), (200, json!({"key": "k1", "value": "v1"})));
    call(
        h.post(s.url("/set"))
            .json(&json!({"key": "k1", "value": "v2"})),
    )
    .await;
    assert_eq!(call(h.get(s.url("/get/k1"))).await.1["value"], "v2");

    // absent key
    let (st, b) = call(h.get(s.url("/get/missing"))).await;
    assert_eq!(st, 404);
    assert!(b["error"].is_string());

    // percent-decoded keys: a%2Fb and a/b name the same key
    call(
        h.post(s.url("/set"))
            .json(&json!({"key": "a/b", "value": "slash"})),
    )
    .await;
    assert_eq!(call(h.get(s.url("/get/a%2Fb"))).await.1["value"], "slash");
    assert_eq!(call(h.get(s.url("/get/a/b"))).await.1["value"], "slash");
    // any UTF-8: spaces, accents, emoji, a value with quotes and newlines
    let key = "clé spéciale 🚀?#&";
    let value = "line1\n\"quoted\"\ttab ✓";
    call(
        h.post(s.url("/set"))
            .json(&json!({"key": key, "value": value})),
    )
    .await;
    let enc: String = key.bytes().map(|b| format!("%{b:02X}")).collect();
    let (st, b) = call(h.get(s.url(&format!("/get/{enc}")))).await;
    assert_eq!((st, b), (200, json!({"key": key, "value": value})));
    // empty value is a value
    call(
        h.post(s.url("/set"))
            .json(&json!({"key": "empty", "value": ""})),
    )
    .await;
    assert_eq!(call(h.get(s.url("/get/empty"))).await.1["value"], "");

    // delete, then 404, then delete again 404
    let (st, b) = call(h.delete(s.url("/delete/a%2Fb"))).await;
    assert_eq!((st, b), (200, json!({"ok": true, "deleted": true})));
    assert_eq!(call(h.get(s.url("/get/a/b"))).await.0, 404);
    assert_eq!(call(h.delete(s.url("/delete/a/b"))).await.0, 404);

    // bulk in both shapes, mixed
    let (st, b) = call(h.post(s.url("/bulk_set")).json(&json!({
        "items": [["p/1", "one"], {"key": "p/2", "value": "two"}, ["p/3", "three"], ["q", "x"]]
    })))
    .await;
    assert_eq!((st, b), (200, json!({"ok": true, "count": 4})));
    assert_eq!(call(h.get(s.url("/get/p/2"))).await.1["value"], "two");
    let (st, b) = call(h.post(s.url("/bulk_set")).json(&json!({"items": []}))).await;
    assert_eq!((st, b["count"].clone()), (200, json!(0)));

    // scan: prefix, pagination, start/end
    let (st, b) = call(h.get(s.url("/scan?prefix=p%2F&limit=2"))).await;
    assert_eq!(st, 200);
    assert_eq!(
        b,
        json!({"items": [{"key": "p/1", "value": "one"}, {"key": "p/2", "value": "two"}], "next": "p/3"})
    );
    let (_, b) = call(h.get(s.url("/scan?prefix=p/&limit=2&start=p/3"))).await;
    assert_eq!(
        b,
        json!({"items": [{"key": "p/3", "value": "three"}], "next": null})
    );
    let (_, b) = call(h.get(s.url("/scan?start=p/2&end=q"))).await;
    let keys: Vec<_> = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].clone())
        .collect();
    assert_eq!(keys, vec![json!("p/2"), json!("p/3")]);
    let (_, b) = call(h.get(s.url("/scan"))).await;
    let keys: Vec<String> = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "scan is in key order");
    assert!(keys.contains(&key.to_string()));
}
