//! Log images (WAL segments and manifests) built from payloads, with correct checksums.
//!
//! Layout (`docs/formats/wal.md`): a 16-byte header `[magic 8][version u32 = 4][reserved u32]`,
//! then records `[word u32][synced u64, if bit 31 of word][xxh3(word ‖ synced? ‖ payload) u64]
//! [payload]`, all little-endian, where `word` is the payload length with bit 31 set when
//! `synced` follows. The images here claim each record was fsynced before the next, so every
//! record but the first (whose `synced` would be the header's end, which is left out) carries
//! it.

use kvstore_base::checksum::xxh3_parts;

/// Magic of a WAL segment.
pub const WAL_MAGIC: &[u8; 8] = b"KVSTWAL\0";
/// Magic of a manifest.
pub const MANIFEST_MAGIC: &[u8; 8] = b"KVSTMANI";
/// Size of the log header.
pub const LOG_HEADER_BYTES: usize = 16;
/// Size of a record header without `synced`.
pub const RECORD_HEADER_BYTES: usize = 12;
/// Size of a record header with `synced`.
pub const SYNCED_RECORD_HEADER_BYTES: usize = 20;
/// Bit 31 of the length word: `synced` follows.
const SYNCED_FLAG: u32 = 1 << 31;
/// Log format version written in the header (4: `synced` only where it says more than the
/// header).
pub const LOG_FORMAT_VERSION: u32 = 4;

/// A log image holding `payloads` as records, each with a correct checksum.
pub fn frame_log(magic: &[u8; 8], payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(LOG_HEADER_BYTES);
    out.extend_from_slice(magic);
    out.extend_from_slice(&LOG_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for p in payloads {
        let carries = out.len() > LOG_HEADER_BYTES;
        let word = (p.len() as u32 | if carries { SYNCED_FLAG } else { 0 }).to_le_bytes();
        let synced = (out.len() as u64).to_le_bytes();
        let synced: &[u8] = if carries { &synced } else { &[] };
        let sum = xxh3_parts(&[&word, synced, p]);
        out.extend_from_slice(&word);
        out.extend_from_slice(synced);
        out.extend_from_slice(&sum.to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// The payloads of a well-formed log image (stops at the first record that does not fit; no
/// checksum check). For building seed corpora from real files.
pub fn payloads(image: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = LOG_HEADER_BYTES;
    while let Some(h) = image.get(pos..pos + RECORD_HEADER_BYTES) {
        let word = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let len = (word & !SYNCED_FLAG) as usize;
        let start = pos
            + if word & SYNCED_FLAG != 0 {
                SYNCED_RECORD_HEADER_BYTES
            } else {
                RECORD_HEADER_BYTES
            };
        let Some(p) = image.get(start..start + len) else {
            break;
        };
        out.push(p.to_vec());
        pos = start + len;
    }
    out
}
