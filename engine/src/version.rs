//! [`Version`]: the immutable set of live tables, per column family and level.
//!
//! Invariants: `levels[0]` is ordered newest first (by largest sequence number) and its tables
//! may overlap; every deeper level is ordered by smallest key and its tables do not overlap in
//! user keys. A `Version` is never changed: an edit yields a new one, and readers holding the
//! old one keep a consistent view (the tables they read stay open while referenced).

use crate::manifest::{AddedFile, VersionEdit};
use crate::range_del::RangeTombstone;
use kvstore_base::key::cmp_bytes;
use kvstore_base::{Error, Result, SeqNo, ValueKind};
use kvstore_compaction::FileMeta;
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
    /// Flushed range tombstones, in sequence order.
    pub range_dels: Vec<RangeTombstone>,
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
            range_dels: Vec::new(),
        });
    }
    for (cf, t) in &edit.range_dels {
        let c = state.get_mut(cf).ok_or(format!(
            "edit adds a range tombstone to unknown column family {cf}"
        ))?;
        let at = c.range_dels.partition_point(|x| x.seq < t.seq);
        if c.range_dels.get(at).is_some_and(|x| x.seq == t.seq) {
            return Err(format!("edit adds range tombstone {} twice", t.seq));
        }
        c.range_dels.insert(at, t.clone());
    }
    for (cf, seq) in &edit.dropped_range_dels {
        let c = state.get_mut(cf).ok_or(format!(
            "edit drops a range tombstone of unknown column family {cf}"
        ))?;
        let before = c.range_dels.len();
        c.range_dels.retain(|t| t.seq != *seq);
        if c.range_dels.len() == before {
            return Err(format!("edit drops range tombstone {seq}, not in cf {cf}"));
        }
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
    /// Flushed range tombstones, in sequence order (`range_del.rs`).
    pub range_dels: Arc<[RangeTombstone]>,
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

/// Tables a point lookup gathers before probing their filters together (see `Lookup::get`);
/// with more (only with a deep L0 backlog) it probes them one at a time.
const MAX_PROBED_TABLES: usize = 16;

/// The tables of `level` whose key range may cover `key`: in L0 (overlapping, newest first) all
/// of them, in a deeper level (sorted, disjoint) the one at most whose largest key is the first
/// at or after `key`. [`covers`] then checks the range.
fn candidates<'a>(c: &'a CfVersion, level: usize, key: &[u8]) -> &'a [Arc<TableFile>] {
    let files = c.levels.get(level).map_or(&[][..], |l| l.as_slice());
    if level == 0 {
        return files;
    }
    // `largest[level]` is built from `levels[level]` with the version (`Version::build`), one
    // key per table.
    let i = c.largest.get(level).map_or(0, |p| p.count_before(key));
    debug_assert_eq!(
        c.largest.get(level).map(|p| p.ends.len()),
        Some(files.len())
    );
    &files[i.min(files.len())..(i + 1).min(files.len())]
}

/// Whether `key` lies in the table's key range.
fn covers(t: &TableFile, key: &[u8]) -> bool {
    cmp_bytes(&t.meta.smallest, key).is_le() && cmp_bytes(key, &t.meta.largest).is_le()
}

