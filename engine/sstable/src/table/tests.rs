//! Builder rules and decoder robustness below the checksum layer.

use super::*;
use crate::block::{BlockIter, BlockOrigin};
use crate::format::{read_block, BlockHandle, Footer, BLOCK_TRAILER_BYTES, FOOTER_BYTES};
use crate::{Compression, TableOptions};
use kvstore_base::checksum::xxh3_parts;
use kvstore_base::fs::{FaultFs, FaultKind, FileSystem, RandomAccessFile};
use kvstore_base::iter::InternalIterator;
use kvstore_base::{Error, ValueKind, MAX_SEQ};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A read-only in-memory file.
struct MemFile(Vec<u8>);

impl RandomAccessFile for MemFile {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(std::io::Error::other)?;
        let src = self
            .0
            .get(start..start + buf.len())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "short"))?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
}

fn builder(fs: &FaultFs, opts: TableOptions) -> TableBuilder {
    let path = PathBuf::from("/t.sst");
    TableBuilder::new(fs.create(&path).unwrap(), path, opts)
}

fn table_bytes(n: usize, opts: TableOptions) -> Vec<u8> {
    let fs = FaultFs::new();
    let mut b = builder(&fs, opts);
    for i in 0..n {
        let k = format!("k{:04}", i / 2);
        let kind = if i % 5 == 4 {
            ValueKind::Delete
        } else {
            ValueKind::Put
        };
        b.add(
            k.as_bytes(),
            1000 - i as u64,
            kind,
            format!("val{i}").as_bytes(),
        )
        .unwrap();
    }
    b.finish().unwrap();
    fs.read_all(Path::new("/t.sst")).unwrap()
}

fn open_bytes(bytes: Vec<u8>) -> kvstore_base::Result<Arc<TableReader>> {
    TableReader::open(Arc::new(MemFile(bytes)), 1, PathBuf::from("/t.sst"), None)
}

#[test]
fn out_of_order_and_duplicate_entries_are_rejected() {
    let fs = FaultFs::new();
    let mut b = builder(&fs, TableOptions::default());
    b.add(b"b", 5, ValueKind::Put, b"v").unwrap();
    for (k, s) in [(&b"a"[..], 9), (b"b", 5), (b"b", 6)] {
        let e = b.add(k, s, ValueKind::Put, b"v").unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    }
    // Still usable after a rejected entry.
    b.add(b"b", 4, ValueKind::Delete, b"").unwrap();
    b.add(b"c", 100, ValueKind::Put, b"v").unwrap();
    assert_eq!(b.num_entries(), 3);
    let e = b.add(b"d", MAX_SEQ + 1, ValueKind::Put, b"v").unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)));
    let meta = b.finish().unwrap();
    assert_eq!((meta.num_entries, meta.num_deletions), (3, 1));
    assert_eq!((meta.smallest_seq, meta.largest_seq), (4, 100));
}

#[test]
fn an_empty_table_cannot_be_finished() {
    let fs = FaultFs::new();
    let e = builder(&fs, TableOptions::default()).finish().unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)));
}

#[test]
fn estimated_size_grows_and_ends_near_file_size() {
    let fs = FaultFs::new();
    let mut b = builder(&fs, TableOptions::default());
    assert_eq!(b.estimated_size(), 0);
    let mut last = 0;
    for i in 0..5000u64 {
        b.add(
            format!("key{i:08}").as_bytes(),
            1,
            ValueKind::Put,
            &[7u8; 20],
        )
        .unwrap();
        assert!(b.estimated_size() >= last);
        last = b.estimated_size();
    }
    let meta = b.finish().unwrap();
    assert!(meta.file_size >= last && meta.file_size < last + last / 10);
}

