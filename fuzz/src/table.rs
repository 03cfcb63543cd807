//! SSTable images assembled from fuzzer-chosen parts, every block sealed with a correct
//! checksum, so that the block, index, filter and properties decoders see arbitrary content.
//!
//! Layout written (`docs/formats/sstable.md`): data blocks, filter block?, properties block,
//! index block, footer — the order `TableBuilder` uses and `TableReader` expects.

use arbitrary::{Arbitrary, Result, Unstructured};
use kvstore_base::{InternalKey, ValueKind};
use kvstore_sstable::block::BlockBuilder;
use kvstore_sstable::format::{seal_block, BlockHandle, Footer, BLOCK_TRAILER_BYTES};
use kvstore_sstable::table::Properties;
use kvstore_sstable::Compression;

/// One entry as the fuzzer describes it; `kind` is taken modulo 3, so 2 is an invalid kind.
#[derive(Arbitrary, Debug, Clone)]
pub struct RawEntry {
    pub key: Vec<u8>,
    pub seq: u32,
    pub kind: u8,
    pub value: Vec<u8>,
}

/// A byte flip applied to a built block before it is sealed.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Flip {
    pub at: u16,
    pub mask: u8,
}

fn apply_flips(block: &mut [u8], flips: &[Flip]) {
    if block.is_empty() {
        return;
    }
    for f in flips {
        let i = f.at as usize % block.len();
        block[i] ^= f.mask;
    }
}

fn trailer(e: &RawEntry) -> u64 {
    // Kind 2 is not a defined kind: the reader must reject it, not misread it.
    (u64::from(e.seq) << 8) | u64::from(e.kind % 3)
}

/// Builds a table image from `u`. Entries are added in the order given (often out of order);
/// the index keys are each block's last key unless the fuzzer overrides them; flips damage
/// blocks after building but before sealing, so checksums still match.
pub fn assemble(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let mut file = Vec::new();
    let compress = bool::arbitrary(u)?;
    let compression = if compress {
        Compression::Zstd(1)
    } else {
        Compression::None
    };
    let num_blocks = u.int_in_range(1..=4)?;
    let mut index = BlockBuilder::new(1);
    let mut all: Vec<RawEntry> = Vec::new();
    for _ in 0..num_blocks {
        let n = u.int_in_range(1..=8)?;
        let restart = u.int_in_range(1..=4)?;
        let mut b = BlockBuilder::new(restart);
        let mut last = None;
        for _ in 0..n {
            let e = RawEntry::arbitrary(u)?;
            // Only fails past 4 GiB.
            let _ = b.add(&e.key, trailer(&e), &e.value);
            last = Some(e.clone());
            all.push(e);
        }
        let mut raw = b.finish();
        let flips: Vec<Flip> = u.arbitrary()?;
        apply_flips(&mut raw, &flips[..flips.len().min(4)]);
        let offset = file.len() as u64;
        let sealed = seal_block(raw, compression, offset);
        let handle = BlockHandle {
            offset,
            size: (sealed.len() - BLOCK_TRAILER_BYTES) as u64,
        };
        file.extend_from_slice(&sealed);
        let mut h = Vec::new();
        if bool::arbitrary(u)? {
            // A handle the fuzzer chooses: the reader must bound it.
            BlockHandle {
                offset: u.arbitrary()?,
                size: u.arbitrary()?,
            }
            .encode_to(&mut h);
        } else {
            handle.encode_to(&mut h);
        }
        let key = match (bool::arbitrary(u)?, last) {
            (false, Some(l)) => l,
            _ => RawEntry::arbitrary(u)?,
        };
        let _ = index.add(&key.key, trailer(&key), &h);
    }

    let filter = if bool::arbitrary(u)? {
        let bits: Vec<u8> = u.arbitrary()?;
        let offset = file.len() as u64;
        let sealed = seal_block(bits, Compression::None, offset);
        let h = BlockHandle {
            offset,
            size: (sealed.len() - BLOCK_TRAILER_BYTES) as u64,
        };
        file.extend_from_slice(&sealed);
        Some(h)
    } else {
        None
    };

    let props_raw = if bool::arbitrary(u)? {
        u.arbitrary::<Vec<u8>>()?
    } else {
        let key = |e: Option<&RawEntry>| {
            e.map_or_else(
                || InternalKey::new(Vec::new(), 0, ValueKind::Put),
                |e| InternalKey::new(e.key.clone(), u64::from(e.seq), ValueKind::Put),
            )
        };
        let mut sorted = all.clone();
        sorted.sort_by(|a, b| a.key.cmp(&b.key).then(b.seq.cmp(&a.seq)));
        Properties {
            num_entries: all.len() as u64,
            num_deletions: 0,
            num_data_blocks: num_blocks as u64,
            raw_key_bytes: 0,
            raw_value_bytes: 0,
            smallest: key(sorted.first()),
            largest: key(sorted.last()),
            smallest_seq: 0,
            largest_seq: u64::from(u32::MAX),
            created_unix_secs: 0,
            creator: "fuzz".into(),
        }
        .encode()
    };
    let offset = file.len() as u64;
    let sealed = seal_block(props_raw, Compression::None, offset);
    let properties = BlockHandle {
        offset,
        size: (sealed.len() - BLOCK_TRAILER_BYTES) as u64,
    };
    file.extend_from_slice(&sealed);

    let mut index_raw = index.finish();
    let flips: Vec<Flip> = u.arbitrary()?;
    apply_flips(&mut index_raw, &flips[..flips.len().min(4)]);
    let offset = file.len() as u64;
    let sealed = seal_block(index_raw, Compression::None, offset);
    let index = BlockHandle {
        offset,
        size: (sealed.len() - BLOCK_TRAILER_BYTES) as u64,
    };
    file.extend_from_slice(&sealed);
    let mut footer = Footer {
        index,
        filter,
        properties,
    };
    if bool::arbitrary(u)? {
        // A footer whose checksum is right but whose handles the fuzzer chose (a crafted file).
        let handle = |u: &mut Unstructured<'_>| -> Result<BlockHandle> {
            Ok(BlockHandle {
                offset: u.arbitrary()?,
                size: u.arbitrary()?,
            })
        };
        footer = Footer {
            index: handle(u)?,
            filter: Some(handle(u)?),
            properties: handle(u)?,
        };
    }
    file.extend_from_slice(&footer.encode());
    Ok(file)
}
