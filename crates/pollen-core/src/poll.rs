//! One poll of one (instance, resource): walk the pages of the window, classify, de-duplicate,
//! build notifications, commit — and the timing rules around it (slots, back-off).

use std::collections::HashSet;
use std::future::Future;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::{self, BoxFuture, Either};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::change::{Change, Classifier, EventType, StableId, Tally, Window};
use crate::checkpoint::Windows;
use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::metrics::Metrics;
use crate::notification::{build_notifications_in, Notification};
use crate::reconcile::{self, Abort};
use crate::source::{FetchRequest, Page, Purpose, Source};
use crate::spec::{PollKey, PollSpec};
use crate::store::{PollCommit, PollProgress, PollState, SeenChange, Store, WindowEvent};

/// What a committed poll did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollSummary {
    /// The instants the poll worked with.
    pub window: Window,
    /// Pages fetched (changes and deletions).
    pub pages: u32,
    /// Classification counts.
    pub tally: Tally,
    /// Events emitted (committed to the outbox).
    pub events: u64,
    /// Changes suppressed as already emitted (or seen twice in this walk).
    pub duplicates: u64,
    /// Pages shifted during the walk, so the watermark was kept.
    pub shifted: bool,
    /// Notifications appended to the outbox.
    pub notifications: usize,
    /// The watermark after the poll.
    pub watermark: DateTime<Utc>,
    /// When the next poll is due.
    pub next_due: DateTime<Utc>,
}

/// The shared things a poll needs.
pub(crate) struct PollContext<'a> {
    pub(crate) store: &'a dyn Store,
    pub(crate) clock: &'a dyn Clock,
    pub(crate) metrics: &'a Metrics,
    /// A reconciliation still running at this instant is given up, so that the poll commits
    /// before its timeout.
    pub(crate) reconcile_deadline: Option<DateTime<Utc>>,
}

/// Changes a poll holds before it writes them as progress ([`Store::commit_progress`]): this
/// bounds a poll's memory whatever its window holds (a first poll may back-fill millions of
/// records), while each write still carries many notifications. Each write also inserts its
/// seen keys at random places of the key's seen-change index, dirtying most of its pages once
/// the chunk outnumbers them: fewer, larger writes rewrite that index less often (4,000 against
/// 1,000 cut the 100,000-record back-fill's walk from 9.7 s to 6.1–6.4 s, see
/// docs/performance.md).
const PROGRESS_CHUNK: usize = 4_000;

