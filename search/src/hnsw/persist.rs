//! The HNSW graph on disk: one file beside the database (`VECTORS.hnsw`), so a restart loads
//! the graph instead of linking every stored vector again (at 100–200 µs of CPU a vector,
//! minutes for a million).
//!
//! The file is a snapshot of derived data, never the truth: the `vectors` column family is.
//! So it is written outside the engine's batches — at a clean close, and by the background
//! builder once enough has changed — and at open it is *reconciled* with the stored vectors
//! ([`VectorIndex::reconcile`]): a node whose key still holds the same vector is kept, a new or
//! changed vector is linked again (the replayable tail: what changed since the snapshot), a
//! node whose key lost its vector becomes a tombstone. A missing, stale, damaged or foreign
//! file (another dimension or `m`) therefore costs time, never a wrong answer: it is logged and
//! the graph is rebuilt from the vectors.
//!
//! Invariants: the file is replaced atomically (written to `VECTORS.hnsw.tmp`, fsynced, renamed,
//! the directory fsynced), so a crash leaves the old file or the new one; it carries a magic
//! number, a format version and an xxh3 checksum of its body, and decoding checks every graph
//! invariant a search relies on, so no file can make a search panic. Format:
//! `docs/formats/hnsw.md`.

use super::graph::{HnswParams, Reader};
use super::VectorIndex;
use kvstore_base::checksum::xxh3;
use kvstore_base::coding::{put_u32, put_u64, read_u32_at, read_u64_at};
use kvstore_base::fs::FileSystem;
use std::io;
use std::path::Path;

/// The graph file's name in the database directory.
pub const GRAPH_FILE: &str = "VECTORS.hnsw";
/// Where a new graph file is written before it replaces the old one.
pub const GRAPH_TMP: &str = "VECTORS.hnsw.tmp";
const MAGIC: &[u8; 8] = b"KVSTHNSW";
const VERSION: u32 = 1;
const HEADER: usize = 16;
const TRAILER: usize = 8;

/// The whole file for `vi`.
pub fn encode(vi: &VectorIndex) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + vi.nodes() * (vi.dim() * 4 + 160) + TRAILER);
    out.extend_from_slice(MAGIC);
    put_u32(&mut out, VERSION);
    put_u32(&mut out, 0);
    vi.encode_body(&mut out);
    let sum = xxh3(&out[HEADER..]);
    put_u64(&mut out, sum);
    out
}

/// The index in `bytes`, if it is an intact graph file of vectors of `dim` built with
/// `params.m`; otherwise why not.
pub fn decode(
    bytes: &[u8],
    dim: usize,
    params: HnswParams,
    exact_threshold: usize,
) -> Result<VectorIndex, String> {
    if bytes.len() < HEADER + TRAILER {
        return Err(format!("{} bytes: shorter than a header", bytes.len()));
    }
    if &bytes[..8] != MAGIC {
        return Err("not a graph file (bad magic number)".into());
    }
    let version = read_u32_at(bytes, 8).unwrap_or_default();
    if version != VERSION {
        return Err(format!(
            "format version {version}, this build reads {VERSION}"
        ));
    }
    if read_u32_at(bytes, 12) != Some(0) {
        return Err("reserved header bytes are not zero".into());
    }
    let body = &bytes[HEADER..bytes.len() - TRAILER];
    if read_u64_at(bytes, bytes.len() - TRAILER) != Some(xxh3(body)) {
        return Err("checksum mismatch".into());
    }
    let vi = VectorIndex::decode_body(&mut Reader { buf: body }, params, exact_threshold)?;
    if vi.dim() != dim {
        return Err(format!(
            "vectors of dimension {}, the index expects {dim}",
            vi.dim()
        ));
    }
    let m = vi.graph().params().m;
    if m != params.m.max(2) {
        return Err(format!("built with m = {m}, the options say {}", params.m));
    }
    Ok(vi)
}

/// Replaces the graph file of `dir` with `bytes`, durably and atomically.
pub fn save(fs: &dyn FileSystem, dir: &Path, bytes: &[u8]) -> io::Result<()> {
    let (tmp, path) = (dir.join(GRAPH_TMP), dir.join(GRAPH_FILE));
    let mut f = fs.create(&tmp)?;
    // In pieces: a file system may cap one write, and a failure names less.
    for chunk in bytes.chunks(8 << 20) {
        f.append(chunk)?;
    }
    // IMPORTANT: the content is durable before the rename can make it the graph file.
    f.sync()?;
    drop(f);
    fs.rename(&tmp, &path)?;
    fs.sync_dir(dir)
}

