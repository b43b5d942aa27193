//! The rate budget: Sage limits calls per business (v3: 200 a minute), not per instance, so
//! every instance of one business — in this process and in every worker sharing its
//! database — draws from one token bucket before each call.
//!
//! The bucket's arithmetic is pollen-core's [`RateBucket`]; where it is kept is a
//! [`BudgetStore`]: [`MemoryBudgetStore`] for one process, pollen's database for several.
//! In front of the store, one queue per business and process orders the waiting calls:
//! incremental polls first, then back-fills, then reconciliation, the oldest first within
//! each; only the head of the queue asks the store, so a process never floods it.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use pollen_core::{Purpose, RateBucket, RateTake};
use tokio::sync::Notify;

use crate::error::Result;

/// The calls a minute of a business whose instances set no `sage.rate_limit`: Sage's v3
/// limit (v3.1 publishes none).
pub const DEFAULT_RATE_LIMIT: u32 = 200;

/// The longest a waiting call sleeps before asking the store again: a call of a higher
/// purpose that arrives meanwhile is not held up by it.
const MAX_NAP: Duration = Duration::from_millis(500);

/// Where the token buckets are kept: one per business key, shared by everyone who shares the
/// store.
pub trait BudgetStore: Send + Sync + fmt::Debug {
    /// Takes one token for `purpose` from the bucket of `business` (created empty on first
    /// use), or says how long until it could.
    fn take<'a>(
        &'a self,
        business: &'a str,
        bucket: RateBucket,
        purpose: Purpose,
    ) -> BoxFuture<'a, Result<RateTake>>;
}

/// A [`BudgetStore`] in this process's memory: right when one process makes all the calls
/// (an embedded database is held by one process).
#[derive(Debug, Default)]
pub struct MemoryBudgetStore {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl MemoryBudgetStore {
    /// An empty store.
    pub fn new() -> MemoryBudgetStore {
        MemoryBudgetStore::default()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves plain values: a poisoned lock still holds valid data.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl BudgetStore for MemoryBudgetStore {
    fn take<'a>(
        &'a self,
        business: &'a str,
        bucket: RateBucket,
        purpose: Purpose,
    ) -> BoxFuture<'a, Result<RateTake>> {
        let now = Instant::now();
        let mut buckets = lock(&self.buckets);
        // Empty at first: a restarted process does not know what its predecessor spent.
        let (tokens, at) = buckets.entry(business.to_owned()).or_insert((0.0, now));
        let take = bucket.take(*tokens, now.duration_since(*at).as_secs_f64(), purpose);
        *tokens = take.tokens;
        *at = now;
        Box::pin(std::future::ready(Ok(take)))
    }
}

/// What one business's budget did in this process.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BudgetUsage {
    /// The business key: the Sage business id, or `instance:<key>` for a v3.1 instance that
    /// names no `sage.business.id`.
    pub business: String,
    /// The calls a minute of the last call's instance.
    pub limit: u32,
    /// Calls this process made in the last 60 seconds.
    pub used_last_minute: u64,
    /// Calls this process made since it started, by purpose: changes, backfill, reconcile.
    pub calls: [u64; 3],
    /// Calls waiting for a token now.
    pub waiting: usize,
    /// The time calls spent waiting for a token, summed.
    pub waited: Duration,
}

/// The rate budgets of every business this process calls: hand one to each
/// [`SageSource`](crate::SageSource) ([`SageSourceBuilder::rate_budget`]).
///
/// [`SageSourceBuilder::rate_budget`]: crate::SageSourceBuilder::rate_budget
///
/// ```
/// use pollen_core::Purpose;
/// use pollen_sage::RateBudget;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let budget = RateBudget::in_memory();
/// // 6,000 calls a minute: a burst of 300, about 93 a second.
/// budget.acquire("business-1", 6000, Purpose::Changes).await?;
/// let usage = budget.usage();
/// assert_eq!(usage[0].business, "business-1");
/// assert_eq!(usage[0].used_last_minute, 1);
/// # Ok::<(), pollen_sage::Error>(())
/// # }).unwrap();
/// ```
pub struct RateBudget {
    store: Arc<dyn BudgetStore>,
    queues: Mutex<HashMap<String, Arc<Queue>>>,
}

