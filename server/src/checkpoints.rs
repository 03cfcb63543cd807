//! [`CheckpointStore`]: the checkpoints a node has made for download (`/admin/checkpoint`,
//! driven by `kvstore backup`), each a directory `<data>/checkpoints/<id>/` that lives until it
//! is deleted, sits unused for the idle timeout, or the node restarts. See `docs/backup.md`.
//!
//! # Where they live, and why that is safe
//! The data directory *is* the engine's directory (`Server::bind` opens the `Db` in it), so
//! `checkpoints/` sits beside the engine's files. The engine owns only the names
//! `filenames::parse` knows (`NNNNNN.log`, `NNNNNN.sst`, `MANIFEST-*`, `CURRENT`, `LOCK`,
//! `*.dbtmp`) and skips every other entry when it lists its directory, so it never deletes,
//! replays or copies this one. Being inside the data directory keeps checkpoints on the engine's
//! file system, so their tables are hard links (free), not copies; a sibling directory could
//! be on another file system whenever the data directory is a mount point.
//!
//! A checkpoint's tables are hard links to the live tables (the same inodes): nothing may
//! write to them. Downloads only read them.
//!
//! # Lifetime
//! A checkpoint pins its tables (compaction cannot free their space) and holds a copy of the WAL
//! still needed, so it is removed: by `DELETE`, after [`crate::ServerConfig::checkpoint_ttl`]
//! without a request naming it, when the node shuts down, and at start-up (what a killed node
//! left). At most [`MAX_OPEN_CHECKPOINTS`] exist at once (being made or ready).
//!
//! # Concurrency
//! One mutex over the map of open checkpoints, held for map operations only — never across a
//! file operation or an `.await`. A checkpoint is made in a task of its own, so a client that
//! hangs up mid-request does not cancel it halfway (the finished checkpoint then expires).
//! Files are removed on blocking threads.

use crate::error::ApiError;
use crate::node::Node;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// The directory of checkpoints inside the data directory.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// Checkpoints that may exist at once; one more is refused with 409.
pub const MAX_OPEN_CHECKPOINTS: usize = 4;
/// Hex digits of a checkpoint id (64 random bits).
const ID_HEX_DIGITS: usize = 16;
/// Bounds of the period at which expired checkpoints are looked for (a quarter of the TTL).
const MIN_SWEEP_PERIOD: Duration = Duration::from_millis(10);
const MAX_SWEEP_PERIOD: Duration = Duration::from_secs(30);

/// What `POST /admin/checkpoint` answers: the checkpoint's id, its sequence number, and its
/// files in the order to write them (`CURRENT` last).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckpointInfo {
    pub id: String,
    /// Every write up to this sequence number is in the checkpoint, none after.
    pub seq: u64,
    pub files: Vec<CheckpointFile>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckpointFile {
    pub name: String,
    pub size: u64,
}

/// An open checkpoint.
enum Slot {
    /// Its directory is being written by the engine; not downloadable yet, never expired.
    Making,
    /// Finished; `last_used` is when a request last named it (the idle timeout counts from it).
    Ready {
        info: CheckpointInfo,
        last_used: Instant,
    },
}

/// The checkpoints of one node. Shared by every request (`routes::State`) and the sweeper.
pub struct CheckpointStore {
    /// `<data>/checkpoints`; checkpoint `id` is the directory `root/id`. Created on first use.
    root: PathBuf,
    /// A ready checkpoint no request has named for this long is removed.
    ttl: Duration,
    /// Open checkpoints by id (being made or ready), at most [`MAX_OPEN_CHECKPOINTS`].
    open: Mutex<HashMap<String, Slot>>,
}

