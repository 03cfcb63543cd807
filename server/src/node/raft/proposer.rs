//! [`Proposer`]: groups the writes a leader proposes into log entries.
//!
//! Every log entry costs the cluster the same fixed work whatever it carries: an fsync of the
//! leader's log, a replication round trip, an fsync on each follower, an apply. One entry per
//! write made that the ceiling of the cluster's write rate (1,215 writes/s at c=64, 0.40× a
//! 3-member etcd). So a write is queued here and a single task proposes what is queued as one
//! entry: at most [`MAX_IN_FLIGHT`] entries are being committed at a time, and while they are,
//! the writes that arrive gather into the next one (up to [`MAX_ENTRY_OPS`] operations and
//! [`MAX_ENTRY_BYTES`] bytes; a larger single write goes alone). A lone writer never waits:
//! with a free slot its write is proposed at once.
//!
//! Guarantees, unchanged from one entry per write:
//! - each write is answered only after the entry carrying it is committed and applied, with its
//!   own outcome (the state machine answers each operation of an entry separately);
//! - each operation stays atomic (a bulk write is one operation); the operations of an entry
//!   are applied in the order they were queued, which is the order their requests reached this
//!   node's proposer;
//! - a write whose entry failed or timed out answers the same error as before (503, never a
//!   false 200; it may still be applied, as the message says).

use super::{Request, Response, TypeConfig};
use crate::error::ApiError;
use kvstore_search::PreparedOp;
use openraft::error::{ClientWriteError, ForwardToLeader, RaftError};
use openraft::Raft;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Entries being committed at once. More than one, so that a group never waits for the
/// previous one's whole commit round; few, so that under load writes gather into large
/// entries instead of each taking a slot.
pub const MAX_IN_FLIGHT: usize = 4;
/// Most operations in one entry.
pub const MAX_ENTRY_OPS: usize = 1024;
/// Most bytes (keys and values) in one entry: well below the engine's largest batch, so an
/// entry's log write is never refused for its size.
pub const MAX_ENTRY_BYTES: usize = 4 << 20;

struct Pending {
    op: PreparedOp,
    bytes: usize,
    done: oneshot::Sender<Result<Response, ApiError>>,
}

/// Why a whole entry failed; turned into one [`ApiError`] per write it carried.
enum Failed {
    Timeout(Duration),
    NotLeader(ForwardToLeader<u64, super::Member>),
    Other(String),
}

impl Failed {
    fn to_api(&self) -> ApiError {
        match self {
            Failed::Timeout(t) => ApiError::Unavailable(format!(
                "no quorum: the write was not committed within {t:?} (it may still be applied)"
            )),
            Failed::NotLeader(f) => super::node::not_leader(f),
            Failed::Other(e) => ApiError::Unavailable(format!("write failed: {e}")),
        }
    }
}

/// The sending side; the proposing task ends when the last `Proposer` is dropped.
pub struct Proposer {
    tx: mpsc::UnboundedSender<Pending>,
}

impl Proposer {
    /// Starts the proposing task (on the current runtime). `timeout` bounds each entry's commit.
    pub fn start(raft: Raft<TypeConfig>, timeout: Duration) -> Proposer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, rx, timeout));
        Proposer { tx }
    }

    /// Proposes `op` in the next entry and waits for its own outcome.
    pub async fn propose(&self, op: PreparedOp) -> Result<Response, ApiError> {
        let (done, answer) = oneshot::channel();
        let bytes = op_bytes(&op);
        self.tx
            .send(Pending { op, bytes, done })
            .map_err(|_| ApiError::Unavailable("the node is shutting down".into()))?;
        answer
            .await
            .unwrap_or_else(|_| Err(ApiError::Unavailable("the node is shutting down".into())))
    }
}

/// Key and value bytes of an operation (what bounds an entry).
fn op_bytes(op: &PreparedOp) -> usize {
    match op {
        PreparedOp::Put(docs) => docs.iter().map(|d| d.size_bytes()).sum(),
        PreparedOp::Delete(keys) => keys.iter().map(Vec::len).sum(),
    }
}

async fn run(raft: Raft<TypeConfig>, mut rx: mpsc::UnboundedReceiver<Pending>, timeout: Duration) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        // Waiting for a slot is what lets the queue grow into the next entry.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let mut bytes = first.bytes;
        let mut group = vec![first];
        while group.len() < MAX_ENTRY_OPS {
            match rx.try_recv() {
                Ok(p) if bytes + p.bytes > MAX_ENTRY_BYTES => {
                    carried = Some(p);
                    break;
                }
                Ok(p) => {
                    bytes += p.bytes;
                    group.push(p);
                }
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            commit(&raft, group, timeout).await;
            drop(slot);
        });
    }
}

/// Proposes `group` as one entry and answers each of its writes.
async fn commit(raft: &Raft<TypeConfig>, group: Vec<Pending>, timeout: Duration) {
    let (ops, dones): (Vec<_>, Vec<_>) = group.into_iter().map(|p| (p.op, p.done)).unzip();
    let n = ops.len();
    let outcome = match tokio::time::timeout(timeout, raft.client_write(Request { ops })).await {
        Err(_) => Err(Failed::Timeout(timeout)),
        Ok(Ok(r)) if r.data.results.len() == n => Ok(r.data.results),
        Ok(Ok(r)) => Err(Failed::Other(format!(
            "the state machine answered {} results for {n} operations",
            r.data.results.len()
        ))),
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
            Err(Failed::NotLeader(f))
        }
        Ok(Err(e)) => Err(Failed::Other(e.to_string())),
    };
    match outcome {
        Ok(results) => {
            for (done, r) in dones.into_iter().zip(results) {
                let answer = match r.error {
                    Some(e) => Err(ApiError::BadRequest(e)),
                    None => Ok(r),
                };
                // The client may be gone; its write stands all the same.
                let _ = done.send(answer);
            }
        }
        Err(f) => {
            for done in dones {
                let _ = done.send(Err(f.to_api()));
            }
        }
    }
}
