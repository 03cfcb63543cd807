//! KVStore compaction: which files to merge, when writers must wait, and how entries merge.
//!
//! Everything here is policy or pure data flow; no module does I/O. The engine owns the files,
//! runs the tasks, and installs their results in the manifest.
//!
//! Guarantees:
//! - **Level shape**: a [`CompactionTask`] never makes a level above L0 hold overlapping files,
//!   never uses a file another compaction holds (`busy`), and never writes into a key range that
//!   a running compaction writes (so concurrent tasks cannot produce overlapping outputs).
//! - **Consistency**: [`CompactionIterator`] keeps, for every user key, exactly the versions some
//!   reader can still see (one per snapshot stripe), and drops a tombstone only when nothing
//!   older that it hides can exist below the output level. Reading at any live snapshot gives
//!   the same answer before and after a compaction.
//!
//! Modules:
//! - [`picker`]: file metadata, the level view, [`CompactionTask`], the [`CompactionStrategy`]
//!   trait with [`LeveledStrategy`], and [`manual_compaction`] for `compact_range`.
//! - [`stall`]: [`write_stall`], the L0 / immutable-memtable back-pressure policy.
//! - [`iterators`]: [`MergingIterator`] (k-way merge of sources, newest wins) and
//!   [`CompactionIterator`] (drops versions no snapshot needs).
//! - `src/bin/compaction_sim.rs`: a disk-less simulator printing level shapes and write
//!   amplification under [`LeveledStrategy`].
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod iterators;
pub mod picker;
pub mod stall;

pub use iterators::{CompactionIterator, MergingIterator};
pub use picker::{
    level_target_bytes, level_targets, manual_compaction, CompactionStrategy, CompactionTask,
    FileMeta, LevelTargets, LeveledStrategy, LevelsView, PickerOptions,
};
pub use stall::{write_stall, StallDecision, StallOptions};
