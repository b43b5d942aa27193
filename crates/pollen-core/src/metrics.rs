//! Counters of the poller, for the binary's metrics endpoint and for tests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use crate::change::EventType;

/// Live counters, shared by all polls of a [`Scheduler`](crate::Scheduler). Cheap to update
/// (relaxed atomics); read them with [`Metrics::snapshot`].
#[derive(Debug, Default)]
pub struct Metrics {
    polls_started: AtomicU64,
    polls_succeeded: AtomicU64,
    polls_failed: AtomicU64,
    pages_fetched: AtomicU64,
    records_seen: AtomicU64,
    events_emitted: AtomicU64,
    events_created: AtomicU64,
    events_updated: AtomicU64,
    events_deleted: AtomicU64,
    duplicates_suppressed: AtomicU64,
    date_warnings: AtomicU64,
    records_without_id: AtomicU64,
    records_filtered: AtomicU64,
    windows_shifted: AtomicU64,
    notifications_enqueued: AtomicU64,
    leases_lost: AtomicU64,
    lease_renewals: AtomicU64,
    reconciliations: AtomicU64,
    reconciliations_aborted: AtomicU64,
    checkpoints: AtomicU64,
    reconcile_pages: AtomicU64,
    reconcile_lookups: AtomicU64,
    dispatch_lag_count: AtomicU64,
    dispatch_lag_micros_total: AtomicU64,
    dispatch_lag_micros_max: AtomicU64,
    /// Events committed, by resource and type: a lock per written chunk, not per event.
    events_by_resource: Mutex<BTreeMap<(String, EventType), u64>>,
}

/// Events committed to the outbox for one resource and event type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventCount {
    /// The hub resource name.
    pub resource: String,
    /// The event type.
    pub event_type: EventType,
    /// Events committed since the scheduler started.
    pub count: u64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MetricsSnapshot {
    /// Polls begun.
    pub polls_started: u64,
    /// Polls committed.
    pub polls_succeeded: u64,
    /// Polls failed (source error, timeout, store error, lease lost).
    pub polls_failed: u64,
    /// Pages fetched (changes and deletions).
    pub pages_fetched: u64,
    /// Records looked at.
    pub records_seen: u64,
    /// Events committed to the outbox.
    pub events_emitted: u64,
    /// Of those, CREATED events.
    pub events_created: u64,
    /// Of those, UPDATED events.
    pub events_updated: u64,
    /// Of those, DELETED events.
    pub events_deleted: u64,
    /// Changes not emitted because they were emitted before (or twice in one walk).
    pub duplicates_suppressed: u64,
    /// Records with a missing or unparseable date (emitted as UPDATED).
    pub date_warnings: u64,
    /// Records skipped for lack of an id.
    pub records_without_id: u64,
    /// Records dropped by the date filters.
    pub records_filtered: u64,
    /// Polls whose pages shifted (watermark kept).
    pub windows_shifted: u64,
    /// Notifications appended to the outbox.
    pub notifications_enqueued: u64,
    /// Polls stopped because another worker took over the lease (a renewal or a commit found
    /// it gone).
    pub leases_lost: u64,
    /// Poll leases renewed by their live holder (one per lease per renewal).
    pub lease_renewals: u64,
    /// Reconciliations completed (their DELETED events are counted in `events_deleted`).
    pub reconciliations: u64,
    /// Reconciliations given up, emitting nothing: a failed or shifted id walk, lookups that
    /// contradicted the walk, or no time left in the poll.
    pub reconciliations_aborted: u64,
    /// Checkpoints committed to the outbox (one per checkpointed subscription per poll that
    /// moved its watermark).
    pub checkpoints: u64,
    /// Id pages fetched by reconciliations.
    pub reconcile_pages: u64,
    /// Records looked up by id by reconciliations.
    pub reconcile_lookups: u64,
    /// Polls dispatched (for the lag figures).
    pub dispatch_lag_count: u64,
    /// Sum of (dispatch time − due time), microseconds.
    pub dispatch_lag_micros_total: u64,
    /// Largest (dispatch time − due time), microseconds.
    pub dispatch_lag_micros_max: u64,
}

