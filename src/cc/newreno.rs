//! NewReno: slow start, congestion avoidance, fast recovery (RFC 5681, RFC 6582).

use super::{AckSample, CongestionControl, recovery};
use crate::time::Instant;

/// NewReno congestion control.
#[derive(Clone, Copy, Debug)]
pub struct NewReno {
    pub(super) cwnd: u32,
    ssthresh: u32,
    /// Octets acknowledged in congestion avoidance since cwnd last grew.
    bytes_acked: u32,
    /// Most SMSS one ACK adds in slow start (RFC 3465's L); 0: no limit.
    ss_limit: u32,
    /// cwnd and ssthresh before the last loss reduction (cwnd 0: none), to
    /// undo a spurious one.
    prior: [u32; 2],
}

impl NewReno {
    /// A controller with an initial window of `initial_window` segments (RFC 5681 §3.1, RFC 6928).
    pub fn new(initial_window: u32, mss: u32) -> NewReno {
        NewReno {
            cwnd: initial_window.saturating_mul(mss),
            ssthresh: u32::MAX,
            bytes_acked: 0,
            ss_limit: 1,
            prior: [0; 2],
        }
    }

    /// Sets the slow-start growth limit per ACK in segments (RFC 3465's
    /// L; RFC 5681 uses 1); 0 lets an ACK add every segment it covers, as
    /// Linux's `tcp_slow_start`.
    pub fn with_slow_start_limit(mut self, segments: u32) -> NewReno {
        self.ss_limit = segments;
        self
    }
}

impl CongestionControl for NewReno {
    fn cwnd(&self) -> u32 {
        self.cwnd
    }

    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    fn reset(&mut self, initial_window: u32, mss: u32) {
        *self = NewReno::new(initial_window, mss).with_slow_start_limit(self.ss_limit);
    }

    fn on_ack(&mut self, _now: Instant, ack: &AckSample) {
        let (acked, mss) = (ack.acked, ack.mss);
        if self.cwnd < self.ssthresh {
            // RFC 5681 (2): grow by at most SMSS per ACK (appropriate byte
            // counting, L = 1, RFC 3465); L is configurable, 0 lifts it.
            let grow = match self.ss_limit {
                0 => acked,
                l => acked.min(mss.saturating_mul(l)),
            };
            self.cwnd = self.cwnd.saturating_add(grow);
        } else {
            // RFC 5681 (3) with byte counting (RFC 3465): one SMSS per cwnd of data acknowledged.
            self.bytes_acked = self.bytes_acked.saturating_add(acked);
            if self.bytes_acked >= self.cwnd {
                self.bytes_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(mss);
            }
        }
    }

    fn on_fast_retransmit(&mut self, _now: Instant, flight: u32, mss: u32) {
        // RFC 5681 (4) and §3.2 step 3.
        self.prior = [self.cwnd, self.ssthresh];
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = recovery::enter(self.ssthresh, mss);
        self.bytes_acked = 0;
    }

    fn on_dup_ack_in_recovery(&mut self, mss: u32) {
        self.cwnd = self.cwnd.saturating_add(mss);
    }

    fn on_partial_ack(&mut self, acked: u32, mss: u32) {
        self.cwnd = recovery::partial_ack(self.cwnd, acked, mss);
    }

    fn on_recovery_end(&mut self, flight: u32, mss: u32) {
        self.cwnd = recovery::end(self.ssthresh, flight, mss);
    }

    fn set_window(&mut self, cwnd: u32, ssthresh: u32) {
        self.cwnd = cwnd;
        self.ssthresh = ssthresh;
        self.bytes_acked = 0;
    }

    fn on_rto(&mut self, _now: Instant, flight: u32, mss: u32) {
        // RFC 5681 (4) and §3.1: cwnd = loss window = 1 SMSS.
        if self.cwnd > mss {
            // Not a repeated timeout: that one's undo state stays.
            self.prior = [self.cwnd, self.ssthresh];
        }
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = mss;
        self.bytes_acked = 0;
    }

