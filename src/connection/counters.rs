//! The counters behind [`Stats`](super::Stats), stored compactly: octet and
//! segment totals in 64 bits, counts of rarer events in 32 bits that
//! saturate instead of wrapping. [`Connection::stats`](super::Connection::stats)
//! widens them into the public snapshot.

use core::ops::AddAssign;

/// An event count that stops at `u32::MAX` (never wraps, never panics).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Count(u32);

impl Count {
    /// The count, widened.
    #[inline]
    pub(crate) fn get(self) -> u64 {
        u64::from(self.0)
    }
}

impl AddAssign<u32> for Count {
    #[inline]
    fn add_assign(&mut self, n: u32) {
        self.0 = self.0.saturating_add(n);
    }
}

impl From<Count> for u64 {
    #[inline]
    fn from(c: Count) -> u64 {
        c.get()
    }
}

/// The counted part of [`Stats`](super::Stats) (the estimates come from
/// their owners when the snapshot is taken): the totals every segment
/// moves, as the low 32 bits of 64-bit totals. A carry out of one goes to
/// the same total in the connection's cold state (`Cold::high`), so only a
/// connection that moved 4 GiB or 2^32 segments has one; the totals read
/// exactly as the `u64`s they were. The counts of rarer events ([`Rare`])
/// live in the cold state too (allocated by the first loss, drop or
/// oddity; a clean connection has none).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    pub(crate) segments_in: u32,
    pub(crate) segments_out: u32,
    pub(crate) bytes_sent: u32,
    pub(crate) bytes_received: u32,
}

impl Counters {
    /// No carries yet (the high words of a connection with no cold state).
    pub(crate) const ZERO: Counters = Counters {
        segments_in: 0,
        segments_out: 0,
        bytes_sent: 0,
        bytes_received: 0,
    };
}

/// Adds `n` to a low word; whether it carried out of it.
#[inline(always)]
fn carries(low: &mut u32, n: u32) -> bool {
    let (v, carry) = low.overflowing_add(n);
    *low = v;
    carry
}

/// The 64-bit total of `low` and its `high` word.
#[inline(always)]
fn wide(high: u32, low: u32) -> u64 {
    (u64::from(high) << 32) | u64::from(low)
}

/// Counting, and reading the totals back (see [`Counters`]).
impl super::Connection {
    /// One segment arrived.
    #[inline]
    pub(super) fn count_segment_in(&mut self) {
        if carries(&mut self.stats.segments_in, 1) {
            let h = &mut self.cold.make().high.segments_in;
            *h = h.wrapping_add(1);
        }
    }

    /// One segment went out.
    #[inline]
    pub(super) fn count_segment_out(&mut self) {
        if carries(&mut self.stats.segments_out, 1) {
            let h = &mut self.cold.make().high.segments_out;
            *h = h.wrapping_add(1);
        }
    }

    /// `n` octets of data sent for the first time.
    #[inline]
    pub(super) fn count_bytes_sent(&mut self, n: u32) {
        if carries(&mut self.stats.bytes_sent, n) {
            let h = &mut self.cold.make().high.bytes_sent;
            *h = h.wrapping_add(1);
        }
    }

    /// `n` octets received in order.
    #[inline]
    pub(super) fn count_bytes_received(&mut self, n: u32) {
        if carries(&mut self.stats.bytes_received, n) {
            let h = &mut self.cold.make().high.bytes_received;
            *h = h.wrapping_add(1);
        }
    }

    pub(super) fn segments_in(&self) -> u64 {
        wide(self.cold.high.segments_in, self.stats.segments_in)
    }

    pub(super) fn segments_out(&self) -> u64 {
        wide(self.cold.high.segments_out, self.stats.segments_out)
    }

    pub(super) fn bytes_sent(&self) -> u64 {
        wide(self.cold.high.bytes_sent, self.stats.bytes_sent)
    }

    pub(super) fn bytes_received(&self) -> u64 {
        wide(self.cold.high.bytes_received, self.stats.bytes_received)
    }
}

