//! [`StateMachine`]: the document store under Raft.
//!
//! Entries are applied in log order. An entry carries the operations the leader grouped
//! (`proposer.rs`); each is applied as its own store batch, and the last one's batch also
//! carries the *applied position*: the entry's log id and the membership in force, JSON (a
//! blank or membership entry writes the position alone). The store therefore names the last
//! entry it reflects — after a crash too — and `applied_state` reads it back. A crash between
//! two operations of an entry leaves the position on the entry before, so the whole entry is
//! applied again: each operation sets the state of its keys (a put or a delete), so applying
//! the entry's first operations twice, in order, leaves what applying them once leaves.
//! Applying the same entries to two stores gives the same state (the store's apply is
//! deterministic). An operation the store refuses for what it is (a malformed prepared
//! document, a key over the engine's limit) is refused identically everywhere, and the refusal
//! is that operation's [`Response`]. Any other failure (I/O) is a storage error, which stops
//! this Raft node.
//!
//! Layout of the directory: `STATE` names the live store directory (`state-NNNNNN`);
//! `snapshot.current` is the last snapshot built or installed (`snapshot_file` format).
//! Installing a snapshot unpacks it into the next `state-` directory, verifies every file,
//! opens it, then moves `STATE` (written to a temporary name, fsynced, renamed, the directory
//! fsynced): a crash before that keeps the old store, after it the new one. Leftovers (other
//! `state-` directories, temporary files) are removed at open.
//!
//! Lock order: `order` (apply, snapshot builds and installs, one at a time), then `indexer`.

use super::snapshot_file;
use super::{Member, Response, Responses, StorageError, TypeConfig};
use kvstore_engine::fs::{FileSystem, StdFs};
use kvstore_engine::{verify_checkpoint, Db, Options};
use kvstore_search::{Indexer, PreparedOp, SearchOptions};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta,
    StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

const STATE_POINTER: &str = "STATE";
const SNAPSHOT: &str = "snapshot.current";
/// Prefixes of temporary names, removed at open.
const TEMPORARY: [&str; 4] = ["checkpoint-", "building-", "incoming-", "received-"];

type Meta = SnapshotMeta<u64, Member>;

/// What the store's applied position holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Applied {
    last: Option<LogId<u64>>,
    membership: StoredMembership<u64, Member>,
}

fn sm_read(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::read_state_machine(AnyError::error(e.to_string())).into()
}

fn sm_write(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_state_machine(AnyError::error(e.to_string())).into()
}

fn snap_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_snapshot(None, AnyError::error(e.to_string())).into()
}

struct Shared {
    dir: PathBuf,
    opts: SearchOptions,
    indexer: RwLock<Arc<Indexer>>,
    /// The name of the live store directory.
    state: Mutex<String>,
    order: tokio::sync::Mutex<()>,
    current: Mutex<Option<Meta>>,
}

/// The Raft state machine of one node. Cheap to clone (the clones share everything).
#[derive(Clone)]
pub struct StateMachine {
    shared: Arc<Shared>,
}

fn open_store(dir: &Path, opts: &SearchOptions) -> Result<Indexer, String> {
    // Applied entries are not fsynced: the Raft log already holds them durably, and the
    // applied position travels in each entry's batch, so a power cut only moves the store back
    // to an earlier position, from which openraft applies the log again. (An fsync per applied
    // entry was the whole cost of a replicated write: 743 writes/s at c=64.) The log is purged
    // only behind a snapshot, and a snapshot flushes the store first (`build_snapshot`), so the
    // entries a store may have lost are always still in the log.
    let options = Options {
        sync: false,
        ..Options::default()
    };
    let db = Db::open(dir, options).map_err(|e| e.to_string())?;
    Indexer::open(db, opts.clone()).map_err(|e| e.to_string())
}

/// Replaces `dir/name` by `content` atomically and durably.
fn write_atomically(dir: &Path, name: &str, content: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, content)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    StdFs.sync_dir(dir)
}

fn read_applied(ix: &Indexer) -> Result<Applied, StorageError> {
    match ix.applied_position().map_err(sm_read)? {
        Some(p) => serde_json::from_slice(&p).map_err(sm_read),
        None => Ok(Applied::default()),
    }
}

/// A refusal of the operation itself, which every replica makes identically.
fn refused_everywhere(e: &kvstore_search::Error) -> bool {
    use kvstore_search::Error as E;
    matches!(
        e,
        E::InvalidQuery(_)
            | E::DimensionMismatch { .. }
            | E::Engine(kvstore_engine::Error::InvalidArgument(_))
    )
}