/// Runs one poll of `spec` under the lease held in `state` and commits it.
///
/// Changes are written to the outbox in chunks of [`PROGRESS_CHUNK`] as the walk goes
/// ([`Store::commit_progress`], with their seen keys); the watermark moves only in the final
/// `commit_poll`, once the whole window was walked. An error anywhere (or a crash) leaves the
/// watermark where it was: the next poll re-reads the same window and the seen keys suppress
/// what was already written, so nothing is lost and nothing is emitted twice.
pub(crate) async fn run_poll(
    ctx: &PollContext<'_>,
    spec: &PollSpec,
    source: &dyn Source,
    state: &PollState,
) -> Result<PollSummary> {
    let lease_token = state
        .lease
        .as_ref()
        .map(|l| l.token)
        .ok_or_else(|| Error::lease_lost(&spec.key))?;
    let watermark = state.watermark;
    let local_start = ctx.clock.now();
    let reconcile_due = reconcile::is_due(spec, source, state.reconciled_at, local_start);
    let remember_ids = spec.reconcile_interval.is_some() && source.supports_reconcile(&spec.key);
    let heads = ctx.store.checkpoint_heads(&spec.key).await?;
    let windows = Windows::new(spec, heads, watermark);
    let mut emitter = Emitter::new(
        ctx,
        spec,
        lease_token,
        remember_ids,
        state.rewinds,
        &windows,
    );
    let mut since = spec.window_start(watermark);
    let mut walk = walk_changes(&mut emitter, source, watermark, since, local_start).await?;
    // Before its first poll a key's watermark is on our clock; once the vendor has told us its
    // time, a window that starts later on the vendor's clock than the first records that may
    // fire (vendor behind us by more than the poll delay and the overlap) is walked again from
    // the corrected start, so skew cannot hide them. A smaller skew needs no second walk: the
    // records it shifts below `since` are older than the origin, pre-existing, never fired
    // (and a vendor `Date` has whole seconds, so nearly every first poll sees some skew).
    if state.completed_polls == 0 {
        let corrected = spec.window_start(walk.window.origin);
        if walk.window.origin < since {
            since = corrected;
            // What the first walk wrote is suppressed as seen; what it still holds is walked
            // again.
            emitter.settle().await?;
            emitter.pending.clear();
            emitter.store_had_none = None;
            walk = walk_changes(&mut emitter, source, watermark, since, local_start).await?;
        }
    }
    let Walk {
        window,
        mut pages,
        mut tally,
        mut in_walk,
        mut total_changed,
    } = walk;
    let request = spec.request.expand(since);
    let purpose = purpose_of(spec, since, local_start);

    // The deletion feed, where the connector has one.
    if source.supports_deletions(&spec.key) {
        let classifier = Classifier::new(spec, window);
        let mut cursor: Option<String> = None;
        let mut first_total: Option<Option<u64>> = None;
        let mut deletion_pages = 0u32;
        loop {
            let page = emitter
                .drive(source.fetch_deleted_page(FetchRequest {
                    key: &spec.key,
                    request: &request,
                    since,
                    page_size: spec.page_size,
                    cursor: cursor.as_deref(),
                    purpose,
                }))
                .await?;
            pages += 1;
            deletion_pages += 1;
            match first_total {
                None => first_total = Some(page.total),
                Some(total) if total != page.total => total_changed = true,
                Some(_) => {}
            }
            for deleted in page.records {
                if let Some(change) = classifier.classify_deleted(deleted, &mut tally) {
                    emitter.push(change, &mut in_walk);
                }
            }
            emitter.flush_if_full(&window).await?;
            emitter.log_progress(pages);
            cursor = next_cursor(spec, deletion_pages, cursor.as_deref(), page.next)?;
            if cursor.is_none() {
                break;
            }
        }
    }

    // Reconciliation, when due: after the walks, with the progress written so far settled. Its
    // DELETED events are only written with the final commit, together with the known ids they
    // remove, so that a failed commit leaves both to the next reconciliation.
    emitter.settle().await?;
    let reconciled = if reconcile_due {
        let at = ctx.clock.now();
        match reconcile::reconcile(ctx, spec, source, at, ctx.reconcile_deadline).await {
            Ok(outcome) => {
                let classifier = Classifier::new(spec, window);
                let found = outcome.deleted.len();
                for deleted in outcome.deleted {
                    if let Some(change) = classifier.classify_deleted(deleted, &mut tally) {
                        emitter.push(change, &mut in_walk);
                    }
                }
                ctx.metrics.add_reconciliations(1);
                tracing::info!(
                    key = %spec.key,
                    added = outcome.reconciled.added.len(),
                    deleted = found,
                    undecided = outcome.undecided,
                    "reconciled"
                );
                Some(outcome.reconciled)
            }
            Err(Abort::Failed(error)) if error.kind() == ErrorKind::LeaseLost => return Err(error),
            Err(abort) => {
                ctx.metrics.add_reconciliations_aborted(1);
                tracing::warn!(
                    key = %spec.key,
                    reason = %abort.reason(),
                    "reconciliation given up, nothing emitted; it runs again at the next poll"
                );
                None
            }
        }
    } else {
        None
    };
    let (seen, mut notifications, fresh, known, mut window_events) =
        emitter.take_fresh(&window).await?;
    let shifted = tally.newer_than_start || total_changed;
    let new_watermark = if shifted {
        watermark
    } else {
        watermark.max(window.poll_start)
    };
    let now = ctx.clock.now();
    // A poll that moved the watermark completes the window of every checkpointed subscription:
    // its checkpoint counts the events written since the last one, by this poll and by any
    // that died after writing progress.
    let checkpoints = if new_watermark > watermark && !windows.is_idle() {
        let mut events = ctx.store.window_events(&spec.key).await?;
        events.append(&mut window_events);
        let (checkpoints, heads) = windows.close(spec, &events, new_watermark, now);
        notifications.extend(checkpoints);
        heads
    } else {
        Vec::new()
    };
    let next_due = next_slot(&spec.key, spec.refresh_interval, now);
    let notification_count = notifications.len();
    let checkpoint_count = checkpoints.len() as u64;
    let commit = PollCommit {
        key: spec.key.clone(),
        lease_token,
        watermark: new_watermark,
        next_due,
        seen,
        notifications,
        prune_before: Some(spec.window_start(new_watermark) - spec.dedup_margin),
        known,
        reconciled,
        window: window_events,
        checkpoints,
        ended_chains: windows.ended(),
    };
    // The final write, as its own span under the poll's (chunks written before are not in it).
    let commit_span = tracing::info_span!(
        "poll.commit",
        // Signed: an OpenTelemetry layer exports u64 fields as strings, i64 as integers.
        events = fresh.total() as i64,
        notifications = notification_count as i64,
        watermark = %new_watermark,
    );
    ctx.store
        .commit_poll(commit)
        .instrument(commit_span)
        .await?;
    emitter.count_committed(fresh, notification_count);
    ctx.metrics.add_checkpoints(checkpoint_count);

    let metrics = ctx.metrics;
    metrics.add_pages_fetched(u64::from(pages));
    metrics.add_records_seen(tally.records);
    metrics.add_duplicates_suppressed(emitter.duplicates);
    metrics.add_date_warnings(tally.date_warnings);
    metrics.add_records_without_id(tally.without_id);
    metrics.add_records_filtered(tally.filtered);
    metrics.add_windows_shifted(u64::from(shifted));
    if tally.date_warnings > 0 {
        tracing::warn!(
            count = tally.date_warnings,
            "records with a missing or unparseable date were emitted as UPDATED"
        );
    }
    if tally.without_id > 0 {
        tracing::warn!(count = tally.without_id, id_field = %spec.id_path, "records without an id were skipped");
    }
    Ok(PollSummary {
        window,
        pages,
        tally,
        events: emitter.events,
        duplicates: emitter.duplicates,
        shifted,
        notifications: emitter.notifications,
        watermark: new_watermark,
        next_due,
    })
}

