//! The per-business rate limit and the API calls counted per business, so a test can show
//! that a client keeps to its rate budget.
//!
//! Sage v3 allows 200 calls a minute per business and answers 429 beyond it; v3.1's limits are
//! not published. [`SimConfig::rate_limit`](crate::SimConfig::rate_limit) (changeable at run
//! time) caps the calls of each business in any trailing 60 seconds of real time
//! ([`Instant`], never the simulator's possibly manual clock). A call is attributed to the
//! business [`business_for`](crate::businesses::business_for) picks (`X-Business` on v3.1,
//! `X-Site` on v3, the lead business without them). Counted are the API requests under
//! `/v3.1` and `/{region}/sageone/{accounts,core}/v3` whatever their answer; not `/_sim/...`,
//! not the OAuth endpoints, and not a request naming a business the user does not have (it
//! gets its 403 and belongs to no business).
//!
//! The check comes first, before faults and before any work: a call over the limit is answered
//! 429 and counted as rejected, not as a call, and does not use up a fault. An admitted call is
//! counted as accepted whatever happens to it next (an injected fault, a 401, a 404).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::auth::ApiVersion;
use crate::store::lock;

/// The rate limit's window, and the width of [`BusinessCalls::per_minute`]'s buckets.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

/// Instants of accepted calls kept per business for [`BusinessCalls`]; beyond it the oldest
/// are forgotten (the counts go on).
pub(crate) const MAX_KEPT_CALLS: usize = 1_000_000;

/// `rate_limit: None` in [`Limits::limit`].
const UNLIMITED: u64 = u64::MAX;

/// The API calls of one business since the simulator started or
/// [`SimHandle::reset_business_calls`](crate::SimHandle::reset_business_calls).
///
/// `max_in_any_minute` and `per_minute` are computed from the instants of the accepted calls,
/// of which the newest 1,000,000 per business are kept (at Sage's 200 a minute, more than three
/// days of calls).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BusinessCalls {
    /// The business id (the value of `X-Business` / `X-Site` that selects it).
    pub business: String,
    /// Calls the rate limit admitted, whatever their answer (an injected fault or a 401 may
    /// still have failed them).
    pub accepted: u64,
    /// Calls refused with 429 because they were over the rate limit; not in `accepted`.
    pub rejected: u64,
    /// The most accepted calls in any 60-second window: for each call, the calls in the
    /// 60 seconds starting with it.
    pub max_in_any_minute: u64,
    /// Accepted calls per consecutive 60-second bucket, the first starting with the first call;
    /// empty without calls.
    pub per_minute: Vec<u64>,
}

/// What the rate limit says about a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Counted; go on.
    Accepted,
    /// Over the limit: answer 429 with `Retry-After: retry_after` (whole seconds, 1 to 60).
    Rejected { retry_after: u64 },
}

/// One business's calls.
#[derive(Debug, Default)]
struct Calls {
    /// Accepted calls in the trailing window, oldest first: what the limit checks. Not
    /// cleared by a reset, so looking away does not let a client burst.
    window: VecDeque<Instant>,
    /// Accepted calls since the start or the last reset, oldest first, at most
    /// [`MAX_KEPT_CALLS`].
    kept: VecDeque<Instant>,
    accepted: u64,
    rejected: u64,
}

/// The rate limit and every business's calls, indexed like `State::businesses`.
#[derive(Debug)]
pub(crate) struct Limits {
    /// The limit, [`UNLIMITED`] for none.
    limit: AtomicU64,
    businesses: Vec<Mutex<Calls>>,
}

impl Limits {
    pub(crate) fn new(limit: Option<u32>, businesses: usize) -> Limits {
        Limits {
            limit: AtomicU64::new(encode(limit)),
            businesses: (0..businesses).map(|_| Mutex::default()).collect(),
        }
    }

