//! [`WriteBatch`]: a group of puts and deletes, over any column families, applied atomically.
//!
//! A batch is kept in its encoded form, which is exactly the payload of one WAL record (see
//! `docs/formats/wal.md`):
//!
//! ```text
//! [first_seq u64 LE][count u32 LE] then count × entry
//! entry = [kind u8: 0 delete, 1 put][cf_id varint][key: varint len + bytes][value: varint len + bytes, puts only]
//! ```
//!
//! Entry `i` gets sequence number `first_seq + i`, so later entries of a batch win over earlier
//! ones for the same key.

use crate::cf::ColumnFamily;
use crate::error::{Error, Result};
use kvstore_base::coding::{get_bytes, get_u32, get_u64, get_varint, put_bytes, put_varint};
use kvstore_base::{SeqNo, ValueKind};

/// Size of the batch header: first sequence number and count.
pub(crate) const BATCH_HEADER_BYTES: usize = 12;
/// Largest key the engine accepts.
pub const MAX_KEY_BYTES: usize = 64 * 1024;
/// Largest value the engine accepts.
pub const MAX_VALUE_BYTES: usize = 256 * 1024 * 1024;

/// An atomic group of writes. Build it, then hand it to [`crate::Db::write`].
#[derive(Clone, Debug)]
pub struct WriteBatch {
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
    pub kind: ValueKind,
    pub cf_id: u32,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

impl WriteBatch {
    pub fn new() -> Self {
        WriteBatch {
            rep: vec![0u8; BATCH_HEADER_BYTES],
            count: 0,
        }
    }

    /// Adds a put to the default column family.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.push(ValueKind::Put, 0, key.as_ref(), value.as_ref());
    }

    /// Adds a delete to the default column family.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) {
        self.push(ValueKind::Delete, 0, key.as_ref(), &[]);
    }

    /// Adds a put to `cf`.
    pub fn put_cf(&mut self, cf: &ColumnFamily, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.push(ValueKind::Put, cf.id(), key.as_ref(), value.as_ref());
    }

    /// Adds a delete to `cf`.
    pub fn delete_cf(&mut self, cf: &ColumnFamily, key: impl AsRef<[u8]>) {
        self.push(ValueKind::Delete, cf.id(), key.as_ref(), &[]);
    }

    fn push(&mut self, kind: ValueKind, cf_id: u32, key: &[u8], value: &[u8]) {
        self.rep.push(kind as u8);
        put_varint(&mut self.rep, cf_id as u64);
        put_bytes(&mut self.rep, key);
        if kind == ValueKind::Put {
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

    /// Encoded size in bytes (what the WAL record payload will be).
    pub fn size_bytes(&self) -> usize {
        self.rep.len()
    }

    /// Removes all entries.
    pub fn clear(&mut self) {
        self.rep.truncate(BATCH_HEADER_BYTES);
        self.count = 0;
    }

    /// Checks every entry against the engine's limits.
    pub(crate) fn validate(&self) -> Result<()> {
        for e in self.iter_unchecked() {
            let e = e?;
            if e.key.len() > MAX_KEY_BYTES {
                return Err(Error::InvalidArgument(format!(
                    "key of {} bytes exceeds the limit of {MAX_KEY_BYTES}",
                    e.key.len()
                )));
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

    /// Stamps the batch with its first sequence number and returns the encoded payload.
    pub(crate) fn encode(&mut self, first_seq: SeqNo) -> &[u8] {
        self.rep[0..8].copy_from_slice(&first_seq.to_le_bytes());
        self.rep[8..12].copy_from_slice(&self.count.to_le_bytes());
        &self.rep
    }

    /// Decodes a WAL payload back into a batch, returning it with its first sequence number.
    /// Every entry is checked, so a batch that decodes is safe to apply.
    pub fn decode(payload: &[u8]) -> std::result::Result<(SeqNo, WriteBatch), String> {
        let mut cur = payload;
        let seq = get_u64(&mut cur).ok_or("batch header truncated")?;
        let count = get_u32(&mut cur).ok_or("batch header truncated")?;
        let batch = WriteBatch {
            rep: payload.to_vec(),
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
        let mut cur = &self.rep[BATCH_HEADER_BYTES.min(self.rep.len())..];
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
    let kind = ValueKind::from_u8(kind).ok_or_else(|| bad("unknown entry kind"))?;
    let cf_id = get_varint(cur).ok_or_else(|| bad("column family id"))?;
    let cf_id = u32::try_from(cf_id).map_err(|_| bad("column family id too large"))?;
    let key = get_bytes(cur).ok_or_else(|| bad("key"))?;
    let value = match kind {
        ValueKind::Put => get_bytes(cur).ok_or_else(|| bad("value"))?,
        ValueKind::Delete => &[],
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
        assert_eq!(entries[1].kind, ValueKind::Delete);
    }

    #[test]
    fn decode_rejects_garbage_and_count_mismatch() {
        let mut b = WriteBatch::new();
        b.put(b"a", b"1");
        let mut payload = b.encode(1).to_vec();
        payload[8] = 2; // claims two entries
        assert!(WriteBatch::decode(&payload).is_err());
        assert!(WriteBatch::decode(&[1, 2, 3]).is_err());
        let mut p2 = b.encode(1).to_vec();
        p2.push(9); // unknown kind
        assert!(WriteBatch::decode(&p2).is_err());
    }
}
