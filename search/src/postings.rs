//! Streaming over one term's postings through an engine snapshot.
//!
//! A [`PostingCursor`] wraps the snapshot's prefix iterator over `term 0x00` in `inverted`:
//! it holds one posting at a time, so a query's memory is one posting per open cursor, however
//! long the lists are. Postings arrive in document-key order (the engine's key order), which is
//! what lets [`crate::searcher`] merge several lists document-at-a-time.
//!
//! [`PostingCursor::seek`] skips forward: a few steps in place, then, for a long jump, a new
//! range scan of the same snapshot starting at the target (the engine seeks each level), so a
//! frequent term is not read in full when the query only needs a few of its documents.

use crate::error::Result;
use crate::keys::{decode_posting, decode_posting_head, posting_prefix, Posting};
use kvstore_engine::{ColumnFamily, DbIterator, Snapshot};
use std::ops::Bound;

/// Steps taken in place before a seek reopens the scan at its target.
pub const SEEK_STEPS_IN_PLACE: usize = 16;

/// A forward-only cursor over the postings of one term.
pub struct PostingCursor<'a> {
    snap: &'a Snapshot,
    inverted: &'a ColumnFamily,
    iter: DbIterator,
    /// `term 0x00`.
    prefix: Vec<u8>,
    /// The current posting's full key and value; `None` once exhausted.
    current: Option<(Vec<u8>, Vec<u8>)>,
    /// Scans reopened by `seek` (for statistics and tests).
    reseeks: usize,
}

impl<'a> PostingCursor<'a> {
    /// Opens the postings of `term`, positioned on the first one.
    pub fn open(
        snap: &'a Snapshot,
        inverted: &'a ColumnFamily,
        term: &str,
    ) -> Result<PostingCursor<'a>> {
        let prefix = posting_prefix(term);
        let mut c = PostingCursor {
            snap,
            inverted,
            iter: snap.scan_prefix_cf(inverted, &prefix)?,
            prefix,
            current: None,
            reseeks: 0,
        };
        c.advance()?;
        Ok(c)
    }

    /// The current document key, `None` when exhausted.
    pub fn doc(&self) -> Option<&[u8]> {
        self.current.as_ref().map(|(k, _)| &k[self.prefix.len()..])
    }

    /// Term frequency and document length of the current posting.
    pub fn head(&self) -> Result<(u32, u32)> {
        match &self.current {
            Some((k, v)) => decode_posting_head(k, v),
            None => Ok((0, 0)),
        }
    }

    /// The current posting with its positions.
    pub fn posting(&self) -> Result<Option<Posting>> {
        self.current
            .as_ref()
            .map(|(k, v)| decode_posting(k, v))
            .transpose()
    }

    /// Moves to the next posting.
    pub fn advance(&mut self) -> Result<()> {
        self.current = self.iter.next().transpose()?;
        Ok(())
    }

    /// Moves forward to the first posting whose document key is `>= target`.
    pub fn seek(&mut self, target: &[u8]) -> Result<()> {
        for _ in 0..SEEK_STEPS_IN_PLACE {
            match self.doc() {
                Some(d) if d < target => self.advance()?,
                _ => return Ok(()),
            }
        }
        if !matches!(self.doc(), Some(d) if d < target) {
            return Ok(());
        }
        let mut start = self.prefix.clone();
        start.extend_from_slice(target);
        // `term 0x01` bounds the term's postings from above (terms hold no 0x00).
        let mut end = self.prefix.clone();
        if let Some(last) = end.last_mut() {
            *last = 1;
        }
        self.iter = self.snap.scan_cf(
            self.inverted,
            (Bound::Included(start), Bound::Excluded(end)),
        )?;
        self.reseeks += 1;
        self.advance()
    }

    /// How many times `seek` reopened the scan.
    pub fn reseeks(&self) -> usize {
        self.reseeks
    }
}