/// Collects a poll's changes, de-duplicates them against the store and writes them in chunks.
///
/// A chunk's write runs while the walk goes on: it is driven alongside the next page fetches
/// ([`Emitter::drive`]) and awaited before the next chunk's write, before a re-walk and
/// before the final commit, so the writes still happen one after the other and the watermark
/// moves only after all of them.
struct Emitter<'c, 'a> {
    ctx: &'c PollContext<'a>,
    spec: &'c PollSpec,
    lease_token: u64,
    /// Classified, not yet checked against the store.
    pending: Vec<Change>,
    /// The progress write under way, with what it writes for the counters.
    in_flight: Option<(BoxFuture<'c, Result<()>>, Fresh, usize)>,
    /// Whether the store remembered no seen change of this key when the poll started writing
    /// (asked once, at the first progress write): then no change of this walk can have been
    /// emitted before, and the walk's own set of ids is the whole de-duplication.
    store_had_none: Option<bool>,
    /// Events and notifications written so far (progress and final commit).
    events: u64,
    notifications: usize,
    /// Changes suppressed: seen twice in this walk, or emitted by an earlier poll.
    duplicates: u64,
    /// When the next progress line may be logged.
    next_progress_log: Option<DateTime<Utc>>,
    /// Whether the ids of fresh CREATED and UPDATED changes are remembered as known, for
    /// reconciliation.
    remember_ids: bool,
    /// The key's rewinds so far: the notifications of a re-read are new deliveries.
    rewinds: u64,
    /// The open checkpoint windows, whose tags the notifications carry.
    windows: &'c Windows,
}

/// What [`Emitter::take_fresh`] returns: seen keys, notifications, counts, known ids, window
/// events.
type FreshPart = (
    Vec<SeenChange>,
    Vec<Notification>,
    Fresh,
    Vec<String>,
    Vec<WindowEvent>,
);

/// The fresh changes of a chunk, counted by kind.
#[derive(Debug, Clone, Copy, Default)]
struct Fresh {
    created: u64,
    updated: u64,
    deleted: u64,
}

impl Fresh {
    fn of(changes: &[Change]) -> Fresh {
        let mut fresh = Fresh::default();
        for change in changes {
            match change.event_type {
                EventType::Created => fresh.created += 1,
                EventType::Updated => fresh.updated += 1,
                EventType::Deleted => fresh.deleted += 1,
            }
        }
        fresh
    }

