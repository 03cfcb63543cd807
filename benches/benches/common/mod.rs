//! What every criterion micro-benchmark here shares: a short run, so the whole suite stays a
//! few minutes on two cores; the figures are medians of 20 samples.

use criterion::Criterion;
use std::time::Duration;

/// Criterion with 20 samples, 300 ms of warm-up and `measure` of measurement per benchmark.
pub fn quick(measure: Duration) -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(measure)
}
