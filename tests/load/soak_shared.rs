//! What the soak test's two programs share: the provider (`mock_idp.rs`) and the load client
//! (`soak_client.rs`) each include this file (`mod soak_shared;`).

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch: the one clock of the soak test. The provider stamps its
/// key-set log with it and the client its requests and answers, and the oracle compares the two
/// across processes, so both must read it the same way.
pub fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Locks `mutex` even if a thread panicked while holding it: every critical section of both
/// programs pushes, copies, replaces or reads a value, so a panic cannot leave one half-written.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