/// How many of `keys` (distinct) hold a document.
fn count_present(ix: &Indexer, keys: &[Vec<u8>]) -> Result<u64, kvstore_search::Error> {
    let distinct: std::collections::BTreeSet<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let mut n = 0;
    for k in distinct {
        if ix.db().get(k)?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}

/// Applies one entry's operations in order, the entry's position `pos` with the last one (or
/// alone), and answers each.
fn apply_entry(
    ix: &Indexer,
    ops: &[PreparedOp],
    pos: &[u8],
) -> Result<Vec<Response>, StorageError> {
    let nothing = PreparedOp::Put(Vec::new());
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let position = (i + 1 == ops.len()).then_some(pos);
        // Counted before the delete, from the state every replica shares, so every replica
        // answers the same.
        let deleted = match op {
            PreparedOp::Delete(keys) => Some(count_present(ix, keys).map_err(sm_read)?),
            PreparedOp::Put(_) => None,
        };
        match ix.apply(op, position) {
            Ok(()) => out.push(Response {
                error: None,
                deleted,
            }),
            Err(e) if refused_everywhere(&e) => {
                if let Some(p) = position {
                    ix.apply(&nothing, Some(p)).map_err(sm_write)?;
                }
                out.push(Response {
                    error: Some(e.to_string()),
                    deleted: None,
                });
            }
            Err(e) => return Err(sm_write(e)),
        }
    }
    if ops.is_empty() {
        ix.apply(&nothing, Some(pos)).map_err(sm_write)?;
    }
    Ok(out)
}

