//! The skiplist's key, and a borrowed probe to search it without allocating.
//!
//! `SkipMap::lower_bound` takes a `&Q` where the key type `K: Borrow<Q>`. Searching with an owned
//! [`MemKey`] would cost one allocation per lookup, so both the stored key and a borrowed
//! [`Probe`] are viewed through the [`KeyView`] trait object, whose order is the internal-key
//! order. Invariant (required by `Borrow`): `MemKey`'s `Ord` and `dyn KeyView`'s `Ord` agree,
//! which holds because both delegate to [`cmp_views`].

use std::borrow::Borrow;
use std::cmp::Ordering;

use kvstore_base::key::cmp_internal;
use kvstore_base::{SeqNo, ValueKind};

/// A key as the skiplist orders it.
pub(crate) trait KeyView {
    fn user_key(&self) -> &[u8];
    fn seq(&self) -> SeqNo;
    fn kind(&self) -> ValueKind;
}

/// Internal-key order: user key ascending, seq descending, kind descending.
fn cmp_views(a: &dyn KeyView, b: &dyn KeyView) -> Ordering {
    cmp_internal(a.user_key(), a.seq(), b.user_key(), b.seq()).then_with(|| b.kind().cmp(&a.kind()))
}

/// An owned key stored in the skiplist.
#[derive(Debug, Clone)]
pub(crate) struct MemKey {
    pub user_key: Vec<u8>,
    pub seq: SeqNo,
    pub kind: ValueKind,
}

/// A borrowed key used only to search.
pub(crate) struct Probe<'a> {
    pub user_key: &'a [u8],
    pub seq: SeqNo,
    pub kind: ValueKind,
}

impl KeyView for MemKey {
    fn user_key(&self) -> &[u8] {
        &self.user_key
    }
    fn seq(&self) -> SeqNo {
        self.seq
    }
    fn kind(&self) -> ValueKind {
        self.kind
    }
}

impl KeyView for Probe<'_> {
    fn user_key(&self) -> &[u8] {
        self.user_key
    }
    fn seq(&self) -> SeqNo {
        self.seq
    }
    fn kind(&self) -> ValueKind {
        self.kind
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for MemKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        cmp_views(self, other) == Ordering::Equal
    }
}
impl Eq for dyn KeyView + '_ {}
impl PartialOrd for dyn KeyView + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for dyn KeyView + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_views(self, other)
    }
}

impl PartialEq for MemKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for MemKey {}
impl PartialOrd for MemKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for MemKey {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_views(self, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_and_key_order_agree() {
        let k = |u: &[u8], s, kind| MemKey {
            user_key: u.to_vec(),
            seq: s,
            kind,
        };
        let mut v = [
            k(b"b", 1, ValueKind::Put),
            k(b"a", 1, ValueKind::Put),
            k(b"a", 9, ValueKind::Delete),
            k(b"a", 9, ValueKind::Put),
        ];
        v.sort();
        let got: Vec<_> = v
            .iter()
            .map(|m| (m.user_key.clone(), m.seq, m.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                (b"a".to_vec(), 9, ValueKind::Put),
                (b"a".to_vec(), 9, ValueKind::Delete),
                (b"a".to_vec(), 1, ValueKind::Put),
                (b"b".to_vec(), 1, ValueKind::Put),
            ]
        );
        let p = Probe {
            user_key: b"a",
            seq: 5,
            kind: ValueKind::Put,
        };
        let probe: &dyn KeyView = &p;
        assert!(probe > Borrow::<dyn KeyView>::borrow(&v[1]));
        assert!(probe < Borrow::<dyn KeyView>::borrow(&v[2]));
    }
}
