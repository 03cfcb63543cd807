//! The skiplist's key, and a borrowed probe to search it without allocating.
//!
//! `SkipMap::lower_bound` takes a `&Q` where the key type `K: Borrow<Q>`. Searching with an owned
//! [`MemKey`] would cost one allocation per lookup, so both the stored key and a borrowed
//! [`Probe`] are viewed through the [`KeyView`] trait object, whose order is the internal-key
//! order. Invariant (required by `Borrow`): `MemKey`'s `Ord` and `dyn KeyView`'s `Ord` agree,
//! which holds because both delegate to [`cmp_views`].

use std::borrow::Borrow;
use std::cmp::Ordering;

use kvstore_base::key::{cmp_internal, pack_trailer};
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

/// User keys up to this many bytes are stored inside the skiplist node itself.
pub(crate) const INLINE_KEY_BYTES: usize = 30;

/// A user key's bytes, inline when short. Every comparison of a skiplist search reads the key
/// of the node it visits; with the bytes in a separate heap allocation that is a second cache
/// miss per step (the profile of `readrandom` and `fillrandom` showed `memcmp` on those misses
/// as the largest single cost). Inline, the key shares the node's cache lines.
#[derive(Clone)]
pub(crate) enum KeyBytes {
    Inline {
        len: u8,
        buf: [u8; INLINE_KEY_BYTES],
    },
    Heap(Box<[u8]>),
}

impl KeyBytes {
    pub fn new(key: &[u8]) -> Self {
        if key.len() <= INLINE_KEY_BYTES {
            let mut buf = [0u8; INLINE_KEY_BYTES];
            buf[..key.len()].copy_from_slice(key);
            KeyBytes::Inline {
                len: key.len() as u8,
                buf,
            }
        } else {
            KeyBytes::Heap(key.into())
        }
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            KeyBytes::Inline { len, buf } => &buf[..*len as usize],
            KeyBytes::Heap(b) => b,
        }
    }
}

impl std::ops::Deref for KeyBytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_slice().fmt(f)
    }
}

/// An owned key stored in the skiplist. Sequence number and kind share one word, the
/// `(seq << 8) | kind` trailer of [`kvstore_base::key`], which keeps the skiplist node 8 bytes
/// smaller (the node is the memtable's largest per-entry cost after the value itself).
#[derive(Debug, Clone)]
pub(crate) struct MemKey {
    pub user_key: KeyBytes,
    trailer: u64,
}

impl MemKey {
    /// `seq` must be at most [`kvstore_base::MAX_SEQ`] (the engine never assigns more).
    pub fn new(user_key: &[u8], seq: SeqNo, kind: ValueKind) -> Self {
        MemKey {
            user_key: KeyBytes::new(user_key),
            trailer: pack_trailer(seq, kind),
        }
    }

    #[inline]
    pub fn seq(&self) -> SeqNo {
        self.trailer >> 8
    }

    #[inline]
    pub fn kind(&self) -> ValueKind {
        // Only `pack_trailer` of a real kind writes the low byte.
        if self.trailer & 0xff == ValueKind::Put as u64 {
            ValueKind::Put
        } else {
            ValueKind::Delete
        }
    }
}

/// A borrowed key used only to search.
pub(crate) struct Probe<'a> {
    pub user_key: &'a [u8],
    pub seq: SeqNo,
    pub kind: ValueKind,
}

impl KeyView for MemKey {
    #[inline]
    fn user_key(&self) -> &[u8] {
        self.user_key.as_slice()
    }
    #[inline]
    fn seq(&self) -> SeqNo {
        MemKey::seq(self)
    }
    #[inline]
    fn kind(&self) -> ValueKind {
        MemKey::kind(self)
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
        let k = |u: &[u8], s, kind| MemKey::new(u, s, kind);
        let mut v = [
            k(b"b", 1, ValueKind::Put),
            k(b"a", 1, ValueKind::Put),
            k(b"a", 9, ValueKind::Delete),
            k(b"a", 9, ValueKind::Put),
        ];
        v.sort();
        let got: Vec<_> = v
            .iter()
            .map(|m| (m.user_key.to_vec(), m.seq(), m.kind()))
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

    #[test]
    fn long_and_short_keys_round_trip_and_order() {
        let long = vec![7u8; INLINE_KEY_BYTES + 1];
        let exact = vec![7u8; INLINE_KEY_BYTES];
        assert_eq!(KeyBytes::new(&long).as_slice(), &long[..]);
        assert_eq!(KeyBytes::new(&exact).as_slice(), &exact[..]);
        assert_eq!(KeyBytes::new(b"").as_slice(), b"");
        assert!(matches!(KeyBytes::new(&exact), KeyBytes::Inline { .. }));
        assert!(matches!(KeyBytes::new(&long), KeyBytes::Heap(_)));
        let k = |u: &[u8]| MemKey::new(u, 1, ValueKind::Put);
        // A prefix sorts before its extensions whether inline or on the heap.
        assert!(k(&exact) < k(&long));
        assert!(k(b"\x01") < k(&exact));
    }
}
