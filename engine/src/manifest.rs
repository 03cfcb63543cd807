//! The manifest: an append-only log of [`VersionEdit`]s, and `CURRENT`, which names it.
//!
//! Replaying every edit of the manifest named by `CURRENT` rebuilds the set of live tables per
//! column family and level, the next file number, the last sequence number and the oldest WAL
//! segment still needed. Byte layout: `docs/formats/manifest.md`; records are framed as in
//! [`crate::record`].
//!
//! Crash reasoning: an edit takes effect only once its record is fsynced; a torn last record is
//! an edit that never took effect (its tables are then unreferenced and deleted at open) — unless
//! the state before it names a file that is gone, which means a durable edit was lost to damage
//! ([`check_referenced_files`]). A new manifest becomes live only when the `CURRENT` rename is
//! made durable by a directory sync.

use crate::filenames::{current_path, manifest_path, table_path, temp_path, wal_path};
use crate::range_del::RangeTombstone;
use crate::record::{encode_header, encode_record, read_log, LOG_HEADER_BYTES};
use kvstore_base::coding::{get_bytes, get_varint, put_bytes, put_varint};
use kvstore_base::fs::{FileSystem, WritableFile};
use kvstore_base::{Error, Result, SeqNo};
use kvstore_compaction::FileMeta;
use std::path::{Path, PathBuf};

/// Magic number at the start of every manifest.
pub const MANIFEST_MAGIC: &[u8; 8] = b"KVSTMANI";

const TAG_NEXT_FILE: u64 = 1;
const TAG_LAST_SEQ: u64 = 2;
const TAG_LOG_NUMBER: u64 = 3;
const TAG_NEW_CF: u64 = 4;
const TAG_ADD_FILE: u64 = 5;
const TAG_DELETE_FILE: u64 = 6;
const TAG_RANGE_DEL: u64 = 7;
const TAG_DROP_RANGE_DEL: u64 = 8;

/// A table added to a level of a column family.
#[derive(Debug, Clone, PartialEq)]
pub struct AddedFile {
    pub cf: u32,
    pub level: usize,
    pub meta: FileMeta,
}

/// One atomic change to the set of live files and counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VersionEdit {
    pub next_file_number: Option<u64>,
    pub last_seq: Option<SeqNo>,
    /// WAL segments numbered below this hold nothing that is not in tables.
    pub log_number: Option<u64>,
    pub new_cfs: Vec<(u32, String)>,
    pub added: Vec<AddedFile>,
    /// `(cf, level, file number)`.
    pub deleted: Vec<(u32, usize, u64)>,
    /// Range tombstones that became part of the version (from a flushed memtable group).
    pub range_dels: Vec<(u32, RangeTombstone)>,
    /// Range tombstones removed, by `(cf, sequence number)`: nothing they hide remains.
    pub dropped_range_dels: Vec<(u32, SeqNo)>,
}

