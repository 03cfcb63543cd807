//! [`ApiError`]: every way a request can fail, each mapped to exactly one HTTP status.
//!
//! Routes and nodes return `Result<_, ApiError>`; [`ApiError::status`] is the single place where
//! a failure becomes a status code, and [`ApiError::into_response`] renders the JSON body
//! `{"error": "..."}` that every error response carries.

use warp::http::StatusCode;

/// A request failure, with the evidence the client needs to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or names an impossible thing (bad JSON, wrong type, empty key,
    /// `k` out of range, vector of the wrong dimension...). 400.
    #[error("{0}")]
    BadRequest(String),

    /// The request carries no token, or not one this node accepts (`crate::auth`). 401, with
    /// `WWW-Authenticate: <challenge>`. Both fields are `&'static str` so that no token, sent
    /// or configured, can end up in the body.
    #[error("{message}")]
    Unauthorized {
        message: &'static str,
        challenge: &'static str,
    },

    /// The token is valid but may not do this: the read-only token on a write or admin route.
    /// 403. `&'static str` for the same reason as `Unauthorized`.
    #[error("{0}")]
    Forbidden(&'static str),

    /// The named key or route does not exist. 404.
    #[error("{0}")]
    NotFound(String),

    /// The route exists but not with this method. 405.
    #[error("method not allowed")]
    MethodNotAllowed,

    /// The operation does not apply to this node's mode (cluster calls on a standalone node). 409.
    #[error("{0}")]
    Conflict(String),

    /// A key, value or body exceeds its limit. 413.
    #[error("{what} of {got} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        what: &'static str,
        got: usize,
        limit: usize,
    },

    /// `debug_fail` picked this request to fail (see `docs/http-api.md`). 500.
    #[error("simulated failure")]
    SimulatedFailure,

    /// Stored data is damaged, or the server hit a bug. 500.
    #[error("{0}")]
    Internal(String),

    /// The engine refuses writes (poisoned after a failed persist) or is closed. 503.
    #[error("{0}")]
    Unavailable(String),

    /// The device is full. 507.
    #[error("{0}")]
    InsufficientStorage(String),
}

impl ApiError {
    /// The one HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::SimulatedFailure | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
        }
    }

    /// `{"error": "..."}` with [`ApiError::status`].
    pub fn into_response(self) -> warp::reply::Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self, "request failed");
        }
        let mut resp = error_response(status, &self.to_string());
        let challenge = match self {
            ApiError::Unauthorized { challenge, .. } => Some(challenge),
            // RFC 6750 section 3.1: a token without the scope needed.
            ApiError::Forbidden(_) => Some(r#"Bearer realm="kvstore", error="insufficient_scope""#),
            _ => None,
        };
        if let Some(c) = challenge {
            resp.headers_mut().insert(
                warp::http::header::WWW_AUTHENTICATE,
                warp::http::HeaderValue::from_static(c),
            );
        }
        resp
    }
}

/// A JSON error body with `status`.
pub fn error_response(status: StatusCode, message: &str) -> warp::reply::Response {
    use warp::Reply;
    warp::reply::with_status(
        warp::reply::json(&serde_json::json!({ "error": message })),
        status,
    )
    .into_response()
}

impl From<kvstore_engine::Error> for ApiError {
    fn from(e: kvstore_engine::Error) -> Self {
        use kvstore_engine::Error as E;
        if e.is_disk_full() {
            return ApiError::InsufficientStorage(e.to_string());
        }
        match e {
            E::Poisoned { .. } | E::Closed => ApiError::Unavailable(e.to_string()),
            E::InvalidArgument(m) => ApiError::BadRequest(format!("invalid argument: {m}")),
            E::ColumnFamilyNotFound(_) => ApiError::Internal(e.to_string()),
            E::Storage(_) if e.is_corruption() => {
                ApiError::Internal(format!("storage corruption: {e}"))
            }
            // I/O failed (a failed write or fsync has also poisoned the engine): the node cannot
            // serve this now, and the outcome of a failed write is unknown, as after a timeout.
            E::Storage(_) => ApiError::Unavailable(format!("storage error: {e}")),
        }
    }
}

impl From<kvstore_search::Error> for ApiError {
    fn from(e: kvstore_search::Error) -> Self {
        use kvstore_search::Error as E;
        match e {
            E::Engine(e) => e.into(),
            E::DimensionMismatch { .. } | E::InvalidQuery(_) => ApiError::BadRequest(e.to_string()),
            E::Io { .. } => ApiError::Unavailable(e.to_string()),
            // Embedder failures and corrupt index records: the server's fault, with evidence.
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Errors of starting or running the server (not of a single request).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot open the database in {path}: {source}")]
    OpenDb {
        path: String,
        source: kvstore_engine::Error,
    },
    #[error("cannot open the search indexes: {0}")]
    OpenSearch(#[from] kvstore_search::Error),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("mode {0} is not yet supported; start the node with --mode standalone")]
    UnsupportedMode(String),
    #[error("closing the database failed: {0}")]
    Close(kvstore_engine::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A token file (`--auth-token-file`, `--read-token-file`) is unusable. Never "auth off".
    /// (`reason` is not a `#[source]`: it is in the message already, and `{:#}` would repeat it.)
    #[error("{flag} {path}: the token file {reason}")]
    TokenFile {
        flag: &'static str,
        path: String,
        reason: crate::auth::TokenError,
    },
}
