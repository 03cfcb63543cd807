//! Internal keys: a user key tagged with the sequence number of the write and its kind.
//!
//! Order (the one every sorted structure in the engine keeps): user key ascending (bytewise),
//! then sequence number **descending**, then kind descending. So for one user key the newest
//! version comes first, and a reader at snapshot `s` seeks to `(key, s)` and takes the first
//! entry it lands on.
//!
//! Sequence numbers fit in 56 bits so that `(seq << 8) | kind` packs into one `u64` trailer, the
//! encoding used by the WAL batch format and SSTable entries.

use std::cmp::Ordering;

/// A sequence number: a totally ordered version stamp, one per write in a batch.
pub type SeqNo = u64;

/// The largest sequence number an internal key can carry (56 bits).
pub const MAX_SEQ: SeqNo = (1 << 56) - 1;

/// What an internal key records about its user key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ValueKind {
    /// A tombstone: the key was deleted at this sequence number.
    Delete = 0,
    /// A value was stored at this sequence number.
    Put = 1,
}

impl ValueKind {
    /// Decodes a kind byte; `None` for anything not defined.
    #[inline]
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(ValueKind::Delete),
            1 => Some(ValueKind::Put),
            _ => None,
        }
    }
}

/// Packs a sequence number and kind into the 8-byte trailer `(seq << 8) | kind`.
#[inline]
pub fn pack_trailer(seq: SeqNo, kind: ValueKind) -> u64 {
    debug_assert!(seq <= MAX_SEQ);
    (seq << 8) | kind as u64
}

/// Unpacks a trailer; `None` when the kind byte is not defined.
#[inline]
pub fn unpack_trailer(t: u64) -> Option<(SeqNo, ValueKind)> {
    Some((t >> 8, ValueKind::from_u8((t & 0xff) as u8)?))
}

/// Compares two internal keys given as parts, in engine order.
#[inline]
pub fn cmp_internal(a_key: &[u8], a_seq: SeqNo, b_key: &[u8], b_seq: SeqNo) -> Ordering {
    cmp_bytes(a_key, b_key).then_with(|| b_seq.cmp(&a_seq))
}

/// Lexicographic byte order, the same as `a.cmp(b)`, faster for short keys: eight bytes at a
/// time as big-endian integers, inline, instead of a call to `memcmp` (which for keys of a few
/// words costs more in the call and its size dispatch than in the comparison).
#[inline]
pub fn cmp_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    let (mut x, mut y) = (&a[..n], &b[..n]);
    while let (Some((xa, xr)), Some((ya, yr))) =
        (x.split_first_chunk::<8>(), y.split_first_chunk::<8>())
    {
        let (p, q) = (u64::from_be_bytes(*xa), u64::from_be_bytes(*ya));
        if p != q {
            return p.cmp(&q);
        }
        x = xr;
        y = yr;
    }
    x.cmp(y).then(a.len().cmp(&b.len()))
}

/// An owned internal key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InternalKey {
    pub user_key: Vec<u8>,
    pub seq: SeqNo,
    pub kind: ValueKind,
}

impl InternalKey {
    pub fn new(user_key: impl Into<Vec<u8>>, seq: SeqNo, kind: ValueKind) -> Self {
        InternalKey {
            user_key: user_key.into(),
            seq,
            kind,
        }
    }
}

impl Ord for InternalKey {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_internal(&self.user_key, self.seq, &other.user_key, other.seq)
            .then_with(|| other.kind.cmp(&self.kind))
    }
}

impl PartialOrd for InternalKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmp_bytes_is_lexicographic_order() {
        let samples: Vec<&[u8]> = vec![
            b"",
            b"\0",
            b"\0\0",
            b"a",
            b"ab",
            b"abcdefgh",
            b"abcdefgh\0",
            b"abcdefghi",
            b"abcdefgi",
            b"abcdefgh12345678",
            b"abcdefgh12345679",
            b"abcdefgh1234567",
            b"\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\x01",
            b"0000000000000042",
            b"0000000000000100",
            b"000000000000004",
        ];
        for a in &samples {
            for b in &samples {
                assert_eq!(cmp_bytes(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn newest_version_sorts_first() {
        let old = InternalKey::new(b"k".to_vec(), 5, ValueKind::Put);
        let new = InternalKey::new(b"k".to_vec(), 9, ValueKind::Delete);
        let other = InternalKey::new(b"ka".to_vec(), 1, ValueKind::Put);
        let mut v = vec![other.clone(), old.clone(), new.clone()];
        v.sort();
        assert_eq!(v, vec![new, old, other]);
    }

    #[test]
    fn trailer_roundtrip() {
        let t = pack_trailer(MAX_SEQ, ValueKind::Put);
        assert_eq!(unpack_trailer(t), Some((MAX_SEQ, ValueKind::Put)));
        assert_eq!(unpack_trailer(7), None);
    }
}
