//! [`level_targets`]: how many bytes each level should hold, and which level L0 compacts into.
//!
//! Two policies, chosen by [`PickerOptions::dynamic_level_bytes`]:
//! - **static** (LevelDB): L1 targets `max_bytes_for_level_base`, each deeper level
//!   `level_size_multiplier` times more ([`level_target_bytes`]); L0 compacts into L1.
//! - **dynamic** (RocksDB's `level_compaction_dynamic_level_bytes`): targets are derived from
//!   the size of the largest level downward, `target(L) = largest / multiplier^(last - L)`, and
//!   L0 compacts into the *base level*: starting at the first non-empty level under L0 and
//!   moving up while the derived target there exceeds `max_bytes_for_level_base`, i.e. the
//!   deepest such level whose target is at most that (the first non-empty level itself while
//!   the data is small; the last level when everything below L0 is empty). Most
//!   data then sits in the last level, so obsolete versions above it are bounded by about
//!   `1 / multiplier` of the live data, instead of by the static targets of the upper levels.
//!
//! Invariant kept for the level order (newer data in lower-numbered levels): the base level is
//! never below the first non-empty level under L0, so every level L0 output skips is empty.

use super::{level_target_bytes, LevelsView, PickerOptions};

/// Per-level targets and the level L0 compacts into.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelTargets {
    /// The level L0 compacts into (>= 1). Levels between L0 and it are empty.
    pub base_level: usize,
    /// Target bytes by level, `num_levels` long. Entry 0 is unused (L0 is scored by file
    /// count); entries for levels above the base level are `u64::MAX` (they hold nothing to
    /// score).
    pub bytes: Vec<u64>,
}

impl LevelTargets {
    /// Target of `level`; `u64::MAX` for levels the policy does not size.
    pub fn of(&self, level: usize) -> u64 {
        self.bytes.get(level).copied().unwrap_or(u64::MAX)
    }
}

/// The targets for the current shape of the tree (sizes include busy files: a running
/// compaction moves bytes between levels, it does not remove them from the tree).
pub fn level_targets(view: &LevelsView, opts: &PickerOptions) -> LevelTargets {
    let num_levels = opts.num_levels.max(2);
    if !opts.dynamic_level_bytes {
        let mut bytes = vec![u64::MAX];
        bytes.extend((1..num_levels).map(|l| level_target_bytes(l, opts)));
        return LevelTargets {
            base_level: 1,
            bytes,
        };
    }
    let last = num_levels - 1;
    let mult = opts.level_size_multiplier.max(2);
    let base_max = opts.max_bytes_for_level_base.max(1);
    let base_min = base_max / mult;
    let sizes: Vec<u64> = (0..num_levels)
        .map(|l| view.level(l).iter().map(|f| f.size).sum())
        .collect();
    let Some(first_non_empty) = (1..=last).find(|&l| sizes[l] > 0) else {
        // Nothing below L0 yet: L0 goes straight to the last level.
        let mut bytes = vec![u64::MAX; num_levels];
        bytes[last] = base_max;
        return LevelTargets {
            base_level: last,
            bytes,
        };
    };
    let largest = sizes[1..].iter().copied().max().unwrap_or(0);
    // The size the first non-empty level would have if every level were `mult` times the one
    // above and the largest level were the last.
    let mut cur = largest;
    for _ in first_non_empty..last {
        cur /= mult;
    }
    let (base_level, base_size) = if cur <= base_min {
        // Too little data to need the levels above: keep compacting into the first non-empty.
        (first_non_empty, base_min + 1)
    } else {
        let mut base = first_non_empty;
        while base > 1 && cur > base_max {
            base -= 1;
            cur /= mult;
        }
        (base, cur.clamp(1, base_max))
    };
    let mut bytes = vec![u64::MAX; num_levels];
    let mut size = base_size;
    for (l, target) in bytes.iter_mut().enumerate().skip(base_level) {
        if l > base_level {
            size = size.saturating_mul(mult);
        }
        // Never below the base target: a level smaller than L0's batches would be rewritten
        // by every L0 compaction (RocksDB keeps the same floor).
        *target = size.max(base_max);
    }
    LevelTargets { base_level, bytes }
}
