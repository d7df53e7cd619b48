//! Undo of a spurious congestion response: a recovery or retransmission
//! timeout whose retransmissions turn out to have been unnecessary.
//!
//! Two detectors, as Linux uses them:
//! - Eifel (RFC 3522) with timestamps: an ACK that moves SND.UNA while
//!   echoing a TSval older than the episode's first retransmission was
//!   caused by an original transmission, so the data was only delayed.
//! - D-SACK (RFC 3708): every segment retransmitted in the episode was
//!   reported received twice.
//!
//! The response (RFC 4015 for the timer, RFC 9438 §4.9 for CUBIC) is the
//! controller's [`undo`](crate::cc::CongestionControl::on_spurious_congestion)
//! plus, after a timeout, an end to go-back-N retransmission.

use crate::seq::SeqNum;

/// The congestion response that may still be undone (one per connection).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Undo {
    /// An episode is open: set at a loss response, cleared by an undo, by
    /// the next response or once a round has passed after recovery ended.
    open: bool,
    /// The response was a retransmission timeout (go-back-N under way).
    timeout: bool,
    /// TSval of the episode's first retransmission (Eifel's RetransmitTS).
    stamp: Option<u32>,
    /// Retransmitted segments of the episode not yet D-SACKed.
    pending: u32,
    /// Whether any segment was retransmitted in the episode.
    retransmitted: bool,
    /// SND.UNA when the episode began: D-SACKs below it are older news.
    marker: SeqNum,
    /// End of the highest range retransmitted in the episode: a D-SACK
    /// above it reports a duplicate the network made, not ours.
    high: SeqNum,
    /// Once recovery ended: the episode closes when SND.UNA passes this.
    until: Option<SeqNum>,
}

impl Undo {
    /// No episode (the default), for the shared empty value of `Lazy`.
    pub(crate) const EMPTY: Undo = Undo {
        open: false,
        timeout: false,
        stamp: None,
        pending: 0,
        retransmitted: false,
        marker: SeqNum(0),
        high: SeqNum(0),
        until: None,
    };

    /// A loss response began at `snd_una` (`timeout`: an RTO). A timeout
    /// inside an open episode keeps the episode's first retransmission,
    /// whose time decides whether the whole episode was spurious.
    pub(crate) fn start(&mut self, snd_una: SeqNum, timeout: bool) {
        if self.open && self.until.is_none() {
            self.timeout |= timeout;
            return;
        }
        *self = Undo {
            open: true,
            timeout,
            stamp: None,
            pending: 0,
            retransmitted: false,
            marker: snd_una,
            high: snd_una,
            until: None,
        };
    }

    /// A segment ending at `end` was retransmitted with timestamp value `tsval`.
    #[inline]
    pub(crate) fn on_retransmit(&mut self, end: SeqNum, tsval: Option<u32>) {
        if self.open && self.until.is_none() {
            if !self.retransmitted {
                self.stamp = tsval;
            }
            if end.gt(self.high) {
                self.high = end;
            }
            self.retransmitted = true;
            self.pending = self.pending.saturating_add(1);
        }
    }

    /// Recovery ended with SND.NXT at `snd_nxt`: D-SACKs may still come for
    /// one more round.
    pub(crate) fn on_recovery_end(&mut self, snd_nxt: SeqNum) {
        if self.open && !self.timeout {
            self.until = Some(snd_nxt);
        }
    }

    /// SND.UNA moved to `snd_una` on an ACK echoing `ecr` (if timestamps
    /// are on): whether that ACK shows the episode spurious (Eifel).
    pub(crate) fn on_ack(&mut self, snd_una: SeqNum, ecr: Option<u32>) -> bool {
        if !self.open {
            return false;
        }
        if self.until.is_some_and(|u| snd_una.ge(u)) {
            self.open = false;
            return false;
        }
        let spurious = self.retransmitted
            && self.until.is_none()
            && matches!((self.stamp, ecr), (Some(s), Some(e)) if e != 0 && (e.wrapping_sub(s) as i32) < 0);
        if spurious {
            self.open = false;
        }
        spurious
    }

    /// A D-SACK reported `[left, right)` received twice (`mss`: SMSS):
    /// whether every retransmission of the episode is now accounted for.
    pub(crate) fn on_dsack(&mut self, left: SeqNum, right: SeqNum, mss: u32) -> bool {
        if !self.open || !self.retransmitted || !right.gt(self.marker) || right.gt(self.high) {
            return false;
        }
        let segments = right.dist(left).div_ceil(mss.max(1)).max(1);
        self.pending = self.pending.saturating_sub(segments);
        if self.pending == 0 {
            self.open = false;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ack_echoing_a_time_before_the_first_retransmission_is_spurious() {
        let mut u = Undo::default();
        u.start(SeqNum(1000), true);
        u.on_retransmit(SeqNum(2000), Some(500));
        u.on_retransmit(SeqNum(3000), Some(510));
        assert!(
            !u.on_ack(SeqNum(2000), Some(500)),
            "echo of the retransmission"
        );
        let mut u2 = Undo::default();
        u2.start(SeqNum(1000), true);
        u2.on_retransmit(SeqNum(2000), Some(500));
        assert!(u2.on_ack(SeqNum(2000), Some(499)), "echo of the original");
        assert!(!u2.on_ack(SeqNum(3000), Some(499)), "once per episode");
        // Across the TSval wrap.
        let mut u3 = Undo::default();
        u3.start(SeqNum(u32::MAX - 10), false);
        u3.on_retransmit(SeqNum(10), Some(5));
        assert!(u3.on_ack(SeqNum(20), Some(u32::MAX - 3)));
        // Without timestamps Eifel cannot tell.
        let mut u4 = Undo::default();
        u4.start(SeqNum(0), true);
        u4.on_retransmit(SeqNum(10), None);
        assert!(!u4.on_ack(SeqNum(10), None));
    }

    #[test]
    fn dsacks_for_every_retransmission_make_the_recovery_spurious() {
        let mut u = Undo::default();
        u.start(SeqNum(10_000), false);
        u.on_retransmit(SeqNum(11_000), Some(1));
        u.on_retransmit(SeqNum(12_000), Some(1));
        u.on_recovery_end(SeqNum(40_000));
        assert!(
            !u.on_dsack(SeqNum(5_000), SeqNum(6_000), 1000),
            "below the episode"
        );
        assert!(
            !u.on_dsack(SeqNum(20_000), SeqNum(21_000), 1000),
            "above every retransmission: a network duplicate"
        );
        assert!(
            !u.on_dsack(SeqNum(10_000), SeqNum(11_000), 1000),
            "one of two"
        );
        assert!(u.on_dsack(SeqNum(11_000), SeqNum(12_000), 1000), "both");
        // A round after recovery ended the episode is closed.
        let mut u = Undo::default();
        u.start(SeqNum(10_000), false);
        u.on_retransmit(SeqNum(11_000), Some(1));
        u.on_recovery_end(SeqNum(40_000));
        assert!(!u.on_ack(SeqNum(40_000), Some(0)));
        assert!(!u.on_dsack(SeqNum(10_000), SeqNum(11_000), 1000));
    }
}
