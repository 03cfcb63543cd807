//! Compaction execution: runs the tasks the pure picker (`kvstore-compaction`) chooses.
//!
//! Crash reasoning: outputs are written and fsynced under fresh numbers and their names synced
//! before the manifest edit that swaps inputs for outputs; a crash before that edit leaves the
//! inputs in force and the outputs unreferenced (deleted at the next open). Inputs are deleted
//! only after the edit is durable.

use crate::db::{DbInner, SuperVersion};
use crate::error::Result;
use crate::filenames::table_path;
use crate::iter::BoxedIter;
use crate::manifest::{AddedFile, VersionEdit};
use crate::range_del::{DropHidden, RangeTombstone};
use crate::stats::Counters;
use kvstore_base::Error as BaseError;
use kvstore_base::SeqNo;
use kvstore_compaction::{
    manual_compaction, CompactionIterator, CompactionStrategy, CompactionTask, FileMeta,
    LeveledStrategy, LevelsView, MergingIterator, PickerOptions,
};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

impl DbInner {
    fn picker_options(&self) -> PickerOptions {
        PickerOptions {
            l0_compaction_trigger: self.opts.l0_compaction_trigger,
            max_bytes_for_level_base: self.opts.max_bytes_for_level_base.unwrap_or(
                (self.opts.memtable_size_bytes as u64)
                    .saturating_mul(self.opts.l0_compaction_trigger.max(1) as u64),
            ),
            level_size_multiplier: self.opts.level_size_multiplier,
            num_levels: self.opts.num_levels,
            target_file_size_bytes: self.opts.target_file_size_bytes,
            dynamic_level_bytes: self.opts.dynamic_level_bytes,
        }
    }

