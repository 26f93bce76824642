//! Atlas' request budget, spent with care: a client-side token bucket per project, and the
//! pacing of one poll (its deadline, and the concurrency slot it gives up while it waits).
//!
//! Atlas limits requests with a token bucket per endpoint set and project (1200 requests,
//! refilled at 500 a minute, for the backup endpoints): an empty bucket answers 429. The client
//! keeps a [`Budget`] with the same shape (`atlas.rate_limit`), one bucket per project shared by
//! every request to it, so the exporter waits for a token instead of spending Atlas' patience.
//! A `Ratelimit-Remaining` answer of [`LOW_REMAINING`] or less drains the local bucket to match:
//! other clients may share the project's budget.
//!
//! A request that must wait for a token reserves it and waits without holding its poll's
//! concurrency slot ([`Pace`]), so a throttled project never holds up another's polls; a token
//! that would come after the poll's deadline is not waited for: the request fails at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::RateLimitConfig;

/// A `Ratelimit-Remaining` at or below this drains the project's local bucket to match.
pub const LOW_REMAINING: u64 = 10;

/// Monotonic time for the buckets: how long since some fixed origin.
pub trait Ticks: Send + Sync {
    /// Time since the origin; never goes back.
    fn elapsed(&self) -> Duration;
}

/// Tokio's clock, so that tests that pause tokio's time move the buckets too.
#[derive(Debug)]
pub struct TokioTicks(tokio::time::Instant);

impl Default for TokioTicks {
    fn default() -> Self {
        TokioTicks(tokio::time::Instant::now())
    }
}

impl Ticks for TokioTicks {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// One token bucket per project.
pub struct Budget {
    capacity: f64,
    per_second: f64,
    config: RateLimitConfig,
    ticks: Arc<dyn Ticks>,
    buckets: Mutex<HashMap<Box<str>, Bucket>>,
    /// Until when (on `ticks`) each project's endpoint is held off after a `Retry-After`.
    holds: Mutex<HashMap<(Box<str>, &'static str), Duration>>,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Tokens may go below zero: each is a token reserved by a request that waits for it.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Duration,
}

impl Budget {
    /// Buckets of `config`'s shape on tokio's clock; each project's starts full.
    pub fn new(config: RateLimitConfig) -> Budget {
        Budget::with_ticks(config, Arc::new(TokioTicks::default()))
    }

    /// Buckets measured against `ticks`.
    pub fn with_ticks(config: RateLimitConfig, ticks: Arc<dyn Ticks>) -> Budget {
        Budget {
            capacity: f64::from(config.capacity.max(1)),
            per_second: f64::from(config.refill_per_minute.max(1)) / 60.0,
            config,
            ticks,
            buckets: Mutex::new(HashMap::new()),
            holds: Mutex::new(HashMap::new()),
        }
    }

    /// The shape of the buckets.
    pub fn config(&self) -> RateLimitConfig {
        self.config
    }

