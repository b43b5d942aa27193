//! The simulator's clock: real time, or a manual instant that tests set and advance.
//!
//! Every timestamp the simulator writes (`created_at`, `updated_at`, `deleted_at`, the change
//! log, the `Date` response header) and every token expiry is read from this clock, at second
//! precision like Sage.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

/// How the simulator's clock runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMode {
    /// The machine's UTC time.
    Real,
    /// A fixed instant (whole seconds) that moves only when set or advanced.
    Manual(DateTime<Utc>),
}

/// `i64::MIN` in `manual` means "real time"; otherwise the manual instant in Unix seconds.
#[derive(Debug)]
pub(crate) struct Clock {
    manual: AtomicI64,
}

const REAL: i64 = i64::MIN;

impl Clock {
    pub(crate) fn new(mode: ClockMode) -> Self {
        let clock = Clock {
            manual: AtomicI64::new(REAL),
        };
        clock.set_mode(mode);
        clock
    }

    /// Now, in whole Unix seconds.
    pub(crate) fn now_secs(&self) -> i64 {
        match self.manual.load(Ordering::Relaxed) {
            REAL => Utc::now().timestamp(),
            secs => secs,
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        to_datetime(self.now_secs())
    }

    pub(crate) fn mode(&self) -> ClockMode {
        match self.manual.load(Ordering::Relaxed) {
            REAL => ClockMode::Real,
            secs => ClockMode::Manual(to_datetime(secs)),
        }
    }

    pub(crate) fn set_mode(&self, mode: ClockMode) {
        let value = match mode {
            ClockMode::Real => REAL,
            ClockMode::Manual(at) => at.timestamp(),
        };
        self.manual.store(value, Ordering::Relaxed);
    }

    /// Moves the clock forward (or back, for a negative amount); a real clock becomes manual,
    /// starting from the real now.
    pub(crate) fn advance(&self, seconds: i64) -> DateTime<Utc> {
        let result = self
            .manual
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |current| {
                let base = if current == REAL {
                    Utc::now().timestamp()
                } else {
                    current
                };
                Some(base.saturating_add(seconds))
            });
        let previous = match result {
            Ok(previous) | Err(previous) => previous,
        };
        let base = if previous == REAL {
            self.now_secs() - seconds
        } else {
            previous
        };
        to_datetime(base.saturating_add(seconds))
    }
}

/// Unix seconds to a UTC instant, clamped to chrono's range.
pub(crate) fn to_datetime(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Sage's timestamp format: `2019-03-25T15:31:02Z`.
pub(crate) fn format_timestamp(secs: i64) -> String {
    to_datetime(secs).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A date-only value (`2019-03-25`), as invoices carry.
pub(crate) fn format_date(secs: i64) -> String {
    to_datetime(secs).format("%Y-%m-%d").to_string()
}

/// Parses a query parameter date-time as Sage accepts it: RFC 3339 with `Z` or an offset
/// (fractions allowed), or a bare date meaning midnight UTC.
pub(crate) fn parse_query_datetime(text: &str) -> Option<i64> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.timestamp());
    }
    if let Ok(at) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S") {
        return Some(at.and_utc().timestamp());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_sets_and_advances() {
        let start = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Clock::new(ClockMode::Manual(start));
        assert_eq!(clock.now(), start);
        let later = clock.advance(90);
        assert_eq!(format_timestamp(later.timestamp()), "2025-01-01T00:01:30Z");
        assert_eq!(clock.now(), later);
        clock.set_mode(ClockMode::Real);
        assert_eq!(clock.mode(), ClockMode::Real);
    }

    #[test]
    fn query_dates_accept_z_offsets_and_bare_dates() {
        let z = parse_query_datetime("2025-01-01T10:00:00Z").unwrap();
        assert_eq!(parse_query_datetime("2025-01-01T11:00:00+01:00"), Some(z));
        assert_eq!(parse_query_datetime("2025-01-01T10:00:00"), Some(z));
        assert_eq!(parse_query_datetime("2025-01-01"), Some(z - 10 * 3600));
        assert_eq!(parse_query_datetime("2025-01-01T10:00:00 01:00"), None);
        assert_eq!(parse_query_datetime("yesterday"), None);
    }
}
