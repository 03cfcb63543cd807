//! The KVStore server: the HTTP API of one node, as a library so tests and tools can start it
//! in-process; the `kvstore` binary (`src/main.rs`, with its `cli/` modules) is a thin layer of
//! command-line parsing over it and over `kvstore-client`.
//!
//! # Guarantees
//! - **Durability**: a write is answered `200` only after the engine made it durable (WAL fsync,
//!   shared by concurrent writers).
//! - **Atomicity**: a document and all its index changes, and a whole `/bulk_set`, are one engine
//!   `WriteBatch`: after any failure or crash, all of it or none of it is there.
//! - **Errors**: every failure is `{"error": "..."}` with one status per cause ([`ApiError`]);
//!   client input never panics the server; request bodies are bounded.
//! - **Authentication** (when a token file is given): every route but `/health`,
//!   `/openapi.json` and (unless `--metrics-auth`) `/metrics` needs a bearer token, and writes
//!   and admin calls need the full one ([`auth`]; `docs/security.md`).
//!
//! # Map (in the order a request flows)
//! - [`auth`]: bearer tokens, checked before any route.
//! - [`routes`]: warp filters and handlers; input checks in `routes::input`.
//! - [`node`]: the [`Node`] trait (what a cluster mode must provide) and [`StandaloneNode`].
//! - [`error`]: [`ApiError`] → HTTP status; [`ServerError`] for start-up.
//! - [`metrics`]: Prometheus registry; [`openapi`]: the `/openapi.json` document.
//! - [`server`]: bind, serve, graceful shutdown; [`config`]: [`ServerConfig`] and limits.
//! - [`checkpoints`]: checkpoints made for download by `kvstore backup` (`docs/backup.md`).
//!
//! The HTTP API is described for people in `docs/http-api.md`.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod checkpoints;
pub mod config;
pub mod error;
pub mod metrics;
pub mod node;
pub mod openapi;
pub mod routes;
pub mod server;

pub use config::{Limits, Mode, ServerConfig};
pub use error::{ApiError, ServerError};
pub use node::{Node, StandaloneNode};
pub use server::{shutdown_signal, Server};
