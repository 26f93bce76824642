//! Poison-tolerant locking, for every simulator mutex.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a mutex, carrying on if a panicking thread poisoned it (the data stays consistent:
/// every critical section in the simulator leaves its data whole).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
