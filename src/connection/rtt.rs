//! RFC 6298 round-trip estimator and retransmission timeout.

use crate::config::Config;
use core::time::Duration;

/// SRTT, RTTVAR and the RTO with its backoff (RFC 6298 §2, §5).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    /// The RTO before backoff.
    base_rto: Duration,
    /// Number of doublings in force (RFC 6298 (5.5)); reset by a new sample.
    backoff: u32,
    min_rto: Duration,
    max_rto: Duration,
    rttvar_floor: Duration,
}

impl RttEstimator {
    pub(crate) fn new(cfg: &Config) -> RttEstimator {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            base_rto: cfg.initial_rto.min(cfg.max_rto),
            backoff: 0,
            min_rto: cfg.min_rto,
            max_rto: cfg.max_rto,
            rttvar_floor: cfg.rttvar_floor,
        }
    }

    /// Feeds one RTT measurement (RFC 6298 (2.2)/(2.3)); clears the backoff.
    pub(crate) fn sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                // RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|; SRTT = 7/8 SRTT + 1/8 R'.
                let delta = srtt.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + r) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        // RFC 6298 (2.3)/(2.4): RTO = SRTT + max(G, K·RTTVAR), at least the minimum.
        let rto = srtt + (self.rttvar * 4).max(self.rttvar_floor);
        self.base_rto = rto.clamp(self.min_rto, self.max_rto);
        self.backoff = 0;
    }

    /// The RTO in force, backoff included (RFC 6298 (5.5), capped (2.5)).
    pub(crate) fn rto(&self) -> Duration {
        let shift = self.backoff.min(16);
        self.base_rto.saturating_mul(1 << shift).min(self.max_rto)
    }

    /// Doubles the RTO after an expiry (RFC 6298 (5.5)).
    pub(crate) fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    pub(crate) fn rttvar(&self) -> Duration {
        self.rttvar
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_sets_srtt_and_half_variance() {
        let mut r = RttEstimator::new(&Config::rfc9293());
        assert_eq!(r.rto(), Duration::from_secs(1));
        r.sample(Duration::from_millis(100));
        assert_eq!(r.srtt(), Some(Duration::from_millis(100)));
        assert_eq!(r.rttvar(), Duration::from_millis(50));
        // 100 + 4·50 = 300 ms, raised to the 1 s minimum of RFC 6298 (2.4).
        assert_eq!(r.rto(), Duration::from_secs(1));
    }

    #[test]
    fn linux_rto_is_srtt_plus_max_of_4_rttvar_and_200ms() {
        let mut r = RttEstimator::new(&Config::linux());
        r.sample(Duration::from_millis(10));
        assert_eq!(r.rto(), Duration::from_millis(210));
        for _ in 0..50 {
            r.sample(Duration::from_millis(10));
        }
        assert_eq!(r.rto(), Duration::from_millis(210));
        r.sample(Duration::from_millis(500));
        // RFC 6298 (2.3): RTTVAR = 3/4·~0 + 1/4·490 = 122.5 ms, SRTT = (7·10 + 500)/8
        // = 71.25 ms, RTO = 71.25 + 4·122.5 = 561.25 ms.
        let rto = r.rto();
        assert!(
            rto > Duration::from_millis(560) && rto < Duration::from_millis(562),
            "{rto:?}"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_a_sample_clears_it() {
        let mut r = RttEstimator::new(&Config::linux());
        for _ in 0..10 {
            r.back_off();
        }
        assert_eq!(r.rto(), Duration::from_secs(120));
        r.sample(Duration::from_millis(10));
        assert_eq!(r.rto(), Duration::from_millis(210));
    }
}
