//! RACK-TLP (RFC 8985): time-based loss detection and tail loss probes.
//!
//! RACK deems a segment lost once a segment sent after it was delivered
//! and it has been outstanding longer than the latest RTT plus a
//! reordering window. The connection owns the per-segment send times (in
//! its retransmission queue); this keeps RACK's own variables, the
//! windowed minimum RTT and the probe timeout.

use crate::seq::SeqNum;
use crate::time::Instant;
use core::time::Duration;

/// How long a minimum RTT sample stays valid (Linux `tcp_min_rtt_wlen`: 300 s).
const MIN_RTT_WINDOW: Duration = Duration::from_secs(300);
/// [`MIN_RTT_WINDOW`] in µs.
const MIN_RTT_WINDOW_US: u64 = MIN_RTT_WINDOW.as_secs() * 1_000_000;

/// Most recoveries a reordering window widened by D-SACK persists (RFC 8985 §6.2 step 4).
const REO_WND_PERSIST: u8 = 16;

/// Worst-case delayed ACK added to the probe timeout when one segment is
/// in flight (RFC 8985 §7.2, WCDelAckT), µs.
const WC_DEL_ACK_US: u64 = 200_000;

/// No time recorded (for `xmit_ts` and `min_rtt`, kept in whole
/// microseconds as every time here is; `Option`s would double their size).
const NONE: u64 = u64::MAX;

/// RACK's state for one connection: what every delivery updates. What
/// only reordering and D-SACKs change is [`Reordering`], kept apart (a
/// connection keeps it in its cold state: a clean path never writes it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rack {
    /// RACK.xmit_ts, µs: send time of the most recently sent segment
    /// delivered; [`NONE`] before any.
    xmit_ts: u64,
    /// RACK.end_seq: its end.
    end_seq: SeqNum,
    /// RACK.rtt, µs: the RTT measured from that segment (saturating at
    /// ~71 minutes, far above any RTO cap).
    rtt: u32,
    /// Windowed minimum RTT, µs ([`NONE`] before any sample), and when it was taken.
    min_rtt: u64,
    min_rtt_at: Instant,
}

impl Default for Rack {
    fn default() -> Self {
        Rack {
            xmit_ts: NONE,
            end_seq: SeqNum(0),
            rtt: 0,
            min_rtt: NONE,
            min_rtt_at: Instant::ZERO,
        }
    }
}

/// RACK's reordering state: whether the path reorders, and the widening
/// of the reordering window by D-SACKs (RFC 8985 §6.2 steps 3 and 4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reordering {
    /// RACK.reordering_seen: an original transmission was delivered below
    /// the highest SACKed octet (RFC 8985 §6.2 step 3).
    reordering_seen: bool,
    /// RACK.dsack_round: the D-SACK round in progress ends when SND.UNA
    /// reaches this (`dsack_round_on`).
    dsack_round: SeqNum,
    dsack_round_on: bool,
    /// Multiplier of min_RTT/4 for the reordering window, raised by D-SACKs.
    reo_wnd_mult: u8,
    /// Recoveries left before the multiplier falls back to 1.
    reo_wnd_persist: u8,
}

impl Reordering {
    /// Nothing seen (the default).
    pub(crate) const NONE: Reordering = Reordering {
        reordering_seen: false,
        dsack_round: SeqNum(0),
        dsack_round_on: false,
        reo_wnd_mult: 0,
        reo_wnd_persist: 0,
    };

    /// A D-SACK arrived (a retransmission was needless: the path reorders,
    /// or delayed what it was thought to have lost): widen the reordering
    /// window by one step per round trip that saw a D-SACK (RFC 8985 §6.2
    /// step 4: the round ends when SND.UNA passes the SND.NXT of its first).
    pub(crate) fn on_dsack(&mut self, snd_una: SeqNum, snd_nxt: SeqNum) {
        if self.dsack_round_on && snd_una.ge(self.dsack_round) {
            self.dsack_round_on = false;
        }
        if !self.dsack_round_on {
            self.dsack_round_on = true;
            self.dsack_round = snd_nxt;
            self.reo_wnd_mult = (self.reo_wnd_mult.max(1) + 1).min(8);
            self.reo_wnd_persist = REO_WND_PERSIST;
        }
    }

    /// An original transmission was delivered below the highest SACKed
    /// octet: the path reorders (RFC 8985 §6.2 step 3).
    pub(crate) fn on_reordering(&mut self) {
        self.reordering_seen = true;
    }