    /// Reserves a token of `project`'s bucket and says how long to wait until it is there
    /// (zero: at once), when that is within `max_wait` (`None`: however long). Otherwise
    /// reserves nothing and returns how long the wait would be.
    pub fn reserve(&self, project: &str, max_wait: Option<Duration>) -> Result<Duration, Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.ticks.elapsed();
        let bucket = self.refilled(&mut buckets, project, now);
        let after = bucket.tokens - 1.0;
        let wait = if after >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-after / self.per_second)
        };
        if max_wait.is_some_and(|max| wait > max) {
            return Err(wait);
        }
        bucket.tokens = after;
        Ok(wait)
    }

    /// Atlas said `remaining` requests are left of the project's budget: when that is low,
    /// the local bucket holds no more than that.
    pub fn observe_remaining(&self, project: &str, remaining: u64) {
        if remaining > LOW_REMAINING {
            return;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.ticks.elapsed();
        let bucket = self.refilled(&mut buckets, project, now);
        // At most LOW_REMAINING: the conversion is exact.
        bucket.tokens = bucket.tokens.min(remaining as f64);
    }

    /// Atlas answered a request of `endpoint` to `project` 429 (or 503) with
    /// `Retry-After: wait`: no request of that endpoint to that project (this poll's or a later
    /// one's) goes out before `wait` has passed. Atlas limits each project per endpoint set, so
    /// the project's other endpoints are not held.
    pub fn hold_off(&self, project: &str, endpoint: &'static str, wait: Duration) {
        let mut holds = self.holds.lock().unwrap_or_else(PoisonError::into_inner);
        let until = self.ticks.elapsed().saturating_add(wait);
        let now = self.ticks.elapsed();
        // Holds that have ended go, so the map stays as small as the endpoints held now.
        holds.retain(|_, end| *end > now);
        let end = holds.entry((project.into(), endpoint)).or_insert(until);
        *end = (*end).max(until);
    }

    /// How long requests of `endpoint` to `project` are still held off ([`Budget::hold_off`]).
    pub fn held_for(&self, project: &str, endpoint: &'static str) -> Duration {
        let holds = self.holds.lock().unwrap_or_else(PoisonError::into_inner);
        holds
            .get(&(Box::<str>::from(project), endpoint))
            .map_or(Duration::ZERO, |end| {
                end.saturating_sub(self.ticks.elapsed())
            })
    }

    /// Tokens of `project`'s bucket now (negative: reserved ahead), for tests and logs.
    pub fn tokens(&self, project: &str) -> f64 {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.ticks.elapsed();
        self.refilled(&mut buckets, project, now).tokens
    }

    fn refilled<'a>(
        &self,
        buckets: &'a mut HashMap<Box<str>, Bucket>,
        project: &str,
        now: Duration,
    ) -> &'a mut Bucket {
        let bucket = buckets.entry(project.into()).or_insert(Bucket {
            tokens: self.capacity,
            at: now,
        });
        let since = now.saturating_sub(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + since * self.per_second).min(self.capacity);
        bucket.at = now;
        bucket
    }
}

/// How one poll's requests are paced: the poll's deadline, and the concurrency slot it holds
/// while a request runs and gives up while a request waits (for a token or a `Retry-After`).
#[derive(Debug)]
pub struct Pace {
    deadline: Option<Duration>,
    ends_at: Option<tokio::time::Instant>,
    slot: Option<Slot>,
}

