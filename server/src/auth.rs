//! Bearer-token authentication of HTTP requests (`--auth-token-file`, `--read-token-file`,
//! `--metrics-auth`; `docs/security.md`).
//!
//! # What it owns
//! - [`Token`]: a secret read from a token file, kept padded to [`MAX_TOKEN_BYTES`].
//! - [`AuthConfig`]: which tokens a node accepts; only valid combinations can be built.
//! - [`required_access`]: the access each method and path needs — a pure function.
//! - [`Authenticator`]: decides one request from its method, path and `Authorization` header.
//! - [`gate`]: the warp filter in front of every route, which counts each refusal in `/metrics`.
//!
//! # Invariants
//! - **Deny by default.** Only the routes [`required_access`] names are open or readable with the
//!   read-only token; every other method and path — a route added later included — needs the
//!   full token until someone decides otherwise here. `tests/auth_roles.rs` walks every route
//!   of `/openapi.json` with each token.
//! - **Constant time.** A presented token is compared with each configured token over all
//!   [`MAX_TOKEN_BYTES`], its length folded into the same accumulator, and both configured
//!   tokens are always compared: the time taken says nothing about a token's content or length,
//!   nor which one nearly matched.
//! - **Tokens stay here.** [`Token`] has no `Display` and a redacted `Debug`; a refusal becomes
//!   [`ApiError::Unauthorized`] or [`ApiError::Forbidden`], which hold only `&'static str`, so
//!   no error body, log line or metric label can carry a presented or configured token.
//! - **No token, no auth.** Without a full token every request passes; [`AuthConfig::new`]
//!   refuses a read-only token, or `--metrics-auth`, without one, and a token file that is empty
//!   or cannot be read is a start-up error, never "auth off".

use crate::error::{ApiError, ServerError};
use crate::metrics::Metrics;
use std::path::Path;
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, HeaderValue, Method};
use warp::Filter;

/// Longest token accepted, in bytes. Comparisons always cover this many bytes, so it bounds
/// their cost (a few hundred nanoseconds); a longer presented token is refused by its length
/// alone, which its sender already knows.
pub const MAX_TOKEN_BYTES: usize = 512;

/// Tokens shorter than this are accepted with a warning at start-up: guessable.
pub const MIN_RECOMMENDED_TOKEN_BYTES: usize = 16;

/// A secret bearer token: 1..=[`MAX_TOKEN_BYTES`] bytes of visible ASCII (`!`..=`~`), which is
/// what fits an `Authorization` header unchanged.
#[derive(Clone)]
pub struct Token {
    /// The token, then zeros to [`MAX_TOKEN_BYTES`]: [`Token::matches`] reads all of it.
    padded: Box<[u8; MAX_TOKEN_BYTES]>,
    len: usize,
}

/// Why a token file or token was refused. The messages never quote the token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot be read: {0}")]
    Unreadable(std::io::Error),
    #[error("is empty (or only whitespace); it must hold the token")]
    Empty,
    #[error("holds a token of {len} bytes; the limit is {max}")]
    TooLong { len: usize, max: usize },
    #[error(
        "holds a character at byte {offset} of the token that is not visible ASCII; a token is \
         printable ASCII without spaces, so that it fits an Authorization header"
    )]
    NotPrintable { offset: usize },
}

