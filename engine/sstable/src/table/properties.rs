//! The properties block: what a table holds, recorded when it is written so that opening it
//! needs no scan.
//!
//! Encoding (in this order, no padding): `num_entries`, `num_deletions`, `num_data_blocks`,
//! `raw_key_bytes`, `raw_value_bytes` as varints; `smallest` and `largest` internal keys, each as
//! a length-prefixed user key followed by its trailer u64 LE; `smallest_seq`, `largest_seq`,
//! `created_unix_secs` as varints; `creator` as a length-prefixed string. The block must be
//! consumed exactly.

use kvstore_base::coding::{get_bytes, get_u64, get_varint, put_bytes, put_u64, put_varint};
use kvstore_base::key::{pack_trailer, unpack_trailer};
use kvstore_base::{InternalKey, SeqNo};

/// Facts about a table, written by the builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Properties {
    pub num_entries: u64,
    /// Entries of kind `Delete` (tombstones).
    pub num_deletions: u64,
    pub num_data_blocks: u64,
    /// Sum of user-key lengths before prefix compression.
    pub raw_key_bytes: u64,
    /// Sum of value lengths before compression.
    pub raw_value_bytes: u64,
    /// The first entry of the table.
    pub smallest: InternalKey,
    /// The last entry of the table.
    pub largest: InternalKey,
    pub smallest_seq: SeqNo,
    pub largest_seq: SeqNo,
    /// Wall-clock time at which the table was finished, seconds since the Unix epoch.
    pub created_unix_secs: u64,
    /// The writer's name and version, e.g. `kvstore-sstable 0.1.0`.
    pub creator: String,
}

fn put_key(buf: &mut Vec<u8>, k: &InternalKey) {
    put_bytes(buf, &k.user_key);
    put_u64(buf, pack_trailer(k.seq, k.kind));
}

fn get_key(s: &mut &[u8]) -> Option<InternalKey> {
    let user_key = get_bytes(s)?.to_vec();
    let (seq, kind) = unpack_trailer(get_u64(s)?)?;
    Some(InternalKey {
        user_key,
        seq,
        kind,
    })
}

impl Properties {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [
            self.num_entries,
            self.num_deletions,
            self.num_data_blocks,
            self.raw_key_bytes,
            self.raw_value_bytes,
        ] {
            put_varint(&mut b, v);
        }
        put_key(&mut b, &self.smallest);
        put_key(&mut b, &self.largest);
        put_varint(&mut b, self.smallest_seq);
        put_varint(&mut b, self.largest_seq);
        put_varint(&mut b, self.created_unix_secs);
        put_bytes(&mut b, self.creator.as_bytes());
        b
    }

    /// Decodes and sanity-checks a properties block; `Err` carries what is wrong.
    pub fn decode(data: &[u8]) -> Result<Properties, &'static str> {
        let s = &mut &data[..];
        let short = "truncated properties";
        let mut v = || get_varint(s).ok_or(short);
        let (num_entries, num_deletions, num_data_blocks, raw_key_bytes, raw_value_bytes) =
            (v()?, v()?, v()?, v()?, v()?);
        let smallest = get_key(s).ok_or("bad smallest key")?;
        let largest = get_key(s).ok_or("bad largest key")?;
        let mut v = || get_varint(s).ok_or(short);
        let (smallest_seq, largest_seq, created_unix_secs) = (v()?, v()?, v()?);
        let creator = String::from_utf8_lossy(get_bytes(s).ok_or(short)?).into_owned();
        if !s.is_empty() {
            return Err("trailing bytes after properties");
        }
        if num_entries == 0 || num_deletions > num_entries || num_data_blocks == 0 {
            return Err("inconsistent entry counts");
        }
        if smallest > largest || smallest_seq > largest_seq {
            return Err("inconsistent key or sequence range");
        }
        Ok(Properties {
            num_entries,
            num_deletions,
            num_data_blocks,
            raw_key_bytes,
            raw_value_bytes,
            smallest,
            largest,
            smallest_seq,
            largest_seq,
            created_unix_secs,
            creator,
        })
    }
}
