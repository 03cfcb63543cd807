//! [`LogStore`]: the Raft log in an engine database of its own.
//!
//! Keys (default column family): `'e' index` (u64 big-endian, so entries sort by index) → the
//! entry as CBOR (JSON in logs written before 2026-12-08, still read); `'v'` the vote, `'c'` the committed log id, `'p'` the last purged log id,
//! `'l'` the last log id (kept in the batch that changes it, so the log state needs no scan).
//!
//! Invariants: every change is one engine batch, fsynced before the call returns (an append
//! before openraft's `LogFlushed` callback); entries are contiguous from `'p'`'s index + 1 to
//! `'l'`'s; `'l'` is never below `'p'`.

use super::{StorageError, TypeConfig};
use kvstore_engine::{Db, Options, WriteBatch};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, Entry, LogId, OptionalSend, RaftLogReader, StorageIOError, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;

const VOTE: &[u8] = b"v";
const COMMITTED: &[u8] = b"c";
const PURGED: &[u8] = b"p";
const LAST: &[u8] = b"l";

fn entry_key(index: u64) -> [u8; 9] {
    let mut k = [b'e'; 9];
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_logs(AnyError::new(&e)).into()
}

fn write_err(e: &dyn std::error::Error) -> StorageError {
    StorageIOError::write_logs(AnyError::error(e.to_string())).into()
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(v).map_err(|e| write_err(&e))
}

/// An entry as stored: CBOR, as peers send it (cheaper to write and read back for replication
/// than JSON, which spells every byte of a key and value as a decimal number).
fn encode_entry(e: &Entry<TypeConfig>) -> Result<Vec<u8>, StorageError> {
    let mut out = Vec::new();
    ciborium::into_writer(e, &mut out).map_err(|e| write_err(&e))?;
    Ok(out)
}

/// Reads an entry back: CBOR, or JSON for one written before (a JSON entry starts with `{`; a
/// CBOR entry, a map, never does).
fn decode_entry(v: &[u8]) -> Result<Entry<TypeConfig>, StorageError> {
    if v.first() == Some(&b'{') {
        serde_json::from_slice(v).map_err(read_err)
    } else {
        ciborium::from_reader(v).map_err(|e| {
            read_err(std::io::Error::other(format!(
                "cannot decode a log entry: {e}"
            )))
        })
    }
}

/// The Raft log of one node. Cheap to clone (the clones share the database).
#[derive(Clone)]
pub struct LogStore {
    db: Db,
}

