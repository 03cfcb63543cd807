//! The record framing shared by WAL segments and the manifest (see `docs/formats/wal.md`).
//!
//! A log file is a 16-byte header followed by records:
//!
//! ```text
//! header = [magic 8 bytes][format version u32 LE][reserved u32 = 0]
//! record = [word u32 LE][synced u64 LE, if bit 31 of word][checksum u64 LE][payload]
//!          word     = payload length (bits 0–30) | 1 << 31 when `synced` follows
//!          checksum = xxh3(word ‖ synced, if present ‖ payload)
//! ```
//!
//! `synced` is the writer's promise: every byte of the file before that offset was fsynced
//! before this record was written. A record leaves it out exactly when it would say no more
//! than the header did (`synced` = 16): such a record can never prove anything durable, so the
//! reader loses nothing, and a log written without fsyncs (`sync = false`) saves 8 bytes a
//! record. Version 3 files, where every record carries it, are still read.
//!
//! Reading rules (the crash reasoning): a log is only appended to, and a crash can damage only
//! bytes that were never fsynced. When a record at offset `p` is bad, the reader looks at every
//! later offset for an intact record; one whose `synced` lies beyond `p` proves that the damaged
//! bytes had been made durable before — so the damage is not from a crash, and the read fails
//! with `Corruption` naming the file and offset. Otherwise, in the newest log holding records only (the
//! caller says which), the rest of the file is a torn tail of writes that were never made durable, and reading stops there.
//! Anything else is `Corruption`.

use kvstore_base::checksum::xxh3_parts;
use kvstore_base::coding::{read_u32_at, read_u64_at};
use kvstore_base::{Error, Result};
use std::path::Path;

/// Size of a log file header.
pub const LOG_HEADER_BYTES: usize = 16;
/// Size of a record header without `synced` (length word + checksum).
pub const RECORD_HEADER_BYTES: usize = 12;
/// Size of a record header that carries `synced`.
pub const SYNCED_RECORD_HEADER_BYTES: usize = 20;
/// Bit of the length word saying that `synced` follows it.
const SYNCED_FLAG: u32 = 1 << 31;
/// The largest payload a record can frame: the length word keeps its top bit for the flag.
pub const MAX_RECORD_PAYLOAD_BYTES: usize = (SYNCED_FLAG - 1) as usize;
/// Current version of the log formats. Version 3 (every record carries `synced`) is still read;
/// version 1 (no `synced` field) and version 2 (WAL batch header as fixed u64 + u32 instead of
/// two varints) are refused.
pub const LOG_FORMAT_VERSION: u32 = 4;
/// The one older version still read.
const LOG_FORMAT_VERSION_3: u32 = 3;

/// Builds a log file header.
pub fn encode_header(magic: &[u8; 8]) -> [u8; LOG_HEADER_BYTES] {
    let mut h = [0u8; LOG_HEADER_BYTES];
    h[..8].copy_from_slice(magic);
    h[8..12].copy_from_slice(&LOG_FORMAT_VERSION.to_le_bytes());
    h
}

