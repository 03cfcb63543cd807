//! Resuming writes after the disk filled up, without a restart.
//!
//! A write that fails with "no space" poisons the database like any failed persist — but this
//! kind of poison can be lifted once space returns. Lifting it never reuses the WAL segment
//! that failed (its tail may hold a partial record, and its durable content is unknown):
//!
//! 0. a new manifest is written (the old one may end in a failed append);
//! 1. a fresh WAL segment `N` is created and synced, and the active memtable group is frozen
//!    behind it (once: a retry finds both done);
//! 2. every frozen group is flushed to tables; each flush's manifest edit advances
//!    `log_number`, finally to `N`, which makes the failed segment obsolete (it is deleted);
//! 3. only then are writes accepted again, into `N`.
//!
//! Crash reasoning: segment `N` exists, synced and with its name durable, before any manifest
//! edit can name it (an edit naming a missing segment is how recovery recognises a lost edit).
//! Until the manifest edit of step 2 is durable, recovery replays the failed segment, whose
//! partial record is a torn tail: only empty segments (`N`, or ones whose creation failed) follow
//! it, which is the one place besides the newest segment where recovery accepts a torn tail
//! (see `Db::open`) — and it is exactly the write that was never acknowledged. After that edit,
//! recovery ignores the failed segment. If space runs out again during steps 1–3 the database
//! stays poisoned and a later attempt continues where this one stopped. The memtables hold
//! every acknowledged write throughout (the failed batch was never applied), so nothing
//! acknowledged depends on the abandoned segment.

use crate::db::DbInner;
use crate::error::{Error, Result};
use crate::wal::WalWriter;
use std::sync::atomic::Ordering;

impl DbInner {
    /// Tries to lift a "no space" poison. `Ok(true)` when writes are accepted again,
    /// `Ok(false)` when the database was not poisoned; an error when it stays poisoned.
    pub(crate) fn try_resume(&self) -> Result<bool> {
        let mut w = self.queue.writer.lock();
        let Some(reason) = self.poisoned.lock().clone() else {
            return Ok(false);
        };
        if !self.poison_recoverable.load(Ordering::Acquire) {
            return Err(Error::Poisoned { reason });
        }
        // The manifest may end in a failed append: continue in a fresh one.
        {
            let mut vs = self.versions.lock();
            self.roll_manifest(&mut vs)?;
        }
        // Step 1: a new segment, durable before any edit names it, and the active group frozen
        // behind it.
        if !w.wal_awaits_resume {
            let number = self.new_file_number();
            w.wal = WalWriter::create(self.fs.as_ref(), &self.dir, number)?;
            self.freeze_active(number);
            w.wal_awaits_resume = true;
        }
        // Step 2: flush everything frozen; log_number moves past the failed segment.
        while !self.current().imm.is_empty() {
            self.flush_oldest()?;
        }
        // Step 3: writes again, into the new segment.
        w.wal_awaits_resume = false;
        *self.poisoned.lock() = None;
        self.poison_recoverable.store(false, Ordering::Release);
        tracing::info!(previous = %reason, "writes resumed after the disk had filled up");
        self.bg_cv.notify_all();
        Ok(true)
    }
}