impl VersionEdit {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        if let Some(n) = self.next_file_number {
            put_varint(&mut b, TAG_NEXT_FILE);
            put_varint(&mut b, n);
        }
        if let Some(n) = self.last_seq {
            put_varint(&mut b, TAG_LAST_SEQ);
            put_varint(&mut b, n);
        }
        if let Some(n) = self.log_number {
            put_varint(&mut b, TAG_LOG_NUMBER);
            put_varint(&mut b, n);
        }
        for (id, name) in &self.new_cfs {
            put_varint(&mut b, TAG_NEW_CF);
            put_varint(&mut b, *id as u64);
            put_bytes(&mut b, name.as_bytes());
        }
        for f in &self.added {
            put_varint(&mut b, TAG_ADD_FILE);
            put_varint(&mut b, f.cf as u64);
            put_varint(&mut b, f.level as u64);
            put_varint(&mut b, f.meta.number);
            put_varint(&mut b, f.meta.size);
            put_bytes(&mut b, &f.meta.smallest);
            put_bytes(&mut b, &f.meta.largest);
            put_varint(&mut b, f.meta.smallest_seq);
            put_varint(&mut b, f.meta.largest_seq);
        }
        for (cf, level, n) in &self.deleted {
            put_varint(&mut b, TAG_DELETE_FILE);
            put_varint(&mut b, *cf as u64);
            put_varint(&mut b, *level as u64);
            put_varint(&mut b, *n);
        }
        for (cf, t) in &self.range_dels {
            put_varint(&mut b, TAG_RANGE_DEL);
            put_varint(&mut b, *cf as u64);
            put_varint(&mut b, t.seq);
            put_bytes(&mut b, &t.start);
            put_bytes(&mut b, &t.end);
        }
        for (cf, seq) in &self.dropped_range_dels {
            put_varint(&mut b, TAG_DROP_RANGE_DEL);
            put_varint(&mut b, *cf as u64);
            put_varint(&mut b, *seq);
        }
        b
    }

    /// Decodes an edit; `Err(reason)` for anything malformed or unknown.
    pub fn decode(mut s: &[u8]) -> std::result::Result<VersionEdit, String> {
        let mut e = VersionEdit::default();
        let v = |s: &mut &[u8], what: &str| get_varint(s).ok_or(format!("truncated {what}"));
        let small =
            |x: u64, what: &str| u32::try_from(x).map_err(|_| format!("{what} {x} out of range"));
        while !s.is_empty() {
            match v(&mut s, "tag")? {
                TAG_NEXT_FILE => e.next_file_number = Some(v(&mut s, "next file number")?),
                TAG_LAST_SEQ => e.last_seq = Some(v(&mut s, "last sequence")?),
                TAG_LOG_NUMBER => e.log_number = Some(v(&mut s, "log number")?),
                TAG_NEW_CF => {
                    let id = small(v(&mut s, "cf id")?, "cf id")?;
                    let name = get_bytes(&mut s).ok_or("truncated cf name")?;
                    let name = std::str::from_utf8(name).map_err(|_| "cf name not UTF-8")?;
                    e.new_cfs.push((id, name.to_string()));
                }
                TAG_ADD_FILE => {
                    let cf = small(v(&mut s, "cf id")?, "cf id")?;
                    let level = small(v(&mut s, "level")?, "level")? as usize;
                    let number = v(&mut s, "file number")?;
                    let size = v(&mut s, "file size")?;
                    let smallest = get_bytes(&mut s).ok_or("truncated smallest key")?.to_vec();
                    let largest = get_bytes(&mut s).ok_or("truncated largest key")?.to_vec();
                    let smallest_seq = v(&mut s, "smallest seq")?;
                    let largest_seq = v(&mut s, "largest seq")?;
                    e.added.push(AddedFile {
                        cf,
                        level,
                        meta: FileMeta {
                            number,
                            size,
                            smallest,
                            largest,
                            smallest_seq,
                            largest_seq,
                        },
                    });
                }
                TAG_DELETE_FILE => {
                    let cf = small(v(&mut s, "cf id")?, "cf id")?;
                    let level = small(v(&mut s, "level")?, "level")? as usize;
                    let n = v(&mut s, "file number")?;
                    e.deleted.push((cf, level, n));
                }
                TAG_RANGE_DEL => {
                    let cf = small(v(&mut s, "cf id")?, "cf id")?;
                    let seq = v(&mut s, "range tombstone seq")?;
                    let start = get_bytes(&mut s).ok_or("truncated range start")?.to_vec();
                    let end = get_bytes(&mut s).ok_or("truncated range end")?.to_vec();
                    if start >= end {
                        return Err("range tombstone with start >= end".into());
                    }
                    e.range_dels.push((cf, RangeTombstone { start, end, seq }));
                }
                TAG_DROP_RANGE_DEL => {
                    let cf = small(v(&mut s, "cf id")?, "cf id")?;
                    let seq = v(&mut s, "range tombstone seq")?;
                    e.dropped_range_dels.push((cf, seq));
                }
                t => return Err(format!("unknown edit tag {t}")),
            }
        }
        Ok(e)
    }
}

/// The live manifest, appended to as edits are made.
pub struct ManifestWriter {
    number: u64,
    path: PathBuf,
    file: Box<dyn WritableFile>,
    /// `Some(why)` once a roll away from this manifest failed: `CURRENT` may no longer name it,
    /// so appends are refused (see `DbInner::roll_manifest`).
    retired: Option<Retired>,
}

/// Why a manifest refuses appends.
struct Retired {
    reason: String,
    /// The failed roll ran out of space: the refusal is a disk-full error too, so a
    /// disk-full resumption (which starts with a new manifest) may still lift it.
    disk_full: bool,
}

impl ManifestWriter {
    /// Writes a new manifest `number` holding `snapshot` (the whole current state), then points
    /// `CURRENT` at it. Only when this returns is the new manifest the live one.
    pub fn create(
        fs: &dyn FileSystem,
        dir: &Path,
        number: u64,
        snapshot: &VersionEdit,
    ) -> Result<ManifestWriter> {
        let path = manifest_path(dir, number);
        let io = |what: &str, p: &Path, e| Error::io(format!("{what} {}", p.display()), e);
        let mut file = fs.create(&path).map_err(|e| io("create", &path, e))?;
        let mut buf = encode_header(MANIFEST_MAGIC).to_vec();
        encode_record(&mut buf, &snapshot.encode(), LOG_HEADER_BYTES as u64)?;
        file.append(&buf).map_err(|e| io("write", &path, e))?;
        // IMPORTANT: the manifest's content must be durable before CURRENT can name it.
        file.sync().map_err(|e| io("fsync", &path, e))?;

        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let tmp = temp_path(dir, number);
        let mut t = fs.create(&tmp).map_err(|e| io("create", &tmp, e))?;
        t.append(format!("{name}\n").as_bytes())
            .map_err(|e| io("write", &tmp, e))?;
        // IMPORTANT: CURRENT's new content is synced before the rename makes it visible, and the
        // rename is synced (directory fsync) before anything depends on the new manifest. A
        // crash before the directory sync leaves the old CURRENT and the old manifest in force.
        t.sync().map_err(|e| io("fsync", &tmp, e))?;
        let cur = current_path(dir);
        fs.rename(&tmp, &cur)
            .map_err(|e| io("rename to", &cur, e))?;
        fs.sync_dir(dir)
            .map_err(|e| io("fsync directory", dir, e))?;
        Ok(ManifestWriter {
            number,
            path,
            file,
            retired: None,
        })
    }