impl Token {
    /// `text` with surrounding whitespace removed (the newline an editor or `echo` adds, and
    /// what an HTTP header would lose in transit anyway).
    pub fn new(text: &str) -> Result<Token, TokenError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(TokenError::Empty);
        }
        if t.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLong {
                len: t.len(),
                max: MAX_TOKEN_BYTES,
            });
        }
        if let Some(offset) = t.bytes().position(|b| !b.is_ascii_graphic()) {
            return Err(TokenError::NotPrintable { offset });
        }
        let mut padded = Box::new([0u8; MAX_TOKEN_BYTES]);
        padded[..t.len()].copy_from_slice(t.as_bytes());
        Ok(Token {
            padded,
            len: t.len(),
        })
    }

    /// The token in the file at `path`, as [`Token::new`] reads it.
    pub fn from_file(path: &Path) -> Result<Token, TokenError> {
        let bytes = std::fs::read(path).map_err(TokenError::Unreadable)?;
        match std::str::from_utf8(&bytes) {
            Ok(text) => Token::new(text),
            // Where it is does not matter much; that it is not text does.
            Err(e) => Err(TokenError::NotPrintable {
                offset: e.valid_up_to(),
            }),
        }
    }

    /// The token itself, for a client to send. Named so that every use stands out in review.
    pub fn expose_secret(&self) -> &str {
        // Built from a &str of ASCII in `new`: always valid.
        std::str::from_utf8(&self.padded[..self.len]).unwrap_or_default()
    }

    /// Length in bytes (reported at start-up when short; the length of a random token says
    /// little, but the content is never reported).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `presented` is this token, in time that depends on neither token's content nor
    /// on this token's length.
    ///
    /// IMPORTANT: every byte of both padded buffers is read, whatever the lengths, and the
    /// lengths are XORed into the same accumulator as the bytes; nothing returns early. The
    /// padding is zeros and a token has no zero byte, so equal buffers and equal lengths are
    /// equal tokens. `black_box` keeps the optimizer from reasoning about the accumulator (the
    /// same best effort as the `subtle` crate, which is not a dependency here).
    pub fn matches(&self, presented: &[u8]) -> bool {
        if presented.len() > MAX_TOKEN_BYTES {
            return false;
        }
        let mut theirs = [0u8; MAX_TOKEN_BYTES];
        theirs[..presented.len()].copy_from_slice(presented);
        let theirs = std::hint::black_box(&theirs);
        let mut diff = presented.len() ^ self.len;
        for (a, b) in self.padded.iter().zip(theirs.iter()) {
            diff |= usize::from(a ^ b);
        }
        std::hint::black_box(diff) == 0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// `flag`'s token file, or a start-up error naming the flag and the file (never the token).
pub fn load_token_file(flag: &'static str, path: &Path) -> Result<Token, ServerError> {
    Token::from_file(path).map_err(|reason| ServerError::TokenFile {
        flag,
        path: path.display().to_string(),
        reason,
    })
}

/// Which tokens a node accepts. The default is auth off (every request passes).
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// May do everything. `None`: auth is off, and so are the two fields below.
    full: Option<Token>,
    /// May only read and search.
    read: Option<Token>,
    /// `/metrics` needs a token (either one) too.
    metrics_auth: bool,
}

impl AuthConfig {
    /// Every request passes.
    pub fn off() -> AuthConfig {
        AuthConfig::default()
    }

    /// A node that needs `full` (everything) or `read` (reads only).
    ///
    /// Refused: a read-only token or `metrics_auth` without a full token (writes would be open
    /// while reads were not), and two equal tokens (a request could not be told apart).
    pub fn new(
        full: Option<Token>,
        read: Option<Token>,
        metrics_auth: bool,
    ) -> Result<AuthConfig, ServerError> {
        if full.is_none() && read.is_some() {
            return Err(ServerError::Config(
                "--read-token-file needs --auth-token-file: without a full token every write \
                 would be open"
                    .into(),
            ));
        }
        if full.is_none() && metrics_auth {
            return Err(ServerError::Config(
                "--metrics-auth needs --auth-token-file".into(),
            ));
        }
        if let (Some(f), Some(r)) = (&full, &read) {
            if f.matches(r.expose_secret().as_bytes()) {
                return Err(ServerError::Config(
                    "the read-only token is the same as the full token; give each its own".into(),
                ));
            }
        }
        Ok(AuthConfig {
            full,
            read,
            metrics_auth,
        })
    }

    /// The token a cluster node presents to its peers: the full token, which every member is
    /// started with (peer traffic moves data and membership, so it needs full access).
    pub fn peer_token(&self) -> Option<&Token> {
        self.full.as_ref()
    }

    /// Whether requests are checked at all.
    pub fn enabled(&self) -> bool {
        self.full.is_some()
    }

    pub fn has_read_token(&self) -> bool {
        self.read.is_some()
    }

    pub fn metrics_auth(&self) -> bool {
        self.metrics_auth
    }

    /// The configured tokens shorter than [`MIN_RECOMMENDED_TOKEN_BYTES`], by flag name.
    pub fn short_tokens(&self) -> Vec<&'static str> {
        let mut short = Vec::new();
        for (flag, t) in [
            ("--auth-token-file", &self.full),
            ("--read-token-file", &self.read),
        ] {
            if t.as_ref()
                .is_some_and(|t| t.len() < MIN_RECOMMENDED_TOKEN_BYTES)
            {
                short.push(flag);
            }
        }
        short
    }
}