    /// A recovery ended: a widened window decays after 16 of them.
    pub(crate) fn on_recovery_end(&mut self) {
        if self.reo_wnd_persist > 0 {
            self.reo_wnd_persist -= 1;
            if self.reo_wnd_persist == 0 {
                self.reo_wnd_mult = 1;
            }
        }
    }

    /// Whether no reordering was seen: DupThresh then applies as well.
    pub(crate) fn reordering_seen(&self) -> bool {
        self.reordering_seen
    }
}

/// Whole microseconds of a duration (every duration here is one).
#[cfg(test)]
fn us(d: Duration) -> u64 {
    crate::time::duration_micros(d)
}

impl Rack {
    /// The windowed minimum RTT, once sampled.
    fn min_rtt(&self) -> Option<Duration> {
        (self.min_rtt != NONE).then(|| Duration::from_micros(self.min_rtt))
    }

    /// A segment ending at `end`, last sent at `xmit` (`rtx`: it had been
    /// retransmitted), was delivered (acknowledged or SACKed) at `now`
    /// (RFC 8985 §6.2 step 2).
    #[inline]
    pub(crate) fn on_delivered(&mut self, now: Instant, xmit: Instant, rtx: bool, end: SeqNum) {
        // In whole microseconds (`now - xmit`, saturating), as every time here.
        let rtt = now.total_micros().saturating_sub(xmit.total_micros());
        if rtx && self.min_rtt != NONE && rtt < self.min_rtt {
            // Delivered sooner than any RTT: the original, not this
            // retransmission, arrived (RFC 8985 §6.2 step 2, ambiguity).
            return;
        }
        let x = xmit.total_micros().min(NONE - 1);
        let newer =
            self.xmit_ts == NONE || x > self.xmit_ts || (x == self.xmit_ts && end.gt(self.end_seq));
        if newer {
            self.xmit_ts = x;
            self.end_seq = end;
            self.rtt = u32::try_from(rtt).unwrap_or(u32::MAX);
        }
    }

    /// A valid RTT sample for the windowed minimum.
    #[cfg(test)]
    pub(crate) fn on_rtt_sample(&mut self, now: Instant, rtt: Duration) {
        self.on_rtt_sample_us(now, us(rtt));
    }

    /// [`on_rtt_sample`](Self::on_rtt_sample) with the sample in µs (the
    /// per-ACK form: no `Duration` on the way).
    #[inline]
    pub(crate) fn on_rtt_sample_us(&mut self, now: Instant, rtt: u64) {
        let stale = self.min_rtt == NONE
            || rtt <= self.min_rtt
            || now
                .total_micros()
                .saturating_sub(self.min_rtt_at.total_micros())
                > MIN_RTT_WINDOW_US;
        if stale {
            self.min_rtt = rtt.min(NONE - 1);
            self.min_rtt_at = now;
        }
    }

    /// RACK.reo_wnd (RFC 8985 §6.2 step 4): until reordering is seen,
    /// zero in recovery (`recovering`: fast or after an RTO) and once
    /// DupThresh segments are SACKed (`dupthresh_sacked`), as DupThresh
    /// itself would act; otherwise min_RTT/4 times the multiplier, at most
    /// SRTT.
    pub(crate) fn reo_wnd(
        &self,
        reo: &Reordering,
        srtt: Option<Duration>,
        recovering: bool,
        dupthresh_sacked: bool,
    ) -> Duration {
        if !reo.reordering_seen && (recovering || dupthresh_sacked) {
            return Duration::ZERO;
        }
        let Some(m) = self.min_rtt() else {
            return Duration::ZERO;
        };
        let w = m / 4 * u32::from(reo.reo_wnd_mult.max(1));
        srtt.map_or(w, |s| w.min(s))
    }

    /// For a segment last sent at `xmit` and not delivered: `None` when it
    /// was sent after the latest delivered segment (nothing known yet),
    /// else how long until it counts as lost (zero: lost now; RFC 8985 §6.2
    /// step 5).
    pub(crate) fn time_to_loss(
        &self,
        now: Instant,
        xmit: Instant,
        end: SeqNum,
        reo_wnd: Duration,
    ) -> Option<Duration> {
        if self.xmit_ts == NONE {
            return None;
        }
        let (t, x) = (self.xmit_ts, xmit.total_micros().min(NONE - 1));
        if !(t > x || (t == x && self.end_seq.gt(end))) {
            return None;
        }
        let deadline = xmit + Duration::from_micros(u64::from(self.rtt)) + reo_wnd;
        Some(if deadline <= now && now > xmit {
            Duration::ZERO
        } else if deadline <= now {
            // No time at all has passed since it was sent: not yet.
            Duration::from_micros(1)
        } else {
            deadline - now
        })
    }

