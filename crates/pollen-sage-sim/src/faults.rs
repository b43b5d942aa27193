//! Fault injection: each fault fires on "the next N requests" or with "probability p" drawn
//! from its own seeded generator, so a run with the same requests fails the same way.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{SimError, SimErrorKind};
use crate::store::lock;

/// What happens to a request a fault hits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// 429 in Sage's error shape, with `Retry-After: <seconds>` when given.
    TooManyRequests {
        /// The `Retry-After` header value in seconds; `None` sends no header (as Sage does).
        retry_after: Option<u64>,
    },
    /// 500 in Sage's error shape.
    InternalServerError,
    /// 503 in Sage's error shape ("retry later").
    ServiceUnavailable,
    /// 404 `RecordNotFound` in Sage's error shape: what an endpoint the business's plan or
    /// country lacks answers (`stock_items` outside Accounting Plus, `journal_codes` outside
    /// France).
    NotFound,
    /// The normal response, after waiting `delay`.
    Slow {
        /// How long to wait before answering.
        delay: Duration,
    },
    /// 200 with `Content-Type: application/json` but the body cut in half.
    MalformedJson,
    /// The connection is closed without any response.
    DropConnection,
    /// The request's access token is revoked and the request gets 401 (its refresh token
    /// still works).
    RevokeToken,
}

/// When a fault fires.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultTrigger {
    /// On each of the next `n` matching requests, then the fault is gone.
    Next(u32),
    /// On each matching request with probability `p`, drawn from a generator seeded with `seed`.
    Probability {
        /// Between 0 and 1.
        p: f64,
        /// Seed of this fault's generator.
        seed: u64,
    },
}

/// A fault to inject: what, when, and on which paths.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// What happens.
    pub kind: FaultKind,
    /// When it happens.
    pub trigger: FaultTrigger,
    /// Only requests whose path starts with this (e.g. `/v3.1/contacts`); `None` means every
    /// request except the control API.
    pub path_prefix: Option<String>,
}

impl Fault {
    /// `kind` on each of the next `n` requests.
    pub fn next(kind: FaultKind, n: u32) -> Fault {
        Fault {
            kind,
            trigger: FaultTrigger::Next(n),
            path_prefix: None,
        }
    }

    /// `kind` on each request with probability `p`, seeded.
    pub fn probability(kind: FaultKind, p: f64, seed: u64) -> Fault {
        Fault {
            kind,
            trigger: FaultTrigger::Probability { p, seed },
            path_prefix: None,
        }
    }

    /// Restricts the fault to paths starting with `prefix`.
    pub fn on_path_prefix(mut self, prefix: impl Into<String>) -> Fault {
        self.path_prefix = Some(prefix.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<(), SimError> {
        if let FaultTrigger::Probability { p, .. } = self.trigger {
            if !(0.0..=1.0).contains(&p) {
                return Err(SimError::new(
                    SimErrorKind::InvalidConfig,
                    format!("fault probability must be between 0 and 1, not {p}"),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Active {
    fault: Fault,
    remaining: u32,
    rng: ChaCha8Rng,
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    active: Mutex<Vec<Active>>,
    /// Mirrors `active.len()` so that requests skip the lock when no fault is set.
    count: AtomicUsize,
}

impl Faults {
    pub(crate) fn add(&self, fault: Fault) -> Result<(), SimError> {
        fault.validate()?;
        let (remaining, seed) = match fault.trigger {
            FaultTrigger::Next(n) => (n, 0),
            FaultTrigger::Probability { seed, .. } => (u32::MAX, seed),
        };
        if remaining == 0 {
            return Ok(());
        }
        let mut active = lock(&self.active);
        active.push(Active {
            fault,
            remaining,
            rng: ChaCha8Rng::seed_from_u64(seed),
        });
        self.count.store(active.len(), Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn clear(&self) {
        let mut active = lock(&self.active);
        active.clear();
        self.count.store(0, Ordering::Relaxed);
    }

    pub(crate) fn list(&self) -> Vec<Fault> {
        lock(&self.active)
            .iter()
            .map(|active| {
                let mut fault = active.fault.clone();
                if let FaultTrigger::Next(_) = fault.trigger {
                    fault.trigger = FaultTrigger::Next(active.remaining);
                }
                fault
            })
            .collect()
    }

    /// The fault that hits a request to `path`, if any: the first matching fault that fires.
    pub(crate) fn pick(&self, path: &str) -> Option<FaultKind> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut active = lock(&self.active);
        let mut hit = None;
        for (index, entry) in active.iter_mut().enumerate() {
            if let Some(prefix) = &entry.fault.path_prefix {
                if !path.starts_with(prefix.as_str()) {
                    continue;
                }
            }
            let fires = match entry.fault.trigger {
                FaultTrigger::Next(_) => {
                    entry.remaining -= 1;
                    true
                }
                FaultTrigger::Probability { p, .. } => entry.rng.gen_bool(p),
            };
            if fires {
                hit = Some((index, entry.fault.kind.clone()));
                break;
            }
        }
        let (index, kind) = hit?;
        if active[index].remaining == 0 {
            active.remove(index);
            self.count.store(active.len(), Ordering::Relaxed);
        }
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_n_fires_n_times_then_disappears() {
        let faults = Faults::default();
        faults
            .add(Fault::next(FaultKind::InternalServerError, 2))
            .unwrap();
        assert_eq!(
            faults.pick("/v3.1/contacts"),
            Some(FaultKind::InternalServerError)
        );
        assert_eq!(
            faults.pick("/v3.1/contacts"),
            Some(FaultKind::InternalServerError)
        );
        assert_eq!(faults.pick("/v3.1/contacts"), None);
        assert!(faults.list().is_empty());
    }

    #[test]
    fn probability_is_seeded_and_prefix_limits_paths() {
        let draws = |seed| {
            let faults = Faults::default();
            faults
                .add(
                    Fault::probability(FaultKind::ServiceUnavailable, 0.5, seed)
                        .on_path_prefix("/v3.1/contacts"),
                )
                .unwrap();
            assert_eq!(faults.pick("/v3.1/products"), None);
            (0..64)
                .map(|_| faults.pick("/v3.1/contacts").is_some())
                .collect::<Vec<_>>()
        };
        let first = draws(9);
        assert_eq!(first, draws(9));
        let hits = first.iter().filter(|hit| **hit).count();
        assert!((10..=54).contains(&hits), "{hits} hits of 64");
        let err = Faults::default()
            .add(Fault::probability(FaultKind::MalformedJson, 1.5, 0))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "fault probability must be between 0 and 1, not 1.5"
        );
    }
}