    fn total(self) -> u64 {
        self.created + self.updated + self.deleted
    }
}

impl<'c, 'a> Emitter<'c, 'a> {
    fn new(
        ctx: &'c PollContext<'a>,
        spec: &'c PollSpec,
        lease_token: u64,
        remember_ids: bool,
        rewinds: u64,
        windows: &'c Windows,
    ) -> Self {
        Emitter {
            rewinds,
            windows,
            ctx,
            spec,
            lease_token,
            pending: Vec::new(),
            in_flight: None,
            store_had_none: None,
            events: 0,
            notifications: 0,
            duplicates: 0,
            next_progress_log: None,
            remember_ids,
        }
    }

    fn push(&mut self, change: Change, in_walk: &mut HashSet<StableId>) {
        if in_walk.insert(change.id) {
            self.pending.push(change);
        } else {
            self.duplicates += 1;
        }
    }

    /// Runs `work` (a page fetch) while driving the progress write under way, if any; a failed
    /// write fails the poll.
    async fn drive<T>(&mut self, work: impl Future<Output = Result<T>>) -> Result<T> {
        let Some((write, fresh, notifications)) = self.in_flight.take() else {
            return work.await;
        };
        let work = std::pin::pin!(work);
        match future::select(write, work).await {
            Either::Left((written, work)) => {
                written?;
                self.count_committed(fresh, notifications);
                work.await
            }
            Either::Right((Err(e), write)) => {
                // The poll fails; what the write holds is kept all the same, as progress.
                if write.await.is_ok() {
                    self.count_committed(fresh, notifications);
                }
                Err(e)
            }
            Either::Right((value, write)) => {
                self.in_flight = Some((write, fresh, notifications));
                value
            }
        }
    }

    /// Waits for the progress write under way, if any.
    async fn settle(&mut self) -> Result<()> {
        if let Some((write, fresh, notifications)) = self.in_flight.take() {
            write.await?;
            self.count_committed(fresh, notifications);
        }
        Ok(())
    }

    /// The fresh part of the pending changes (not emitted by an earlier poll), as seen keys,
    /// notifications, counts and the ids to remember.
    async fn take_fresh(&mut self, window: &Window) -> Result<FreshPart> {
        let changes = std::mem::take(&mut self.pending);
        let total = changes.len();
        let fresh: Vec<Change> = if changes.is_empty() || self.store_had_none == Some(true) {
            changes
        } else {
            let ids: Vec<StableId> = changes.iter().map(|c| c.id).collect();
            let seen = self.ctx.store.seen(&self.spec.key, &ids).await?;
            if seen.len() != ids.len() {
                return Err(Error::store(format!(
                    "store answered {} seen flags for {} change ids",
                    seen.len(),
                    ids.len()
                )));
            }
            changes
                .into_iter()
                .zip(seen)
                .filter_map(|(change, seen)| (!seen).then_some(change))
                .collect()
        };
        self.duplicates += (total - fresh.len()) as u64;
        let notifications = build_notifications_in(
            self.spec,
            &fresh,
            window.poll_start,
            self.ctx.clock.now(),
            self.rewinds,
            self.windows,
        );
        let window_events = self.windows.events_of(&notifications);
        let seen = fresh
            .iter()
            .map(|c| SeenChange {
                id: c.id,
                at: c.seen_at,
            })
            .collect();
        let known = if self.remember_ids {
            fresh
                .iter()
                .filter(|c| c.event_type != EventType::Deleted)
                .map(|c| c.object_id.clone())
                .collect()
        } else {
            Vec::new()
        };
        Ok((seen, notifications, Fresh::of(&fresh), known, window_events))
    }

    /// Starts writing the pending changes as progress once there are [`PROGRESS_CHUNK`] of
    /// them, after the previous progress write has finished.
    async fn flush_if_full(&mut self, window: &Window) -> Result<()> {
        if self.pending.len() < PROGRESS_CHUNK {
            return Ok(());
        }
        self.settle().await?;
        if self.store_had_none.is_none() {
            // Asked before this poll writes anything (a re-walk asks again, after its first
            // walk's writes).
            let known = self.ctx.store.seen_count(&self.spec.key).await?;
            self.store_had_none = Some(known == 0);
        }
        let (seen, notifications, fresh, known, window) = self.take_fresh(window).await?;
        if fresh.total() > 0 {
            let count = notifications.len();
            let write = self.ctx.store.commit_progress(PollProgress {
                key: self.spec.key.clone(),
                lease_token: self.lease_token,
                seen,
                notifications,
                known,
                window,
            });
            self.in_flight = Some((write, fresh, count));
        }
        Ok(())
    }

