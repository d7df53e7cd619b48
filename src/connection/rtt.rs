//! RFC 6298 round-trip estimator and retransmission timeout.

use crate::config::Config;
use core::time::Duration;

/// No sample yet (for `srtt` and `min_rtt`: samples are capped far below).
const NONE: u32 = u32::MAX;

/// Samples are capped at ten minutes (in µs), so SRTT and RTTVAR fit 32 bits.
const MAX_SAMPLE: u64 = 600_000_000;

/// A bound of [`RttEstimator`] that does not fit 32 bits of µs (above 71
/// minutes): it is read from the configuration (exact, and never on a
/// sane configuration's path).
const FAR: u32 = u32::MAX;

/// `d` in µs for a bound of [`RttEstimator`], [`FAR`] when it does not fit
/// below it.
fn bound(d: Duration) -> u32 {
    u32::try_from(micros(d)).unwrap_or(FAR)
}

/// SRTT, RTTVAR and the RTO with its backoff (RFC 6298 §2, §5), kept in
/// whole microseconds so that the per-ACK update is integer arithmetic.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RttEstimator {
    /// SRTT, [`NONE`] until measured.
    srtt: u32,
    rttvar: u32,
    /// Smallest sample so far (for congestion control), [`NONE`] until measured.
    min_rtt: u32,
    /// `Config::rttvar_floor` and `Config::min_rto` in µs, converted once
    /// (a `ValidConfig` holds them with the rest of `Init`), or [`FAR`]:
    /// then read from the configuration on each sample.
    rttvar_floor: u32,
    min_rto: u32,
    /// `Config::delayed_ack` in µs, 0 for none: validated below 500 ms, so
    /// 24 bits hold it (in what would be padding here). Not the RTT's,
    /// but the other timer a segment arms from the configuration.
    delayed_ack: [u8; 3],
    /// Number of doublings in force (RFC 6298 (5.5)); reset by a new
    /// sample. It saturates at 255: only `min(16)` of it is ever used, and
    /// `tcp_info` reports it in a u8.
    backoff: u8,
    /// The RTO before backoff; never above `Config::max_rto`, so that
    /// without backoff it is the RTO in force and arming the retransmission
    /// timer reads nothing else. (`max_rto` is read from the configuration
    /// the estimator was made from.)
    base_rto: u64,
}

fn micros(d: Duration) -> u64 {
    crate::time::duration_micros(d)
}

impl RttEstimator {
    #[inline]
    pub(crate) fn new(cfg: &Config) -> RttEstimator {
        RttEstimator {
            srtt: NONE,
            rttvar: 0,
            min_rtt: NONE,
            rttvar_floor: bound(cfg.rttvar_floor),
            min_rto: bound(cfg.min_rto),
            delayed_ack: {
                let us = cfg.delayed_ack.map_or(0, micros);
                debug_assert!(us < 1 << 24, "delayed_ack is validated below 500 ms");
                let [a, b, c, _] = (us as u32).to_le_bytes();
                [a, b, c]
            },
            base_rto: micros(cfg.initial_rto.min(cfg.max_rto)),
            backoff: 0,
        }
    }

    /// Reads the bounds again from `cfg` (tests that change a
    /// configuration under an estimator).
    #[cfg(test)]
    fn rebound(&mut self, cfg: &Config) {
        self.rttvar_floor = bound(cfg.rttvar_floor);
        self.min_rto = bound(cfg.min_rto);
    }

    /// Feeds one RTT measurement (RFC 6298 (2.2)/(2.3)); clears the backoff.
    /// `cfg` is the configuration the estimator was made from.
    #[cfg(test)]
    pub(crate) fn sample(&mut self, r: Duration, cfg: &Config) {
        self.sample_us(micros(r), cfg);
    }

