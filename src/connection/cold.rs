//! The state a clean connection never writes, behind one [`Lazy`] pointer:
//! the SACK scoreboard, PRR, the SACK blocks to report, queued replies,
//! the counts of rare events (and the carries of the 32-bit totals), the undo state of a loss response, the ACK
//! rate budgets, the retry, duplicate-ACK and persist counts, and the
//! sequence marks of loss recovery (go-back-N cursor, fast retransmit,
//! tail loss probe), RACK's reordering state and ECN's recovery point. An idle
//! or loss-free connection carries 8 octets for all of it and allocates
//! nothing; the first loss, reordering, drop or bad segment allocates it
//! once (one allocation per connection lifetime, never per segment).
//!
//! Every field reads as its initial value while nothing is allocated (the
//! shared [`EMPTY`] value), so reads need no care. Writes that change a
//! value go through [`Lazy::make`]; writes that may find the initial value
//! already there (clearing a count, feeding an undo state that is not
//! open) go through [`Lazy::present`] and are skipped when nothing was
//! allocated.
//!
//! [`Lazy`]: super::lazy::Lazy
//! [`Lazy::make`]: super::lazy::Lazy::make
//! [`Lazy::present`]: super::lazy::Lazy::present

use super::counters::{Counters, Rare};
use super::flags::RareMarks;
use super::lazy::Empty;
use crate::recovery::{Prr, Reordering, SackReport, Scoreboard, Undo};
use crate::seq::SeqNum;
use crate::time::Instant;
use crate::wire::Segment;
use alloc::collections::VecDeque;
use core::time::Duration;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Cold {
    /// What the peer SACKed (RFC 6675 §3).
    pub(crate) scoreboard: Scoreboard,
    /// The sending rate during SACK recovery (RFC 6937).
    pub(crate) prr: Prr,
    /// The SACK blocks our ACKs report (RFC 2018 §4, RFC 2883).
    pub(crate) sack_report: SackReport,
    /// Replies (RSTs to bad segments) waiting for `poll_transmit`.
    pub(crate) replies: VecDeque<Segment>,
    /// Counts of events a clean exchange never has.
    pub(crate) rare: Rare,
    /// The high 32 bits of the segment and octet totals (see [`Counters`]).
    pub(crate) high: Counters,
    /// The loss response that may still prove spurious.
    pub(crate) undo: Undo,
    /// RFC 5961 challenge ACKs: their own per-second budget.
    pub(crate) challenge_budget: AckBudget,
    /// ACKs to out-of-window segments without data (§3.10.7.4 step 1):
    /// a separate budget, so junk cannot silence challenge ACKs or the
    /// answers to the peer's real retransmissions (which are exempt).
    pub(crate) oow_budget: AckBudget,
    /// Retransmission-timer expiries in a row (SYN, SYN-ACK or data).
    pub(crate) retries: u32,
    /// Duplicate ACKs in a row (RFC 5681 §3.2).
    pub(crate) dupacks: u32,
    /// Doublings of the persist interval (SHLD-30); cleared when the window opens.
    pub(crate) persist_backoff: u32,
    /// Zero-window probes sent since the peer last answered anything.
    pub(crate) persist_unanswered: u32,
    /// The farthest reordering seen, in segments (Linux `reordering`,
    /// reported by `tcp_info` once above the duplicate-ACK threshold).
    pub(crate) reordering: u32,
    /// The values of the sequence marks loss recovery sets (their presence
    /// bits are in the connection's flags).
    pub(super) marks: RareMarks,
    /// RACK's reordering state (RFC 8985 §6.2 steps 3 and 4).
    pub(crate) rack_reordering: Reordering,
    /// ECN's recovery point (RFC 3168 §6.1.2), once a reduction or a loss
    /// response set it (`None`: still the ISS).
    pub(crate) ecn_recover: Option<SeqNum>,
    /// RFC 6582 `recover` (the recovery point of fast retransmit, NewReno
    /// and SACK recovery, and of an RTO), once a loss response or an undo
    /// set it (`None`: still the ISS; see `Connection::recover`).
    pub(super) recover: Option<SeqNum>,
    /// Original transmissions below this point are lost by RACK's clock,
    /// once RACK or an RTO set it (`None`: still the ISS; see
    /// `Connection::rack_lost_end`).
    pub(super) rack_lost_end: Option<SeqNum>,
}