    fn on_ecn(&mut self, _now: Instant, flight: u32, mss: u32) {
        // RFC 3168 §6.1.2: halve as for a loss, no retransmission, no inflation.
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = self.ssthresh;
        self.bytes_acked = 0;
        self.prior = [0; 2];
    }

    fn on_spurious_congestion(&mut self, _now: Instant) {
        let [cwnd, ssthresh] = self.prior;
        if cwnd != 0 {
            // RFC 3708 §5 / RFC 4015: the reduction was for nothing.
            self.prior = [0; 2];
            self.cwnd = self.cwnd.max(cwnd);
            self.ssthresh = self.ssthresh.max(ssthresh);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_avoidance_then_halving() {
        let mss = 1000;
        let mut c = NewReno::new(10, mss);
        assert_eq!(c.cwnd(), 10_000);
        c.on_ack(Instant::ZERO, &AckSample::new(1000, 10_000, mss));
        assert_eq!(c.cwnd(), 11_000);
        c.on_fast_retransmit(Instant::ZERO, 20_000, mss);
        assert_eq!(c.ssthresh(), 10_000);
        assert_eq!(c.cwnd(), 13_000);
        c.on_dup_ack_in_recovery(mss);
        assert_eq!(c.cwnd(), 14_000);
        c.on_partial_ack(3000, mss);
        assert_eq!(c.cwnd(), 12_000);
        c.on_recovery_end(5_000, mss);
        assert_eq!(c.cwnd(), 6_000);
        // Congestion avoidance: cwnd grows by one MSS per cwnd acknowledged.
        c.on_rto(Instant::ZERO, 12_000, mss);
        assert_eq!((c.cwnd(), c.ssthresh()), (1000, 6000));
        for _ in 0..5 {
            c.on_ack(Instant::ZERO, &AckSample::new(1000, 1000, mss));
        }
        assert_eq!(c.cwnd(), 6000);
        for _ in 0..6 {
            c.on_ack(Instant::ZERO, &AckSample::new(1000, 6000, mss));
        }
        assert_eq!(c.cwnd(), 7000);
    }
}

#[cfg(test)]
mod slow_start_limit_tests {
    use super::*;
    use crate::cc::{AckSample, CongestionControl, Cubic};

    #[test]
    fn slow_start_growth_per_ack_follows_the_limit() {
        let mss = 1000;
        let ack = AckSample::new(10_000, 0, mss);
        // RFC 5681: one SMSS per ACK, however much it covers.
        let mut c = NewReno::new(10, mss);
        c.on_ack(Instant::ZERO, &ack);
        assert_eq!(c.cwnd(), 11_000);
        // RFC 3465 with L = 2.
        let mut c = NewReno::new(10, mss).with_slow_start_limit(2);
        c.on_ack(Instant::ZERO, &ack);
        assert_eq!(c.cwnd(), 12_000);
        // Linux: every segment acknowledged; one ACK of the IW doubles it.
        let mut c = NewReno::new(10, mss).with_slow_start_limit(0);
        c.on_ack(Instant::ZERO, &ack);
        assert_eq!(c.cwnd(), 20_000);
        // The limit survives the reset after the handshake.
        c.reset(10, mss);
        c.on_ack(Instant::ZERO, &ack);
        assert_eq!(c.cwnd(), 20_000);
        // CUBIC's slow start (HyStart++): RFC 9406's L = 8, or none.
        let mut c = Cubic::new(10, mss);
        c.on_ack(Instant::ZERO, &ack);
        assert_eq!(c.cwnd(), 18_000);
        let mut c = Cubic::new(10, mss).with_slow_start_limit(0);
        c.on_ack(Instant::ZERO, &ack);
        assert_eq!(c.cwnd(), 20_000);
    }
}