/// Frames `payload` as one record, appended to `out`. `synced` is the file offset up to which
/// the file is known to be durable when this record is written (at least the header's end).
/// Fails, writing nothing, if the payload is over [`MAX_RECORD_PAYLOAD_BYTES`].
pub fn encode_record(out: &mut Vec<u8>, payload: &[u8], synced: u64) -> Result<()> {
    if payload.len() > MAX_RECORD_PAYLOAD_BYTES {
        return Err(Error::InvalidArgument(format!(
            "log record of {} bytes exceeds the limit of {MAX_RECORD_PAYLOAD_BYTES}",
            payload.len()
        )));
    }
    let carries = synced > LOG_HEADER_BYTES as u64;
    let word = (payload.len() as u32 | if carries { SYNCED_FLAG } else { 0 }).to_le_bytes();
    let synced = synced.to_le_bytes();
    let synced: &[u8] = if carries { &synced } else { &[] };
    let sum = xxh3_parts(&[&word, synced, payload]);
    out.extend_from_slice(&word);
    out.extend_from_slice(synced);
    out.extend_from_slice(&sum.to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
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
/// `tail_may_be_torn` says whether a torn tail is acceptable: only in the newest log that holds
/// records (a manifest; the last WAL segment with records).
pub fn read_log(
    path: &Path,
    data: &[u8],
    magic: &[u8; 8],
    tail_may_be_torn: bool,
    mut on_record: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<LogEnd> {
    if data.len() < LOG_HEADER_BYTES {
        // A crash right after creating the file, before its header was synced.
        if tail_may_be_torn {
            return Ok(LogEnd::TornTail { offset: 0 });
        }
        return Err(Error::corruption(path, 0, "log shorter than its header"));
    }
    if &data[..8] != magic {
        return Err(Error::corruption(path, 0, "bad magic number"));
    }
    let version = read_u32_at(data, 8).unwrap_or(0);
    let framing = match version {
        LOG_FORMAT_VERSION => Framing::SyncedWhenFlagged,
        LOG_FORMAT_VERSION_3 => Framing::AlwaysSynced,
        _ => {
            return Err(Error::corruption(
                path,
                8,
                format!("unsupported log format version {version}"),
            ))
        }
    };
    let mut pos = LOG_HEADER_BYTES;
    while pos < data.len() {
        match check_record(data, pos, framing) {
            Ok((payload, next)) => {
                on_record(pos as u64, payload)?;
                pos = next;
            }
            Err(why) => {
                if let Some(witness) = durable_witness_after(data, pos, framing) {
                    return Err(Error::corruption(
                        path,
                        pos as u64,
                        format!(
                            "{why}; the intact record at offset {witness} shows these bytes \
                             had been fsynced, so this is damage, not a torn write"
                        ),
                    ));
                }
                if tail_may_be_torn {
                    return Ok(LogEnd::TornTail { offset: pos as u64 });
                }
                return Err(Error::corruption(path, pos as u64, why));
            }
        }
    }
    Ok(LogEnd::Clean)
}

/// Where a record's header says whether `synced` is present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Version 4: bit 31 of the length word.
    SyncedWhenFlagged,
    /// Version 3: every record carries it.
    AlwaysSynced,
}

/// The length word at `pos`, split into the payload length and the header's size.
fn record_shape(data: &[u8], pos: usize, framing: Framing) -> Option<(usize, usize)> {
    let word = read_u32_at(data, pos)?;
    Some(match framing {
        Framing::AlwaysSynced => (word as usize, SYNCED_RECORD_HEADER_BYTES),
        Framing::SyncedWhenFlagged if word & SYNCED_FLAG != 0 => {
            ((word & !SYNCED_FLAG) as usize, SYNCED_RECORD_HEADER_BYTES)
        }
        Framing::SyncedWhenFlagged => (word as usize, RECORD_HEADER_BYTES),
    })
}

/// The offset of an intact record after `bad` whose `synced` field lies beyond `bad`, if any.
///
/// Every offset is tried, because the damaged record's own length cannot be trusted. Records
/// without `synced` cannot be witnesses and are skipped on their flag. The scan stays linear: a
/// candidate's checksum is computed only if its `synced` field is a plausible offset
/// (`LOG_HEADER_BYTES ..= its own offset`), which 64 random bits almost never are.
fn durable_witness_after(data: &[u8], bad: usize, framing: Framing) -> Option<usize> {
    let last = data.len().checked_sub(SYNCED_RECORD_HEADER_BYTES)?;
    (bad + 1..=last).find(|&q| {
        let Some((_, SYNCED_RECORD_HEADER_BYTES)) = record_shape(data, q, framing) else {
            return false;
        };
        let Some(synced) = read_u64_at(data, q + 4) else {
            return false;
        };
        synced > bad as u64 && synced <= q as u64 && check_record(data, q, framing).is_ok()
    })
}

/// Validates the record at `pos`; returns its payload and the next offset.
fn check_record(
    data: &[u8],
    pos: usize,
    framing: Framing,
) -> std::result::Result<(&[u8], usize), String> {
    let (len, header_len) = record_shape(data, pos, framing).ok_or("record header truncated")?;
    let header = data
        .get(pos..pos + header_len)
        .ok_or("record header truncated")?;
    let stored = read_u64_at(header, header_len - 8).ok_or("record header truncated")?;
    if len == 0 {
        return Err("zero-length record".into());
    }
    let end = pos
        .checked_add(header_len + len)
        .filter(|&end| end <= data.len())
        .ok_or("record runs past the end of the file")?;
    let payload = &data[pos + header_len..end];
    // The checksum covers the length word and `synced`: everything in the header before it.
    let computed = xxh3_parts(&[&header[..header_len - 8], payload]);
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
            encode_record(&mut d, p, synced).unwrap();
        }
        d
    }

    /// A log written without any fsync after its header.
    fn unsynced_log(payloads: &[&[u8]]) -> Vec<u8> {
        let mut d = encode_header(MAGIC).to_vec();
        for p in payloads {
            encode_record(&mut d, p, LOG_HEADER_BYTES as u64).unwrap();
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
    fn a_header_only_log_reads_clean_and_empty_even_when_not_the_newest() {
        let d = log(&[]);
        assert_eq!(d.len(), LOG_HEADER_BYTES);
        for newest in [false, true] {
            let (r, end) = read(&d, newest).unwrap();
            assert!(r.is_empty());
            assert_eq!(end, LogEnd::Clean, "newest = {newest}");
        }
    }

    #[test]
    fn the_largest_payload_length_never_sets_the_synced_flag() {
        // The length word keeps bit 31 for the flag: a payload length that reached it would
        // read back as a shorter record carrying `synced`.
        assert_eq!(MAX_RECORD_PAYLOAD_BYTES as u32 & SYNCED_FLAG, 0);
        assert_eq!(MAX_RECORD_PAYLOAD_BYTES, (1 << 31) - 1);
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
    fn a_record_carries_synced_only_when_it_says_more_than_the_header() {
        let mut plain = Vec::new();
        encode_record(&mut plain, b"abc", LOG_HEADER_BYTES as u64).unwrap();
        assert_eq!(plain.len(), RECORD_HEADER_BYTES + 3);
        assert_eq!(read_u32_at(&plain, 0), Some(3), "flag clear");
        assert_eq!(
            read_u64_at(&plain, 4),
            Some(xxh3_parts(&[&plain[..4], b"abc"]))
        );

        let mut synced = Vec::new();
        encode_record(&mut synced, b"abc", 1000).unwrap();
        assert_eq!(synced.len(), SYNCED_RECORD_HEADER_BYTES + 3);
        assert_eq!(read_u32_at(&synced, 0), Some(3 | SYNCED_FLAG));
        assert_eq!(read_u64_at(&synced, 4), Some(1000));
        assert_eq!(
            read_u64_at(&synced, 12),
            Some(xxh3_parts(&[&synced[..12], b"abc"]))
        );
    }

    /// A version-3 image: every record carries `synced`, the length word has no flag.
    fn v3_log(payloads: &[&[u8]], synced_each: bool) -> Vec<u8> {
        let mut d = encode_header(MAGIC).to_vec();
        d[8..12].copy_from_slice(&3u32.to_le_bytes());
        for p in payloads {
            let synced = if synced_each {
                d.len()
            } else {
                LOG_HEADER_BYTES
            } as u64;
            let len = (p.len() as u32).to_le_bytes();
            let sum = xxh3_parts(&[&len, &synced.to_le_bytes(), p]);
            d.extend_from_slice(&len);
            d.extend_from_slice(&synced.to_le_bytes());
            d.extend_from_slice(&sum.to_le_bytes());
            d.extend_from_slice(p);
        }
        d
    }

    #[test]
    fn version_3_logs_are_still_read_with_the_same_rules() {
        let d = v3_log(&[b"first", b"second", b"third"], true);
        let (r, end) = read(&d, false).unwrap();
        assert_eq!(
            r,
            vec![b"first".to_vec(), b"second".to_vec(), b"third".to_vec()]
        );
        assert_eq!(end, LogEnd::Clean);
        // Damage followed by a record whose `synced` covers it: corruption.
        let mut bad = d.clone();
        bad[LOG_HEADER_BYTES + SYNCED_RECORD_HEADER_BYTES] ^= 1;
        let e = read(&bad, true).unwrap_err();
        assert!(e.to_string().contains("offset 16"), "{e}");
        // The same damage in a log never synced past its header: a torn tail.
        let mut bad = v3_log(&[b"first", b"second"], false);
        bad[LOG_HEADER_BYTES + SYNCED_RECORD_HEADER_BYTES] ^= 1;
        assert_eq!(read(&bad, true).unwrap().1, LogEnd::TornTail { offset: 16 });
        // Versions 1 and 2 are refused.
        for v in [1u32, 2] {
            let mut old = d.clone();
            old[8..12].copy_from_slice(&v.to_le_bytes());
            assert!(read(&old, true).unwrap_err().is_corruption());
        }
    }

    #[test]
    fn damage_among_unsynced_records_is_caught_by_a_later_synced_one() {
        // Three records written without fsync, then an fsync, then one record: only that last
        // record carries `synced`, and it covers damage in any of the first three.
        let mut d = encode_header(MAGIC).to_vec();
        for p in [&b"one"[..], b"two", b"three"] {
            encode_record(&mut d, p, LOG_HEADER_BYTES as u64).unwrap();
        }
        let synced = d.len() as u64;
        encode_record(&mut d, b"four", synced).unwrap();
        let second = LOG_HEADER_BYTES + RECORD_HEADER_BYTES + 3;
        for at in [
            LOG_HEADER_BYTES + RECORD_HEADER_BYTES,
            second + RECORD_HEADER_BYTES + 1,
        ] {
            let mut bad = d.clone();
            bad[at] ^= 0x40;
            let e = read(&bad, true).unwrap_err();
            assert!(e.is_corruption(), "{e}");
        }
        // Without the last record, the same damage is a torn tail.
        let mut bad = d[..synced as usize].to_vec();
        bad[second + RECORD_HEADER_BYTES + 1] ^= 0x40;
        let (r, end) = read(&bad, true).unwrap();
        assert_eq!(r, vec![b"one".to_vec()]);
        assert_eq!(
            end,
            LogEnd::TornTail {
                offset: second as u64
            }
        );
    }

    #[test]
    fn a_payload_over_the_limit_is_refused_without_writing() {
        // Zeroed pages stay untouched: nothing is read before the length check.
        let big = vec![0u8; MAX_RECORD_PAYLOAD_BYTES + 1];
        let mut out = vec![1, 2, 3];
        assert!(encode_record(&mut out, &big, 16).is_err());
        assert_eq!(out, vec![1, 2, 3]);
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
