//! One function per endpoint: check the input, call the node, render JSON.
//! Each returns a finished response; errors become `{"error": ...}` via [`ApiError`].

use super::input::{
    bounded_count, check_key, parse_bulk_set, parse_join_request, parse_semantic_post, parse_set,
    query_get, JoinRequest, DEFAULT_K, DEFAULT_SCAN_LIMIT,
};
use super::State;
use crate::error::{error_response, ApiError};
use crate::node::{Consistency, Health, ScanRequest, SemanticQuery};
use bytes::Bytes;
use serde_json::{json, Value};
use std::sync::Arc;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply;

type Body = Result<Bytes, ApiError>;
type Query = Result<Vec<(String, String)>, ApiError>;

fn ok_json(v: Value) -> Response {
    warp::reply::json(&v).into_response()
}

/// Renders `r`, or its error.
fn respond(r: Result<Value, ApiError>) -> Response {
    match r {
        Ok(v) => ok_json(v),
        Err(e) => e.into_response(),
    }
}

/// `?consistency=linearizable|stale` (default linearizable).
fn consistency(q: &[(String, String)]) -> Result<Consistency, ApiError> {
    match query_get(q, "consistency") {
        None | Some("linearizable") => Ok(Consistency::Linearizable),
        Some("stale") => Ok(Consistency::Stale),
        Some(other) => Err(ApiError::BadRequest(format!(
            "consistency must be \"linearizable\" or \"stale\", got {other:?}"
        ))),
    }
}

pub async fn get(state: Arc<State>, key: Result<String, ApiError>, query: Query) -> Response {
    respond(
        async {
            let key = key?;
            check_key(&key, &state.limits)?;
            let consistency = consistency(&query?)?;
            match state.node.get(key.clone(), consistency).await? {
                Some(value) => Ok(json!({ "key": key, "value": value })),
                None => Err(ApiError::NotFound(format!("key not found: {key}"))),
            }
        }
        .await,
    )
}

pub async fn set(state: Arc<State>, body: Body) -> Response {
    respond(
        async {
            let req = parse_set(&body?, &state.limits)?;
            state.node.set(req).await?;
            Ok(json!({ "ok": true }))
        }
        .await,
    )
}

pub async fn delete(state: Arc<State>, key: Result<String, ApiError>, query: Query) -> Response {
    respond(
        async {
            let key = key?;
            check_key(&key, &state.limits)?;
            let q = query?;
            let debug_fail = match query_get(&q, "debug_fail") {
                None | Some("false") | Some("0") => false,
                Some("true") | Some("1") => true,
                Some(other) => {
                    return Err(ApiError::BadRequest(format!(
                        "debug_fail must be true or false, got {other:?}"
                    )))
                }
            };
            if state.node.delete(key.clone(), debug_fail).await? {
                Ok(json!({ "ok": true, "deleted": true }))
            } else {
                Err(ApiError::NotFound(format!("key not found: {key}")))
            }
        }
        .await,
    )
}

pub async fn bulk_set(state: Arc<State>, body: Body) -> Response {
    respond(
        async {
            let (items, debug_fail) = parse_bulk_set(&body?, &state.limits)?;
            let count = items.len();
            state.node.bulk_set(items, debug_fail).await?;
            Ok(json!({ "ok": true, "count": count }))
        }
        .await,
    )
}

fn required_query(q: &[(String, String)]) -> Result<String, ApiError> {
    match query_get(q, "q") {
        Some(s) if !s.trim().is_empty() => Ok(s.to_string()),
        _ => Err(ApiError::BadRequest(
            "query parameter \"q\" is required and must not be empty".into(),
        )),
    }
}

pub async fn search(state: Arc<State>, query: Query) -> Response {
    respond(
        async {
            let q = query?;
            let text = required_query(&q)?;
            let k = bounded_count(query_get(&q, "k"), DEFAULT_K, "k")?;
            state.node.read_barrier(consistency(&q)?).await?;
            let results = state.node.search(text.clone(), k).await?;
            Ok(json!({ "query": text, "results": results }))
        }
        .await,
    )
}

pub async fn semantic_search_get(state: Arc<State>, query: Query) -> Response {
    respond(
        async {
            let q = query?;
            let text = required_query(&q)?;
            let k = bounded_count(query_get(&q, "k"), DEFAULT_K, "k")?;
            state.node.read_barrier(consistency(&q)?).await?;
            let results = state
                .node
                .semantic_search(SemanticQuery::Text(text.clone()), k)
                .await?;
            Ok(json!({ "query": text, "results": results }))
        }
        .await,
    )
}

/// `POST /semantic_search` with `{"vector": [..], "k"}` or `{"q": "...", "k"}`
/// (`?consistency=` in the query string, as for every read).
pub async fn semantic_search_post(state: Arc<State>, body: Body, query: Query) -> Response {
    respond(
        async {
            let consistency = consistency(&query?)?;
            let (query, k) = parse_semantic_post(&body?)?;
            state.node.read_barrier(consistency).await?;
            let text = match &query {
                SemanticQuery::Text(t) => Value::String(t.clone()),
                SemanticQuery::Vector(_) => Value::Null,
            };
            let results = state.node.semantic_search(query, k).await?;
            Ok(json!({ "query": text, "results": results }))
        }
        .await,
    )
}

