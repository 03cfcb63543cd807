//! A cursor over a whole table: a two-level iterator, the table's decoded index choosing data
//! blocks, which are loaded lazily (through the cache) as the cursor reaches them.
//!
//! Besides the per-entry checks of [`BlockIter`], the cursor checks that each data block agrees
//! with its index entry: no entry sorts after the index key, the last entry *is* the index key,
//! and the next block starts after it. So even a table whose checksums are valid but whose blocks
//! disagree (a crafted file) cannot make a scan go backwards.

use super::reader::TableReader;
use crate::block::BlockIter;
use kvstore_base::iter::InternalIterator;
use kvstore_base::key::cmp_internal;
use kvstore_base::{Error, Result, SeqNo, ValueKind};
use std::cmp::Ordering;
use std::sync::Arc;

/// Iterates a table in internal-key order. Holds the table (and the current block) alive.
///
/// Invariant: when `data` is `Some`, it iterates the block named by index entry `pos`;
/// `valid()` is true only when `data` is positioned on an entry. After an error `data` is
/// reset, so `valid()` is false.
pub struct TableIterator {
    table: Arc<TableReader>,
    /// The current index entry; `index().len()` when past the last one.
    pos: usize,
    data: Option<BlockIter>,
}

impl TableIterator {
    pub(crate) fn new(table: Arc<TableReader>) -> Self {
        let pos = table.index().len();
        TableIterator {
            table,
            pos,
            data: None,
        }
    }

    /// Opens the data block of the current index entry, if any.
    fn load_block(&mut self) -> Result<()> {
        self.data = None;
        if let Some(handle) = self.table.index().handle(self.pos) {
            let (block, checked) = self.table.data_block(self.pos, handle)?;
            // A block that passed `TableReader::check_block` is in order and ends with its
            // index key: its cursor skips the order checks, and this iterator the per-entry
            // comparison with the index key (`check_against_index`).
            self.data = Some(BlockIter::with_known_order(block, checked));
        }
        Ok(())
    }

    /// Checks the current data entry against the current index key: never after it, and equal
    /// to it on the block's last entry. An exhausted block right after a seek is also an error:
    /// the index promised an entry at or after the target in it.
    fn check_against_index(&self) -> Result<()> {
        let Some(d) = &self.data else { return Ok(()) };
        if !d.valid() {
            return Err(block_error(
                &self.table,
                d,
                "data block ends before the key its index entry names",
            ));
        }
        if d.order_known() {
            return Ok(());
        }
        let index = self.table.index();
        let ord = cmp_internal(
            d.user_key(),
            d.seq(),
            index.user_key(self.pos),
            index.seq(self.pos),
        );
        if ord == Ordering::Greater || (d.at_last_entry() && ord != Ordering::Equal) {
            return Err(block_error(
                &self.table,
                d,
                "data block disagrees with its index entry",
            ));
        }
        Ok(())
    }

    /// Moves to the first entry of following blocks while the current block is exhausted.
    fn skip_exhausted_blocks(&mut self) -> Result<()> {
        while self.data.as_ref().is_some_and(|d| !d.valid()) {
            // The next block must start after this block's last key (its index key).
            let prev = self.pos;
            self.pos += 1;
            self.load_block()?;
            if let Some(d) = &mut self.data {
                d.seek_to_first()?;
                let index = self.table.index();
                if d.valid()
                    && cmp_internal(d.user_key(), d.seq(), index.user_key(prev), index.seq(prev))
                        != Ordering::Greater
                {
                    return Err(block_error(
                        &self.table,
                        d,
                        "data block starts before the previous one ends",
                    ));
                }
                self.check_against_index()?;
            }
        }
        Ok(())
    }

    /// Resets the cursor after an error so that `valid()` is false.
    fn guard(&mut self, r: Result<()>) -> Result<()> {
        if r.is_err() {
            self.data = None;
            self.pos = self.table.index().len();
        }
        r
    }
}

impl InternalIterator for TableIterator {
    fn valid(&self) -> bool {
        self.data.as_ref().is_some_and(|d| d.valid())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        let r = (|| {
            self.pos = 0;
            self.load_block()?;
            if let Some(d) = &mut self.data {
                d.seek_to_first()?;
            }
            self.check_against_index()
        })();
        self.guard(r)
    }

    fn seek(&mut self, user_key: &[u8], seq: SeqNo) -> Result<()> {
        let r = (|| {
            // The first block whose last key is >= the target holds the first entry >= it.
            self.pos = self.table.index().seek(user_key, seq);
            self.load_block()?;
            if let Some(d) = &mut self.data {
                d.seek(user_key, seq)?;
            }
            self.check_against_index()
        })();
        self.guard(r)
    }

    fn next(&mut self) -> Result<()> {
        let r = (|| {
            if let Some(d) = &mut self.data {
                d.next()?;
                if d.valid() {
                    return self.check_against_index();
                }
            }
            self.skip_exhausted_blocks()
        })();
        self.guard(r)
    }

    // Accessors are only called while `valid()`, which implies `data` is `Some`; neutral
    // values stand in otherwise so that a contract violation cannot panic.
    fn user_key(&self) -> &[u8] {
        self.data.as_ref().map_or(&[], |d| d.user_key())
    }

    fn seq(&self) -> SeqNo {
        self.data.as_ref().map_or(0, |d| d.seq())
    }

    fn kind(&self) -> ValueKind {
        self.data.as_ref().map_or(ValueKind::Put, |d| d.kind())
    }

    fn value(&self) -> &[u8] {
        self.data.as_ref().map_or(&[], |d| d.value())
    }
}

fn block_error(table: &TableReader, d: &BlockIter, detail: &str) -> Error {
    Error::corruption(table.path(), d.block().origin().offset, detail)
}
