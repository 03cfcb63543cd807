//! The OpenAPI 3 document served at `GET /openapi.json`, written by hand to match
//! [`crate::routes`]. The integration test `openapi_matches_routes` calls every path it lists.

use crate::routes::input::MAX_K;
use serde_json::{json, Value};

fn err(desc: &str) -> Value {
    json!({ "description": desc, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn ok(schema: Value) -> Value {
    json!({ "description": "OK", "content": { "application/json": { "schema": schema } } })
}

fn body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

fn key_param() -> Value {
    json!({ "name": "key", "in": "path", "required": true,
            "description": "The rest of the path, percent-decoded: /get/a%2Fb and /get/a/b both name key a/b",
            "schema": { "type": "string", "minLength": 1 } })
}

fn k_param() -> Value {
    json!({ "name": "k", "in": "query", "required": false,
            "schema": { "type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10 } })
}

fn checkpoint_params(file: bool) -> Value {
    let mut p = vec![json!({ "name": "id", "in": "path", "required": true,
        "description": "as answered by POST /admin/checkpoint",
        "schema": { "type": "string", "pattern": "^[0-9a-f]{16}$" } })];
    if file {
        p.push(json!({ "name": "file", "in": "path", "required": true,
            "description": "one of the checkpoint's file names; anything but one path component of [A-Za-z0-9._-] is 400",
            "schema": { "type": "string" } }));
    }
    Value::Array(p)
}

fn consistency_param() -> Value {
    json!({ "name": "consistency", "in": "query", "required": false,
            "description": "raft mode: linearizable reflects every write acknowledged before the read; stale reads this node's replica at once (docs/consistency.md)",
            "schema": { "type": "string", "enum": ["linearizable", "stale"], "default": "linearizable" } })
}

fn q_param() -> Value {
    json!({ "name": "q", "in": "query", "required": true, "schema": { "type": "string", "minLength": 1 } })
}

/// The whole document.
pub fn document() -> Value {
    let ok_true = json!({ "$ref": "#/components/schemas/Ok" });
    let search = json!({ "$ref": "#/components/schemas/SearchResults" });
    let checkpoint = json!({ "$ref": "#/components/schemas/Checkpoint" });
    let std_errors = |extra: &[(&str, &str)]| {
        let mut m = serde_json::Map::new();
        for (code, d) in extra {
            m.insert((*code).into(), err(d));
        }
        m.insert("500".into(), err("storage corruption or simulated failure"));
        m.insert("503".into(), err("engine poisoned; writes refused"));
        m.insert("507".into(), err("disk full"));
        Value::Object(m)
    };
    let with = |mut base: Value, ok_resp: Value| {
        if let Some(m) = base.as_object_mut() {
            m.insert("200".into(), ok_resp);
        }
        base
    };
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "KVStore HTTP API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A persistent key-value store with full-text and semantic search. Every error is {\"error\": \"...\"}. A node started with --auth-token-file needs bearerAuth on every operation but the three marked with an empty security list (docs/security.md): 401 without a token it accepts, 403 for the read-only token on anything but reads."
        },
        "security": [{ "bearerAuth": [] }],
        "paths": {
            "/get/{key}": { "get": {
                "summary": "Read a key",
                "parameters": [key_param(), consistency_param()],
                "responses": with(std_errors(&[("400", "empty key or invalid UTF-8"), ("404", "key not found"), ("413", "key over 4 KiB")]),
                    ok(json!({ "$ref": "#/components/schemas/KeyValue" })))
            }},
            "/set": { "post": {
                "summary": "Write a key durably (document and index entries in one atomic batch)",
                "requestBody": body(json!({ "$ref": "#/components/schemas/SetRequest" })),
                "responses": with(std_errors(&[("400", "malformed JSON, wrong types, empty key, vector dimension mismatch"), ("413", "key, value or body too large")]), ok(ok_true.clone()))
            }},
            "/delete/{key}": { "delete": {
                "summary": "Delete a key",
                "parameters": [key_param(), { "name": "debug_fail", "in": "query", "schema": { "type": "boolean" } }],
                "responses": with(std_errors(&[("400", "empty key"), ("404", "key was absent")]),
                    ok(json!({ "type": "object", "properties": { "ok": { "type": "boolean" }, "deleted": { "type": "boolean" } } })))
            }},
            "/bulk_set": { "post": {
                "summary": "Write many keys in one atomic batch: all or nothing",
                "requestBody": body(json!({ "$ref": "#/components/schemas/BulkSetRequest" })),
                "responses": with(std_errors(&[("400", "any bad item rejects the whole request"), ("413", "key, value or body too large")]),
                    ok(json!({ "type": "object", "properties": { "ok": { "type": "boolean" }, "count": { "type": "integer" } } })))
            }},
            "/search": { "get": {
                "summary": "BM25-ranked full-text search",
                "parameters": [q_param(), k_param(), consistency_param()],
                "responses": with(std_errors(&[("400", "missing q or k out of range")]), ok(search.clone()))
            }},
            "/semantic_search": {
                "get": {
                    "summary": "Semantic search by the embedding of q",
                    "parameters": [q_param(), k_param(), consistency_param()],
                    "responses": with(std_errors(&[("400", "missing q or k out of range")]), ok(search.clone()))
                },
                "post": {
                    "summary": "Semantic search by a vector or a text",
                    "parameters": [consistency_param()],
                    "requestBody": body(json!({ "type": "object", "properties": {
                        "vector": { "type": "array", "items": { "type": "number" } },
                        "q": { "type": "string" },
                        "k": { "type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10 } } })),
                    "responses": with(std_errors(&[("400", "vector dimension mismatch, k out of range")]), ok(search))
                }
            },
            "/scan": { "get": {
                "summary": "Keys and values in key order, paginated",
                "parameters": [
                    { "name": "start", "in": "query", "description": "first key (inclusive)", "schema": { "type": "string" } },
                    { "name": "end", "in": "query", "description": "end key (exclusive)", "schema": { "type": "string" } },
                    { "name": "prefix", "in": "query", "schema": { "type": "string" } },
                    consistency_param(),
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": MAX_K, "default": 100 } }
                ],
                "responses": with(std_errors(&[("400", "limit out of range")]), ok(json!({ "$ref": "#/components/schemas/ScanPage" })))
            }},
            "/health": { "get": {
                "security": [],
                "summary": "Liveness and write-readiness",
                "responses": {
                    "200": ok(json!({ "type": "object", "properties": { "status": { "type": "string" }, "node_id": { "type": "string" }, "mode": { "type": "string" }, "role": { "type": "string" } } })),
                    "503": err("engine poisoned")
                }
            }},
            "/cluster/status": { "get": {
                "summary": "This node's place in the cluster",
                "responses": { "200": ok(json!({ "$ref": "#/components/schemas/ClusterStatus" })) }
            }},
            "/cluster/join": { "post": {
                "summary": "Add nodes to the cluster (sent to a member: node_id + address, or peers), or join a cluster through a member (sent to a fresh node: via). Not available in standalone mode.",
                "requestBody": body(json!({ "type": "object", "properties": {
                    "node_id": { "type": "string" }, "address": { "type": "string", "description": "host:port" },
                    "peers": { "type": "array", "items": { "type": "object", "properties": { "node_id": { "type": "string" }, "url": { "type": "string" } } } },
                    "via": { "type": "string", "description": "URL of a member of the cluster to join (alone)" } } })),
                "responses": { "400": err("malformed request"), "409": err("standalone mode, node id already a member under another URL, a membership change in progress, or this node was removed"), "503": err("a peer or the via URL cannot be reached, no leader, or the new node did not catch up") }
            }},
            "/cluster/members/{id}": { "delete": {
                "summary": "Remove a member from the cluster (forwarded to the primary; not available in standalone mode)",
                "parameters": [ { "name": "id", "in": "path", "required": true, "description": "the member's node id", "schema": { "type": "string" } } ],
                "responses": { "404": err("no such member"), "409": err("standalone mode, the primary, the last voter, no reachable quorum left, or a membership change in progress"), "503": err("no leader, or the change was not committed in time") }
            }},
            "/become_primary": { "post": {
                "summary": "Make this node the primary (not available in standalone mode)",
                "responses": { "409": err("standalone mode") }
            }},
            "/admin/flush": { "post": {
                "summary": "Flush memtables to SSTables and wait",
                "responses": with(std_errors(&[]), ok(ok_true.clone()))
            }},
            "/admin/compact": { "post": {
                "summary": "Compact the whole key range and wait",
                "responses": with(std_errors(&[]), ok(ok_true.clone()))
            }},
            "/admin/checkpoint": { "post": {
                "summary": "Make a checkpoint of the running node for download (kvstore backup; docs/backup.md)",
                "responses": with(std_errors(&[("409", "too many open checkpoints")]), ok(checkpoint.clone()))
            }},
            "/admin/checkpoint/{id}": {
                "get": {
                    "summary": "A checkpoint's sequence number and files",
                    "parameters": checkpoint_params(false),
                    "responses": with(std_errors(&[("400", "malformed id"), ("404", "no such checkpoint (deleted, expired, node restarted)"), ("409", "still being made")]), ok(checkpoint))
                },
                "delete": {
                    "summary": "Remove a checkpoint",
                    "parameters": checkpoint_params(false),
                    "responses": with(std_errors(&[("400", "malformed id"), ("404", "no such checkpoint"), ("409", "still being made")]), ok(ok_true))
                }
            },
            "/admin/checkpoint/{id}/{file}": { "get": {
                "summary": "One file of a checkpoint, streamed from disk (Content-Length; Range supported)",
                "parameters": checkpoint_params(true),
                "responses": {
                    "200": { "description": "OK", "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                    "400": err("malformed id or file name (path traversal)"),
                    "404": err("no such checkpoint or file"),
                    "409": err("still being made")
                }
            }},
            "/admin/stats": { "get": {
                "summary": "Engine statistics",
                "responses": { "200": ok(json!({ "type": "object" })) }
            }},
            "/metrics": { "get": {
                "security": [{}, { "bearerAuth": [] }],
                "summary": "Prometheus text exposition",
                "responses": { "200": { "description": "OK", "content": { "text/plain": { "schema": { "type": "string" } } } } }
            }},
            "/openapi.json": { "get": {
                "security": [],
                "summary": "This document",
                "responses": { "200": ok(json!({ "type": "object" })) }
            }}
        },
        "components": {
          "securitySchemes": {
            "bearerAuth": { "type": "http", "scheme": "bearer",
              "description": "The token of --auth-token-file (everything) or of --read-token-file (GET /get, /scan, /search, /cluster/status; GET and POST /semantic_search). Not needed when the node runs without --auth-token-file. /metrics needs it under --metrics-auth." }
          },
          "schemas": {
            "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } },
            "Ok": { "type": "object", "properties": { "ok": { "type": "boolean" } } },
            "KeyValue": { "type": "object", "properties": { "key": { "type": "string" }, "value": { "type": "string" } } },
            "SetRequest": { "type": "object", "required": ["key", "value"], "properties": {
                "key": { "type": "string", "minLength": 1, "description": "1 byte to 4 KiB of UTF-8" },
                "value": { "type": "string", "description": "up to --max-value-bytes (16 MiB by default)" },
                "vector": { "type": "array", "items": { "type": "number" }, "description": "overrides the embedder; dimension checked" },
                "debug_fail": { "type": "boolean", "description": "with a small probability, fail with 500 either before writing or after writing the whole batch" } } },
            "BulkSetRequest": { "type": "object", "required": ["items"], "properties": {
                "items": { "type": "array", "items": { "oneOf": [
                    { "type": "array", "items": { "type": "string" }, "minItems": 2, "maxItems": 2 },
                    { "$ref": "#/components/schemas/KeyValue" } ] } },
                "debug_fail": { "type": "boolean" } } },
            "SearchResults": { "type": "object", "properties": {
                "query": { "type": "string", "nullable": true },
                "results": { "type": "array", "items": { "type": "object", "properties": {
                    "key": { "type": "string" }, "score": { "type": "number" }, "snippet": { "type": "string" } } } } } },
            "ScanPage": { "type": "object", "properties": {
                "items": { "type": "array", "items": { "$ref": "#/components/schemas/KeyValue" } },
                "next": { "type": "string", "nullable": true, "description": "pass as start to get the next page" } } },
            "Checkpoint": { "type": "object", "required": ["id", "seq", "files"], "properties": {
                "id": { "type": "string" },
                "seq": { "type": "integer", "description": "every write up to this sequence number is in the checkpoint, none after" },
                "files": { "type": "array", "description": "in the order to write them, CURRENT last", "items": { "type": "object", "properties": {
                    "name": { "type": "string" }, "size": { "type": "integer" } } } } } },
            "ClusterStatus": { "type": "object", "properties": {
                "node_id": { "type": "string" }, "mode": { "type": "string" }, "role": { "type": "string" } } }
        }}
    })
}