#[test]
fn a_failed_write_poisons_the_builder() {
    let fs = FaultFs::new();
    let mut b = builder(
        &fs,
        TableOptions {
            block_size_bytes: 64,
            ..TableOptions::default()
        },
    );
    fs.inject(FaultKind::Write, 1);
    let failed = (0..100u64).any(|i| {
        b.add(format!("k{i:03}").as_bytes(), 1, ValueKind::Put, &[0u8; 50])
            .is_err()
    });
    assert!(failed);
    fs.clear_faults();
    // The file's content is unknown after a failed append: nothing more may be written.
    assert!(b.add(b"z", 1, ValueKind::Put, b"").is_err());
    assert!(b.finish().is_err());
}

#[test]
fn finish_syncs_the_file_once() {
    let fs = FaultFs::new();
    let mut b = builder(&fs, TableOptions::default());
    b.add(b"a", 1, ValueKind::Put, b"").unwrap();
    b.finish().unwrap();
    assert_eq!(fs.sync_count(), 1);
    // The name is the caller's to make durable; once it is, a crash loses nothing of the table.
    fs.sync_dir(Path::new("/")).unwrap();
    fs.crash(None);
    assert!(open_bytes(fs.read_all(Path::new("/t.sst")).unwrap()).is_ok());
}

#[test]
fn a_failed_sync_is_an_error() {
    let fs = FaultFs::new();
    let mut b = builder(&fs, TableOptions::default());
    b.add(b"a", 1, ValueKind::Put, b"").unwrap();
    fs.inject(FaultKind::Sync, 0);
    assert!(matches!(b.finish().unwrap_err(), Error::Io { .. }));
}

#[test]
fn version_and_magic_are_checked() {
    let good = table_bytes(20, TableOptions::default());
    let n = good.len();
    let mut bad_magic = good.clone();
    bad_magic[n - 1] = b'X';
    let e = open_bytes(bad_magic).unwrap_err();
    assert!(
        matches!(e, Error::Corruption { offset, .. } if offset == (n - 8) as u64),
        "{e}"
    );
    // A future version with a valid checksum is refused by name.
    let mut v2 = good.clone();
    let f = n - FOOTER_BYTES;
    v2[f + 48] = 2;
    let sum = kvstore_base::checksum::xxh3(&v2[f..f + 52]);
    v2[f + 52..f + 60].copy_from_slice(&sum.to_le_bytes());
    let e = open_bytes(v2).unwrap_err();
    assert!(e.to_string().contains("version 2"), "{e}");
}

/// Every block of a table: (handle, is it a data block).
fn blocks_of(bytes: &[u8]) -> Vec<BlockHandle> {
    let f = bytes.len() - FOOTER_BYTES;
    let footer = Footer::decode(&bytes[f..], Path::new("t"), f as u64).unwrap();
    let file = MemFile(bytes.to_vec());
    let (raw, exact) = read_block(&file, Path::new("t"), footer.index, f as u64).unwrap();
    let origin = BlockOrigin {
        file: Arc::from(Path::new("t")),
        offset: 0,
        exact,
    };
    let mut it = BlockIter::new(Arc::new(crate::block::Block::decode(raw, origin).unwrap()));
    let mut out = vec![footer.index, footer.properties];
    out.extend(footer.filter);
    it.seek_to_first().unwrap();
    while it.valid() {
        let mut v = it.value();
        out.push(BlockHandle::decode_from(&mut v).unwrap());
        it.next().unwrap();
    }
    out
}

/// Damage that keeps checksums valid (as a crafted file or a fuzzer would): every byte of every
/// block is flipped and the block re-checksummed. Decoding must still never panic.
#[test]
fn damaged_blocks_with_valid_checksums_never_panic() {
    for compression in [Compression::None, Compression::Zstd(1)] {
        let opts = TableOptions {
            compression,
            block_size_bytes: 128,
            ..TableOptions::default()
        };
        let good = table_bytes(40, opts);
        for h in blocks_of(&good) {
            let (start, n) = (h.offset as usize, h.size as usize);
            for i in start..start + n + 1 {
                let mut d = good.clone();
                d[i] ^= 0x21;
                let sum = xxh3_parts(&[&d[start..start + n + 1]]);
                d[start + n + 1..start + n + BLOCK_TRAILER_BYTES]
                    .copy_from_slice(&sum.to_le_bytes());
                exercise(d);
            }
        }
    }
}

