//! One clock for the wall-clock time warden reads: token expiry, the lifetime of revocation rules,
//! the age of an authentication. (A rule's own instant, "revoked before now", is read from the
//! system clock when the rule is made, unless `issued_before` sets it.) Injectable ([`ValidatorBuilder::clock`](crate::config::ValidatorBuilder::clock)),
//! so tests move time instead of sleeping. Intervals (key refresh cooldowns, back-off, the group
//! cache's lifetime) use tokio's monotonic `Instant`, which tokio's paused time moves too.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where warden reads the current wall-clock time.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use warden::config::Clock;
///
/// /// A clock an hour ahead, to see which tokens an hour would expire.
/// #[derive(Debug)]
/// struct AnHourAhead;
///
/// impl Clock for AnHourAhead {
///     fn now(&self) -> SystemTime {
///         SystemTime::now() + Duration::from_secs(3600)
///     }
/// }
/// ```
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock: the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Seconds since the Unix epoch. A clock set before 1970 reads as the far future, so every time
/// check fails closed: every token is expired, and no authentication is recent.
pub(crate) fn unix_secs(clock: &dyn Clock) -> u64 {
    clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map_or(FAR_FUTURE, |d| d.as_secs())
}

/// What a clock before 1970 reads as: far beyond any token's `exp`, yet far from overflow.
const FAR_FUTURE: u64 = u64::MAX / 2;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[derive(Debug)]
    struct Before1970;

    impl Clock for Before1970 {
        fn now(&self) -> SystemTime {
            UNIX_EPOCH - Duration::from_secs(1)
        }
    }

    #[test]
    fn a_clock_before_1970_reads_as_the_far_future() {
        assert_eq!(unix_secs(&Before1970), FAR_FUTURE);
        assert!(unix_secs(&SystemClock) > 1_700_000_000);
    }
}
