//! Unit tests of the picker: scores, L0 closure, busy files, bottommost, manual, trivial move.

use std::collections::HashSet;

use super::*;

const MIB: u64 = 1 << 20;

fn f(number: u64, smallest: &str, largest: &str, size: u64) -> FileMeta {
    FileMeta {
        number,
        size,
        smallest: smallest.as_bytes().to_vec(),
        largest: largest.as_bytes().to_vec(),
        smallest_seq: number * 10,
        largest_seq: number * 10 + 9,
    }
}

fn opts() -> PickerOptions {
    PickerOptions {
        l0_compaction_trigger: 4,
        max_bytes_for_level_base: 64 * MIB,
        level_size_multiplier: 10,
        num_levels: 4,
        target_file_size_bytes: 8 * MIB,
        // Most tests pin the static (LevelDB) shape; dynamic sizing has its own tests below.
        dynamic_level_bytes: false,
    }
}

fn dynamic_opts() -> PickerOptions {
    PickerOptions {
        dynamic_level_bytes: true,
        num_levels: 5,
        ..opts()
    }
}

fn targets(levels: &[Vec<FileMeta>], o: &PickerOptions) -> LevelTargets {
    let busy = HashSet::new();
    level_targets(
        &LevelsView {
            levels,
            busy: &busy,
        },
        o,
    )
}

fn pick(levels: &[Vec<FileMeta>], busy: &[u64]) -> Option<CompactionTask> {
    let busy: HashSet<u64> = busy.iter().copied().collect();
    let view = LevelsView {
        levels,
        busy: &busy,
    };
    LeveledStrategy.pick(&view, &opts())
}

fn numbers(files: &[FileMeta]) -> Vec<u64> {
    files.iter().map(|f| f.number).collect()
}

#[test]
fn level_targets_grow_by_the_multiplier() {
    let o = opts();
    assert_eq!(level_target_bytes(1, &o), 64 * MIB);
    assert_eq!(level_target_bytes(2, &o), 640 * MIB);
    assert_eq!(level_target_bytes(3, &o), 6400 * MIB);
    assert_eq!(level_target_bytes(0, &o), 64 * MIB);
    assert_eq!(
        level_target_bytes(60, &o),
        u64::MAX,
        "saturates instead of overflowing"
    );
}

#[test]
fn scores_count_l0_files_and_level_bytes_excluding_busy() {
    let levels = vec![
        vec![f(10, "a", "b", 1), f(11, "c", "d", 1)],
        vec![f(1, "a", "m", 32 * MIB), f(2, "n", "z", 64 * MIB)],
        vec![],
    ];
    let busy: HashSet<u64> = [11, 2].into_iter().collect();
    let view = LevelsView {
        levels: &levels,
        busy: &busy,
    };
    let s = LeveledStrategy::scores(&view, &opts());
    assert_eq!(s.len(), 3, "the last level is never scored");
    assert_eq!(s[0], 0.25);
    assert_eq!(s[1], 0.5);
    assert_eq!(s[2], 0.0);
}

#[test]
fn nothing_to_do_below_every_trigger() {
    let levels = vec![
        vec![f(10, "a", "b", 1), f(11, "c", "d", 1), f(12, "a", "z", 1)],
        vec![f(1, "a", "z", 63 * MIB)],
    ];
    assert_eq!(pick(&levels, &[]), None);
    assert_eq!(pick(&[], &[]), None);
}

#[test]
fn l0_takes_the_transitive_overlap_closure_and_overlapping_l1() {
    // Newest first. 13 overlaps 12 only through 11's range; 14 overlaps nothing.
    let levels = vec![
        vec![
            f(14, "x", "y", 1),
            f(13, "f", "h", 1),
            f(12, "d", "g", 1),
            f(11, "a", "e", 1),
        ],
        vec![
            f(1, "a", "b", 1),
            f(2, "c", "c", 1),
            f(3, "h", "k", 1),
            f(4, "m", "p", 1),
        ],
    ];
    let t = pick(&levels, &[]).unwrap();
    assert_eq!(t.input_level, 0);
    assert_eq!(t.output_level, 1);
    assert_eq!(
        numbers(&t.inputs),
        vec![13, 12, 11],
        "newest first, 14 left out"
    );
    assert_eq!(numbers(&t.overlapping), vec![1, 2, 3]);
    assert_eq!(t.score, 1.0);
    assert!(!t.trivial_move);
    assert!(t.bottommost);
}

