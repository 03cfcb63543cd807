//! Failure injection for `debug_fail: true` writes (the seed's crash-simulation switch).
//!
//! A picked write fails at one of two points, chosen at random with equal odds:
//! - [`FailPoint::BeforeWrite`]: nothing is written, then 500 `simulated failure`;
//! - [`FailPoint::AfterWrite`]: the whole batch (document and its index entries) is written and
//!   durable, then 500 `simulated failure`.
//!
//! Either way the store stays consistent: the engine applies a batch atomically, so the write is
//! wholly present or wholly absent, never half. A client that got 500 must not assume either.

/// Where a picked write fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailPoint {
    BeforeWrite,
    AfterWrite,
}

/// Decides which `debug_fail` writes fail. Pure apart from [`FailureInjector::pick`].
#[derive(Clone, Copy, Debug)]
pub struct FailureInjector {
    /// Probability in `[0, 1]` that a `debug_fail` write fails.
    probability: f64,
}

impl FailureInjector {
    pub fn new(probability: f64) -> Self {
        FailureInjector {
            probability: probability.clamp(0.0, 1.0),
        }
    }

    /// The decision for given random draws: `roll` uniform in `[0, 1)`, `after` a fair coin.
    pub fn decide(&self, requested: bool, roll: f64, after: bool) -> Option<FailPoint> {
        if !requested || roll >= self.probability {
            return None;
        }
        Some(if after {
            FailPoint::AfterWrite
        } else {
            FailPoint::BeforeWrite
        })
    }

    /// Draws the randomness and decides.
    pub fn pick(&self, requested: bool) -> Option<FailPoint> {
        if !requested {
            return None;
        }
        self.decide(true, rand::random::<f64>(), rand::random::<bool>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_requested_writes_fail() {
        let f = FailureInjector::new(1.0);
        assert_eq!(f.decide(false, 0.0, true), None);
        assert_eq!(f.decide(true, 0.5, true), Some(FailPoint::AfterWrite));
        assert_eq!(f.decide(true, 0.5, false), Some(FailPoint::BeforeWrite));
    }

    #[test]
    fn probability_is_respected() {
        let f = FailureInjector::new(0.01);
        assert_eq!(f.decide(true, 0.0099, false), Some(FailPoint::BeforeWrite));
        assert_eq!(f.decide(true, 0.01, false), None);
        assert_eq!(FailureInjector::new(0.0).decide(true, 0.0, true), None);
        assert_eq!(FailureInjector::new(7.0).probability, 1.0);
    }
}
