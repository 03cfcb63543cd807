//! Property test: whatever state the levels are in, a picked task keeps the level invariants,
//! and a second task picked while the first runs (its files busy) never collides with it.

use std::collections::HashSet;

use kvstore_compaction::{
    level_targets, manual_compaction, CompactionStrategy, CompactionTask, FileMeta,
    LeveledStrategy, LevelsView, PickerOptions,
};
use proptest::prelude::*;

fn meta(number: u64, lo: u8, hi: u8, size: u64) -> FileMeta {
    FileMeta {
        number,
        size,
        smallest: vec![lo],
        largest: vec![hi],
        smallest_seq: number,
        largest_seq: number,
    }
}

fn opts(dynamic_level_bytes: bool) -> PickerOptions {
    PickerOptions {
        dynamic_level_bytes,
        l0_compaction_trigger: 2,
        max_bytes_for_level_base: 100,
        level_size_multiplier: 3,
        num_levels: 4,
        target_file_size_bytes: 50,
    }
}

/// L0: arbitrary ranges; L1..L3: non-overlapping ranges from sorted distinct points.
fn levels() -> impl Strategy<Value = Vec<Vec<FileMeta>>> {
    let l0 = prop::collection::vec((0u8..60, 0u8..10, 1u64..60), 0..6);
    let ln = prop::collection::vec((prop::collection::btree_set(0u8..60, 0..12), 1u64..200), 3);
    (l0, ln).prop_map(|(l0, ln)| {
        let mut number = 0;
        let mut next = || {
            number += 1;
            number
        };
        let mut levels = vec![l0
            .into_iter()
            .map(|(lo, w, size)| meta(next(), lo, lo.saturating_add(w), size))
            .collect::<Vec<_>>()];
        for (points, size) in ln {
            let points: Vec<u8> = points.into_iter().collect();
            levels.push(
                points
                    .chunks_exact(2)
                    .map(|p| meta(next(), p[0], p[1], size))
                    .collect(),
            );
        }
        levels
    })
}

fn range(files: &[FileMeta]) -> (Vec<u8>, Vec<u8>) {
    let lo = files.iter().map(|f| f.smallest.clone()).min().unwrap();
    let hi = files.iter().map(|f| f.largest.clone()).max().unwrap();
    (lo, hi)
}

fn overlaps(f: &FileMeta, (lo, hi): &(Vec<u8>, Vec<u8>)) -> bool {
    f.largest >= *lo && f.smallest <= *hi
}

/// Checks one task against the state it was picked from.
fn check_task(
    levels: &[Vec<FileMeta>],
    busy: &HashSet<u64>,
    t: &CompactionTask,
) -> Result<(), TestCaseError> {
    prop_assert!(!t.inputs.is_empty());
    // Skipping levels (L0 into a deeper base level) is sound only over empty levels: newer
    // data must stay in lower-numbered levels.
    for skipped in levels.iter().take(t.output_level).skip(t.input_level + 1) {
        prop_assert!(skipped.is_empty(), "task skips a non-empty level: {:?}", t);
    }
    prop_assert!(
        t.all_files().all(|f| !busy.contains(&f.number)),
        "busy file consumed"
    );
    let input_range = range(&t.inputs);
    let empty = Vec::new();
    let out_files = levels.get(t.output_level).unwrap_or(&empty);
    if t.output_level != t.input_level {
        let expected: Vec<u64> = out_files
            .iter()
            .filter(|f| overlaps(f, &input_range))
            .map(|f| f.number)
            .collect();
        let got: Vec<u64> = t.overlapping.iter().map(|f| f.number).collect();
        prop_assert_eq!(
            got,
            expected,
            "overlapping = every output-level file in the input range"
        );
    }
    if t.input_level == 0 {
        for f in &levels[0] {
            let taken = t.inputs.iter().any(|i| i.number == f.number);
            prop_assert!(
                taken || !overlaps(f, &input_range),
                "L0 closure left overlapping file {}",
                f.number
            );
        }
    }
    let all: Vec<FileMeta> = t.all_files().cloned().collect();
    let task_range = range(&all);
    for level in [t.input_level, t.output_level] {
        for f in levels.get(level).unwrap_or(&empty) {
            prop_assert!(
                !(busy.contains(&f.number) && overlaps(f, &task_range)),
                "range hits busy file {}",
                f.number
            );
        }
    }
    let below_overlaps = levels
        .iter()
        .skip(t.output_level + 1)
        .flatten()
        .any(|f| overlaps(f, &task_range));
    prop_assert_eq!(t.bottommost, !below_overlaps);
    prop_assert_eq!(
        t.trivial_move,
        t.inputs.len() == 1
            && t.overlapping.is_empty()
            && t.output_level != t.input_level
            && t.score > 0.0
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn picked_tasks_are_sound_and_concurrent_tasks_do_not_collide(
        levels in levels(),
        busy_bits in prop::collection::vec(any::<bool>(), 40),
        manual_level in 0usize..4,
        manual_bounds in (prop::option::of(0u8..70), prop::option::of(0u8..70)),
        dynamic in any::<bool>(),
    ) {
        let opts = opts(dynamic);
        let busy: HashSet<u64> = (1..=40u64).filter(|n| busy_bits[*n as usize - 1] && *n % 3 == 0).collect();
        let view = LevelsView { levels: &levels, busy: &busy };
        let first = LeveledStrategy.pick(&view, &opts);
        if let Some(t) = &first {
            check_task(&levels, &busy, t)?;
            prop_assert!(t.score >= 1.0);
            // While `t` runs, its files are busy: a second task must not collide with it.
            let mut busy2 = busy.clone();
            busy2.extend(t.all_files().map(|f| f.number));
            let view2 = LevelsView { levels: &levels, busy: &busy2 };
            if let Some(u) = LeveledStrategy.pick(&view2, &opts) {
                check_task(&levels, &busy2, &u)?;
                let t_files: Vec<FileMeta> = t.all_files().cloned().collect();
                let u_files: Vec<FileMeta> = u.all_files().cloned().collect();
                let (tr, ur) = (range(&t_files), range(&u_files));
                if u.output_level == t.output_level {
                    prop_assert!(!(tr.1 >= ur.0 && tr.0 <= ur.1), "outputs of concurrent tasks overlap: {:?} {:?}", t, u);
                }
            }
        }
        let (lo, hi) = manual_bounds;
        let (lo, hi) = (lo.map(|b| vec![b]), hi.map(|b| vec![b]));
        if let Some(m) = manual_compaction(&view, manual_level, lo.as_deref(), hi.as_deref(), &opts) {
            check_task(&levels, &busy, &m)?;
            prop_assert_eq!(m.input_level, manual_level);
            if manual_level == 0 {
                let base = level_targets(&view, &opts).base_level;
                prop_assert_eq!(m.output_level, base);
            } else {
                prop_assert_eq!(m.output_level, (manual_level + 1).min(3));
            }
        }
    }
}
