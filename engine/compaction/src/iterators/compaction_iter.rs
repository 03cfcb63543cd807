//! [`CompactionIterator`]: drops the versions no reader can see any more.
//!
//! Snapshot stripes: with live snapshots `s_0 < s_1 < ... < s_k`, the versions of a user key
//! are grouped by the smallest snapshot `>= seq` (stripe `i` holds `s_{i-1} < seq <= s_i`); the
//! versions newer than every snapshot form the "latest" stripe. A reader at snapshot `s_i` sees
//! the newest version with `seq <= s_i`, which is always the newest version of some stripe
//! `<= i`. So keeping the newest version of each stripe, and dropping the rest, changes no
//! snapshot's answer.
//!
//! Tombstones: a kept `Delete` still matters if it hides something. When the output is
//! `bottommost` (no older data below), it hides only versions of the same key in older stripes
//! of this input; if there are none, it is dropped too. Otherwise every kept `Delete` stays.
//!
//! Invariant: the output is a subsequence of the input, so it stays in internal-key order.

use kvstore_base::iter::InternalIterator;
use kvstore_base::{Result, SeqNo, ValueKind};

/// Filters a sorted input (usually a [`crate::MergingIterator`]) down to the versions some
/// snapshot can still read.
///
/// Supports `seek_to_first` and `next`, which are all a compaction needs; `seek(k, s)` is also
/// supported (it restarts at the first version of `k` so stripes are computed from the start of
/// that key, then skips output entries before `(k, s)`).
pub struct CompactionIterator<I: InternalIterator> {
    input: I,
    /// Live snapshot sequence numbers, ascending and distinct.
    snapshots: Vec<SeqNo>,
    bottommost: bool,
    /// The current output entry; meaningful only while `valid`.
    key: Vec<u8>,
    seq: SeqNo,
    kind: ValueKind,
    value: Vec<u8>,
    valid: bool,
    /// The user key whose versions are being processed, and the stripe of its last kept version.
    /// `None` stripe: no version of `key` kept yet.
    last_stripe: Option<usize>,
    dropped: u64,
    dropped_tombstones: u64,
}

impl<I: InternalIterator> CompactionIterator<I> {
    /// `snapshots`: live snapshot sequence numbers (sorted and de-duplicated here, ascending is
    /// expected). `bottommost`: no level below the output holds data in this key range.
    pub fn new(input: I, mut snapshots: Vec<SeqNo>, bottommost: bool) -> Self {
        snapshots.sort_unstable();
        snapshots.dedup();
        CompactionIterator {
            input,
            snapshots,
            bottommost,
            key: Vec::new(),
            seq: 0,
            kind: ValueKind::Put,
            value: Vec::new(),
            valid: false,
            last_stripe: None,
            dropped: 0,
            dropped_tombstones: 0,
        }
    }

    /// Entries of the input not emitted (obsolete versions and dropped tombstones), counted
    /// over the iterator's life (a re-seek counts again what it passes over).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Of [`Self::dropped`], the tombstones dropped at the bottommost level.
    pub fn dropped_tombstones(&self) -> u64 {
        self.dropped_tombstones
    }

    /// Gives the input back, e.g. to read its statistics.
    pub fn into_inner(self) -> I {
        self.input
    }

    /// Index of the stripe `seq` belongs to; `snapshots.len()` is the "latest" stripe.
    fn stripe(&self, seq: SeqNo) -> usize {
        self.snapshots.partition_point(|&s| s < seq)
    }

    /// Copies the input's current entry into the output slot.
    fn take_current(&mut self) {
        self.key.clear();
        self.key.extend_from_slice(self.input.user_key());
        self.seq = self.input.seq();
        self.kind = self.input.kind();
        self.value.clear();
        self.value.extend_from_slice(self.input.value());
    }

    /// Advances the input to the next entry to emit and positions the output on it.
    fn find_next(&mut self) -> Result<()> {
        self.valid = false;
        let r = self.find_next_inner();
        if r.is_err() {
            self.valid = false;
        }
        r
    }

    fn find_next_inner(&mut self) -> Result<()> {
        while self.input.valid() {
            let stripe = self.stripe(self.input.seq());
            let same_key =
                self.last_stripe.is_some() && self.input.user_key() == self.key.as_slice();
            if same_key && self.last_stripe == Some(stripe) {
                // An older version in a stripe that already has its newest: no reader sees it.
                self.dropped += 1;
                self.input.next()?;
                continue;
            }
            // The newest version of its stripe: kept, unless it is a removable tombstone.
            self.take_current();
            self.last_stripe = Some(stripe);
            self.input.next()?;
            if self.kind == ValueKind::Delete && self.bottommost {
                // Skip the rest of this stripe, then look for an older stripe of the same key.
                while self.input.valid()
                    && self.input.user_key() == self.key.as_slice()
                    && self.stripe(self.input.seq()) == stripe
                {
                    self.dropped += 1;
                    self.input.next()?;
                }
                let hides_older =
                    self.input.valid() && self.input.user_key() == self.key.as_slice();
                if !hides_older {
                    self.dropped += 1;
                    self.dropped_tombstones += 1;
                    continue;
                }
            }
            self.valid = true;
            return Ok(());
        }
        Ok(())
    }
}

impl<I: InternalIterator> InternalIterator for CompactionIterator<I> {
    fn valid(&self) -> bool {
        self.valid
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.last_stripe = None;
        self.input.seek_to_first()?;
        self.find_next()
    }

    fn seek(&mut self, user_key: &[u8], seq: SeqNo) -> Result<()> {
        self.last_stripe = None;
        // Any seq: the first version of `user_key`, so stripes start from its newest version.
        self.input.seek(user_key, SeqNo::MAX)?;
        self.find_next()?;
        while self.valid
            && kvstore_base::key::cmp_internal(&self.key, self.seq, user_key, seq).is_lt()
        {
            self.find_next()?;
        }
        Ok(())
    }

    fn next(&mut self) -> Result<()> {
        if !self.valid {
            return Ok(());
        }
        self.find_next()
    }

    fn user_key(&self) -> &[u8] {
        &self.key
    }

    fn seq(&self) -> SeqNo {
        self.seq
    }

    fn kind(&self) -> ValueKind {
        self.kind
    }

    fn value(&self) -> &[u8] {
        &self.value
    }
}
