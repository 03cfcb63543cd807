//! [`LeveledStrategy`]: LevelDB/RocksDB-style leveled compaction.
//!
//! Scores (files and bytes held by running compactions are not counted, so a level whose excess
//! is already being worked off does not win again):
//! - L0: non-busy files / `l0_compaction_trigger` (L0 reads cost one probe per file);
//! - Ln (1 <= n < last): non-busy bytes / its target from [`level_targets`] (static, or
//!   derived from the largest level under dynamic level sizing).
//!
//! The highest score `>= 1` is tried first; if no task can be built there (busy files in the
//! way), the next one is tried. Within a level:
//! - L0 -> base level (L1 under static sizing; see [`level_targets`]) takes the oldest non-busy
//!   L0 file, grown to every L0 file it overlaps
//!   transitively, plus the overlapping base-level files;
//! - Ln -> Ln+1 takes the one file whose overlap with Ln+1 is smallest relative to its own size
//!   (least rewrite per byte moved down; RocksDB's "min overlapping ratio"), ties broken by the
//!   oldest data, then by key.
//!
//! A task with one input and nothing overlapping in the output level is a trivial move.

use std::cmp::Ordering;

use super::overlap::{build_task, l0_closure, sorted_overlapping, KeyRange};
use super::sizing::level_targets;
use super::{CompactionStrategy, CompactionTask, FileMeta, LevelsView, PickerOptions};

/// Leveled compaction. Stateless: every decision comes from the view.
#[derive(Clone, Copy, Debug, Default)]
pub struct LeveledStrategy;

impl LeveledStrategy {
    /// The score of every level that can be an input (`0..num_levels - 1`), by level.
    pub fn scores(view: &LevelsView, opts: &PickerOptions) -> Vec<f64> {
        let last = opts.num_levels.max(1) - 1;
        let targets = level_targets(view, opts);
        (0..last)
            .map(|level| {
                let live = view
                    .level(level)
                    .iter()
                    .filter(|f| !view.busy.contains(&f.number));
                if level == 0 {
                    live.count() as f64 / opts.l0_compaction_trigger.max(1) as f64
                } else {
                    let bytes: u64 = live.map(|f| f.size).sum();
                    bytes as f64 / targets.of(level) as f64
                }
            })
            .collect()
    }

    fn pick_l0(view: &LevelsView, opts: &PickerOptions, score: f64) -> Option<CompactionTask> {
        let l0 = view.level(0);
        let base = level_targets(view, opts).base_level;
        // Oldest first: L0 drains in the order it filled.
        l0.iter()
            .rev()
            .filter(|f| !view.busy.contains(&f.number))
            .find_map(|seed| {
                let (inputs, _) = l0_closure(l0, KeyRange::of(seed));
                build_task(view, 0, inputs, base, score, true)
            })
    }

    fn pick_level(view: &LevelsView, level: usize, score: f64) -> Option<CompactionTask> {
        let below = view.level(level + 1);
        let mut candidates: Vec<(f64, &FileMeta)> = view
            .level(level)
            .iter()
            .filter(|f| !view.busy.contains(&f.number))
            .map(|f| {
                let overlap: u64 = sorted_overlapping(below, &KeyRange::of(f))
                    .iter()
                    .map(|o| o.size)
                    .sum();
                (overlap as f64 / f.size.max(1) as f64, f)
            })
            .collect();
        candidates.sort_by(|(ra, a), (rb, b)| {
            ra.partial_cmp(rb)
                .unwrap_or(Ordering::Equal)
                .then(a.smallest_seq.cmp(&b.smallest_seq))
                .then_with(|| a.smallest.cmp(&b.smallest))
        });
        candidates
            .into_iter()
            .find_map(|(_, f)| build_task(view, level, vec![f.clone()], level + 1, score, true))
    }
}

impl CompactionStrategy for LeveledStrategy {
    fn name(&self) -> &'static str {
        "leveled"
    }

    fn pick(&self, view: &LevelsView, opts: &PickerOptions) -> Option<CompactionTask> {
        let mut ranked: Vec<(usize, f64)> = Self::scores(view, opts)
            .into_iter()
            .enumerate()
            .filter(|(_, s)| *s >= 1.0)
            .collect();
        // Highest score first; a stable sort keeps the upper level first on ties.
        ranked.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal));
        ranked.into_iter().find_map(|(level, score)| {
            if level == 0 {
                Self::pick_l0(view, opts, score)
            } else {
                Self::pick_level(view, level, score)
            }
        })
    }
}
