//! [`StandaloneNode`]: a single node; every write goes through `kvstore_search::Indexer`, so a
//! document and its index entries are one engine `WriteBatch` (one WAL record, one fsync).

use super::group_commit::WriteQueue;
use super::{
    ClusterStatus, Consistency, FailPoint, FailureInjector, Health, KeyValue, Node, ScanPage,
    ScanRequest, SearchHit, SemanticQuery, SetRequest,
};
use crate::error::ApiError;
use async_trait::async_trait;
use kvstore_search::{Hit, Indexer};
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::Arc;

/// One node, no replication.
pub struct StandaloneNode {
    /// The write path and the query engine; owns the `Db`. Shared with blocking tasks.
    indexer: Arc<Indexer>,
    /// Group commit of plain `/set` writes (see [`super::group_commit`]).
    queue: WriteQueue,
    node_id: String,
    fail: FailureInjector,
}

impl StandaloneNode {
    /// Starts the group-commit writer thread; fails only if it cannot be spawned.
    pub fn new(indexer: Indexer, node_id: String, fail: FailureInjector) -> std::io::Result<Self> {
        let indexer = Arc::new(indexer);
        Ok(StandaloneNode {
            queue: WriteQueue::start(Arc::clone(&indexer))?,
            indexer,
            node_id,
            fail,
        })
    }

    /// Runs `f` on a blocking thread (engine calls may fsync or wait for a stall).
    async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Indexer) -> Result<T, ApiError> + Send + 'static,
    {
        let indexer = Arc::clone(&self.indexer);
        tokio::task::spawn_blocking(move || f(&indexer))
            .await
            .map_err(|e| ApiError::Internal(format!("storage task failed: {e}")))?
    }

    /// Runs a write with failure injection: see [`super::fail`] for why both points are safe.
    async fn write<T, F>(&self, debug_fail: bool, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Indexer) -> Result<T, ApiError> + Send + 'static,
    {
        match self.fail.pick(debug_fail) {
            None => self.blocking(f).await,
            Some(FailPoint::BeforeWrite) => {
                tracing::info!("debug_fail: failing before the write");
                Err(ApiError::SimulatedFailure)
            }
            Some(FailPoint::AfterWrite) => {
                tracing::info!("debug_fail: writing, then failing");
                self.blocking(f).await?;
                Err(ApiError::SimulatedFailure)
            }
        }
    }

    fn check_dimension(&self, v: &[f32]) -> Result<(), ApiError> {
        let expected = self.indexer.dimension();
        if v.len() != expected {
            return Err(ApiError::BadRequest(format!(
                "vector has dimension {}, the index expects {expected}",
                v.len()
            )));
        }
        Ok(())
    }
}

pub(crate) fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

pub(crate) fn hits(hits: Vec<Hit>) -> Vec<SearchHit> {
    hits.into_iter()
        .map(|h| SearchHit {
            key: utf8(h.key),
            score: h.score,
            snippet: h.snippet,
        })
        .collect()
}

/// One page of a key-ordered scan of `ix`'s documents.
pub(crate) fn scan_page(ix: &Indexer, req: &ScanRequest) -> Result<ScanPage, ApiError> {
    let limit = req.limit.max(1);
    let prefix = req.prefix.clone().unwrap_or_default();
    let mut items = Vec::with_capacity(limit.min(1024));
    let mut next = None;
    for entry in ix.db().scan(scan_bounds(req))? {
        let (k, v) = entry?;
        if !k.starts_with(prefix.as_bytes()) {
            break;
        }
        if items.len() == limit {
            next = Some(utf8(k));
            break;
        }
        items.push(KeyValue {
            key: utf8(k),
            value: utf8(v),
        });
    }
    Ok(ScanPage { items, next })
}

/// The engine range of a scan: from `max(start, prefix)` (inclusive) to `end` (exclusive).
fn scan_bounds(req: &ScanRequest) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let lower = match (&req.start, &req.prefix) {
        (Some(s), Some(p)) => Some(std::cmp::max(s, p)),
        (Some(s), None) => Some(s),
        (None, Some(p)) => Some(p),
        (None, None) => None,
    };
    let lower = lower.map_or(Bound::Unbounded, |k| Bound::Included(k.as_bytes().to_vec()));
    let upper = req
        .end
        .as_ref()
        .map_or(Bound::Unbounded, |k| Bound::Excluded(k.as_bytes().to_vec()));
    (lower, upper)
}

#[async_trait]
impl Node for StandaloneNode {
    /// One replica: every read is linearizable.
    async fn get(&self, key: String, _: Consistency) -> Result<Option<String>, ApiError> {
        let db = self.indexer.db();
        // IMPORTANT: inline on the async worker, not under `block_in_place` or on a blocking
        // thread: both cost about half of GET's throughput (measured, quiet machine, c=16/64:
        // 59.7k/74.0k req/s inline, 28.2k/30.7k with `block_in_place`). The price: a read that
        // blocks in the disk (a mapped page out of memory) holds its worker's other
        // connections meanwhile — `storage_faults::a_read_blocked_on_the_disk_does_not_stall_
        // other_requests` shows it and is ignored until a read that cannot block is built.
        Ok(db.get(key.as_bytes())?.map(utf8))
    }

