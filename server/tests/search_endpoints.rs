//! Search routes: shapes, `k` bounds, vectors and their dimension check.

mod common;

use common::{call, expect_error, http, start};
use serde_json::json;

#[tokio::test]
async fn search_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &[]).await;
    let h = http();
    for (k, v) in [
        ("d1", "the quick brown fox"),
        ("d2", "a lazy dog"),
        ("d3", "quick quick fox"),
    ] {
        call(h.post(s.url("/set")).json(&json!({"key": k, "value": v}))).await;
    }

    let (st, b) = call(h.get(s.url("/search?q=quick%20fox&k=2"))).await;
    assert_eq!(st, 200);
    assert_eq!(b["query"], "quick fox");
    let results = b["results"].as_array().unwrap();
    assert!(results.len() <= 2);
    for r in results {
        assert!(r["key"].is_string() && r["score"].is_number(), "{r}");
    }
    let scores: Vec<f64> = results
        .iter()
        .map(|r| r["score"].as_f64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best first: {scores:?}"
    );
    let (st, b) = call(h.get(s.url("/search?q=fox"))).await;
    assert_eq!(st, 200);
    assert!(b["results"].as_array().unwrap().len() <= 10);
    assert_eq!(call(h.get(s.url("/search?q=fox&k=1000"))).await.0, 200);

    let (st, b) = call(h.get(s.url("/semantic_search?q=animal&k=3"))).await;
    assert_eq!(st, 200);
    assert_eq!(b["query"], "animal");
    assert!(b["results"].is_array());
    let (st, b) = call(
        h.post(s.url("/semantic_search"))
            .json(&json!({"q": "animal", "k": 2})),
    )
    .await;
    assert_eq!(st, 200, "{b}");

    // vectors: the right dimension works on /set and POST /semantic_search; others are 400
    let stats = call(
        h.post(s.url("/semantic_search"))
            .json(&json!({"vector": [1.0], "k": 1})),
    )
    .await;
    assert_eq!(stats.0, 400, "{}", stats.1);
    let msg = stats.1["error"].as_str().unwrap().to_string();
    let dim: usize = msg
        .split("expects ")
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no dimension in {msg:?}"));
    let v: Vec<f32> = (0..dim).map(|i| (i as f32 + 1.0) / dim as f32).collect();
    let (st, b) = call(
        h.post(s.url("/set"))
            .json(&json!({"key": "vec", "value": "with vector", "vector": v})),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    let (st, b) = call(
        h.post(s.url("/semantic_search"))
            .json(&json!({"vector": v, "k": 5})),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert!(b["results"].is_array());
    expect_error(
        h.post(s.url("/set"))
            .json(&json!({"key": "vec2", "value": "x", "vector": [0.5, 0.5]})),
        400,
    )
    .await;
    assert_eq!(call(h.get(s.url("/get/vec2"))).await.0, 404);
    expect_error(
        h.post(s.url("/semantic_search"))
            .json(&json!({"vector": ["a"], "k": 1})),
        400,
    )
    .await;
    expect_error(
        h.post(s.url("/semantic_search"))
            .json(&json!({"vector": v, "k": 0})),
        400,
    )
    .await;
    expect_error(
        h.post(s.url("/semantic_search"))
            .json(&json!({"vector": v, "k": "3"})),
        400,
    )
    .await;
}