/// Counts of events a clean exchange never has.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Rare {
    pub(crate) retransmits: Count,
    pub(crate) rto_expirations: Count,
    pub(crate) fast_retransmits: Count,
    pub(crate) tail_loss_probes: Count,
    pub(crate) rack_lost_retransmits: Count,
    pub(crate) dup_acks: Count,
    pub(crate) challenge_acks: Count,
    pub(crate) challenge_acks_suppressed: Count,
    pub(crate) oow_acks_suppressed: Count,
    pub(crate) dropped_unacceptable: Count,
    pub(crate) dropped_bad_ack: Count,
    pub(crate) dropped_other: Count,
    pub(crate) out_of_order: Count,
    pub(crate) ecn_ce_received: Count,
    pub(crate) ecn_reductions: Count,
    pub(crate) spurious_undos: Count,
    /// Events dropped because the application did not poll them.
    pub(crate) events_dropped: Count,
    pub(crate) icmp_errors: Count,
    pub(crate) icmp_ignored: Count,
}

impl Rare {
    /// All zero.
    pub(crate) const NONE: Rare = Rare {
        retransmits: Count(0),
        rto_expirations: Count(0),
        fast_retransmits: Count(0),
        tail_loss_probes: Count(0),
        rack_lost_retransmits: Count(0),
        dup_acks: Count(0),
        challenge_acks: Count(0),
        challenge_acks_suppressed: Count(0),
        oow_acks_suppressed: Count(0),
        dropped_unacceptable: Count(0),
        dropped_bad_ack: Count(0),
        dropped_other: Count(0),
        out_of_order: Count(0),
        ecn_ce_received: Count(0),
        ecn_reductions: Count(0),
        spurious_undos: Count(0),
        events_dropped: Count(0),
        icmp_errors: Count(0),
        icmp_ignored: Count(0),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_saturates_instead_of_wrapping() {
        let mut c = Count(u32::MAX - 1);
        c += 1;
        assert_eq!(c.get(), u64::from(u32::MAX));
        c += 1;
        assert_eq!(c.get(), u64::from(u32::MAX));
    }

    #[test]
    fn a_low_word_carries_exactly_once_per_wrap() {
        let mut low = u32::MAX - 2;
        assert!(!carries(&mut low, 2));
        assert_eq!(low, u32::MAX);
        assert!(carries(&mut low, 1));
        assert_eq!(low, 0);
        let mut low = u32::MAX - 10;
        assert!(carries(&mut low, u32::MAX));
        assert_eq!(wide(1, low), u64::from(u32::MAX - 10) + u64::from(u32::MAX));
        assert_eq!(wide(3, 7), 3 << 32 | 7);
    }

    #[test]
    fn totals_read_as_64_bits_across_the_32_bit_wrap() {
        use crate::{Config, Instant, SeqNum};
        let mut c =
            super::super::Connection::connect(Config::linux(), 1, 2, SeqNum(0), Instant::ZERO)
                .unwrap();
        assert!(c.cold.allocated().is_none());
        c.stats.bytes_sent = u32::MAX - 5;
        c.count_bytes_sent(10);
        assert_eq!(c.bytes_sent(), (1 << 32) + 4);
        c.stats.bytes_received = u32::MAX;
        c.count_bytes_received(1);
        c.count_bytes_received(2);
        assert_eq!(c.bytes_received(), (1 << 32) + 2);
        c.stats.segments_in = u32::MAX;
        c.count_segment_in();
        c.stats.segments_out = u32::MAX;
        c.count_segment_out();
        c.count_segment_out();
        assert_eq!(
            (c.segments_in(), c.segments_out()),
            (1 << 32, (1 << 32) + 1)
        );
        let s = c.stats();
        assert_eq!(
            (s.bytes_sent, s.segments_out),
            ((1 << 32) + 4, (1 << 32) + 1)
        );
    }

    #[test]
    fn no_rare_counts_is_all_zero() {
        assert_eq!(Rare::NONE, Rare::default());
    }
}
