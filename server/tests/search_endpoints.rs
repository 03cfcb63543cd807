//! Search routes by content: which keys come back and in what order (BM25 where the ranking is
//! unambiguous, cosine for vectors), that deleted and overwritten documents leave the results,
//! that a query matching nothing returns nothing, and that `k` outside 1..=1000 is a 400 naming
//! the limit on every form (GET /search, GET and POST /semantic_search), never clamped.

mod common;

use common::{call, expect_error, http, start, TestServer};
use serde_json::{json, Value};

/// No results.
const NOTHING: [&str; 0] = [];

/// The keys of a 200 search answer, best first; checks the scores never increase.
fn keys_of(status: u16, body: &Value) -> Vec<String> {
    assert_eq!(status, 200, "{body}");
    let results = body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    let scores: Vec<f64> = results
        .iter()
        .map(|r| r["score"].as_f64().unwrap_or_else(|| panic!("{r}")))
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "not best first: {body}"
    );
    results
        .iter()
        .map(|r| {
            r["key"]
                .as_str()
                .unwrap_or_else(|| panic!("{r}"))
                .to_string()
        })
        .collect()
}

async fn search(s: &TestServer, q: &str, k: usize) -> Vec<String> {
    let (st, b) = call(
        http()
            .get(s.url("/search"))
            .query(&[("q", q), ("k", &k.to_string())]),
    )
    .await;
    assert_eq!(b["query"], q, "{b}");
    keys_of(st, &b)
}

async fn semantic_get(s: &TestServer, q: &str, k: usize) -> Vec<String> {
    let (st, b) = call(
        http()
            .get(s.url("/semantic_search"))
            .query(&[("q", q), ("k", &k.to_string())]),
    )
    .await;
    keys_of(st, &b)
}

async fn semantic_post(s: &TestServer, body: Value) -> Vec<String> {
    let (st, b) = call(http().post(s.url("/semantic_search")).json(&body)).await;
    keys_of(st, &b)
}

async fn set(s: &TestServer, key: &str, value: &str) {
    let (st, b) = call(
        http()
            .post(s.url("/set"))
            .json(&json!({"key": key, "value": value})),
    )
    .await;
    assert_eq!(st, 200, "{b}");
}

/// The vector index's dimension, read from the 400 a one-number vector gets.
async fn dimension(s: &TestServer) -> usize {
    let msg = expect_error(
        http()
            .post(s.url("/semantic_search"))
            .json(&json!({"vector": [1.0], "k": 1})),
        400,
    )
    .await;
    msg.split("expects ")
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no dimension in {msg:?}"))
}

/// The unit vector along axis `i`.
fn axis(dim: usize, i: usize) -> Vec<f32> {
    (0..dim).map(|j| if j == i { 1.0 } else { 0.0 }).collect()
}

#[tokio::test]
async fn full_text_returns_the_matching_documents_best_first() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &[]).await;
    set(&s, "fox-many", "fox fox fox fox").await;
    set(
        &s,
        "fox-once",
        "a long report on the weather in the northern hills, where one cold morning a fox \
         was seen crossing the road near the old mill before the rain came down",
    )
    .await;
    set(&s, "dog", "a lazy dog sleeps in the sun").await;
    set(&s, "cat", "the cat sat on the mat").await;

    // Four occurrences in a four-word document outrank one in a thirty-word one.
    assert_eq!(search(&s, "fox", 10).await, ["fox-many", "fox-once"]);
    assert_eq!(search(&s, "FOX", 10).await, ["fox-many", "fox-once"]);
    assert_eq!(search(&s, "fox", 1).await, ["fox-many"]);
    // Words are stemmed the same way in documents and queries.
    assert_eq!(search(&s, "sleeping", 10).await, ["dog"]);
    let mut either = search(&s, "cat dog", 10).await;
    either.sort();
    assert_eq!(either, ["cat", "dog"]);
    assert_eq!(search(&s, "zebra", 10).await, NOTHING);
}

#[tokio::test]
async fn full_text_forgets_deleted_and_overwritten_documents() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &[]).await;
    let h = http();
    set(&s, "d1", "the river otter swims").await;
    set(&s, "d2", "otter otter otter").await;
    set(&s, "d3", "a mountain goat climbs").await;
    assert_eq!(search(&s, "otter", 10).await, ["d2", "d1"]);

    assert_eq!(call(h.delete(s.url("/delete/d2"))).await.0, 200);
    assert_eq!(search(&s, "otter", 10).await, ["d1"]);

    set(&s, "d1", "a sea lion swims").await;
    assert_eq!(search(&s, "otter", 10).await, NOTHING);
    assert_eq!(search(&s, "lion", 10).await, ["d1"]);
    assert_eq!(search(&s, "swims", 10).await, ["d1"]);

    // Overwritten by /bulk_set: the old words go, the new ones come.
    let (st, b) = call(
        h.post(s.url("/bulk_set"))
            .json(&json!({"items": [["d3", "an otter and a goat"]]})),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(search(&s, "otter", 10).await, ["d3"]);
    assert_eq!(search(&s, "mountain", 10).await, NOTHING);

    // The same once the postings and their deletions are in SSTables.
    for admin in ["/admin/flush", "/admin/compact"] {
        assert_eq!(call(h.post(s.url(admin))).await.0, 200);
        assert_eq!(search(&s, "otter", 10).await, ["d3"]);
        assert_eq!(search(&s, "goat", 10).await, ["d3"]);
        assert_eq!(search(&s, "lion", 10).await, ["d1"]);
        assert_eq!(search(&s, "mountain", 10).await, NOTHING);
    }
}

