//! Bounded de-duplication by id.

use std::collections::{HashSet, VecDeque};

/// Remembers the last `capacity` distinct ids it was given, forgetting the oldest first.
///
/// [`Dedup::insert`] is O(1) (amortised: one hash-set lookup, at most one eviction), and the
/// memory is bounded by `capacity` ids whatever arrives.
///
/// **The bound's consequence:** an id seen more than `capacity` distinct ids ago is forgotten,
/// so a duplicate arriving that late is taken as new and processed again. Size the capacity
/// for the longest span over which a duplicate can come: pollen retries a failed notification
/// for about 4 days (4ⁿ s for n = 1..9) and operators can replay or rewind at any time, so a
/// receiver whose processing is not idempotent should keep its own durable record of ids
/// (this store is the cheap first filter in front of it). Use one `Dedup` for notification
/// ids and one for event ids: a rewind re-sends events with the same event ids in
/// notifications with new ids.
///
/// ```
/// use pollen_receiver::Dedup;
///
/// let mut seen = Dedup::new(2);
/// assert!(seen.insert("a"));
/// assert!(!seen.insert("a")); // a duplicate
/// assert!(seen.insert("b"));
/// assert!(seen.insert("c")); // "a" is forgotten
/// assert!(seen.insert("a")); // …so it counts as new again
/// ```
#[derive(Debug, Clone)]
pub struct Dedup {
    capacity: usize,
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Dedup {
    /// Remembers up to `capacity` ids (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Dedup {
            capacity,
            set: HashSet::with_capacity(capacity.min(1 << 20)),
            order: VecDeque::with_capacity(capacity.min(1 << 20)),
        }
    }

    /// True when `id` is new (and remembers it); false for a duplicate of a remembered id.
    /// A duplicate does not refresh the id's place: ids are forgotten in the order first seen.
    pub fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        self.set.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        true
    }

    /// True when `id` is remembered.
    pub fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    /// How many ids are remembered (at most the capacity).
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}
