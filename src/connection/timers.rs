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
    /// TIME-WAIT 2·MSL (RFC 9293 §3.6.1).
    TimeWait = 4,
    /// FIN-WAIT-2 give-up after a full close (Linux `tcp_fin_timeout`).
    FinWait2 = 5,
    /// RACK reordering window: a segment becomes lost (RFC 8985 §6.3).
    Rack = 6,
    /// Tail loss probe (RFC 8985 §7).
    LossProbe = 7,
}

impl Timer {
    pub(crate) const ALL: [Timer; 8] = [
        Timer::Retransmit,
        Timer::Persist,
        Timer::DelayedAck,
        Timer::Keepalive,
        Timer::TimeWait,
        Timer::FinWait2,
        Timer::Rack,
        Timer::LossProbe,
    ];
}

/// A deadline per [`Timer`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; 8],
}

impl TimerTable {
    #[inline]
    pub(crate) fn set(&mut self, t: Timer, at: Instant) {
        self.deadlines[t as usize] = Some(at);
    }

    /// Arms `t` for `micros` microseconds after `now` (saturating): integer
    /// arithmetic, no `Duration` on the per-segment path.
    #[inline]
    pub(crate) fn set_after(&mut self, t: Timer, now: Instant, micros: u64) {
        self.set(
            t,
            Instant::from_micros(now.total_micros().saturating_add(micros)),
        );
    }

    #[inline]
    pub(crate) fn stop(&mut self, t: Timer) {
        self.deadlines[t as usize] = None;
    }

    /// When `t` fires, if armed.
    #[inline]
    pub(crate) fn deadline(&self, t: Timer) -> Option<Instant> {
        self.deadlines[t as usize]
    }

    #[inline]
    pub(crate) fn is_set(&self, t: Timer) -> bool {
        self.deadlines[t as usize].is_some()
    }

    pub(crate) fn stop_all(&mut self) {
        self.deadlines = [None; 8];
    }

    /// The earliest deadline armed.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarms and returns the timer that has expired at `now`, earliest first.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        let t = Timer::ALL
            .into_iter()
            .filter(|t| self.deadlines[*t as usize].is_some_and(|d| d <= now))
            .min_by_key(|t| self.deadlines[*t as usize])?;
        self.deadlines[t as usize] = None;
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_deadline_wins_and_expiry_disarms() {
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::TimeWait, Instant::from_secs(60));
        t.set(Timer::DelayedAck, Instant::from_millis(40));
        assert_eq!(t.next(), Some(Instant::from_millis(40)));
        assert_eq!(t.take_expired(Instant::from_millis(39)), None);
        assert_eq!(
            t.take_expired(Instant::from_secs(61)),
            Some(Timer::DelayedAck)
        );
        assert_eq!(
            t.take_expired(Instant::from_secs(61)),
            Some(Timer::TimeWait)
        );
        assert_eq!(t.take_expired(Instant::from_secs(61)), None);
        assert!(!t.is_set(Timer::TimeWait));
    }
}
