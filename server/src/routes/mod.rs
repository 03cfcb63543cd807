//! The HTTP surface: warp filters, one per endpoint, over a shared [`State`].
//!
//! Every route matches its path before its method, so an unknown path is 404 and a known path
//! with the wrong method is 405. Handlers return finished responses; only routing failures
//! become warp rejections, and [`recover`] renders those as `{"error": ...}` too.
//!
//! Every request meets [`crate::auth::gate`] before any route: with auth on, a request without
//! the token its route needs is refused (401/403) before its body is read or a handler runs.

mod admin_checkpoint;
mod handlers;
pub mod input;

use crate::auth::{AuthRejection, Authenticator};
use crate::checkpoints::CheckpointStore;
use crate::config::Limits;
use crate::error::{error_response, ApiError};
use crate::metrics::Metrics;
use crate::node::Node;
use std::convert::Infallible;
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection};

/// What every request handler shares. Immutable after start; the node and metrics are
/// internally synchronized.
pub struct State {
    pub node: Arc<dyn Node>,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    /// Checkpoints made for download (`/admin/checkpoint`).
    pub checkpoints: Arc<CheckpointStore>,
    /// Which requests may pass (`--auth-token-file`...); consulted by the gate only.
    pub auth: Arc<Authenticator>,
}

type Route = BoxedFilter<(Response,)>;

fn with_state(
    state: Arc<State>,
) -> impl Filter<Extract = (Arc<State>,), Error = Infallible> + Clone {
    warp::any().map(move || Arc::clone(&state))
}

/// Largest peer message accepted: a snapshot chunk (openraft's 3 MiB default) in CBOR, or a
/// forwarded bulk write of up to the client body limit.
const PEER_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The body, read up to the configured limit (413 past it).
fn body(
    limit: usize,
) -> impl Filter<Extract = (Result<bytes::Bytes, ApiError>,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::body::stream())
        .then(move |len, stream| input::read_body(len, stream, limit))
}

/// The query string as decoded pairs (empty when there is none).
fn query(
) -> impl Filter<Extract = (Result<Vec<(String, String)>, ApiError>,), Error = Infallible> + Clone {
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .map(|raw: String| input::query_pairs(&raw))
}

/// The key named by the rest of the path, percent-decoded.
fn key_tail() -> impl Filter<Extract = (Result<String, ApiError>,), Error = Infallible> + Clone {
    warp::path::tail().map(|t: warp::path::Tail| input::key_from_path(t.as_str()))
}

