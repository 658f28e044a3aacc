//! The library's only reading of the wall clock.
//!
//! Token lifetimes (`exp`, `nbf`, `iat`), the key set's age and the login state's expiry are
//! all wall-clock times, so every check that compares against "now" takes it as an argument
//! and this module is the one place that reads it. A request reads it once.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, as a float so fractional NumericDates compare exactly. A clock set
/// before 1970 reads as 0.
pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Whole seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    now() as u64
}
