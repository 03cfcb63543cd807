//! Bearer-token authentication over real sockets (`--auth-token-file`, `--read-token-file`):
//! which token may call which route, what a refusal looks like, what `/metrics` counts, and
//! that no token leaks into a body, the metrics or the log. `docs/security.md`.

mod common;

use common::{call, http, start, start_with_env, TestServer};
use reqwest::RequestBuilder;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Distinctive, so that a leak anywhere is found by a substring search.
const FULL: &str = "full-Zq8X3m1Wc7Lp0Tn5Kd";
const READ: &str = "read-Hy2Vb6Rk9Ds4Gf1Jm";
const WRONG: &str = "wrong-Qe7Np3Xs8Ua2Ct6Bv";

/// Writes the two token files the way an operator would (a trailing newline; spaces around
/// the read-only one) and returns `--auth-token-file F --read-token-file R`.
fn token_files(dir: &Path) -> (PathBuf, PathBuf) {
    let full = dir.join("full.token");
    let read = dir.join("read.token");
    std::fs::write(&full, format!("{FULL}\n")).unwrap();
    std::fs::write(&read, format!("  {READ}  \r\n")).unwrap();
    (full, read)
}

async fn start_auth(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> TestServer {
    let (full, read) = token_files(dir);
    let mut args = vec![
        "--auth-token-file",
        full.to_str().unwrap(),
        "--read-token-file",
        read.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    start_with_env(&dir.join("data"), &args, env).await
}

/// What each documented route needs, written out here independently of `auth.rs`: a route
/// moved into the wrong class there fails this test.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Need {
    Open,
    Read,
    Full,
}

fn need_of(path: &str, method: &str) -> Need {
    match (path, method) {
        ("/health" | "/openapi.json" | "/metrics", "get") => Need::Open,
        ("/get/{key}" | "/search" | "/scan" | "/cluster/status", "get")
        | ("/semantic_search", "get" | "post") => Need::Read,
        _ => Need::Full,
    }
}

/// A request for a documented route with harmless parameters.
fn request(s: &TestServer, path: &str, method: &str) -> RequestBuilder {
    let path = path
        .replace("{key}", "zz")
        .replace("{id}", "0123456789abcdef")
        .replace("{file}", "CURRENT");
    let path = match path.as_str() {
        "/search" | "/semantic_search" if method == "get" => format!("{path}?q=hello"),
        _ => path,
    };
    let h = http();
    match method {
        "get" => h.get(s.url(&path)),
        "post" if path == "/semantic_search" => {
            h.post(s.url(&path)).json(&json!({"q": "hello", "k": 3}))
        }
        "post" => h.post(s.url(&path)).body("{}"),
        "delete" => h.delete(s.url(&path)),
        m => panic!("unexpected method {m}"),
    }
}

/// Every (path, method) of `/openapi.json`, fetched without a token.
async fn documented_routes(s: &TestServer) -> Vec<(String, String)> {
    let (st, doc) = call(http().get(s.url("/openapi.json"))).await;
    assert_eq!(st, 200, "/openapi.json must stay open: {doc}");
    let mut routes = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            routes.push((path.clone(), method.clone()));
        }
    }
    assert!(routes.len() >= 21, "{routes:?}");
    routes
}

/// Asserts a refusal: `status`, a JSON `{"error"}`, and for 401 a Bearer challenge.
async fn expect_refused(req: RequestBuilder, status: u16, what: &str) -> String {
    let resp = req.send().await.unwrap();
    let got = resp.status().as_u16();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "{what}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e} {text}"));
    assert!(
        body["error"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {text}"
    );
    if status == 401 {
        let c = challenge.unwrap_or_else(|| panic!("{what}: 401 without WWW-Authenticate"));
        assert!(c.starts_with("Bearer realm=\"kvstore\""), "{what}: {c}");
    }
    text
}

/// The status of `req`, which must not be a refusal by authentication.
async fn expect_let_through(req: RequestBuilder, what: &str) -> u16 {
    let resp = req.send().await.unwrap();
    let st = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert!(st != 401 && st != 403, "{what}: {st} {text}");
    st
}

