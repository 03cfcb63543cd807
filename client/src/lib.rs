//! Rust client for the KVStore HTTP API.
//!
//! [`Client`] is async (reqwest, plain HTTP); [`blocking::Client`] wraps it with a private
//! current-thread runtime for programs without one. Every endpoint has a method; a non-2xx
//! answer becomes [`Error::Api`] carrying the status and the server's `{"error"}` message.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kvstore_client::Error> {
//! let c = kvstore_client::Client::new("http://127.0.0.1:5000")?;
//! c.set("greeting", "hello").await?;
//! assert_eq!(c.get("greeting").await?.as_deref(), Some("hello"));
//! # Ok(()) }
//! ```
//!
//! A node started with `--auth-token-file` needs a bearer token (`docs/security.md`):
//!
//! ```no_run
//! # fn demo() -> Result<(), kvstore_client::Error> {
//! let token = std::fs::read_to_string("/etc/kvstore/token").unwrap_or_default();
//! let c = kvstore_client::Client::builder("http://127.0.0.1:5000")
//!     .bearer_token(token)
//!     .build()?;
//! # Ok(()) }
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod blocking;
mod types;

pub use types::{
    BecomePrimary, CheckpointFile, CheckpointInfo, ClusterStatus, Health, JoinResult, KeyValue,
    MemberInfo, RemoveResult, ScanOptions, ScanPage, SearchHit, SearchResults, SetOptions,
};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// Characters left as they are in a key put in a path: the URL "unreserved" set.
const KEY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What a client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status and `{"error": message}`.
    #[error("server answered {status}: {message}")]
    Api { status: u16, message: String },
    /// The request did not complete (connection refused, reset, timeout...).
    #[error("request to {url} failed: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered 2xx with a body this client cannot read.
    #[error("unexpected response from {url}: {message}")]
    Decode { url: String, message: String },
    /// The base URL is not a usable `http://host:port` URL.
    #[error("invalid server URL {0:?}")]
    InvalidUrl(String),
    /// A downloaded body could not be written where the caller asked.
    #[error("cannot write the body of {url}: {source}")]
    Write {
        url: String,
        #[source]
        source: std::io::Error,
    },
    /// The bearer token cannot be sent as it is (the message says why, never what it is).
    #[error("invalid bearer token: {0}")]
    InvalidToken(&'static str),
    /// The blocking wrapper could not start its runtime.
    #[error("cannot start the client runtime: {0}")]
    Runtime(std::io::Error),
}

impl Error {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// An async client for one server. Cheap to clone (connections are pooled and shared).
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    /// `http://host:port`, no trailing slash.
    base: String,
}