    async fn set(&self, req: SetRequest) -> Result<(), ApiError> {
        if let Some(v) = &req.vector {
            self.check_dimension(v)?;
            return self
                .write(req.debug_fail, move |ix| {
                    Ok(ix.put(req.key.as_bytes(), req.value.as_bytes(), req.vector)?)
                })
                .await;
        }
        // Plain writes share batches (and fsyncs) through the queue.
        match self.fail.pick(req.debug_fail) {
            None => self.queue.put(req.key, req.value).await,
            Some(FailPoint::BeforeWrite) => Err(ApiError::SimulatedFailure),
            Some(FailPoint::AfterWrite) => {
                self.queue.put(req.key, req.value).await?;
                Err(ApiError::SimulatedFailure)
            }
        }
    }

    async fn delete(&self, key: String, debug_fail: bool) -> Result<bool, ApiError> {
        self.write(debug_fail, move |ix| Ok(ix.delete(key.as_bytes())?))
            .await
    }

    async fn bulk_set(
        &self,
        items: Vec<(String, String)>,
        debug_fail: bool,
    ) -> Result<(), ApiError> {
        if items.is_empty() {
            return Ok(());
        }
        self.write(debug_fail, move |ix| {
            let items: Vec<(Vec<u8>, Vec<u8>)> = items
                .into_iter()
                .map(|(k, v)| (k.into_bytes(), v.into_bytes()))
                .collect();
            Ok(ix.put_many(&items)?)
        })
        .await
    }

    async fn scan(&self, req: ScanRequest) -> Result<ScanPage, ApiError> {
        self.blocking(move |ix| scan_page(ix, &req)).await
    }

    async fn search(&self, query: String, k: usize) -> Result<Vec<SearchHit>, ApiError> {
        self.blocking(move |ix| Ok(hits(ix.search(&query, k, false)?)))
            .await
    }

    async fn semantic_search(
        &self,
        query: SemanticQuery,
        k: usize,
    ) -> Result<Vec<SearchHit>, ApiError> {
        if let SemanticQuery::Vector(v) = &query {
            self.check_dimension(v)?;
        }
        self.blocking(move |ix| {
            Ok(hits(match query {
                SemanticQuery::Text(q) => ix.semantic_search(&q, k)?,
                SemanticQuery::Vector(v) => ix.semantic_search_vector(&v, k)?,
            }))
        })
        .await
    }

    async fn health(&self) -> Result<Health, ApiError> {
        self.blocking(|ix| {
            let db = ix.db();
            db.health()
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            Ok(match db.corruption() {
                None => Health::Ok,
                Some(first) => Health::Degraded(format!(
                    "storage corruption met by {} read(s); first: {first}",
                    db.stats().corruptions_seen
                )),
            })
        })
        .await
    }

    fn status(&self) -> ClusterStatus {
        ClusterStatus {
            node_id: self.node_id.clone(),
            mode: "standalone".into(),
            role: "standalone".into(),
            details: serde_json::Map::new(),
        }
    }

    async fn join(&self, peers: Vec<(String, String)>) -> Result<serde_json::Value, ApiError> {
        let named: Vec<String> = peers
            .iter()
            .map(|(n, a)| format!("{n:?} at {a:?}"))
            .collect();
        Err(ApiError::Conflict(format!(
            "cannot add node {}: this node runs in standalone mode; cluster membership needs \
             --mode raft (masterless is not yet supported)",
            named.join(", ")
        )))
    }

    async fn become_primary(&self) -> Result<serde_json::Value, ApiError> {
        Err(ApiError::Conflict(
            "this node runs in standalone mode and has no primary/secondary roles; \
             become_primary needs --mode raft"
                .into(),
        ))
    }

    async fn flush(&self) -> Result<(), ApiError> {
        self.blocking(|ix| Ok(ix.db().flush()?)).await
    }

    async fn compact(&self) -> Result<(), ApiError> {
        self.blocking(|ix| Ok(ix.db().compact_range(None, None)?))
            .await
    }

    async fn stats(&self) -> Result<kvstore_engine::DbStats, ApiError> {
        self.blocking(|ix| Ok(ix.db().stats())).await
    }

    async fn checkpoint(&self, dir: PathBuf) -> Result<kvstore_engine::Checkpoint, ApiError> {
        // The search indexes are column families of the same engine: one checkpoint has all.
        self.blocking(move |ix| Ok(ix.db().checkpoint(&dir)?)).await
    }

    async fn close(&self) -> Result<(), kvstore_engine::Error> {
        let indexer = Arc::clone(&self.indexer);
        tokio::task::spawn_blocking(move || match indexer.close() {
            // The graph file is derived data: a failed save costs the next open time, not
            // data, so it is logged and the close goes on.
            Err(kvstore_search::Error::Engine(e)) => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "closing the search indexes");
                Ok(())
            }
            Ok(()) => Ok(()),
        })
        .await
        .unwrap_or(Err(kvstore_engine::Error::Closed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(start: Option<&str>, end: Option<&str>, prefix: Option<&str>) -> ScanRequest {
        ScanRequest {
            start: start.map(Into::into),
            end: end.map(Into::into),
            prefix: prefix.map(Into::into),
            limit: 10,
        }
    }

    #[test]
    fn scan_starts_at_the_later_of_start_and_prefix() {
        let b = |s: &str| Bound::Included(s.as_bytes().to_vec());
        assert_eq!(scan_bounds(&req(Some("a"), None, Some("b"))).0, b("b"));
        assert_eq!(scan_bounds(&req(Some("bz"), None, Some("b"))).0, b("bz"));
        assert_eq!(scan_bounds(&req(None, None, None)).0, Bound::Unbounded);
        assert_eq!(
            scan_bounds(&req(None, Some("q"), None)).1,
            Bound::Excluded(b"q".to_vec())
        );
    }
}
