//! Wall-clock time, injectable so that tests and golden files can fix "now".

use std::fmt;

use jiff::Timestamp;

/// A source of the current wall-clock time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock stopped at one instant, for tests and golden files.
#[derive(Clone, Copy)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

impl fmt::Debug for FixedClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FixedClock({})", self.0)
    }
}

/// Seconds since the Unix epoch, with sub-second precision, as Prometheus samples want them.
pub fn unix_seconds(t: Timestamp) -> f64 {
    t.as_nanosecond() as f64 / 1e9
}