impl Cold {
    /// The value every connection reads until it writes: all counts zero,
    /// nothing SACKed, queued or open, the budgets untouched.
    const EMPTY: Cold = Cold {
        scoreboard: Scoreboard::EMPTY,
        prr: Prr::EMPTY,
        sack_report: SackReport::EMPTY,
        replies: VecDeque::new(),
        rare: Rare::NONE,
        high: Counters::ZERO,
        undo: Undo::EMPTY,
        challenge_budget: AckBudget::UNUSED,
        oow_budget: AckBudget::UNUSED,
        retries: 0,
        dupacks: 0,
        persist_backoff: 0,
        persist_unanswered: 0,
        reordering: 0,
        marks: RareMarks::NONE,
        rack_reordering: Reordering::NONE,
        ecn_recover: None,
        recover: None,
        rack_lost_end: None,
    };
}

impl Cold {
    /// Heap octets held beyond the box itself (SACK ranges, queued replies).
    fn heap_bytes(&self) -> usize {
        self.scoreboard.heap_bytes() + self.replies.capacity() * core::mem::size_of::<Segment>()
    }
}

impl super::Connection {
    /// Heap octets of the cold state: 0 until something rare happened.
    pub(crate) fn cold_heap_bytes(&self) -> usize {
        self.cold
            .allocated()
            .map_or(0, |c| core::mem::size_of::<Cold>() + c.heap_bytes())
    }
}

impl super::Connection {
    /// RFC 6582 `recover`: the ISS until a loss response or an undo set it.
    #[inline(always)]
    pub(super) fn recover(&self) -> SeqNum {
        self.cold.recover.unwrap_or(self.iss)
    }

    /// Sets [`recover`](Self::recover) (every caller is a loss response or
    /// its undo, which write the cold state anyway).
    #[inline(always)]
    pub(super) fn set_recover(&mut self, s: SeqNum) {
        self.cold.make().recover = Some(s);
    }

    /// Original transmissions below this point are lost by RACK's clock:
    /// the ISS until RACK or an RTO moved it.
    #[inline(always)]
    pub(super) fn rack_lost_end(&self) -> SeqNum {
        self.cold.rack_lost_end.unwrap_or(self.iss)
    }

    /// Sets [`rack_lost_end`](Self::rack_lost_end).
    #[inline(always)]
    pub(super) fn set_rack_lost_end(&mut self, s: SeqNum) {
        self.cold.make().rack_lost_end = Some(s);
    }
}

/// The shared [`Cold::EMPTY`] that unallocated connections read.
static EMPTY: Cold = Cold::EMPTY;

impl Default for Cold {
    fn default() -> Self {
        Cold::EMPTY
    }
}

impl Empty for Cold {
    fn empty() -> &'static Self {
        &EMPTY
    }
}

/// A per-second allowance of ACKs (RFC 5961 §7).
#[derive(Clone, Copy, Debug)]
pub(crate) struct AckBudget {
    /// Start of the current one-second window; `None`: the window that
    /// began when the connection was made (its `born` instant), so that an
    /// unallocated budget needs no per-connection value.
    window_start: Option<Instant>,
    used: u32,
}

impl AckBudget {
    /// Nothing spent, in the window that starts with the connection.
    pub(crate) const UNUSED: AckBudget = AckBudget {
        window_start: None,
        used: 0,
    };

    /// Spends one of `limit` per second; `false` when none is left. `born`
    /// is when the connection was made (the start of the first window).
    pub(crate) fn take(&mut self, now: Instant, limit: u32, born: Instant) -> bool {
        if now - self.window_start.unwrap_or(born) >= Duration::from_secs(1) {
            self.window_start = Some(now);
            self.used = 0;
        }
        if self.used >= limit {
            return false;
        }
        self.used += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_value_equals_the_default() {
        assert_eq!(
            alloc::format!("{:?}", Cold::empty()),
            alloc::format!("{:?}", Cold::default())
        );
        let c = Cold::empty();
        assert!(c.scoreboard.is_empty() && c.sack_report.is_empty() && c.replies.is_empty());
        assert_eq!(c.rare, Rare::default());
        assert_eq!((c.retries, c.dupacks), (0, 0));
    }

    #[test]
    fn the_first_budget_window_starts_when_the_connection_was_made() {
        let born = Instant::from_secs(10);
        let mut b = AckBudget::UNUSED;
        // Limit 1: the first take spends the window that began at `born`.
        assert!(b.take(Instant::from_millis(10_500), 1, born));
        assert!(!b.take(Instant::from_millis(10_900), 1, born));
        // One second after `born` (not after the first take) a new window opens.
        assert!(b.take(Instant::from_millis(11_000), 1, born));
        assert!(!b.take(Instant::from_millis(11_999), 1, born));
        assert!(b.take(Instant::from_millis(12_000), 1, born));
    }
}