fn exercise(bytes: Vec<u8>) {
    let Ok(t) = open_bytes(bytes) else { return };
    let mut it = t.iter();
    let mut steps = 0;
    if it.seek_to_first().is_ok() {
        while it.valid() && it.next().is_ok() {
            steps += 1;
            assert!(steps < 10_000, "iteration must terminate");
        }
    }
    for i in (0..25).step_by(3) {
        let k = format!("k{i:04}");
        let _ = t.get(k.as_bytes(), 990);
        let _ = it.seek(k.as_bytes(), 995);
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for len in [0usize, 1, 67, 68, 69, 100, 500, 4000] {
        for _ in 0..50 {
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            // Half of them get a valid magic so the footer checks run further.
            if len >= 8 && x & 1 == 0 {
                bytes[len - 8..].copy_from_slice(&crate::format::MAGIC);
            }
            exercise(bytes);
        }
    }
}

/// Writes a table by hand: data blocks with the given entries, indexed under the given keys,
/// all checksums valid — the kind of file only a bug or a forger produces.
/// A key as (user key, seq).
type Key<'a> = (&'a [u8], u64);

fn craft(blocks: &[(&[Key], Key)]) -> Vec<u8> {
    use crate::block::BlockBuilder;
    use crate::format::seal_block;
    use kvstore_base::key::pack_trailer;
    let mut file = Vec::new();
    let mut index = BlockBuilder::new(1);
    for (entries, (ik, is)) in blocks {
        let mut b = BlockBuilder::new(16);
        for (k, s) in *entries {
            b.add(k, pack_trailer(*s, ValueKind::Put), b"v").unwrap();
        }
        let sealed = seal_block(b.finish(), Compression::None, file.len() as u64);
        let h = BlockHandle {
            offset: file.len() as u64,
            size: (sealed.len() - BLOCK_TRAILER_BYTES) as u64,
        };
        file.extend_from_slice(&sealed);
        let mut hv = Vec::new();
        h.encode_to(&mut hv);
        index
            .add(ik, pack_trailer(*is, ValueKind::Put), &hv)
            .unwrap();
    }
    let key = |k: &[u8]| kvstore_base::InternalKey::new(k, 1, ValueKind::Put);
    let props = Properties {
        num_entries: 10,
        num_deletions: 0,
        num_data_blocks: blocks.len() as u64,
        raw_key_bytes: 0,
        raw_value_bytes: 0,
        smallest: key(b"a"),
        largest: key(b"z"),
        smallest_seq: 1,
        largest_seq: 1,
        created_unix_secs: 0,
        creator: "test".into(),
    };
    let mut put = |raw: Vec<u8>| {
        let h = BlockHandle {
            offset: file.len() as u64,
            size: raw.len() as u64,
        };
        file.extend_from_slice(&seal_block(raw, Compression::None, 0));
        h
    };
    let properties = put(props.encode());
    let index = put(index.finish());
    let footer = Footer {
        index,
        filter: None,
        properties,
    };
    file.extend_from_slice(&footer.encode());
    file
}

#[test]
fn blocks_that_disagree_with_the_index_are_corruption() {
    // Block 2 starts before block 1 ends.
    let t = open_bytes(craft(&[
        (&[(b"c", 1)], (b"c", 1)),
        (&[(b"a", 1), (b"d", 1)], (b"d", 1)),
    ]))
    .unwrap();
    let mut it = t.iter();
    it.seek_to_first().unwrap();
    assert!(it.next().unwrap_err().is_corruption());
    assert!(!it.valid());

    // A block whose last key is not its index key.
    let t = open_bytes(craft(&[(&[(b"c", 1), (b"e", 1)], (b"d", 1))])).unwrap();
    let mut it = t.iter();
    assert!(it.seek_to_first().is_ok());
    assert!(it.next().unwrap_err().is_corruption());
    assert!(
        t.get(b"d", 1).unwrap_err().is_corruption(),
        "found e after index key d"
    );
    assert!(t.get(b"c", 1).is_ok());

    // A block that ends before its index key: a seek lands past its end.
    let t = open_bytes(craft(&[(&[(b"c", 1)], (b"m", 1))])).unwrap();
    assert!(t.get(b"f", 1).unwrap_err().is_corruption());
    assert!(t.iter().seek(b"f", 1).unwrap_err().is_corruption());

    // A consistent hand-made table reads fine.
    let t = open_bytes(craft(&[
        (&[(b"c", 1)], (b"c", 1)),
        (&[(b"d", 1)], (b"d", 1)),
    ]))
    .unwrap();
    assert_eq!(t.get(b"d", 5).unwrap().map(|e| e.0), Some(1));
}

