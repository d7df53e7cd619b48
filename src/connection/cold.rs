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
    /// When the scoreboard was last forgotten (a second timeout,
    /// reneging), if ever: segments sent before then are not timed by a
    /// SACK (see `Connection::take_sack_rtt_sample`).
    pub(super) sack_forgotten_at: Option<Instant>,
    /// The latest transmission of our SYN or SYN-ACK, once it was sent
    /// more than once, until it is acknowledged: the ACK is timed only by a
    /// timestamp echo at least this new (see `Connection::take_rtt_sample`).
    pub(super) syn_resent_at: Option<Instant>,
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
        sack_forgotten_at: None,
        syn_resent_at: None,
    };

    /// Forgets what the peer SACKed (RFC 2018 §8), noting when.
    pub(super) fn forget_sacks(&mut self, now: Instant) {
        self.scoreboard.clear();
        self.sack_forgotten_at = Some(now);
    }
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

impl Cold {
    /// Forgets the sequence marks SND.UNA (now `una`) has passed: RFC 6582
    /// `recover`, RACK's lost end, ECN's recovery point. They decide nothing
    /// once passed, and a mark kept while 2^31 octets go by would then
    /// compare the wrong way. Called on every ACK that moves SND.UNA (by
    /// less than a window each time) while the cold state exists.
    #[inline]
    pub(super) fn forget_passed(&mut self, una: SeqNum) {
        if self.recover.is_some_and(|r| una.gt(r)) {
            self.recover = None;
        }
        if self.rack_lost_end.is_some_and(|e| !e.gt(una)) {
            self.rack_lost_end = None;
        }
        if self.ecn_recover.is_some_and(|e| una.gt(e)) {
            self.ecn_recover = None;
        }
    }
}

impl super::Connection {
    /// RFC 6582 `recover`: set by a loss response or an undo, forgotten
    /// once SND.UNA passes it ([`Cold::forget_passed`]),
    /// and SND.UNA − 1 meanwhile: below SND.UNA, as a passed point is, and
    /// never 2^31 octets behind it, where a fixed point (the ISS) would
    /// compare the wrong way after 2 GiB sent.
    #[inline(always)]
    pub(super) fn recover(&self) -> SeqNum {
        self.cold.recover.unwrap_or(self.snd_una.sub(1))
    }

    /// Sets [`recover`](Self::recover) (every caller is a loss response or
    /// its undo, which write the cold state anyway).
    #[inline(always)]
    pub(super) fn set_recover(&mut self, s: SeqNum) {
        self.cold.make().recover = Some(s);
    }

    /// Original transmissions below this point are lost by RACK's clock:
    /// SND.UNA (nothing lost) until RACK or an RTO moves it, and again once
    /// SND.UNA reaches it ([`Cold::forget_passed`]).
    #[inline(always)]
    pub(super) fn rack_lost_end(&self) -> SeqNum {
        self.cold.rack_lost_end.unwrap_or(self.snd_una)
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

    /// 2^31 octets after the ISS a fixed unset value would compare the
    /// wrong way: no recovery could start, and RACK's lost end would lie
    /// beyond SND.NXT. Unset marks follow SND.UNA; set ones are forgotten
    /// once passed.
    #[test]
    fn recovery_marks_stay_valid_two_gigabytes_after_the_iss() {
        use crate::{Config, Connection, SeqNum};
        let now = Instant::from_secs(1);
        let mut c = Connection::connect(Config::linux(), 4000, 80, SeqNum(7), now).unwrap();
        c.snd_una = SeqNum(7).add(0x8000_0000).add(1000);
        c.snd_nxt = c.snd_una.add(8000);
        assert!(c.snd_una.ge(c.recover()) && !c.snd_una.lt(c.recover()));
        assert!(
            c.snd_una.sub(1).ge(c.recover()),
            "a duplicate ACK may start recovery"
        );
        assert_eq!(c.rack_lost_end(), c.snd_una);
        assert!(c.snd_una.gt(c.ecn_recover()), "an ECN echo may reduce");
        // Set marks hold until SND.UNA passes them, then are forgotten.
        let (r, e) = (c.snd_una.add(3000), c.snd_una.add(2000));
        c.set_recover(r);
        c.set_rack_lost_end(e);
        c.cold.make().ecn_recover = Some(r);
        c.snd_una = c.snd_una.add(2000);
        c.cold.make().forget_passed(c.snd_una);
        assert_eq!(
            (c.recover(), c.rack_lost_end(), c.ecn_recover()),
            (r, c.snd_una, r)
        );
        c.snd_una = c.snd_una.add(1000);
        c.cold.make().forget_passed(c.snd_una);
        assert_eq!(
            c.recover(),
            r,
            "held at SND.UNA = recover (RFC 6582: not past it)"
        );
        c.snd_una = c.snd_una.add(1);
        c.cold.make().forget_passed(c.snd_una);
        let cold = c.cold.present().unwrap();
        assert!(
            cold.recover.is_none() && cold.rack_lost_end.is_none() && cold.ecn_recover.is_none()
        );
        assert_eq!(c.recover(), c.snd_una.sub(1));
    }
}
