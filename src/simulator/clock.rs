//! The simulator's one source of time: what nonce and token lifetimes, token-bucket refills and
//! `Slow` faults are measured against.
//!
//! [`TokioClock`] is tokio's clock (real time, or tokio's paused time where a runtime pauses it);
//! [`Simulator::start`](super::Simulator::start) uses it. [`ManualClock`] stands still until a
//! test moves it with [`ManualClock::advance`], so tests over real sockets can expire a nonce or
//! hold a slow request without sleeping and without racing a loaded machine; pass it to
//! [`Simulator::start_with_clock`](super::Simulator::start_with_clock).
//!
//! The server's own housekeeping (the back-off after a failed accept, the shutdown grace
//! period) is about real connections, not about simulated Atlas, and stays on tokio's clock.

use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use super::sync::lock;

/// A future that completes when a [`SimClock`] has moved past a deadline.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of time for the simulator.
pub trait SimClock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Instant;

    /// Completes once `duration` has passed on this clock, counted from this call (not from the
    /// first poll).
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// Tokio's clock: real time, unless the runtime's time is paused.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioClock;

impl SimClock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that moves only when told to; clones share one time.
///
/// Sleeps on it complete in [`advance`](ManualClock::advance), as soon as their deadline is
/// reached; [`until_sleeping`](ManualClock::until_sleeping) lets a test wait until the
/// simulator is holding a request, so that it advances the clock only after the sleep began.
#[derive(Clone, Default)]
pub struct ManualClock {
    inner: Arc<Manual>,
}

#[derive(Default)]
struct Manual {
    state: Mutex<ManualState>,
    /// Woken whenever a sleep begins.
    slept: Notify,
}

struct ManualState {
    now: Instant,
    sleepers: Vec<Sleeper>,
}

impl Default for ManualState {
    fn default() -> Self {
        ManualState {
            now: Instant::now(),
            sleepers: Vec::new(),
        }
    }
}

struct Sleeper {
    /// `None` when the deadline lies beyond what an `Instant` can hold: never reached.
    deadline: Option<Instant>,
    wake: oneshot::Sender<()>,
}

impl Sleeper {
    /// Whether the sleeping future still exists (it is dropped when its request is abandoned).
    fn is_waiting(&self) -> bool {
        !self.wake.is_closed()
    }
}

impl ManualClock {
    /// A clock standing at the current instant of tokio's clock.
    pub fn new() -> ManualClock {
        ManualClock::default()
    }

    /// Moves the clock forward by `by` and completes every sleep whose deadline is now reached.
    ///
    /// Panics if the clock would pass the end of what an `Instant` can hold (centuries away),
    /// as `Instant + Duration` does.
    pub fn advance(&self, by: Duration) {
        let mut state = lock(&self.inner.state);
        state.now += by;
        let now = state.now;
        let (due, pending) = std::mem::take(&mut state.sleepers)
            .into_iter()
            .filter(Sleeper::is_waiting)
            .partition::<Vec<_>, _>(|s| s.deadline.is_some_and(|d| d <= now));
        state.sleepers = pending;
        drop(state);
        for sleeper in due {
            // The sleeping request may have been abandoned meanwhile; then nobody is waiting.
            let _ = sleeper.wake.send(());
        }
    }

    /// How many sleeps on this clock are still waiting for their deadline.
    pub fn sleepers(&self) -> usize {
        lock(&self.inner.state)
            .sleepers
            .iter()
            .filter(|s| s.is_waiting())
            .count()
    }

    /// Completes once at least `count` sleeps are waiting on this clock.
    pub async fn until_sleeping(&self, count: usize) {
        loop {
            let mut slept = pin!(self.inner.slept.notified());
            // Registered before the check, so a sleep beginning in between is not missed.
            slept.as_mut().enable();
            if self.sleepers() >= count {
                return;
            }
            slept.await;
        }
    }
}

impl SimClock for ManualClock {
    fn now(&self) -> Instant {
        lock(&self.inner.state).now
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        let mut state = lock(&self.inner.state);
        let deadline = state.now.checked_add(duration);
        if deadline.is_some_and(|d| d <= state.now) {
            return Box::pin(std::future::ready(()));
        }
        let (wake, woken) = oneshot::channel();
        state.sleepers.push(Sleeper { deadline, wake });
        drop(state);
        self.inner.slept.notify_waiters();
        Box::pin(async move {
            // An error means the clock is gone, so nothing could ever advance it: stop waiting.
            let _ = woken.await;
        })
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.inner.state);
        f.debug_struct("ManualClock")
            .field("now", &state.now)
            .field("sleepers", &state.sleepers.len())
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::task::{Context, Waker};

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn is_ready(sleep: &mut Sleep) -> bool {
        sleep
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    }

    #[test]
    fn a_manual_clock_moves_only_when_advanced_and_clones_share_it() {
        let clock = ManualClock::new();
        let start = clock.now();
        let other = clock.clone();
        assert_eq!(clock.now(), start);
        other.advance(250 * MS);
        assert_eq!(clock.now(), start + 250 * MS);
    }

    #[test]
    fn a_manual_sleep_ends_exactly_at_its_deadline() {
        let clock = ManualClock::new();
        clock.advance(10 * MS);
        let mut sleep = clock.sleep(400 * MS);
        assert_eq!(clock.sleepers(), 1);
        assert!(!is_ready(&mut sleep));
        clock.advance(399 * MS);
        assert!(!is_ready(&mut sleep));
        assert_eq!(clock.sleepers(), 1);
        clock.advance(MS);
        assert_eq!(clock.sleepers(), 0);
        assert!(is_ready(&mut sleep));
    }

    #[test]
    fn a_zero_sleep_is_ready_at_once_and_an_endless_one_never_ends() {
        let clock = ManualClock::new();
        let mut zero = clock.sleep(Duration::ZERO);
        assert!(is_ready(&mut zero));
        assert_eq!(clock.sleepers(), 0);
        let mut endless = clock.sleep(Duration::MAX);
        clock.advance(Duration::from_secs(86_400 * 365));
        assert!(!is_ready(&mut endless));
        assert_eq!(clock.sleepers(), 1);
    }

    #[test]
    fn an_abandoned_sleep_is_not_counted() {
        let clock = ManualClock::new();
        let sleep = clock.sleep(MS);
        assert_eq!(clock.sleepers(), 1);
        drop(sleep);
        assert_eq!(clock.sleepers(), 0);
        clock.advance(MS);
    }

    #[tokio::test]
    async fn until_sleeping_waits_for_a_sleep_to_begin() {
        let clock = ManualClock::new();
        let sleeper = clock.clone();
        let task = tokio::spawn(async move {
            tokio::task::yield_now().await;
            sleeper.sleep(5 * MS).await;
        });
        clock.until_sleeping(1).await;
        assert!(!task.is_finished());
        clock.advance(5 * MS);
        task.await.unwrap();
        clock.until_sleeping(0).await;
    }

    #[tokio::test]
    async fn a_tokio_sleep_ends_after_its_duration_on_the_tokio_clock() {
        let clock = TokioClock;
        let start = clock.now();
        clock.sleep(5 * MS).await;
        assert!(clock.now().duration_since(start) >= 5 * MS);
    }
}