/// The bytes of `dir`'s graph file; `Ok(None)` when there is none. Removes a leftover
/// temporary file (a save interrupted by a crash).
pub fn load(fs: &dyn FileSystem, dir: &Path) -> io::Result<Option<Vec<u8>>> {
    let tmp = dir.join(GRAPH_TMP);
    if fs.exists(&tmp) {
        let _ = fs.remove_file(&tmp);
    }
    let path = dir.join(GRAPH_FILE);
    if !fs.exists(&path) {
        return Ok(None);
    }
    fs.read_all(&path).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(n: u32) -> VectorIndex {
        let mut ix = VectorIndex::new(3, HnswParams::default(), 0);
        for i in 0..n {
            let a = i as f32 * 0.7;
            ix.upsert(&i.to_be_bytes(), &[a.cos(), a.sin(), (a * 0.3).cos()]);
        }
        ix.remove(&5u32.to_be_bytes());
        ix
    }

    #[test]
    fn a_graph_reads_back_as_the_same_graph() {
        let ix = index(300);
        let bytes = encode(&ix);
        let back = decode(&bytes, 3, HnswParams::default(), 0).unwrap();
        assert_eq!(encode(&back), bytes);
        assert_eq!(back.len(), 299);
        assert_eq!(back.linked_here(), 0, "loaded, not linked");
        let q = [0.3f32, 0.9, 0.1];
        assert_eq!(back.search_hnsw(&q, 5, 32), ix.search_hnsw(&q, 5, 32));
    }

    #[test]
    fn any_damage_is_refused_never_a_panic() {
        let bytes = encode(&index(40));
        let p = HnswParams::default();
        assert!(decode(&bytes, 4, p, 0).unwrap_err().contains("dimension"));
        let other_m = HnswParams { m: 8, ..p };
        assert!(decode(&bytes, 3, other_m, 0)
            .unwrap_err()
            .contains("m = 16"));
        for cut in [0, 10, 16, 100, bytes.len() - 1] {
            assert!(decode(&bytes[..cut], 3, p, 0).is_err(), "cut at {cut}");
        }
        for at in (0..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[at] ^= 0x10;
            assert!(decode(&b, 3, p, 0).is_err(), "flip at {at}");
        }
    }

    /// With the checksum made right again, a forged body is still refused by the graph's own
    /// checks: a link to a node that does not exist, the entry off the top layer.
    #[test]
    fn a_forged_body_with_a_valid_checksum_is_refused() {
        let ix = index(40);
        let good = encode(&ix);
        let reseal = |mut b: Vec<u8>| {
            let n = b.len();
            let sum = xxh3(&b[HEADER..n - TRAILER]);
            b[n - TRAILER..].copy_from_slice(&sum.to_le_bytes());
            b
        };
        let p = HnswParams::default();
        decode(&reseal(good.clone()), 3, p, 0).unwrap();
        // Header: dim, m, ef_c, ef_s (4 × 4), seed, rng (2 × 8), max_level, entry, pushed,
        // linked (4 × 4); then the vectors, then layer 0's slots (count, ids).
        let links0 = HEADER + 48 + 40 * 3 * 4;
        let mut b = good.clone();
        b[links0 + 4..links0 + 8].copy_from_slice(&999u32.to_le_bytes());
        assert!(decode(&reseal(b), 3, p, 0)
            .unwrap_err()
            .contains("links to 999"));
        let mut b = good.clone();
        b[HEADER + 44..HEADER + 48].copy_from_slice(&41u32.to_le_bytes());
        assert!(
            decode(&reseal(b), 3, p, 0).is_err(),
            "more linked than pushed"
        );
        let mut b = good;
        b[HEADER + 36..HEADER + 40].copy_from_slice(&39u32.to_le_bytes());
        let e = decode(&reseal(b), 3, p, 0).map(|_| ()).unwrap_err();
        assert!(e.contains("entry") || e.contains("links to"), "{e}");
    }
}
