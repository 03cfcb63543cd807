//! [`MergingIterator`]: a k-way merge of sorted sources by a binary heap.
//!
//! Invariants:
//! - `current` is the least entry among all children (internal-key order; ties go to the lower
//!   child index, i.e. the newer source);
//! - every child in `heap` is valid and positioned strictly after `current`'s `(user_key, seq)`:
//!   copies of the current pair in other children are skipped when `current` is chosen, so each
//!   pair is yielded once, from the newest source;
//! - invalid children wait in `idle` until the next seek.

use std::cmp::Ordering;
use std::collections::binary_heap::PeekMut;
use std::collections::BinaryHeap;

use kvstore_base::iter::InternalIterator;
use kvstore_base::key::cmp_internal;
use kvstore_base::{Result, SeqNo, ValueKind};

/// A child and its position in the list given to [`MergingIterator::new`].
struct Child<I> {
    index: usize,
    iter: I,
}

impl<I: InternalIterator> Child<I> {
    /// Order of the merge: internal key, then child index. Only called on valid children.
    fn merge_cmp(&self, other: &Self) -> Ordering {
        cmp_internal(
            self.iter.user_key(),
            self.iter.seq(),
            other.iter.user_key(),
            other.iter.seq(),
        )
        .then(self.index.cmp(&other.index))
    }
}

impl<I: InternalIterator> PartialEq for Child<I> {
    fn eq(&self, other: &Self) -> bool {
        self.merge_cmp(other) == Ordering::Equal
    }
}
impl<I: InternalIterator> Eq for Child<I> {}
impl<I: InternalIterator> PartialOrd for Child<I> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<I: InternalIterator> Ord for Child<I> {
    /// Reversed, so the std max-heap pops the least entry.
    fn cmp(&self, other: &Self) -> Ordering {
        other.merge_cmp(self)
    }
}

/// Merges children into one sorted stream. Children are given **newest source first**; for a
/// `(user_key, seq)` present in several children, only the lowest-index child's entry is
/// yielded. After a child reports an error the merge is invalid until the next seek.
pub struct MergingIterator<I: InternalIterator> {
    heap: BinaryHeap<Child<I>>,
    current: Option<Child<I>>,
    idle: Vec<Child<I>>,
}

impl<I: InternalIterator> MergingIterator<I> {
    /// Merges `children` (newest first). Unpositioned until `seek_to_first` or `seek`.
    pub fn new(children: Vec<I>) -> Self {
        let idle = children
            .into_iter()
            .enumerate()
            .map(|(index, iter)| Child { index, iter })
            .collect();
        MergingIterator {
            heap: BinaryHeap::new(),
            current: None,
            idle,
        }
    }

    /// Takes every child back out of the heap and `current`, for a re-seek.
    fn take_all(&mut self) -> Vec<Child<I>> {
        let mut all = std::mem::take(&mut self.idle);
        all.extend(self.current.take());
        all.extend(std::mem::take(&mut self.heap).into_vec());
        all
    }

    /// Positions every child with `position`, then picks the least entry.
    fn reposition(&mut self, mut position: impl FnMut(&mut I) -> Result<()>) -> Result<()> {
        let mut result = Ok(());
        for mut child in self.take_all() {
            if result.is_ok() {
                result = position(&mut child.iter);
            }
            if result.is_ok() && child.iter.valid() {
                self.heap.push(child);
            } else {
                self.idle.push(child);
            }
        }
        result?;
        self.pick_current()
    }