/// Opens `bytes` as a memory-mapped table, written to a real file in `dir`.
fn open_mapped_bytes(dir: &Path, bytes: Vec<u8>) -> kvstore_base::Result<Arc<TableReader>> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("{n}.sst"));
    std::fs::write(&path, bytes).unwrap();
    let f = kvstore_base::fs::StdFs.open_immutable(&path).unwrap();
    TableReader::open(f, 1, path, None)
}

#[test]
fn mapped_blocks_that_disagree_with_the_index_are_corruption_on_first_read() {
    // A mapped block is checked once, in full, before it is marked verified; lookups after
    // that skip the per-lookup comparison with the index entry. So a block whose last key is
    // not its index key fails every read of it, not only reads that land past the index key.
    let dir = tempfile::tempdir().unwrap();
    let bad = || craft(&[(&[(b"c", 1), (b"e", 1)], (b"d", 1))]);
    let t = open_mapped_bytes(dir.path(), bad()).unwrap();
    assert!(t.get(b"c", 1).unwrap_err().is_corruption());
    assert!(
        t.get(b"d", 1).unwrap_err().is_corruption(),
        "found e after index key d"
    );
    // Checked up front, the same block is refused by the background verification.
    let t = open_mapped_bytes(dir.path(), bad()).unwrap();
    assert!(t.verify_data_blocks().unwrap_err().is_corruption());
    assert!(t.get(b"c", 1).unwrap_err().is_corruption());

    // A block out of order inside, though its last key is its index key: the full walk
    // finds it, so the lookups and scans that skip order checks later never see it.
    let t = open_mapped_bytes(
        dir.path(),
        craft(&[(&[(b"d", 1), (b"c", 1), (b"e", 1)], (b"e", 1))]),
    )
    .unwrap();
    assert!(t.get(b"e", 1).unwrap_err().is_corruption());
    assert!(t.iter().seek(b"c", 1).unwrap_err().is_corruption());

    // A block that ends before its index key.
    let t = open_mapped_bytes(dir.path(), craft(&[(&[(b"c", 1)], (b"m", 1))])).unwrap();
    assert!(t.get(b"f", 1).unwrap_err().is_corruption());

    // A consistent hand-made table reads fine, before and after verification, and the
    // second lookup of each block (served as verified) answers like the first.
    let good = || {
        craft(&[
            (&[(b"c", 1)], (b"c", 1)),
            (&[(b"d", 1), (b"e", 1)], (b"e", 1)),
        ])
    };
    let t = open_mapped_bytes(dir.path(), good()).unwrap();
    for _ in 0..2 {
        assert_eq!(t.get(b"d", 5).unwrap().map(|e| e.0), Some(1));
        assert_eq!(t.get(b"e", 5).unwrap().map(|e| e.0), Some(1));
        assert_eq!(t.get(b"c", 5).unwrap().map(|e| e.0), Some(1));
        assert_eq!(t.get(b"dd", 5).unwrap(), None);
    }
    assert_eq!(t.verify_data_blocks().unwrap(), 2);
    assert_eq!(t.get(b"e", 5).unwrap().map(|e| e.0), Some(1));
    let mut it = t.iter();
    it.seek_to_first().unwrap();
    let mut keys = Vec::new();
    while it.valid() {
        keys.push(it.user_key().to_vec());
        it.next().unwrap();
    }
    assert_eq!(keys, [&b"c"[..], b"d", b"e"]);
}
