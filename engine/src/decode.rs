//! Entry points to the engine's decoders for fuzzers and tools. Each takes arbitrary bytes and
//! must return an error — never panic, hang or allocate beyond its input — on anything
//! malformed. Not a stable API.

use std::path::Path;

/// Decodes a write batch (a WAL record payload).
pub fn write_batch(payload: &[u8]) -> Result<usize, String> {
    crate::WriteBatch::decode(payload).map(|(_, b)| b.len())
}

/// Decodes a manifest version edit.
pub fn version_edit(payload: &[u8]) -> Result<(), String> {
    crate::manifest::VersionEdit::decode(payload).map(|_| ())
}

/// Reads a whole WAL segment image (header and records), decoding every batch; `newest`
/// allows a torn tail. Returns the number of records.
pub fn wal_segment(data: &[u8], newest: bool) -> Result<usize, String> {
    let mut n = 0;
    crate::record::read_log(
        Path::new("fuzz.log"),
        data,
        crate::wal::WAL_MAGIC,
        newest,
        |_, payload| {
            crate::WriteBatch::decode(payload)
                .map_err(|e| kvstore_base::Error::corruption("fuzz.log", 0, e))?;
            n += 1;
            Ok(())
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(n)
}

/// Reads a whole manifest image, decoding every edit.
pub fn manifest(data: &[u8]) -> Result<usize, String> {
    let mut n = 0;
    crate::record::read_log(
        Path::new("MANIFEST-fuzz"),
        data,
        crate::manifest::MANIFEST_MAGIC,
        true,
        |_, payload| {
            crate::manifest::VersionEdit::decode(payload)
                .map_err(|e| kvstore_base::Error::corruption("MANIFEST-fuzz", 0, e))?;
            n += 1;
            Ok(())
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(n)
}
