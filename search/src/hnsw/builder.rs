//! [`GraphBuilder`]: the background thread that links stored vectors into the HNSW graph, so
//! writes do not pay for graph construction.
//!
//! It takes the vector index's write lock for [`BUILD_CHUNK`] links at a time (about 1–2 ms), so
//! searches and writers interleave with it; it sleeps when nothing waits and is woken by
//! [`GraphBuilder::wake`] after each write. Dropping it stops and joins the thread.

use super::VectorIndex;
use crate::error::{Error, Result};
use parking_lot::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Vectors the background builder links per lock hold (bounds how long searches wait).
pub const BUILD_CHUNK: usize = 8;

/// The background thread that links stored vectors into the graph.
pub struct GraphBuilder {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl GraphBuilder {
    pub fn spawn(index: Arc<RwLock<VectorIndex>>) -> Result<GraphBuilder> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("kvstore-hnsw-build".into())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    // Short lock holds: searches and writers interleave with the building.
                    if index.write().build_step(BUILD_CHUNK) == 0 {
                        std::thread::park_timeout(Duration::from_millis(50));
                    }
                }
            })
            .map_err(|e| Error::Embedder(format!("cannot start the HNSW builder thread: {e}")))?;
        Ok(GraphBuilder {
            stop,
            handle: Some(handle),
        })
    }

    pub fn wake(&self) {
        if let Some(h) = &self.handle {
            h.thread().unpark();
        }
    }
}

impl Drop for GraphBuilder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}
