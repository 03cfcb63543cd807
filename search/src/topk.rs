//! [`TopK`]: the `k` best (score, key) pairs seen so far, in O(k) memory.
//!
//! Order: higher score first; equal scores by smaller key first, so results are deterministic.
//! NaN scores are ordered by `f32::total_cmp` (never panic).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

#[derive(Debug)]
struct Entry {
    score: f32,
    key: Vec<u8>,
}

impl Ord for Entry {
    /// "Greater" = better: higher score, then smaller key.
    fn cmp(&self, o: &Self) -> Ordering {
        self.score
            .total_cmp(&o.score)
            .then_with(|| o.key.cmp(&self.key))
    }
}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Entry {}

/// A bounded min-heap of the best `k` entries (its root is the worst kept).
pub struct TopK {
    k: usize,
    heap: BinaryHeap<std::cmp::Reverse<Entry>>,
}

impl TopK {
    pub fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.min(4096) + 1),
        }
    }

    /// Offers an entry; kept only if it is among the best `k`.
    pub fn push(&mut self, score: f32, key: Vec<u8>) {
        if self.k == 0 {
            return;
        }
        let e = Entry { score, key };
        if self.heap.len() < self.k {
            self.heap.push(std::cmp::Reverse(e));
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if e > worst.0 {
                *worst = std::cmp::Reverse(e);
            }
        }
    }

    /// The score an entry must beat to get in, once full.
    pub fn threshold(&self) -> Option<f32> {
        (self.heap.len() == self.k)
            .then(|| self.heap.peek().map(|e| e.0.score))
            .flatten()
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Best first.
    pub fn into_sorted(self) -> Vec<(Vec<u8>, f32)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|e| (e.0.key, e.0.score))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_best_k_in_order_with_key_tiebreak() {
        let mut t = TopK::new(3);
        for (s, k) in [
            (1.0, "a"),
            (5.0, "b"),
            (3.0, "c"),
            (5.0, "a"),
            (0.5, "z"),
            (4.0, "d"),
        ] {
            t.push(s, k.as_bytes().to_vec());
        }
        assert_eq!(t.threshold(), Some(4.0));
        let got: Vec<_> = t
            .into_sorted()
            .into_iter()
            .map(|(k, s)| (String::from_utf8(k).unwrap(), s))
            .collect();
        assert_eq!(
            got,
            [("a".into(), 5.0), ("b".into(), 5.0), ("d".into(), 4.0)]
        );
        let mut z = TopK::new(0);
        z.push(1.0, vec![]);
        assert_eq!(z.len(), 0);
    }
}