/// A [`Client`] with more than a URL: [`Client::builder`].
#[derive(Clone)]
pub struct ClientBuilder {
    base_url: String,
    /// Sent as `Authorization: Bearer <token>` with every request, when set.
    token: Option<String>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ClientBuilder {
    /// Sends `Authorization: Bearer <token>` with every request, downloads included: the
    /// node's full token (`--auth-token-file`) or its read-only one (`--read-token-file`).
    /// Surrounding whitespace (a token file's newline) is removed.
    pub fn bearer_token(mut self, token: impl Into<String>) -> ClientBuilder {
        self.token = Some(token.into());
        self
    }

    /// The async client.
    pub fn build(self) -> Result<Client> {
        let base = self.base_url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() < 8 {
            return Err(Error::InvalidUrl(self.base_url));
        }
        let mut http = reqwest::Client::builder();
        if let Some(token) = &self.token {
            http = http.default_headers(auth_headers(token)?);
        }
        let http = http.build().map_err(|source| Error::Transport {
            url: base.clone(),
            source,
        })?;
        Ok(Client { http, base })
    }

    /// The blocking client ([`blocking::Client`]).
    pub fn build_blocking(self) -> Result<blocking::Client> {
        blocking::Client::from_builder(self)
    }
}

/// The `Authorization` header for `token`, marked sensitive: reqwest and hyper then leave its
/// value out of `Debug` output, and reqwest drops it on a redirect to another host.
fn auth_headers(token: &str) -> Result<reqwest::header::HeaderMap> {
    use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
    let token = token.trim();
    if token.is_empty() {
        return Err(Error::InvalidToken("it is empty"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::InvalidToken(
            "it holds a space or a character that is not visible ASCII",
        ));
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| Error::InvalidToken("not a valid header value"))?;
    value.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    Ok(headers)
}

impl Client {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:5000`), sending no token.
    pub fn new(base_url: &str) -> Result<Client> {
        Client::builder(base_url).build()
    }

    /// A client with options (a bearer token): `Client::builder(url).bearer_token(t).build()`.
    pub fn builder(base_url: &str) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.to_string(),
            token: None,
        }
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn key_url(&self, route: &str, key: &str) -> String {
        format!(
            "{}/{route}/{}",
            self.base,
            utf8_percent_encode(key, KEY_SET)
        )
    }

    /// Sends a request; returns the status and body text of a 2xx answer, `Error::Api` else.
    async fn send(
        &self,
        method: Method,
        url: String,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<(StatusCode, String)> {
        let mut req = self.http.request(method, &url);
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let transport = |source| Error::Transport {
            url: url.clone(),
            source,
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let text = resp.text().await.map_err(transport)?;
        if status.is_success() {
            return Ok((status, text));
        }
        Err(api_error(status, text))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: String,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<T> {
        let (_, text) = self.send(method, url.clone(), query, body).await?;
        serde_json::from_str(&text).map_err(|e| Error::Decode {
            url,
            message: e.to_string(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The value under `key`; `None` when absent.
    pub async fn get(&self, key: &str) -> Result<Option<String>> {
        match self
            .call::<KeyValue>(Method::GET, self.key_url("get", key), &[], None)
            .await
        {
            Ok(kv) => Ok(Some(kv.value)),
            Err(Error::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores `value` under `key`; returns once it is durable.
    pub async fn set(&self, key: &str, value: &str) -> Result<()> {
        self.set_with(key, value, &SetOptions::default()).await
    }

    /// [`Client::set`] with a vector and/or `debug_fail`.
    pub async fn set_with(&self, key: &str, value: &str, opts: &SetOptions) -> Result<()> {
        let mut body = json!({ "key": key, "value": value });
        if opts.debug_fail {
            body["debug_fail"] = json!(true);
        }
        if let Some(v) = &opts.vector {
            body["vector"] = json!(v);
        }
        self.call::<Value>(Method::POST, self.url("/set"), &[], Some(body))
            .await
            .map(drop)
    }

    /// Deletes `key`; `false` when it was absent.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        match self
            .call::<Value>(Method::DELETE, self.key_url("delete", key), &[], None)
            .await
        {
            Ok(_) => Ok(true),
            Err(Error::Api { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Stores all pairs in one atomic batch (all or nothing); returns how many were written.
    pub async fn bulk_set<K: AsRef<str>, V: AsRef<str>>(&self, items: &[(K, V)]) -> Result<usize> {
        self.bulk_set_with(items, false).await
    }

    /// [`Client::bulk_set`] with `debug_fail`.
    pub async fn bulk_set_with<K: AsRef<str>, V: AsRef<str>>(
        &self,
        items: &[(K, V)],
        debug_fail: bool,
    ) -> Result<usize> {
        let items: Vec<[&str; 2]> = items
            .iter()
            .map(|(k, v)| [k.as_ref(), v.as_ref()])
            .collect();
        let mut body = json!({ "items": items });
        if debug_fail {
            body["debug_fail"] = json!(true);
        }
        let v: Value = self
            .call(Method::POST, self.url("/bulk_set"), &[], Some(body))
            .await?;
        Ok(v.get("count").and_then(Value::as_u64).unwrap_or(0) as usize)
    }

    /// One page of keys and values in key order.
    pub async fn scan(&self, opts: &ScanOptions) -> Result<ScanPage> {
        let mut q = Vec::new();
        for (name, v) in [
            ("start", &opts.start),
            ("end", &opts.end),
            ("prefix", &opts.prefix),
        ] {
            if let Some(v) = v {
                q.push((name, v.clone()));
            }
        }
        if let Some(l) = opts.limit {
            q.push(("limit", l.to_string()));
        }
        self.call(Method::GET, self.url("/scan"), &q, None).await
    }

    /// BM25-ranked full-text search.
    pub async fn search(&self, query: &str, k: usize) -> Result<SearchResults> {
        let q = [("q", query.to_string()), ("k", k.to_string())];
        self.call(Method::GET, self.url("/search"), &q, None).await
    }

    /// Semantic search by the embedding of `query`.
    pub async fn semantic_search(&self, query: &str, k: usize) -> Result<SearchResults> {
        let q = [("q", query.to_string()), ("k", k.to_string())];
        self.call(Method::GET, self.url("/semantic_search"), &q, None)
            .await
    }

    /// Semantic search by a vector.
    pub async fn semantic_search_vector(&self, vector: &[f32], k: usize) -> Result<SearchResults> {
        let body = json!({ "vector": vector, "k": k });
        self.call(Method::POST, self.url("/semantic_search"), &[], Some(body))
            .await
    }

    /// `/health`; a 503 (engine poisoned, or damaged data met by reads: "degraded") is
    /// `Error::Api { status: 503, .. }`, its message saying which.
    pub async fn health(&self) -> Result<Health> {
        self.call(Method::GET, self.url("/health"), &[], None).await
    }

    /// This node's place in the cluster (`/cluster/status`).
    pub async fn cluster_status(&self) -> Result<ClusterStatus> {
        self.call(Method::GET, self.url("/cluster/status"), &[], None)
            .await
    }

    /// Asks the node (a member) to add `node_id` at `address` (refused in standalone mode).
    pub async fn cluster_join(&self, node_id: &str, address: &str) -> Result<Value> {
        let body = json!({ "node_id": node_id, "address": address });
        self.call(Method::POST, self.url("/cluster/join"), &[], Some(body))
            .await
    }

    /// Asks this (fresh) node to join the cluster of the member at `via`: that member's
    /// primary adds it as a learner, waits until it has caught up, and promotes it to voter.
    /// 409 when its node id is a member under another URL; 503 naming `via` when it cannot be
    /// reached.
    pub async fn cluster_join_via(&self, via: &str) -> Result<JoinResult> {
        let body = json!({ "via": via });
        self.call(Method::POST, self.url("/cluster/join"), &[], Some(body))
            .await
    }

    /// Removes the member `node_id` from the cluster (sent to any member; forwarded to the
    /// primary). 404 for an unknown id; 409 for the primary, the last voter, a removal that
    /// would leave no reachable quorum, or while another membership change runs.
    pub async fn remove_member(&self, node_id: &str) -> Result<RemoveResult> {
        let url = self.key_url("cluster/members", node_id);
        self.call(Method::DELETE, url, &[], None).await
    }

    /// Asks the node to become primary (refused in standalone mode).
    pub async fn become_primary(&self) -> Result<BecomePrimary> {
        self.call(Method::POST, self.url("/become_primary"), &[], None)
            .await
    }

    /// Flushes memtables to SSTables.
    pub async fn admin_flush(&self) -> Result<()> {
        self.call::<Value>(Method::POST, self.url("/admin/flush"), &[], None)
            .await
            .map(drop)
    }

    /// Compacts the whole key range.
    pub async fn admin_compact(&self) -> Result<()> {
        self.call::<Value>(Method::POST, self.url("/admin/compact"), &[], None)
            .await
            .map(drop)
    }

    /// Engine statistics, as the server reports them.
    pub async fn admin_stats(&self) -> Result<Value> {
        self.call(Method::GET, self.url("/admin/stats"), &[], None)
            .await
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> Result<String> {
        Ok(self
            .send(Method::GET, self.url("/metrics"), &[], None)
            .await?
            .1)
    }

    /// Makes a checkpoint of the whole node for download (`kvstore backup` uses it); remove it
    /// with [`Client::checkpoint_delete`] when done, or it expires on the server.
    pub async fn checkpoint_create(&self) -> Result<CheckpointInfo> {
        self.call(Method::POST, self.url("/admin/checkpoint"), &[], None)
            .await
    }

    /// What checkpoint `id` holds.
    pub async fn checkpoint_info(&self, id: &str) -> Result<CheckpointInfo> {
        self.call(Method::GET, self.checkpoint_url(id, None), &[], None)
            .await
    }

    /// Streams file `name` of checkpoint `id` into `out` as it arrives (never whole in
    /// memory); returns the bytes written. Compare them with the size the server listed.
    pub async fn checkpoint_download(
        &self,
        id: &str,
        name: &str,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<u64> {
        let url = self.checkpoint_url(id, Some(name));
        let transport = |source| Error::Transport {
            url: url.clone(),
            source,
        };
        let mut resp = self.http.get(&url).send().await.map_err(transport)?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.map_err(transport)?;
            return Err(api_error(status, text));
        }
        let mut written = 0u64;
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            out.write_all(&chunk).map_err(|source| Error::Write {
                url: url.clone(),
                source,
            })?;
            written += chunk.len() as u64;
        }
        Ok(written)
    }

    /// Removes checkpoint `id` from the server.
    pub async fn checkpoint_delete(&self, id: &str) -> Result<()> {
        self.call::<Value>(Method::DELETE, self.checkpoint_url(id, None), &[], None)
            .await
            .map(drop)
    }

    fn checkpoint_url(&self, id: &str, file: Option<&str>) -> String {
        let mut url = self.key_url("admin/checkpoint", id);
        if let Some(f) = file {
            url = format!("{url}/{}", utf8_percent_encode(f, KEY_SET));
        }
        url
    }

    /// The OpenAPI document.
    pub async fn openapi(&self) -> Result<Value> {
        self.call(Method::GET, self.url("/openapi.json"), &[], None)
            .await
    }
}

/// `Error::Api` from an error answer: its `{"error"}` message, else the whole body.
fn api_error(status: StatusCode, text: String) -> Error {
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or(text);
    Error::Api {
        status: status.as_u16(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_percent_encoded_in_paths() {
        let c = Client::new("http://127.0.0.1:1/").unwrap();
        assert_eq!(
            c.key_url("get", "a/b c"),
            "http://127.0.0.1:1/get/a%2Fb%20c"
        );
        assert_eq!(
            c.key_url("get", "é-_.~"),
            "http://127.0.0.1:1/get/%C3%A9-_.~"
        );
    }

    #[test]
    fn the_token_is_sent_as_a_sensitive_header_and_never_printed() {
        let h = auth_headers(" abc-123\n").unwrap();
        let v = &h[reqwest::header::AUTHORIZATION];
        assert_eq!(v.to_str().unwrap(), "Bearer abc-123");
        assert!(v.is_sensitive());
        let b = Client::builder("http://127.0.0.1:1").bearer_token("abc-123");
        let c = b.clone().build().unwrap();
        let printed = format!("{b:?} {c:?}");
        assert!(!printed.contains("abc-123"), "{printed}");
        for bad in ["", " \n", "a b", "clé", "a\u{7f}"] {
            let e = Client::builder("http://127.0.0.1:1")
                .bearer_token(bad)
                .build()
                .unwrap_err();
            assert!(matches!(e, Error::InvalidToken(_)), "{bad:?}: {e}");
        }
    }

    #[test]
    fn rejects_non_http_urls() {
        assert!(Client::new("127.0.0.1:5000").is_err());
        assert!(Client::new("http://").is_err());
    }
}