/// `Lookup::get` one table after another, newest data first.
fn get_one_by_one(
    c: &CfVersion,
    key: &[u8],
    hash: u64,
    seq: SeqNo,
) -> Result<Option<(SeqNo, ValueKind, Vec<u8>)>> {
    for level in 0..c.levels.len() {
        for t in candidates(c, level, key).iter().filter(|t| covers(t, key)) {
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
                    range_dels: c.range_dels.as_slice().into(),
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

    /// The first half of a point lookup in the tables of `cf` (the second is [`Lookup::get`]):
    /// finds the tables whose key range covers `key` and starts loading their filter lines
    /// (`hash` is the key's [`kvstore_sstable::filter::bloom_hash`]). The caller searches the
    /// memtables between the two halves, so the tables' filter misses are in flight meanwhile.
    pub fn prepare<'a>(&'a self, cf: u32, key: &[u8], hash: u64) -> Lookup<'a> {
        let mut l = Lookup {
            cf: self.cfs.get(&cf),
            cands: [None; MAX_PROBED_TABLES],
            n: 0,
            backlog: false,
        };
        let Some(c) = l.cf else {
            return l;
        };
        for level in 0..c.levels.len() {
            for t in candidates(c, level, key).iter().filter(|t| covers(t, key)) {
                if l.n == MAX_PROBED_TABLES {
                    // A deep L0 backlog: `Lookup::get` probes table by table.
                    l.backlog = true;
                    return l;
                }
                l.cands[l.n] = Some(&t.reader);
                l.n += 1;
            }
        }
        // The probe loop alone lets the CPU overlap only two or three filter misses (its
        // window holds about that many tables' probes); an L0 backlog brings six or more.
        for t in l.cands[..l.n].iter().flatten() {
            t.prefetch_filter_hash(hash);
        }
        l
    }

    /// The flushed range tombstones of `cf`.
    pub fn range_dels(&self, cf: u32) -> &[RangeTombstone] {
        self.cfs.get(&cf).map_or(&[], |c| &c.range_dels)
    }

    /// A full description of this version as one edit (the first record of a new manifest).
    pub fn snapshot_edit(&self) -> VersionEdit {
        let mut e = VersionEdit::default();
        for (id, c) in &self.cfs {
            e.new_cfs.push((*id, c.name.clone()));
            e.range_dels
                .extend(c.range_dels.iter().map(|t| (*id, t.clone())));
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

/// A point lookup between [`Version::prepare`] and [`Lookup::get`].
pub struct Lookup<'a> {
    cf: Option<&'a CfVersion>,
    /// The tables whose key range covers the key, newest data first.
    cands: [Option<&'a TableReader>; MAX_PROBED_TABLES],
    /// How many `cands` hold.
    n: usize,
    /// More tables cover the key than `cands` holds: they are searched one by one.
    backlog: bool,
}

impl Lookup<'_> {
    /// The second half of a point lookup, with the `key` and `hash` given to
    /// [`Version::prepare`]: the tables are searched newest data first, and the first entry
    /// found wins.
    pub fn get(
        &self,
        key: &[u8],
        hash: u64,
        seq: SeqNo,
    ) -> Result<Option<(SeqNo, ValueKind, Vec<u8>)>> {
        let Some(c) = self.cf else {
            return Ok(None);
        };
        if self.backlog {
            return get_one_by_one(c, key, hash, seq);
        }
        // Every filter probed before any table is searched: the probes are independent loads
        // (cache misses at scale), so they are in flight together instead of one table's
        // after another's. One hash serves every filter; `prepare` already checked each
        // table's key range and prefetched its filter line.
        let cands = &self.cands[..self.n];
        let mut maybe = 0u32;
        for (j, t) in cands.iter().enumerate() {
            let m = t.is_some_and(|t| t.filter_may_contain_hash(hash));
            maybe |= u32::from(m) << j;
        }
        for (j, t) in cands.iter().enumerate() {
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
}

/// Turns an edit-application failure into a manifest corruption error.
pub fn edit_error(path: &std::path::Path, why: String) -> Error {
    Error::corruption(path, 0, format!("inconsistent version edit: {why}"))
}

#[cfg(test)]
mod tests {
    use super::PackedKeys;
    use kvstore_base::key::cmp_bytes;

    /// `DbInner::get_at` hashes a key once, with the table filters' `bloom_hash`, and hands the
    /// hash to the memtables, whose key filters use `xxh3`: if the two ever differed, memtable
    /// filters would turn away keys they hold.
    #[test]
    fn memtable_and_table_filters_hash_keys_alike() {
        for k in [&b""[..], b"k", b"0000000000001234", &[0xff; 40]] {
            assert_eq!(
                kvstore_sstable::filter::bloom_hash(k),
                kvstore_base::checksum::xxh3(k)
            );
        }
    }

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