    /// Picks the most urgent task over all column families and runs it. False if none.
    fn compact_once(&self) -> Result<bool> {
        let _one = self.compaction_lock.lock();
        match self.pick_most_urgent() {
            Some((cf, task)) => {
                self.run_compaction(cf, &task)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// True while a compaction runs or the picker would start one. Waits for a running one
    /// to end (the background thread holds `compaction_lock` while it works).
    pub(crate) fn compaction_pending(&self) -> bool {
        let _one = self.compaction_lock.lock();
        self.pick_most_urgent().is_some()
    }

    /// The task the picker finds most urgent over all column families, if any.
    fn pick_most_urgent(&self) -> Option<(u32, CompactionTask)> {
        let levels = self.versions.lock().levels.clone();
        let busy = HashSet::new();
        let opts = self.picker_options();
        levels
            .iter()
            .filter_map(|(cf, c)| {
                let view = LevelsView {
                    levels: &c.levels,
                    busy: &busy,
                };
                LeveledStrategy.pick(&view, &opts).map(|t| (*cf, t))
            })
            .max_by(|a, b| a.1.score.total_cmp(&b.1.score))
    }

    fn run_compaction(&self, cf: u32, task: &CompactionTask) -> Result<()> {
        let mut edit = VersionEdit::default();
        for f in &task.inputs {
            edit.deleted.push((cf, task.input_level, f.number));
        }
        for f in &task.overlapping {
            edit.deleted.push((cf, task.output_level, f.number));
        }
        let mut written = 0;
        let mut opened = Vec::new();
        if task.trivial_move {
            for f in &task.inputs {
                edit.added.push(AddedFile {
                    cf,
                    level: task.output_level,
                    meta: f.clone(),
                });
            }
        } else {
            let sv = self.current();
            let wanted: HashSet<u64> = task
                .inputs
                .iter()
                .chain(task.overlapping.iter())
                .map(|f| f.number)
                .collect();
            let mut children: Vec<BoxedIter> = Vec::new();
            if let Some(c) = sv.version.cfs.get(&cf) {
                for t in c.levels.iter().flatten() {
                    if wanted.contains(&t.meta.number) {
                        children.push(Box::new(t.reader.iter()));
                    }
                }
            }
            let merged = MergingIterator::new(children);
            let snapshots = self.snapshot_list();
            let it = CompactionIterator::new(merged, snapshots.clone(), task.bottommost);
            let tombstones = sv.version.range_dels(cf).to_vec();
            let mut it = DropHidden::new(it, tombstones, snapshots);
            let outputs = self.write_tables(&mut it, self.opts.target_file_size_bytes)?;
            if !outputs.is_empty() {
                // IMPORTANT: output names durable before the manifest refers to them.
                self.fs.sync_dir(&self.dir).map_err(|e| {
                    BaseError::io(format!("fsync directory {}", self.dir.display()), e)
                })?;
            }
            for (meta, reader) in outputs {
                written += meta.size;
                opened.push(reader);
                edit.added.push(AddedFile {
                    cf,
                    level: task.output_level,
                    meta,
                });
            }
        }
        {
            let mut vs = self.versions.lock();
            self.log_and_apply(&mut vs, edit, &opened, |cur, v| SuperVersion {
                mem: cur.mem.clone(),
                imm: cur.imm.clone(),
                version: v,
            })?;
        }
        if !task.trivial_move {
            for f in task.inputs.iter().chain(task.overlapping.iter()) {
                self.cache.evict_file(f.number);
                // Readers still holding the old version keep their open handles.
                let _ = self.fs.remove_file(&table_path(&self.dir, f.number));
            }
        }
        Counters::add(&self.counters.compactions, 1);
        Counters::add(&self.counters.compaction_bytes, written);
        self.bg_cv.notify_all();
        Ok(())
    }

    /// Compacts everything overlapping `[start, end]` level by level down to the last
    /// non-empty level (at least the level L0 compacts into: L1, or the base level under dynamic
    /// sizing), so shadowed versions and tombstones are dropped.
    pub(crate) fn compact_range(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        let _one = self.compaction_lock.lock();
        let opts = self.picker_options();
        let cfs: Vec<u32> = self.versions.lock().levels.keys().copied().collect();
        let busy = HashSet::new();
        for cf in cfs {
            let last_nonempty = {
                let vs = self.versions.lock();
                vs.levels
                    .get(&cf)
                    .and_then(|c| c.levels.iter().rposition(|l| !l.is_empty()))
                    .unwrap_or(0)
            };
            for level in 0..last_nonempty.max(1).min(opts.num_levels - 1) {
                loop {
                    self.check_writable()?;
                    let levels = self.versions.lock().levels.clone();
                    let Some(c) = levels.get(&cf) else { break };
                    let view = LevelsView {
                        levels: &c.levels,
                        busy: &busy,
                    };
                    let Some(task) = manual_compaction(&view, level, start, end, &opts) else {
                        break;
                    };
                    self.run_manual(cf, &task)?;
                }
            }
            self.purge_range_tombstones(cf, start, end)?;
        }
        Ok(())
    }

    /// Runs a task of a manual compaction. Like the background loop, a failed table persist
    /// poisons, whoever asked for the compaction.
    fn run_manual(&self, cf: u32, task: &CompactionTask) -> Result<()> {
        self.run_compaction(cf, task).inspect_err(|e| match e {
            crate::Error::Storage(se) => self.poison_for("compaction failed", se),
            other => self.poison(format!("compaction failed: {other}")),
        })
    }

    /// Removes the range tombstones of `cf` lying within `[start, end]` once nothing they hide
    /// remains: every table overlapping one of them is rewritten in place, dropping the
    /// versions they hide, and a tombstone no snapshot can still see through (none older than
    /// it) is then dropped from the version. Tables flushed meanwhile hold only newer writes (a
    /// tombstone is in the version only after its memtable group, and every older one, was
    /// flushed), and no new snapshot can be older than a tombstone already written.
    fn purge_range_tombstones(
        &self,
        cf: u32,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
    ) -> Result<()> {
        let within = |t: &RangeTombstone| {
            start.is_none_or(|s| t.start.as_slice() >= s)
                && end.is_none_or(|e| t.end.as_slice() <= e)
        };
        let tombstones: Vec<RangeTombstone> = self
            .current()
            .version
            .range_dels(cf)
            .iter()
            .filter(|t| within(t))
            .cloned()
            .collect();
        if tombstones.is_empty() {
            return Ok(());
        }
        // Read before the rewrites: a snapshot older than a tombstone makes them keep what it
        // hides, and may be released before the end.
        let oldest_snapshot = self.snapshot_list().first().copied();
        let overlapping: Vec<(usize, FileMeta)> = {
            let vs = self.versions.lock();
            vs.levels.get(&cf).map_or_else(Vec::new, |c| {
                c.levels
                    .iter()
                    .enumerate()
                    .flat_map(|(level, files)| files.iter().map(move |f| (level, f)))
                    .filter(|(_, f)| {
                        tombstones.iter().any(|t| {
                            f.smallest.as_slice() < t.end.as_slice()
                                && f.largest.as_slice() >= t.start.as_slice()
                        })
                    })
                    .map(|(level, f)| (level, f.clone()))
                    .collect()
            })
        };
        for (level, f) in overlapping {
            self.check_writable()?;
            let task = CompactionTask {
                input_level: level,
                inputs: vec![f],
                output_level: level,
                overlapping: Vec::new(),
                bottommost: false,
                score: 0.0,
                trivial_move: false,
            };
            self.run_manual(cf, &task)?;
        }
        let dropped: Vec<(u32, SeqNo)> = tombstones
            .iter()
            .filter(|t| oldest_snapshot.is_none_or(|s| s >= t.seq))
            .map(|t| (cf, t.seq))
            .collect();
        if !dropped.is_empty() {
            let mut vs = self.versions.lock();
            let edit = VersionEdit {
                dropped_range_dels: dropped,
                ..Default::default()
            };
            self.log_and_apply(&mut vs, edit, &[], |cur, v| SuperVersion {
                mem: cur.mem.clone(),
                imm: cur.imm.clone(),
                version: v,
            })?;
        }
        Ok(())
    }

    /// The compaction thread: runs tasks while any level is over its target.
    pub(crate) fn compaction_loop(self: &Arc<Self>) {
        loop {
            {
                let mut g = self.bg.lock();
                if g.shutting_down {
                    return;
                }
                if !g.compaction_wanted {
                    self.bg_cv.wait_for(&mut g, Duration::from_millis(500));
                }
                if g.shutting_down {
                    return;
                }
                g.compaction_wanted = false;
            }
            if self.poisoned.lock().is_some() {
                continue;
            }
            loop {
                if self.bg.lock().shutting_down {
                    return;
                }
                match self.compact_once() {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(crate::Error::Storage(e)) => {
                        self.poison_for("compaction failed", &e);
                        break;
                    }
                    Err(e) => {
                        self.poison(format!("compaction failed: {e}"));
                        break;
                    }
                }
            }
        }
    }

    pub(crate) fn start_background(self: &Arc<Self>) {
        let mut threads = self.threads.lock();
        let me = self.clone();
        if let Ok(t) = std::thread::Builder::new()
            .name("kvstore-flush".into())
            .spawn(move || me.flush_loop())
        {
            threads.push(t);
        }
        // One compaction thread: compactions take one lock (`compaction_lock`), so more threads
        // would only wait for each other (subcompactions are the way to more parallelism).
        let me = self.clone();
        if let Ok(t) = std::thread::Builder::new()
            .name("kvstore-compact".into())
            .spawn(move || me.compaction_loop())
        {
            threads.push(t);
        }
    }
}
