//! Resuming writes after the disk filled up, without a restart.
//!
//! A write that fails with "no space" poisons the database like any failed persist — but this
//! kind of poison can be lifted once space returns. Lifting it never reuses the WAL segment
//! that failed (its tail may hold a partial record, and its durable content is unknown):
//!
//! 0. a new manifest is written (the old one may end in a failed append);
//! 1. the active memtable group is frozen behind a fresh *future* WAL number `N`;
//! 2. every frozen group is flushed to tables; each flush's manifest edit advances
//!    `log_number`, finally to `N`, which makes the failed segment obsolete (it is deleted);
//! 3. only then is segment `N` created and writes accepted again.
//!
//! Crash reasoning: until the manifest edit of step 2 is durable, recovery replays the failed
//! segment as the newest one, where a partial record is a torn tail — exactly the write that
//! was never acknowledged. After it, recovery ignores that segment. If space runs out again
//! during steps 2–3 the database stays poisoned and a later attempt continues where this one
//! stopped. The memtables hold every acknowledged write throughout (the failed batch was never
//! applied), so nothing acknowledged depends on the abandoned segment.

use crate::db::{DbInner, MemGroup, SuperVersion};
use crate::error::{Error, Result};
use crate::wal::WalWriter;
use std::sync::atomic::Ordering;
use std::sync::Arc;

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
        // Step 1: freeze the active group behind a future segment number (once).
        {
            let _vs = self.versions.lock();
            let cur = self.current();
            if cur.mem.wal_number == w.wal.number() {
                let number = self.new_file_number();
                let mut imm = Vec::with_capacity(cur.imm.len() + 1);
                imm.push(cur.mem.clone());
                imm.extend(cur.imm.iter().cloned());
                *self.sv.write() = Arc::new(SuperVersion {
                    mem: Arc::new(MemGroup::new(number, self.opts.memtable_size_bytes)),
                    imm,
                    version: cur.version.clone(),
                });
            }
        }
        // Step 2: flush everything frozen; log_number moves past the failed segment.
        while !self.current().imm.is_empty() {
            self.flush_oldest()?;
        }
        // Step 3: the new segment, then writes again.
        let number = self.current().mem.wal_number;
        w.wal = WalWriter::create(self.fs.as_ref(), &self.dir, number)?;
        *self.poisoned.lock() = None;
        self.poison_recoverable.store(false, Ordering::Release);
        tracing::info!(previous = %reason, "writes resumed after the disk had filled up");
        self.bg_cv.notify_all();
        Ok(true)
    }
}