fn bearer(req: RequestBuilder, token: &str) -> RequestBuilder {
    req.header("authorization", format!("Bearer {token}"))
}

async fn auth_failures(s: &TestServer) -> [u64; 3] {
    let text = http()
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    ["missing", "invalid", "forbidden"].map(|reason| {
        let prefix = format!("kvstore_auth_failures_total{{reason=\"{reason}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix}in /metrics:\n{text}"))
            .parse()
            .unwrap()
    })
}

#[tokio::test]
async fn every_route_needs_the_token_its_class_says() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_auth(dir.path(), &[], &[]).await;
    for (path, method) in documented_routes(&s).await {
        let need = need_of(&path, &method);
        let what = format!("{method} {path} ({need:?})");
        if need == Need::Open {
            expect_let_through(request(&s, &path, &method), &what).await;
            continue;
        }
        expect_refused(
            request(&s, &path, &method),
            401,
            &format!("{what}, no token"),
        )
        .await;
        expect_refused(
            bearer(request(&s, &path, &method), WRONG),
            401,
            &format!("{what}, wrong token"),
        )
        .await;
        match need {
            Need::Read => {
                expect_let_through(bearer(request(&s, &path, &method), READ), &what).await;
            }
            _ => {
                expect_refused(
                    bearer(request(&s, &path, &method), READ),
                    403,
                    &format!("{what}, read-only token"),
                )
                .await;
            }
        }
        expect_let_through(bearer(request(&s, &path, &method), FULL), &what).await;
    }
    // Not documented, so not in the walk above: refused too (deny by default), before any
    // 404 could tell which routes exist.
    for path in ["/no/such/route", "/admin/something-new", "//get/x"] {
        expect_refused(http().get(s.url(path)), 401, path).await;
        expect_refused(bearer(http().get(s.url(path)), READ), 403, path).await;
    }
}

