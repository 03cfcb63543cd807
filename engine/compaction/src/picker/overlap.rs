//! Key-range helpers shared by the automatic and manual pickers.
//!
//! Ranges are of user keys and inclusive at both ends; `None` bounds are unbounded.

use std::collections::HashSet;

use super::{CompactionTask, FileMeta, LevelsView};

/// An inclusive user-key range.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct KeyRange {
    pub smallest: Vec<u8>,
    pub largest: Vec<u8>,
}

impl KeyRange {
    pub fn of(f: &FileMeta) -> Self {
        KeyRange {
            smallest: f.smallest.clone(),
            largest: f.largest.clone(),
        }
    }

    /// The smallest range covering `files`; `None` when there are none.
    pub fn covering<'a>(files: impl IntoIterator<Item = &'a FileMeta>) -> Option<Self> {
        let mut range: Option<KeyRange> = None;
        for f in files {
            match &mut range {
                None => range = Some(KeyRange::of(f)),
                Some(r) => r.extend(f),
            }
        }
        range
    }

    pub fn extend(&mut self, f: &FileMeta) {
        if f.smallest < self.smallest {
            self.smallest.clone_from(&f.smallest);
        }
        if f.largest > self.largest {
            self.largest.clone_from(&f.largest);
        }
    }

    pub fn overlaps(&self, f: &FileMeta) -> bool {
        overlaps(f, Some(&self.smallest), Some(&self.largest))
    }
}

/// True when `f`'s key range intersects `[start, end]`.
pub(crate) fn overlaps(f: &FileMeta, start: Option<&[u8]>, end: Option<&[u8]>) -> bool {
    let after_start = start.is_none_or(|s| f.largest.as_slice() >= s);
    let before_end = end.is_none_or(|e| f.smallest.as_slice() <= e);
    after_start && before_end
}

/// Files of a sorted, non-overlapping level (L1 and below) that overlap `range`, found by
/// binary search: in such a level both `smallest` and `largest` ascend, so the overlapping
/// files are one contiguous run.
pub(crate) fn sorted_overlapping<'a>(files: &'a [FileMeta], range: &KeyRange) -> &'a [FileMeta] {
    let start = files.partition_point(|f| f.largest < range.smallest);
    let len = files[start..].partition_point(|f| f.smallest <= range.largest);
    &files[start..start + len]
}

/// Grows `seed` to every L0 file that overlaps it directly or through other L0 files, and
/// returns them newest first. Why transitively: a key's versions may be spread over chained
/// overlapping L0 files; leaving an older one behind in L0 would let it shadow newer data
/// moved to L1.
pub(crate) fn l0_closure(l0: &[FileMeta], seed: KeyRange) -> (Vec<FileMeta>, KeyRange) {
    let mut range = seed;
    let mut taken = vec![false; l0.len()];
    loop {
        let mut grew = false;
        for (i, f) in l0.iter().enumerate() {
            if !taken[i] && range.overlaps(f) {
                taken[i] = true;
                range.extend(f);
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    let files = l0
        .iter()
        .zip(&taken)
        .filter(|(_, t)| **t)
        .map(|(f, _)| f.clone())
        .collect();
    (files, range)
}

/// True when a busy file of `files` overlaps `range`.
pub(crate) fn busy_overlap(files: &[FileMeta], busy: &HashSet<u64>, range: &KeyRange) -> bool {
    files
        .iter()
        .any(|f| busy.contains(&f.number) && range.overlaps(f))
}

/// Builds the task moving `inputs` (non-empty) of `input_level` into `output_level`, or `None`
/// when a busy file stands in the way.
///
/// Why the busy check covers the whole task range in both levels: a running task writes the
/// range spanned by its own (busy) files in its input and output levels. Every key in that span
/// lies within one of those files (L0 closures and overlapping sets are connected), so a task
/// whose range touches no busy file in those levels cannot produce outputs overlapping theirs.
pub(crate) fn build_task(
    view: &LevelsView,
    input_level: usize,
    inputs: Vec<FileMeta>,
    output_level: usize,
    score: f64,
    allow_trivial_move: bool,
) -> Option<CompactionTask> {
    if inputs.iter().any(|f| view.busy.contains(&f.number)) {
        return None;
    }
    let input_range = KeyRange::covering(&inputs)?;
    // The output level is never L0 (an L0 input goes to L1 at least), so it is sorted.
    let overlapping = if output_level == input_level {
        Vec::new()
    } else {
        sorted_overlapping(view.level(output_level), &input_range).to_vec()
    };
    let mut range = input_range;
    for f in &overlapping {
        range.extend(f);
    }
    if busy_overlap(view.level(input_level), view.busy, &range)
        || busy_overlap(view.level(output_level), view.busy, &range)
    {
        return None;
    }
    let bottommost = view
        .levels
        .iter()
        .skip(output_level + 1)
        .all(|files| !files.iter().any(|f| range.overlaps(f)));
    let trivial_move = allow_trivial_move
        && output_level != input_level
        && inputs.len() == 1
        && overlapping.is_empty();
    Some(CompactionTask {
        input_level,
        inputs,
        output_level,
        overlapping,
        bottommost,
        score,
        trivial_move,
    })
}
