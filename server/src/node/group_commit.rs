//! [`WriteQueue`]: server-side group commit of single-document writes.
//!
//! `Indexer::put` holds the indexer's write lock across the engine write (and its fsync), so
//! concurrent `/set` requests would each pay a full fsync, one after another. Instead, `/set`
//! requests without a vector are queued; one writer thread (its own OS thread: no runtime
//! handoff per group, and it is never queued behind HTTP tasks) takes everything queued (up to
//! [`MAX_GROUP_DOCS`] documents / [`MAX_GROUP_BYTES`] bytes), writes it with one
//! `Indexer::put_prepared` — one engine batch, one WAL record, one fsync — and then answers
//! every request of the group. While a group is being written the next one gathers.
//!
//! Each request analyzes and embeds its own document *before* queuing it
//! (`Indexer::prepare_doc`: pure CPU work that reads no state), on its own task — inline for
//! small documents, on a blocking thread past [`INLINE_PREPARE_BYTES`]. So preparation runs in
//! parallel and overlaps the previous group's fsync, and the single writer only does the part
//! that must be serial: reading the replaced index entries, building the batch, the engine
//! write.
//!
//! **Linger.** When a group is answered, its clients send their next requests a little later
//! (a network round trip plus parsing and preparing each); the writer, free at once, would
//! otherwise take the one or two that arrived first as a whole group and pay a full write and
//! fsync for them while the rest queue — groups then alternate between nearly everyone and
//! almost no one (measured: 64, 1, 63, 1, … with 64 clients), halving the documents per
//! fsync. So when the previous group had several writes, the writer first waits for the queue
//! to grow back to that size — yielding to the runtime, which is what lets those requests
//! arrive — until it stops growing for [`LINGER_IDLE`] or [`MAX_LINGER`] has passed. A lone
//! writer never waits. The linger changes only how writes are grouped, never when one is
//! answered: still only after the fsync covering it.
//!
//! Why this keeps the guarantees:
//! - durability: a request is answered only after the `put_prepared` that carries it returned;
//! - atomicity: each document (with its index entries) is inside one atomic batch; a failed
//!   batch fails every request in it, and none of them is applied;
//! - order: a group holds at most one write per key — the latest queued, which is what applying
//!   the writes one by one in arrival order would leave (`put_prepared` keeps the last
//!   version of a key) — and what a document replaces is read under the write lock, so
//!   preparing it earlier changes nothing.

use crate::error::ApiError;
use kvstore_search::{Indexer, PreparedDoc};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Most documents written in one group.
pub const MAX_GROUP_DOCS: usize = 1024;
/// Most key + value bytes written in one group (a larger single write goes alone).
pub const MAX_GROUP_BYTES: usize = 8 * 1024 * 1024;
/// Documents up to this size (key + value) are analyzed and embedded on the request's own
/// async task (at most a few hundred microseconds); larger ones on a blocking thread.
pub const INLINE_PREPARE_BYTES: usize = 2 * 1024;
/// Longest the writer waits for the previous group's clients to queue again.
pub const MAX_LINGER: Duration = Duration::from_micros(2_000);
/// The linger ends early once the queue has not grown for this long.
pub const LINGER_IDLE: Duration = Duration::from_micros(250);
/// How often a lingering writer looks at the queue.
const LINGER_POLL: Duration = Duration::from_micros(20);

struct Pending {
    doc: PreparedDoc,
    /// Where the outcome goes; dropped receivers (client gone) are ignored.
    done: oneshot::Sender<Result<(), ApiError>>,
}

/// The sending side; the writer thread ends when every `WriteQueue` is dropped.
pub struct WriteQueue {
    indexer: Arc<Indexer>,
    tx: mpsc::UnboundedSender<Pending>,
}

impl WriteQueue {
    /// Starts the writer thread.
    pub fn start(indexer: Arc<Indexer>) -> std::io::Result<WriteQueue> {
        let (tx, rx) = mpsc::unbounded_channel();
        let ix = Arc::clone(&indexer);
        std::thread::Builder::new()
            .name("kvstore-group-commit".into())
            .spawn(move || writer(ix, rx))?;
        Ok(WriteQueue { indexer, tx })
    }