    /// Counts written events in the totals and the metrics.
    fn count_committed(&mut self, fresh: Fresh, notifications: usize) {
        let metrics = self.ctx.metrics;
        metrics.add_events_emitted(fresh.total());
        metrics.add_events_created(fresh.created);
        metrics.add_events_updated(fresh.updated);
        metrics.add_events_deleted(fresh.deleted);
        let resource = &self.spec.key.resource;
        metrics.add_events_of(resource, EventType::Created, fresh.created);
        metrics.add_events_of(resource, EventType::Updated, fresh.updated);
        metrics.add_events_of(resource, EventType::Deleted, fresh.deleted);
        metrics.add_notifications_enqueued(notifications as u64);
        self.events += fresh.total();
        self.notifications += notifications;
    }

    /// A long poll (a first back-fill) says how far it got, at most every 10 seconds; called
    /// after every page.
    fn log_progress(&mut self, pages: u32) {
        let now = self.ctx.clock.now();
        match self.next_progress_log {
            None => self.next_progress_log = Some(now + TimeDelta::seconds(10)),
            Some(at) if now >= at => {
                self.next_progress_log = Some(now + TimeDelta::seconds(10));
                tracing::info!(
                    key = %self.spec.key,
                    pages,
                    events = self.events,
                    duplicates = self.duplicates,
                    "poll in progress: events written so far, the watermark moves when the window is done"
                );
            }
            Some(_) => {}
        }
    }
}

/// The result of walking the change feed of one window.
struct Walk {
    window: Window,
    pages: u32,
    tally: Tally,
    in_walk: HashSet<StableId>,
    total_changed: bool,
}

/// Walks every page of the change feed from `since`, classifying as it goes and writing
/// progress through `emitter`.
async fn walk_changes(
    emitter: &mut Emitter<'_, '_>,
    source: &dyn Source,
    watermark: DateTime<Utc>,
    since: DateTime<Utc>,
    local_start: DateTime<Utc>,
) -> Result<Walk> {
    let (ctx, spec) = (emitter.ctx, emitter.spec);
    let request = spec.request.expand(since);
    let purpose = purpose_of(spec, since, local_start);
    let mut tally = Tally::default();
    let mut in_walk: HashSet<StableId> = HashSet::new();
    let mut pages = 0u32;
    let mut total_changed = false;
    let mut window: Option<Window> = None;
    let mut previous: Option<String> = None;
    let mut first_total: Option<Option<u64>> = None;
    // The next page is asked for before this one is classified and written, so the source
    // works on it meanwhile.
    let sent = ctx.clock.now();
    let mut next = fetch(source, spec, &request, since, purpose, None);
    loop {
        let page = emitter.drive(next).await?;
        pages += 1;
        let window = *window.get_or_insert_with(|| {
            let poll_start = poll_start(page.server_time, sent, ctx.clock.now(), local_start);
            // The spec's start is on our clock; records are stamped on the vendor's.
            let skew = if page.server_time.is_some() {
                poll_start - local_start
            } else {
                TimeDelta::zero()
            };
            Window {
                watermark,
                since,
                poll_start,
                origin: spec.start + skew,
            }
        });
        match first_total {
            None => first_total = Some(page.total),
            Some(total) if total != page.total => total_changed = true,
            Some(_) => {}
        }
        let cursor = next_cursor(spec, pages, previous.as_deref(), page.next)?;
        next = match &cursor {
            Some(cursor) => {
                let mut request =
                    fetch(source, spec, &request, since, purpose, Some(cursor.clone()));
                // Polled once, so the request goes out now.
                if let std::task::Poll::Ready(done) = futures::poll!(&mut request) {
                    request = Box::pin(future::ready(done));
                }
                request
            }
            None => Box::pin(future::ready(Ok(Page::default()))),
        };
        let classifier = Classifier::new(spec, window);
        classifier.classify(page.records, &mut tally, |change| {
            emitter.push(change, &mut in_walk);
        });
        emitter.flush_if_full(&window).await?;
        emitter.log_progress(pages);
        if cursor.is_none() {
            break;
        }
        previous = cursor;
    }
    Ok(Walk {
        window: window.expect("the walk fetched at least one page"),
        pages,
        tally,
        in_walk,
        total_changed,
    })
}

/// One page of the change feed, owning its cursor.
fn fetch<'f>(
    source: &'f dyn Source,
    spec: &'f PollSpec,
    request: &'f str,
    since: DateTime<Utc>,
    purpose: Purpose,
    cursor: Option<String>,
) -> BoxFuture<'f, Result<Page>> {
    Box::pin(async move {
        source
            .fetch_page(FetchRequest {
                key: &spec.key,
                request,
                since,
                page_size: spec.page_size,
                cursor: cursor.as_deref(),
                purpose,
            })
            .await
    })
}

