//! [`WriteBatch`]: a group of puts and deletes, over any column families, applied atomically.
//!
//! A batch is kept in its encoded form, which is exactly the payload of one WAL record (see
//! `docs/formats/wal.md`):
//!
//! ```text
//! [first_seq varint][count varint] then count × entry
//! entry = [kind u8: 0 delete, 1 put, 2 delete range][cf_id varint][key: varint len + bytes]
//!         [value: varint len + bytes, puts (the value) and range deletes (the range's end) only]
//! ```
//!
//! Entry `i` gets sequence number `first_seq + i`, so later entries of a batch win over earlier
//! ones for the same key (a range delete hides the entries before it, not those after it).

use crate::cf::ColumnFamily;
use crate::error::{Error, Result};
use kvstore_base::coding::{get_bytes, get_varint, put_bytes, put_varint};
use kvstore_base::{SeqNo, ValueKind};

/// What a batch entry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// Deletes `key`.
    Delete = 0,
    /// Stores `value` under `key`.
    Put = 1,
    /// Deletes every key in `[key, value)` (see `range_del.rs`).
    DeleteRange = 2,
}

impl EntryKind {
    fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(EntryKind::Delete),
            1 => Some(EntryKind::Put),
            2 => Some(EntryKind::DeleteRange),
            _ => None,
        }
    }

    /// The memtable entry kind of a point write; `None` for a range delete.
    pub(crate) fn point(self) -> Option<ValueKind> {
        match self {
            EntryKind::Delete => Some(ValueKind::Delete),
            EntryKind::Put => Some(ValueKind::Put),
            EntryKind::DeleteRange => None,
        }
    }

    /// Whether the entry carries a second byte string (a value or a range end).
    fn has_value(self) -> bool {
        self != EntryKind::Delete
    }
}

/// Largest encoded batch header: first sequence number (varint u64, up to 10 bytes) and count
/// (varint u32, up to 5 bytes). Typical headers are 4–5 bytes (log format version 3; version 2
/// spent a fixed 12).
pub(crate) const MAX_BATCH_HEADER_BYTES: usize = 15;
/// Largest key the engine accepts.
pub const MAX_KEY_BYTES: usize = 64 * 1024;
/// Largest value the engine accepts.
pub const MAX_VALUE_BYTES: usize = 256 * 1024 * 1024;
/// Largest batch the engine accepts, as [`WriteBatch::size_bytes`] counts it. A batch is one WAL
/// record, whose length field has 31 bits; 1 GiB leaves room and bounds recovery's memory.
pub const MAX_BATCH_BYTES: usize = 1 << 30;

/// An atomic group of writes. Build it, then hand it to [`crate::Db::write`].
#[derive(Clone, Debug)]
pub struct WriteBatch {
    /// The encoded entries, without the header (stamped by [`WriteBatch::encode`]).
    rep: Vec<u8>,
    count: u32,
}

impl Default for WriteBatch {
    fn default() -> Self {
        Self::new()
    }
}

/// One decoded entry of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchEntry<'a> {
    pub kind: EntryKind,
    pub cf_id: u32,
    /// The key (for a range delete, the range's first key).
    pub key: &'a [u8],
    /// The value (for a range delete, the range's end, exclusive; empty for a delete).
    pub value: &'a [u8],
}

impl WriteBatch {
    pub fn new() -> Self {
        WriteBatch {
            rep: Vec::new(),
            count: 0,
        }
    }

