//! The compaction picker's vocabulary: what a table file looks like to the policy, the view of
//! the levels it decides from, and the task it returns.
//!
//! Policy is a pure function `(LevelsView, PickerOptions) -> Option<CompactionTask>`, so it is
//! tested, and studied in the simulator, without a disk.
//!
//! Level invariants the picker relies on (kept by the engine's version set):
//! - `levels[0]` holds L0 files **newest first**; they may overlap each other;
//! - `levels[n]` for `n >= 1` is sorted by `smallest` and its files do not overlap;
//! - for a given user key, data in a lower-numbered level (and in a newer L0 file) is newer.

mod leveled;
mod manual;
mod overlap;
mod sizing;
#[cfg(test)]
mod tests;

use std::collections::HashSet;

use kvstore_base::SeqNo;

pub use leveled::LeveledStrategy;
pub use manual::manual_compaction;
pub use sizing::{level_targets, LevelTargets};

/// What the picker knows of one table file.
#[derive(Clone, Debug, PartialEq)]
pub struct FileMeta {
    /// The file number (unique, never reused).
    pub number: u64,
    /// Size on disk in bytes.
    pub size: u64,
    /// Smallest user key in the file, inclusive.
    pub smallest: Vec<u8>,
    /// Largest user key in the file, inclusive.
    pub largest: Vec<u8>,
    /// Smallest sequence number in the file.
    pub smallest_seq: SeqNo,
    /// Largest sequence number in the file.
    pub largest_seq: SeqNo,
}

/// The tuning knobs of leveled compaction.
#[derive(Clone, Debug)]
pub struct PickerOptions {
    /// Number of L0 files that makes L0's score 1.
    pub l0_compaction_trigger: usize,
    /// Target size of L1 in bytes (static sizing), or the most the base level L0 compacts
    /// into may be targeted at (dynamic sizing).
    pub max_bytes_for_level_base: u64,
    /// Each level below L1 targets this many times the size of the one above.
    pub level_size_multiplier: u64,
    /// Number of levels, L0 included; the last one is never an automatic compaction's input.
    pub num_levels: usize,
    /// Size at which the engine cuts compaction output files.
    pub target_file_size_bytes: u64,
    /// Size levels from the largest one down and compact L0 into the base level (RocksDB's
    /// `level_compaction_dynamic_level_bytes`); see [`level_targets`].
    pub dynamic_level_bytes: bool,
}

impl Default for PickerOptions {
    fn default() -> Self {
        PickerOptions {
            l0_compaction_trigger: 4,
            max_bytes_for_level_base: 64 << 20,
            level_size_multiplier: 10,
            num_levels: 7,
            target_file_size_bytes: 8 << 20,
            dynamic_level_bytes: true,
        }
    }
}

/// The state the picker decides from. Borrowed: the picker never keeps it.
pub struct LevelsView<'a> {
    /// `levels[0]`: L0 newest first; `levels[n >= 1]`: sorted by `smallest`, non-overlapping.
    /// May be shorter than `num_levels` (missing levels are empty).
    pub levels: &'a [Vec<FileMeta>],
    /// Numbers of files that running compactions read. A picked task never includes them, and
    /// its key range never overlaps a busy file in its input or output level (see
    /// [`CompactionTask`]).
    pub busy: &'a HashSet<u64>,
}

impl LevelsView<'_> {
    /// Files of `level`; empty when the view has fewer levels.
    pub fn level(&self, level: usize) -> &[FileMeta] {
        self.levels.get(level).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// One unit of compaction work: merge `inputs` and `overlapping` into `output_level`.
///
/// To ensure correctness, the engine must:
/// - mark every file of `inputs` and `overlapping` busy until the result is installed;
/// - when `trivial_move`, move the single input to `output_level` unchanged (no rewrite);
/// - otherwise merge all files (inputs newest first, as [`crate::MergingIterator`] wants),
///   run [`crate::CompactionIterator`] with the live snapshots and `bottommost`, and in one
///   version edit delete every input and overlapping file and add the outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct CompactionTask {
    /// Level the inputs come from.
    pub input_level: usize,
    /// Files read from `input_level`; for L0, newest first.
    pub inputs: Vec<FileMeta>,
    /// Level the outputs go to: `input_level + 1`; for L0 under dynamic sizing the base level
    /// (every level in between is empty); or `input_level` for a manual compaction of the last
    /// level (rewriting it in place to purge tombstones).
    pub output_level: usize,
    /// Files of `output_level` overlapping the inputs' key range, sorted by key (empty when
    /// `output_level == input_level`).
    pub overlapping: Vec<FileMeta>,
    /// True when no file in any level below `output_level` overlaps the task's key range, so
    /// tombstones no snapshot needs can be dropped.
    pub bottommost: bool,
    /// The score that triggered the task (>= 1 for automatic tasks; 0 for manual ones).
    pub score: f64,
    /// True when the single input can be moved to `output_level` without rewriting it.
    pub trivial_move: bool,
}

impl CompactionTask {
    /// Bytes read by the task (inputs plus overlapping files).
    pub fn input_bytes(&self) -> u64 {
        self.inputs
            .iter()
            .chain(&self.overlapping)
            .map(|f| f.size)
            .sum()
    }

    /// Every file the task consumes, inputs first.
    pub fn all_files(&self) -> impl Iterator<Item = &FileMeta> {
        self.inputs.iter().chain(&self.overlapping)
    }
}

/// A compaction policy. To ensure correctness, implementers must return only tasks that keep
/// the level invariants above, include no busy file, and write no key range that overlaps a busy
/// file in the task's input or output level.
pub trait CompactionStrategy: Send + Sync {
    /// A short name for logs and metrics.
    fn name(&self) -> &'static str;
    /// The most urgent task, or `None` when nothing needs (or can currently) be compacted.
    fn pick(&self, view: &LevelsView, opts: &PickerOptions) -> Option<CompactionTask>;
}

/// Target size in bytes of `level`: `max_bytes_for_level_base` for L1, times
/// `level_size_multiplier` per level below (saturating). L0 is scored by file count, not bytes;
/// for level 0 this returns the L1 target.
pub fn level_target_bytes(level: usize, opts: &PickerOptions) -> u64 {
    let mut target = opts.max_bytes_for_level_base.max(1);
    for _ in 1..level {
        target = target.saturating_mul(opts.level_size_multiplier.max(1));
    }
    target
}
