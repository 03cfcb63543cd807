//! The write path: group commit, write stalls and memtable switches.
//!
//! Writers queue their batches. The writer at the head of the queue becomes the *leader*: it
//! takes the batches queued behind it (up to `MAX_GROUP_BYTES`), gives them consecutive
//! sequence numbers, appends them to the WAL in one write, fsyncs once for the whole group,
//! applies them to the memtable, publishes the new visible sequence number, and only then wakes
//! the followers with the group's outcome. So N concurrent durable writers cost about one fsync,
//! not N — and nobody is answered before their bytes are on disk.

use crate::batch::WriteBatch;
use crate::db::{DbInner, MemGroup, SuperVersion};
use crate::error::{Error, Result};
use crate::record::encode_record;
use crate::stats::Counters;
use crate::wal::WalWriter;
use kvstore_base::SeqNo;
use kvstore_compaction::{write_stall, StallDecision, StallOptions};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most bytes of batches one leader commits at once (more waits for the next group), so a
/// small write never waits behind an unbounded amount of other writers' data.
const MAX_GROUP_BYTES: usize = 4 << 20;
/// How long a stalled writer sleeps between checks, if no background event wakes it first.
const STALL_POLL: Duration = Duration::from_millis(50);

/// The outcome a leader hands to its followers (errors are re-created per follower).
#[derive(Clone)]
enum Outcome {
    Ok,
    Poisoned(String),
    Closed,
}

enum ReqState {
    Waiting,
    Leader,
    Done(Outcome),
}

struct Request {
    batch: Mutex<Option<WriteBatch>>,
    sync: bool,
    size: usize,
    state: Mutex<ReqState>,
    cv: Condvar,
}

/// The WAL writer and the last assigned sequence number; only the leader touches them.
pub(crate) struct WriterState {
    pub wal: WalWriter,
    pub last_seq: SeqNo,
}

pub(crate) struct WriteQueue {
    queue: Mutex<VecDeque<Arc<Request>>>,
    pub writer: Mutex<WriterState>,
}

impl WriteQueue {
    pub fn new(wal: WalWriter, last_seq: SeqNo) -> Self {
        WriteQueue {
            queue: Mutex::new(VecDeque::new()),
            writer: Mutex::new(WriterState { wal, last_seq }),
        }
    }

    pub fn sync_wal(&self) -> Result<()> {
        Ok(self.writer.lock().wal.sync()?)
    }
}

impl DbInner {
    pub(crate) fn write_batch(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        self.check_writable()?;
        let req = Arc::new(Request {
            size: batch.size_bytes(),
            batch: Mutex::new(Some(batch)),
            sync,
            state: Mutex::new(ReqState::Waiting),
            cv: Condvar::new(),
        });
        {
            let mut q = self.queue.queue_lock();
            q.push_back(req.clone());
            if q.len() == 1 {
                *req.state.lock() = ReqState::Leader;
            }
        }
        {
            let mut st = req.state.lock();
            while matches!(*st, ReqState::Waiting) {
                req.cv.wait(&mut st);
            }
            if let ReqState::Done(o) = &*st {
                return outcome_to_result(o.clone());
            }
        }

        // Leader: take a group from the head of the queue (this request is first).
        let group: Vec<Arc<Request>> = {
            let q = self.queue.queue_lock();
            let mut bytes = 0usize;
            q.iter()
                .take_while(|r| {
                    let take = bytes == 0 || bytes + r.size <= MAX_GROUP_BYTES;
                    bytes += r.size;
                    take
                })
                .cloned()
                .collect()
        };
        let result = self.commit_group(&group);
        let outcome = match &result {
            Ok(()) => Outcome::Ok,
            Err(Error::Closed) => Outcome::Closed,
            Err(e) => Outcome::Poisoned(
                self.poisoned
                    .lock()
                    .clone()
                    .unwrap_or_else(|| e.to_string()),
            ),
        };
        {
            let mut q = self.queue.queue_lock();
            for _ in 0..group.len() {
                q.pop_front();
            }
            if let Some(next) = q.front() {
                *next.state.lock() = ReqState::Leader;
                next.cv.notify_one();
            }
        }
        for r in group.iter().skip(1) {
            *r.state.lock() = ReqState::Done(outcome.clone());
            r.cv.notify_one();
        }
        result
    }

