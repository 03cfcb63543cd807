//! [`ReadIndex`]: linearizable reads share the primary's leadership confirmations.
//!
//! Every linearizable read needs the primary to confirm, by a quorum round, that it still leads
//! after the read arrived, and its commit index then (the read index). One round per read made
//! the round trip the ceiling of read throughput; etcd batches these requests, and so does this:
//! a read that arrives while a round is running waits for the next one, and the next one serves
//! every read queued during the previous one.
//!
//! Invariant: a read is answered only by a round that *started after it arrived* (a round
//! already running may have taken its commit index before a write the read must see was
//! acknowledged), so sharing a round never weakens a read.

use super::network::PeerError;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

type Answer = Result<Option<u64>, PeerError>;

#[derive(Default)]
struct Queue {
    /// A round is running (its task serves `waiting` when it ends).
    running: bool,
    waiting: Vec<oneshot::Sender<Answer>>,
}

/// Shares confirmation rounds between concurrent reads. Cheap to clone.
#[derive(Clone, Default)]
pub struct ReadIndex {
    queue: Arc<Mutex<Queue>>,
}

impl ReadIndex {
    /// The read index for a read arriving now, from a round `confirm` started after now
    /// (possibly shared with other reads).
    pub async fn get<F, Fut>(&self, confirm: F) -> Answer
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = Answer> + Send,
    {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.waiting.push(tx);
            !std::mem::replace(&mut q.running, true)
        };
        if start {
            let queue = Arc::clone(&self.queue);
            tokio::spawn(async move {
                loop {
                    // Everyone queued now arrived before this round starts.
                    let batch = {
                        let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
                        if q.waiting.is_empty() {
                            q.running = false;
                            return;
                        }
                        std::mem::take(&mut q.waiting)
                    };
                    let answer = confirm().await;
                    for w in batch {
                        let _ = w.send(answer.clone());
                    }
                }
            });
        }
        rx.await.unwrap_or_else(|_| {
            Err(PeerError {
                status: 503,
                message: "the node is shutting down".into(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    /// A read that arrives during a round is answered by a later one, and reads queued during
    /// one round share the next.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_share_rounds_that_started_after_they_arrived() {
        let ri = ReadIndex::default();
        let rounds = Arc::new(AtomicU64::new(0));
        let confirm = {
            let rounds = Arc::clone(&rounds);
            move || {
                let rounds = Arc::clone(&rounds);
                async move {
                    // The round's "commit index" is its number, taken as it starts.
                    let n = rounds.fetch_add(1, Ordering::SeqCst) + 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok(Some(n))
                }
            }
        };
        let first = {
            let (ri, c) = (ri.clone(), confirm.clone());
            tokio::spawn(async move { ri.get(c).await })
        };
        while rounds.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Round 1 is running: each of these must be answered by a round that started after it
        // arrived, so by round 2 or later — and they share rounds.
        let mut later = Vec::new();
        for _ in 0..20 {
            let (ri, c) = (ri.clone(), confirm.clone());
            let started = rounds.load(Ordering::SeqCst);
            later.push((started, tokio::spawn(async move { ri.get(c).await })));
        }
        assert_eq!(first.await.unwrap().unwrap(), Some(1));
        for (started, l) in later {
            let n = l.await.unwrap().unwrap().unwrap();
            assert!(
                n > started,
                "answered by round {n}, which began before the read"
            );
        }
        let total = rounds.load(Ordering::SeqCst);
        assert!(total <= 3, "21 reads took {total} rounds: not shared");
        // An error reaches every read of its round.
        let failing = || async {
            Err(PeerError {
                status: 503,
                message: "no quorum".into(),
            })
        };
        let fresh = ReadIndex::default();
        assert_eq!(fresh.get(failing).await.unwrap_err().status, 503);
    }
}
