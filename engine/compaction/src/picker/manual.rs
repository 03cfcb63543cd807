//! [`manual_compaction`]: the task behind `compact_range`.

use super::overlap::{build_task, l0_closure, overlaps, KeyRange};
use super::sizing::level_targets;
use super::{CompactionTask, LevelsView, PickerOptions};

/// The task compacting every file of `level` that overlaps `[start, end]` (inclusive; `None` is
/// unbounded) into `level + 1`. For L0 the selection grows to its transitive overlap closure
/// (see `l0_closure`), and goes to the base level under dynamic sizing, as automatic L0
/// compactions do (otherwise an early `compact_range` would pin data in L1 and with it the base
/// level, which never sits below the first non-empty level). For the last level the files are rewritten in place
/// (`output_level == level`, always bottommost) so tombstones can be purged.
///
/// Never a trivial move: callers use `compact_range` to rewrite data (drop tombstones and
/// obsolete versions), which a move would not do.
///
/// `None` when no file overlaps the range, `level` is out of range, or a needed file is busy
/// (the caller retries after the running compaction finishes).
pub fn manual_compaction(
    view: &LevelsView,
    level: usize,
    start: Option<&[u8]>,
    end: Option<&[u8]>,
    opts: &PickerOptions,
) -> Option<CompactionTask> {
    let last = opts.num_levels.max(1) - 1;
    if level > last {
        return None;
    }
    let files = view.level(level);
    let mut inputs: Vec<_> = files
        .iter()
        .filter(|f| overlaps(f, start, end))
        .cloned()
        .collect();
    if level == 0 {
        let seed = KeyRange::covering(&inputs)?;
        inputs = l0_closure(files, seed).0;
    }
    let output_level = if level == last {
        level
    } else if level == 0 {
        level_targets(view, opts).base_level
    } else {
        level + 1
    };
    build_task(view, level, inputs, output_level, 0.0, false)
}