#[tokio::test]
async fn full_token_does_everything_and_read_token_only_reads() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_auth(dir.path(), &[], &[]).await;
    let h = http();
    let full = |r: RequestBuilder| bearer(r, FULL);
    let read = |r: RequestBuilder| bearer(r, READ);
    let before = auth_failures(&s).await;

    // the full token: writes, reads, admin
    let set = json!({"key": "doc/1", "value": "the quick brown fox"});
    assert_eq!(
        call(full(h.post(s.url("/set")).json(&set))).await,
        (200, json!({"ok": true}))
    );
    let bulk = json!({"items": [["doc/2", "lazy dog"], ["doc/3", "gone soon"]]});
    assert_eq!(
        call(full(h.post(s.url("/bulk_set")).json(&bulk))).await.0,
        200
    );
    assert_eq!(call(full(h.delete(s.url("/delete/doc/3")))).await.0, 200);
    assert_eq!(call(full(h.post(s.url("/admin/flush")))).await.0, 200);
    assert_eq!(call(full(h.get(s.url("/admin/stats")))).await.0, 200);
    // any case of the scheme, and spaces around the token
    let lower = h
        .get(s.url("/get/doc/1"))
        .header("authorization", format!("bearer   {FULL} "));
    assert_eq!(call(lower).await.0, 200);

    // the read-only token reads and searches...
    let (st, b) = call(read(h.get(s.url("/get/doc/1")))).await;
    assert_eq!(
        (st, b["value"].as_str()),
        (200, Some("the quick brown fox"))
    );
    let (st, b) = call(read(h.get(s.url("/search?q=fox&k=5")))).await;
    assert_eq!(st, 200);
    assert_eq!(b["results"][0]["key"], "doc/1");
    assert_eq!(call(read(h.get(s.url("/scan?prefix=doc/")))).await.0, 200);
    assert_eq!(
        call(read(h.get(s.url("/semantic_search?q=fox")))).await.0,
        200
    );
    let by_text = json!({"q": "fox", "k": 2});
    assert_eq!(
        call(read(h.post(s.url("/semantic_search")).json(&by_text)))
            .await
            .0,
        200
    );
    assert_eq!(call(read(h.get(s.url("/cluster/status")))).await.0, 200);

    // ...and changes nothing
    let overwrite = json!({"key": "doc/1", "value": "overwritten"});
    expect_refused(read(h.post(s.url("/set")).json(&overwrite)), 403, "set").await;
    let new_bulk = json!({"items": [["doc/9", "x"]]});
    expect_refused(
        read(h.post(s.url("/bulk_set")).json(&new_bulk)),
        403,
        "bulk",
    )
    .await;
    expect_refused(read(h.delete(s.url("/delete/doc/2"))), 403, "delete").await;
    for (m, path) in [
        ("post", "/admin/flush"),
        ("post", "/admin/compact"),
        ("get", "/admin/stats"),
        ("post", "/admin/checkpoint"),
        ("post", "/cluster/join"),
        ("post", "/become_primary"),
    ] {
        let req = if m == "get" {
            h.get(s.url(path))
        } else {
            h.post(s.url(path))
                .json(&json!({"node_id": "n2", "address": "127.0.0.1:1"}))
        };
        let msg = expect_refused(read(req), 403, path).await;
        assert!(msg.contains("full token"), "{msg}");
    }
    let (_, b) = call(full(h.get(s.url("/get/doc/1")))).await;
    assert_eq!(b["value"], "the quick brown fox");
    assert_eq!(call(full(h.get(s.url("/get/doc/2")))).await.0, 200);
    assert_eq!(call(full(h.get(s.url("/get/doc/9")))).await.0, 404);
    let (st, b) = call(full(h.get(s.url("/scan?prefix=admin")))).await;
    assert_eq!((st, b["items"].as_array().map(Vec::len)), (200, Some(0)));

    // refusals without a valid token: 401, the challenge says which (RFC 6750)
    let resp = h.get(s.url("/get/doc/1")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer realm=\"kvstore\""
    );
    let resp = bearer(h.get(s.url("/get/doc/1")), WRONG)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer realm=\"kvstore\", error=\"invalid_token\""
    );
    for header in [
        format!("Basic {FULL}"),
        FULL.to_string(),
        format!("Bearer {}", &FULL[..FULL.len() - 1]),
        format!("Bearer {FULL}x"),
        format!("Bearer {READ}{FULL}"),
        "Bearer ".to_string(),
    ] {
        let req = h.get(s.url("/get/doc/1")).header("authorization", &header);
        expect_refused(req, 401, &header).await;
    }

    // /health stays open; the refusals were counted by reason. Missing: the lone GET above.
    // Invalid: the WRONG one and the six headers. Forbidden: the read-only token's nine.
    assert_eq!(call(h.get(s.url("/health"))).await.0, 200);
    let after = auth_failures(&s).await;
    assert_eq!(
        [
            after[0] - before[0],
            after[1] - before[1],
            after[2] - before[2]
        ],
        [1, 7, 9]
    );
}

#[tokio::test]
async fn tokens_never_appear_in_bodies_metrics_or_the_log() {
    let dir = tempfile::tempdir().unwrap();
    // The most verbose log there is, dependencies' included.
    let mut s = start_auth(dir.path(), &[], &[("RUST_LOG", "trace")]).await;
    let h = http();
    let near_miss = format!("{}X", &FULL[..FULL.len() - 1]);
    let mut bodies = String::new();
    for req in [
        bearer(h.get(s.url("/get/k")), WRONG),
        bearer(h.get(s.url("/get/k")), &near_miss),
        bearer(h.post(s.url("/set")), READ).json(&json!({"key": "k", "value": "v"})),
        bearer(h.post(s.url("/admin/flush")), READ),
        h.get(s.url("/get/k"))
            .header("authorization", format!("Basic {WRONG}")),
        bearer(h.post(s.url("/set")), FULL).json(&json!({"key": "k", "value": "v"})),
        bearer(h.get(s.url("/get/k")), FULL),
        bearer(h.get(s.url("/get/k")), READ),
        bearer(h.post(s.url("/set")), FULL).body("{not json"),
        bearer(h.get(s.url("/no/such/route")), FULL),
    ] {
        let resp = req.send().await.unwrap();
        bodies.push_str(&format!("{:?}\n", resp.headers()));
        bodies.push_str(&resp.text().await.unwrap());
    }
    let metrics = h
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Stopped first, so that everything it logged is in the file.
    assert!(s.sigterm().success());
    let log = s.stderr();
    assert!(
        log.contains("authentication on"),
        "the log was not captured:\n{log}"
    );
    for (name, text) in [("bodies", &bodies), ("metrics", &metrics), ("log", &log)] {
        for secret in [FULL, READ, WRONG, near_miss.as_str()] {
            assert!(
                !text.contains(secret),
                "{secret} appears in the {name}:\n{text}"
            );
        }
    }
}