impl CheckpointStore {
    /// A store for checkpoints under `root`. Touches no file: see [`Self::remove_leftovers`].
    pub fn new(root: PathBuf, ttl: Duration) -> CheckpointStore {
        CheckpointStore {
            root,
            ttl,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// `<data>/checkpoints`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // The map is consistent after any panic (every update is a single insert or remove).
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes the checkpoints a previous run of the node left (it was killed, or its shutdown
    /// cleanup failed). Only entries named like an id are removed; a failure is logged, not
    /// fatal: the node can serve without it.
    pub async fn remove_leftovers(&self) {
        let root = self.root.clone();
        let removed = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<String>> {
            let mut removed = Vec::new();
            let entries = match std::fs::read_dir(&root) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
                Err(e) => return Err(e),
            };
            for entry in entries {
                let name = entry?.file_name().to_string_lossy().into_owned();
                if check_id(&name).is_ok() {
                    std::fs::remove_dir_all(root.join(&name))?;
                    removed.push(name);
                } else {
                    tracing::warn!(entry = %root.join(&name).display(), "not a checkpoint; left alone");
                }
            }
            Ok(removed)
        })
        .await;
        match removed {
            Ok(Ok(ids)) if ids.is_empty() => {}
            Ok(Ok(ids)) => tracing::info!(?ids, "removed checkpoints left by a previous run"),
            Ok(Err(e)) => {
                tracing::warn!(root = %self.root.display(), error = %e, "cannot remove old checkpoints")
            }
            Err(e) => tracing::warn!(error = %e, "checkpoint cleanup task failed"),
        }
    }

    /// Makes a checkpoint of `node` in a fresh directory and registers it. Runs in a task of
    /// its own (see the module doc); `Conflict` when [`MAX_OPEN_CHECKPOINTS`] are open.
    pub async fn create(self: &Arc<Self>, node: Arc<dyn Node>) -> Result<CheckpointInfo, ApiError> {
        let id = self.reserve()?;
        let store = Arc::clone(self);
        tokio::spawn(async move {
            let dir = store.root.join(&id);
            match node.checkpoint(dir.clone()).await {
                Ok(cp) => match sizes(dir.clone(), cp.files).await {
                    Ok(files) => Ok(store.finish(id, cp.seq, files)),
                    Err(e) => {
                        store.abandon(&id).await;
                        Err(e)
                    }
                },
                Err(e) => {
                    store.abandon(&id).await;
                    Err(e)
                }
            }
        })
        .await
        .map_err(|e| ApiError::Internal(format!("checkpoint task failed: {e}")))?
    }

    /// Claims a new id (its directory does not exist yet).
    fn reserve(&self) -> Result<String, ApiError> {
        let mut slots = self.slots();
        if slots.len() >= MAX_OPEN_CHECKPOINTS {
            return Err(ApiError::Conflict(format!(
                "{} checkpoints are open, the most allowed; delete one \
                 (DELETE /admin/checkpoint/<id>) or wait for it to expire",
                slots.len()
            )));
        }
        loop {
            let id = format!("{:0w$x}", rand::random::<u64>(), w = ID_HEX_DIGITS);
            if !slots.contains_key(&id) {
                slots.insert(id.clone(), Slot::Making);
                return Ok(id);
            }
        }
    }

    fn finish(&self, id: String, seq: u64, files: Vec<CheckpointFile>) -> CheckpointInfo {
        let info = CheckpointInfo {
            id: id.clone(),
            seq,
            files,
        };
        let slot = Slot::Ready {
            info: info.clone(),
            last_used: Instant::now(),
        };
        self.slots().insert(id, slot);
        info
    }

    /// Removes a checkpoint whose making failed: its directory first, then its slot (so the
    /// limit still counts it while its files exist).
    async fn abandon(&self, id: &str) {
        if let Err(e) = remove_dir(self.root.join(id)).await {
            tracing::warn!(id, error = %e, "cannot remove a failed checkpoint");
        }
        self.slots().remove(id);
    }

    /// A ready checkpoint by id; counts as a use.
    pub fn get(&self, id: &str) -> Result<CheckpointInfo, ApiError> {
        check_id(id)?;
        match self.slots().get_mut(id) {
            Some(Slot::Ready { info, last_used }) => {
                *last_used = Instant::now();
                Ok(info.clone())
            }
            Some(Slot::Making) => Err(ApiError::Conflict(format!(
                "checkpoint {id} is still being made"
            ))),
            None => Err(unknown(id)),
        }
    }

    /// Checks that `name` is a file of checkpoint `id` and counts it as a use: then
    /// `root/id/name` may be served.
    pub fn check_file(&self, id: &str, name: &str) -> Result<(), ApiError> {
        check_file_name(name)?;
        let info = self.get(id)?;
        if info.files.iter().any(|f| f.name == name) {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!(
                "checkpoint {id} has no file {name:?}"
            )))
        }
    }

    /// Removes a ready checkpoint.
    pub async fn remove(&self, id: &str) -> Result<(), ApiError> {
        check_id(id)?;
        {
            let mut slots = self.slots();
            match slots.get(id) {
                Some(Slot::Ready { .. }) => {
                    slots.remove(id);
                }
                Some(Slot::Making) => {
                    return Err(ApiError::Conflict(format!(
                        "checkpoint {id} is still being made"
                    )))
                }
                None => return Err(unknown(id)),
            }
        }
        remove_dir(self.root.join(id))
            .await
            .map_err(|e| ApiError::Internal(format!("cannot remove checkpoint {id}: {e}")))
    }

    /// Removes the ready checkpoints idle for longer than the TTL; returns their ids.
    pub async fn remove_expired(&self) -> Vec<String> {
        let ids = {
            let mut slots = self.slots();
            let ids = expired(&slots, Instant::now(), self.ttl);
            for id in &ids {
                slots.remove(id);
            }
            ids
        };
        for id in &ids {
            match remove_dir(self.root.join(id)).await {
                Ok(()) => tracing::info!(id, "removed an expired checkpoint"),
                Err(e) => tracing::warn!(id, error = %e, "cannot remove an expired checkpoint"),
            }
        }
        ids
    }

    /// Removes every ready checkpoint (at shutdown).
    pub async fn remove_all(&self) {
        let ids: Vec<String> = {
            let mut slots = self.slots();
            let ids: Vec<String> = slots
                .iter()
                .filter(|(_, s)| matches!(s, Slot::Ready { .. }))
                .map(|(id, _)| id.clone())
                .collect();
            for id in &ids {
                slots.remove(id);
            }
            ids
        };
        for id in ids {
            if let Err(e) = remove_dir(self.root.join(&id)).await {
                tracing::warn!(id, error = %e, "cannot remove a checkpoint at shutdown");
            }
        }
    }

    /// Runs [`Self::remove_expired`] every quarter of the TTL until the handle is aborted.
    pub fn start_sweeper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let store = Arc::clone(self);
        let period = (self.ttl / 4).clamp(MIN_SWEEP_PERIOD, MAX_SWEEP_PERIOD);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                store.remove_expired().await;
            }
        })
    }
}