#[test]
fn l0_closure_is_seeded_by_the_oldest_file() {
    let levels = vec![vec![
        f(14, "a", "b", 1),
        f(13, "c", "d", 1),
        f(12, "e", "f", 1),
        f(11, "g", "h", 1),
    ]];
    let t = pick(&levels, &[]).unwrap();
    assert_eq!(numbers(&t.inputs), vec![11]);
    assert!(t.trivial_move, "one file and nothing in L1: move it");
}

#[test]
fn busy_l0_file_in_the_closure_blocks_that_seed_but_not_a_disjoint_one() {
    let levels = vec![
        vec![
            f(15, "p", "q", 1),
            f(14, "m", "n", 1),
            f(13, "a", "c", 1),
            f(12, "b", "d", 1),
            f(11, "c", "e", 1),
        ],
        vec![],
    ];
    // 11 is being compacted: 12 and 13 chain to it; 14 is free and disjoint.
    let t = pick(&levels, &[11]).unwrap();
    assert_eq!(numbers(&t.inputs), vec![14]);
    // With every overlap group blocked, nothing is picked.
    assert_eq!(pick(&levels, &[11, 14, 15]), None);
}

#[test]
fn busy_output_file_overlapping_the_range_blocks_the_task() {
    let levels = vec![
        vec![
            f(14, "a", "c", 1),
            f(13, "a", "c", 1),
            f(12, "a", "c", 1),
            f(11, "a", "c", 1),
        ],
        vec![f(1, "b", "b", 1)],
    ];
    assert_eq!(pick(&levels, &[1]), None);
}

#[test]
fn task_range_extended_by_output_files_must_avoid_busy_files() {
    // L1 file 2 is picked (small overlap ratio); its L2 overlap (20) spans to "m", where busy
    // L1 file 3's range begins — a running L1->L2 task writes there.
    let levels = vec![
        vec![],
        vec![f(2, "a", "c", 70 * MIB), f(3, "l", "p", 10 * MIB)],
        vec![f(20, "b", "m", 1), f(30, "o", "z", 1)],
        vec![],
    ];
    assert_eq!(pick(&levels, &[3, 30]), None);
    let t = pick(&levels, &[]).unwrap();
    assert_eq!(numbers(&t.inputs), vec![2]);
    assert_eq!(numbers(&t.overlapping), vec![20]);
}

#[test]
fn level_n_picks_the_file_with_the_least_overlap_per_byte() {
    let levels = vec![
        vec![],
        vec![
            f(1, "a", "c", 30 * MIB),
            f(2, "d", "f", 30 * MIB),
            f(3, "g", "i", 30 * MIB),
        ],
        vec![
            f(20, "a", "b", 100 * MIB),
            f(21, "e", "e", 5 * MIB),
            f(22, "h", "h", 50 * MIB),
        ],
        vec![f(40, "a", "z", 1)],
    ];
    let t = pick(&levels, &[]).unwrap();
    assert_eq!((t.input_level, t.output_level), (1, 2));
    assert_eq!(numbers(&t.inputs), vec![2]);
    assert_eq!(numbers(&t.overlapping), vec![21]);
    assert!(!t.bottommost, "L3 holds older data in range");
    assert!(!t.trivial_move);
    assert!((t.score - 90.0 / 64.0).abs() < 1e-9);
}

