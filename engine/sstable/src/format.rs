//! The physical layer of a table: block handles, the per-block trailer, the footer, and reading
//! one checksummed block back. Byte layouts: `docs/formats/sstable.md`.
//!
//! Every block on disk is `stored bytes | type u8 | xxh3-64(stored bytes + type) u64 LE`, where a
//! [`BlockHandle`] covers the stored bytes only. The checksum is verified before anything else
//! of the block is looked at, so a length or offset read from a damaged block is never followed.
//!
//! Invariant that bounds memory: a block is stored zstd-compressed only if its decoded length is
//! at most the offset of the block's end in the file. A reader therefore never allocates more
//! than the file size for one block, whatever the bytes say.

use crate::options::Compression;
use kvstore_base::checksum::xxh3;
use kvstore_base::coding::{get_u32, get_u64, get_varint, put_u32, put_u64, put_varint};
use kvstore_base::fs::{RandomAccessFile, SharedBytes};
use kvstore_base::{Error, Result};
use std::cell::RefCell;
use std::path::Path;

/// The last 8 bytes of every table.
pub const MAGIC: [u8; 8] = *b"KVSTSST\0";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Type byte and checksum after each block's stored bytes.
pub const BLOCK_TRAILER_BYTES: usize = 9;
/// Three handles of two u64s, the version, the footer checksum and the magic.
pub const FOOTER_BYTES: usize = 3 * 16 + 4 + 8 + 8;

const TYPE_RAW: u8 = 0;
const TYPE_ZSTD: u8 = 1;

thread_local! {
    // zstd contexts are costly to set up (hundreds of KiB); one per thread is reused for every
    // block instead of one per block.
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

fn zstd_compress(data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return zstd::bulk::compress(data, level);
        };
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        match slot.as_mut() {
            Some((_, c)) => c.compress(data),
            None => zstd::bulk::compress(data, level),
        }
    })
}

/// Decompresses a frame that must decode to at most `capacity` bytes.
fn zstd_decompress(frame: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return zstd::bulk::decompress(frame, capacity);
        };
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        match slot.as_mut() {
            Some(d) => d.decompress(frame, capacity),
            None => zstd::bulk::decompress(frame, capacity),
        }
    })
}

/// Where a block's stored bytes lie in the file (the 9-byte trailer follows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHandle {
    pub offset: u64,
    pub size: u64,
}

impl BlockHandle {
    pub fn encode_to(&self, buf: &mut Vec<u8>) {
        put_varint(buf, self.offset);
        put_varint(buf, self.size);
    }

    /// Decodes a handle from the front of `input`; `None` when truncated.
    pub fn decode_from(input: &mut &[u8]) -> Option<BlockHandle> {
        Some(BlockHandle {
            offset: get_varint(input)?,
            size: get_varint(input)?,
        })
    }

    /// Offset just past the block's trailer, if it does not overflow.
    pub fn end(&self) -> Option<u64> {
        self.offset
            .checked_add(self.size)?
            .checked_add(BLOCK_TRAILER_BYTES as u64)
    }
}

/// Turns a built block into the bytes to append at `offset`: stored bytes plus trailer.
/// With zstd, the stored bytes are `varint(decoded length) | zstd frame`, used only when that is at
/// least 12.5 % smaller and respects the memory-bound invariant of this module.
pub fn seal_block(raw: Vec<u8>, compression: Compression, offset: u64) -> Vec<u8> {
    let mut stored = raw;
    let mut block_type = TYPE_RAW;
    if let Compression::Zstd(level) = compression {
        if let Ok(frame) = zstd_compress(&stored, level) {
            let mut packed = Vec::with_capacity(frame.len() + 10);
            put_varint(&mut packed, stored.len() as u64);
            packed.extend_from_slice(&frame);
            let worth_it = packed.len() <= stored.len() - stored.len() / 8;
            let end = offset + (packed.len() + BLOCK_TRAILER_BYTES) as u64;
            if worth_it && stored.len() as u64 <= end {
                stored = packed;
                block_type = TYPE_ZSTD;
            }
        }
    }
    stored.push(block_type);
    let sum = xxh3(&stored);
    put_u64(&mut stored, sum);
    stored
}

/// Reads the block at `handle`, which must end at or before `limit` (the start of the region
/// that follows its kind of block), verifies its checksum and decompresses it.
/// Returns the decoded bytes and whether they were stored uncompressed.
pub fn read_block(
    file: &dyn RandomAccessFile,
    path: &Path,
    handle: BlockHandle,
    limit: u64,
) -> Result<(Vec<u8>, bool)> {
    read_block_into(file, path, handle, limit, Vec::new())
}