/// What a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Nothing: `/health`, `/openapi.json`, and `/metrics` without `--metrics-auth`.
    Open,
    /// The read-only token or the full token.
    Read,
    /// The full token.
    Full,
}

/// The access `method` on `path` (the raw, still percent-encoded path, as routing sees it)
/// needs. Everything not listed is [`Access::Full`] (deny by default).
///
/// To ensure correctness, a pattern listed here as `Open` or `Read` must reach only handlers
/// that change nothing and reveal nothing more than that access allows. Each pattern is
/// exactly the method and path shape of one route in `routes::routes`, so anything that
/// matches it is routed to that handler or to a 404/405.
pub fn required_access(method: &Method, path: &str, metrics_auth: bool) -> Access {
    let rest = path.strip_prefix('/').unwrap_or(path);
    // warp lets one trailing slash end a route (`/search/` is `/search`).
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let mut segs = rest.split('/');
    let first = segs.next().unwrap_or("");
    let second = segs.next();
    let more = segs.next().is_some();
    let get = *method == Method::GET;
    match (first, second, more) {
        ("health", None, _) if get => Access::Open,
        ("openapi.json", None, _) if get => Access::Open,
        ("metrics", None, _) if get => {
            if metrics_auth {
                Access::Read
            } else {
                Access::Open
            }
        }
        // `/get/<key>`: the key is the whole rest of the path, slashes and all.
        ("get", _, _) if get => Access::Read,
        ("search" | "scan", None, _) if get => Access::Read,
        // POST here is a search by vector: it writes nothing.
        ("semantic_search", None, _) if get || *method == Method::POST => Access::Read,
        ("cluster", Some("status"), false) if get => Access::Read,
        _ => Access::Full,
    }
}

/// Why a request was refused; also the `reason` label of `kvstore_auth_failures_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header. 401.
    Missing,
    /// A header that is not `Bearer <a token this node accepts>`. 401.
    Invalid,
    /// The read-only token on a route that needs the full token. 403.
    Forbidden,
}

impl AuthFailure {
    /// Every failure, in label order (so that each counter is exported from the start).
    pub const ALL: [AuthFailure; 3] = [
        AuthFailure::Missing,
        AuthFailure::Invalid,
        AuthFailure::Forbidden,
    ];

    pub fn label(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Invalid => "invalid",
            AuthFailure::Forbidden => "forbidden",
        }
    }

    /// The error answered. `WWW-Authenticate` values as RFC 6750 section 3 has them: no error
    /// code when no credentials were sent.
    pub fn to_api_error(self) -> ApiError {
        match self {
            AuthFailure::Missing => ApiError::Unauthorized {
                message: "authentication required: send Authorization: Bearer <token>",
                challenge: r#"Bearer realm="kvstore""#,
            },
            AuthFailure::Invalid => ApiError::Unauthorized {
                message: "invalid token",
                challenge: r#"Bearer realm="kvstore", error="invalid_token""#,
            },
            AuthFailure::Forbidden => ApiError::Forbidden(
                "this token may only read and search; this request needs the full token",
            ),
        }
    }
}

/// The role a valid token gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Full,
    Read,
}

/// Decides requests for one node. Immutable; shared by every request.
#[derive(Debug)]
pub struct Authenticator {
    config: AuthConfig,
}

impl Authenticator {
    pub fn new(config: AuthConfig) -> Authenticator {
        Authenticator { config }
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled()
    }

