//! What an ICMP error does to a connection (RFC 9293 §3.9.2.2): the one
//! place the rules live, for a bare `Connection` and the `Endpoint` alike.

use super::{Connection, Origin, Timer};
use crate::event::{CloseReason, Event};
use crate::icmp::{IcmpCause, IcmpError};
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::Instant;

impl Connection {
    /// An ICMP or ICMPv6 error about a segment this connection sent (MUST-54):
    /// `seq` is the sequence number of the TCP header the message quotes.
    ///
    /// - A message whose `seq` lies outside SND.UNA..=SND.NXT, one that
    ///   arrives in CLOSED, LISTEN or TIME-WAIT, and a Source Quench
    ///   (MUST-55) are ignored and counted (`Stats::icmp_ignored`): only
    ///   someone who saw our segments can act on the connection (RFC 5927
    ///   §4.1, as Linux).
    /// - During the handshake (SYN-SENT, or SYN-RECEIVED reached from it)
    ///   any error ends the connection: Port and Protocol Unreachable as
    ///   [`CloseReason::Refused`], the rest as [`CloseReason::Unreachable`]
    ///   (RFC 5461 §4: the widespread practice, which lets a dual-stack
    ///   client move on to its next address). A passive open in
    ///   SYN-RECEIVED returns to LISTEN when the error quotes its SYN-ACK
    ///   and says the client cannot be reached (the rule of the
    ///   `Endpoint`'s SYN queue, `listen::icmp_ends_half_open`), and
    ///   reports anything else.
    /// - A Net or Host Unreachable about SND.UNA's retransmission while the
    ///   RTO is backed off undoes one backoff step (RFC 6069).
    /// - Afterwards an error never closes the connection: it is reported as
    ///   [`Event::Icmp`] (SHLD-25), soft errors because they are transient
    ///   (MUST-56), hard ones too, because a forged one would otherwise
    ///   reset any connection whose sequence numbers an attacker can
    ///   guess (RFC 5927 §5.2; Linux and the BSDs do the same; this is
    ///   our reading of SHLD-26).
    /// - A Packet Too Big lowers the send MSS to what the reported path MTU
    ///   allows ([`IcmpError::max_segment`] less the options every segment
    ///   carries; never raises it) and resends what was in flight at the
    ///   new size from SND.UNA, with no congestion response: the drops
    ///   were not congestion (RFC 1191 §6.5, Linux's
    ///   `tcp_simple_retransmit`). Before the handshake ends it is
    ///   ignored: no SYN is larger than any path's minimum MTU.
    pub fn handle_icmp(&mut self, now: Instant, err: IcmpError, seq: SeqNum) {
        let quoted_ours = seq.ge(self.snd_una) && seq.le(self.snd_nxt);
        let live = !matches!(self.state, State::Closed | State::Listen | State::TimeWait);
        if !quoted_ours || !live {
            self.cold.make().rare.icmp_ignored += 1;
            return;
        }
        match err {
            IcmpError::SourceQuench => self.cold.make().rare.icmp_ignored += 1,
            IcmpError::Unreachable(cause) => self.icmp_unreachable(now, cause, seq),
            IcmpError::PacketTooBig { .. } => match err.max_segment() {
                Some(max) if self.state.is_synchronized() => self.path_mtu_reduced(now, max),
                _ => self.cold.make().rare.icmp_ignored += 1,
            },
        }
    }

    fn icmp_unreachable(&mut self, now: Instant, cause: IcmpCause, seq: SeqNum) {
        self.cold.make().rare.icmp_errors += 1;
        let handshake = match self.state {
            State::SynSent => true,
            State::SynReceived => self.origin() == Origin::Active,
            _ => false,
        };
        if matches!(
            cause,
            IcmpCause::NetUnreachable | IcmpCause::HostUnreachable
        ) && self.state.is_synchronized()
        {
            self.revert_rto_backoff(now, seq);
        }
        if handshake {
            let reason = if cause.is_hard() {
                CloseReason::Refused
            } else {
                CloseReason::Unreachable
            };
            self.enter_closed(reason);
        } else if self.state == State::SynReceived
            && crate::listen::icmp_ends_half_open(IcmpError::Unreachable(cause), seq, self.iss)
        {
            // The Endpoint's SYN-queue entries follow the same rule.
            self.back_to_listen(now);
        } else {
            self.push_event(Event::Icmp(cause));
        }
    }

    /// RFC 6069 (as Linux's `tcp_ld_RTO_revert`): a Net or Host
    /// Unreachable about the retransmission of SND.UNA while the RTO is
    /// backed off says the path is down, not congested, so one doubling is
    /// undone and the timer re-armed from that segment's last send: when
    /// connectivity returns, the next retransmission is not one backoff
    /// late. If the shorter RTO has run out already, the timeout runs now.
    fn revert_rto_backoff(&mut self, now: Instant, seq: SeqNum) {
        if seq != self.snd_una || self.cold.retries == 0 || self.rtt.backoff() == 0 {
            return;
        }
        let Some((sent, _, _)) = self.sndbuf.entry_info(self.snd_una) else {
            return;
        };
        self.rtt.undo_back_off();
        let due = sent + core::time::Duration::from_micros(self.rtt.rto_micros(&self.cfg));
        if due > now {
            self.timers.set(Timer::Retransmit, due);
        } else {
            self.on_retransmit_timeout(now);
        }
    }

    /// Packet Too Big in a synchronized state: `max_segment` is the largest
    /// TCP segment (header included, options not) the path now carries.
    fn path_mtu_reduced(&mut self, now: Instant, max_segment: u32) {
        // MUST-16: room for the options every segment carries.
        let opt = if self.flags.ts_enabled() { 12 } else { 0 };
        let mss = max_segment.saturating_sub(20 + opt).max(64);
        if mss >= self.snd_mss {
            // Not smaller than what we send: stale, or forged.
            self.cold.make().rare.icmp_ignored += 1;
            return;
        }
        self.cold.make().rare.icmp_errors += 1;
        self.snd_mss = mss;
        if self.snd_una == self.snd_nxt || self.flags.in_recovery() {
            // Nothing in flight; or a recovery under way resends its holes
            // at the new size already.
            return;
        }
        // Everything in flight went out at the old size: resend it from
        // SND.UNA (go-back-N, as after a timeout) with the congestion
        // state untouched. No fast recovery for the duplicate ACKs the
        // resent data draws (RFC 6582 §4), no loss probe meanwhile.
        self.set_recover(self.snd_nxt);
        self.set_fast_rtx(None);
        self.set_rtx_next(Some(self.snd_una));
        self.set_tlp_high_seq(None);
        self.flags.set_tlp_pending(false);
        self.timers.stop(Timer::LossProbe);
        if !self.timers.is_set(Timer::Retransmit) {
            self.timers
                .set_after(Timer::Retransmit, now, self.rtt.rto_micros(&self.cfg));
        }
    }
}
