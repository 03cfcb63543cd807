//! Reading and checking what a client sent: bounded bodies, JSON fields, keys, `k`, paths.
//! Everything here is checked before a [`crate::node::Node`] is called.

use crate::config::Limits;
use crate::error::ApiError;
use crate::node::{SemanticQuery, SetRequest};
use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde_json::{Map, Value};

/// Largest `k` for search and largest `limit` for scan: the search crate's limit.
pub const MAX_K: i64 = kvstore_search::MAX_K as i64;
pub const DEFAULT_K: usize = 10;
pub const DEFAULT_SCAN_LIMIT: usize = 100;

/// How many bytes of an oversized body are read and discarded before answering 413, so that
/// ordinary clients (which send the whole body before reading the answer) see the 413 instead
/// of a reset connection. Past this the connection is simply closed.
pub const DRAIN_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a body of at most `limit` bytes; past it the answer is 413. An oversized body (declared
/// or streamed) is drained up to [`DRAIN_LIMIT_BYTES`], never buffered.
pub async fn read_body<S, B>(
    content_length: Option<u64>,
    stream: S,
    limit: usize,
) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut stream = std::pin::pin!(stream);
    let mut seen: u64 = 0;
    let mut over = content_length.is_some_and(|len| len > limit as u64);
    let mut buf = BytesMut::new();
    if !over {
        buf.reserve(content_length.unwrap_or(0).min(1 << 20) as usize);
    }
    while let Some(chunk) = stream.next().await {
        let mut chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("cannot read request body: {e}")))?;
        seen += chunk.remaining() as u64;
        if !over && seen > limit as u64 {
            over = true;
            buf = BytesMut::new();
        }
        if over {
            if seen > DRAIN_LIMIT_BYTES {
                break;
            }
            chunk.advance(chunk.remaining());
            continue;
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            buf.extend_from_slice(part);
            chunk.advance(n);
        }
    }
    if over {
        let got = content_length.unwrap_or(0).max(seen);
        return Err(ApiError::TooLarge {
            what: "request body",
            got: usize::try_from(got).unwrap_or(usize::MAX),
            limit,
        });
    }
    Ok(buf.freeze())
}

/// Parses a body as a JSON object.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "request body is empty; expected a JSON object".into(),
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(ApiError::BadRequest(format!(
            "request body must be a JSON object, got {}",
            type_name(&other)
        ))),
        Err(e) => Err(ApiError::BadRequest(format!("malformed JSON: {e}"))),
    }
}

/// JSON type names for error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A required string field.
pub fn string_field(obj: &mut Map<String, Value>, name: &str) -> Result<String, ApiError> {
    match obj.remove(name) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(ApiError::BadRequest(format!(
            "\"{name}\" must be a JSON string, got {}",
            type_name(&other)
        ))),
        None => Err(ApiError::BadRequest(format!("missing field \"{name}\""))),
    }
}

/// An optional boolean field (absent or null = false).
pub fn bool_field(obj: &Map<String, Value>, name: &str) -> Result<bool, ApiError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ApiError::BadRequest(format!(
            "\"{name}\" must be a boolean, got {}",
            type_name(other)
        ))),
    }
}

/// An optional vector field: an array of finite numbers.
pub fn vector_field(obj: &Map<String, Value>, name: &str) -> Result<Option<Vec<f32>>, ApiError> {
    let arr = match obj.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "\"{name}\" must be an array of numbers, got {}",
                type_name(other)
            )))
        }
    };
    let mut out = Vec::with_capacity(arr.len());
    for (i, v) in arr.iter().enumerate() {
        match v.as_f64() {
            Some(x) if (x as f32).is_finite() => out.push(x as f32),
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "\"{name}\"[{i}] must be a finite number"
                )))
            }
        }
    }
    Ok(Some(out))
}

