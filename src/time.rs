//! A clock-free instant. The crate never reads a clock: callers pass `now`.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A point in time, in microseconds since an epoch the caller picks.
///
/// Only differences between instants mean anything; the crate never asks
/// what the epoch is.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(0);

    /// `micros` microseconds after the epoch.
    #[inline]
    #[must_use]
    pub const fn from_micros(micros: u64) -> Instant {
        Instant(micros)
    }

    /// `millis` milliseconds after the epoch (saturating).
    #[inline]
    #[must_use]
    pub const fn from_millis(millis: u64) -> Instant {
        Instant(millis.saturating_mul(1000))
    }

    /// `secs` seconds after the epoch (saturating).
    #[inline]
    #[must_use]
    pub const fn from_secs(secs: u64) -> Instant {
        Instant(secs.saturating_mul(1_000_000))
    }

    /// Microseconds since the epoch.
    #[inline]
    #[must_use]
    pub const fn total_micros(self) -> u64 {
        self.0
    }

    /// Milliseconds since the epoch (truncated).
    #[inline]
    #[must_use]
    pub const fn total_millis(self) -> u64 {
        self.0 / 1000
    }

    /// Time from `earlier` to `self`, or zero if `earlier` is later.
    #[inline]
    #[must_use]
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, saturating at the end of time.
    #[inline]
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(duration_micros(d)))
    }
}

/// A duration in whole microseconds, saturating at `u64::MAX`.
#[inline]
pub(crate) fn duration_micros(d: Duration) -> u64 {
    // In u64, not through `as_micros`' u128 (a wide multiply on every call;
    // the RTT estimator and the timers convert on every ACK): the same value,
    // saturating the same way.
    d.as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from(d.subsec_micros()))
}

impl Add<Duration> for Instant {
    type Output = Instant;
    #[inline]
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Instant {
    #[inline]
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: an earlier minus a later instant is zero.
    #[inline]
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        let t = Instant::from_millis(1500);
        assert_eq!(t.total_micros(), 1_500_000);
        assert_eq!(t + Duration::from_millis(500), Instant::from_secs(2));
        assert_eq!(Instant::from_secs(1) - t, Duration::ZERO);
        assert_eq!(t - Instant::from_secs(1), Duration::from_millis(500));
        assert_eq!(
            Instant::from_micros(u64::MAX) + Duration::from_secs(1),
            Instant::from_micros(u64::MAX)
        );
        assert_eq!(format!("{t:?}"), "1.500000s");
    }

    #[test]
    fn duration_micros_truncates_and_saturates_like_as_micros() {
        for d in [
            Duration::ZERO,
            Duration::from_nanos(999),
            Duration::from_nanos(1_999),
            Duration::new(3, 999_999_999),
            Duration::from_secs(u64::MAX / 1_000_000),
            Duration::new(u64::MAX / 1_000_000, 999_999_999),
            Duration::from_secs(u64::MAX / 1_000_000 + 1),
            Duration::MAX,
        ] {
            let want = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
            assert_eq!(duration_micros(d), want, "{d:?}");
        }
    }
}
