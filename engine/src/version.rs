//! [`Version`]: the immutable set of live tables, per column family and level.
//!
//! Invariants: `levels[0]` is ordered newest first (by largest sequence number) and its tables
//! may overlap; every deeper level is ordered by smallest key and its tables do not overlap in
//! user keys. A `Version` is never changed: an edit yields a new one, and readers holding the
//! old one keep a consistent view (the tables they read stay open while referenced).

use crate::manifest::{AddedFile, VersionEdit};
use kvstore_base::key::cmp_bytes;
use kvstore_base::{Error, Result, SeqNo, ValueKind};
use kvstore_compaction::FileMeta;
use kvstore_sstable::filter::bloom_hash;
use kvstore_sstable::TableReader;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// A live table: its metadata and its open reader.
pub struct TableFile {
    pub meta: FileMeta,
    pub reader: Arc<TableReader>,
}

/// Metadata-only shape of one column family: name and per-level files.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CfLevels {
    pub name: String,
    pub levels: Vec<Vec<FileMeta>>,
}

/// Applies `edit` to metadata-only level state; the single place that interprets edits.
pub fn apply_edit(
    state: &mut BTreeMap<u32, CfLevels>,
    edit: &VersionEdit,
    num_levels: usize,
) -> std::result::Result<(), String> {
    for (id, name) in &edit.new_cfs {
        state.entry(*id).or_insert_with(|| CfLevels {
            name: name.clone(),
            levels: vec![Vec::new(); num_levels],
        });
    }
    for (cf, level, number) in &edit.deleted {
        let c = state
            .get_mut(cf)
            .ok_or(format!("edit deletes a file of unknown column family {cf}"))?;
        let l = c
            .levels
            .get_mut(*level)
            .ok_or(format!("edit names level {level} past the last"))?;
        let before = l.len();
        l.retain(|f| f.number != *number);
        if l.len() == before {
            return Err(format!(
                "edit deletes file {number} not in cf {cf} L{level}"
            ));
        }
    }
    for AddedFile { cf, level, meta } in &edit.added {
        let c = state
            .get_mut(cf)
            .ok_or(format!("edit adds a file to unknown column family {cf}"))?;
        let l = c
            .levels
            .get_mut(*level)
            .ok_or(format!("edit names level {level} past the last"))?;
        l.push(meta.clone());
    }
    for c in state.values_mut() {
        sort_levels(&mut c.levels);
    }
    Ok(())
}

fn sort_levels(levels: &mut [Vec<FileMeta>]) {
    if let Some(l0) = levels.first_mut() {
        l0.sort_by(|a, b| {
            b.largest_seq
                .cmp(&a.largest_seq)
                .then(b.number.cmp(&a.number))
        });
    }
    for l in levels.iter_mut().skip(1) {
        l.sort_by(|a, b| a.smallest.cmp(&b.smallest));
    }
}

/// One column family's tables.
#[derive(Clone)]
pub struct CfVersion {
    pub name: String,
    pub levels: Vec<Vec<Arc<TableFile>>>,
    /// Per level, the largest user key of each table in level order, packed: what a point
    /// lookup binary-searches to find the one table of a sorted level that may hold its key.
    largest: Vec<PackedKeys>,
}

/// Keys side by side in one buffer. Searching `levels[l]` through each table's `Arc` and then
/// its key's own allocation was two dependent loads per step (3.5 % of a 10M-key
/// `readrandom`); here a step reads one offset and bytes that sit together and stay cached.
#[derive(Clone, Default)]
struct PackedKeys {
    bytes: Vec<u8>,
    /// Key `i` is `bytes[ends[i - 1]..ends[i]]` (from 0 for the first).
    ends: Vec<usize>,
}

impl PackedKeys {
    fn new<'a>(keys: impl Iterator<Item = &'a [u8]>) -> Self {
        let mut p = PackedKeys::default();
        for k in keys {
            p.bytes.extend_from_slice(k);
            p.ends.push(p.bytes.len());
        }
        p
    }

    fn key(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    /// The number of keys that sort before `key`.
    fn count_before(&self, key: &[u8]) -> usize {
        let (mut lo, mut len) = (0usize, self.ends.len());
        while len > 0 {
            let half = len / 2;
            if cmp_bytes(self.key(lo + half), key).is_lt() {
                lo += half + 1;
                len -= half + 1;
            } else {
                len = half;
            }
        }
        lo
    }
}

/// Tables a point lookup gathers before probing their filters together (see `Version::get`);
/// with more (only with a deep L0 backlog) it probes them one at a time.
const MAX_PROBED_TABLES: usize = 16;

/// The tables of `level` whose key range covers `key`: in L0 (overlapping, newest first) every
/// such table, in a deeper level (sorted, disjoint) at most one.
fn covering<'a>(
    c: &'a CfVersion,
    level: usize,
    key: &'a [u8],
) -> impl Iterator<Item = &'a Arc<TableFile>> + 'a {
    let files = c.levels.get(level).map_or(&[][..], |l| l.as_slice());
    let candidates = if level == 0 {
        files
    } else {
        // `largest[level]` is built from `levels[level]` with the version (`Version::build`),
        // one key per table.
        let i = c.largest.get(level).map_or(0, |p| p.count_before(key));
        debug_assert_eq!(
            c.largest.get(level).map(|p| p.ends.len()),
            Some(files.len())
        );
        &files[i.min(files.len())..(i + 1).min(files.len())]
    };
    candidates.iter().filter(move |t| {
        cmp_bytes(&t.meta.smallest, key).is_le() && cmp_bytes(key, &t.meta.largest).is_le()
    })
}