/// Checks a key: 1..=max_key_bytes bytes (it is UTF-8 by construction).
pub fn check_key(key: &str, limits: &Limits) -> Result<(), ApiError> {
    if key.is_empty() {
        return Err(ApiError::BadRequest("key must not be empty".into()));
    }
    if key.len() > limits.max_key_bytes {
        return Err(ApiError::TooLarge {
            what: "key",
            got: key.len(),
            limit: limits.max_key_bytes,
        });
    }
    Ok(())
}

/// Checks a value against the configured limit.
pub fn check_value(value: &str, limits: &Limits) -> Result<(), ApiError> {
    if value.len() > limits.max_value_bytes {
        return Err(ApiError::TooLarge {
            what: "value",
            got: value.len(),
            limit: limits.max_value_bytes,
        });
    }
    Ok(())
}

/// The key named by the rest of a path, percent-decoded: `a%2Fb` and `a/b` are both `a/b`.
pub fn key_from_path(tail: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(tail)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| ApiError::BadRequest("key is not valid UTF-8 after percent-decoding".into()))
}

/// Query-string pairs, percent-decoded.
pub fn query_pairs(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
        .map_err(|e| ApiError::BadRequest(format!("malformed query string: {e}")))
}

/// The last value of `name` in a query.
pub fn query_get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `n` if it is a count in `1..=MAX_K`. The one range check behind [`bounded_count`] (query
/// strings) and [`json_k`] (JSON bodies): nothing is ever clamped into range.
fn in_count_range(n: Option<i64>) -> Option<usize> {
    n.filter(|n| (1..=MAX_K).contains(n)).map(|n| n as usize)
}

/// The one 400 for a count out of range, naming the limit: `got` is what the client sent.
fn count_out_of_range(what: &str, got: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!(
        "{what} must be an integer from 1 to {MAX_K}, got {got}"
    ))
}

/// A query-string count (`k` of `GET /search` and `GET /semantic_search`, `limit` of
/// `/scan`): an integer in `1..=MAX_K`, `default` when absent. `what` names it in the error.
pub fn bounded_count(raw: Option<&str>, default: usize, what: &str) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    in_count_range(raw.trim().parse::<i64>().ok())
        .ok_or_else(|| count_out_of_range(what, format!("{raw:?}")))
}

/// `k` from a JSON body (`POST /semantic_search`): absent or null = default; otherwise an
/// integer in `1..=MAX_K` (`2.0`, `"3"` and `1e3` are not integers).
pub fn json_k(obj: &Map<String, Value>) -> Result<usize, ApiError> {
    match obj.get("k") {
        None | Some(Value::Null) => Ok(DEFAULT_K),
        Some(Value::Number(n)) => {
            in_count_range(n.as_i64()).ok_or_else(|| count_out_of_range("k", n))
        }
        Some(other) => Err(count_out_of_range("k", type_name(other))),
    }
}

/// The items of `/bulk_set`: `[["k","v"], ...]` or `[{"key","value"}, ...]` (mixing is fine).
/// One bad item rejects the whole list, naming its index.
pub fn bulk_items(value: Value, limits: &Limits) -> Result<Vec<(String, String)>, ApiError> {
    let Value::Array(arr) = value else {
        return Err(ApiError::BadRequest(format!(
            "\"items\" must be an array, got {}",
            type_name(&value)
        )));
    };
    let mut out = Vec::with_capacity(arr.len());
    for (i, item) in arr.into_iter().enumerate() {
        let at = |e: ApiError| match e {
            ApiError::BadRequest(m) => ApiError::BadRequest(format!("items[{i}]: {m}")),
            other => other,
        };
        let (k, v) = match item {
            Value::Array(pair) => match <[Value; 2]>::try_from(pair) {
                Ok([Value::String(k), Value::String(v)]) => (k, v),
                _ => {
                    return Err(at(ApiError::BadRequest(
                        "must be a [key, value] pair of two JSON strings".into(),
                    )))
                }
            },
            Value::Object(mut o) => {
                let k = string_field(&mut o, "key").map_err(at)?;
                let v = string_field(&mut o, "value").map_err(at)?;
                (k, v)
            }
            other => {
                return Err(at(ApiError::BadRequest(format!(
                    "must be a [key, value] pair or a {{\"key\", \"value\"}} object, got {}",
                    type_name(&other)
                ))))
            }
        };
        check_key(&k, limits).map_err(at)?;
        check_value(&v, limits).map_err(at)?;
        out.push((k, v));
    }
    Ok(out)
}