impl fmt::Debug for RateBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateBudget")
            .field("store", &self.store)
            .field("businesses", &lock(&self.queues).len())
            .finish()
    }
}

/// One business's waiting calls in this process, and what it spent.
#[derive(Debug, Default)]
struct Queue {
    state: Mutex<QueueState>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct QueueState {
    /// (purpose rank, arrival): the smallest is served first.
    waiting: BTreeSet<(u8, u64)>,
    next: u64,
    limit: u32,
    /// When the calls of the last 60 seconds went out.
    recent: VecDeque<Instant>,
    calls: [u64; 3],
    waited: Duration,
}

fn rank(purpose: Purpose) -> u8 {
    match purpose {
        Purpose::Changes => 0,
        Purpose::Backfill => 1,
        Purpose::Reconcile => 2,
    }
}

impl QueueState {
    fn forget_old(&mut self, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|at| now.duration_since(*at) >= Duration::from_secs(60))
        {
            self.recent.pop_front();
        }
    }
}

/// A place in the queue; leaving it (served, failed or cancelled) lets the next one go.
struct Ticket<'a> {
    queue: &'a Queue,
    place: (u8, u64),
}

impl Ticket<'_> {
    fn is_head(&self) -> bool {
        lock(&self.queue.state).waiting.first() == Some(&self.place)
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        lock(&self.queue.state).waiting.remove(&self.place);
        self.queue.changed.notify_waiters();
    }
}

