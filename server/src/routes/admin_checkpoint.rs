//! `/admin/checkpoint`: a checkpoint of the running node, downloaded file by file while the node
//! keeps serving reads and writes (`kvstore backup` drives it; see `docs/backup.md`). The
//! checkpoints are kept by [`crate::checkpoints::CheckpointStore`]; this file only routes.
//!
//! - `POST /admin/checkpoint` makes one: `{"id", "seq", "files": [{"name", "size"}...]}`, the
//!   files in the order to write them (`CURRENT` last).
//! - `GET /admin/checkpoint/<id>` answers the same again.
//! - `GET|HEAD /admin/checkpoint/<id>/<file>` streams one file from disk (`warp::fs`: read in
//!   blocks as the client takes them, with `Content-Length` and `Range`), never whole in memory.
//! - `DELETE /admin/checkpoint/<id>` removes it: `{"ok": true}`.
//!
//! A malformed id or file name — not 16 hex digits, or not one path component of
//! `[A-Za-z0-9._-]` (so `..`, `%2e%2e%2fLOCK`, `a/b`, `a\b` are refused) — is 400 before any
//! lookup; an id the node does not hold, or a name not among its files, is 404; another method
//! on a known shape is 405; a checkpoint past `MAX_OPEN_CHECKPOINTS`, or a download of one still
//! being made, is 409.

use super::{with_state, Route, State};
use crate::error::ApiError;
use percent_encoding::percent_decode_str;
use serde_json::json;
use std::sync::Arc;
use warp::http::header::CONTENT_TYPE;
use warp::http::Method;
use warp::reply::Response;
use warp::{Filter, Reply};

/// Every `/admin/checkpoint` route.
pub(super) fn route(state: Arc<State>) -> Route {
    let root = state.checkpoints.root().to_path_buf();
    let manage = warp::path!("admin" / "checkpoint" / ..)
        .and(warp::path::tail())
        .and(warp::method())
        .and(with_state(state))
        .and_then(
            |tail: warp::path::Tail, method: Method, st: Arc<State>| async move {
                let parts: Vec<&str> = match tail.as_str() {
                    "" => Vec::new(),
                    t => t.split('/').collect(),
                };
                match answer(&st, &parts, &method).await {
                    Ok(Some(resp)) => Ok(resp),
                    // A download `answer` has checked: handed to `download` below.
                    Ok(None) => Err(warp::reject::not_found()),
                    Err(e) => Ok(e.into_response()),
                }
            },
        );
    // IMPORTANT: reached only through `manage` rejecting, which it does only for a
    // GET/HEAD of `<id>/<file>` once `CheckpointStore::check_file` accepted both — so this
    // serves nothing but a file of an open checkpoint. `warp::fs::dir` reads it in blocks.
    let download = warp::path!("admin" / "checkpoint" / ..)
        .and(warp::fs::dir(root))
        .map(|f: warp::filters::fs::File| {
            warp::reply::with_header(f, CONTENT_TYPE, "application/octet-stream").into_response()
        });
    manage.or(download).unify().boxed()
}

/// The answer to a request for `/admin/checkpoint/<parts>`; `None` for a checked download.
async fn answer(
    st: &Arc<State>,
    parts: &[&str],
    method: &Method,
) -> Result<Option<Response>, ApiError> {
    let store = &st.checkpoints;
    let json = |v: serde_json::Value| Ok(Some(warp::reply::json(&v).into_response()));
    match (parts, method) {
        ([], &Method::POST) => json(json!(store.create(Arc::clone(&st.node)).await?)),
        ([id], &Method::GET) => json(json!(store.get(&decode(id)?)?)),
        ([id], &Method::DELETE) => {
            store.remove(&decode(id)?).await?;
            json(json!({ "ok": true }))
        }
        ([id, file], &Method::GET | &Method::HEAD) => {
            store.check_file(&decode(id)?, &decode(file)?)?;
            Ok(None)
        }
        ([] | [_] | [_, _], _) => Err(ApiError::MethodNotAllowed),
        ([_, rest @ ..], _) => Err(ApiError::BadRequest(format!(
            "{:?} is not a checkpoint file name: a file name is one path component",
            decode(&rest.join("/"))?
        ))),
    }
}

/// A path segment, percent-decoded.
fn decode(segment: &str) -> Result<String, ApiError> {
    percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ApiError::BadRequest(format!("{segment:?} is not UTF-8 once decoded")))
}
