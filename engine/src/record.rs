//! The record framing shared by WAL segments and the manifest (see `docs/formats/wal.md`).
//!
//! A log file is a 16-byte header followed by records:
//!
//! ```text
//! header = [magic 8 bytes][format version u32 LE][reserved u32 = 0]
//! record = [len u32 LE][synced u64 LE][checksum u64 LE = xxh3(len ‖ synced ‖ payload)][payload]
//! ```
//!
//! `synced` is the writer's promise: every byte of the file before that offset was fsynced
//! before this record was written.
//!
//! Reading rules (the crash reasoning): a log is only appended to, and a crash can damage only
//! bytes that were never fsynced. When a record at offset `p` is bad, the reader looks at every
//! later offset for an intact record; one whose `synced` lies beyond `p` proves that the damaged
//! bytes had been made durable before — so the damage is not from a crash, and the read fails
//! with `Corruption` naming the file and offset. Otherwise, in the newest log only, the rest of
//! the file is a torn tail of writes that were never made durable, and reading stops there.
//! Anything else is `Corruption`.

use kvstore_base::checksum::xxh3_parts;
use kvstore_base::coding::{read_u32_at, read_u64_at};
use kvstore_base::{Error, Result};
use std::path::Path;

/// Size of a log file header.
pub const LOG_HEADER_BYTES: usize = 16;
/// Size of a record header (length + synced offset + checksum).
pub const RECORD_HEADER_BYTES: usize = 20;
/// Current version of the log formats. Version 1 (no `synced` field) and version 2 (WAL batch
/// header as fixed u64 + u32 instead of two varints) are refused.
pub const LOG_FORMAT_VERSION: u32 = 3;

/// Builds a log file header.
pub fn encode_header(magic: &[u8; 8]) -> [u8; LOG_HEADER_BYTES] {
    let mut h = [0u8; LOG_HEADER_BYTES];
    h[..8].copy_from_slice(magic);
    h[8..12].copy_from_slice(&LOG_FORMAT_VERSION.to_le_bytes());
    h
}

/// Frames `payload` as one record, appended to `out`. `synced` is the file offset up to which
/// the file is known to be durable when this record is written (at least the header's end).
pub fn encode_record(out: &mut Vec<u8>, payload: &[u8], synced: u64) {
    let len = (payload.len() as u32).to_le_bytes();
    let synced = synced.to_le_bytes();
    let sum = xxh3_parts(&[&len, &synced, payload]);
    out.extend_from_slice(&len);
    out.extend_from_slice(&synced);
    out.extend_from_slice(&sum.to_le_bytes());
    out.extend_from_slice(payload);
}

/// How a log read ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEnd {
    /// Every byte was a whole, valid record.
    Clean,
    /// A torn tail starting at this offset was ignored (only for the newest log).
    TornTail { offset: u64 },
}