    /// [`sample`](Self::sample) with the measurement in µs (the per-ACK
    /// form: no `Duration` on the way).
    #[inline]
    pub(crate) fn sample_us(&mut self, r: u64, cfg: &Config) {
        // Samples are capped at ten minutes, so nothing below can overflow
        // (the sums are taken in 64 bits; SRTT and RTTVAR stay ≤ the cap).
        let r = r.min(MAX_SAMPLE);
        let (srtt, rttvar) = if self.srtt == NONE {
            (r, r / 2)
        } else {
            let srtt = u64::from(self.srtt);
            // RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|; SRTT = 7/8 SRTT + 1/8 R'.
            (
                (srtt * 7 + r) / 8,
                (u64::from(self.rttvar) * 3 + srtt.abs_diff(r)) / 4,
            )
        };
        self.srtt = srtt as u32;
        self.rttvar = rttvar as u32;
        self.min_rtt = self.min_rtt.min(r as u32);
        // RFC 6298 (2.3)/(2.4): RTO = SRTT + max(G, K·RTTVAR), at least the minimum.
        let floor = if self.rttvar_floor != FAR {
            u64::from(self.rttvar_floor)
        } else {
            micros(cfg.rttvar_floor)
        };
        let rto = srtt + (rttvar * 4).max(floor);
        // Raised to `min_rto`, then capped at `max_rto` (2.5): the cap wins
        // should `min_rto > max_rto` (validation forbids it). Below the
        // whole seconds of `max_rto` no cap applies, so the exact conversion
        // of `max_rto` is needed only near it.
        let min_rto = if self.min_rto != FAR {
            u64::from(self.min_rto)
        } else {
            micros(cfg.min_rto)
        };
        let rto = rto.max(min_rto);
        let below = cfg.max_rto.as_secs().saturating_mul(1_000_000);
        self.base_rto = if rto < below {
            rto
        } else {
            rto.min(micros(cfg.max_rto))
        };
        self.backoff = 0;
    }

    /// The RTO in force, backoff included (RFC 6298 (5.5), capped (2.5)).
    /// `cfg` is the configuration the estimator was made from.
    pub(crate) fn rto(&self, cfg: &Config) -> Duration {
        Duration::from_micros(self.rto_micros(cfg))
    }

    /// The RTO before backoff, µs: the least [`rto_micros`](Self::rto_micros) can be.
    #[inline]
    pub(crate) fn base_rto_micros(&self) -> u64 {
        self.base_rto
    }

    /// [`rto`](Self::rto) in microseconds.
    #[inline]
    pub(crate) fn rto_micros(&self, cfg: &Config) -> u64 {
        if self.backoff == 0 {
            // `base_rto ≤ max_rto` (see the field).
            return self.base_rto;
        }
        let shift = u32::from(self.backoff.min(16));
        self.base_rto
            .saturating_mul(1 << shift)
            .min(micros(cfg.max_rto))
    }

    /// `Config::delayed_ack` in µs (the configuration the estimator was
    /// made from; validated, so below 500 ms), 0 for none.
    #[inline(always)]
    pub(crate) fn delayed_ack_micros(&self) -> u64 {
        let [a, b, c] = self.delayed_ack;
        u64::from(u32::from_le_bytes([a, b, c, 0]))
    }

    /// Doubles the RTO after an expiry (RFC 6298 (5.5)).
    pub(crate) fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// Lowers the doublings to the fewest whose RTO still covers a round
    /// trip measured as at most `r` µs, without taking it as a sample (see
    /// `take_sack_rtt_sample`): RFC 6298 (5.5) doubles the RTO because it
    /// seemed too short; a measurement shows how long it needs to be.
    pub(crate) fn limit_backoff_to(&mut self, r: u64) {
        let mut k = 0u8;
        while k < self.backoff && self.base_rto.saturating_mul(1 << k.min(16)) < r {
            k += 1;
        }
        self.backoff = k;
    }

    /// Undoes one doubling (RFC 6069: the network said it is unreachable,
    /// not congested).
    pub(crate) fn undo_back_off(&mut self) {
        self.backoff = self.backoff.saturating_sub(1);
    }

    /// Doublings in force (Linux `icsk_backoff`).
    pub(crate) fn backoff(&self) -> u8 {
        self.backoff
    }

    pub(crate) fn srtt(&self) -> Option<Duration> {
        (self.srtt != NONE).then(|| Duration::from_micros(u64::from(self.srtt)))
    }

    /// [`srtt`](Self::srtt) in microseconds (what it is kept in).
    #[inline]
    pub(crate) fn srtt_micros(&self) -> Option<u32> {
        (self.srtt != NONE).then_some(self.srtt)
    }

    /// [`min_rtt`](Self::min_rtt) in microseconds.
    #[inline]
    pub(crate) fn min_rtt_micros(&self) -> Option<u32> {
        (self.min_rtt != NONE).then_some(self.min_rtt)
    }

    #[cfg(test)]
    pub(crate) fn min_rtt(&self) -> Option<Duration> {
        (self.min_rtt != NONE).then(|| Duration::from_micros(u64::from(self.min_rtt)))
    }