/// A window reaching further back than two intervals (a first back-fill, a key not polled
/// for a while) is a catch-up: a rate budget serves regular polls before it.
fn purpose_of(spec: &PollSpec, since: DateTime<Utc>, now: DateTime<Utc>) -> Purpose {
    let regular = spec.refresh_interval * 2 + spec.overlap + spec.poll_delay;
    if now - since > regular {
        Purpose::Backfill
    } else {
        Purpose::Changes
    }
}

/// The poll's start on the vendor's clock: its `Date` minus the round trip of the first page,
/// so that no record committed while that request was in flight is after it; our own start when
/// the vendor gives no time.
fn poll_start(
    server_time: Option<DateTime<Utc>>,
    sent: DateTime<Utc>,
    received: DateTime<Utc>,
    local_start: DateTime<Utc>,
) -> DateTime<Utc> {
    match server_time {
        Some(server) => server - (received - sent).max(TimeDelta::zero()),
        None => local_start,
    }
}

/// The cursor for the next page, refusing runaway walks.
pub(crate) fn next_cursor(
    spec: &PollSpec,
    pages: u32,
    previous: Option<&str>,
    next: Option<String>,
) -> Result<Option<String>> {
    let Some(next) = next else {
        return Ok(None);
    };
    if previous == Some(next.as_str()) {
        return Err(Error::source_failed(format!(
            "{}: the source returned the same page cursor `{next}` twice",
            spec.key
        )));
    }
    if pages >= spec.max_pages {
        return Err(Error::source_failed(format!(
            "{}: more than {} pages in one poll",
            spec.key, spec.max_pages
        )));
    }
    Ok(Some(next))
}

/// The deterministic jitter of `key`: an offset in `[0, interval)` derived from its name, so
/// that many keys with one interval are spread evenly and every process agrees on the spread.
pub fn phase(key: &PollKey, interval: TimeDelta) -> TimeDelta {
    let mut hasher = Sha256::new();
    hasher.update(b"pollen-phase-v1\0");
    hasher.update((key.instance.len() as u64).to_le_bytes());
    hasher.update(key.instance.as_bytes());
    hasher.update(key.resource.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let interval_ms = interval.num_milliseconds().max(1) as u64;
    TimeDelta::milliseconds((u64::from_le_bytes(first) % interval_ms) as i64)
}

/// The first slot of `key` strictly after `after`: slots are `phase + k × interval` from the
/// Unix epoch, so a key keeps its place in the spread across restarts and failures.
pub fn next_slot(key: &PollKey, interval: TimeDelta, after: DateTime<Utc>) -> DateTime<Utc> {
    let interval_ms = interval.num_milliseconds().max(1);
    let phase_ms = phase(key, interval).num_milliseconds();
    let k = (after.timestamp_millis() - phase_ms).div_euclid(interval_ms) + 1;
    DateTime::<Utc>::from_timestamp_millis(phase_ms + k * interval_ms).unwrap_or(after + interval)
}

/// The wait after the `failures`-th consecutive failure: the interval, doubled per further
/// failure, capped at four intervals.
pub fn backoff(interval: TimeDelta, failures: u32) -> TimeDelta {
    let factor = 1i32 << failures.saturating_sub(1).min(2);
    interval * factor
}

/// A poll that ran past its deadline.
pub(crate) fn timeout_error(key: &PollKey, after: TimeDelta) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!(
            "poll of {key} timed out after {} s",
            after.num_milliseconds() as f64 / 1000.0
        ),
    )
}