#[test]
fn trivial_move_when_nothing_overlaps_below() {
    let levels = vec![
        vec![],
        vec![f(1, "a", "c", 40 * MIB), f(2, "d", "f", 40 * MIB)],
        vec![f(20, "a", "b", 1)],
    ];
    let t = pick(&levels, &[]).unwrap();
    assert_eq!(numbers(&t.inputs), vec![2]);
    assert!(t.overlapping.is_empty());
    assert!(t.trivial_move);
}

#[test]
fn ties_in_overlap_ratio_prefer_the_oldest_data() {
    let mut old = f(9, "m", "n", 40 * MIB);
    old.smallest_seq = 1;
    let levels = vec![vec![], vec![f(1, "a", "c", 40 * MIB), old], vec![]];
    let t = pick(&levels, &[]).unwrap();
    assert_eq!(numbers(&t.inputs), vec![9]);
}

#[test]
fn highest_score_wins_and_ties_go_to_the_upper_level() {
    let l0: Vec<_> = (0..4).map(|i| f(100 + i, "a", "b", 1)).collect();
    let big_l1 = vec![f(1, "c", "d", 128 * MIB)];
    let levels = vec![l0.clone(), big_l1.clone()];
    let t = pick(&levels, &[]).unwrap();
    assert_eq!(t.input_level, 1, "L1 score 2.0 beats L0 score 1.0");
    let levels = vec![l0, vec![f(1, "c", "d", 64 * MIB)]];
    let t = pick(&levels, &[]).unwrap();
    assert_eq!(t.input_level, 0, "equal scores: L0 first");
}

#[test]
fn blocked_top_level_falls_back_to_the_next_score() {
    let levels = vec![
        vec![],
        vec![f(1, "a", "c", 200 * MIB)],
        vec![f(20, "a", "b", 10 * MIB), f(21, "x", "z", 700 * MIB)],
        vec![],
    ];
    // L1 (score 3.1) wins while nothing is busy.
    assert_eq!(pick(&levels, &[]).unwrap().input_level, 1);
    // Busy 20 blocks L1's only task; L2 (score 700/640) is next.
    let t = pick(&levels, &[20]).unwrap();
    assert_eq!((t.input_level, numbers(&t.inputs)), (2, vec![21]));
    assert!(t.trivial_move);
    // With 21 busy as well, L2's live bytes drop below target: nothing to do.
    assert_eq!(pick(&levels, &[20, 21]), None);
}

#[test]
fn bottommost_only_when_no_lower_level_overlaps() {
    let levels = vec![
        vec![
            f(14, "a", "c", 1),
            f(13, "a", "c", 1),
            f(12, "a", "c", 1),
            f(11, "a", "c", 1),
        ],
        vec![f(1, "a", "b", 1)],
        vec![f(20, "x", "z", 1)],
        vec![f(30, "c", "d", 1)],
    ];
    assert!(!pick(&levels, &[]).unwrap().bottommost);
    let mut levels = levels;
    levels[3] = vec![f(30, "d", "e", 1)];
    assert!(pick(&levels, &[]).unwrap().bottommost);
}

#[test]
fn missing_levels_count_as_empty() {
    let levels = vec![vec![
        f(14, "a", "c", 1),
        f(13, "a", "c", 1),
        f(12, "a", "c", 1),
        f(11, "a", "c", 1),
    ]];
    let t = pick(&levels, &[]).unwrap();
    assert_eq!(t.output_level, 1);
    assert!(t.overlapping.is_empty());
    assert!(t.bottommost);
}

#[test]
fn strategy_is_object_safe_and_named() {
    let s: Box<dyn CompactionStrategy> = Box::new(LeveledStrategy);
    assert_eq!(s.name(), "leveled");
}

fn manual(
    levels: &[Vec<FileMeta>],
    busy: &[u64],
    level: usize,
    start: Option<&str>,
    end: Option<&str>,
) -> Option<CompactionTask> {
    let busy: HashSet<u64> = busy.iter().copied().collect();
    let view = LevelsView {
        levels,
        busy: &busy,
    };
    manual_compaction(
        &view,
        level,
        start.map(str::as_bytes),
        end.map(str::as_bytes),
        &opts(),
    )
}