/// Reads every record of a log held in `data`, calling `on_record(offset, payload)` for each.
/// `newest` says whether a torn tail is acceptable (only the newest log can have one).
pub fn read_log(
    path: &Path,
    data: &[u8],
    magic: &[u8; 8],
    newest: bool,
    mut on_record: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<LogEnd> {
    if data.len() < LOG_HEADER_BYTES {
        // A crash right after creating the file, before its header was synced.
        if newest {
            return Ok(LogEnd::TornTail { offset: 0 });
        }
        return Err(Error::corruption(path, 0, "log shorter than its header"));
    }
    if &data[..8] != magic {
        return Err(Error::corruption(path, 0, "bad magic number"));
    }
    let version = read_u32_at(data, 8).unwrap_or(0);
    if version != LOG_FORMAT_VERSION {
        return Err(Error::corruption(
            path,
            8,
            format!("unsupported log format version {version}"),
        ));
    }
    let mut pos = LOG_HEADER_BYTES;
    while pos < data.len() {
        match check_record(data, pos) {
            Ok((payload, next)) => {
                on_record(pos as u64, payload)?;
                pos = next;
            }
            Err(why) => {
                if let Some(witness) = durable_witness_after(data, pos) {
                    return Err(Error::corruption(
                        path,
                        pos as u64,
                        format!(
                            "{why}; the intact record at offset {witness} shows these bytes \
                             had been fsynced, so this is damage, not a torn write"
                        ),
                    ));
                }
                if newest {
                    return Ok(LogEnd::TornTail { offset: pos as u64 });
                }
                return Err(Error::corruption(path, pos as u64, why));
            }
        }
    }
    Ok(LogEnd::Clean)
}

/// The offset of an intact record after `bad` whose `synced` field lies beyond `bad`, if any.
///
/// Every offset is tried, because the damaged record's own length cannot be trusted. The scan
/// stays linear: a candidate's checksum is computed only if its `synced` field is a plausible
/// offset (`LOG_HEADER_BYTES ..= its own offset`), which random bytes almost never are.
fn durable_witness_after(data: &[u8], bad: usize) -> Option<usize> {
    let last = data.len().checked_sub(RECORD_HEADER_BYTES)?;
    (bad + 1..=last).find(|&q| {
        let Some(synced) = read_u64_at(data, q + 4) else {
            return false;
        };
        synced > bad as u64 && synced <= q as u64 && check_record(data, q).is_ok()
    })
}

/// Validates the record at `pos`; returns its payload and the next offset.
fn check_record(data: &[u8], pos: usize) -> std::result::Result<(&[u8], usize), String> {
    let header = data
        .get(pos..pos + RECORD_HEADER_BYTES)
        .ok_or("record header truncated")?;
    let len = read_u32_at(header, 0).ok_or("record header truncated")? as usize;
    let stored = read_u64_at(header, 12).ok_or("record header truncated")?;
    if len == 0 {
        return Err("zero-length record".into());
    }
    let end = pos
        .checked_add(RECORD_HEADER_BYTES + len)
        .filter(|&end| end <= data.len())
        .ok_or("record runs past the end of the file")?;
    let payload = &data[pos + RECORD_HEADER_BYTES..end];
    let computed = xxh3_parts(&[&header[..12], payload]);
    if computed != stored {
        return Err(format!(
            "record checksum mismatch: stored {stored:#018x}, computed {computed:#018x}"
        ));
    }
    Ok((payload, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAGIC: &[u8; 8] = b"TESTLOG\0";

    /// A log whose every record was fsynced before the next was written.
    fn log(payloads: &[&[u8]]) -> Vec<u8> {
        let mut d = encode_header(MAGIC).to_vec();
        for p in payloads {
            let synced = d.len() as u64;
            encode_record(&mut d, p, synced);
        }
        d
    }

    /// A log written without any fsync after its header.
    fn unsynced_log(payloads: &[&[u8]]) -> Vec<u8> {
        let mut d = encode_header(MAGIC).to_vec();
        for p in payloads {
            encode_record(&mut d, p, LOG_HEADER_BYTES as u64);
        }
        d
    }

    fn read(data: &[u8], newest: bool) -> Result<(Vec<Vec<u8>>, LogEnd)> {
        let mut out = Vec::new();
        let end = read_log(Path::new("t.log"), data, MAGIC, newest, |_, p| {
            out.push(p.to_vec());
            Ok(())
        })?;
        Ok((out, end))
    }

    #[test]
    fn clean_log_reads_all() {
        let d = log(&[b"a", b"bb", b"ccc"]);
        let (r, end) = read(&d, false).unwrap();
        assert_eq!(r, vec![b"a".to_vec(), b"bb".to_vec(), b"ccc".to_vec()]);
        assert_eq!(end, LogEnd::Clean);
    }

    #[test]
    fn every_truncation_of_the_newest_log_is_a_torn_tail() {
        let d = log(&[b"first", b"second", b"third"]);
        for cut in 0..d.len() {
            let (r, _) = read(&d[..cut], true).unwrap();
            // Only whole records come back, in order.
            let all = [b"first".to_vec(), b"second".to_vec(), b"third".to_vec()];
            assert_eq!(r[..], all[..r.len()]);
        }
    }

    #[test]
    fn truncated_older_log_is_corruption() {
        let d = log(&[b"first", b"second"]);
        let e = read(&d[..d.len() - 1], false).unwrap_err();
        assert!(e.is_corruption(), "{e}");
    }

    #[test]
    fn flipped_byte_before_a_valid_record_is_corruption_even_in_newest() {
        let mut d = log(&[b"first", b"second"]);
        d[LOG_HEADER_BYTES + RECORD_HEADER_BYTES] ^= 1; // inside "first"
        let e = read(&d, true).unwrap_err();
        assert!(e.is_corruption());
        assert!(e.to_string().contains("offset 16"), "{e}");
    }

    #[test]
    fn bad_magic_and_version_are_corruption() {
        let mut d = log(&[b"x"]);
        d[0] = b'X';
        assert!(read(&d, true).unwrap_err().is_corruption());
        let mut d = log(&[b"x"]);
        d[8] = 9;
        assert!(read(&d, true).unwrap_err().is_corruption());
    }

    #[test]
    fn damaged_length_of_a_synced_record_is_corruption_not_a_torn_tail() {
        let d = log(&[b"first", b"second", b"third"]);
        // Every bit of the first record's length field: the reader can no longer find the
        // next record by following it, but the intact later records prove it was durable.
        for byte in 0..4 {
            for bit in 0..8 {
                let mut bad = d.clone();
                bad[LOG_HEADER_BYTES + byte] ^= 1 << bit;
                let e = read(&bad, true).unwrap_err();
                assert!(e.is_corruption(), "byte {byte} bit {bit}: {e}");
                assert!(e.to_string().contains("offset 16"), "{e}");
            }
        }
    }

    #[test]
    fn damage_to_the_last_record_of_the_newest_log_is_a_torn_tail() {
        let d = log(&[b"first", b"second"]);
        let last = d.len() - 1;
        let mut bad = d.clone();
        bad[last] ^= 0xff;
        let (r, end) = read(&bad, true).unwrap();
        assert_eq!(r, vec![b"first".to_vec()]);
        assert!(matches!(end, LogEnd::TornTail { .. }));
    }

    #[test]
    fn damage_followed_only_by_unsynced_records_is_a_torn_tail() {
        // Pages of an unsynced write may reach the disk in any order, so an intact record
        // after a damaged one proves nothing unless it says the damaged bytes were synced.
        let d = unsynced_log(&[b"first", b"second", b"third"]);
        let mut bad = d.clone();
        bad[LOG_HEADER_BYTES + RECORD_HEADER_BYTES] ^= 1;
        let (r, end) = read(&bad, true).unwrap();
        assert!(r.is_empty());
        assert_eq!(end, LogEnd::TornTail { offset: 16 });
        // In an older log the same damage is corruption.
        assert!(read(&bad, false).unwrap_err().is_corruption());
    }

    #[test]
    fn a_large_garbage_tail_is_scanned_in_linear_time() {
        let mut d = log(&[b"first"]);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..(4 << 20) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            d.push(x as u8);
        }
        let t = std::time::Instant::now();
        let (r, end) = read(&d, true).unwrap();
        assert_eq!(r, vec![b"first".to_vec()]);
        assert!(matches!(end, LogEnd::TornTail { .. }));
        // Quadratic behaviour would take minutes here; linear takes milliseconds.
        assert!(t.elapsed() < std::time::Duration::from_secs(20));
    }
}