    /// `Ok` when a request for `method` `path` with this `Authorization` header may go on.
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        authorization: Option<&HeaderValue>,
    ) -> Result<(), AuthFailure> {
        let Some(full) = &self.config.full else {
            return Ok(());
        };
        let need = required_access(method, path, self.config.metrics_auth);
        if need == Access::Open {
            return Ok(());
        }
        let presented = bearer_token(authorization.ok_or(AuthFailure::Missing)?)?;
        // Both comparisons run before either result is looked at, so the time taken does not
        // say which token was nearly right.
        let is_full = full.matches(presented);
        let is_read = self
            .config
            .read
            .as_ref()
            .is_some_and(|r| r.matches(presented));
        let role = match (is_full, is_read) {
            (true, _) => Role::Full,
            (false, true) => Role::Read,
            (false, false) => return Err(AuthFailure::Invalid),
        };
        match (need, role) {
            (Access::Read, _) | (Access::Full, Role::Full) => Ok(()),
            (Access::Full, Role::Read) => Err(AuthFailure::Forbidden),
            (Access::Open, _) => Ok(()),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive,
/// RFC 7235 section 2.1); [`AuthFailure::Invalid`] for any other shape.
fn bearer_token(value: &HeaderValue) -> Result<&[u8], AuthFailure> {
    let v = value.as_bytes();
    const SCHEME: &[u8] = b"bearer ";
    if v.len() < SCHEME.len() || !v[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
        return Err(AuthFailure::Invalid);
    }
    let token = v[SCHEME.len()..].trim_ascii();
    if token.is_empty() {
        return Err(AuthFailure::Invalid);
    }
    Ok(token)
}

/// A refusal on its way to `routes::recover`, which renders it.
#[derive(Debug)]
pub struct AuthRejection(pub AuthFailure);

impl warp::reject::Reject for AuthRejection {}

/// The filter every request passes before routing: rejects with [`AuthRejection`] (counted in
/// `metrics`) when [`Authenticator::check`] refuses. With auth off it reads nothing.
pub fn gate(auth: Arc<Authenticator>, metrics: Arc<Metrics>) -> BoxedFilter<()> {
    if !auth.enabled() {
        return warp::any().boxed();
    }
    warp::method()
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .and_then(
            move |method: Method, path: warp::path::FullPath, headers: HeaderMap| {
                let result = auth
                    .check(
                        &method,
                        path.as_str(),
                        headers.get(warp::http::header::AUTHORIZATION),
                    )
                    .map_err(|failure| {
                        metrics.auth_failure(failure);
                        warp::reject::custom(AuthRejection(failure))
                    });
                async move { result }
            },
        )
        .untuple_one()
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(s: &str) -> Token {
        Token::new(s).unwrap()
    }

    fn bearer(s: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("Bearer {s}")).unwrap()
    }

    #[test]
    fn matches_only_the_same_token() {
        let t = token("s3cret-token-0123456789");
        assert!(t.matches(b"s3cret-token-0123456789"));
        for wrong in [
            &b""[..],
            b"s3cret-token-012345678",
            b"s3cret-token-01234567890",
            b"s3cret-token-0123456789\0",
            b"S3cret-token-0123456789",
            b"s3cret-token-0123456788",
        ] {
            assert!(!t.matches(wrong), "{wrong:?}");
        }
        assert!(!t.matches(&[b'a'; MAX_TOKEN_BYTES + 1]));
        let longest = "x".repeat(MAX_TOKEN_BYTES);
        assert!(token(&longest).matches(longest.as_bytes()));
        assert!(!token(&longest).matches(&longest.as_bytes()[1..]));
    }

    #[test]
    fn token_files_are_trimmed_and_checked() {
        assert_eq!(token("  abc\r\n").expose_secret(), "abc");
        assert!(matches!(Token::new(""), Err(TokenError::Empty)));
        assert!(matches!(Token::new(" \n\t"), Err(TokenError::Empty)));
        assert!(matches!(
            Token::new("a b"),
            Err(TokenError::NotPrintable { offset: 1 })
        ));
        assert!(matches!(
            Token::new("clé"),
            Err(TokenError::NotPrintable { offset: 2 })
        ));
        assert!(matches!(
            Token::new(&"x".repeat(MAX_TOKEN_BYTES + 1)),
            Err(TokenError::TooLong { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let missing = Token::from_file(&dir.path().join("nope"));
        assert!(matches!(missing, Err(TokenError::Unreadable(_))));
        assert!(matches!(
            Token::from_file(dir.path()),
            Err(TokenError::Unreadable(_))
        ));
        std::fs::write(dir.path().join("bin"), [b'a', 0xff]).unwrap();
        assert!(matches!(
            Token::from_file(&dir.path().join("bin")),
            Err(TokenError::NotPrintable { offset: 1 })
        ));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let config =
            AuthConfig::new(Some(token("full-AAAA")), Some(token("read-BBBB")), true).unwrap();
        let text = format!("{config:?} {:?}", Authenticator::new(config.clone()));
        assert!(!text.contains("AAAA") && !text.contains("BBBB"), "{text}");
        let e = Token::new("QXZW JKVY").unwrap_err().to_string();
        assert!(!e.contains("QXZW") && !e.contains("JKVY"), "{e}");
    }

    #[test]
    fn config_refuses_what_would_leave_a_hole() {
        assert!(AuthConfig::new(None, Some(token("r")), false).is_err());
        assert!(AuthConfig::new(None, None, true).is_err());
        assert!(AuthConfig::new(Some(token("same")), Some(token("same")), false).is_err());
        assert!(!AuthConfig::new(None, None, false).unwrap().enabled());
        let c = AuthConfig::new(Some(token("short")), None, false).unwrap();
        assert_eq!(c.short_tokens(), vec!["--auth-token-file"]);
    }

    #[test]
    fn access_of_each_route() {
        use Access::*;
        let (get, post, delete, head) = (Method::GET, Method::POST, Method::DELETE, Method::HEAD);
        for (m, p, want) in [
            (&get, "/health", Open),
            (&get, "/openapi.json", Open),
            (&get, "/metrics", Open),
            (&get, "/get/a/b", Read),
            (&get, "/get/admin/flush", Read),
            (&get, "/search", Read),
            (&get, "/search/", Read),
            (&get, "/scan", Read),
            (&get, "/semantic_search", Read),
            (&post, "/semantic_search", Read),
            (&get, "/cluster/status", Read),
            (&post, "/set", Full),
            (&post, "/bulk_set", Full),
            (&delete, "/delete/a", Full),
            (&delete, "/get/a", Full),
            (&post, "/search", Full),
            (&head, "/health", Full),
            (&post, "/health", Full),
            (&post, "/cluster/join", Full),
            (&get, "/cluster/status/x", Full),
            (&post, "/become_primary", Full),
            (&post, "/admin/flush", Full),
            (&post, "/admin/compact", Full),
            (&get, "/admin/stats", Full),
            (&post, "/admin/checkpoint", Full),
            (&get, "/admin/checkpoint/0123456789abcdef", Full),
            (&get, "/admin/checkpoint/0123456789abcdef/CURRENT", Full),
            (&head, "/admin/checkpoint/0123456789abcdef/CURRENT", Full),
            (&get, "/search//", Full),
            (&get, "//search", Full),
            (&get, "/%73earch", Full),
            (&get, "/", Full),
            (&get, "", Full),
            (&get, "/no/such/route", Full),
        ] {
            assert_eq!(required_access(m, p, false), want, "{m} {p:?}");
        }
        assert_eq!(required_access(&get, "/metrics", true), Read);
        assert_eq!(required_access(&get, "/health", true), Open);
    }

    #[test]
    fn check_decides_by_token_and_route() {
        let auth = Authenticator::new(
            AuthConfig::new(Some(token("full-token")), Some(token("read-token")), false).unwrap(),
        );
        let (get, post) = (Method::GET, Method::POST);
        let full = bearer("full-token");
        let read = bearer("read-token");
        assert_eq!(auth.check(&get, "/health", None), Ok(()));
        assert_eq!(auth.check(&get, "/get/k", None), Err(AuthFailure::Missing));
        assert_eq!(auth.check(&get, "/get/k", Some(&full)), Ok(()));
        assert_eq!(auth.check(&get, "/get/k", Some(&read)), Ok(()));
        assert_eq!(auth.check(&post, "/set", Some(&full)), Ok(()));
        assert_eq!(
            auth.check(&post, "/set", Some(&read)),
            Err(AuthFailure::Forbidden)
        );
        for bad in [
            bearer("full-toke"),
            bearer("full-tokenx"),
            HeaderValue::from_static("full-token"),
            HeaderValue::from_static("Basic full-token"),
            HeaderValue::from_static("Bearer"),
            HeaderValue::from_static("Bearer "),
            HeaderValue::from_static("Bearerfull-token"),
        ] {
            assert_eq!(
                auth.check(&get, "/get/k", Some(&bad)),
                Err(AuthFailure::Invalid),
                "{bad:?}"
            );
        }
        let lower = HeaderValue::from_static("bearer   full-token ");
        assert_eq!(auth.check(&post, "/set", Some(&lower)), Ok(()));
        let off = Authenticator::new(AuthConfig::off());
        assert_eq!(off.check(&post, "/admin/flush", None), Ok(()));
    }
}