#[derive(Debug)]
struct Slot {
    semaphore: Arc<Semaphore>,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Pace {
    /// No deadline and no slot: a one-off command.
    pub fn unbounded() -> Pace {
        Pace {
            deadline: None,
            ends_at: None,
            slot: None,
        }
    }

    /// Waits for a slot of `slots`, then starts a poll of `deadline` holding it.
    pub async fn with_slot(slots: Arc<Semaphore>, deadline: Duration) -> Pace {
        let permit = Arc::clone(&slots).acquire_owned().await.ok();
        Pace {
            deadline: Some(deadline),
            ends_at: tokio::time::Instant::now().checked_add(deadline),
            slot: Some(Slot {
                semaphore: slots,
                permit: Mutex::new(permit),
            }),
        }
    }

    /// The poll's whole deadline; `Duration::MAX` when it has none.
    pub fn deadline(&self) -> Duration {
        self.deadline.unwrap_or(Duration::MAX)
    }

    /// What is left of the deadline; `None` when there is none.
    pub fn remaining(&self) -> Option<Duration> {
        match (self.deadline, self.ends_at) {
            (Some(_), Some(ends_at)) => {
                Some(ends_at.saturating_duration_since(tokio::time::Instant::now()))
            }
            (Some(deadline), None) => Some(deadline),
            (None, _) => None,
        }
    }

    /// True when waiting `wait` still ends before the deadline.
    pub fn allows(&self, wait: Duration) -> bool {
        self.remaining().is_none_or(|left| wait < left)
    }

    /// Waits `wait` without the concurrency slot, then takes a slot again.
    pub async fn wait_off_slot(&self, wait: Duration) {
        if wait.is_zero() {
            return;
        }
        let Some(slot) = &self.slot else {
            tokio::time::sleep(wait).await;
            return;
        };
        let held = slot
            .permit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(held);
        tokio::time::sleep(wait).await;
        let permit = Arc::clone(&slot.semaphore).acquire_owned().await.ok();
        *slot.permit.lock().unwrap_or_else(PoisonError::into_inner) = permit;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Time a test moves by hand.
    #[derive(Default)]
    struct Manual(Mutex<Duration>);

    impl Manual {
        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    impl Ticks for Manual {
        fn elapsed(&self) -> Duration {
            *self.0.lock().unwrap()
        }
    }

    fn budget(capacity: u32, refill_per_minute: u32) -> (Budget, Arc<Manual>) {
        let time = Arc::new(Manual::default());
        let ticks: Arc<dyn Ticks> = time.clone();
        let config = RateLimitConfig {
            capacity,
            refill_per_minute,
        };
        (Budget::with_ticks(config, ticks), time)
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_full_bucket_gives_its_capacity_at_once_then_one_token_per_refill_step() {
        let (b, time) = budget(3, 60);
        for _ in 0..3 {
            assert_eq!(b.reserve("p", Some(Duration::ZERO)), Ok(Duration::ZERO));
        }
        assert_eq!(b.reserve("p", Some(Duration::ZERO)), Err(SECOND));
        time.advance(SECOND);
        assert_eq!(b.reserve("p", Some(Duration::ZERO)), Ok(Duration::ZERO));
    }

    #[test]
    fn a_retry_after_holds_that_endpoint_of_that_project_off_that_long() {
        let (b, time) = budget(1200, 60);
        b.hold_off("p", "list_flex_snapshots", 10 * SECOND);
        assert_eq!(b.held_for("p", "list_flex_snapshots"), 10 * SECOND);
        assert_eq!(b.held_for("p", "list_legacy_snapshots"), Duration::ZERO);
        assert_eq!(b.held_for("q", "list_flex_snapshots"), Duration::ZERO);
        time.advance(4 * SECOND);
        assert_eq!(b.held_for("p", "list_flex_snapshots"), 6 * SECOND);
        // A shorter hold does not cut a longer one short.
        b.hold_off("p", "list_flex_snapshots", SECOND);
        assert_eq!(b.held_for("p", "list_flex_snapshots"), 6 * SECOND);
        time.advance(6 * SECOND);
        assert_eq!(b.held_for("p", "list_flex_snapshots"), Duration::ZERO);
        // Holding spends no token.
        assert_eq!(b.reserve("p", Some(Duration::ZERO)), Ok(Duration::ZERO));
    }

    #[test]
    fn waiters_reserve_tokens_in_turn() {
        let (b, _time) = budget(1, 60);
        assert_eq!(b.reserve("p", None), Ok(Duration::ZERO));
        assert_eq!(b.reserve("p", None), Ok(SECOND));
        assert_eq!(b.reserve("p", None), Ok(2 * SECOND));
        assert!((b.tokens("p") + 2.0).abs() < 1e-9);
    }

    #[test]
    fn a_wait_past_the_limit_reserves_nothing() {
        let (b, _time) = budget(1, 60);
        assert_eq!(b.reserve("p", None), Ok(Duration::ZERO));
        assert_eq!(b.reserve("p", Some(SECOND / 2)), Err(SECOND));
        assert_eq!(b.reserve("p", Some(SECOND)), Ok(SECOND));
    }

    #[test]
    fn the_bucket_refills_up_to_its_capacity_only() {
        let (b, time) = budget(2, 60);
        b.reserve("p", None).unwrap();
        b.reserve("p", None).unwrap();
        time.advance(Duration::from_secs(3600));
        assert!((b.tokens("p") - 2.0).abs() < 1e-9);
    }

    #[test]
    fn each_project_has_its_own_bucket() {
        let (b, _time) = budget(1, 1);
        assert_eq!(b.reserve("a", Some(Duration::ZERO)), Ok(Duration::ZERO));
        assert!(b.reserve("a", Some(Duration::ZERO)).is_err());
        assert_eq!(b.reserve("b", Some(Duration::ZERO)), Ok(Duration::ZERO));
    }

    #[test]
    fn a_low_remaining_from_atlas_drains_the_bucket_to_match() {
        let (b, _time) = budget(1200, 500);
        b.observe_remaining("p", 500);
        assert!((b.tokens("p") - 1200.0).abs() < 1e-9, "not low: ignored");
        b.observe_remaining("p", 2);
        assert!((b.tokens("p") - 2.0).abs() < 1e-9);
        b.observe_remaining("p", 0);
        assert!(b.reserve("p", Some(Duration::ZERO)).is_err());
        assert!(
            (b.tokens("q") - 1200.0).abs() < 1e-9,
            "other projects untouched"
        );
    }
}
