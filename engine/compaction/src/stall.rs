//! [`write_stall`]: back-pressure on writers when flushes or L0 compactions fall behind.
//!
//! Why stall rather than fail: a write that waits a little lets background work catch up; a
//! write that fails pushes the problem onto every client. Why slow down before stopping: a short
//! delay per write spreads the wait over many writers instead of freezing them all at once.
//!
//! Policy, checked in this order:
//! - `immutable_memtables >= max_immutable_memtables` -> [`StallDecision::Stop`]: memory for
//!   new writes is exhausted until a flush finishes;
//! - `l0_files >= l0_stop_writes_trigger` -> `Stop`: reads would probe too many files;
//! - `l0_files >= l0_slowdown_writes_trigger` -> [`StallDecision::Slowdown`] of
//!   [`SLOWDOWN_BASE`] doubled per file past the trigger, capped at [`SLOWDOWN_MAX`];
//! - otherwise [`StallDecision::Proceed`].

use std::time::Duration;

/// Delay at the slowdown trigger itself.
pub const SLOWDOWN_BASE: Duration = Duration::from_millis(1);
/// Longest delay a slowdown imposes on one write.
pub const SLOWDOWN_MAX: Duration = Duration::from_millis(100);

/// What a writer should do before applying its batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StallDecision {
    /// Write now.
    Proceed,
    /// Sleep this long, then write.
    Slowdown(Duration),
    /// Wait until background work signals progress, then ask again.
    Stop,
}

/// Thresholds of the stall policy.
#[derive(Clone, Debug)]
pub struct StallOptions {
    /// L0 file count at which writes start being delayed.
    pub l0_slowdown_writes_trigger: usize,
    /// L0 file count at which writes stop.
    pub l0_stop_writes_trigger: usize,
    /// Number of immutable memtables waiting for flush at which writes stop.
    pub max_immutable_memtables: usize,
}

impl Default for StallOptions {
    fn default() -> Self {
        StallOptions {
            l0_slowdown_writes_trigger: 12,
            l0_stop_writes_trigger: 20,
            max_immutable_memtables: 2,
        }
    }
}

/// The stall decision for the current L0 file count and immutable-memtable count.
pub fn write_stall(
    l0_files: usize,
    immutable_memtables: usize,
    opts: &StallOptions,
) -> StallDecision {
    if immutable_memtables >= opts.max_immutable_memtables
        || l0_files >= opts.l0_stop_writes_trigger
    {
        return StallDecision::Stop;
    }
    if l0_files >= opts.l0_slowdown_writes_trigger {
        let past = (l0_files - opts.l0_slowdown_writes_trigger).min(31) as u32;
        let delay = SLOWDOWN_BASE.saturating_mul(1u32 << past).min(SLOWDOWN_MAX);
        return StallDecision::Slowdown(delay);
    }
    StallDecision::Proceed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_triggers_proceeds() {
        let o = StallOptions::default();
        assert_eq!(write_stall(0, 0, &o), StallDecision::Proceed);
        assert_eq!(write_stall(11, 1, &o), StallDecision::Proceed);
    }

    #[test]
    fn slowdown_starts_at_trigger_and_grows() {
        let o = StallOptions::default();
        assert_eq!(
            write_stall(12, 0, &o),
            StallDecision::Slowdown(SLOWDOWN_BASE)
        );
        let delays: Vec<Duration> = (12..20)
            .map(|n| match write_stall(n, 0, &o) {
                StallDecision::Slowdown(d) => d,
                other => panic!("{n} files: {other:?}"),
            })
            .collect();
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert!(delays[3] > delays[0]);
        assert!(delays.iter().all(|d| *d <= SLOWDOWN_MAX));
        assert_eq!(delays[7], SLOWDOWN_MAX);
    }

    #[test]
    fn stops_at_l0_stop_trigger() {
        let o = StallOptions::default();
        assert_eq!(write_stall(20, 0, &o), StallDecision::Stop);
        assert_eq!(write_stall(500, 0, &o), StallDecision::Stop);
    }

    #[test]
    fn stops_when_immutable_memtables_reach_max() {
        let o = StallOptions::default();
        assert_eq!(write_stall(0, 2, &o), StallDecision::Stop);
        assert_eq!(write_stall(13, 3, &o), StallDecision::Stop);
        assert_eq!(write_stall(0, 1, &o), StallDecision::Proceed);
    }

    #[test]
    fn stop_trigger_below_slowdown_trigger_still_stops() {
        let o = StallOptions {
            l0_slowdown_writes_trigger: 10,
            l0_stop_writes_trigger: 5,
            max_immutable_memtables: 2,
        };
        assert_eq!(write_stall(6, 0, &o), StallDecision::Stop);
        assert_eq!(write_stall(4, 0, &o), StallDecision::Proceed);
    }
}