#[test]
fn manual_takes_every_file_of_the_level_in_range() {
    let levels = vec![
        vec![],
        vec![
            f(1, "a", "c", 1),
            f(2, "d", "f", 1),
            f(3, "g", "i", 1),
            f(4, "j", "l", 1),
        ],
        vec![f(20, "e", "h", 1)],
    ];
    let t = manual(&levels, &[], 1, Some("e"), Some("g")).unwrap();
    assert_eq!(numbers(&t.inputs), vec![2, 3]);
    assert_eq!(numbers(&t.overlapping), vec![20]);
    assert_eq!(t.score, 0.0);
    assert!(!t.trivial_move);
    let all = manual(&levels, &[], 1, None, None).unwrap();
    assert_eq!(numbers(&all.inputs), vec![1, 2, 3, 4]);
    let head = manual(&levels, &[], 1, None, Some("a")).unwrap();
    assert_eq!(numbers(&head.inputs), vec![1]);
    let tail = manual(&levels, &[], 1, Some("k"), None).unwrap();
    assert_eq!(numbers(&tail.inputs), vec![4]);
}

#[test]
fn manual_never_moves_trivially_and_may_run_below_triggers() {
    let levels = vec![vec![], vec![f(1, "a", "c", 1)], vec![]];
    let t = manual(&levels, &[], 1, None, None).unwrap();
    assert!(!t.trivial_move);
    assert!(t.bottommost);
}

#[test]
fn manual_l0_grows_to_the_overlap_closure() {
    let levels = vec![
        vec![f(13, "x", "z", 1), f(12, "c", "f", 1), f(11, "a", "d", 1)],
        vec![],
    ];
    let t = manual(&levels, &[], 0, Some("e"), Some("e")).unwrap();
    assert_eq!(numbers(&t.inputs), vec![12, 11]);
}

#[test]
fn manual_last_level_rewrites_in_place() {
    let levels = vec![
        vec![],
        vec![],
        vec![],
        vec![f(30, "a", "c", 1), f(31, "d", "f", 1)],
    ];
    let t = manual(&levels, &[], 3, Some("b"), None).unwrap();
    assert_eq!((t.input_level, t.output_level), (3, 3));
    assert_eq!(numbers(&t.inputs), vec![30, 31]);
    assert!(t.overlapping.is_empty());
    assert!(t.bottommost);
    assert_eq!(
        manual(&levels, &[], 4, None, None),
        None,
        "beyond the last level"
    );
}

#[test]
fn manual_returns_none_for_empty_range_or_busy_files() {
    let levels = vec![vec![], vec![f(1, "a", "c", 1)], vec![f(20, "b", "b", 1)]];
    assert_eq!(manual(&levels, &[], 1, Some("d"), Some("z")), None);
    assert_eq!(manual(&levels, &[1], 1, None, None), None);
    assert_eq!(manual(&levels, &[20], 1, None, None), None);
}

#[test]
fn task_reports_its_input_bytes() {
    let levels = vec![vec![], vec![f(1, "a", "c", 5)], vec![f(20, "b", "b", 7)]];
    let t = manual(&levels, &[], 1, None, None).unwrap();
    assert_eq!(t.input_bytes(), 12);
    assert_eq!(t.all_files().count(), 2);
}

#[test]
fn static_targets_match_level_target_bytes_and_base_is_l1() {
    let t = targets(&[], &opts());
    assert_eq!(t.base_level, 1);
    assert_eq!(t.of(1), 64 * MIB);
    assert_eq!(t.of(3), 6400 * MIB);
}

#[test]
fn dynamic_empty_tree_compacts_l0_into_the_last_level() {
    let t = targets(&[vec![f(10, "a", "z", MIB)]], &dynamic_opts());
    assert_eq!(t.base_level, 4);
}

