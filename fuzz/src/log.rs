//! Log images (WAL segments and manifests) built from payloads, with correct checksums.
//!
//! Layout (`docs/formats/wal.md`): a 16-byte header `[magic 8][version u32 = 3][reserved u32]`,
//! then records `[len u32][synced u64][xxh3(len ‖ synced ‖ payload) u64][payload]`, all
//! little-endian. The images here claim each record was fsynced before the next.

use kvstore_base::checksum::xxh3_parts;

/// Magic of a WAL segment.
pub const WAL_MAGIC: &[u8; 8] = b"KVSTWAL\0";
/// Magic of a manifest.
pub const MANIFEST_MAGIC: &[u8; 8] = b"KVSTMANI";
/// Size of the log header.
pub const LOG_HEADER_BYTES: usize = 16;
/// Size of a record header.
pub const RECORD_HEADER_BYTES: usize = 20;
/// Log format version written in the header (3: varint write-batch header).
pub const LOG_FORMAT_VERSION: u32 = 3;

/// A log image holding `payloads` as records, each with a correct checksum.
pub fn frame_log(magic: &[u8; 8], payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(LOG_HEADER_BYTES);
    out.extend_from_slice(magic);
    out.extend_from_slice(&LOG_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for p in payloads {
        let len = (p.len() as u32).to_le_bytes();
        let synced = (out.len() as u64).to_le_bytes();
        let sum = xxh3_parts(&[&len, &synced, p]);
        out.extend_from_slice(&len);
        out.extend_from_slice(&synced);
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
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let start = pos + RECORD_HEADER_BYTES;
        let Some(p) = image.get(start..start + len) else {
            break;
        };
        out.push(p.to_vec());
        pos = start + len;
    }
    out
}
