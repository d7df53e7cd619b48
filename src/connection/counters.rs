//! The counters behind [`Stats`](super::Stats), stored compactly: octet and
//! segment totals in 64 bits, counts of rarer events in 32 bits that
//! saturate instead of wrapping. [`Connection::stats`](super::Connection::stats)
//! widens them into the public snapshot.

use super::lazy::{Empty, Lazy};
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
/// moves inline, the counts of rarer events behind a [`Lazy`] pointer
/// (allocated by the first loss, drop or oddity; a clean connection has none).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) segments_in: u64,
    pub(crate) segments_out: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
    pub(crate) rare: Lazy<Rare>,
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
}

/// All zero.
static NO_EVENTS: Rare = Rare {
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
};

impl Empty for Rare {
    fn empty() -> &'static Self {
        &NO_EVENTS
    }
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
    fn rare_counts_read_zero_until_one_is_written() {
        let mut c = Counters::default();
        assert_eq!(*c.rare, Rare::default());
        assert!(c.rare.present().is_none());
        c.rare.make().dup_acks += 1;
        assert_eq!(c.rare.dup_acks.get(), 1);
    }
}
