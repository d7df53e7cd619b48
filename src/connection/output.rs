//! Building what goes out: SYN, SYN-ACK, data, FIN, ACK, probes, RSTs.

use super::{Connection, Timer};
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::Instant;
use crate::wire::{Flags, Options, SackBlocks, Segment, Timestamps};
use alloc::collections::VecDeque;
use bytes::Bytes;

/// How much new data may go now (`Connection::new_data_len`).
struct NewData {
    /// What the queue and the peer's window offer (at most one MSS).
    want: u32,
    /// What the congestion window lets out of it.
    len: u32,
    /// Whether cork, Nagle or sender SWS avoidance keep even that back.
    held: bool,
    /// The flight size it was computed from.
    flight: u32,
    /// The congestion window it was computed from.
    cwnd: u32,
}

impl Connection {
    /// The next segment to send, or `None` when there is nothing (now).
    /// Call it until it returns `None` after every input.
    #[inline]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Segment> {
        // The common "anything more?" call is a few comparisons, inlined
        // into the caller; building a segment is out of line.
        if self.nothing_to_send_outside_recovery() {
            if self.snd_wnd == 0 && self.state != State::Closed {
                self.arm_persist_if_needed(now);
            }
            return None;
        }
        self.transmit(now)
    }

    /// [`poll_transmit`](Self::poll_transmit) once something may be due.
    #[inline(never)]
    fn transmit(&mut self, now: Instant) -> Option<Segment> {
        let nxt_before = self.snd_nxt;
        let mut seg = if self.sends_control_only() {
            // The handshake's last ACK and the close's segments.
            if self.fin_seq().is_none_or(|f| self.snd_nxt.gt(f)) {
                if self.flags.ack_now() && self.state_sends_acks() {
                    return Some(self.pure_ack_fast(now));
                }
            } else if self.flags.syn_acked() && self.state_sends_new_data() {
                return Some(self.fin_fast(now));
            }
            self.next_segment(now)
        } else if self.sends_new_data_only() {
            match self.new_data_fast(now) {
                Some(s) => return Some(s),
                // What `next_segment` sends when no new data may go.
                None => self.probe_or_ack(now),
            }
        } else if self.sends_syn_only() {
            self.flags.set_syn_pending(false);
            return Some(self.syn_segment(now, true));
        } else {
            self.next_segment(now)
        };
        match &mut seg {
            Some(s) => {
                // New data starts at the old SND.NXT; anything below is a retransmission.
                let new_data = !s.payload.is_empty() && s.seq == nxt_before;
                self.ecn_on_transmit(s, new_data);
                self.count_segment_out();
                if self.flags.in_recovery() && self.flags.sack_enabled() {
                    // RFC 6937: prr_out counts every octet sent in recovery.
                    self.cold.make().prr.on_sent(s.payload.len() as u32);
                }
                // Where a write's data ends (MUST-61) is kept for retransmissions;
                // the GSO-burst marks below are not (Linux splits them off).
                // A FIN with new data ends a write, so it goes with PSH.
                if new_data && s.flags.psh() {
                    self.sndbuf.mark_last_pushed(s.flags.fin());
                }
                // After the PRR count, so that the look-ahead sees the budget left.
                if new_data
                    && self.cfg.push_each_gso_burst
                    && self.closes_gso_burst(s.seq, s.flags.psh())
                {
                    s.flags = s.flags.with(Flags::PSH);
                }
                if s.flags.ack() && !s.flags.rst() {
                    self.on_ack_sent(s);
                }
            }
            None => {
                // Only a zero window can need the persist timer armed here.
                if self.snd_wnd == 0 && self.state != State::Closed {
                    self.arm_persist_if_needed(now);
                }
            }
        }
        seg
    }

    /// Whether [`next_segment`](Self::next_segment) comes down to new data
    /// or, when none may go, [`probe_or_ack`](Self::probe_or_ack): data is
    /// queued in ESTABLISHED and nothing it puts first is due (no reply,
    /// SYN, retransmission, loss probe, recovery or FIN). A sender in a
    /// bulk transfer, every segment. Off with header prediction, so that
    /// tests/header_prediction.rs compares it with the general path.
    #[inline]
    fn sends_new_data_only(&self) -> bool {
        self.flags.sends_new_data_only()
            && self.state == State::Established
            && self.sndbuf.unsent_len() > 0
            && self.no_replies()
    }

    /// [`new_data`](Self::new_data) and what [`transmit`](Self::transmit)
    /// does with its segment, for [`sends_new_data_only`](Self::sends_new_data_only):
    /// no FIN to send, not in recovery (no PRR count), a segment that is
    /// new data by construction.
    #[inline]
    fn new_data_fast(&mut self, now: Instant) -> Option<Segment> {
        let nd = self.new_data_len(false, false);
        let cwnd = nd.cwnd;
        let (seq, flags, data) = self.take_new_data(now, nd, false)?;
        let mut flags = self.ecn_flags_on_transmit(flags, true);
        self.count_segment_out();
        if flags.psh() {
            self.sndbuf.mark_last_pushed(false);
        }
        if self.cfg.push_each_gso_burst {
            // Sending changes the congestion window only when it restarts
            // an idle flight (`start_progress_clock`): otherwise the
            // look-ahead uses the one read above.
            let cwnd = (seq != self.snd_una).then_some(cwnd);
            if self.closes_gso_burst_at(seq, flags.psh(), false, cwnd) {
                flags = flags.with(Flags::PSH);
            }
        }
        // The segment is built last, straight into the caller's: its
        // window first, then the ACK bookkeeping that moves RCV.ADV.
        let window = self.window_field();
        self.on_ack_sent_fields(self.rcv_nxt, window, false);
        Some(self.data_segment_with(now, seq, flags, data, window))
    }

    /// Whether [`next_segment`](Self::next_segment) comes down to a pure
    /// ACK or a FIN alone: no reply, SYN, retransmission, loss probe,
    /// zero-window or keep-alive probe, recovery or data is due (the
    /// handshake's last ACK, every segment of the close). Off with header
    /// prediction, so that tests/header_prediction.rs compares it with the
    /// general path.
    #[inline]
    fn sends_control_only(&self) -> bool {
        self.flags.sends_control_only() && self.sndbuf.unsent_len() == 0 && self.no_replies()
    }

    /// Whether [`next_segment`](Self::next_segment) comes down to our SYN
    /// or SYN-ACK (`syn_segment`): it is due, no reply is queued, and the
    /// state sends one. Off with header prediction, as
    /// [`sends_control_only`](Self::sends_control_only).
    #[inline]
    fn sends_syn_only(&self) -> bool {
        self.flags.sends_syn_only()
            && !matches!(self.state, State::Closed | State::Listen)
            && self.no_replies()
    }

    /// [`take_pure_ack`](Self::take_pure_ack) and what
    /// [`transmit`](Self::transmit) does with its segment (no data: no PRR
    /// count, PSH or GSO mark; outside recovery), the segment built last,
    /// straight into the caller's.
    #[inline(always)]
    fn pure_ack_fast(&mut self, now: Instant) -> Segment {
        let flags = self.ecn_flags_on_transmit(Flags::ACK, false);
        self.count_segment_out();
        let window = self.window_field();
        self.on_ack_sent_fields(self.rcv_nxt, window, false);
        self.data_segment_with(now, self.snd_nxt, flags, Bytes::new(), window)
    }

    /// [`new_data`](Self::new_data)'s FIN alone and what
    /// [`transmit`](Self::transmit) does with it, as
    /// [`pure_ack_fast`](Self::pure_ack_fast).
    #[inline(always)]
    fn fin_fast(&mut self, now: Instant) -> Segment {
        let seq = self.take_fin_alone(now);
        let flags = self.ecn_flags_on_transmit(Flags::ACK.with(Flags::FIN), false);
        self.count_segment_out();
        let window = self.window_field();
        self.on_ack_sent_fields(self.rcv_nxt, window, false);
        self.data_segment_with(now, seq, flags, Bytes::new(), window)
    }

    /// Whether no reply (a RST) is queued: a null test while the cold
    /// state was never allocated, as in nearly every connection.
    #[inline(always)]
    pub(super) fn no_replies(&self) -> bool {
        self.cold.allocated().is_none_or(|c| c.replies.is_empty())
    }

    /// Whether the retransmission timer has not expired since the last
    /// progress (`Cold::retries` is zero; a null test while the cold state
    /// was never allocated).
    #[inline(always)]
    pub(super) fn no_retries(&self) -> bool {
        self.cold.allocated().is_none_or(|c| c.retries == 0)
    }

    /// Whether out-of-order data waits to be reported in SACK blocks (none
    /// while the cold state was never allocated).
    #[inline(always)]
    fn has_sack_report(&self) -> bool {
        self.cold
            .allocated()
            .is_some_and(|c| !c.sack_report.is_empty())
    }

    /// A cheap test that every source of output below is empty, so that
    /// the common "anything more?" call costs a few comparisons.
    #[inline]
    pub(super) fn nothing_to_send(&self) -> bool {
        // `output_due`: SYN, ACK, loss probe, zero-window or keep-alive
        // probe due, or a fast or go-back-N retransmission pending.
        !self.flags.output_due()
            && self.no_replies()
            && !(self.flags.in_recovery() && self.flags.sack_enabled())
            && self.sndbuf.unsent_len() == 0
            && self.fin_seq().is_none_or(|f| self.snd_nxt.gt(f))
    }

    /// [`nothing_to_send`](Self::nothing_to_send), but false in any
    /// recovery: `poll_transmit`'s test, with the recovery flag in the one
    /// mask test. In recovery without SACK the chain then finds nothing
    /// that test would not (no step of `next_segment` has anything, and
    /// `transmit`'s empty end arms the persist timer as `poll_transmit`
    /// does): only the cost differs.
    #[inline(always)]
    fn nothing_to_send_outside_recovery(&self) -> bool {
        !self.flags.output_due_or_recovery()
            && self.no_replies()
            && self.sndbuf.unsent_len() == 0
            && self.fin_seq().is_none_or(|f| self.snd_nxt.gt(f))
    }

    /// Whether every source of output below but the pure ACK is empty
    /// (the receiving side of a transfer): then the chain of
    /// [`next_segment`](Self::next_segment) would come down to
    /// [`take_pure_ack`](Self::take_pure_ack) without effect on the way
    /// (no retransmission, probe, recovery segment, new data or FIN due).
    #[inline]
    fn only_ack_due(&self) -> bool {
        // Bit tests of one word (LLVM folds them into one mask test), then
        // the queue of new data.
        let f = self.flags;
        !f.syn_pending()
            && !f.has_fast_rtx()
            && !f.tlp_pending()
            && !f.in_recovery()
            && !f.has_rtx_next()
            && !f.has_fin_seq()
            && !f.zero_window_probe()
            && !f.keepalive_probe()
            && self.sndbuf.unsent_len() == 0
    }

    fn next_segment(&mut self, now: Instant) -> Option<Segment> {
        if let Some(mut r) = self
            .cold
            .present()
            .map(|c| &mut c.replies)
            .and_then(VecDeque::pop_front)
        {
            if r.options.timestamps.is_some() {
                self.stamp(now, &mut r); // Our own RST: TSval of now.
            }
            return Some(r);
        }
        match self.state {
            State::Closed | State::Listen => return None,
            _ => {}
        }
        if self.flags.syn_pending() && !self.flags.syn_acked() {
            self.flags.set_syn_pending(false);
            return Some(self.syn_segment(now, false));
        }
        if !self.flags.syn_acked() || self.only_ack_due() {
            return self.take_pure_ack(now);
        }
        if let Some(seq) = self.take_fast_rtx()
            && let Some(s) = self.retransmission(now, seq, self.snd_mss)
        {
            return Some(s);
        }
        if self.flags.tlp_pending() {
            self.flags.set_tlp_pending(false);
            if let Some(s) = self.tail_loss_probe(now) {
                return Some(s);
            }
        }
        if self.flags.in_recovery() && self.flags.sack_enabled() {
            if let Some(s) = self.sack_recovery_segment(now) {
                return Some(s);
            }
            return self.probe_or_ack(now);
        }
        if let Some(s) = self.go_back_n(now) {
            return Some(s);
        }
        if let Some(s) = self.new_data(now, false) {
            return Some(s);
        }
        self.probe_or_ack(now)
    }

    /// RFC 8985 §7.3: new data if the peer's window allows (whatever the
    /// congestion window), else the last segment sent again.
    fn tail_loss_probe(&mut self, now: Instant) -> Option<Segment> {
        let high = self.snd_nxt;
        let (s, rtx) = match self.new_data(now, true) {
            Some(s) => (s, false),
            None => {
                // The highest-sequence segment sent: the last data
                // segment, with the FIN if it carried it, or a FIN that
                // went alone after it (as Linux probes its last skb).
                let fin = self.fin_seq().filter(|_| self.fin_sent());
                let seq = match self.sndbuf.last_entry() {
                    Some((_, false)) if fin.is_some() => fin?,
                    Some((seq, _)) => seq,
                    None => fin?,
                };
                (self.retransmission(now, seq, self.snd_mss)?, true)
            }
        };
        self.set_tlp_high_seq(Some(if rtx { high } else { self.snd_nxt }));
        self.flags.set_tlp_was_rtx(rtx);
        self.flags.set_tlp_dsack(false);
        self.cold.make().rare.tail_loss_probes += 1;
        Some(s)
    }

    /// RFC 6675 §4 NextSeg under the PRR budget (RFC 6937): (1) the first
    /// lost hole above HighRxt, (2) new data, (3) a hole not yet deemed lost
    /// below the highest SACKed octet, (4) once per recovery, a rescue
    /// retransmission of the segment holding the highest un-SACKed octet.
    fn sack_recovery_segment(&mut self, now: Instant) -> Option<Segment> {
        let mss = self.snd_mss;
        let una = self.snd_una;
        let lost = self.lost_end();
        let (hole, run) = self.cold.scoreboard.next_hole(self.high_rxt.max(una));
        let hole_len = |upto: SeqNum| {
            let n = run.unwrap_or(u32::MAX).min(upto.dist(hole));
            n.min(mss)
        };
        if hole.lt(lost) {
            let len = hole_len(lost);
            if !self.cold.prr.may_send(len) {
                return None;
            }
            return self.recovery_retransmission(now, hole, len);
        }
        if let Some(s) = self.new_data(now, false) {
            return Some(s);
        }
        if let Some(high) = self.cold.scoreboard.high_sacked()
            && hole.lt(high)
        {
            let len = hole_len(high);
            if self.cold.prr.may_send(len) && self.sndbuf.unsent_len() == 0 {
                return self.recovery_retransmission(now, hole, len);
            }
            return None;
        }
        self.rescue_retransmission(now)
    }

    /// RFC 6675 §4 NextSeg (4): nothing else to send, yet un-SACKed data is
    /// outstanding (typically a lost tail with nothing sent after it): one
    /// segment of up to SMSS that ends with the highest un-SACKed octet,
    /// once per recovery; HighRxt is not moved. Only with RFC 6675's own
    /// loss detection: RACK-TLP (RFC 8985 §7) probes such a tail instead.
    fn rescue_retransmission(&mut self, now: Instant) -> Option<Segment> {
        if self.rack_on() || self.sndbuf.unsent_len() > 0 {
            return None;
        }
        let end = self
            .cold
            .scoreboard
            .highest_unsacked_end(self.snd_una, self.snd_nxt)?;
        let start = self.snd_una.max(end.sub(self.snd_mss));
        let len = end.dist(start);
        if !self.cold.prr.may_send(len) || !self.cold.make().prr.take_rescue() {
            return None;
        }
        self.retransmission(now, start, len)
    }

    fn recovery_retransmission(&mut self, now: Instant, seq: SeqNum, len: u32) -> Option<Segment> {
        let s = self.retransmission(now, seq, len)?;
        let end = seq.add(s.payload.len() as u32);
        if end.gt(self.high_rxt) {
            self.high_rxt = end;
        }
        Some(s)
    }

    /// A zero-window or keep-alive probe when one is due, else a pure ACK.
    fn probe_or_ack(&mut self, now: Instant) -> Option<Segment> {
        if self.flags.zero_window_probe() || self.flags.keepalive_probe() {
            // §3.8.6.1 / §3.8.4: an out-of-window ACK (SEQ = SND.UNA − 1, no data)
            // draws an ACK with the peer's current window without spending
            // sequence space, as Linux does (SHLD-12).
            self.flags.set_zero_window_probe(false);
            self.flags.set_keepalive_probe(false);
            let mut s = self.make_segment(self.snd_una.sub(1), Flags::ACK);
            self.stamp(now, &mut s);
            return Some(s);
        }
        self.take_pure_ack(now)
    }

    #[inline(always)]
    fn take_pure_ack(&mut self, now: Instant) -> Option<Segment> {
        if !self.flags.ack_now() || !self.state_sends_acks() {
            return None;
        }
        // Built once, where it is returned (as `make_segment` and `stamp`
        // would build it: a pure ACK is a data segment without data).
        Some(self.data_segment(now, self.snd_nxt, Flags::ACK, Bytes::new()))
    }

    fn state_sends_acks(&self) -> bool {
        // In SYN-SENT there is nothing to acknowledge yet.
        !matches!(self.state, State::Closed | State::Listen | State::SynSent)
    }

    /// SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED, also after a simultaneous
    /// open, with the same ISS), with our options (MUST-14, SHLD-5). With
    /// `finish`, also what [`transmit`](Self::transmit) does with it (no
    /// data: no ECN mark, PRR count, PSH or GSO mark; the ACK bookkeeping of
    /// a SYN-ACK), done before the segment is built, straight into the
    /// caller's.
    #[inline(always)]
    fn syn_segment(&mut self, now: Instant, finish: bool) -> Segment {
        let with_ack = self.state != State::SynSent;
        // RFC 3168 §6.1.1: ECN-setup SYN (ECE, CWR) or SYN-ACK (ECE).
        let flags = if with_ack {
            self.ecn_synack_flags(Flags::SYN.with(Flags::ACK))
        } else {
            self.ecn_syn_flags(Flags::SYN, self.no_retries())
        };
        let ack = if with_ack { self.rcv_nxt } else { SeqNum(0) };
        // RFC 7323 §2.2: the window of a SYN is never scaled.
        let window = self.rcvbuf.window().min(65535) as u16;
        let active = self.state == State::SynSent;
        let mut options = Options {
            mss: Some(self.cfg.mss),
            ..Options::default()
        };
        // Offer options on a SYN; on a SYN-ACK only echo what the peer offered.
        if self.cfg.window_scale && (active || self.rcv_wscale > 0 || self.snd_wscale > 0) {
            options.window_scale = Some(self.wscale_offer);
        }
        // RFC 2018 §2: offered on a SYN, echoed on a SYN-ACK.
        options.sack_permitted = if active {
            self.cfg.sack
        } else {
            self.flags.sack_enabled()
        };
        if active && self.cfg.timestamps {
            options.timestamps = Some(Timestamps {
                val: self.ts_now(now),
                ecr: 0,
            });
        } else if self.flags.ts_enabled() {
            options.timestamps = Some(Timestamps {
                val: self.ts_now(now),
                ecr: self.ts_recent,
            });
        }
        if with_ack {
            // SHLD-14: a retransmitted SYN-ACK (unscaled window) never pulls
            // back an edge a scaled ACK already offered.
            let edge = self.rcv_nxt.add(u32::from(window));
            if edge.gt(self.rcv_adv) {
                self.rcv_adv = edge;
            }
        }
        if self.no_retries() && self.rtt_probe().is_none() && self.cold.syn_resent_at.is_none() {
            self.set_syn_rtt_probe(Some(now));
        } else {
            // Sent before (a timeout, or the answer to a duplicate SYN):
            // Karn (RFC 6298 §3) forbids timing the ACK from either
            // transmission; only a timestamp echo this new may time it.
            self.set_syn_rtt_probe(None);
            self.cold.make().syn_resent_at = Some(now);
        }
        if !self.timers.is_set(Timer::Retransmit) {
            self.timers
                .set_after(Timer::Retransmit, now, self.rtt.rto_micros(&self.cfg));
        }
        let flags = if finish {
            let flags = self.ecn_flags_on_transmit(flags, false);
            self.count_segment_out();
            if with_ack {
                self.on_ack_sent_fields(ack, window, true);
            }
            flags
        } else {
            flags
        };
        Segment {
            src_port: self.local_port,
            dst_port: self.remote_port,
            seq: self.iss,
            ack,
            flags,
            window,
            urgent: 0,
            options,
            payload: Bytes::new(),
        }
    }

    /// One segment starting at `seq` from what was already sent: data, or
    /// the FIN at its original sequence number (B6).
    fn retransmission(&mut self, now: Instant, seq: SeqNum, max: u32) -> Option<Segment> {
        if !seq.lt(self.snd_nxt) {
            return None;
        }
        let data = self.sndbuf.sent_slice(seq, max.min(self.snd_mss) as usize);
        if !data.is_empty() {
            // Data sent, as Linux's lsndtime counts it: a sender busy
            // retransmitting is not idle (RFC 5681 §4.1).
            self.last_data_sent = now;
            self.sndbuf.mark_retransmitted(seq, now);
            let tsval = self.flags.ts_enabled().then(|| self.ts_now(now));
            if let Some(c) = self.cold.present() {
                c.undo.on_retransmit(seq.add(data.len() as u32), tsval);
            }
        }
        let fin = self
            .fin_seq()
            .filter(|f| *f == seq.add(data.len() as u32) && self.fin_sent());
        if data.is_empty() && fin.is_none() {
            return None;
        }
        self.cold.make().rare.retransmits += 1;
        let mut flags = Flags::ACK;
        if fin.is_some() {
            flags = flags.with(Flags::FIN);
        }
        // Data first sent with PSH keeps it when resent up to that end.
        if !data.is_empty() && self.sndbuf.pushed_up_to(seq.add(data.len() as u32)) {
            flags = flags.with(Flags::PSH);
        }
        let end = seq.add(data.len() as u32 + u32::from(fin.is_some()));
        if let Some(c) = self.rtx_next()
            && c.lt(end)
            && !c.lt(seq)
        {
            self.set_rtx_next(if end == self.snd_nxt { None } else { Some(end) });
        }
        // Karn (MUST-18): nothing timed across a retransmission.
        self.set_syn_rtt_probe(None);
        // RFC 6298 (5.1) starts a stopped timer. Resending SND.UNA's
        // segment also restarts a running one, as Linux's
        // `tcp_xmit_retransmit_queue` rearms it when it resends the head:
        // the timer then guards the resend, and does not fire one RTO
        // after the original transmission, just behind a fast or RACK
        // retransmission that has had no time to be acknowledged.
        if seq == self.snd_una {
            self.restart_rto(now);
        } else if !self.timers.is_set(Timer::Retransmit) {
            self.timers
                .set_after(Timer::Retransmit, now, self.rtt.rto_micros(&self.cfg));
        }
        Some(self.data_segment(now, seq, flags, data))
    }

    /// After an RTO: resend from the cursor as the congestion window allows.
    /// Nearly always there is no cursor: that test is inlined into the caller.
    #[inline(always)]
    fn go_back_n(&mut self, now: Instant) -> Option<Segment> {
        let cursor = self.rtx_next()?;
        self.go_back_n_from(now, cursor)
    }

    /// [`go_back_n`](Self::go_back_n) with the cursor it found.
    #[inline(never)]
    fn go_back_n_from(&mut self, now: Instant, mut cursor: SeqNum) -> Option<Segment> {
        if !self.cold.scoreboard.is_empty() {
            // What the peer SACKed since the timeout needs no resend.
            cursor = self.cold.scoreboard.next_hole(cursor).0;
            self.set_rtx_next(Some(cursor));
        }
        if !cursor.lt(self.snd_nxt) {
            self.set_rtx_next(None);
            return None;
        }
        let cwnd = self.cc.cwnd();
        // The first segment after an RTO always goes out (RFC 6298 (5.4)).
        if cursor != self.snd_una && self.flight_size() >= cwnd {
            return None;
        }
        let s = self.retransmission(now, cursor, self.snd_mss);
        if s.is_none() {
            self.set_rtx_next(None);
        }
        s
    }

    /// New data within the peer's window and the congestion window, with
    /// Nagle (Minshall's variant, RFC 9293 A.3) and sender SWS avoidance
    /// (MUST-38); a FIN rides on the last segment.
    fn new_data(&mut self, now: Instant, probe: bool) -> Option<Segment> {
        if !self.state_sends_new_data() || self.rtx_next().is_some() {
            return None;
        }
        let unsent = self.sndbuf.unsent_len();
        let fin_due = self.fin_seq().is_some() && !self.fin_sent();
        if unsent == 0 {
            if fin_due {
                let seq = self.take_fin_alone(now);
                // Built last, straight into the return (the probe timer
                // is nothing the segment reads).
                return Some(self.data_segment(
                    now,
                    seq,
                    Flags::ACK.with(Flags::FIN),
                    Bytes::new(),
                ));
            }
            return None;
        }
        let nd = self.new_data_len(probe, fin_due);
        self.send_new_data(now, nd, fin_due)
    }

    /// The states in which new data (and a FIN) may go.
    #[inline(always)]
    fn state_sends_new_data(&self) -> bool {
        matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        )
    }

    /// A FIN alone goes now: it takes its sequence number (returned),
    /// arms the retransmission timer and, with RACK, the loss probe.
    #[inline(always)]
    fn take_fin_alone(&mut self, now: Instant) -> SeqNum {
        let seq = self.snd_nxt;
        self.start_progress_clock(now);
        self.snd_nxt = self.snd_nxt.add(1);
        if !self.timers.is_set(Timer::Retransmit) {
            self.timers
                .set_after(Timer::Retransmit, now, self.rtt.rto_micros(&self.cfg));
        }
        if self.rack_on() {
            // A FIN alone is a tail too (Linux probes it).
            self.arm_loss_probe(now);
        }
        seq
    }

    /// The rest of [`new_data`](Self::new_data) once `nd` says how much may go.
    #[inline(always)]
    fn send_new_data(&mut self, now: Instant, nd: NewData, fin_due: bool) -> Option<Segment> {
        let (seq, flags, data) = self.take_new_data(now, nd, fin_due)?;
        Some(self.data_segment(now, seq, flags, data))
    }

    /// [`send_new_data`](Self::send_new_data) but the segment: the
    /// octets moved into flight, where they start and the flags.
    #[inline(always)]
    fn take_new_data(
        &mut self,
        now: Instant,
        nd: NewData,
        fin_due: bool,
    ) -> Option<(SeqNum, Flags, Bytes)> {
        let NewData {
            want,
            len,
            held,
            flight,
            cwnd,
        } = nd;
        if len < want {
            // The congestion window, not the application, holds data back.
            self.usage.on_send(true, flight, self.snd_una, self.snd_nxt);
        }
        if held && (self.flags.corked() || self.flags.more_hold()) && self.snd_una == self.snd_nxt {
            self.arm_cork_probe(now);
        }
        if len == 0 || held {
            return None;
        }
        let mss = self.snd_mss;
        let seq = self.snd_nxt;
        let data = self.sndbuf.take_unsent(seq, len as usize, now);
        let n = data.len() as u32;
        if n == 0 {
            return None;
        }
        self.start_progress_clock(now);
        self.snd_nxt = self.snd_nxt.add(n);
        self.count_bytes_sent(n);
        self.last_data_sent = now;
        if n < mss {
            self.snd_sml = self.snd_nxt;
        }
        let mut flags = Flags::ACK;
        if self.sndbuf.unsent_len() == 0 {
            if !self.flags.more_unpushed() {
                flags = flags.with(Flags::PSH); // MUST-61
            }
            if fin_due {
                flags = flags.with(Flags::FIN);
                self.snd_nxt = self.snd_nxt.add(1);
            }
        }
        let flight = flight + n;
        self.usage
            .on_send(flight >= cwnd, flight, self.snd_una, self.snd_nxt);
        if !self.timers.is_set(Timer::Retransmit) {
            self.timers
                .set_after(Timer::Retransmit, now, self.rtt.rto_micros(&self.cfg));
        }
        if self.rack_on() {
            self.arm_loss_probe(now);
        }
        Some((seq, flags, data))
    }

    /// A corked tail with nothing in flight is not held forever: Linux's
    /// probe timer sends it after max(RTO, 200 ms) (the "200 ms ceiling"
    /// of `TCP_CORK`, also for `MSG_MORE`).
    fn arm_cork_probe(&mut self, now: Instant) {
        if self.timers.is_set(Timer::Persist) {
            return;
        }
        let d = self
            .rtt
            .rto(&self.cfg)
            .max(core::time::Duration::from_millis(200));
        self.timers.set(Timer::Persist, now + d);
        self.flags.set_cork_probe(true);
    }

    /// How much new data may go now; see [`NewData`].
    #[inline(always)]
    fn new_data_len(&self, probe: bool, fin_due: bool) -> NewData {
        self.new_data_len_at(probe, fin_due, self.cc.cwnd())
    }

    /// [`new_data_len`](Self::new_data_len) with the congestion window
    /// `cwnd` (the controller's, read by the caller).
    #[inline(always)]
    fn new_data_len_at(&self, probe: bool, fin_due: bool, cwnd: u32) -> NewData {
        let unsent = self.sndbuf.unsent_len();
        // MUST-34: a shrunk window makes the usable window zero, not negative.
        let wnd_end = self.snd_una.add(self.snd_wnd);
        let usable = if wnd_end.gt(self.snd_nxt) {
            wnd_end.dist(self.snd_nxt)
        } else {
            0
        };
        let flight = self.flight_size();
        let mss = self.snd_mss;
        let cwnd_room = if probe {
            mss
        } else if self.flags.in_recovery() && self.flags.sack_enabled() {
            self.cold.prr.room(mss)
        } else {
            let mut cwnd = cwnd;
            if !self.flags.sack_enabled() && !self.flags.in_recovery() && self.cold.dupacks < 3 {
                // RFC 3042 limited transmit: each of the first two duplicate
                // ACKs lets one new segment go beyond the window. (With SACK,
                // pipe already leaves out what the duplicates SACKed.)
                cwnd = cwnd.saturating_add(self.cold.dupacks * mss);
            }
            cwnd.saturating_sub(flight)
        };
        let want = (unsent.min(mss as usize) as u32).min(usable);
        let len = want.min(cwnd_room);
        let held = self.holds_back(len, unsent, flight, fin_due);
        NewData {
            want,
            len,
            held,
            flight,
            cwnd,
        }
    }

    /// Whether `len` octets of new data (of `unsent` queued) wait for now:
    /// nothing may go, a cork or `send_more` holds a short tail, Nagle holds
    /// a small tail behind an unacknowledged small segment, or SWS avoidance
    /// refuses a small window-limited piece.
    #[inline]
    fn holds_back(&self, len: u32, unsent: usize, flight: u32, fin_due: bool) -> bool {
        if len == 0 {
            return true;
        }
        let mss = self.snd_mss;
        // A corked sender (or one that said more follows) holds a short
        // tail until uncorked, the FIN, or a push.
        let pushed = !self.push_end.lt(self.snd_nxt.add(len));
        if (self.flags.corked() || self.flags.more_hold())
            && len < mss
            && len as usize == unsent
            && !fin_due
            && !pushed
        {
            return true;
        }
        if len < mss && flight > 0 {
            let all_queued = len as usize == unsent;
            // Nagle/Minshall: hold a small tail while a small segment is unacknowledged.
            let small_unacked = self.snd_sml.gt(self.snd_una);
            if all_queued && self.cfg.nagle && small_unacked && !fin_due {
                return true;
            }
            // SWS (RFC 9293 §3.8.6.2.1): a window-limited piece must be at
            // least half the largest window seen.
            if !all_queued && len < self.max_snd_wnd / 2 {
                return true;
            }
        }
        false
    }

    /// Linux sends a run of new data as GSO packets of up to
    /// [`gso_max_segs`](Self::gso_max_segs) segments and forces PSH on
    /// every packet of more than one segment (a GRO flush hint to the
    /// receiver; Linux 5.6, "tcp: force a PSH flag on TSO packets"). For a
    /// stack that sends single segments, that is PSH on the segment that
    /// closes such a packet: the group is full, or this segment is the last
    /// of the run (`last`, or nothing more may go now). Returns whether the
    /// new-data segment just sent, which started at `seq`, gets PSH.
    #[inline(always)]
    fn closes_gso_burst(&mut self, seq: SeqNum, last: bool) -> bool {
        let fin_due = self.fin_seq().is_some() && !self.fin_sent();
        self.closes_gso_burst_at(seq, last, fin_due, None)
    }

    /// [`closes_gso_burst`](Self::closes_gso_burst) with `fin_due` (a FIN
    /// waits to be sent) and, when the caller knows it, the congestion
    /// window (else it is read).
    #[inline(always)]
    fn closes_gso_burst_at(
        &mut self,
        seq: SeqNum,
        last: bool,
        fin_due: bool,
        cwnd: Option<u32>,
    ) -> bool {
        let (next, count) = (self.gso_burst_next, self.gso_burst_count);
        let count = if next == seq {
            count.saturating_add(1)
        } else {
            1
        };
        let cwnd = cwnd.unwrap_or_else(|| self.cc.cwnd());
        // The cheap tests first.
        let closes =
            last || matches!(
                self.new_data_len_at(false, fin_due, cwnd),
                NewData { len: 0, .. } | NewData { held: true, .. }
            ) || self.gso_burst_full(u32::from(count), cwnd);
        self.gso_burst_next = self.snd_nxt;
        self.gso_burst_count = if closes { 0 } else { count };
        closes && count >= 2
    }

    /// Whether `count` segments fill a GSO packet: it holds
    /// [`gso_max_segs`](Self::gso_max_segs) (at least 2), but at most half
    /// the congestion window, so that at least two are in flight (Linux's
    /// `tcp_cwnd_test`). Below 4 segments of window that is one segment:
    /// every packet is a single segment, and none gets the forced PSH.
    /// `count ≥ max(⌊cwnd / 2·SMSS⌋, 1)` is tested as `(count + 1)·2·SMSS
    /// > cwnd`: no division, and first, as the cheaper.
    #[inline]
    fn gso_burst_full(&self, count: u32, cwnd: u32) -> bool {
        let mss = u64::from(self.snd_mss.max(1));
        (u64::from(count) + 1) * 2 * mss > u64::from(cwnd)
            || (count >= 2 && count >= self.gso_max_segs(cwnd))
    }

    /// Linux's `tcp_tso_autosize`: about 1 ms of data at the pacing rate
    /// (twice cwnd per RTT in slow start, 1.2 times after), plus a share of
    /// 64 KiB on paths under a few ms, never under `min_gso_segs` (at
    /// least 2) segments nor over 64 KiB. Before an RTT sample there is no pacing rate: 64 KiB.
    fn gso_max_segs(&self, cwnd: u32) -> u32 {
        const GSO_MAX: u64 = 65536;
        let mss = u64::from(self.snd_mss.max(1));
        let min = u64::from(self.cfg.min_gso_segs.max(2));
        let Some(srtt_us) = self.rtt.srtt_micros() else {
            return (GSO_MAX / mss).max(min) as u32;
        };
        // The share of 64 KiB for a short path: all of it under 512 µs.
        let share = match self.rtt.min_rtt_micros() {
            Some(min_rtt_us) if min_rtt_us >> 9 < 32 => GSO_MAX >> (min_rtt_us >> 9),
            _ => 0,
        };
        if share == GSO_MAX {
            // The share alone reaches the cap: no need for the rate.
            return (GSO_MAX / mss).max(min) as u32;
        }
        let srtt_us = u64::from(srtt_us).max(1);
        let ratio = if cwnd < self.cc.ssthresh() / 2 {
            200
        } else {
            120
        };
        let rate = u64::from(cwnd) * ratio / 100 * 1_000_000 / srtt_us;
        let bytes = (rate >> 10) + share;
        (bytes.min(GSO_MAX) / mss).max(min) as u32
    }

    /// The user timeout counts from when data went out into an empty
    /// flight, not from the last ACK before an idle period.
    /// Sending into an empty flight also ends an idle period for the
    /// congestion controller.
    fn start_progress_clock(&mut self, now: Instant) {
        if self.snd_una == self.snd_nxt {
            self.last_progress = now;
            // The RTO is never below its base: a sender that keeps up (every
            // ACK of a bulk transfer empties the flight) is out after one
            // subtraction and one comparison.
            let idle = now
                .total_micros()
                .saturating_sub(self.last_data_sent.total_micros());
            if idle > self.rtt.base_rto_micros() && self.cfg.slow_start_after_idle {
                self.restart_window_after_idle(idle);
            }
            self.cc.on_restart_after_idle(now);
        }
    }

    /// [`restart_after_idle`](crate::cc::restart_after_idle) when more than
    /// an RTO passed without data sent (new or retransmitted).
    #[inline(never)]
    fn restart_window_after_idle(&mut self, idle: u64) {
        let rto = self.rtt.rto_micros(&self.cfg);
        if idle <= rto {
            return;
        }
        let cc = self.cc.get();
        let iw = self.cfg.initial_window.saturating_mul(self.snd_mss);
        let (cwnd, ssthresh) =
            crate::cc::restart_after_idle(cc.cwnd(), cc.ssthresh(), iw, idle, rto);
        self.cc.get_mut().set_window(cwnd, ssthresh);
    }

    /// `<SEQ=seq><ACK=RCV.NXT><CTL=flags>` carrying `payload` (or a lone
    /// FIN, or nothing: a pure ACK): [`make_segment`](Self::make_segment)
    /// and [`stamp`](Self::stamp) for a segment that always has ACK, built
    /// in one place (a data segment in a bulk transfer is this, every time).
    #[inline(always)]
    fn data_segment(&mut self, now: Instant, seq: SeqNum, flags: Flags, payload: Bytes) -> Segment {
        let window = self.window_field();
        self.data_segment_with(now, seq, flags, payload, window)
    }

    /// [`data_segment`](Self::data_segment) with the window field.
    #[inline(always)]
    fn data_segment_with(
        &mut self,
        now: Instant,
        seq: SeqNum,
        flags: Flags,
        payload: Bytes,
        window: u16,
    ) -> Segment {
        debug_assert!(flags.ack() && !flags.rst());
        // Each option its own value, the whole built once in the segment
        // (not a default set and then copied in).
        let timestamps = self.flags.ts_enabled().then(|| Timestamps {
            val: self.ts_now(now),
            ecr: self.ts_recent,
        });
        let sack_blocks = if self.flags.sack_enabled() && self.has_sack_report() {
            self.data_sack_blocks(payload.len())
        } else {
            // No blocks: written as zeros straight into the segment, not
            // built apart and copied in as a block list would be.
            return Segment {
                src_port: self.local_port,
                dst_port: self.remote_port,
                seq,
                ack: self.rcv_nxt,
                flags,
                window,
                urgent: 0,
                options: Options {
                    mss: None,
                    window_scale: None,
                    sack_permitted: false,
                    sack_blocks: SackBlocks::new(),
                    timestamps,
                },
                payload,
            };
        };
        Segment {
            src_port: self.local_port,
            dst_port: self.remote_port,
            seq,
            ack: self.rcv_nxt,
            flags,
            window,
            urgent: 0,
            options: Options {
                mss: None,
                window_scale: None,
                sack_permitted: false,
                sack_blocks,
                timestamps,
            },
            payload,
        }
    }

    /// The SACK blocks of a segment carrying `payload_len` octets: those
    /// [`make_segment`](Self::make_segment) reports, less any that would
    /// push the segment past the MSS (RFC 9293 §3.7.1: keep those that fit
    /// beside the payload).
    #[inline(never)]
    fn data_sack_blocks(&mut self, payload_len: usize) -> SackBlocks {
        let all = self.report_sack_blocks();
        if all.is_empty() || payload_len == 0 {
            return all;
        }
        let room = self.snd_mss.saturating_sub(payload_len as u32);
        let fit = (room.saturating_sub(4) / 8) as usize;
        let mut kept = SackBlocks::new();
        for b in all.as_slice().iter().take(fit) {
            kept.push(*b);
        }
        kept
    }

    /// The SACK blocks to report now (RFC 2018 §3: four fit, three beside
    /// timestamps), for a segment with ACK (and no RST) once SACK is on.
    fn report_sack_blocks(&mut self) -> SackBlocks {
        let mut blocks = SackBlocks::new();
        let max = if self.flags.ts_enabled() { 3 } else { 4 };
        let rcvbuf = &self.rcvbuf;
        self.cold
            .make()
            .sack_report
            .fill(&mut blocks, max, self.rcv_nxt, |s| rcvbuf.ooo_run(s));
        blocks
    }

    /// `<SEQ=seq><ACK=RCV.NXT><CTL=flags>` with the window we advertise now.
    pub(super) fn make_segment(&mut self, seq: SeqNum, flags: Flags) -> Segment {
        let window = if flags.ack() { self.window_field() } else { 0 };
        let mut options = Options::default();
        if self.flags.sack_enabled() && flags.ack() && !flags.rst() && self.has_sack_report() {
            options.sack_blocks = self.report_sack_blocks();
        }
        Segment {
            src_port: self.local_port,
            dst_port: self.remote_port,
            seq,
            ack: if flags.ack() { self.rcv_nxt } else { SeqNum(0) },
            flags,
            window,
            urgent: 0,
            options,
            payload: Bytes::new(),
        }
    }

    fn stamp(&self, now: Instant, s: &mut Segment) {
        if self.flags.ts_enabled() {
            s.options.timestamps = Some(Timestamps {
                val: self.ts_now(now),
                ecr: self.ts_recent,
            });
        }
    }

    /// The window field: the free buffer, but the right edge moves right only
    /// in steps of min(buffer/2, MSS) (MUST-39) and never left (SHLD-14).
    pub(super) fn window_field(&self) -> u16 {
        let free = self.rcvbuf.window() as u32;
        let cur = self.rcv_wnd();
        // While out-of-order data waits for a hole, the right edge stays put:
        // the duplicate ACKs then carry the same window, as RFC 5681 §2
        // requires of a duplicate (stacks that check it, BSD's and
        // smoltcp's, would otherwise miss the fast retransmit). An edge
        // that stays where it is (a sender that receives nothing) is
        // `free`, whichever rule applies.
        let wnd = if free == cur {
            free
        } else if self.rcvbuf.has_holes() {
            cur
        } else {
            let step = ((self.recv_buffer() / 2).min(usize::from(self.cfg.mss))) as u32;
            if free >= cur.saturating_add(step) {
                free
            } else {
                cur
            }
        };
        // Round up so that scaling never moves the edge left (SHLD-14); it
        // also keeps the field steady while the buffer is nearly empty (a
        // sender counts an ACK whose window changed as no duplicate, RFC 5681
        // §2). The rounding can offer less than one unit beyond the buffer:
        // the receive buffer holds that much slack, and nothing more.
        let s = u32::from(self.rcv_wscale);
        let field = wnd.div_ceil(1 << s);
        field.min(65535) as u16
    }

    /// Bookkeeping for every segment that carries our ACK.
    fn on_ack_sent(&mut self, s: &Segment) {
        self.on_ack_sent_fields(s.ack, s.window, s.flags.syn());
    }

    /// [`on_ack_sent`](Self::on_ack_sent) for a segment with these
    /// acknowledgment and window fields, and SYN or not.
    #[inline(always)]
    fn on_ack_sent_fields(&mut self, ack: SeqNum, window: u16, syn: bool) {
        self.flags.set_ack_now(false);
        self.unacked_rcv = 0;
        self.timers.stop(Timer::DelayedAck);
        self.last_ack_sent = ack;
        if !syn {
            let edge = self.rcv_nxt.add(u32::from(window) << self.rcv_wscale);
            if edge.gt(self.rcv_adv) {
                self.rcv_adv = edge;
            }
        }
    }

    /// The timestamp clock: milliseconds plus the caller's offset (RFC 7323 §5.4).
    pub(super) fn ts_now(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.ts_offset)
    }
}