/// [`read_block`] into `buf`, a spare buffer (e.g. one the block cache recycled from an evicted
/// block): its allocation is reused, and the bytes it already holds are overwritten by the read
/// instead of being zeroed first. Only the part past its current length is zero-filled.
pub fn read_block_into(
    file: &dyn RandomAccessFile,
    path: &Path,
    handle: BlockHandle,
    limit: u64,
    mut buf: Vec<u8>,
) -> Result<(Vec<u8>, bool)> {
    let end = checked_end(path, handle, limit)?;
    // Bounded by `limit`, which is at most the file size.
    buf.resize((handle.size as usize) + BLOCK_TRAILER_BYTES, 0);
    file.read_exact_at(handle.offset, &mut buf).map_err(|e| {
        Error::io(
            format!("read block at {} of {}", handle.offset, path.display()),
            e,
        )
    })?;
    let n = handle.size as usize;
    match verify_trailer(path, handle, &buf)? {
        TYPE_RAW => {
            buf.truncate(n);
            Ok((buf, true))
        }
        _ => Ok((decompress(path, handle, end, &buf[..n])?, false)),
    }
}

/// A block of a memory-mapped file, its checksum verified, its bytes still in the map.
pub enum MappedBlock {
    /// Stored uncompressed: the block's bytes.
    Raw(SharedBytes),
    /// Stored zstd-compressed: the stored bytes, for [`decompress_block`].
    Zstd(SharedBytes),
}

/// The block at `handle` of a memory-mapped `file` without a copy, its checksum verified in
/// place. `Ok(None)` when `file` is not mapped; use [`read_block_into`] then. (The bytes of a
/// mapped table cannot change — `FileSystem::open_immutable` — so a caller may remember that a
/// block was verified and later take its bytes with `read_shared` alone.)
pub fn read_block_mapped(
    file: &dyn RandomAccessFile,
    path: &Path,
    handle: BlockHandle,
    limit: u64,
) -> Result<Option<MappedBlock>> {
    checked_end(path, handle, limit)?;
    let n = handle.size as usize;
    let Some(stored) = file.read_shared(handle.offset, n + BLOCK_TRAILER_BYTES) else {
        return Ok(None);
    };
    Ok(Some(match verify_trailer(path, handle, &stored)? {
        TYPE_ZSTD => MappedBlock::Zstd(stored.truncated(n)),
        _ => MappedBlock::Raw(stored.truncated(n)),
    }))
}

/// Decodes the stored bytes of a zstd block at `handle` (checksum already verified).
pub fn decompress_block(
    path: &Path,
    handle: BlockHandle,
    limit: u64,
    stored: &[u8],
) -> Result<Vec<u8>> {
    let end = checked_end(path, handle, limit)?;
    decompress(path, handle, end, stored)
}

/// The end of the block's trailer, which must not pass `limit`.
fn checked_end(path: &Path, handle: BlockHandle, limit: u64) -> Result<u64> {
    handle.end().filter(|e| *e <= limit).ok_or_else(|| {
        Error::corruption(
            path,
            handle.offset,
            format!(
                "block handle (offset {}, size {}) reaches past {limit}",
                handle.offset, handle.size
            ),
        )
    })
}

/// Checks the checksum of `buf` (stored bytes + trailer, `handle.size + 9` bytes) and returns
/// the block type, which is a known one.
fn verify_trailer(path: &Path, handle: BlockHandle, buf: &[u8]) -> Result<u8> {
    let n = handle.size as usize;
    let block_type = buf[n];
    let mut t = &buf[n + 1..];
    let expected = get_u64(&mut t).unwrap_or(0);
    // The type byte follows the stored bytes, so one pass over `buf[..=n]` is the checksum of
    // `stored bytes + type` (the same digest as hashing the two parts).
    let got = xxh3(&buf[..=n]);
    if got != expected {
        return Err(Error::ChecksumMismatch {
            file: path.to_path_buf(),
            offset: handle.offset,
            expected,
            got,
        });
    }
    match block_type {
        TYPE_RAW | TYPE_ZSTD => Ok(block_type),
        other => Err(Error::corruption(
            path,
            handle.offset + n as u64,
            format!("unknown block type {other}"),
        )),
    }
}