    /// Pops the least child into `current` and skips the same `(user_key, seq)` elsewhere.
    fn pick_current(&mut self) -> Result<()> {
        self.current = self.heap.pop();
        let Some(cur) = &self.current else {
            return Ok(());
        };
        loop {
            let failed = {
                let Some(mut top) = self.heap.peek_mut() else {
                    break;
                };
                let dup =
                    top.iter.seq() == cur.iter.seq() && top.iter.user_key() == cur.iter.user_key();
                if !dup {
                    break;
                }
                match top.iter.next() {
                    Err(e) => {
                        self.idle.push(PeekMut::pop(top));
                        Some(e)
                    }
                    Ok(()) => {
                        if !top.iter.valid() {
                            self.idle.push(PeekMut::pop(top));
                        }
                        // A valid `top` is re-sifted when the `PeekMut` drops.
                        None
                    }
                }
            };
            if let Some(e) = failed {
                // Leave nothing half-done: the merge is invalid until re-seeked.
                self.fail();
                return Err(e);
            }
        }
        Ok(())
    }

    /// Makes the merge invalid after a child error, keeping every child for the next seek.
    fn fail(&mut self) {
        let all = self.take_all();
        self.idle = all;
    }

    fn cur(&self) -> &I {
        match &self.current {
            Some(c) => &c.iter,
            None => panic!("MergingIterator accessor called while not valid"),
        }
    }
}

impl<I: InternalIterator> InternalIterator for MergingIterator<I> {
    fn valid(&self) -> bool {
        self.current.is_some()
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.reposition(|it| it.seek_to_first())
    }

    fn seek(&mut self, user_key: &[u8], seq: SeqNo) -> Result<()> {
        self.reposition(|it| it.seek(user_key, seq))
    }

    fn next(&mut self) -> Result<()> {
        let Some(mut cur) = self.current.take() else {
            return Ok(());
        };
        if let Err(e) = cur.iter.next() {
            self.idle.push(cur);
            self.fail();
            return Err(e);
        }
        if !cur.iter.valid() {
            self.idle.push(cur);
            return self.pick_current();
        }
        // Fast path: a child that still sorts strictly before the heap's least entry stays
        // current without a push and a pop (a scan mostly reads runs from one source). Strictly
        // before means no other child holds the same `(user_key, seq)`, so nothing to skip.
        let still_least = self.heap.peek().is_none_or(|top| {
            cmp_internal(
                cur.iter.user_key(),
                cur.iter.seq(),
                top.iter.user_key(),
                top.iter.seq(),
            ) == Ordering::Less
        });
        if still_least {
            self.current = Some(cur);
            return Ok(());
        }
        self.heap.push(cur);
        self.pick_current()
    }

    fn user_key(&self) -> &[u8] {
        self.cur().user_key()
    }

    fn seq(&self) -> SeqNo {
        self.cur().seq()
    }

    fn kind(&self) -> ValueKind {
        self.cur().kind()
    }