    /// Prepares a document, queues it and waits until it is durable (or failed).
    pub async fn put(&self, key: String, value: String) -> Result<(), ApiError> {
        let (key, value) = (key.into_bytes(), value.into_bytes());
        let doc = if key.len() + value.len() <= INLINE_PREPARE_BYTES {
            self.indexer.prepare_doc(key, value, None)?
        } else {
            let ix = Arc::clone(&self.indexer);
            tokio::task::spawn_blocking(move || ix.prepare_doc(key, value, None))
                .await
                .map_err(|e| ApiError::Internal(format!("indexing task failed: {e}")))??
        };
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Pending { doc, done })
            .map_err(|_| ApiError::Unavailable("the write queue is closed".into()))?;
        rx.await
            .map_err(|_| ApiError::Internal("the write queue dropped a write".into()))?
    }
}

/// Waits until `rx` holds `want` writes, stops growing for [`LINGER_IDLE`], or
/// [`MAX_LINGER`] has passed (short sleeps: this thread must not spin on a CPU the requests
/// it waits for need).
fn linger(rx: &mpsc::UnboundedReceiver<Pending>, want: usize) {
    let start = Instant::now();
    let mut len = rx.len();
    let mut grew_at = start;
    while len < want {
        std::thread::sleep(LINGER_POLL);
        let now = Instant::now();
        let l = rx.len();
        if l > len {
            (len, grew_at) = (l, now);
        }
        if now - start >= MAX_LINGER || now - grew_at >= LINGER_IDLE {
            break;
        }
    }
}

/// The writer thread's loop: gather a group, write it, answer it; ends when every sender is
/// gone.
fn writer(indexer: Arc<Indexer>, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let mut carry: Option<Pending> = None;
    // Writes in the previous group: how many to linger for (see the module docs).
    let mut last_group = 0usize;
    loop {
        let first = match carry.take() {
            Some(p) => p,
            None => match rx.blocking_recv() {
                Some(p) => p,
                None => return,
            },
        };
        if last_group > 1 {
            linger(&rx, last_group - 1);
        }
        let mut bytes = first.doc.size_bytes();
        let mut group = vec![first];
        while group.len() < MAX_GROUP_DOCS {
            match rx.try_recv() {
                Ok(p) => {
                    let size = p.doc.size_bytes();
                    if bytes + size > MAX_GROUP_BYTES {
                        carry = Some(p);
                        break;
                    }
                    bytes += size;
                    group.push(p);
                }
                Err(_) => break,
            }
        }
        last_group = group.len();
        write_group(&indexer, group);
    }
}

fn write_group(indexer: &Indexer, group: Vec<Pending>) {
    let (docs, waiters): (Vec<PreparedDoc>, Vec<_>) =
        group.into_iter().map(|p| (p.doc, p.done)).unzip();
    // A panic inside the indexer must fail this group's requests, not the writer thread.
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| indexer.put_prepared(docs)));
    let result: Result<(), ApiError> = match result {
        Ok(r) => r.map_err(ApiError::from),
        Err(_) => Err(ApiError::Internal("storage task panicked".into())),
    };
    match result {
        Ok(()) => {
            for done in waiters {
                let _ = done.send(Ok(()));
            }
        }
        Err(e) => {
            // Nothing of the group was applied; every request in it gets the same failure.
            let (status, text) = (e.status(), e.to_string());
            for done in waiters {
                let _ = done.send(Err(same_error(status, &text)));
            }
        }
    }
}

/// An error with `status` and `text` (the group's failure, for each of its requests).
fn same_error(status: warp::http::StatusCode, text: &str) -> ApiError {
    let t = text.to_string();
    match status.as_u16() {
        400 => ApiError::BadRequest(t),
        503 => ApiError::Unavailable(t),
        507 => ApiError::InsufficientStorage(t),
        _ => ApiError::Internal(t),
    }
}