    pub(crate) fn limit(&self) -> Option<u32> {
        match self.limit.load(Ordering::Relaxed) {
            UNLIMITED => None,
            n => u32::try_from(n).ok(),
        }
    }

    pub(crate) fn set_limit(&self, limit: Option<u32>) {
        self.limit.store(encode(limit), Ordering::Relaxed);
    }

    /// Checks a call of business `index` against the limit now, and counts it.
    pub(crate) fn admit(&self, index: usize) -> Admission {
        self.admit_at(index, None)
    }

    /// [`Limits::admit`] at `at` (tests), or at `Instant::now()` taken under the lock so the
    /// kept instants are in order.
    fn admit_at(&self, index: usize, at: Option<Instant>) -> Admission {
        let Some(calls) = self.businesses.get(index) else {
            return Admission::Accepted;
        };
        let mut calls = lock(calls);
        let mut now = at.unwrap_or_else(Instant::now);
        if let Some(last) = calls.window.back() {
            now = now.max(*last);
        }
        while calls
            .window
            .front()
            .is_some_and(|oldest| now.duration_since(*oldest) >= WINDOW)
        {
            calls.window.pop_front();
        }
        if let Some(limit) = self.limit() {
            let limit = limit as usize;
            if calls.window.len() >= limit {
                calls.rejected += 1;
                // Room comes back when this many of the window's calls have left it.
                let must_leave = calls.window.len() - limit;
                let retry_after = calls.window.get(must_leave).map_or(WINDOW.as_secs(), |t| {
                    whole_seconds(WINDOW.saturating_sub(now.duration_since(*t)))
                });
                return Admission::Rejected { retry_after };
            }
        }
        calls.window.push_back(now);
        if calls.kept.len() >= MAX_KEPT_CALLS {
            calls.kept.pop_front();
        }
        calls.kept.push_back(now);
        calls.accepted += 1;
        Admission::Accepted
    }

    /// Business `index`'s calls, under the id `business`; zeros for an index it has not.
    pub(crate) fn snapshot(&self, index: usize, business: &str) -> BusinessCalls {
        let (offsets, accepted, rejected) = match self.businesses.get(index) {
            Some(calls) => {
                let calls = lock(calls);
                let first = calls.kept.front().copied();
                let offsets: Vec<Duration> = first.map_or_else(Vec::new, |first| {
                    calls.kept.iter().map(|t| t.duration_since(first)).collect()
                });
                (offsets, calls.accepted, calls.rejected)
            }
            None => (Vec::new(), 0, 0),
        };
        BusinessCalls {
            business: business.to_owned(),
            accepted,
            rejected,
            max_in_any_minute: max_in_window(&offsets),
            per_minute: per_window(&offsets),
        }
    }

    /// Forgets every business's counted calls; the limit still remembers the trailing minute.
    pub(crate) fn reset(&self) {
        for calls in &self.businesses {
            let mut calls = lock(calls);
            calls.kept.clear();
            calls.accepted = 0;
            calls.rejected = 0;
        }
    }
}

fn encode(limit: Option<u32>) -> u64 {
    limit.map_or(UNLIMITED, u64::from)
}

/// `duration` in whole seconds, rounded up, at least 1.
fn whole_seconds(duration: Duration) -> u64 {
    let secs = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    secs.max(1)
}

/// Offsets in ascending order (sorted here when they are not).
fn ascending(offsets: &[Duration]) -> std::borrow::Cow<'_, [Duration]> {
    if offsets.windows(2).all(|pair| pair[0] <= pair[1]) {
        std::borrow::Cow::Borrowed(offsets)
    } else {
        let mut sorted = offsets.to_vec();
        sorted.sort_unstable();
        std::borrow::Cow::Owned(sorted)
    }
}

