//! Read-path iterators: [`LevelIterator`] over one sorted level, and [`DbIterator`], the
//! user-facing range scan that merges every source at one sequence number.

use crate::error::Result;
use crate::stats::CorruptionLog;
use crate::version::TableFile;
use kvstore_base::iter::InternalIterator;
use kvstore_base::{SeqNo, ValueKind, MAX_SEQ};
use kvstore_compaction::MergingIterator;
use kvstore_sstable::TableIterator;
use std::ops::Bound;
use std::sync::Arc;

/// A boxed source for the merging iterator.
pub(crate) type BoxedIter = Box<dyn InternalIterator + Send>;

/// Concatenates the tables of one level ≥ 1 (sorted, non-overlapping), opening each table's
/// iterator only when the cursor reaches it.
pub(crate) struct LevelIterator {
    files: Vec<Arc<TableFile>>,
    idx: usize,
    cur: Option<TableIterator>,
}

impl LevelIterator {
    pub(crate) fn new(files: Vec<Arc<TableFile>>) -> Self {
        LevelIterator {
            idx: files.len(),
            files,
            cur: None,
        }
    }

    fn open(&mut self, idx: usize) {
        self.idx = idx;
        self.cur = self.files.get(idx).map(|t| t.reader.iter());
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
            .files
            .partition_point(|t| t.meta.largest.as_slice() < user_key);
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
    corruption: Arc<CorruptionLog>,
}

impl DbIterator {
    pub(crate) fn new(
        children: Vec<BoxedIter>,
        seq: SeqNo,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        prefix: Option<Vec<u8>>,
        corruption: Arc<CorruptionLog>,
    ) -> Self {
        DbIterator {
            corruption,
            inner: MergingIterator::new(children),
            seq,
            start,
            end,
            prefix,
            started: false,
            done: false,
            last_key: Vec::new(),
            has_last: false,
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

    fn step(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
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
                return Ok(None);
            }
            let item = match self.inner.kind() {
                ValueKind::Put => Some((key.to_vec(), self.inner.value().to_vec())),
                ValueKind::Delete => None,
            };
            self.last_key.clear();
            self.last_key.extend_from_slice(self.inner.user_key());
            self.has_last = true;
            self.inner.next()?;
            if item.is_some() {
                return Ok(item);
            }
        }
        Ok(None)
    }
}

impl Iterator for DbIterator {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(kv)) => Some(Ok(kv)),
            Ok(None) => {
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