    pub fn number(&self) -> u64 {
        self.number
    }

    pub fn size(&self) -> u64 {
        self.file.size()
    }

    /// Refuses every later append: a roll to a new manifest failed because of `why`, and
    /// `CURRENT` may name that one now.
    pub fn retire(&mut self, why: &Error) {
        self.retired = Some(Retired {
            reason: why.to_string(),
            disk_full: why.is_disk_full(),
        });
    }

    /// Appends `edit` and fsyncs it: when this returns `Ok`, the edit survives any crash.
    pub fn append(&mut self, edit: &VersionEdit) -> Result<()> {
        if let Some(r) = &self.retired {
            let kind = if r.disk_full {
                std::io::ErrorKind::StorageFull
            } else {
                std::io::ErrorKind::Other
            };
            return Err(Error::io(
                format!(
                    "append to {} (retired: a roll to a new manifest failed: {})",
                    self.path.display(),
                    r.reason
                ),
                std::io::Error::new(kind, "manifest retired"),
            ));
        }
        let mut buf = Vec::new();
        // Every earlier edit was fsynced before its append returned.
        encode_record(&mut buf, &edit.encode(), self.file.size())?;
        let p = &self.path;
        self.file
            .append(&buf)
            .map_err(|e| Error::io(format!("append to {}", p.display()), e))?;
        // IMPORTANT: an edit is in force only once synced; callers install it after this.
        self.file
            .sync()
            .map_err(|e| Error::io(format!("fsync {}", p.display()), e))
    }
}

/// Reads `CURRENT` and returns the live manifest's path.
pub fn read_current(fs: &dyn FileSystem, dir: &Path) -> Result<PathBuf> {
    let cur = current_path(dir);
    let data = fs
        .read_all(&cur)
        .map_err(|e| Error::io(format!("read {}", cur.display()), e))?;
    let name = std::str::from_utf8(&data)
        .ok()
        .and_then(|s| s.strip_suffix('\n'))
        .filter(|s| {
            matches!(
                crate::filenames::parse(s),
                Some(crate::filenames::FileKind::Manifest(_))
            )
        })
        .ok_or_else(|| Error::corruption(&cur, 0, "CURRENT does not name a manifest"))?;
    let path = dir.join(name);
    // A damaged CURRENT can name another well-formed manifest number; report the file that is
    // wrong (CURRENT), not a missing manifest that never existed.
    if !fs.exists(&path) {
        return Err(Error::corruption(
            &cur,
            0,
            format!("CURRENT names {name}, which does not exist"),
        ));
    }
    Ok(path)
}

/// Reads every edit of the manifest at `path`, in order.
pub fn read_edits(fs: &dyn FileSystem, path: &Path) -> Result<Vec<VersionEdit>> {
    let data = fs
        .read_all(path)
        .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
    let mut edits = Vec::new();
    read_log(path, &data, MANIFEST_MAGIC, true, |offset, payload| {
        let e = VersionEdit::decode(payload)
            .map_err(|why| Error::corruption(path, offset, format!("bad version edit: {why}")))?;
        edits.push(e);
        Ok(())
    })?;
    if edits.is_empty() {
        return Err(Error::corruption(path, 0, "manifest holds no edit"));
    }
    Ok(edits)
}