/// Decodes zstd-stored bytes `varint(decoded length) | frame` of a block ending at `end`.
fn decompress(path: &Path, handle: BlockHandle, end: u64, stored: &[u8]) -> Result<Vec<u8>> {
    let bad = |d: String| Error::corruption(path, handle.offset, d);
    let mut s = stored;
    let len = get_varint(&mut s).ok_or_else(|| bad("bad decoded length".into()))?;
    if len > end {
        return Err(bad(format!("decoded length {len} exceeds block end {end}")));
    }
    let out = zstd_decompress(s, len as usize).map_err(|e| bad(format!("zstd: {e}")))?;
    if out.len() as u64 != len {
        return Err(bad(format!("decoded {} bytes, expected {len}", out.len())));
    }
    Ok(out)
}

/// The fixed-size tail of a table: where the metadata blocks are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    pub index: BlockHandle,
    /// `None` when the table was written without a bloom filter (stored as offset 0, size 0).
    pub filter: Option<BlockHandle>,
    pub properties: BlockHandle,
}

impl Footer {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(FOOTER_BYTES);
        let none = BlockHandle { offset: 0, size: 0 };
        for h in [self.index, self.filter.unwrap_or(none), self.properties] {
            put_u64(&mut b, h.offset);
            put_u64(&mut b, h.size);
        }
        put_u32(&mut b, FORMAT_VERSION);
        let sum = xxh3(&b);
        put_u64(&mut b, sum);
        b.extend_from_slice(&MAGIC);
        b
    }

    /// Decodes the footer found at `offset` (the file size minus [`FOOTER_BYTES`]).
    pub fn decode(bytes: &[u8], path: &Path, offset: u64) -> Result<Footer> {
        let bad = |at: usize, d: String| Error::corruption(path, offset + at as u64, d);
        if bytes.len() != FOOTER_BYTES {
            return Err(bad(0, format!("footer of {} bytes", bytes.len())));
        }
        let body = FOOTER_BYTES - 16;
        if bytes[FOOTER_BYTES - 8..] != MAGIC {
            return Err(bad(
                FOOTER_BYTES - 8,
                "bad magic: not a KVStore table".into(),
            ));
        }
        let mut s = &bytes[body..];
        let expected = get_u64(&mut s).unwrap_or(0);
        let got = xxh3(&bytes[..body]);
        if got != expected {
            return Err(Error::ChecksumMismatch {
                file: path.to_path_buf(),
                offset,
                expected,
                got,
            });
        }
        let mut s = &bytes[..body];
        let mut handle = || -> BlockHandle {
            let offset = get_u64(&mut s).unwrap_or(0);
            let size = get_u64(&mut s).unwrap_or(0);
            BlockHandle { offset, size }
        };
        let (index, filter, properties) = (handle(), handle(), handle());
        let version = get_u32(&mut s).unwrap_or(0);
        if version != FORMAT_VERSION {
            return Err(bad(48, format!("unsupported format version {version}")));
        }
        let filter = (filter != BlockHandle { offset: 0, size: 0 }).then_some(filter);
        Ok(Footer {
            index,
            filter,
            properties,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_roundtrip_and_checks() {
        let f = Footer {
            index: BlockHandle {
                offset: 100,
                size: 20,
            },
            filter: None,
            properties: BlockHandle {
                offset: 50,
                size: 41,
            },
        };
        let b = f.encode();
        assert_eq!(b.len(), FOOTER_BYTES);
        let p = Path::new("t.sst");
        assert_eq!(Footer::decode(&b, p, 7).unwrap(), f);
        for i in 0..FOOTER_BYTES {
            let mut c = b.clone();
            c[i] ^= 0x10;
            assert!(
                Footer::decode(&c, p, 7).unwrap_err().is_corruption(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn zstd_is_used_only_when_it_pays() {
        let text = b"abcdefgh".repeat(1000);
        let sealed = seal_block(text.clone(), Compression::Zstd(3), 1 << 20);
        assert!(sealed.len() < text.len() / 2);
        // At offset 0 the decoded block would exceed its end in the file: stored raw.
        let sealed0 = seal_block(text.clone(), Compression::Zstd(3), 0);
        assert_eq!(sealed0.len(), text.len() + BLOCK_TRAILER_BYTES);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let sealed = seal_block(noise.clone(), Compression::Zstd(3), 1 << 20);
        assert_eq!(&sealed[..noise.len()], &noise[..]);
    }
}
