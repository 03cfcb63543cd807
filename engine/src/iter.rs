//! Read-path iterators: [`LevelIterator`] over one sorted level, and [`DbIterator`], the
//! user-facing range scan that merges every source at one sequence number.

use crate::error::Result;
use crate::range_del::Fragments;
use crate::stats::CorruptionLog;
use crate::version::{TableFile, Version};
use kvstore_base::iter::InternalIterator;
use kvstore_base::key::cmp_bytes;
use kvstore_base::{SeqNo, ValueKind, MAX_SEQ};
use kvstore_compaction::MergingIterator;
use kvstore_sstable::TableIterator;
use std::ops::Bound;
use std::sync::Arc;

/// A boxed source for the merging iterator.
pub(crate) type BoxedIter = Box<dyn InternalIterator + Send>;

/// Concatenates the tables of one level ≥ 1 (sorted, non-overlapping), opening each table's
/// iterator only when the cursor reaches it.
///
/// Holds the whole version (one reference count) rather than a copy of the level's file list,
/// which for a level of many tables cost a reference-count increment and decrement per table
/// on every seek.
pub(crate) struct LevelIterator {
    version: Arc<Version>,
    cf: u32,
    level: usize,
    idx: usize,
    cur: Option<TableIterator>,
}

impl LevelIterator {
    /// Iterates `level` of `cf` in `version`.
    pub(crate) fn new(version: Arc<Version>, cf: u32, level: usize) -> Self {
        let mut it = LevelIterator {
            version,
            cf,
            level,
            idx: 0,
            cur: None,
        };
        it.idx = it.files().len();
        it
    }

    /// The level's tables, in key order.
    fn files(&self) -> &[Arc<TableFile>] {
        self.version
            .cfs
            .get(&self.cf)
            .and_then(|c| c.levels.get(self.level))
            .map_or(&[], |l| l.as_slice())
    }

    fn open(&mut self, idx: usize) {
        self.idx = idx;
        self.cur = self.files().get(idx).map(|t| t.reader.iter());
    }

    /// Moves to following tables while the current one is exhausted.
    fn skip_exhausted(&mut self) -> kvstore_base::Result<()> {
        while let Some(c) = &self.cur {
            if c.valid() {
                break;
            }
            self.open(self.idx + 1);
            if let Some(c) = &mut self.cur {
                c.seek_to_first()?;
            }
        }
        Ok(())
    }
}

impl InternalIterator for LevelIterator {
    fn valid(&self) -> bool {
        self.cur.as_ref().is_some_and(|c| c.valid())
    }

    fn seek_to_first(&mut self) -> kvstore_base::Result<()> {
        self.open(0);
        if let Some(c) = &mut self.cur {
            c.seek_to_first()?;
        }
        self.skip_exhausted()
    }

    fn seek(&mut self, user_key: &[u8], seq: SeqNo) -> kvstore_base::Result<()> {
        let i = self
            .files()
            .partition_point(|t| cmp_bytes(&t.meta.largest, user_key).is_lt());
        self.open(i);
        if let Some(c) = &mut self.cur {
            c.seek(user_key, seq)?;
        }
        self.skip_exhausted()
    }

    fn next(&mut self) -> kvstore_base::Result<()> {
        if let Some(c) = &mut self.cur {
            c.next()?;
        }
        self.skip_exhausted()
    }

    fn user_key(&self) -> &[u8] {
        self.cur.as_ref().map(|c| c.user_key()).unwrap_or_default()
    }

    fn seq(&self) -> SeqNo {
        self.cur.as_ref().map(|c| c.seq()).unwrap_or_default()
    }

    fn kind(&self) -> ValueKind {
        self.cur
            .as_ref()
            .map(|c| c.kind())
            .unwrap_or(ValueKind::Delete)
    }

    fn value(&self) -> &[u8] {
        self.cur.as_ref().map(|c| c.value()).unwrap_or_default()
    }
}

