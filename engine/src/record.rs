//! The record framing shared by WAL segments and the manifest (see `docs/formats/wal.md`).
//!
//! A log file is a 16-byte header followed by records:
//!
//! ```text
//! header = [magic 8 bytes][format version u32 LE][reserved u32 = 0]
//! record = [len u32 LE][checksum u64 LE = xxh3(len bytes ‖ payload)][payload: len bytes]
//! ```
//!
//! Reading rules (the crash reasoning): a log is only appended to, and every acknowledged record
//! was fsynced, so damage from a crash can only sit *after* the last acknowledged record. The
//! reader therefore treats a bad record as a torn tail — and stops there — only when nothing
//! valid follows it and the caller says this is the newest log; anything else is `Corruption`
//! naming the file and offset.

use kvstore_base::checksum::xxh3_parts;
use kvstore_base::coding::{read_u32_at, read_u64_at};
use kvstore_base::{Error, Result};
use std::path::Path;

/// Size of a log file header.
pub const LOG_HEADER_BYTES: usize = 16;
/// Size of a record header (length + checksum).
pub const RECORD_HEADER_BYTES: usize = 12;
/// Current version of the log formats.
pub const LOG_FORMAT_VERSION: u32 = 1;

/// Builds a log file header.
pub fn encode_header(magic: &[u8; 8]) -> [u8; LOG_HEADER_BYTES] {
    let mut h = [0u8; LOG_HEADER_BYTES];
    h[..8].copy_from_slice(magic);
    h[8..12].copy_from_slice(&LOG_FORMAT_VERSION.to_le_bytes());
    h
}

/// Frames `payload` as one record, appended to `out`.
pub fn encode_record(out: &mut Vec<u8>, payload: &[u8]) {
    let len = (payload.len() as u32).to_le_bytes();
    let sum = xxh3_parts(&[&len, payload]);
    out.extend_from_slice(&len);
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
                // A bad record followed by a valid one cannot come from a crash: only the
                // unsynced tail is ever damaged by one.
                let followed_by_valid = record_extent(data, pos)
                    .map(|next| next < data.len() && check_record(data, next).is_ok())
                    .unwrap_or(false);
                if newest && !followed_by_valid {
                    return Ok(LogEnd::TornTail { offset: pos as u64 });
                }
                return Err(Error::corruption(path, pos as u64, why));
            }
        }
    }
    Ok(LogEnd::Clean)
}

/// End offset of the record at `pos` according to its length field, if it fits in `data`.
fn record_extent(data: &[u8], pos: usize) -> Option<usize> {
    let len = read_u32_at(data, pos)? as usize;
    let end = pos.checked_add(RECORD_HEADER_BYTES)?.checked_add(len)?;
    (end <= data.len()).then_some(end)
}

/// Validates the record at `pos`; returns its payload and the next offset.
fn check_record(data: &[u8], pos: usize) -> std::result::Result<(&[u8], usize), String> {
    let len_bytes = data.get(pos..pos + 4).ok_or("record header truncated")?;
    let stored = read_u64_at(data, pos + 4).ok_or("record header truncated")?;
    let len = read_u32_at(data, pos).ok_or("record header truncated")? as usize;
    if len == 0 {
        return Err("zero-length record".into());
    }
    let end = record_extent(data, pos).ok_or("record runs past the end of the file")?;
    let payload = &data[pos + RECORD_HEADER_BYTES..end];
    let computed = xxh3_parts(&[len_bytes, payload]);
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

    fn log(payloads: &[&[u8]]) -> Vec<u8> {
        let mut d = encode_header(MAGIC).to_vec();
        for p in payloads {
            encode_record(&mut d, p);
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
}