/// The body of `POST /set`: `{"key", "value", "vector"?, "debug_fail"?}`.
pub fn parse_set(body: &[u8], limits: &Limits) -> Result<SetRequest, ApiError> {
    let mut obj = json_object(body)?;
    let key = string_field(&mut obj, "key")?;
    let value = string_field(&mut obj, "value")?;
    check_key(&key, limits)?;
    check_value(&value, limits)?;
    Ok(SetRequest {
        key,
        value,
        vector: vector_field(&obj, "vector")?,
        debug_fail: bool_field(&obj, "debug_fail")?,
    })
}

/// The body of `POST /bulk_set`: `{"items": [...], "debug_fail"?}`; returns the items and
/// `debug_fail`.
pub fn parse_bulk_set(
    body: &[u8],
    limits: &Limits,
) -> Result<(Vec<(String, String)>, bool), ApiError> {
    let mut obj = json_object(body)?;
    let debug_fail = bool_field(&obj, "debug_fail")?;
    let items = obj
        .remove("items")
        .ok_or_else(|| ApiError::BadRequest("missing field \"items\"".into()))?;
    Ok((bulk_items(items, limits)?, debug_fail))
}

/// The body of `POST /semantic_search`: `{"vector": [..], "k"}` or `{"q": "...", "k"}`.
pub fn parse_semantic_post(body: &[u8]) -> Result<(SemanticQuery, usize), ApiError> {
    let mut obj = json_object(body)?;
    let k = json_k(&obj)?;
    if let Some(v) = vector_field(&obj, "vector")? {
        return Ok((SemanticQuery::Vector(v), k));
    }
    let field = if obj.contains_key("q") { "q" } else { "query" };
    let text = string_field(&mut obj, field).map_err(|_| {
        ApiError::BadRequest(
            "body needs \"vector\" (an array of numbers) or \"q\" (a string)".into(),
        )
    })?;
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest("\"q\" must not be empty".into()));
    }
    Ok((SemanticQuery::Text(text), k))
}

/// The body of `POST /cluster/join`: `{"node_id", "address"}` (the seed's shape; `"addr"`,
/// `"url"` and `"host"` + `"port"` are accepted as the address).
/// What a `POST /cluster/join` asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinRequest {
    /// The seed's flow: add these (name, address) nodes to this node's cluster.
    Peers(Vec<(String, String)>),
    /// A fresh node asks the member at this URL to admit it.
    Via(String),
}

/// `{"via": "<url of a member>"}`, or the seed's shapes ([`parse_cluster_join`]).
pub fn parse_join_request(body: &[u8]) -> Result<JoinRequest, ApiError> {
    let mut obj = json_object(body)?;
    if !obj.contains_key("via") {
        return peers_of(obj).map(JoinRequest::Peers);
    }
    let via = string_field(&mut obj, "via")?;
    if via.trim().is_empty() {
        return Err(ApiError::BadRequest("\"via\" must not be empty".into()));
    }
    if let Some(other) = obj.keys().next() {
        return Err(ApiError::BadRequest(format!(
            "\"via\" (join through a member) takes no other field, got {other:?}: \
             send {{\"via\": url}} to the new node, or {{\"peers\": [...]}} to a member"
        )));
    }
    Ok(JoinRequest::Via(via))
}

pub fn parse_cluster_join(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    peers_of(json_object(body)?)
}