/// Every route of the API, with request metrics and JSON rejections.
pub fn routes(
    state: Arc<State>,
) -> impl Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone + Send + Sync + 'static
{
    let s = || with_state(Arc::clone(&state));
    let limit = state.limits.max_body_bytes;

    let get: Route = warp::path("get")
        .and(key_tail())
        .and(warp::get())
        .and(query())
        .and(s())
        .then(|key, q, st| handlers::get(st, key, q))
        .boxed();
    let set: Route = warp::path!("set")
        .and(warp::post())
        .and(s())
        .and(body(limit))
        .then(handlers::set)
        .boxed();
    let delete: Route = warp::path("delete")
        .and(key_tail())
        .and(warp::delete())
        .and(s())
        .and(query())
        .then(|key, st, q| handlers::delete(st, key, q))
        .boxed();
    let bulk: Route = warp::path!("bulk_set")
        .and(warp::post())
        .and(s())
        .and(body(limit))
        .then(handlers::bulk_set)
        .boxed();
    let search: Route = warp::path!("search")
        .and(warp::get())
        .and(s())
        .and(query())
        .then(handlers::search)
        .boxed();
    let semantic_get: Route = warp::path!("semantic_search")
        .and(warp::get())
        .and(s())
        .and(query())
        .then(handlers::semantic_search_get)
        .boxed();
    let semantic_post: Route = warp::path!("semantic_search")
        .and(warp::post())
        .and(s())
        .and(body(limit))
        .and(query())
        .then(handlers::semantic_search_post)
        .boxed();
    let scan: Route = warp::path!("scan")
        .and(warp::get())
        .and(s())
        .and(query())
        .then(handlers::scan)
        .boxed();
    let health: Route = warp::path!("health")
        .and(warp::get())
        .and(s())
        .then(handlers::health)
        .boxed();
    let status: Route = warp::path!("cluster" / "status")
        .and(warp::get())
        .and(s())
        .then(handlers::cluster_status)
        .boxed();
    let join: Route = warp::path!("cluster" / "join")
        .and(warp::post())
        .and(s())
        .and(body(limit))
        .then(handlers::cluster_join)
        .boxed();
    let remove_member: Route = warp::path!("cluster" / "members" / String)
        .and(warp::delete())
        .and(s())
        .then(|id: String, st| handlers::cluster_remove_member(st, input::key_from_path(&id)))
        .boxed();
    // Peer traffic of the cluster modes: its own limit (a snapshot chunk, a bulk's entry).
    let peer: Route = warp::path!("raft" / String)
        .and(warp::post())
        .and(s())
        .and(warp::header::optional::<String>(
            crate::node::raft::network::CLUSTER_HEADER,
        ))
        .and(body(limit.max(PEER_BODY_BYTES)))
        .then(handlers::peer)
        .boxed();
    let primary: Route = warp::path!("become_primary")
        .and(warp::post())
        .and(s())
        .then(handlers::become_primary)
        .boxed();
    let flush: Route = warp::path!("admin" / "flush")
        .and(warp::post())
        .and(s())
        .then(handlers::admin_flush)
        .boxed();
    let compact: Route = warp::path!("admin" / "compact")
        .and(warp::post())
        .and(s())
        .then(handlers::admin_compact)
        .boxed();
    let stats: Route = warp::path!("admin" / "stats")
        .and(warp::get())
        .and(s())
        .then(handlers::admin_stats)
        .boxed();
    let metrics: Route = warp::path!("metrics")
        .and(warp::get())
        .and(s())
        .then(handlers::metrics)
        .boxed();
    let openapi: Route = warp::path!("openapi.json")
        .and(warp::get())
        .then(handlers::openapi)
        .boxed();
    let checkpoint: Route = admin_checkpoint::route(Arc::clone(&state));

    let m = Arc::clone(&state.metrics);
    let log = warp::log::custom(move |info: warp::log::Info<'_>| {
        let status = info.status().as_u16();
        m.observe(info.path(), info.method().as_str(), status, info.elapsed());
        tracing::debug!(
            method = %info.method(),
            path = info.path(),
            status,
            micros = info.elapsed().as_micros() as u64,
            "request"
        );
    });

    let gate = crate::auth::gate(Arc::clone(&state.auth), Arc::clone(&state.metrics));

    // Boxed in three groups: one `or` chain of twenty routes nests its future types deeper
    // than rustc's recursion limit allows when the binary is built.
    let data: Route = get
        .or(set)
        .unify()
        .or(delete)
        .unify()
        .or(bulk)
        .unify()
        .or(search)
        .unify()
        .or(semantic_get)
        .unify()
        .or(semantic_post)
        .unify()
        .or(scan)
        .unify()
        .boxed();
    let cluster: Route = health
        .or(status)
        .unify()
        .or(join)
        .unify()
        .or(remove_member)
        .unify()
        .or(primary)
        .unify()
        .or(peer)
        .unify()
        .boxed();
    let admin: Route = flush
        .or(compact)
        .unify()
        .or(stats)
        .unify()
        .or(metrics)
        .unify()
        .or(openapi)
        .unify()
        .or(checkpoint)
        .unify()
        .boxed();
    let api = data.or(cluster).unify().or(admin).unify();
    gate.and(api).recover(recover).unify().with(log)
}

/// Renders a routing failure as `{"error": ...}` with its status.
async fn recover(r: Rejection) -> Result<Response, Infallible> {
    use warp::reject;
    if let Some(AuthRejection(failure)) = r.find() {
        return Ok(failure.to_api_error().into_response());
    }
    let (status, msg) = if r.is_not_found() {
        (StatusCode::NOT_FOUND, "no such route".to_string())
    } else if r.find::<reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed for this route".to_string(),
        )
    } else if let Some(e) = r.find::<reject::PayloadTooLarge>() {
        (StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
    } else if let Some(e) = r.find::<reject::InvalidHeader>() {
        (StatusCode::BAD_REQUEST, e.to_string())
    } else if let Some(e) = r.find::<reject::InvalidQuery>() {
        (StatusCode::BAD_REQUEST, e.to_string())
    } else {
        tracing::warn!(rejection = ?r, "unhandled rejection");
        (StatusCode::BAD_REQUEST, format!("bad request: {r:?}"))
    };
    Ok(error_response(status, &msg))
}
