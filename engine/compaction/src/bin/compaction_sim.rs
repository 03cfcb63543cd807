//! A disk-less simulator of leveled compaction (in the spirit of mini-lsm's).
//!
//! Feeds synthetic flushes of uniformly random keys through [`LeveledStrategy`], runs every task
//! it picks to completion (one at a time, so nothing is ever busy), and prints the level shape
//! and the write amplification: (bytes flushed + bytes written by compactions) / bytes flushed.
//!
//! Usage: `compaction_sim [flushes=200] [keys_per_flush=1000] [key_space=100000] [dynamic=1]`.
//! Each entry counts as `ENTRY_BYTES`; options are scaled so L1's target is four flushes.

use std::collections::{BTreeSet, HashSet};

use kvstore_compaction::{
    level_targets, CompactionStrategy, CompactionTask, FileMeta, LeveledStrategy, LevelsView,
    PickerOptions,
};

const ENTRY_BYTES: u64 = 100;

/// A simulated table: its metadata and the keys it holds (sorted).
struct SimFile {
    meta: FileMeta,
    keys: Vec<u32>,
}

struct Sim {
    /// Same shape as `LevelsView::levels`: L0 newest first, other levels sorted by key.
    levels: Vec<Vec<SimFile>>,
    next_number: u64,
    flushed_bytes: u64,
    compacted_bytes: u64,
    moved_files: u64,
    tasks: u64,
}

fn key_bytes(k: u32) -> Vec<u8> {
    format!("{k:010}").into_bytes()
}

impl Sim {
    fn new_file(&mut self, keys: Vec<u32>, smallest_seq: u64, largest_seq: u64) -> Option<SimFile> {
        let (first, last) = (*keys.first()?, *keys.last()?);
        self.next_number += 1;
        Some(SimFile {
            meta: FileMeta {
                number: self.next_number,
                size: keys.len() as u64 * ENTRY_BYTES,
                smallest: key_bytes(first),
                largest: key_bytes(last),
                smallest_seq,
                largest_seq,
            },
            keys,
        })
    }

    fn metas(&self) -> Vec<Vec<FileMeta>> {
        self.levels
            .iter()
            .map(|l| l.iter().map(|f| f.meta.clone()).collect())
            .collect()
    }

    fn take(&mut self, level: usize, number: u64) -> Option<SimFile> {
        let pos = self.levels[level]
            .iter()
            .position(|f| f.meta.number == number)?;
        Some(self.levels[level].remove(pos))
    }

    fn run(&mut self, task: &CompactionTask, opts: &PickerOptions) {
        self.tasks += 1;
        let mut taken = Vec::new();
        for f in &task.inputs {
            taken.extend(self.take(task.input_level, f.number));
        }
        for f in &task.overlapping {
            taken.extend(self.take(task.output_level, f.number));
        }
        let outputs = if task.trivial_move {
            self.moved_files += 1;
            taken
        } else {
            let keys: BTreeSet<u32> = taken.iter().flat_map(|f| f.keys.iter().copied()).collect();
            let lo = taken.iter().map(|f| f.meta.smallest_seq).min().unwrap_or(0);
            let hi = taken.iter().map(|f| f.meta.largest_seq).max().unwrap_or(0);
            let per_file = (opts.target_file_size_bytes / ENTRY_BYTES).max(1) as usize;
            let keys: Vec<u32> = keys.into_iter().collect();
            let mut out = Vec::new();
            for chunk in keys.chunks(per_file) {
                if let Some(f) = self.new_file(chunk.to_vec(), lo, hi) {
                    self.compacted_bytes += f.meta.size;
                    out.push(f);
                }
            }
            out
        };
        let level = &mut self.levels[task.output_level];
        level.extend(outputs);
        level.sort_by(|a, b| a.meta.smallest.cmp(&b.meta.smallest));
        // The picker's promise, checked on every step: levels below L0 never overlap.
        if let Some(w) = level
            .windows(2)
            .find(|w| w[0].meta.largest >= w[1].meta.smallest)
        {
            panic!(
                "L{} overlaps after task {:?}: files {} and {}",
                task.output_level, task.inputs, w[0].meta.number, w[1].meta.number
            );
        }
    }

    fn print(&self, opts: &PickerOptions, title: &str) {
        println!("-- {title}");
        let metas = self.metas();
        let busy = HashSet::new();
        let targets = level_targets(
            &LevelsView {
                levels: &metas,
                busy: &busy,
            },
            opts,
        );
        println!("base level L{}", targets.base_level);
        for (i, l) in self.levels.iter().enumerate() {
            let bytes: u64 = l.iter().map(|f| f.meta.size).sum();
            let target = match targets.of(i) {
                _ if i == 0 => "-".to_string(),
                u64::MAX => "none".to_string(),
                t => t.to_string(),
            };
            println!(
                "L{i}: {:4} files {:>12} bytes (target {target})",
                l.len(),
                bytes
            );
        }
        let wa =
            (self.flushed_bytes + self.compacted_bytes) as f64 / self.flushed_bytes.max(1) as f64;
        println!(
            "flushed {} B, compaction wrote {} B, tasks {}, trivial moves {}, write amplification {wa:.2}",
            self.flushed_bytes, self.compacted_bytes, self.tasks, self.moved_files
        );
    }
}

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let flushes = arg(1, 200);
    let keys_per_flush = arg(2, 1000).max(1);
    let key_space = arg(3, 100_000).clamp(1, u32::MAX as u64) as u32;
    let flush_bytes = keys_per_flush * ENTRY_BYTES;
    let opts = PickerOptions {
        l0_compaction_trigger: 4,
        max_bytes_for_level_base: 4 * flush_bytes,
        level_size_multiplier: 10,
        num_levels: 7,
        target_file_size_bytes: flush_bytes,
        // Fourth argument 0 studies static (LevelDB) sizing.
        dynamic_level_bytes: arg(4, 1) != 0,
    };
    let mut sim = Sim {
        levels: (0..opts.num_levels).map(|_| Vec::new()).collect(),
        next_number: 0,
        flushed_bytes: 0,
        compacted_bytes: 0,
        moved_files: 0,
        tasks: 0,
    };
    // A small xorshift generator: deterministic runs without a dependency.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let busy = HashSet::new();
    for flush in 1..=flushes {
        let keys: BTreeSet<u32> = (0..keys_per_flush)
            .map(|_| (rand() % key_space as u64) as u32)
            .collect();
        if let Some(f) = sim.new_file(keys.into_iter().collect(), flush, flush) {
            sim.flushed_bytes += f.meta.size;
            sim.levels[0].insert(0, f);
        }
        loop {
            let metas = sim.metas();
            let view = LevelsView {
                levels: &metas,
                busy: &busy,
            };
            let Some(task) = LeveledStrategy.pick(&view, &opts) else {
                break;
            };
            sim.run(&task, &opts);
        }
        if flush % (flushes / 4).max(1) == 0 {
            sim.print(&opts, &format!("after {flush} flushes"));
        }
    }
}