/// Checks, after replaying the manifest at `manifest`, that the files its state depends on
/// exist: every live table (`tables`) and the WAL segment numbered `log_number`.
///
/// Why this catches a lost edit: the manifest is read with a torn tail allowed, so damage to its
/// last edits (a flipped byte, a cut file) reads as an edit that never took effect. A real torn
/// edit never took effect, so every file the state before it names still exists: compaction
/// inputs and WAL segments are deleted only after the edit replacing them is durable, and the
/// segment numbered `log_number` is never deleted while it is the `log_number` (it was created
/// and its name synced before any edit named it). A *durable* edit lost to damage is different:
/// the files it made obsolete are gone, so the older state names a missing file. Opening
/// anyway would serve the older state — stale values — and then delete the lost edit's tables
/// as unreferenced; this refuses instead, naming the manifest.
pub fn check_referenced_files(
    fs: &dyn FileSystem,
    dir: &Path,
    manifest: &Path,
    tables: impl IntoIterator<Item = u64>,
    log_number: u64,
) -> Result<()> {
    let missing = |what: String| {
        Error::corruption(
            manifest,
            0,
            format!("{what}, which does not exist: the manifest lost an edit"),
        )
    };
    for n in tables {
        if !fs.exists(&table_path(dir, n)) {
            return Err(missing(format!("live table {n:06}.sst")));
        }
    }
    if log_number > 0 && !fs.exists(&wal_path(dir, log_number)) {
        return Err(missing(format!(
            "the oldest WAL segment still needed is {log_number:06}.log"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvstore_base::fs::FaultFs;

    fn sample() -> VersionEdit {
        VersionEdit {
            next_file_number: Some(9),
            last_seq: Some(1234),
            log_number: Some(7),
            new_cfs: vec![(1, "inverted".into())],
            added: vec![AddedFile {
                cf: 1,
                level: 2,
                meta: FileMeta {
                    number: 8,
                    size: 4096,
                    smallest: b"a".to_vec(),
                    largest: b"z".to_vec(),
                    smallest_seq: 3,
                    largest_seq: 99,
                },
            }],
            deleted: vec![(0, 0, 5)],
            range_dels: vec![(
                1,
                RangeTombstone {
                    start: b"b".to_vec(),
                    end: b"d".to_vec(),
                    seq: 77,
                },
            )],
            dropped_range_dels: vec![(1, 12)],
        }
    }

    #[test]
    fn edit_roundtrip() {
        let e = sample();
        assert_eq!(VersionEdit::decode(&e.encode()).unwrap(), e);
    }

    #[test]
    fn edit_decode_rejects_garbage() {
        let enc = sample().encode();
        for cut in 1..enc.len() {
            // Every strict prefix either fails or decodes to something different.
            if let Ok(d) = VersionEdit::decode(&enc[..cut]) {
                assert_ne!(d, sample());
            }
        }
        assert!(VersionEdit::decode(&[99]).is_err());
    }

    /// Found by `tests/corruption.rs`: a bit flip in a digit of CURRENT made open fail with
    /// "MANIFEST-000013 not found", naming a file that never existed instead of CURRENT.
    #[test]
    fn current_naming_a_missing_manifest_is_corruption_of_current() {
        let fs = FaultFs::new();
        let dir = Path::new("/db");
        ManifestWriter::create(&fs, dir, 3, &sample()).unwrap();
        fs.corrupt(&current_path(dir), 14, 0x01).unwrap(); // MANIFEST-000003 -> ...000002
        let e = read_current(&fs, dir).unwrap_err();
        assert!(e.is_corruption(), "{e}");
        assert!(e.to_string().contains("CURRENT"), "{e}");
    }

    /// Found by `tests/corruption.rs`: a flipped byte in the manifest's last edit (or a cut
    /// manifest) read as a torn tail, so open served the state before the last flush — stale
    /// values — and deleted that flush's table as unreferenced.
    #[test]
    fn lost_last_manifest_edit_is_refused_not_served_stale() {
        let fs = FaultFs::new();
        let dir = Path::new("/db");
        let opts = crate::Options {
            fs: std::sync::Arc::new(fs.clone()),
            ..crate::Options::default()
        };
        let db = crate::Db::open(dir, opts.clone()).unwrap();
        db.put(b"k", b"old").unwrap();
        db.flush().unwrap();
        db.put(b"k", b"new").unwrap();
        db.flush().unwrap();
        db.close().unwrap();
        drop(db);
        let mpath = read_current(&fs, dir).unwrap();
        let len = fs.file_len(&mpath).unwrap();
        fs.truncate(&mpath, len - 1).unwrap();
        let e = crate::Db::open(dir, opts).err().expect("open must refuse");
        assert!(e.is_corruption(), "{e}");
        assert!(e.to_string().contains("MANIFEST-"), "{e}");
    }

    #[test]
    fn manifest_create_append_read() {
        let fs = FaultFs::new();
        let dir = Path::new("/db");
        let mut m = ManifestWriter::create(&fs, dir, 1, &sample()).unwrap();
        let e2 = VersionEdit {
            last_seq: Some(2000),
            ..Default::default()
        };
        m.append(&e2).unwrap();
        fs.crash(None);
        let p = read_current(&fs, dir).unwrap();
        assert_eq!(p, manifest_path(dir, 1));
        let edits = read_edits(&fs, &p).unwrap();
        assert_eq!(edits, vec![sample(), e2]);
    }
}
