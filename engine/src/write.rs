//! The write path: group commit, write stalls and memtable switches.
//!
//! Writers queue their batches. The writer at the head of the queue becomes the *leader*: it
//! takes the batches queued behind it (up to `MAX_GROUP_BYTES`), gives them consecutive
//! sequence numbers, appends them to the WAL in one write, fsyncs once for the whole group,
//! applies them to the memtable, publishes the new visible sequence number, and only then wakes
//! the followers with the group's outcome. So N concurrent durable writers cost about one fsync,
//! not N — and nobody is answered before their bytes are on disk.
//!
//! **Linger.** When a durable group finishes, its followers are woken and the next leader is
//! promoted at the same moment; the followers then need a few microseconds to return, produce
//! their next write and queue again — by which time the new leader has already taken a group
//! without them. With 4 durable writers that splits them into groups of about two, and each
//! group pays a whole fsync. So a leader whose batch is durable, when the previous group had
//! more than one writer (evidence of concurrency), waits briefly for the queue to grow before
//! taking its group: it yields the CPU until the queue holds as many requests as the previous
//! group, or the queue stops growing, or `MAX_LINGER` has passed (small next to an fsync, which
//! costs 100 µs–several ms). A lone writer never lingers. The linger changes only how writes are
//! grouped, never when one is acknowledged: still only after the fsync covering it.

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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most bytes of batches one leader commits at once (more waits for the next group), so a
/// small write never waits behind an unbounded amount of other writers' data.
const MAX_GROUP_BYTES: usize = 4 << 20;
/// How long a stalled writer sleeps between checks, if no background event wakes it first.
const STALL_POLL: Duration = Duration::from_millis(50);
/// Longest a durable leader waits for the previous group's writers to queue again.
const MAX_LINGER: Duration = Duration::from_micros(60);
/// The linger ends early once the queue has not grown for this long.
const LINGER_IDLE: Duration = Duration::from_micros(15);

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
    /// True while `wal` is a segment that `try_resume` created for after the resumption: the
    /// active memtable group is already frozen behind it, and nothing may be appended to it
    /// until the frozen groups are flushed (resume.rs).
    pub wal_awaits_resume: bool,
}

pub(crate) struct WriteQueue {
    queue: Mutex<VecDeque<Arc<Request>>>,
    pub writer: Mutex<WriterState>,
    /// Requests in the last durable group (0 after a group without sync); read by the next
    /// leader to decide whether to linger. A hint only: Relaxed.
    last_sync_group: AtomicUsize,
}

impl WriteQueue {
    pub fn new(wal: WalWriter, last_seq: SeqNo) -> Self {
        WriteQueue {
            queue: Mutex::new(VecDeque::new()),
            writer: Mutex::new(WriterState {
                wal,
                last_seq,
                wal_awaits_resume: false,
            }),
            last_sync_group: AtomicUsize::new(0),
        }
    }

    /// The durable leader's wait for stragglers (see the module docs). Returns at once unless
    /// the previous durable group had several writers and this queue holds fewer.
    fn linger(&self) {
        let want = self.last_sync_group.load(Ordering::Relaxed);
        if want <= 1 {
            return;
        }
        let start = Instant::now();
        let mut len = self.queue.lock().len();
        let mut grew_at = start;
        while len < want {
            std::thread::yield_now();
            let now = Instant::now();
            if now - start >= MAX_LINGER || now - grew_at >= LINGER_IDLE {
                break;
            }
            let l = self.queue.lock().len();
            if l > len {
                len = l;
                grew_at = now;
            }
        }
    }

    pub fn sync_wal(&self) -> Result<()> {
        Ok(self.writer.lock().wal.sync()?)
    }
}

impl DbInner {
    pub(crate) fn write_batch(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        self.maybe_resume();
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
        if sync {
            self.queue.linger();
        }
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
        let durable = group.iter().any(|r| r.sync);
        self.queue
            .last_sync_group
            .store(if durable { group.len() } else { 0 }, Ordering::Relaxed);
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
        // Followers first (their writes are done; they may already queue their next ones while
        // the next leader is promoted and lingers), then the next leader.
        for r in group.iter().skip(1) {
            *r.state.lock() = ReqState::Done(outcome.clone());
            r.cv.notify_one();
        }
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
        result
    }

    fn commit_group(&self, group: &[Arc<Request>]) -> Result<()> {
        let mut w = self.queue.writer.lock();
        self.make_room(&mut w)?;

        let mut framed = Vec::new();
        let mut batches = Vec::with_capacity(group.len());
        let mut seq = w.last_seq + 1;
        let mut user_bytes = 0u64;
        let synced = w.wal.synced();
        for r in group {
            let Some(b) = r.batch.lock().take() else {
                continue;
            };
            let payload = b.encode(seq);
            user_bytes += b.entries_bytes() as u64;
            // Cannot fail: `Db::write` refused batches over MAX_BATCH_BYTES, far below a
            // record's limit. Nothing has been written yet if it does.
            encode_record(&mut framed, &payload, synced)?;
            let n = b.len() as u64;
            batches.push((seq, b));
            seq += n;
        }
        if let Err(e) = w.wal.append(&framed) {
            self.poison_for("WAL append failed", &e);
            return Err(e.into());
        }
        if group.iter().any(|r| r.sync) {
            let t = Instant::now();
            if let Err(e) = w.wal.sync() {
                // IMPORTANT: never retried — see DbInner::poison. A full disk can be resumed
                // from, but only on a new segment after a flush (resume.rs), never this one.
                self.poison_for("WAL fsync failed", &e);
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
            self.poison_for("WAL fsync failed", &e);
            return Err(e.into());
        }
        let number = self.new_file_number();
        let wal = match WalWriter::create(self.fs.as_ref(), &self.dir, number) {
            Ok(wal) => wal,
            Err(e) => {
                self.poison_for("cannot create WAL segment", &e);
                return Err(e.into());
            }
        };
        w.wal = wal;
        self.freeze_active(number);
        self.bg_cv.notify_all();
        Ok(())
    }

    /// Freezes the active memtable group (newest of the frozen ones) and starts an empty one
    /// whose writes go to WAL segment `wal_number`. Caller holds the writer lock, so every
    /// write in the frozen group is already visible.
    pub(crate) fn freeze_active(&self, wal_number: u64) {
        let _vs = self.versions.lock();
        let cur = self.current();
        let mut imm = Vec::with_capacity(cur.imm.len() + 1);
        imm.push(cur.mem.clone());
        imm.extend(cur.imm.iter().cloned());
        *self.sv.write() = Arc::new(SuperVersion {
            mem: Arc::new(MemGroup::new(wal_number, self.opts.memtable_size_bytes)),
            imm,
            version: cur.version.clone(),
        });
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
