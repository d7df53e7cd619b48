//! What the controllers are told about the sender's use of the window:
//! round trips counted in sequence space, and whether the congestion
//! window was actually used (RFC 7661's "validated" window; RFC 9438 §5.8).
//!
//! The rule follows Linux's `tcp_cwnd_validate`: a window of data is
//! cwnd-limited if, while it was sent, the congestion window ran out with
//! data waiting; in slow start it also counts as used while the window is
//! below twice the largest flight of that window.

use crate::seq::SeqNum;

/// Round and window-use bookkeeping of one connection (12 octets).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CwndUsage {
    /// End of the current round trip (RFC 9406 §4.2 `windowEnd`).
    round_end: SeqNum,
    /// End of the window whose use is being tracked.
    usage_end: SeqNum,
    /// Bit 31 ([`LIMITED`]): the congestion window ran out while sending
    /// that window. The other bits: the largest flight seen while sending
    /// it, octets. A flight is below 2³⁰ + 2 (it fits in the peer's
    /// window, RFC 7323 §2.3), so 31 bits hold it; larger ones are capped.
    max_flight: u32,
}

/// The `cwnd_limited` bit of [`CwndUsage::max_flight`].
const LIMITED: u32 = 1 << 31;

impl CwndUsage {
    /// Starts with the first round ending at the first ACK of data after `iss`.
    pub(crate) fn new(iss: SeqNum) -> CwndUsage {
        CwndUsage {
            round_end: iss,
            usage_end: iss,
            max_flight: 0,
        }
    }

    /// After sending (or failing to send) new data: `limited` is whether
    /// the congestion window stopped the sender or is now full; `flight`
    /// the octets in flight now.
    #[inline]
    pub(crate) fn on_send(&mut self, limited: bool, flight: u32, snd_una: SeqNum, snd_nxt: SeqNum) {
        let flight = flight.min(LIMITED - 1);
        // While not limited the flag bit is clear, so the field is the flight.
        if !snd_una.lt(self.usage_end) || limited || flight > self.max_flight {
            self.max_flight = if limited { flight | LIMITED } else { flight };
            self.usage_end = snd_nxt;
        }
    }

    /// An ACK of new data up to `ack`: whether it ends a round trip (and
    /// if so the next round ends at `snd_nxt`).
    #[inline]
    pub(crate) fn on_ack(&mut self, ack: SeqNum, snd_nxt: SeqNum) -> bool {
        if ack.ge(self.round_end) {
            self.round_end = snd_nxt;
            true
        } else {
            false
        }
    }

    /// Whether growing a window of `cwnd` (threshold `ssthresh`) now would
    /// not be backed by use.
    #[inline]
    pub(crate) fn app_limited(&self, cwnd: u32, ssthresh: u32) -> bool {
        if self.max_flight & LIMITED != 0 {
            return false;
        }
        // Slow start: keep doubling while the window is below twice the
        // largest flight (Linux tcp_is_cwnd_limited).
        !(cwnd < ssthresh && cwnd / 2 < self.max_flight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_end_when_the_marked_data_is_acknowledged() {
        let mut u = CwndUsage::new(SeqNum(u32::MAX - 10));
        // First data ACK ends round 0; the next round ends at SND.NXT.
        assert!(u.on_ack(SeqNum(u32::MAX - 5), SeqNum(20)));
        assert!(!u.on_ack(SeqNum(5), SeqNum(40)));
        assert!(u.on_ack(SeqNum(20), SeqNum(60)));
    }

    #[test]
    fn a_window_that_never_filled_cwnd_is_app_limited() {
        let mut u = CwndUsage::new(SeqNum(0));
        u.on_send(false, 3000, SeqNum(0), SeqNum(3000));
        // Congestion avoidance: a window not cwnd-limited is not used.
        assert!(u.app_limited(20_000, 10_000));
        // Slow start: used while cwnd < 2 × largest flight.
        assert!(!u.app_limited(5_000, u32::MAX));
        assert!(u.app_limited(7_000, u32::MAX));
        u.on_send(true, 20_000, SeqNum(0), SeqNum(20_000));
        assert!(!u.app_limited(20_000, 10_000));
        // Stays limited for the rest of that window, then follows use again.
        u.on_send(false, 100, SeqNum(100), SeqNum(20_100));
        assert!(!u.app_limited(20_000, 10_000));
        u.on_send(false, 100, SeqNum(20_000), SeqNum(20_100));
        assert!(u.app_limited(20_000, 10_000));
    }
}