impl LogStore {
    /// Opens (creating) the log in `dir`.
    pub fn open(dir: &Path) -> Result<LogStore, kvstore_engine::Error> {
        Ok(LogStore {
            db: Db::open(dir, Options::default())?,
        })
    }

    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        match self.db.get(key).map_err(read_err)? {
            Some(v) => Ok(Some(serde_json::from_slice(&v).map_err(read_err)?)),
            None => Ok(None),
        }
    }

    /// Writes `b` durably, off the async runtime (it fsyncs).
    async fn write(&self, b: WriteBatch) -> Result<(), StorageError> {
        self.write_as(b, write_err).await
    }

    /// [`LogStore::write`], its failure reported as `err` says (openraft tells a failed vote
    /// from a failed log write).
    async fn write_as(
        &self,
        b: WriteBatch,
        err: fn(&dyn std::error::Error) -> StorageError,
    ) -> Result<(), StorageError> {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || db.write(b)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(err(&e)),
            Err(e) => Err(err(&e)),
        }
    }

    /// Entries with index in `[start, end)`.
    fn entries(
        &self,
        start: u64,
        end: Option<u64>,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        let upper = end.map_or(Bound::Excluded(entry_key(u64::MAX).to_vec()), |e| {
            Bound::Excluded(entry_key(e).to_vec())
        });
        let mut out = Vec::new();
        for kv in self
            .db
            .scan((Bound::Included(entry_key(start).to_vec()), upper))
            .map_err(read_err)?
        {
            let (_, v) = kv.map_err(read_err)?;
            out.push(decode_entry(&v)?);
        }
        Ok(out)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e.checked_add(1),
            Bound::Excluded(&e) => Some(e),
            Bound::Unbounded => None,
        };
        if end.is_some_and(|e| e <= start) {
            return Ok(Vec::new());
        }
        self.entries(start, end)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        // `'l'` is never below `'p'` (a purge past the last entry moves `'l'` too), so it is the
        // last log id whether or not entries remain.
        Ok(LogState {
            last_log_id: self.get(LAST)?,
            last_purged_log_id: self.get(PURGED)?,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError> {
        let mut b = WriteBatch::new();
        b.put(VOTE, json(vote)?);
        self.write_as(b, |e| {
            StorageIOError::write_vote(AnyError::error(e.to_string())).into()
        })
        .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError> {
        self.get(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), StorageError> {
        let mut b = WriteBatch::new();
        match committed {
            Some(c) => b.put(COMMITTED, json(&c)?),
            None => b.delete(COMMITTED),
        }
        self.write(b).await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError> {
        self.get(COMMITTED)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut b = WriteBatch::new();
        let mut last = None;
        for e in entries {
            b.put(entry_key(e.log_id.index), encode_entry(&e)?);
            last = Some(e.log_id);
        }
        if let Some(l) = last {
            b.put(LAST, json(&l)?);
        }
        // IMPORTANT: openraft counts the entries as durable when told so: only after the
        // fsync (the engine's write returns after it).
        match self.write(b).await {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        // The new last entry is the one before `log_id`, or (none left) the purged one.
        let before = match log_id.index.checked_sub(1) {
            Some(i) => self.entries(i, Some(i + 1))?.pop().map(|e| e.log_id),
            None => None,
        };
        let last = before.or(self.get(PURGED)?);
        let mut b = WriteBatch::new();
        b.delete_range(entry_key(log_id.index), entry_key(u64::MAX));
        match last {
            Some(l) => b.put(LAST, json(&l)?),
            None => b.delete(LAST),
        }
        self.write(b).await
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        let last: Option<LogId<u64>> = self.get(LAST)?;
        let mut b = WriteBatch::new();
        b.delete_range(entry_key(0), entry_key(log_id.index.saturating_add(1)));
        b.put(PURGED, json(&log_id)?);
        if last.is_none_or(|l| l.index <= log_id.index) {
            b.put(LAST, json(&log_id)?);
        }
        self.write(b).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::raft::Request;
    use kvstore_search::PreparedOp;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn entry(index: u64, key: &str) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 7), index),
            payload: EntryPayload::Normal(Request {
                ops: vec![PreparedOp::Delete(vec![key.as_bytes().to_vec()])],
            }),
        }
    }

    /// Entries are stored as CBOR; a log written before, with JSON entries (the one-op shape
    /// of that time), still reads back beside new ones.
    #[tokio::test]
    async fn json_entries_from_before_read_back_beside_cbor_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogStore::open(dir.path()).unwrap();
        let old = serde_json::json!({
            "log_id": entry(1, "a").log_id,
            "payload": {"Normal": {"op": {"Delete": [[97]]}}},
        });
        let mut b = WriteBatch::new();
        b.put(entry_key(1), serde_json::to_vec(&old).unwrap());
        b.put(LAST, json(&entry(1, "a").log_id).unwrap());
        log.db.write(b).unwrap();
        use openraft::storage::RaftLogStorageExt;
        log.blocking_append([entry(2, "b")]).await.unwrap();
        let raw = log.db.get(&entry_key(2)).unwrap().unwrap();
        assert_ne!(raw[0], b'{', "a new entry was written as JSON");
        let back = log.try_get_log_entries(1..3).await.unwrap();
        assert_eq!(back, vec![entry(1, "a"), entry(2, "b")]);
    }
}