fn peers_of(mut obj: serde_json::Map<String, Value>) -> Result<Vec<(String, String)>, ApiError> {
    match obj.remove("peers") {
        None => Ok(vec![one_peer(obj)?]),
        Some(Value::Array(list)) if !list.is_empty() => list
            .into_iter()
            .map(|p| match p {
                Value::Object(o) => one_peer(o),
                other => Err(ApiError::BadRequest(format!(
                    "each of \"peers\" must be an object with \"node_id\" and \"url\", got {other}"
                ))),
            })
            .collect(),
        Some(_) => Err(ApiError::BadRequest(
            "\"peers\" must be a non-empty array of {\"node_id\", \"url\"}".into(),
        )),
    }
}

fn one_peer(mut obj: serde_json::Map<String, Value>) -> Result<(String, String), ApiError> {
    let node_id = string_field(&mut obj, "node_id")?;
    let address = ["address", "addr", "url"]
        .iter()
        .find_map(|f| obj.get(*f).and_then(Value::as_str).map(str::to_string))
        .or_else(|| {
            let host = obj.get("host")?.as_str()?;
            let port = obj.get("port")?.as_u64()?;
            Some(format!("{host}:{port}"))
        })
        .ok_or_else(|| {
            ApiError::BadRequest("missing field \"address\" (host:port of the joining node)".into())
        })?;
    if node_id.trim().is_empty() || address.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "\"node_id\" and \"address\" must not be empty".into(),
        ));
    }
    Ok((node_id, address))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cluster_join_takes_the_seed_shapes_and_refuses_empty_or_missing_fields() {
        let ok = |v: serde_json::Value| parse_cluster_join(v.to_string().as_bytes()).unwrap();
        let want = vec![("n2".to_string(), "127.0.0.2:5000".to_string())];
        assert_eq!(
            ok(json!({"node_id": "n2", "address": "127.0.0.2:5000"})),
            want
        );
        assert_eq!(ok(json!({"node_id": "n2", "addr": "127.0.0.2:5000"})), want);
        assert_eq!(ok(json!({"node_id": "n2", "url": "127.0.0.2:5000"})), want);
        assert_eq!(
            ok(json!({"node_id": "n2", "host": "127.0.0.2", "port": 5000})),
            want
        );
        assert_eq!(
            ok(json!({"peers": [{"node_id": "n2", "url": "127.0.0.2:5000"},
                                {"node_id": "n3", "url": "http://127.0.0.3:5000"}]})),
            vec![
                ("n2".to_string(), "127.0.0.2:5000".to_string()),
                ("n3".to_string(), "http://127.0.0.3:5000".to_string())
            ]
        );
        for bad in [
            json!({"address": "h:1"}),
            json!({"node_id": "n2"}),
            json!({"node_id": "", "address": "h:1"}),
            json!({"node_id": "n2", "address": "  "}),
            json!({"node_id": " ", "address": "h:1"}),
            json!({"node_id": 7, "address": "h:1"}),
            json!({"node_id": "n2", "host": "h"}),
            json!({"peers": []}),
            json!({"peers": "n2"}),
            json!({"peers": [{"node_id": "n2", "url": "h:1"}, 3]}),
            json!({"peers": [{"node_id": "n2"}]}),
        ] {
            let e = parse_cluster_join(bad.to_string().as_bytes()).unwrap_err();
            assert_eq!(e.status().as_u16(), 400, "{bad}");
        }
    }

    #[test]
    fn cluster_join_via_is_a_non_empty_url_alone() {
        let parse = |v: serde_json::Value| parse_join_request(v.to_string().as_bytes());
        assert_eq!(
            parse(json!({"via": "http://127.0.0.1:5001"})).unwrap(),
            JoinRequest::Via("http://127.0.0.1:5001".into())
        );
        assert_eq!(
            parse(json!({"node_id": "n2", "address": "h:1"})).unwrap(),
            JoinRequest::Peers(vec![("n2".into(), "h:1".into())])
        );
        for bad in [
            json!({"via": ""}),
            json!({"via": 5}),
            json!({"via": "http://h:1", "peers": []}),
            json!({"via": "http://h:1", "node_id": "n2"}),
        ] {
            let e = parse(bad.clone()).unwrap_err();
            assert_eq!(e.status().as_u16(), 400, "{bad}");
        }
    }

    #[test]
    fn keys_are_percent_decoded() {
        assert_eq!(key_from_path("a%2Fb").unwrap(), "a/b");
        assert_eq!(key_from_path("a/b").unwrap(), "a/b");
        assert_eq!(key_from_path("%C3%A9t%C3%A9").unwrap(), "été");
        assert!(key_from_path("%FF").is_err());
    }

    /// The `k` of `GET /search` and `GET /semantic_search` (and scan's `limit`).
    #[test]
    fn query_string_k_outside_1_to_max_is_rejected_naming_the_limit() {
        assert_eq!(bounded_count(None, 10, "k").unwrap(), 10);
        assert_eq!(bounded_count(Some("1"), 10, "k").unwrap(), 1);
        assert_eq!(bounded_count(Some("1000"), 10, "k").unwrap(), 1000);
        for bad in [
            "0",
            "-1",
            "1001",
            "5000",
            "1.5",
            "abc",
            "99999999999999999999",
            "",
        ] {
            let e = bounded_count(Some(bad), 10, "k").unwrap_err();
            assert_eq!(e.status().as_u16(), 400, "{bad}");
            assert!(e.to_string().contains("from 1 to 1000"), "{bad}: {e}");
        }
    }

    /// The `k` of `POST /semantic_search`: through [`parse_semantic_post`], the function the
    /// route calls, for both body shapes.
    #[test]
    fn json_k_outside_1_to_max_is_rejected_naming_the_limit() {
        for query in [json!({"q": "fox"}), json!({"vector": [0.5, 0.5]})] {
            let body = |k: Value| {
                let mut b = query.clone();
                b["k"] = k;
                serde_json::to_vec(&b).unwrap()
            };
            assert_eq!(
                parse_semantic_post(&body(Value::Null)).unwrap().1,
                DEFAULT_K
            );
            assert_eq!(parse_semantic_post(&body(json!(1))).unwrap().1, 1);
            assert_eq!(parse_semantic_post(&body(json!(1000))).unwrap().1, 1000);
            for bad in [
                json!(0),
                json!(-1),
                json!(1001),
                json!(5000),
                json!(u64::MAX),
                json!(1.5),
                json!(2.0),
                json!("3"),
                json!(true),
                json!([3]),
            ] {
                let e = parse_semantic_post(&body(bad.clone())).unwrap_err();
                assert_eq!(e.status().as_u16(), 400, "{bad}");
                assert!(e.to_string().contains("from 1 to 1000"), "{bad}: {e}");
            }
        }
    }

    #[test]
    fn bulk_items_accept_both_shapes_and_reject_any_bad_one() {
        let l = Limits::default();
        let items = bulk_items(json!([["a", "1"], {"key": "b", "value": "2"}]), &l).unwrap();
        assert_eq!(
            items,
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        let e = bulk_items(json!([["a", "1"], ["b", 2]]), &l).unwrap_err();
        assert!(e.to_string().contains("items[1]"), "{e}");
        assert!(bulk_items(json!([["", "1"]]), &l).is_err());
        assert!(bulk_items(json!([["a"]]), &l).is_err());
        assert!(bulk_items(json!({"a": "1"}), &l).is_err());
    }

    #[test]
    fn oversized_key_is_413() {
        let l = Limits::default();
        let e = check_key(&"k".repeat(4097), &l).unwrap_err();
        assert_eq!(e.status().as_u16(), 413);
        assert!(check_key(&"k".repeat(4096), &l).is_ok());
    }
}