    /// Adds a put to the default column family.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.push(EntryKind::Put, 0, key.as_ref(), value.as_ref());
    }

    /// Adds a delete to the default column family.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) {
        self.push(EntryKind::Delete, 0, key.as_ref(), &[]);
    }

    /// Adds a put to `cf`.
    pub fn put_cf(&mut self, cf: &ColumnFamily, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.push(EntryKind::Put, cf.id(), key.as_ref(), value.as_ref());
    }

    /// Adds a delete to `cf`.
    pub fn delete_cf(&mut self, cf: &ColumnFamily, key: impl AsRef<[u8]>) {
        self.push(EntryKind::Delete, cf.id(), key.as_ref(), &[]);
    }

    /// Adds the deletion of every key in `[start, end)` of the default column family, as one
    /// entry. `start < end` is checked when the batch is written.
    pub fn delete_range(&mut self, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) {
        self.push(EntryKind::DeleteRange, 0, start.as_ref(), end.as_ref());
    }

    /// Adds the deletion of every key in `[start, end)` of `cf`, as one entry.
    pub fn delete_range_cf(
        &mut self,
        cf: &ColumnFamily,
        start: impl AsRef<[u8]>,
        end: impl AsRef<[u8]>,
    ) {
        self.push(
            EntryKind::DeleteRange,
            cf.id(),
            start.as_ref(),
            end.as_ref(),
        );
    }

    fn push(&mut self, kind: EntryKind, cf_id: u32, key: &[u8], value: &[u8]) {
        self.rep.push(kind as u8);
        put_varint(&mut self.rep, cf_id as u64);
        put_bytes(&mut self.rep, key);
        if kind.has_value() {
            put_bytes(&mut self.rep, value);
        }
        self.count += 1;
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Encoded size in bytes: the entries plus the largest header, so at least the WAL record
    /// payload (the header of a real batch is usually 10 bytes shorter).
    pub fn size_bytes(&self) -> usize {
        self.rep.len() + MAX_BATCH_HEADER_BYTES
    }

    /// Encoded size of the entries alone (the key and value bytes plus their framing).
    pub(crate) fn entries_bytes(&self) -> usize {
        self.rep.len()
    }

    /// Removes all entries.
    pub fn clear(&mut self) {
        self.rep.clear();
        self.count = 0;
    }

    /// Checks every entry against the engine's limits.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.size_bytes() > MAX_BATCH_BYTES {
            return Err(Error::InvalidArgument(format!(
                "write batch of {} bytes exceeds the limit of {MAX_BATCH_BYTES}",
                self.size_bytes()
            )));
        }
        for e in self.iter_unchecked() {
            let e = e?;
            if e.key.len() > MAX_KEY_BYTES {
                return Err(Error::InvalidArgument(format!(
                    "key of {} bytes exceeds the limit of {MAX_KEY_BYTES}",
                    e.key.len()
                )));
            }
            if e.kind == EntryKind::DeleteRange {
                if e.value.len() > MAX_KEY_BYTES {
                    return Err(Error::InvalidArgument(format!(
                        "range end of {} bytes exceeds the key limit of {MAX_KEY_BYTES}",
                        e.value.len()
                    )));
                }
                if e.key >= e.value {
                    return Err(Error::InvalidArgument(
                        "delete_range needs start < end".into(),
                    ));
                }
            }
            if e.value.len() > MAX_VALUE_BYTES {
                return Err(Error::InvalidArgument(format!(
                    "value of {} bytes exceeds the limit of {MAX_VALUE_BYTES}",
                    e.value.len()
                )));
            }
        }
        Ok(())
    }

    /// The WAL record payload of the batch stamped with its first sequence number.
    pub(crate) fn encode(&self, first_seq: SeqNo) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_BATCH_HEADER_BYTES + self.rep.len());
        put_varint(&mut out, first_seq);
        put_varint(&mut out, self.count as u64);
        out.extend_from_slice(&self.rep);
        out
    }

    /// Decodes a WAL payload back into a batch, returning it with its first sequence number.
    /// Every entry is checked, so a batch that decodes is safe to apply.
    pub fn decode(payload: &[u8]) -> std::result::Result<(SeqNo, WriteBatch), String> {
        let mut cur = payload;
        let seq = get_varint(&mut cur).ok_or("batch header truncated")?;
        let count = get_varint(&mut cur).ok_or("batch header truncated")?;
        let count = u32::try_from(count).map_err(|_| format!("batch count {count} over u32"))?;
        let batch = WriteBatch {
            rep: cur.to_vec(),
            count,
        };
        let mut n = 0u32;
        for e in batch.iter_unchecked() {
            e.map_err(|e| e.to_string())?;
            n += 1;
        }
        if n != count {
            return Err(format!("batch declares {count} entries but holds {n}"));
        }
        Ok((seq, batch))
    }

    /// Iterates over the entries in order.
    pub fn iter(&self) -> impl Iterator<Item = BatchEntry<'_>> {
        // Batches are only built through `push` or checked by `decode`, so entries decode.
        self.iter_unchecked().map_while(|e| e.ok())
    }

    fn iter_unchecked(&self) -> impl Iterator<Item = Result<BatchEntry<'_>>> {
        let mut cur = &self.rep[..];
        let mut failed = false;
        std::iter::from_fn(move || {
            if cur.is_empty() || failed {
                return None;
            }
            let r = decode_entry(&mut cur);
            if r.is_err() {
                failed = true;
            }
            Some(r)
        })
    }
}