impl StateMachine {
    /// Opens (creating) the state machine in `dir`, its store with `opts`.
    pub fn open(dir: &Path, opts: SearchOptions) -> Result<StateMachine, StorageError> {
        std::fs::create_dir_all(dir).map_err(sm_read)?;
        let state = match std::fs::read_to_string(dir.join(STATE_POINTER)) {
            Ok(s) => s.trim().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let first = "state-000001".to_string();
                write_atomically(dir, STATE_POINTER, first.as_bytes()).map_err(sm_write)?;
                first
            }
            Err(e) => return Err(sm_read(e)),
        };
        for entry in std::fs::read_dir(dir).map_err(sm_read)? {
            let name = entry.map_err(sm_read)?.file_name();
            let name = name.to_string_lossy();
            let stale_state = name.starts_with("state-") && name != state.as_str();
            if stale_state || TEMPORARY.iter().any(|p| name.starts_with(p)) {
                let p = dir.join(name.as_ref());
                let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
            }
        }
        let indexer = open_store(&dir.join(&state), &opts).map_err(sm_read)?;
        let current = match snapshot_file::read_meta(&dir.join(SNAPSHOT)) {
            Ok(m) => Some(serde_json::from_slice(&m).map_err(sm_read)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(sm_read(e)),
        };
        Ok(StateMachine {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                opts,
                indexer: RwLock::new(Arc::new(indexer)),
                state: Mutex::new(state),
                order: tokio::sync::Mutex::new(()),
                current: Mutex::new(current),
            }),
        })
    }

    /// The store as of now (reads go here; a snapshot install replaces it).
    pub fn indexer(&self) -> Arc<Indexer> {
        self.shared
            .indexer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn snapshot_path(&self) -> PathBuf {
        self.shared.dir.join(SNAPSHOT)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let dir = self.shared.dir.clone();
        let tag = format!("{:016x}", rand::random::<u64>());
        let cp_dir = dir.join(format!("checkpoint-{tag}"));
        // The position and the checkpoint under `order`: no entry is applied in between, so
        // the metadata names exactly the state copied.
        let (applied, files) = {
            let _order = self.shared.order.lock().await;
            let ix = self.indexer();
            let applied = read_applied(&ix)?;
            let d = cp_dir.clone();
            // Durable first: openraft may purge the log up to this snapshot, and the store's
            // applied entries are not fsynced one by one (`open_store`).
            let cp = tokio::task::spawn_blocking(move || {
                ix.db().flush()?;
                ix.db().checkpoint(&d)
            })
            .await
            .map_err(snap_err)?
            .map_err(snap_err)?;
            (applied, cp.files)
        };
        let meta = Meta {
            last_log_id: applied.last,
            last_membership: applied.membership,
            snapshot_id: format!("{}-{tag}", applied.last.map_or(0, |l| l.index)),
        };
        let meta_bytes = serde_json::to_vec(&meta).map_err(snap_err)?;
        let target = self.snapshot_path();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let building = dir.join(format!("building-{tag}"));
            snapshot_file::pack(&cp_dir, &files, &meta_bytes, &building)?;
            std::fs::rename(&building, &target)?;
            StdFs.sync_dir(&dir)?;
            std::fs::remove_dir_all(&cp_dir)
        })
        .await
        .map_err(snap_err)?
        .map_err(snap_err)?;
        *self
            .shared
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(meta.clone());
        let f = tokio::fs::File::open(self.snapshot_path())
            .await
            .map_err(snap_err)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(f),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, Member>), StorageError> {
        let ix = self.indexer();
        let a = tokio::task::spawn_blocking(move || read_applied(&ix))
            .await
            .map_err(sm_read)??;
        Ok((a.last, a.membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Responses>, StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        let _order = self.shared.order.lock().await;
        let ix = self.indexer();
        tokio::task::spawn_blocking(move || {
            let mut applied = read_applied(&ix)?;
            let mut out = Vec::with_capacity(entries.len());
            for e in entries {
                applied.last = Some(e.log_id);
                let ops = match e.payload {
                    EntryPayload::Blank => Vec::new(),
                    EntryPayload::Normal(req) => req.ops,
                    EntryPayload::Membership(m) => {
                        applied.membership = StoredMembership::new(Some(e.log_id), m);
                        Vec::new()
                    }
                };
                let pos = serde_json::to_vec(&applied).map_err(sm_write)?;
                out.push(Responses {
                    results: apply_entry(&ix, &ops, &pos)?,
                });
            }
            Ok(out)
        })
        .await
        .map_err(sm_write)?
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        let p = self
            .shared
            .dir
            .join(format!("incoming-{:016x}", rand::random::<u64>()));
        let f = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&p)
            .await
            .map_err(snap_err)?;
        Ok(Box::new(f))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError> {
        use tokio::io::AsyncSeekExt;
        let mut f = *snapshot;
        f.seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(snap_err)?;
        let mut f = f.into_std().await;
        let dir = self.shared.dir.clone();
        let next = {
            let cur = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            let n: u64 = cur
                .strip_prefix("state-")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            format!("state-{:06}", n + 1)
        };
        let opts = self.shared.opts.clone();
        let (d, name) = (dir.clone(), next.clone());
        // Received, unpacked, every file verified and the store opened — before anything the
        // node serves changes.
        let (received, ix) = tokio::task::spawn_blocking(move || -> Result<_, String> {
            let received = d.join(format!("received-{:016x}", rand::random::<u64>()));
            let mut out = std::fs::File::create(&received).map_err(|e| e.to_string())?;
            std::io::copy(&mut f, &mut out).map_err(|e| e.to_string())?;
            out.sync_all().map_err(|e| e.to_string())?;
            let state_dir = d.join(&name);
            let _ = std::fs::remove_dir_all(&state_dir);
            snapshot_file::unpack(&received, &state_dir).map_err(|e| e.to_string())?;
            verify_checkpoint(&StdFs, &state_dir).map_err(|e| e.to_string())?;
            let ix = open_store(&state_dir, &opts)?;
            Ok((received, ix))
        })
        .await
        .map_err(snap_err)?
        .map_err(snap_err)?;

        let _order = self.shared.order.lock().await;
        write_atomically(&dir, STATE_POINTER, next.as_bytes()).map_err(snap_err)?;
        std::fs::rename(&received, self.snapshot_path()).map_err(snap_err)?;
        StdFs.sync_dir(&dir).map_err(snap_err)?;
        let old = std::mem::replace(
            &mut *self
                .shared
                .indexer
                .write()
                .unwrap_or_else(|e| e.into_inner()),
            Arc::new(ix),
        );
        let old_name = std::mem::replace(
            &mut *self.shared.state.lock().unwrap_or_else(|e| e.into_inner()),
            next,
        );
        *self
            .shared
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(meta.clone());
        // The old store: closed and removed once no reader holds it (else at the next open).
        tokio::task::spawn_blocking(move || {
            let _ = old.close();
            if Arc::into_inner(old).is_some() {
                let _ = std::fs::remove_dir_all(dir.join(old_name));
            }
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if entry.file_name().to_string_lossy().starts_with("incoming-") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        })
        .await
        .map_err(snap_err)?;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let meta = self
            .shared
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(meta) = meta else {
            return Ok(None);
        };
        let f = tokio::fs::File::open(self.snapshot_path())
            .await
            .map_err(snap_err)?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(f),
        }))
    }
}