    pub(crate) fn rttvar(&self) -> Duration {
        Duration::from_micros(u64::from(self.rttvar))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_sets_srtt_and_half_variance() {
        let cfg = Config::rfc9293();
        let mut r = RttEstimator::new(&cfg);
        assert_eq!(r.rto(&cfg), Duration::from_secs(1));
        r.sample(Duration::from_millis(100), &cfg);
        assert_eq!(r.srtt(), Some(Duration::from_millis(100)));
        assert_eq!(r.rttvar(), Duration::from_millis(50));
        // 100 + 4·50 = 300 ms, raised to the 1 s minimum of RFC 6298 (2.4).
        assert_eq!(r.rto(&cfg), Duration::from_secs(1));
    }

    #[test]
    fn linux_rto_is_srtt_plus_max_of_4_rttvar_and_200ms() {
        let cfg = Config::linux();
        let mut r = RttEstimator::new(&cfg);
        r.sample(Duration::from_millis(10), &cfg);
        assert_eq!(r.rto(&cfg), Duration::from_millis(210));
        for _ in 0..50 {
            r.sample(Duration::from_millis(10), &cfg);
        }
        assert_eq!(r.rto(&cfg), Duration::from_millis(210));
        r.sample(Duration::from_millis(500), &cfg);
        // RFC 6298 (2.3): RTTVAR = 3/4·~0 + 1/4·490 = 122.5 ms, SRTT = (7·10 + 500)/8
        // = 71.25 ms, RTO = 71.25 + 4·122.5 = 561.25 ms.
        let rto = r.rto(&cfg);
        assert!(
            rto > Duration::from_millis(560) && rto < Duration::from_millis(562),
            "{rto:?}"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_a_sample_clears_it() {
        let cfg = Config::linux();
        let mut r = RttEstimator::new(&cfg);
        for _ in 0..10 {
            r.back_off();
        }
        assert_eq!(r.rto(&cfg), Duration::from_secs(120));
        r.sample(Duration::from_millis(10), &cfg);
        assert_eq!(r.rto(&cfg), Duration::from_millis(210));
    }

    #[test]
    fn a_measured_round_trip_limits_the_backoff_to_the_doublings_that_cover_it() {
        let cfg = Config::linux();
        let mut r = RttEstimator::new(&cfg);
        r.sample(Duration::from_millis(100), &cfg); // RTO 300 ms.
        for _ in 0..4 {
            r.back_off();
        }
        assert_eq!(r.rto(&cfg), Duration::from_millis(4_800));
        r.limit_backoff_to(500_000); // Needs one doubling (600 ms).
        assert_eq!((r.backoff(), r.rto(&cfg)), (1, Duration::from_millis(600)));
        r.limit_backoff_to(5_000_000); // Never raised.
        assert_eq!(r.backoff(), 1);
        r.limit_backoff_to(300_000); // The base covers it.
        assert_eq!((r.backoff(), r.rto(&cfg)), (0, Duration::from_millis(300)));
        assert_eq!(r.srtt(), Some(Duration::from_millis(100)), "not a sample");
    }

    #[test]
    fn without_backoff_the_rto_is_the_base_already_capped_by_max_rto() {
        let mut cfg = Config::linux();
        cfg.initial_rto = Duration::from_secs(200);
        cfg.max_rto = Duration::from_secs(60);
        cfg.rttvar_floor = Duration::from_secs(100);
        let mut r = RttEstimator::new(&cfg);
        assert_eq!(r.rto(&cfg), Duration::from_secs(60));
        r.sample(Duration::from_millis(10), &cfg);
        assert_eq!(r.base_rto, 60_000_000);
        assert_eq!(r.rto(&cfg), Duration::from_secs(60));
        r.back_off();
        assert_eq!(r.rto(&cfg), Duration::from_secs(60));
        cfg.rttvar_floor = Duration::from_millis(1);
        r.rebound(&cfg);
        r.sample(Duration::from_millis(10), &cfg);
        r.back_off();
        assert_eq!(
            r.rto(&cfg),
            Duration::from_millis(400),
            "2 x 200 ms minimum"
        );
    }

    #[test]
    fn the_cap_wins_over_the_minimum_and_applies_below_a_whole_second() {
        // Unvalidated: min_rto above max_rto.
        let mut cfg = Config::linux();
        cfg.min_rto = Duration::from_secs(10);
        cfg.max_rto = Duration::from_millis(5_500);
        let mut r = RttEstimator::new(&cfg);
        r.sample(Duration::from_millis(10), &cfg);
        assert_eq!(r.rto(&cfg), Duration::from_millis(5_500));
        // An RTO between the whole seconds of max_rto and max_rto itself.
        cfg.min_rto = Duration::from_millis(200);
        cfg.rttvar_floor = Duration::from_millis(5_200);
        r.rebound(&cfg);
        r.sample(Duration::from_millis(200), &cfg);
        // SRTT 7/8·10 + 1/8·200 = 33.75 ms; RTTVAR 3/4·5 + 1/4·190 = 51.25 ms.
        assert_eq!(r.rto(&cfg), Duration::from_micros(33_750 + 5_200_000));
        cfg.rttvar_floor = Duration::from_millis(5_490);
        r.rebound(&cfg);
        r.sample(Duration::from_millis(33), &cfg);
        assert_eq!(r.rto(&cfg), Duration::from_millis(5_500));
    }

    /// The estimate as RFC 6298 computes it from the configuration's
    /// `Duration`s (what the estimator did before it kept the bounds in µs).
    fn reference(srtt: u64, rttvar: u64, cfg: &Config) -> u64 {
        (srtt + (rttvar * 4).max(micros(cfg.rttvar_floor)))
            .max(micros(cfg.min_rto))
            .min(micros(cfg.max_rto))
    }

    #[test]
    fn bounds_beyond_32_bits_of_microseconds_are_read_from_the_configuration() {
        let far = u64::from(u32::MAX);
        // Around the 32-bit limit of the kept bounds (71 min 34.967295 s).
        for floor in [far - 1, far, far + 1, 3 * far] {
            for min in [1, far - 1, far, far + 1, 2 * far] {
                let mut cfg = Config::linux();
                cfg.rttvar_floor = Duration::from_micros(floor);
                cfg.min_rto = Duration::from_micros(min);
                cfg.max_rto = Duration::from_micros(4 * far + 7);
                cfg.initial_rto = Duration::from_secs(1);
                let mut r = RttEstimator::new(&cfg);
                r.sample(Duration::from_millis(10), &cfg);
                assert_eq!(r.base_rto, reference(10_000, 5_000, &cfg), "{floor} {min}");
                r.sample(Duration::from_millis(30), &cfg);
                let (s, v) = (u64::from(r.srtt), u64::from(r.rttvar));
                assert_eq!(r.rto_micros(&cfg), reference(s, v, &cfg), "{floor} {min}");
            }
        }
        // A floor below the limit and a minimum above it, the cap between.
        let mut cfg = Config::linux();
        cfg.rttvar_floor = Duration::from_millis(1);
        cfg.min_rto = Duration::from_micros(far + 5);
        cfg.max_rto = Duration::from_micros(far + 3);
        let mut r = RttEstimator::new(&cfg);
        r.sample(Duration::from_millis(10), &cfg);
        assert_eq!(r.rto_micros(&cfg), far + 3);
        assert_eq!((r.rttvar_floor, r.min_rto), (1_000, FAR));
    }

    #[test]
    fn the_delayed_ack_time_is_kept_exactly_in_microseconds() {
        let mut cfg = Config::linux();
        for d in [
            Some(Duration::from_micros(1)),
            Some(Duration::from_millis(40)),
            Some(Duration::from_nanos(123_456_789)),
            Some(Duration::from_micros(499_999)),
            None,
        ] {
            cfg.delayed_ack = d;
            let r = RttEstimator::new(&cfg);
            assert_eq!(r.delayed_ack_micros(), d.map_or(0, micros), "{d:?}");
        }
    }

    #[test]
    fn samples_at_the_ten_minute_cap_do_not_overflow() {
        let cfg = Config::linux();
        let mut r = RttEstimator::new(&cfg);
        for _ in 0..20 {
            r.sample(Duration::from_secs(3600), &cfg);
        }
        assert_eq!(r.srtt(), Some(Duration::from_secs(600)));
        assert_eq!(r.min_rtt(), Some(Duration::from_secs(600)));
        assert_eq!(r.rto(&cfg), Duration::from_secs(120));
        r.sample(Duration::from_micros(1), &cfg);
        assert_eq!(r.min_rtt(), Some(Duration::from_micros(1)));
        assert!(r.srtt() < Some(Duration::from_secs(600)));
    }
}
