//! The cursor trait every sorted source of internal entries implements: memtables, SSTable
//! blocks and tables, merging and level iterators.
//!
//! Contract (to ensure correctness, implementers must):
//! - yield entries in internal-key order (see [`crate::key`]), each `(user_key, seq)` at most once;
//! - after `seek(k, s)`, be positioned at the first entry whose internal key is `>= (k, s)`,
//!   i.e. user key `> k`, or user key `== k` with sequence `<= s`;
//! - return accessor values only while [`InternalIterator::valid`] is true;
//! - report damaged data as an `Err` from the moving call, after which `valid()` is false.

use crate::{Result, SeqNo, ValueKind};

pub trait InternalIterator {
    /// True while positioned on an entry.
    fn valid(&self) -> bool;
    /// Positions on the first entry.
    fn seek_to_first(&mut self) -> Result<()>;
    /// Positions on the first entry `>= (user_key, seq)` in internal order.
    fn seek(&mut self, user_key: &[u8], seq: SeqNo) -> Result<()>;
    /// Advances to the next entry.
    fn next(&mut self) -> Result<()>;
    /// The current entry's user key. Only while `valid()`.
    fn user_key(&self) -> &[u8];
    /// The current entry's sequence number. Only while `valid()`.
    fn seq(&self) -> SeqNo;
    /// The current entry's kind. Only while `valid()`.
    fn kind(&self) -> ValueKind;
    /// The current entry's value (empty for tombstones). Only while `valid()`.
    fn value(&self) -> &[u8];
}

impl<I: InternalIterator + ?Sized> InternalIterator for Box<I> {
    fn valid(&self) -> bool {
        (**self).valid()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        (**self).seek_to_first()
    }
    fn seek(&mut self, user_key: &[u8], seq: SeqNo) -> Result<()> {
        (**self).seek(user_key, seq)
    }
    fn next(&mut self) -> Result<()> {
        (**self).next()
    }
    fn user_key(&self) -> &[u8] {
        (**self).user_key()
    }
    fn seq(&self) -> SeqNo {
        (**self).seq()
    }
    fn kind(&self) -> ValueKind {
        (**self).kind()
    }
    fn value(&self) -> &[u8] {
        (**self).value()
    }
}

/// An iterator over an owned, sorted vector of entries; handy in tests and for small sources.
pub struct VecIterator {
    entries: Vec<(Vec<u8>, SeqNo, ValueKind, Vec<u8>)>,
    pos: usize,
}

impl VecIterator {
    /// `entries` must already be in internal-key order.
    pub fn new(entries: Vec<(Vec<u8>, SeqNo, ValueKind, Vec<u8>)>) -> Self {
        let pos = entries.len();
        VecIterator { entries, pos }
    }
}

impl InternalIterator for VecIterator {
    fn valid(&self) -> bool {
        self.pos < self.entries.len()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.pos = 0;
        Ok(())
    }
    fn seek(&mut self, user_key: &[u8], seq: SeqNo) -> Result<()> {
        self.pos = self.entries.partition_point(|(k, s, _, _)| {
            crate::key::cmp_internal(k, *s, user_key, seq) == std::cmp::Ordering::Less
        });
        Ok(())
    }
    fn next(&mut self) -> Result<()> {
        if self.pos < self.entries.len() {
            self.pos += 1;
        }
        Ok(())
    }
    fn user_key(&self) -> &[u8] {
        &self.entries[self.pos].0
    }
    fn seq(&self) -> SeqNo {
        self.entries[self.pos].1
    }
    fn kind(&self) -> ValueKind {
        self.entries[self.pos].2
    }
    fn value(&self) -> &[u8] {
        &self.entries[self.pos].3
    }
}