/// `Version::get` one table after another, newest data first.
fn get_one_by_one(
    c: &CfVersion,
    key: &[u8],
    hash: u64,
    seq: SeqNo,
) -> Result<Option<(SeqNo, ValueKind, Vec<u8>)>> {
    for level in 0..c.levels.len() {
        for t in covering(c, level, key) {
            if let Some(hit) = t.reader.get_hashed(key, hash, seq)? {
                return Ok(Some(hit));
            }
        }
    }
    Ok(None)
}

/// The immutable set of live tables.
#[derive(Clone, Default)]
pub struct Version {
    pub cfs: BTreeMap<u32, CfVersion>,
}

impl Version {
    /// Builds a version from metadata, reusing readers of `prev` and opening the rest.
    pub fn build(
        state: &BTreeMap<u32, CfLevels>,
        prev: Option<&Version>,
        mut open: impl FnMut(&FileMeta) -> Result<Arc<TableReader>>,
    ) -> Result<Version> {
        let mut existing: HashMap<u64, Arc<TableFile>> = HashMap::new();
        if let Some(p) = prev {
            for c in p.cfs.values() {
                for l in &c.levels {
                    for t in l {
                        existing.insert(t.meta.number, t.clone());
                    }
                }
            }
        }
        let mut cfs = BTreeMap::new();
        for (id, c) in state {
            let mut levels = Vec::with_capacity(c.levels.len());
            for l in &c.levels {
                let mut files = Vec::with_capacity(l.len());
                for m in l {
                    let t = match existing.get(&m.number) {
                        Some(t) => t.clone(),
                        None => Arc::new(TableFile {
                            meta: m.clone(),
                            reader: open(m)?,
                        }),
                    };
                    files.push(t);
                }
                levels.push(files);
            }
            let largest = levels
                .iter()
                .map(|files| PackedKeys::new(files.iter().map(|t| t.meta.largest.as_slice())))
                .collect();
            cfs.insert(
                *id,
                CfVersion {
                    name: c.name.clone(),
                    levels,
                    largest,
                },
            );
        }
        Ok(Version { cfs })
    }

    /// Numbers of every live table.
    pub fn live_files(&self) -> HashSet<u64> {
        self.cfs
            .values()
            .flat_map(|c| c.levels.iter().flatten().map(|t| t.meta.number))
            .collect()
    }

    /// Looks `key` up in the tables of `cf`, newest data first; the first entry found wins.
    pub fn get(
        &self,
        cf: u32,
        key: &[u8],
        seq: SeqNo,
    ) -> Result<Option<(SeqNo, ValueKind, Vec<u8>)>> {
        let Some(c) = self.cfs.get(&cf) else {
            return Ok(None);
        };
        let hash = bloom_hash(key);
        // The tables whose key range covers the key, newest data first.
        let mut cands: [Option<&TableReader>; MAX_PROBED_TABLES] = [None; MAX_PROBED_TABLES];
        let mut n = 0;
        for level in 0..c.levels.len() {
            for t in covering(c, level, key) {
                if n == MAX_PROBED_TABLES {
                    // A deep L0 backlog: probe table by table.
                    return get_one_by_one(c, key, hash, seq);
                }
                cands[n] = Some(&t.reader);
                n += 1;
            }
        }
        // Every filter probed before any table is searched: the probes are independent loads
        // (cache misses at scale), so they are in flight together instead of one table's
        // after another's. One hash serves every filter; `covering` already checked each
        // table's key range. The lines are prefetched first: the probe loop alone let the CPU
        // overlap only two or three of them (its window holds the probes of about that many
        // tables), and an L0 backlog brings six or more.
        for t in cands[..n].iter().flatten() {
            t.prefetch_filter_hash(hash);
        }
        let mut maybe = 0u32;
        for (j, t) in cands[..n].iter().enumerate() {
            let m = t.is_some_and(|t| t.filter_may_contain_hash(hash));
            maybe |= u32::from(m) << j;
        }
        for (j, t) in cands[..n].iter().enumerate() {
            if let Some(t) = t {
                if maybe & (1 << j) != 0 {
                    if let Some(hit) = t.get_unfiltered(key, seq)? {
                        return Ok(Some(hit));
                    }
                }
            }
        }
        Ok(None)
    }

    /// A full description of this version as one edit (the first record of a new manifest).
    pub fn snapshot_edit(&self) -> VersionEdit {
        let mut e = VersionEdit::default();
        for (id, c) in &self.cfs {
            e.new_cfs.push((*id, c.name.clone()));
            for (level, files) in c.levels.iter().enumerate() {
                for t in files {
                    e.added.push(AddedFile {
                        cf: *id,
                        level,
                        meta: t.meta.clone(),
                    });
                }
            }
        }
        e
    }
}

/// Turns an edit-application failure into a manifest corruption error.
pub fn edit_error(path: &std::path::Path, why: String) -> Error {
    Error::corruption(path, 0, format!("inconsistent version edit: {why}"))
}

#[cfg(test)]
mod tests {
    use super::PackedKeys;
    use kvstore_base::key::cmp_bytes;

    proptest::proptest! {
        /// The packed search counts what a search over the separate keys counts.
        #[test]
        fn packed_keys_count_like_a_partition(
            keys in proptest::collection::btree_set(proptest::collection::vec(0u8..4, 0..6), 0..40),
            probes in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..7), 1..30),
        ) {
            let keys: Vec<Vec<u8>> = keys.into_iter().collect();
            let packed = PackedKeys::new(keys.iter().map(|k| k.as_slice()));
            for (i, k) in keys.iter().enumerate() {
                proptest::prop_assert_eq!(packed.key(i), k.as_slice());
            }
            for p in &probes {
                let want = keys.partition_point(|k| cmp_bytes(k, p).is_lt());
                proptest::prop_assert_eq!(packed.count_before(p), want);
            }
        }
    }
}
