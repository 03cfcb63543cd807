//! [`WriteQueue`]: server-side group commit of single-document writes.
//!
//! `Indexer::put` holds the indexer's write lock across the engine write (and its fsync), so
//! concurrent `/set` requests would each pay a full fsync, one after another. Instead, `/set`
//! requests without a vector are queued; one writer task takes everything queued (up to
//! [`MAX_GROUP_DOCS`] documents / [`MAX_GROUP_BYTES`] bytes), writes it with one
//! `Indexer::put_many` — one engine batch, one WAL record, one fsync — and then answers every
//! request of the group. While a group is being written the next one gathers.
//!
//! Why this keeps the guarantees:
//! - durability: a request is answered only after the `put_many` that carries it returned;
//! - atomicity: each document (with its index entries) is inside one atomic batch; a failed
//!   batch fails every request in it, and none of them is applied;
//! - order: a group holds at most one write per key — the latest queued, which is what applying
//!   the writes one by one in arrival order would leave — so the indexer never sees a key twice
//!   in a batch.

use crate::error::ApiError;
use kvstore_search::Indexer;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most documents written in one group.
pub const MAX_GROUP_DOCS: usize = 1024;
/// Most key + value bytes written in one group (a larger single write goes alone).
pub const MAX_GROUP_BYTES: usize = 8 * 1024 * 1024;

struct Pending {
    key: String,
    value: String,
    /// Where the outcome goes; dropped receivers (client gone) are ignored.
    done: oneshot::Sender<Result<(), ApiError>>,
}

/// The sending side; the writer task ends when every `WriteQueue` is dropped.
pub struct WriteQueue {
    tx: mpsc::UnboundedSender<Pending>,
}

impl WriteQueue {
    /// Starts the writer task on the current runtime.
    pub fn start(indexer: Arc<Indexer>) -> WriteQueue {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(indexer, rx));
        WriteQueue { tx }
    }

    /// Queues a write and waits until it is durable (or failed).
    pub async fn put(&self, key: String, value: String) -> Result<(), ApiError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Pending { key, value, done })
            .map_err(|_| ApiError::Unavailable("the write queue is closed".into()))?;
        rx.await
            .map_err(|_| ApiError::Internal("the write queue dropped a write".into()))?
    }
}

async fn writer(indexer: Arc<Indexer>, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let mut carry: Option<Pending> = None;
    loop {
        let first = match carry.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let mut bytes = first.key.len() + first.value.len();
        let mut group = vec![first];
        while group.len() < MAX_GROUP_DOCS {
            match rx.try_recv() {
                Ok(p) => {
                    let size = p.key.len() + p.value.len();
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
        write_group(&indexer, group).await;
    }
}

/// The items of a group, one per key (the last queued wins), in first-arrival order.
fn dedup(group: &[Pending]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut slot: HashMap<&str, usize> = HashMap::with_capacity(group.len());
    let mut items: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(group.len());
    for p in group {
        match slot.get(p.key.as_str()) {
            Some(&i) => items[i].1 = p.value.as_bytes().to_vec(),
            None => {
                slot.insert(&p.key, items.len());
                items.push((p.key.as_bytes().to_vec(), p.value.as_bytes().to_vec()));
            }
        }
    }
    items
}

async fn write_group(indexer: &Arc<Indexer>, group: Vec<Pending>) {
    let items = dedup(&group);
    let ix = Arc::clone(indexer);
    let result: Result<(), ApiError> =
        match tokio::task::spawn_blocking(move || ix.put_many(&items)).await {
            Ok(r) => r.map_err(ApiError::from),
            Err(e) => Err(ApiError::Internal(format!("storage task failed: {e}"))),
        };
    match result {
        Ok(()) => {
            for p in group {
                let _ = p.done.send(Ok(()));
            }
        }
        Err(e) => {
            // Nothing of the group was applied; every request in it gets the same failure.
            let (status, text) = (e.status(), e.to_string());
            for p in group {
                let _ = p.done.send(Err(same_error(status, &text)));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> Pending {
        Pending {
            key: k.into(),
            value: v.into(),
            done: oneshot::channel().0,
        }
    }

    #[test]
    fn dedup_keeps_the_last_value_of_each_key_in_first_order() {
        let g = vec![
            p("a", "1"),
            p("b", "1"),
            p("a", "2"),
            p("c", "1"),
            p("b", "3"),
        ];
        let items = dedup(&g);
        let s: Vec<(&[u8], &[u8])> = items.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        assert_eq!(
            s,
            vec![
                (&b"a"[..], &b"2"[..]),
                (&b"b"[..], &b"3"[..]),
                (&b"c"[..], &b"1"[..])
            ]
        );
    }
}
