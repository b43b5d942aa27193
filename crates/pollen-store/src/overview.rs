//! Read-only summaries for dashboards: an instance's delivery health and its newest
//! notifications. Each backend answers them with one query (`sqlite/overview.rs`,
//! `postgres/overview.rs`); nothing here writes.

/// How an instance's notifications stand, counted by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboxHealth {
    /// Waiting for a delivery attempt (first try or a retry).
    pub pending: u64,
    /// Of the pending ones, those that failed at least once.
    pub failing: u64,
    /// Held back because the subscription is deactivated; sent again only on re-delivery.
    pub queued: u64,
    /// Delivered (and not yet pruned).
    pub delivered: u64,
}

impl OutboxHealth {
    /// Both counts added up.
    pub(crate) fn plus(self, other: OutboxHealth) -> OutboxHealth {
        OutboxHealth {
            pending: self.pending + other.pending,
            failing: self.failing + other.failing,
            queued: self.queued + other.queued,
            delivered: self.delivered + other.delivered,
        }
    }

    /// Adds `count` rows of `status` (`pending`, `delivered`, `queued`), `failing` of which
    /// had an attempt; other statuses are ignored.
    pub(crate) fn add(&mut self, status: &str, count: u64, failing: u64) {
        match status {
            "pending" => {
                self.pending += count;
                self.failing += failing;
            }
            "queued" => self.queued += count,
            "delivered" => self.delivered += count,
            _ => {}
        }
    }
}