fn decode_entry<'a>(cur: &mut &'a [u8]) -> Result<BatchEntry<'a>> {
    let bad = |what: &str| Error::InvalidArgument(format!("malformed write batch: {what}"));
    let (&kind, rest) = cur.split_first().ok_or_else(|| bad("missing kind"))?;
    *cur = rest;
    let kind = EntryKind::from_u8(kind).ok_or_else(|| bad("unknown entry kind"))?;
    let cf_id = get_varint(cur).ok_or_else(|| bad("column family id"))?;
    let cf_id = u32::try_from(cf_id).map_err(|_| bad("column family id too large"))?;
    let key = get_bytes(cur).ok_or_else(|| bad("key"))?;
    let value = if kind.has_value() {
        get_bytes(cur).ok_or_else(|| bad("value"))?
    } else {
        &[]
    };
    Ok(BatchEntry {
        kind,
        cf_id,
        key,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload's bytes are the format `docs/formats/wal.md` writes down: a delete carries
    /// no value field, a put its value, a range delete its end. Every segment already on disk
    /// depends on it, so a change must fail here, not only round-trip.
    #[test]
    fn the_payload_is_the_documented_byte_layout() {
        let mut b = WriteBatch::new();
        b.put(b"k", b"vv");
        b.delete(b"d");
        b.delete_range(b"a", b"c");
        let want: &[u8] = &[
            0x2a, 3, // first_seq 42, count 3
            1, 0, 1, b'k', 2, b'v', b'v', // put, cf 0, key "k", value "vv"
            0, 0, 1, b'd', // delete, cf 0, key "d": no value field
            2, 0, 1, b'a', 1, b'c', // delete range, cf 0, "a" up to "c"
        ];
        assert_eq!(b.encode(42), want);
        let (seq, back) = WriteBatch::decode(want).unwrap();
        assert_eq!((seq, back.len()), (42, 3));
        // `size_bytes` (what the 1 GiB limit and the group-commit byte bound count) bounds the
        // payload from above, by at most the header's largest size.
        assert!(b.size_bytes() >= b.encode(u64::MAX).len());
        assert!(b.size_bytes() <= b.encode(0).len() + MAX_BATCH_HEADER_BYTES);
    }

    #[test]
    fn encode_decode_roundtrip() {
        let mut b = WriteBatch::new();
        b.put(b"a", b"1");
        b.delete(b"b");
        b.put(b"", b"");
        let payload = b.encode(42).to_vec();
        let (seq, d) = WriteBatch::decode(&payload).unwrap();
        assert_eq!(seq, 42);
        let entries: Vec<_> = d.iter().collect();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].key, b"a");
        assert_eq!(entries[0].value, b"1");
        assert_eq!(entries[1].kind, EntryKind::Delete);
    }

    #[test]
    fn a_range_delete_roundtrips_and_needs_start_before_end() {
        let mut b = WriteBatch::new();
        b.delete_range(b"a", b"m");
        let (_, d) = WriteBatch::decode(&b.encode(7)).unwrap();
        let e: Vec<_> = d.iter().collect();
        assert_eq!(
            (e[0].kind, e[0].key, e[0].value),
            (EntryKind::DeleteRange, &b"a"[..], &b"m"[..])
        );
        d.validate().unwrap();
        for (s, e) in [(&b"m"[..], &b"a"[..]), (b"a", b"a")] {
            let mut b = WriteBatch::new();
            b.delete_range(s, e);
            assert!(b.validate().is_err(), "{s:?}..{e:?}");
        }
    }

    #[test]
    fn decode_rejects_garbage_and_count_mismatch() {
        let mut b = WriteBatch::new();
        b.put(b"a", b"1");
        let mut payload = b.encode(1).to_vec();
        payload[1] = 2; // seq 1 is one varint byte; the count follows: claims two entries
        assert!(WriteBatch::decode(&payload).is_err());
        assert!(WriteBatch::decode(&[1, 2, 3]).is_err());
        let mut p2 = b.encode(1).to_vec();
        p2.push(9); // unknown kind
        assert!(WriteBatch::decode(&p2).is_err());
    }

    #[test]
    fn a_batch_over_the_limit_is_refused_before_its_entries_are_read() {
        let mut b = WriteBatch::new();
        // Zeroed pages from the allocator stay untouched (and unresident) unless read.
        b.rep = vec![0u8; MAX_BATCH_BYTES];
        b.count = 1;
        let e = b.validate().unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument(m) if m.contains("exceeds the limit")),
            "{e}"
        );
    }

    #[test]
    fn header_is_varint_encoded() {
        let mut b = WriteBatch::new();
        b.put(b"k", b"v");
        // seq 300 = 2 varint bytes, count 1 = 1 byte, then kind, cf, key, value.
        let payload = b.encode(300);
        assert_eq!(payload.len(), 3 + 1 + 1 + 2 + 2);
        assert_eq!(WriteBatch::decode(&payload).unwrap().0, 300);
        let big = b.encode(u64::MAX);
        assert_eq!(big.len(), 10 + 1 + 1 + 1 + 2 + 2);
        assert_eq!(WriteBatch::decode(&big).unwrap().0, u64::MAX);
        assert!(b.size_bytes() >= big.len(), "size_bytes bounds any payload");
    }
}
