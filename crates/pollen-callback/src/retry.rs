//! When to try again: the retry schedule, `Retry-After`, throttling, and when to give up.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;

use crate::error::{Error, Result};

/// How a failed delivery is retried.
///
/// The schedule is a list of offsets from the first failure: retry *n* is due `offsets[n-1]`
/// after it, each with a random jitter of ± [`RetryPolicy::jitter`]. The sender waits the gap
/// between consecutive offsets after each failure, so when every attempt answers at once the
/// retries land on the offsets, and a retry that had to wait longer (a `Retry-After`, a
/// timeout) pushes the later ones back instead of bunching them up. After the last retry
/// fails, the subscription is deactivated and the notification queued.
///
/// The default is the vendor's: 4ⁿ seconds for n = 1..9 (4 s, 16 s, 64 s … 72.8 h), ±20 %.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    offsets: Vec<Duration>,
    /// The jitter, as a fraction of each wait (0 to 0.5; default 0.2).
    pub jitter: f64,
    /// The longest `Retry-After` honoured (default 1 hour); longer ones wait this long.
    pub retry_after_cap: Duration,
    /// The shortest wait after a 429 or a timeout (default 60 s).
    pub throttle_minimum: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            offsets: (1..=9).map(|n| Duration::from_secs(4u64.pow(n))).collect(),
            jitter: 0.2,
            retry_after_cap: Duration::from_secs(3600),
            throttle_minimum: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The vendor's schedule (the default).
    pub fn vendor() -> Self {
        RetryPolicy::default()
    }

    /// A schedule of retries at `offsets` from the first failure: each after zero, in
    /// increasing order. An empty list means no retry at all.
    pub fn with_offsets(mut self, offsets: Vec<Duration>) -> Result<Self> {
        let mut previous = Duration::ZERO;
        for (i, offset) in offsets.iter().enumerate() {
            if *offset <= previous {
                return Err(Error::config(format!(
                    "retry schedule: offset {} ({offset:?}) must be later than the one before \
                     ({previous:?})",
                    i + 1
                )));
            }
            previous = *offset;
        }
        self.offsets = offsets;
        Ok(self)
    }

    /// Sets the jitter fraction (0 to 0.5).
    pub fn with_jitter(mut self, jitter: f64) -> Result<Self> {
        if !(0.0..=0.5).contains(&jitter) {
            return Err(Error::config(format!(
                "retry jitter must be between 0 and 0.5, found {jitter}"
            )));
        }
        self.jitter = jitter;
        Ok(self)
    }

    /// The offsets from the first failure.
    pub fn offsets(&self) -> &[Duration] {
        &self.offsets
    }

    /// What to do after a failed attempt, the `failures`-th in a row (1 for the first).
    pub(crate) fn after_failure(
        &self,
        failures: u32,
        failure: &Failure,
        now: DateTime<Utc>,
        rng: &mut impl Rng,
    ) -> Next {
        if failure.gone {
            return Next::Deactivate;
        }
        let index = failures as usize;
        let Some(offset) = self.offsets.get(index - 1) else {
            return Next::Deactivate;
        };
        let previous = index
            .checked_sub(2)
            .map_or(Duration::ZERO, |i| self.offsets[i]);
        let gap = *offset - previous;
        let factor = if self.jitter > 0.0 {
            1.0 + rng.gen_range(-self.jitter..=self.jitter)
        } else {
            1.0
        };
        let mut wait = gap.mul_f64(factor);
        if failure.throttled {
            wait = wait.max(self.throttle_minimum);
        }
        if let Some(asked) = failure.retry_after {
            wait = wait.max(asked.min(self.retry_after_cap));
        }
        Next::RetryAt(now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX))
    }
}

/// What a failed attempt tells the retry logic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The receiver answered 410 Gone.
    pub(crate) gone: bool,
    /// A 429 or a timeout: wait at least the throttle minimum.
    pub(crate) throttled: bool,
    /// The receiver's `Retry-After`, as a wait from now.
    pub(crate) retry_after: Option<Duration>,
}

/// The decision after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Pending again, due then.
    RetryAt(DateTime<Utc>),
    /// Queue the notification and deactivate the subscription (410, or retries exhausted).
    Deactivate,
}

/// A `Retry-After` value (delay seconds or an HTTP date) as a wait from `now`; `None` when it
/// is neither. A date in the past means no wait.
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at: DateTime<Utc> = httpdate::parse_http_date(value).ok()?.into();
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:05:00 GMT", now),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn schedules_must_increase() {
        let err = RetryPolicy::vendor()
            .with_offsets(vec![Duration::from_secs(5), Duration::from_secs(5)])
            .unwrap_err();
        assert_eq!(
            err.message(),
            "retry schedule: offset 2 (5s) must be later than the one before (5s)"
        );
        assert!(RetryPolicy::vendor().with_jitter(0.7).is_err());
    }
}