#[test]
fn dynamic_base_stays_last_while_the_last_level_fits_the_base_target() {
    // 50 MiB in the last level is below max_bytes_for_level_base (64 MiB): one level is enough.
    let levels = vec![
        vec![],
        vec![],
        vec![],
        vec![],
        vec![f(1, "a", "z", 50 * MIB)],
    ];
    let t = targets(&levels, &dynamic_opts());
    assert_eq!(t.base_level, 4);
}

#[test]
fn dynamic_targets_derive_from_the_last_level_and_move_the_base_up() {
    // 3200 MiB in L4: L3 would hold 320 MiB (over 64 MiB), L2 32 MiB (fits): base L2.
    let levels = vec![
        vec![],
        vec![],
        vec![],
        vec![],
        vec![f(1, "a", "z", 3200 * MIB)],
    ];
    let t = targets(&levels, &dynamic_opts());
    assert_eq!(t.base_level, 2);
    assert_eq!(t.of(1), u64::MAX, "above the base level nothing is sized");
    assert_eq!(t.of(2), 64 * MIB, "never below max_bytes_for_level_base");
    assert_eq!(t.of(3), 320 * MIB);
    assert_eq!(t.of(4), 3200 * MIB);
}

#[test]
fn dynamic_base_is_never_below_the_first_non_empty_level() {
    // Data left in L1 (e.g. by static sizing before): L0 must not skip over it.
    let levels = vec![vec![], vec![f(1, "a", "z", MIB)], vec![], vec![], vec![]];
    let t = targets(&levels, &dynamic_opts());
    assert_eq!(t.base_level, 1);
}

#[test]
fn dynamic_l0_compaction_goes_to_the_base_level_and_is_bottommost() {
    let levels = vec![
        vec![
            f(14, "a", "c", MIB),
            f(13, "b", "d", MIB),
            f(12, "a", "d", MIB),
            f(11, "c", "e", MIB),
        ],
        vec![],
        vec![],
        vec![],
        vec![f(1, "a", "b", 10 * MIB), f(2, "x", "z", 10 * MIB)],
    ];
    let busy = HashSet::new();
    let view = LevelsView {
        levels: &levels,
        busy: &busy,
    };
    let t = LeveledStrategy.pick(&view, &dynamic_opts()).unwrap();
    assert_eq!(t.input_level, 0);
    assert_eq!(t.output_level, 4, "straight into the last level");
    assert_eq!(numbers(&t.overlapping), vec![1]);
    assert!(
        t.bottommost,
        "nothing below the last level: tombstones can go"
    );
}

#[test]
fn dynamic_upper_level_over_its_derived_target_moves_down() {
    // L3's target is 3200 MiB / 10 = 320 MiB; it holds 400 MiB, so it compacts into L4.
    let levels = vec![
        vec![],
        vec![],
        vec![],
        vec![f(5, "a", "m", 200 * MIB), f(6, "n", "z", 200 * MIB)],
        vec![f(1, "a", "z", 3200 * MIB)],
    ];
    let o = dynamic_opts();
    let t = targets(&levels, &o);
    assert_eq!(t.base_level, 2);
    let busy = HashSet::new();
    let view = LevelsView {
        levels: &levels,
        busy: &busy,
    };
    let task = LeveledStrategy.pick(&view, &o).unwrap();
    assert_eq!(task.input_level, 3);
    assert_eq!(task.output_level, 4);
}

#[test]
fn dynamic_manual_l0_compaction_goes_to_the_base_level() {
    let levels = vec![vec![f(11, "a", "c", MIB)], vec![], vec![], vec![], vec![]];
    let busy = HashSet::new();
    let view = LevelsView {
        levels: &levels,
        busy: &busy,
    };
    let t = manual_compaction(&view, 0, None, None, &dynamic_opts()).unwrap();
    assert_eq!(t.output_level, 4);
    assert!(!t.trivial_move, "manual compactions rewrite");
}