/// Iterator over live `(key, value)` pairs in key order, as of one sequence number.
///
/// It owns everything it reads (memtables and tables are reference-counted), so it stays
/// consistent while writes, flushes and compactions go on; a long-lived iterator therefore pins
/// the memory of the memtables and the files of the tables it was built over.
pub struct DbIterator {
    inner: MergingIterator<BoxedIter>,
    seq: SeqNo,
    start: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
    prefix: Option<Vec<u8>>,
    started: bool,
    done: bool,
    /// The user key last decided (returned or found deleted): older versions of it are skipped.
    /// Meaningful only while `has_last`; the buffer is reused from key to key, so a scan
    /// allocates only the key and value it returns.
    last_key: Vec<u8>,
    has_last: bool,
    /// The merge is still on the entry last returned; the next call first steps past it.
    pending_next: bool,
    /// Range tombstones visible at `seq`: a live-looking entry they cover is skipped.
    range_dels: Fragments,
    corruption: Arc<CorruptionLog>,
}

impl DbIterator {
    pub(crate) fn new(
        children: Vec<BoxedIter>,
        seq: SeqNo,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        prefix: Option<Vec<u8>>,
        range_dels: Fragments,
        corruption: Arc<CorruptionLog>,
    ) -> Self {
        DbIterator {
            corruption,
            range_dels,
            inner: MergingIterator::new(children),
            seq,
            start,
            end,
            prefix,
            started: false,
            done: false,
            last_key: Vec::new(),
            has_last: false,
            pending_next: false,
        }
    }

    fn past_end(&self, key: &[u8]) -> bool {
        if let Some(p) = &self.prefix {
            if !key.starts_with(p) {
                return true;
            }
        }
        match &self.end {
            Bound::Included(e) => key > e.as_slice(),
            Bound::Excluded(e) => key >= e.as_slice(),
            Bound::Unbounded => false,
        }
    }

    /// Moves to the next live entry; `Ok(false)` at the end. The entry is the merge's current
    /// one, left in place (`pending_next`) so the caller can borrow its key and value.
    fn advance(&mut self) -> Result<bool> {
        if !self.started {
            self.started = true;
            match &self.start {
                Bound::Included(k) => self.inner.seek(k, MAX_SEQ)?,
                Bound::Excluded(k) => {
                    self.inner.seek(k, MAX_SEQ)?;
                    self.last_key.clear();
                    self.last_key.extend_from_slice(k);
                    self.has_last = true;
                }
                Bound::Unbounded => self.inner.seek_to_first()?,
            }
        }
        if self.pending_next {
            self.pending_next = false;
            self.inner.next()?;
        }
        while self.inner.valid() {
            if self.inner.seq() > self.seq {
                self.inner.next()?;
                continue;
            }
            let key = self.inner.user_key();
            if self.has_last && self.last_key.as_slice() == key {
                self.inner.next()?;
                continue;
            }
            if self.past_end(key) {
                return Ok(false);
            }
            self.last_key.clear();
            self.last_key.extend_from_slice(key);
            self.has_last = true;
            if self.inner.kind() == ValueKind::Put && !self.range_dels.covers(key, self.inner.seq())
            {
                self.pending_next = true;
                return Ok(true);
            }
            self.inner.next()?;
        }
        Ok(false)
    }

    /// The next live `(key, value)`, borrowed from the iterator until the next call: a scan
    /// that only looks at its entries allocates nothing (the [`Iterator`] impl copies each
    /// one into owned `Vec`s). `None` at the end and after an error.
    #[allow(clippy::should_implement_trait)]
    pub fn next_ref(&mut self) -> Option<Result<(&[u8], &[u8])>> {
        if self.done {
            return None;
        }
        match self.advance() {
            Ok(true) => Some(Ok((self.inner.user_key(), self.inner.value()))),
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                self.corruption.note(&e);
                Some(Err(e))
            }
        }
    }
}

impl Iterator for DbIterator {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_ref()
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
    }
}
