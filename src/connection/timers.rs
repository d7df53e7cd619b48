//! One deadline per timer kind; the earliest is the connection's next deadline.

use crate::time::Instant;

/// The timers a connection runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Timer {
    /// Retransmission of SYN, SYN-ACK, data or FIN (RFC 6298).
    Retransmit = 0,
    /// Zero-window probe (RFC 9293 §3.8.6.1).
    Persist = 1,
    /// Delayed ACK (RFC 9293 §3.8.6.3).
    DelayedAck = 2,
    /// Keep-alive (RFC 9293 §3.8.4).
    Keepalive = 3,
    /// In TIME-WAIT, the 2·MSL wait (RFC 9293 §3.6.1); in FIN-WAIT-2, the
    /// give-up after a full close (Linux `tcp_fin_timeout`). One deadline
    /// serves both: the first is armed only in TIME-WAIT and the second
    /// only in FIN-WAIT-2, and every way out of either state (to TIME-WAIT
    /// or CLOSED, or a new incarnation) disarms every timer.
    Linger = 4,
    /// RACK reordering window: a segment becomes lost (RFC 8985 §6.3).
    Rack = 5,
    /// Tail loss probe (RFC 8985 §7).
    LossProbe = 6,
    /// Frees the receive buffer's storage once the connection has received
    /// nothing for a while and the application has read everything.
    Reclaim = 7,
}

impl Timer {
    pub(crate) const ALL: [Timer; 8] = [
        Timer::Retransmit,
        Timer::Persist,
        Timer::DelayedAck,
        Timer::Keepalive,
        Timer::Linger,
        Timer::Rack,
        Timer::LossProbe,
        Timer::Reclaim,
    ];
}

/// Marks a timer that is not armed. No deadline is ever stored as this
/// value: one that would saturate to it is kept one microsecond earlier,
/// which no caller can tell apart (it is 584,000 years after the epoch).
const UNSET: u64 = u64::MAX;

/// A deadline per [`Timer`], in microseconds, [`UNSET`] when disarmed:
/// 8 octets a timer instead of an `Option<Instant>`'s 16.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimerTable {
    deadlines: [u64; 8],
}

impl Default for TimerTable {
    fn default() -> Self {
        TimerTable {
            deadlines: [UNSET; 8],
        }
    }
}

impl TimerTable {
    #[inline]
    pub(crate) fn set(&mut self, t: Timer, at: Instant) {
        self.deadlines[t as usize] = at.total_micros().min(UNSET - 1);
    }

    /// Arms `t` for `micros` microseconds after `now` (saturating): integer
    /// arithmetic, no `Duration` on the per-segment path.
    #[inline]
    pub(crate) fn set_after(&mut self, t: Timer, now: Instant, micros: u64) {
        self.deadlines[t as usize] = now.total_micros().saturating_add(micros).min(UNSET - 1);
    }

    #[inline]
    pub(crate) fn stop(&mut self, t: Timer) {
        self.deadlines[t as usize] = UNSET;
    }

    /// When `t` fires, if armed.
    #[inline]
    pub(crate) fn deadline(&self, t: Timer) -> Option<Instant> {
        let d = self.deadlines[t as usize];
        (d != UNSET).then(|| Instant::from_micros(d))
    }

    #[inline]
    pub(crate) fn is_set(&self, t: Timer) -> bool {
        self.deadlines[t as usize] != UNSET
    }

    pub(crate) fn stop_all(&mut self) {
        self.deadlines = [UNSET; 8];
    }

    /// The earliest deadline armed.
    #[inline]
    pub(crate) fn next(&self) -> Option<Instant> {
        let d = self.deadlines.iter().copied().min().unwrap_or(UNSET);
        (d != UNSET).then(|| Instant::from_micros(d))
    }

    /// Disarms and returns the timer that has expired at `now`, earliest first.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        // The earliest deadline, the first in `Timer::ALL` (index) order
        // on a tie; it has expired if any has.
        let mut i = 0;
        for (j, &d) in self.deadlines.iter().enumerate().skip(1) {
            if d < self.deadlines[i] {
                i = j;
            }
        }
        // UNSET (never a stored deadline) is no timer, even at the end of time.
        let d = self.deadlines[i];
        if d > now.total_micros() || d == UNSET {
            return None;
        }
        self.deadlines[i] = UNSET;
        Some(Timer::ALL[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_deadline_wins_and_expiry_disarms() {
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Linger, Instant::from_secs(60));
        t.set(Timer::DelayedAck, Instant::from_millis(40));
        assert_eq!(t.next(), Some(Instant::from_millis(40)));
        assert_eq!(t.take_expired(Instant::from_millis(39)), None);
        assert_eq!(
            t.take_expired(Instant::from_secs(61)),
            Some(Timer::DelayedAck)
        );
        assert_eq!(t.take_expired(Instant::from_secs(61)), Some(Timer::Linger));
        assert_eq!(t.take_expired(Instant::from_secs(61)), None);
        assert!(!t.is_set(Timer::Linger));
    }

    #[test]
    fn a_deadline_at_the_end_of_time_stays_armed_and_fires() {
        let mut t = TimerTable::default();
        t.set_after(Timer::Keepalive, Instant::from_micros(u64::MAX - 5), 100);
        assert!(t.is_set(Timer::Keepalive));
        assert_eq!(
            t.take_expired(Instant::from_micros(u64::MAX)),
            Some(Timer::Keepalive)
        );
        t.set(Timer::Rack, Instant::from_micros(u64::MAX));
        assert_eq!(t.next(), Some(Instant::from_micros(u64::MAX - 1)));
    }

    #[test]
    fn no_timer_fires_unarmed_even_at_the_end_of_time() {
        let mut t = TimerTable::default();
        assert_eq!(t.take_expired(Instant::from_micros(u64::MAX)), None);
        t.set(Timer::Persist, Instant::from_micros(u64::MAX));
        assert_eq!(
            t.take_expired(Instant::from_micros(u64::MAX)),
            Some(Timer::Persist)
        );
        assert_eq!(t.take_expired(Instant::from_micros(u64::MAX)), None);
    }
}