#[tokio::test]
async fn without_a_token_file_nothing_asks_for_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &[]).await;
    let h = http();
    for (path, method) in documented_routes(&s).await {
        let what = format!("{method} {path}");
        expect_let_through(request(&s, &path, &method), &what).await;
        // a client that sends a token anyway is not refused either
        expect_let_through(bearer(request(&s, &path, &method), WRONG), &what).await;
    }
    let set = json!({"key": "a", "value": "1"});
    assert_eq!(call(h.post(s.url("/set")).json(&set)).await.0, 200);
    assert_eq!(call(h.get(s.url("/get/a"))).await.1["value"], "1");
    assert_eq!(auth_failures(&s).await, [0, 0, 0]);
}

#[tokio::test]
async fn the_rust_client_sends_its_token() {
    use kvstore_client::{Client, Error};
    let dir = tempfile::tempdir().unwrap();
    let s = start_auth(dir.path(), &[], &[]).await;

    let full = Client::builder(&s.url)
        .bearer_token(format!("{FULL}\n"))
        .build()
        .unwrap();
    full.set("k", "v").await.unwrap();
    assert_eq!(full.get("k").await.unwrap().as_deref(), Some("v"));
    full.admin_flush().await.unwrap();
    // a download goes through the same headers (kvstore backup depends on it)
    let cp = full.checkpoint_create().await.unwrap();
    let mut bytes = Vec::new();
    let last = cp.files.last().unwrap();
    let n = full
        .checkpoint_download(&cp.id, &last.name, &mut bytes)
        .await
        .unwrap();
    assert_eq!(n, last.size);
    full.checkpoint_delete(&cp.id).await.unwrap();

    let read = Client::builder(&s.url).bearer_token(READ).build().unwrap();
    assert_eq!(read.get("k").await.unwrap().as_deref(), Some("v"));
    read.search("v", 3).await.unwrap();
    let e = read.set("k", "w").await.unwrap_err();
    assert!(matches!(e, Error::Api { status: 403, .. }), "{e}");
    let e = read.checkpoint_create().await.unwrap_err();
    assert_eq!(e.status(), Some(403), "{e}");

    let none = Client::new(&s.url).unwrap();
    assert_eq!(none.health().await.unwrap().status, "ok");
    let e = none.get("k").await.unwrap_err();
    assert_eq!(e.status(), Some(401), "{e}");
    let wrong = Client::builder(&s.url).bearer_token(WRONG).build().unwrap();
    let e = wrong.get("k").await.unwrap_err();
    assert_eq!(e.status(), Some(401), "{e}");
    assert!(!e.to_string().contains(WRONG), "{e}");

    let url = s.url.clone();
    tokio::task::spawn_blocking(move || {
        let b = Client::builder(&url)
            .bearer_token(READ)
            .build_blocking()
            .unwrap();
        assert_eq!(b.get("k").unwrap().as_deref(), Some("v"));
        assert_eq!(b.set("k", "x").unwrap_err().status(), Some(403));
    })
    .await
    .unwrap();
    assert_eq!(full.get("k").await.unwrap().as_deref(), Some("v"));
}
