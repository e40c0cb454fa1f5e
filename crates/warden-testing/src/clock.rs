//! A wall clock that follows tokio's time, so a test with paused time moves token expiry, rule
//! lifetimes and authentication ages with `tokio::time::advance` instead of sleeping.

use std::time::SystemTime;

use tokio::time::Instant;
use warden::config::Clock;

/// The wall-clock time at its creation, moved forward as tokio's clock moves: in real time when
/// tokio runs in real time, at once when a test advances paused time.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use warden::config::Clock as _;
/// use warden_testing::TestClock;
///
/// let clock = TestClock::new();
/// let before = clock.now();
/// tokio::time::advance(Duration::from_secs(3600)).await;
/// assert_eq!(clock.now().duration_since(before).unwrap(), Duration::from_secs(3600));
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TestClock {
    wall: SystemTime,
    started: Instant,
}

impl TestClock {
    /// A clock reading the system time now, and following tokio's time from here.
    pub fn new() -> Self {
        TestClock {
            wall: SystemTime::now(),
            started: Instant::now(),
        }
    }
}

impl Default for TestClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        self.wall + self.started.elapsed()
    }
}

/// Seconds since the Unix epoch on the system clock: the one reading of "now" for the tokens,
/// proofs and security events this crate signs.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2))
        .unwrap_or(0)
}