macro_rules! adders {
    ($($name:ident => $field:ident),* $(,)?) => {
        $(
            pub(crate) fn $name(&self, n: u64) {
                self.$field.fetch_add(n, Ordering::Relaxed);
            }
        )*
    };
}

impl Metrics {
    adders! {
        add_polls_started => polls_started,
        add_polls_succeeded => polls_succeeded,
        add_polls_failed => polls_failed,
        add_pages_fetched => pages_fetched,
        add_records_seen => records_seen,
        add_events_emitted => events_emitted,
        add_events_created => events_created,
        add_events_updated => events_updated,
        add_events_deleted => events_deleted,
        add_duplicates_suppressed => duplicates_suppressed,
        add_date_warnings => date_warnings,
        add_records_without_id => records_without_id,
        add_records_filtered => records_filtered,
        add_windows_shifted => windows_shifted,
        add_notifications_enqueued => notifications_enqueued,
        add_leases_lost => leases_lost,
        add_lease_renewals => lease_renewals,
        add_reconciliations => reconciliations,
        add_reconciliations_aborted => reconciliations_aborted,
        add_checkpoints => checkpoints,
        add_reconcile_pages => reconcile_pages,
        add_reconcile_lookups => reconcile_lookups,
    }

    pub(crate) fn record_dispatch_lag(&self, micros: u64) {
        self.dispatch_lag_count.fetch_add(1, Ordering::Relaxed);
        self.dispatch_lag_micros_total
            .fetch_add(micros, Ordering::Relaxed);
        self.dispatch_lag_micros_max
            .fetch_max(micros, Ordering::Relaxed);
    }

    pub(crate) fn add_events_of(&self, resource: &str, event_type: EventType, n: u64) {
        if n == 0 {
            return;
        }
        let mut counts = self
            .events_by_resource
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *counts.entry((resource.to_owned(), event_type)).or_default() += n;
    }

    /// Events committed so far, by resource and type (sorted; pairs with none left out).
    pub fn events_by_resource(&self) -> Vec<EventCount> {
        self.events_by_resource
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|((resource, event_type), count)| EventCount {
                resource: resource.clone(),
                event_type: *event_type,
                count: *count,
            })
            .collect()
    }

    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            polls_started: get(&self.polls_started),
            polls_succeeded: get(&self.polls_succeeded),
            polls_failed: get(&self.polls_failed),
            pages_fetched: get(&self.pages_fetched),
            records_seen: get(&self.records_seen),
            events_emitted: get(&self.events_emitted),
            events_created: get(&self.events_created),
            events_updated: get(&self.events_updated),
            events_deleted: get(&self.events_deleted),
            duplicates_suppressed: get(&self.duplicates_suppressed),
            date_warnings: get(&self.date_warnings),
            records_without_id: get(&self.records_without_id),
            records_filtered: get(&self.records_filtered),
            windows_shifted: get(&self.windows_shifted),
            notifications_enqueued: get(&self.notifications_enqueued),
            leases_lost: get(&self.leases_lost),
            lease_renewals: get(&self.lease_renewals),
            reconciliations: get(&self.reconciliations),
            reconciliations_aborted: get(&self.reconciliations_aborted),
            checkpoints: get(&self.checkpoints),
            reconcile_pages: get(&self.reconcile_pages),
            reconcile_lookups: get(&self.reconcile_lookups),
            dispatch_lag_count: get(&self.dispatch_lag_count),
            dispatch_lag_micros_total: get(&self.dispatch_lag_micros_total),
            dispatch_lag_micros_max: get(&self.dispatch_lag_micros_max),
        }
    }
}
