//! A rate budget as a token bucket: the arithmetic every keeper of a bucket shares (a process's
//! memory, a database row), so that all of them grant the same calls.

use std::time::Duration;

use crate::source::Purpose;

/// A token bucket of `limit` calls a minute: it holds at most [`capacity`](Self::capacity)
/// tokens and gains [`per_second`](Self::per_second), and each call takes one token.
///
/// [`RateBucket::per_minute`] sizes it so that no 60-second window holds more than `limit`
/// calls: the burst is a twentieth of the limit (at least one call), and the refill makes
/// the burst plus 61 seconds of refill equal to the limit, a second of slack for the time
/// between taking a token and the vendor counting the call.
///
/// ```
/// use pollen_core::{Purpose, RateBucket};
///
/// let bucket = RateBucket::per_minute(200);
/// assert_eq!(bucket.capacity, 10.0);
/// // A full bucket grants an incremental poll and keeps the rest.
/// let take = bucket.take(10.0, 0.0, Purpose::Changes);
/// assert!(take.granted);
/// assert_eq!(take.tokens, 9.0);
/// // An empty one says how long until it would.
/// let take = bucket.take(0.0, 0.0, Purpose::Changes);
/// assert!(!take.granted);
/// assert!(take.wait.as_secs_f64() > 0.3 && take.wait.as_secs_f64() < 0.4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateBucket {
    /// The most tokens the bucket holds: the largest burst.
    pub capacity: f64,
    /// Tokens gained a second.
    pub per_second: f64,
}

/// What [`RateBucket::take`] decided.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RateTake {
    /// Whether the call may go out now.
    pub granted: bool,
    /// The tokens left in the bucket (after the refill, and after the take if granted).
    pub tokens: f64,
    /// When refused, how long until the bucket would grant this call (zero when granted).
    pub wait: Duration,
}

impl RateBucket {
    /// The bucket of `limit` calls a minute (a limit of 0 is taken as 1).
    pub fn per_minute(limit: u32) -> RateBucket {
        let limit = f64::from(limit.max(1));
        let capacity = (limit / 20.0).floor().max(1.0);
        let per_second = (limit - capacity).max(1.0) / 61.0;
        RateBucket {
            capacity,
            per_second,
        }
    }

    /// The tokens a call for `purpose` must leave in the bucket: none for incremental polls, a
    /// quarter of the burst for back-fills, half for reconciliation. Every process sharing a
    /// bucket applies them, so lower purposes give way to incremental polls across processes
    /// too, not only within one.
    pub fn floor(&self, purpose: Purpose) -> f64 {
        let spare = (self.capacity - 1.0).max(0.0);
        match purpose {
            Purpose::Changes => 0.0,
            Purpose::Backfill => spare / 4.0,
            Purpose::Reconcile => spare / 2.0,
        }
    }

    /// Takes one token for `purpose` from a bucket that held `tokens` `elapsed_seconds` ago.
    pub fn take(&self, tokens: f64, elapsed_seconds: f64, purpose: Purpose) -> RateTake {
        let elapsed = if elapsed_seconds.is_finite() {
            elapsed_seconds.max(0.0)
        } else {
            0.0
        };
        let level = (tokens.max(0.0) + elapsed * self.per_second).min(self.capacity);
        let needed = self.floor(purpose) + 1.0;
        if level >= needed {
            RateTake {
                granted: true,
                tokens: level - 1.0,
                wait: Duration::ZERO,
            }
        } else {
            RateTake {
                granted: false,
                tokens: level,
                wait: Duration::from_secs_f64((needed - level) / self.per_second),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls granted to a client that asks every `step` seconds for `seconds`, and the most of
    /// them in any 60-second window.
    fn busiest_minute(bucket: RateBucket, step: f64, seconds: f64) -> (usize, usize) {
        let mut tokens = 0.0;
        let mut last = 0.0;
        let mut granted = Vec::new();
        let mut at = 0.0;
        while at < seconds {
            let take = bucket.take(tokens, at - last, Purpose::Changes);
            tokens = take.tokens;
            last = at;
            if take.granted {
                granted.push(at);
            }
            at += step;
        }
        // Two pointers over the grant instants: the most in any window [t, t + 60 s).
        let mut most = 0;
        let mut end = 0;
        for (start, at) in granted.iter().enumerate() {
            while end < granted.len() && granted[end] < at + 60.0 {
                end += 1;
            }
            most = most.max(end - start);
        }
        (granted.len(), most)
    }

    #[test]
    fn no_minute_holds_more_than_the_limit() {
        for limit in [1, 2, 19, 20, 60, 120, 200, 1000, 10_000] {
            let bucket = RateBucket::per_minute(limit);
            // A greedy client, asking far more often than the budget allows, for 3 minutes.
            let step = 0.25 / f64::from(limit).max(1.0);
            let (total, most) = busiest_minute(bucket, step.max(0.0005), 180.0);
            assert!(
                most <= limit as usize,
                "limit {limit}: {most} calls in a minute"
            );
            // And the budget is used: from 20 calls a minute (a burst of one call and more),
            // at least 90 % of it over the run.
            if limit >= 20 {
                let expected = f64::from(limit) * 3.0 * 0.9;
                assert!(
                    total as f64 >= expected,
                    "limit {limit}: only {total} calls"
                );
            }
        }
    }

    #[test]
    fn lower_purposes_leave_tokens_for_incremental_polls() {
        let bucket = RateBucket::per_minute(200);
        assert_eq!(bucket.floor(Purpose::Changes), 0.0);
        assert_eq!(bucket.floor(Purpose::Backfill), 2.25);
        assert_eq!(bucket.floor(Purpose::Reconcile), 4.5);
        // With 4 tokens: changes and back-fills go, reconciliation waits.
        assert!(bucket.take(4.0, 0.0, Purpose::Changes).granted);
        assert!(bucket.take(4.0, 0.0, Purpose::Backfill).granted);
        let reconcile = bucket.take(4.0, 0.0, Purpose::Reconcile);
        assert!(!reconcile.granted);
        assert!(reconcile.wait > Duration::ZERO);
        // A bucket of one token has nothing to set aside: nothing starves.
        let tiny = RateBucket::per_minute(10);
        assert_eq!(tiny.floor(Purpose::Reconcile), 0.0);
        assert!(tiny.take(1.0, 0.0, Purpose::Reconcile).granted);
    }

    #[test]
    fn refill_is_capped_and_odd_inputs_are_safe() {
        let bucket = RateBucket::per_minute(200);
        let take = bucket.take(0.0, 1e9, Purpose::Changes);
        assert_eq!(take.tokens, bucket.capacity - 1.0);
        for elapsed in [f64::NAN, f64::INFINITY, -5.0] {
            let take = bucket.take(0.0, elapsed, Purpose::Changes);
            assert!(!take.granted);
        }
    }
}