fn unknown(id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no checkpoint {id} (never made, deleted, expired, or the node restarted)"
    ))
}

/// The ready checkpoints unused since before `now - ttl`, in id order. Policy, no I/O.
fn expired(slots: &HashMap<String, Slot>, now: Instant, ttl: Duration) -> Vec<String> {
    let mut ids: Vec<String> = slots
        .iter()
        .filter_map(|(id, s)| match s {
            Slot::Ready { last_used, .. } if now.saturating_duration_since(*last_used) > ttl => {
                Some(id.clone())
            }
            _ => None,
        })
        .collect();
    ids.sort();
    ids
}

/// A checkpoint id is exactly [`ID_HEX_DIGITS`] lowercase hex digits; anything else is 400.
pub fn check_id(id: &str) -> Result<(), ApiError> {
    if id.len() == ID_HEX_DIGITS && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "{id:?} is not a checkpoint id ({ID_HEX_DIGITS} hex digits)"
        )))
    }
}

/// A file name is one path component made of `[A-Za-z0-9._-]` not starting with `.` (every
/// name the engine writes is: `000012.sst`, `MANIFEST-000014`, `CURRENT`). This refuses path
/// traversal (`..`, `/`, `\`) with 400 before any lookup.
pub fn check_file_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "{name:?} is not a checkpoint file name (one path component of [A-Za-z0-9._-], \
             not starting with '.')"
        )))
    }
}

/// The size of each of `names` in `dir`, in the same order.
async fn sizes(dir: PathBuf, names: Vec<String>) -> Result<Vec<CheckpointFile>, ApiError> {
    tokio::task::spawn_blocking(move || {
        names
            .into_iter()
            .map(|name| {
                let p = dir.join(&name);
                let size = std::fs::metadata(&p)
                    .map_err(|e| ApiError::Internal(format!("stat {}: {e}", p.display())))?
                    .len();
                Ok(CheckpointFile { name, size })
            })
            .collect()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("checkpoint task failed: {e}")))?
}

/// `rm -r dir` on a blocking thread; a missing directory is not an error.
async fn remove_dir(dir: PathBuf) -> std::io::Result<()> {
    let r = tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    })
    .await;
    r.unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(last_used: Instant) -> Slot {
        Slot::Ready {
            info: CheckpointInfo {
                id: String::new(),
                seq: 0,
                files: vec![],
            },
            last_used,
        }
    }

    #[test]
    fn only_ready_checkpoints_idle_past_the_ttl_expire() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(60);
        let mut slots = HashMap::new();
        slots.insert("old".to_string(), ready(t0));
        slots.insert("used".to_string(), ready(t0 + Duration::from_secs(50)));
        slots.insert("making".to_string(), Slot::Making);
        assert!(expired(&slots, t0 + ttl, ttl).is_empty(), "exactly the TTL");
        assert_eq!(
            expired(&slots, t0 + ttl + Duration::from_millis(1), ttl),
            ["old"]
        );
        assert_eq!(
            expired(&slots, t0 + Duration::from_secs(3600), ttl),
            ["old", "used"]
        );
    }

    #[test]
    fn file_names_are_one_safe_component() {
        for ok in ["CURRENT", "MANIFEST-000014", "000012.sst", "000013.log"] {
            assert!(check_file_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../CURRENT",
            "a/b",
            "a\\b",
            ".hidden",
            "LOCK\0",
            "é",
            "/etc/passwd",
        ] {
            assert!(
                matches!(check_file_name(bad), Err(ApiError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ids_are_sixteen_lowercase_hex_digits() {
        assert!(check_id("0123456789abcdef").is_ok());
        for bad in [
            "",
            "..",
            "0123456789ABCDEF",
            "0123456789abcde",
            "0123456789abcdef0",
        ] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reserve_stops_at_the_limit_and_ids_are_well_formed() {
        let store = CheckpointStore::new(PathBuf::from("/nonexistent"), Duration::from_secs(1));
        let ids: Vec<String> = (0..MAX_OPEN_CHECKPOINTS)
            .map(|_| store.reserve().unwrap())
            .collect();
        for id in &ids {
            check_id(id).unwrap();
        }
        assert!(matches!(store.reserve(), Err(ApiError::Conflict(_))));
        // a checkpoint being made is neither downloadable nor removable
        assert!(matches!(store.get(&ids[0]), Err(ApiError::Conflict(_))));
    }
}