#[tokio::test]
async fn semantic_search_puts_the_document_sharing_the_query_words_first() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &[]).await;
    let h = http();
    set(&s, "volcano", "volcano lava eruption ash crater").await;
    set(&s, "bank", "bank interest rates loans mortgage").await;
    set(&s, "bread", "bread oven flour yeast dough").await;

    let got = semantic_get(&s, "volcano lava eruption", 3).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0], "volcano", "{got:?}");
    assert_eq!(
        semantic_post(&s, json!({"q": "bread flour yeast", "k": 1})).await,
        ["bread"]
    );
    assert_eq!(
        semantic_post(&s, json!({"query": "mortgage loans", "k": 1})).await,
        ["bank"]
    );

    // A deleted document leaves the results; an overwritten one is found by its new text.
    assert_eq!(call(h.delete(s.url("/delete/volcano"))).await.0, 200);
    let got = semantic_get(&s, "volcano lava eruption", 3).await;
    assert!(!got.contains(&"volcano".to_string()), "{got:?}");
    assert_eq!(got.len(), 2, "{got:?}");
    set(&s, "bank", "volcano lava eruption ash crater").await;
    assert_eq!(semantic_get(&s, "volcano lava eruption", 1).await, ["bank"]);
    assert_eq!(semantic_get(&s, "bread flour yeast", 1).await, ["bread"]);
}

#[tokio::test]
async fn semantic_search_by_vector_ranks_by_cosine_and_checks_the_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &[]).await;
    let h = http();
    let dim = dimension(&s).await;
    let diagonal: Vec<f32> = axis(dim, 0)
        .iter()
        .zip(axis(dim, 1))
        .map(|(a, b)| a + b)
        .collect();
    for (key, v) in [
        ("along-0", axis(dim, 0)),
        ("along-1", axis(dim, 1)),
        ("between", diagonal),
    ] {
        let (st, b) = call(
            h.post(s.url("/set"))
                .json(&json!({"key": key, "value": "with vector", "vector": v})),
        )
        .await;
        assert_eq!(st, 200, "{b}");
    }
    // Cosine with axis 1: 1, 0.71, 0.
    let by_axis_1 = json!({"vector": axis(dim, 1), "k": 3});
    assert_eq!(
        semantic_post(&s, by_axis_1.clone()).await,
        ["along-1", "between", "along-0"]
    );
    let (_, b) = call(h.post(s.url("/semantic_search")).json(&by_axis_1)).await;
    assert!(b["query"].is_null(), "{b}");
    let top = b["results"][0]["score"].as_f64().unwrap();
    assert!((top - 1.0).abs() < 1e-4, "{b}");

    assert_eq!(call(h.delete(s.url("/delete/along-1"))).await.0, 200);
    assert_eq!(semantic_post(&s, by_axis_1).await, ["between", "along-0"]);

    // Wrong dimension or non-numbers: 400, and nothing stored.
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
}

/// `k` is 1..=1000 on every search form: in range it bounds the results, out of range (0,
/// negative, not an integer, above the limit) it is a 400 that names the limit, never clamped.
#[tokio::test]
async fn k_outside_1_to_1000_is_400_naming_the_limit_on_every_form() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &[]).await;
    let h = http();
    for (key, value) in [("f1", "fox"), ("f2", "fox fox"), ("f3", "fox fox fox")] {
        set(&s, key, value).await;
    }
    let dim = dimension(&s).await;
    let vector = axis(dim, 0);

    // In range: k bounds the answer; 1000 itself is allowed.
    assert_eq!(search(&s, "fox", 2).await, ["f3", "f2"]);
    assert_eq!(search(&s, "fox", 1000).await, ["f3", "f2", "f1"]);
    assert_eq!(semantic_get(&s, "fox", 2).await.len(), 2);
    assert_eq!(semantic_get(&s, "fox", 1000).await.len(), 3);
    for k in [2, 1000] {
        let want = k.min(3);
        assert_eq!(
            semantic_post(&s, json!({"q": "fox", "k": k})).await.len(),
            want
        );
        assert_eq!(
            semantic_post(&s, json!({"vector": vector, "k": k}))
                .await
                .len(),
            want
        );
    }

    let names_the_limit = |msg: &str| {
        assert!(
            msg.contains("k must be an integer from 1 to 1000"),
            "{msg:?}"
        )
    };
    for k in [
        "1001",
        "5000",
        "99999999999999999999",
        "0",
        "-1",
        "1.5",
        "abc",
        "",
    ] {
        for path in ["/search", "/semantic_search"] {
            let req = h.get(s.url(path)).query(&[("q", "fox"), ("k", k)]);
            names_the_limit(&expect_error(req, 400).await);
        }
    }
    for k in [
        json!(1001),
        json!(5000),
        json!(u64::MAX),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(2.0),
        json!("3"),
        json!(true),
    ] {
        for body in [
            json!({"q": "fox", "k": k}),
            json!({"vector": vector, "k": k}),
        ] {
            let req = h.post(s.url("/semantic_search")).json(&body);
            names_the_limit(&expect_error(req, 400).await);
        }
    }
}