pub async fn scan(state: Arc<State>, query: Query) -> Response {
    respond(
        async {
            let q = query?;
            let req = ScanRequest {
                start: query_get(&q, "start").map(str::to_string),
                end: query_get(&q, "end").map(str::to_string),
                prefix: query_get(&q, "prefix")
                    .filter(|p| !p.is_empty())
                    .map(str::to_string),
                limit: bounded_count(query_get(&q, "limit"), DEFAULT_SCAN_LIMIT, "limit")?,
            };
            state.node.read_barrier(consistency(&q)?).await?;
            let page = state.node.scan(req).await?;
            serde_json::to_value(page).map_err(|e| ApiError::Internal(e.to_string()))
        }
        .await,
    )
}

pub async fn health(state: Arc<State>) -> Response {
    let st = state.node.status();
    let (status, error) = match state.node.health().await {
        Ok(Health::Ok) => {
            return ok_json(json!({
                "status": "ok",
                "node_id": st.node_id,
                "mode": st.mode,
                "role": st.role,
            }))
        }
        // As etcd does with its CORRUPT alarm: still serving, but not healthy.
        Ok(Health::Degraded(why)) => ("degraded", why),
        Err(e) => ("unavailable", e.to_string()),
    };
    warp::reply::with_status(
        warp::reply::json(&json!({
            "status": status,
            "error": error,
            "node_id": st.node_id,
            "mode": st.mode,
        })),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .into_response()
}

pub async fn cluster_status(state: Arc<State>) -> Response {
    respond(
        serde_json::to_value(state.node.status()).map_err(|e| ApiError::Internal(e.to_string())),
    )
}

/// `POST /cluster/join` with `{"peers": [{"node_id", "url"}, ...]}`, or one peer as
/// `{"node_id", "address"}` (the seed's shape; `"addr"`, `"url"` and `"host"` + `"port"` are
/// accepted as the address) — sent to a member, which adds them; or `{"via": url}` — sent to
/// a fresh node, which asks the member at `url` to admit it.
pub async fn cluster_join(state: Arc<State>, body: Body) -> Response {
    respond(
        async {
            match parse_join_request(&body?)? {
                JoinRequest::Peers(peers) => state.node.join(peers).await,
                JoinRequest::Via(via) => state.node.join_via(via).await,
            }
        }
        .await,
    )
}

/// `DELETE /cluster/members/<node_id>` (the id percent-decoded).
pub async fn cluster_remove_member(state: Arc<State>, id: Result<String, ApiError>) -> Response {
    respond(
        async {
            let id = id?;
            if id.trim().is_empty() {
                return Err(ApiError::BadRequest("the node id must not be empty".into()));
            }
            state.node.remove_member(id).await
        }
        .await,
    )
}

/// `POST /raft/<rpc>`: a message from another node (binary in, binary out).
pub async fn peer(rpc: String, state: Arc<State>, cluster: Option<String>, body: Body) -> Response {
    match async { state.node.peer(rpc, cluster, body?).await }.await {
        Ok(bytes) => {
            let mut r = Response::new(bytes.into());
            r.headers_mut().insert(
                warp::http::header::CONTENT_TYPE,
                warp::http::HeaderValue::from_static("application/cbor"),
            );
            r
        }
        Err(e) => e.into_response(),
    }
}

pub async fn become_primary(state: Arc<State>) -> Response {
    respond(state.node.become_primary().await)
}

pub async fn admin_flush(state: Arc<State>) -> Response {
    respond(state.node.flush().await.map(|()| json!({ "ok": true })))
}

pub async fn admin_compact(state: Arc<State>) -> Response {
    respond(state.node.compact().await.map(|()| json!({ "ok": true })))
}

pub async fn admin_stats(state: Arc<State>) -> Response {
    respond(state.node.stats().await.map(|s| {
        json!({
            "levels": s.levels.iter().enumerate().map(|(i, l)| json!({
                "level": i, "files": l.files, "bytes": l.bytes,
            })).collect::<Vec<_>>(),
            "write_amplification": s.write_amplification,
            "user_bytes_written": s.user_bytes_written,
            "wal_bytes_written": s.wal_bytes_written,
            "flush_bytes_written": s.flush_bytes_written,
            "compaction_bytes_written": s.compaction_bytes_written,
            "memtable_bytes": s.memtable_bytes,
            "immutable_memtables": s.immutable_memtables,
            "flushes": s.flushes,
            "compactions": s.compactions,
            "write_stalls": s.write_stalls,
            "stall_micros": s.stall_micros,
            "wal_syncs": s.wal_syncs,
            "wal_sync_micros": s.wal_sync_micros,
            "live_sst_bytes": s.live_sst_bytes,
            "last_sequence": s.last_sequence,
            "block_cache_bytes": s.block_cache_bytes,
            "block_cache_hits": s.block_cache_hits,
            "block_cache_misses": s.block_cache_misses,
            "poisoned": s.poisoned,
        })
    }))
}

pub async fn metrics(state: Arc<State>) -> Response {
    match state.node.stats().await {
        Ok(s) => state.metrics.set_engine(&s),
        Err(e) => tracing::warn!(error = %e, "engine stats unavailable for /metrics"),
    }
    state.metrics.set_cluster(&state.node.cluster_stats());
    match state.metrics.render() {
        Ok(text) => warp::reply::with_header(
            text,
            "content-type",
            "text/plain; version=0.0.4; charset=utf-8",
        )
        .into_response(),
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

pub async fn openapi() -> Response {
    ok_json(crate::openapi::document())
}