    /// Forgets what was delivered (after an RTO everything is resent).
    pub(crate) fn on_rto(&mut self) {
        self.xmit_ts = NONE;
    }
}

/// The tail loss probe timeout (RFC 8985 §7.2) as Linux computes it
/// (`tcp_schedule_loss_probe`): 2·SRTT, plus the worst-case delayed ACK
/// when a single segment is in flight, else plus 2 ms of timer slack
/// (`TCP_TIMEOUT_MIN`); 1 s before any RTT sample.
/// In microseconds, from SRTT in microseconds: integer arithmetic, as the
/// timer is re-armed with every new data segment.
pub(crate) fn probe_timeout_micros(srtt_us: Option<u32>, one_segment: bool) -> u64 {
    match srtt_us {
        None => 1_000_000,
        Some(s) => {
            let pto = 2 * u64::from(s);
            if one_segment {
                pto + WC_DEL_ACK_US
            } else {
                pto + 2_000
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn a_segment_is_lost_once_a_later_one_was_delivered_and_rtt_plus_window_passed() {
        let mut r = Rack::default();
        r.on_rtt_sample(t(100), Duration::from_millis(100));
        // Sent at 0 and 10; the one sent at 10 is delivered at 110.
        r.on_delivered(t(110), t(10), false, SeqNum(2000));
        let w = r.reo_wnd(
            &Reordering::NONE,
            Some(Duration::from_millis(100)),
            false,
            false,
        );
        assert_eq!(w, Duration::from_millis(25));
        assert_eq!(
            r.time_to_loss(t(110), t(0), SeqNum(1000), w),
            Some(Duration::from_millis(15))
        );
        assert_eq!(
            r.time_to_loss(t(125), t(0), SeqNum(1000), w),
            Some(Duration::ZERO)
        );
        // Sent after the delivered one: nothing known.
        assert_eq!(r.time_to_loss(t(200), t(20), SeqNum(3000), w), None);
    }

    #[test]
    fn a_retransmission_acked_faster_than_min_rtt_is_ignored() {
        let mut r = Rack::default();
        r.on_rtt_sample(t(100), Duration::from_millis(100));
        r.on_delivered(t(105), t(100), true, SeqNum(1000));
        assert_eq!(
            r.time_to_loss(t(300), t(50), SeqNum(500), Duration::ZERO),
            None
        );
    }

    #[test]
    fn dsack_widens_the_window_once_per_round_for_sixteen_recoveries() {
        let mut r = Rack::default();
        let mut reo = Reordering::default();
        r.on_rtt_sample(t(0), Duration::from_millis(40));
        let srtt = Some(Duration::from_millis(80));
        let w = |reo: &Reordering| r.reo_wnd(reo, srtt, false, false);
        assert_eq!(w(&reo), Duration::from_millis(10));
        reo.on_dsack(SeqNum(u32::MAX - 10), SeqNum(5000));
        assert_eq!(w(&reo), Duration::from_millis(20));
        // A second D-SACK in the same round (SND.UNA below its SND.NXT, across the wrap).
        reo.on_dsack(SeqNum(100), SeqNum(9000));
        assert_eq!(w(&reo), Duration::from_millis(20));
        // The next round widens it again.
        reo.on_dsack(SeqNum(5000), SeqNum(9000));
        assert_eq!(w(&reo), Duration::from_millis(30));
        for _ in 0..16 {
            reo.on_recovery_end();
        }
        assert_eq!(w(&reo), Duration::from_millis(10));
    }

    #[test]
    fn without_reordering_the_window_is_zero_in_recovery_and_at_dupthresh() {
        let mut r = Rack::default();
        let mut reo = Reordering::default();
        r.on_rtt_sample(t(0), Duration::from_millis(40));
        let srtt = Some(Duration::from_millis(40));
        assert_eq!(
            r.reo_wnd(&reo, srtt, false, false),
            Duration::from_millis(10)
        );
        assert_eq!(r.reo_wnd(&reo, srtt, true, false), Duration::ZERO);
        assert_eq!(r.reo_wnd(&reo, srtt, false, true), Duration::ZERO);
        // A D-SACK alone is not reordering (RFC 8985 §6.2 step 3).
        reo.on_dsack(SeqNum(0), SeqNum(1000));
        assert_eq!(r.reo_wnd(&reo, srtt, true, true), Duration::ZERO);
        reo.on_reordering();
        assert_eq!(r.reo_wnd(&reo, srtt, true, true), Duration::from_millis(20));
        assert_eq!(Reordering::NONE, Reordering::default());
    }
}