    fn commit_group(&self, group: &[Arc<Request>]) -> Result<()> {
        let mut w = self.queue.writer.lock();
        self.make_room(&mut w)?;

        let mut framed = Vec::new();
        let mut batches = Vec::with_capacity(group.len());
        let mut seq = w.last_seq + 1;
        let mut user_bytes = 0u64;
        for r in group {
            let Some(mut b) = r.batch.lock().take() else {
                continue;
            };
            let payload = b.encode(seq);
            user_bytes += (payload.len() - crate::batch::BATCH_HEADER_BYTES) as u64;
            encode_record(&mut framed, payload);
            let n = b.len() as u64;
            batches.push((seq, b));
            seq += n;
        }
        if let Err(e) = w.wal.append(&framed) {
            self.poison(format!("WAL append failed: {e}"));
            return Err(e.into());
        }
        if group.iter().any(|r| r.sync) {
            let t = Instant::now();
            if let Err(e) = w.wal.sync() {
                // IMPORTANT: never retried — see DbInner::poison.
                self.poison(format!("WAL fsync failed: {e}"));
                return Err(e.into());
            }
            Counters::add(&self.counters.wal_syncs, 1);
            Counters::add(
                &self.counters.wal_sync_micros,
                t.elapsed().as_micros() as u64,
            );
        }
        Counters::add(&self.counters.wal_bytes, framed.len() as u64);
        Counters::add(&self.counters.user_bytes, user_bytes);

        let sv = self.current();
        for (s, b) in &batches {
            sv.mem.apply(*s, b);
        }
        w.last_seq = seq - 1;
        // Published only after every batch of the group is in the memtable: readers never see
        // half a batch.
        self.visible_seq.store(w.last_seq, Ordering::SeqCst);
        Ok(())
    }

    /// Waits while flush or compaction is too far behind, and switches to a new memtable when
    /// the active one is full. Writers are slowed and then held, never failed.
    fn make_room(&self, w: &mut WriterState) -> Result<()> {
        let stall = StallOptions {
            l0_slowdown_writes_trigger: self.opts.l0_slowdown_writes_trigger,
            l0_stop_writes_trigger: self.opts.l0_stop_writes_trigger,
            max_immutable_memtables: self.opts.max_immutable_memtables,
        };
        let mut slowed = false;
        loop {
            self.check_writable()?;
            let sv = self.current();
            let l0 = sv
                .version
                .cfs
                .values()
                .map(|c| c.levels.first().map_or(0, |l| l.len()))
                .max()
                .unwrap_or(0);
            match write_stall(l0, 0, &stall) {
                StallDecision::Stop => {
                    self.stall_wait(None);
                    continue;
                }
                StallDecision::Slowdown(d) if !slowed => {
                    slowed = true;
                    self.stall_wait(Some(d));
                    continue;
                }
                _ => {}
            }
            if sv.mem.bytes() < self.opts.memtable_size_bytes {
                return Ok(());
            }
            if sv.imm.len() >= self.opts.max_immutable_memtables {
                self.stall_wait(None);
                continue;
            }
            return self.switch_memtable(w);
        }
    }

    fn stall_wait(&self, sleep: Option<Duration>) {
        let t = Instant::now();
        Counters::add(&self.counters.stalls, 1);
        match sleep {
            Some(d) => std::thread::sleep(d),
            None => {
                let mut g = self.bg.lock();
                if !g.shutting_down {
                    g.compaction_wanted = true;
                    self.bg_cv.notify_all();
                    self.bg_cv.wait_for(&mut g, STALL_POLL);
                }
            }
        }
        Counters::add(&self.counters.stall_micros, t.elapsed().as_micros() as u64);
    }

    /// Freezes the active memtables and starts a new WAL segment for their successors.
    pub(crate) fn switch_memtable(&self, w: &mut WriterState) -> Result<()> {
        // IMPORTANT: the old segment is synced before the new one exists, so only the newest
        // segment can ever end in a torn record (recovery relies on it), even with sync = false.
        if let Err(e) = w.wal.sync() {
            self.poison(format!("WAL fsync failed: {e}"));
            return Err(e.into());
        }
        let number = self.new_file_number();
        let wal = match WalWriter::create(self.fs.as_ref(), &self.dir, number) {
            Ok(wal) => wal,
            Err(e) => {
                self.poison(format!("cannot create WAL segment: {e}"));
                return Err(e.into());
            }
        };
        w.wal = wal;
        {
            let _vs = self.versions.lock();
            let cur = self.current();
            let mut imm = Vec::with_capacity(cur.imm.len() + 1);
            imm.push(cur.mem.clone());
            imm.extend(cur.imm.iter().cloned());
            *self.sv.write() = Arc::new(SuperVersion {
                mem: Arc::new(MemGroup::new(number)),
                imm,
                version: cur.version.clone(),
            });
        }
        self.bg_cv.notify_all();
        Ok(())
    }
}

impl WriteQueue {
    fn queue_lock(&self) -> parking_lot::MutexGuard<'_, VecDeque<Arc<Request>>> {
        self.queue.lock()
    }
}

fn outcome_to_result(o: Outcome) -> Result<()> {
    match o {
        Outcome::Ok => Ok(()),
        Outcome::Poisoned(reason) => Err(Error::Poisoned { reason }),
        Outcome::Closed => Err(Error::Closed),
    }
}