    fn value(&self) -> &[u8] {
        self.cur().value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvstore_base::iter::VecIterator;
    use kvstore_base::Error;

    type Entry = (Vec<u8>, SeqNo, ValueKind, Vec<u8>);

    fn put(k: &str, s: SeqNo, v: &str) -> Entry {
        (
            k.as_bytes().to_vec(),
            s,
            ValueKind::Put,
            v.as_bytes().to_vec(),
        )
    }

    fn drain<I: InternalIterator>(it: &mut I) -> Vec<Entry> {
        let mut out = Vec::new();
        while it.valid() {
            out.push((
                it.user_key().to_vec(),
                it.seq(),
                it.kind(),
                it.value().to_vec(),
            ));
            it.next().unwrap();
        }
        out
    }

    #[test]
    fn merges_in_internal_key_order() {
        let a = VecIterator::new(vec![put("a", 5, "a5"), put("c", 1, "c1")]);
        let b = VecIterator::new(vec![put("a", 7, "a7"), put("b", 2, "b2")]);
        let mut m = MergingIterator::new(vec![a, b]);
        assert!(!m.valid());
        m.seek_to_first().unwrap();
        assert_eq!(
            drain(&mut m),
            vec![
                put("a", 7, "a7"),
                put("a", 5, "a5"),
                put("b", 2, "b2"),
                put("c", 1, "c1")
            ]
        );
    }

    #[test]
    fn equal_pairs_take_the_lowest_index_child() {
        let newest = VecIterator::new(vec![put("k", 3, "new"), put("z", 1, "z-new")]);
        let middle = VecIterator::new(vec![put("k", 3, "mid")]);
        let oldest = VecIterator::new(vec![put("k", 3, "old"), put("z", 1, "z-old")]);
        let mut m = MergingIterator::new(vec![newest, middle, oldest]);
        m.seek_to_first().unwrap();
        assert_eq!(
            drain(&mut m),
            vec![put("k", 3, "new"), put("z", 1, "z-new")]
        );
        // The winner is decided by index, not by the order children reach the heap.
        let newest = VecIterator::new(vec![put("k", 3, "new")]);
        let oldest = VecIterator::new(vec![put("j", 9, "j"), put("k", 3, "old")]);
        let mut m = MergingIterator::new(vec![newest, oldest]);
        m.seek_to_first().unwrap();
        assert_eq!(drain(&mut m), vec![put("j", 9, "j"), put("k", 3, "new")]);
    }

    #[test]
    fn seek_repositions_every_child() {
        let a = VecIterator::new(vec![put("a", 1, "a"), put("d", 1, "d")]);
        let b = VecIterator::new(vec![put("b", 4, "b4"), put("b", 2, "b2"), put("c", 1, "c")]);
        let mut m = MergingIterator::new(vec![a, b]);
        m.seek(b"b", 3).unwrap();
        assert_eq!(
            drain(&mut m),
            vec![put("b", 2, "b2"), put("c", 1, "c"), put("d", 1, "d")]
        );
        m.seek(b"a", 0).unwrap();
        assert_eq!(m.user_key(), b"b");
        m.seek(b"e", 10).unwrap();
        assert!(!m.valid());
        m.seek_to_first().unwrap();
        assert_eq!(drain(&mut m).len(), 5);
    }

    #[test]
    fn no_children_is_empty() {
        let mut m: MergingIterator<VecIterator> = MergingIterator::new(Vec::new());
        m.seek_to_first().unwrap();
        assert!(!m.valid());
        m.next().unwrap();
        assert!(!m.valid());
    }

    /// A source that fails on its `fail_at`-th call to `next`.
    struct Failing {
        inner: VecIterator,
        fail_at: usize,
        calls: usize,
    }

    impl InternalIterator for Failing {
        fn valid(&self) -> bool {
            self.inner.valid()
        }
        fn seek_to_first(&mut self) -> Result<()> {
            self.inner.seek_to_first()
        }
        fn seek(&mut self, k: &[u8], s: SeqNo) -> Result<()> {
            self.inner.seek(k, s)
        }
        fn next(&mut self) -> Result<()> {
            self.calls += 1;
            if self.calls == self.fail_at {
                return Err(Error::corruption("t.sst", 7, "bad block"));
            }
            self.inner.next()
        }
        fn user_key(&self) -> &[u8] {
            self.inner.user_key()
        }
        fn seq(&self) -> SeqNo {
            self.inner.seq()
        }
        fn kind(&self) -> ValueKind {
            self.inner.kind()
        }
        fn value(&self) -> &[u8] {
            self.inner.value()
        }
    }

    #[test]
    fn child_error_surfaces_and_invalidates() {
        let ok = Failing {
            inner: VecIterator::new(vec![put("a", 1, "a"), put("c", 1, "c")]),
            fail_at: usize::MAX,
            calls: 0,
        };
        let bad = Failing {
            inner: VecIterator::new(vec![put("b", 1, "b"), put("d", 1, "d")]),
            fail_at: 1,
            calls: 0,
        };
        let mut m = MergingIterator::new(vec![ok, bad]);
        m.seek_to_first().unwrap();
        m.next().unwrap(); // a -> b
        assert_eq!(m.user_key(), b"b");
        let err = m.next().unwrap_err();
        assert!(err.is_corruption());
        assert!(!m.valid());
        // A later seek works again with all children.
        m.seek(b"c", 5).unwrap();
        assert_eq!(m.user_key(), b"c");
    }
}