/// The most calls in any 60-second window: for each call at `t`, the calls in `[t, t + 60 s)`.
/// `offsets` are the calls' times from any origin.
pub(crate) fn max_in_window(offsets: &[Duration]) -> u64 {
    let offsets = ascending(offsets);
    let mut best = 0;
    let mut end = 0;
    for (start, t) in offsets.iter().enumerate() {
        let limit = t.saturating_add(WINDOW);
        while end < offsets.len() && offsets[end] < limit {
            end += 1;
        }
        best = best.max(end - start);
    }
    best as u64
}

/// Calls per consecutive 60-second bucket, the first starting at the earliest call, up to the
/// bucket of the latest; empty without calls. `offsets` are the calls' times from any origin.
pub(crate) fn per_window(offsets: &[Duration]) -> Vec<u64> {
    let offsets = ascending(offsets);
    let Some(first) = offsets.first().copied() else {
        return Vec::new();
    };
    let mut buckets: Vec<u64> = Vec::new();
    for t in offsets.iter() {
        let bucket = (t.saturating_sub(first).as_nanos() / WINDOW.as_nanos()) as usize;
        if buckets.len() <= bucket {
            buckets.resize(bucket + 1, 0);
        }
        buckets[bucket] += 1;
    }
    buckets
}

/// The API generation of a path the limit counts: `/v3.1[/...]`, or
/// `/{region}/sageone/{accounts,core}/v3[/...]` for a region Sage has.
pub(crate) fn counted_version(path: &str) -> Option<ApiVersion> {
    if path == "/v3.1" || path.starts_with("/v3.1/") {
        return Some(ApiVersion::V31);
    }
    let mut segments = path.strip_prefix('/')?.split('/');
    let region = segments.next()?;
    let v3 = crate::api::REGIONS.contains(&region)
        && segments.next() == Some("sageone")
        && matches!(segments.next(), Some("accounts" | "core"))
        && segments.next() == Some("v3");
    v3.then_some(ApiVersion::V3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(list: &[f64]) -> Vec<Duration> {
        list.iter().map(|s| Duration::from_secs_f64(*s)).collect()
    }

    #[test]
    fn the_busiest_minute_is_found_with_a_sliding_window() {
        assert_eq!(max_in_window(&secs(&[0.0, 30.0, 59.9, 61.0])), 3);
        assert_eq!(max_in_window(&secs(&[])), 0);
        assert_eq!(max_in_window(&secs(&[5.0])), 1);
        // The window is half open: a call exactly 60 s later is in the next one.
        assert_eq!(max_in_window(&secs(&[0.0, 60.0, 120.0])), 1);
        assert_eq!(max_in_window(&secs(&[0.0, 59.999, 60.0])), 2);
        // 4 calls in [50, 110), though the minute buckets from the first call hold 3 and 2.
        let spread = secs(&[0.0, 50.0, 55.0, 65.0, 100.0]);
        assert_eq!(max_in_window(&spread), 4);
        assert_eq!(per_window(&spread), [3, 2]);
        assert_eq!(max_in_window(&secs(&[1.0, 1.0, 1.0, 200.0])), 3);
        // Out of order input is sorted first.
        assert_eq!(max_in_window(&secs(&[61.0, 0.0, 59.9, 30.0])), 3);
    }

    #[test]
    fn calls_fall_in_minute_buckets_from_the_first() {
        assert_eq!(per_window(&secs(&[])), Vec::<u64>::new());
        assert_eq!(per_window(&secs(&[0.0, 30.0, 59.9, 61.0])), [3, 1]);
        assert_eq!(
            per_window(&secs(&[10.0, 69.0, 70.0, 250.0])),
            [2, 1, 0, 0, 1]
        );
        assert_eq!(per_window(&secs(&[0.0, 60.0, 120.0])), [1, 1, 1]);
    }

    #[test]
    fn the_limit_refuses_calls_over_it_until_the_oldest_leaves() {
        let limits = Limits::new(Some(3), 2);
        let t0 = Instant::now();
        let at = |s: f64| Some(t0 + Duration::from_secs_f64(s));
        assert_eq!(limits.admit_at(0, at(0.0)), Admission::Accepted);
        assert_eq!(limits.admit_at(0, at(10.0)), Admission::Accepted);
        assert_eq!(limits.admit_at(0, at(20.5)), Admission::Accepted);
        // The call at 0 s leaves the window at 60 s: 30.5 s away, rounded up.
        assert_eq!(
            limits.admit_at(0, at(29.5)),
            Admission::Rejected { retry_after: 31 }
        );
        // Another business has its own limit.
        assert_eq!(limits.admit_at(1, at(29.5)), Admission::Accepted);
        assert_eq!(
            limits.admit_at(0, at(59.99)),
            Admission::Rejected { retry_after: 1 }
        );
        assert_eq!(limits.admit_at(0, at(60.0)), Admission::Accepted);
        let calls = limits.snapshot(0, "b0");
        assert_eq!(
            (calls.accepted, calls.rejected, calls.max_in_any_minute),
            (4, 2, 3)
        );
        assert_eq!(calls.per_minute, [3, 1]);
        assert_eq!(limits.snapshot(1, "b1").accepted, 1);
        assert_eq!(limits.snapshot(7, "none").accepted, 0);
    }

    #[test]
    fn a_lowered_limit_waits_for_enough_calls_to_leave() {
        let limits = Limits::new(None, 1);
        let t0 = Instant::now();
        let at = |s: u64| Some(t0 + Duration::from_secs(s));
        for s in 0..5 {
            assert_eq!(limits.admit_at(0, at(s)), Admission::Accepted);
        }
        limits.set_limit(Some(2));
        assert_eq!(limits.limit(), Some(2));
        // Calls at 0..=4 s; for fewer than 2 to remain, those at 0..=3 s must leave, the last
        // at 63 s.
        assert_eq!(
            limits.admit_at(0, at(10)),
            Admission::Rejected { retry_after: 53 }
        );
        limits.set_limit(Some(0));
        assert_eq!(
            limits.admit_at(0, at(10)),
            Admission::Rejected { retry_after: 60 }
        );
        limits.set_limit(None);
        assert_eq!(limits.limit(), None);
        assert_eq!(limits.admit_at(0, at(10)), Admission::Accepted);
    }

    #[test]
    fn a_reset_forgets_the_counts_but_not_the_window() {
        let limits = Limits::new(Some(1), 1);
        let t0 = Instant::now();
        assert_eq!(limits.admit_at(0, Some(t0)), Admission::Accepted);
        limits.reset();
        assert_eq!(limits.snapshot(0, "b").accepted, 0);
        assert_eq!(limits.snapshot(0, "b").per_minute, Vec::<u64>::new());
        assert!(matches!(
            limits.admit_at(0, Some(t0 + Duration::from_secs(1))),
            Admission::Rejected { retry_after: 59 }
        ));
        assert_eq!(limits.snapshot(0, "b").rejected, 1);
    }

    #[test]
    fn counted_paths_are_the_api_ones() {
        assert_eq!(counted_version("/v3.1/contacts"), Some(ApiVersion::V31));
        assert_eq!(
            counted_version("/v3.1/businesses/lead"),
            Some(ApiVersion::V31)
        );
        assert_eq!(
            counted_version("/uki/sageone/accounts/v3/contacts/abc"),
            Some(ApiVersion::V3)
        );
        assert_eq!(
            counted_version("/de/sageone/core/v3/businesses"),
            Some(ApiVersion::V3)
        );
        assert_eq!(counted_version("/xx/sageone/accounts/v3/contacts"), None);
        assert_eq!(counted_version("/token"), None);
        assert_eq!(counted_version("/oauth2/token"), None);
        assert_eq!(counted_version("/revoke"), None);
        assert_eq!(counted_version("/_sim/health"), None);
        assert_eq!(counted_version("/v3.10/contacts"), None);
        assert_eq!(counted_version(""), None);
    }
}