impl RateBudget {
    /// Budgets kept in `store`.
    pub fn new(store: Arc<dyn BudgetStore>) -> RateBudget {
        RateBudget {
            store,
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Budgets kept in this process's memory ([`MemoryBudgetStore`]).
    pub fn in_memory() -> RateBudget {
        RateBudget::new(Arc::new(MemoryBudgetStore::new()))
    }

    fn queue(&self, business: &str) -> Arc<Queue> {
        Arc::clone(lock(&self.queues).entry(business.to_owned()).or_default())
    }

    /// Waits until a call for `purpose` to `business` fits its budget of `limit` calls a
    /// minute, and counts it. Calls of a higher purpose waiting in this process go first; a
    /// store that fails fails the call (nothing is sent unaccounted).
    pub async fn acquire(&self, business: &str, limit: u32, purpose: Purpose) -> Result<()> {
        let queue = self.queue(business);
        let bucket = RateBucket::per_minute(limit);
        let place = {
            let mut state = lock(&queue.state);
            state.limit = limit;
            state.next += 1;
            let place = (rank(purpose), state.next);
            state.waiting.insert(place);
            place
        };
        let ticket = Ticket {
            queue: &queue,
            place,
        };
        // The queue may have been empty: whoever is head now must know.
        queue.changed.notify_waiters();
        let started = Instant::now();
        loop {
            loop {
                let notified = queue.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if ticket.is_head() {
                    break;
                }
                notified.await;
            }
            let take = self.store.take(business, bucket, purpose).await?;
            if take.granted {
                break;
            }
            // Woken early when the queue changes: a call of a higher purpose goes first.
            let nap = take.wait.clamp(Duration::from_millis(1), MAX_NAP);
            let notified = queue.changed.notified();
            tokio::select! {
                () = tokio::time::sleep(nap) => {}
                () = notified => {}
            }
        }
        let now = Instant::now();
        let mut state = lock(&queue.state);
        state.forget_old(now);
        state.recent.push_back(now);
        state.calls[usize::from(rank(purpose))] += 1;
        state.waited += now.duration_since(started);
        drop(state);
        drop(ticket);
        Ok(())
    }

    /// What each business's budget did in this process, by business key.
    pub fn usage(&self) -> Vec<BudgetUsage> {
        let now = Instant::now();
        let queues: Vec<(String, Arc<Queue>)> = lock(&self.queues)
            .iter()
            .map(|(k, q)| (k.clone(), Arc::clone(q)))
            .collect();
        let mut usage: Vec<BudgetUsage> = queues
            .into_iter()
            .map(|(business, queue)| {
                let mut state = lock(&queue.state);
                state.forget_old(now);
                BudgetUsage {
                    business,
                    limit: state.limit,
                    used_last_minute: state.recent.len() as u64,
                    calls: state.calls,
                    waiting: state.waiting.len(),
                    waited: state.waited,
                }
            })
            .collect();
        usage.sort_by(|a, b| a.business.cmp(&b.business));
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that grants only when told to, and records who asked.
    #[derive(Debug, Default)]
    struct Gate {
        open: Mutex<u32>,
        asked: Mutex<Vec<Purpose>>,
    }

    impl BudgetStore for Gate {
        fn take<'a>(
            &'a self,
            _business: &'a str,
            _bucket: RateBucket,
            purpose: Purpose,
        ) -> BoxFuture<'a, Result<RateTake>> {
            lock(&self.asked).push(purpose);
            let mut open = lock(&self.open);
            let granted = *open > 0;
            if granted {
                *open -= 1;
            }
            let take = RateBucket::per_minute(60).take(
                if granted { 1.0 } else { 0.0 },
                0.0,
                Purpose::Changes,
            );
            Box::pin(std::future::ready(Ok(take)))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn incremental_polls_go_before_backfills_and_reconciliation() {
        let gate = Arc::new(Gate::default());
        let budget = Arc::new(RateBudget::new(gate.clone()));
        let served = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Reconciliation and back-fills queue first, then incremental polls arrive.
        for (n, purpose) in [
            Purpose::Reconcile,
            Purpose::Reconcile,
            Purpose::Backfill,
            Purpose::Changes,
            Purpose::Backfill,
            Purpose::Changes,
        ]
        .into_iter()
        .enumerate()
        {
            let budget = Arc::clone(&budget);
            let served = Arc::clone(&served);
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(n as u64)).await;
                budget.acquire("b", 60, purpose).await.unwrap();
                lock(&served).push(purpose);
            }));
        }
        // Everyone is queued, nobody served.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(lock(&served).is_empty());
        assert_eq!(budget.usage()[0].waiting, 6);
        // Now one token at a time.
        for _ in 0..6 {
            *lock(&gate.open) += 1;
            tokio::time::sleep(MAX_NAP * 2).await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            *lock(&served),
            [
                Purpose::Changes,
                Purpose::Changes,
                Purpose::Backfill,
                Purpose::Backfill,
                Purpose::Reconcile,
                Purpose::Reconcile,
            ]
        );
        let usage = &budget.usage()[0];
        assert_eq!(usage.calls, [2, 2, 2]);
        assert_eq!(usage.used_last_minute, 6);
        assert_eq!(usage.waiting, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_call_leaves_the_queue() {
        let gate = Arc::new(Gate::default());
        let budget = Arc::new(RateBudget::new(gate.clone()));
        let first = {
            let budget = Arc::clone(&budget);
            tokio::spawn(async move { budget.acquire("b", 60, Purpose::Changes).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let second = {
            let budget = Arc::clone(&budget);
            tokio::spawn(async move { budget.acquire("b", 60, Purpose::Reconcile).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        // The head is cancelled (a poll abandoned at shutdown): the next one is served.
        first.abort();
        assert!(first.await.is_err());
        *lock(&gate.open) += 1;
        tokio::time::sleep(MAX_NAP * 2).await;
        second.await.unwrap().unwrap();
        assert_eq!(budget.usage()[0].waiting, 0);
        assert_eq!(budget.usage()[0].calls, [0, 0, 1]);
    }

    #[test]
    fn a_fresh_memory_bucket_is_empty_then_refills() {
        let store = MemoryBudgetStore::new();
        let bucket = RateBucket::per_minute(60_000);
        let ask =
            || futures::executor::block_on(store.take("b", bucket, Purpose::Changes)).unwrap();
        let first = ask();
        assert!(!first.granted);
        std::thread::sleep(first.wait + Duration::from_millis(5));
        assert!(ask().granted);
    }
}
