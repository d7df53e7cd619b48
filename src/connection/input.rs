//! Segment arrival: RFC 9293 §3.10.7, in the RFC's order, with RFC 5961,
//! RFC 7323 (window scale, timestamps, PAWS) and RFC 5681/6582 folded in.

use super::{Connection, Origin, Timer};
use crate::event::{CloseReason, Event};
use crate::listen::ListenAction;
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::Instant;
use crate::timewait::{self, TimeWaitAction, TimeWaitView};
use crate::wire::{Flags, SackBlock, Segment};
use bytes::{Buf, Bytes};

impl Connection {
    /// Processes one arriving segment. Never panics and never fails: a
    /// segment that does not belong is a counted drop (and maybe a RST or ACK).
    pub fn handle_segment(&mut self, now: Instant, mut seg: Segment) {
        self.count_segment_in();
        let listening = self.state == State::Listen && self.remote_port == 0;
        if seg.dst_port != self.local_port || (!listening && seg.src_port != self.remote_port) {
            self.cold.make().rare.dropped_other += 1;
            return;
        }
        match self.state {
            // SYN-RECEIVED and the synchronized states but TIME-WAIT
            // (which has its own rules, `on_time_wait`): the same steps
            // 1-5 apply in each.
            State::Established
            | State::SynReceived
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait
            | State::Closing
            | State::LastAck
                if self.predicted(&seg) =>
            {
                self.on_predicted(now, &mut seg)
            }
            State::Closed => self.on_closed(&seg),
            State::Listen => self.on_listen(now, &seg),
            State::SynSent => self.on_syn_sent(now, &mut seg),
            _ => self.on_other(now, &mut seg),
        }
        // With the window open and no probe pending there is nothing to
        // arm or disarm; skip the call.
        let persist_idle = self.snd_wnd > 0
            && self.cold.allocated().is_none_or(|c| c.persist_backoff == 0)
            && !self.timers.is_set(Timer::Persist);
        if self.state != State::Closed && !persist_idle {
            self.arm_persist_if_needed(now);
        }
    }

    /// §3.10.7.1: no TCB. Answer anything but a RST with a RST (C3/C4).
    fn on_closed(&mut self, seg: &Segment) {
        self.reply_reset(seg);
    }

    /// Queues the RST answering `seg` when it has no place (§3.10.7.1, B18).
    fn reply_reset(&mut self, seg: &Segment) {
        if let Some(rst) = reset_reply(seg) {
            self.push_reply(rst);
        }
    }

    /// §3.10.7.2: LISTEN (the rules live in [`crate::listen`]).
    fn on_listen(&mut self, now: Instant, seg: &Segment) {
        match crate::listen::on_segment(seg) {
            ListenAction::Ignore => return,
            ListenAction::Reset => {
                self.reply_reset(seg);
                return;
            }
            ListenAction::Drop => {
                self.cold.make().rare.dropped_other += 1;
                return;
            }
            ListenAction::Syn => {}
        }
        self.remote_port = seg.src_port;
        self.take_syn(now, seg);
        self.set_origin(Origin::Passive);
        self.flags.set_syn_pending(true);
        self.timers
            .set_after(Timer::Retransmit, now, self.rtt.rto_micros(&self.cfg));
        self.set_state(State::SynReceived);
    }

    /// Records what a SYN tells: IRS, MSS, window scale, timestamps (RFC 7323).
    fn take_syn(&mut self, now: Instant, seg: &Segment) {
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq.add(1);
        // The window our SYN or SYN-ACK offers (never scaled, RFC 7323 §2.2).
        self.rcv_adv = self.rcv_nxt.add(self.rcvbuf.window().min(65535) as u32);
        self.last_rcv = now;
        let o = &seg.options;
        // MUST-15: without the option the peer takes 536 (or what is configured).
        let peer_mss = o
            .mss
            .unwrap_or(self.cfg.default_peer_mss)
            .clamp(64, u16::MAX);
        // RFC 2018 §2: SACK only when both SYNs permit it.
        self.flags
            .set_sack_enabled(self.cfg.sack && o.sack_permitted);
        if let Some(r) = self.cold.present().map(|c| &mut c.sack_report) {
            r.clear();
        }
        let ts = self.cfg.timestamps && o.timestamps.is_some();
        self.flags.set_ts_enabled(ts);
        if let Some(t) = o.timestamps.filter(|_| ts) {
            self.ts_recent = t.val;
        }
        // MUST-16: the effective MSS leaves room for the options every segment carries.
        let opt = if ts { 12 } else { 0 };
        self.snd_mss = u32::from(peer_mss.min(self.cfg.mss))
            .saturating_sub(opt)
            .max(16);
        // Before the SYN exchange nothing reaches the controller (no ACK,
        // no loss, no data sent): it is as the connection was made with it.
        self.cc.restart_configured(&self.cfg, self.snd_mss);
        self.ecn_on_syn(seg);
        // RFC 7323 §2.2: scaling applies only when both SYNs carry the option;
        // §2.3: a shift above 14 is taken as 14.
        match o.window_scale.filter(|_| self.cfg.window_scale) {
            Some(ws) => {
                self.snd_wscale = ws.min(14);
                self.rcv_wscale = self.wscale_offer;
            }
            None => {
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        self.rcvbuf.set_scale(self.rcv_wscale);
        // RFC 7323 §2.2: the window of a SYN is never scaled.
        self.snd_wnd = u32::from(seg.window);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = seg.seq;
    }

    /// §3.10.7.3: SYN-SENT.
    fn on_syn_sent(&mut self, now: Instant, seg: &mut Segment) {
        let f = seg.flags;
        // First: the ACK. Acceptable only if ISS < SEG.ACK =< SND.NXT (B23).
        if f.ack() && (seg.ack.le(self.iss) || seg.ack.gt(self.snd_nxt)) {
            if !f.rst() {
                self.reply_reset(seg); // S1
            }
            self.cold.make().rare.dropped_bad_ack += 1;
            return;
        }
        // Second: the RST, which counts only with an acceptable ACK (S2/S3, B12).
        if f.rst() {
            if f.ack() {
                self.enter_closed(CloseReason::Refused);
            }
            return;
        }
        if !f.syn() {
            self.cold.make().rare.dropped_other += 1; // S7
            return;
        }
        // Fourth: the SYN.
        self.take_syn(now, seg);
        if f.ack() {
            // S4/S5: our SYN is acknowledged.
            self.snd_wl2 = seg.ack;
            self.ack_new_data(now, seg, &mut false);
            self.flags.set_syn_acked(true);
            self.flags.set_syn_pending(false);
            self.flags.set_ack_now(true);
            // What follows the SYN (nearly always nothing: then trimming
            // and steps 7 and 8 have nothing to do).
            if !seg.payload.is_empty() || seg.flags.fin() || self.rcv_fin().is_some() {
                seg.seq = seg.seq.add(1);
                seg.flags = seg.flags.without(Flags::SYN);
                let wnd = self.rcv_wnd();
                self.trim_to_window(seg, wnd);
                self.text_and_fin(now, seg);
            }
            self.finish_handshake(now);
        } else {
            // S6: simultaneous open (MUST-10): SYN-ACK with the same ISS.
            self.set_origin(Origin::Active);
            self.flags.set_syn_pending(true);
            if let Some(c) = self.cold.present() {
                c.retries = 0;
            }
            self.timers
                .set_after(Timer::Retransmit, now, self.rtt.rto_micros(&self.cfg));
            self.set_state(State::SynReceived);
        }
    }

    /// §3.10.7.4: SYN-RECEIVED and the synchronized states, steps 1–8.
    fn on_other(&mut self, now: Instant, seg: &mut Segment) {
        if self.state == State::SynReceived
            && self.origin() == Origin::Active
            && seg.flags.syn()
            && seg.flags.ack()
            && !seg.flags.rst()
            && seg.seq == self.irs
            && seg.ack.gt(self.snd_una)
            && seg.ack.le(self.snd_nxt)
        {
            // Simultaneous open (RFC 9293 Figure 8, lines 6-7): the peer's
            // SYN-ACK repeats the SYN already counted in RCV.NXT; its ACK is
            // what completes the handshake. Drop the old SYN, keep the rest.
            seg.seq = seg.seq.add(1);
            seg.flags = seg.flags.without(Flags::SYN);
        }
        let f = seg.flags;
        let orig_seq = seg.seq;
        self.last_rcv = now;
        self.keepalive_sent = 0;
        if let Some(k) = self.cfg.keepalive {
            self.timers.set(Timer::Keepalive, now + k.idle);
        }

        // TIME-WAIT has its own rules, shared with the Endpoint's compact entries.
        if self.state == State::TimeWait {
            self.on_time_wait(now, seg);
            return;
        }

        // Step 1: sequence number, after PAWS (RFC 7323 §5.3) when timestamps are on.
        let rcv_wnd = self.rcv_wnd();
        let paws_fail = self.flags.ts_enabled()
            && !f.rst()
            && seg
                .options
                .timestamps
                .is_some_and(|t| (t.val.wrapping_sub(self.ts_recent) as i32) < 0);
        if paws_fail || !self.acceptable(seg, rcv_wnd) {
            self.cold.make().rare.dropped_unacceptable += 1;
            if f.rst() {
                return; // Never answer a RST (invariant 4).
            }
            if self.state == State::SynReceived && f.syn() && !f.ack() && seg.seq == self.irs {
                // R1: a duplicate SYN: send the SYN-ACK again. A SYN-ACK at
                // IRS (simultaneous open) gets the plain ACK below instead:
                // answering it with our SYN-ACK would ping-pong forever.
                self.flags.set_syn_pending(true);
                return;
            }
            self.note_duplicate(seg);
            if !paws_fail && self.take_ack_of_old_segment(now, seg) {
                return;
            }
            self.oow_ack(now, seg);
            return;
        }
        self.note_duplicate(seg);
        self.trim_to_window(seg, rcv_wnd);

        // Step 2: RST (RFC 5961 §3.2: only an exact match resets; MUST-66).
        if f.rst() {
            if self.cfg.rfc5961 && orig_seq != self.rcv_nxt {
                self.challenge_ack(now);
                return;
            }
            self.on_reset(now);
            return;
        }

        // Step 3 (security/compartment) has no meaning without IP options.

        // Step 4: SYN in the window (the duplicate at IRS was handled in step 1).
        if seg.flags.syn() {
            if self.state == State::SynReceived
                && self.origin() == Origin::Passive
                && self.flags.one_shot_listener()
            {
                self.back_to_listen(now); // R6
                return;
            }
            if self.cfg.rfc5961 {
                self.challenge_ack(now); // RFC 5961 §4.2: whatever its sequence number.
            } else {
                self.reset_and_close(CloseReason::Reset);
            }
            return;
        }

        // Step 5: ACK.
        if !f.ack() {
            self.cold.make().rare.dropped_other += 1;
            return;
        }
        if !self.flags.syn_acked() {
            // SYN-RECEIVED: SND.UNA < SEG.ACK =< SND.NXT completes the handshake (R8/R10).
            if seg.ack.le(self.snd_una) || seg.ack.gt(self.snd_nxt) {
                self.reply_reset(seg);
                self.cold.make().rare.dropped_bad_ack += 1;
                return;
            }
            self.take_ack_of_syn(seg);
        }
        if seg.ack.gt(self.snd_nxt) {
            // E6: it acknowledges something not yet sent: ACK and drop (B3),
            // or, as Linux does in ESTABLISHED, drop without a word.
            self.cold.make().rare.dropped_bad_ack += 1;
            if !(self.cfg.drop_ack_of_unsent_silently && self.state == State::Established) {
                self.oow_ack(now, seg);
            }
            return;
        }
        if self.cfg.rfc5961 && seg.ack.lt(self.snd_una.sub(self.max_snd_wnd)) {
            // E7: RFC 5961 §5.2 blind data injection check (MAY-12).
            self.cold.make().rare.dropped_bad_ack += 1;
            self.challenge_ack(now);
            return;
        }
        self.process_ack(now, seg);
        self.after_ack(now, seg);
    }

    /// Step 5 in SYN-RECEIVED (or after a close there, R12) for an ACK
    /// with SND.UNA < SEG.ACK =< SND.NXT: our SYN is acknowledged.
    fn take_ack_of_syn(&mut self, seg: &Segment) {
        self.flags.set_syn_acked(true);
        self.flags.set_syn_pending(false);
        if self.state != State::SynReceived {
            // The application closed in SYN-RECEIVED (R12): the handshake
            // still completed, and it is told so.
            self.push_event(Event::Connected);
        }
        // B10: the window comes from this ACK.
        self.snd_wnd = u32::from(seg.window) << self.snd_wscale;
        self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = seg.ack;
    }

    /// The rest of step 5 once the ACK is taken, then steps 6–8 (URG noted
    /// only, text, FIN). Shared by [`Connection::on_other`] and the
    /// predicted path.
    fn after_ack(&mut self, now: Instant, seg: &mut Segment) {
        match self.state {
            State::Closing if self.fin_acked() => self.enter_time_wait(now), // G1
            State::LastAck if self.fin_acked() => {
                self.enter_closed(CloseReason::Normal); // A1
                return;
            }
            _ => {}
        }
        self.update_ts_recent(seg);

        // Steps 6–8: URG (noted only), text, FIN; nothing to do for a
        // segment without either when no FIN waits for a gap to fill.
        if !seg.payload.is_empty() || seg.flags.fin() || self.rcv_fin().is_some() {
            self.text_and_fin_outlined(now, seg);
        }
        self.finish_handshake(now);
        if self.state == State::FinWait1 && self.fin_acked() {
            self.set_state(State::FinWait2); // F1
            self.timers.stop(Timer::Retransmit);
            self.arm_fin_wait_2(now);
        }
    }

    /// Header prediction (after Van Jacobson's, as BSD and Linux do it):
    /// whether `seg`, arriving in a synchronized state other than
    /// TIME-WAIT, is the common case whose checks in steps 1–5 of
    /// §3.10.7.4 all pass without effect. It is an ACK (PSH and FIN
    /// allowed; no SYN, RST, URG, ECE or CWR) at exactly RCV.NXT, whose
    /// data (and FIN) fits the window and the buffer (so step 1 accepts it
    /// and trims nothing, and no D-SACK is due), that passes
    /// PAWS when timestamps are on, carries no SACK blocks and no SYN-only
    /// options, and acknowledges something in [SND.UNA, SND.NXT] (so
    /// neither E6 nor RFC 5961's blind-ACK test fires). Anything else takes
    /// the full steps in [`Connection::on_other`]; both give the same
    /// result (tests/header_prediction.rs compares them).
    #[inline(always)]
    fn predicted(&self, seg: &Segment) -> bool {
        if !self.flags.header_prediction()
            || seg.flags.without(Flags::PSH).without(Flags::FIN) != Flags::ACK
            || seg.seq != self.rcv_nxt
        {
            return false;
        }
        let o = &seg.options;
        if o.mss.is_some()
            || o.window_scale.is_some()
            || o.sack_permitted
            || !o.sack_blocks.is_empty()
        {
            return false;
        }
        if self.flags.ts_enabled() {
            match o.timestamps {
                Some(t) if (t.val.wrapping_sub(self.ts_recent) as i32) >= 0 => {}
                _ => return false,
            }
        }
        // SEG.LEN with the FIN: a FIN that fits keeps step 1's test (Table
        // 6 needs a window for it) and `trim_to_window` from cutting it.
        let len = seg.payload.len() as u64 + u64::from(seg.flags.fin());
        if len > 0 && len > u64::from(self.rcv_wnd().min(self.rcvbuf.room() as u32)) {
            return false;
        }
        if !self.flags.syn_acked() {
            // SYN-RECEIVED (also after a close there): an ACK of our SYN
            // completes the handshake in step 5 (R8/R10); anything else
            // there (a RST is due) takes the full steps. Above SND.UNA, it
            // cannot fail RFC 5961's blind-ACK test either.
            return seg.ack.gt(self.snd_una) && seg.ack.le(self.snd_nxt);
        }
        seg.ack.ge(self.snd_una)
            && seg.ack.le(self.snd_nxt)
            && !(self.cfg.rfc5961 && seg.ack.lt(self.snd_una.sub(self.max_snd_wnd)))
    }

    /// A segment [`Connection::predicted`] let through: what
    /// [`Connection::on_other`] does with it, minus the checks known to
    /// pass. When nothing is in flight and the ACK acknowledges nothing
    /// (the receiving side of a bulk transfer), step 5 comes down to the
    /// window update.
    fn on_predicted(&mut self, now: Instant, seg: &mut Segment) {
        self.last_rcv = now;
        self.keepalive_sent = 0;
        if let Some(k) = self.cfg.keepalive {
            self.timers.set(Timer::Keepalive, now + k.idle);
        }
        if !self.flags.syn_acked() {
            // `predicted` let only an ACK of our SYN through here.
            self.take_ack_of_syn(seg);
        }
        if seg.ack == self.snd_una
            && self.snd_una == self.snd_nxt
            && !self.flags.in_recovery()
            && self.tlp_high_seq().is_none()
        {
            // process_ack with nothing acknowledged, nothing SACKed, no ECE
            // and nothing in flight: no RTT sample, no duplicate, no loss
            // detection, no recovery, no probe to settle, no undo; only a
            // held `send_more` tail is released, and the window updated.
            self.flags.set_more_hold(false);
            let wnd = u32::from(seg.window) << self.snd_wscale;
            self.update_send_window(seg, wnd, false);
            if let Some(c) = self.cold.present() {
                c.persist_unanswered = 0;
            }
        } else {
            self.process_ack(now, seg);
        }
        if self.state == State::Established {
            // What `after_ack` does in ESTABLISHED (no state change is due,
            // the handshake is done), without its state tests: remember the
            // timestamp, then steps 7 and 8 (no state change before them:
            // `predicted` let no URG through).
            self.update_ts_recent(seg);
            if seg.payload.is_empty() && !seg.flags.fin() {
                // A pure ACK: no text, no FIN; only step 8's check for a
                // FIN that was waiting is left.
                if !self.flags.peer_finished() && self.rcv_fin() == Some(self.rcv_nxt) {
                    self.take_fin(now);
                }
            } else {
                self.text_and_fin(now, seg);
            }
        } else {
            self.after_ack(now, seg);
        }
    }

    /// A segment in TIME-WAIT: [`crate::timewait::on_segment`] decides.
    fn on_time_wait(&mut self, now: Instant, seg: &Segment) {
        let view = self.time_wait_view();
        match timewait::on_segment(&view, seg, self.cfg.rfc1337, self.cfg.rfc5961) {
            TimeWaitAction::Reopen => {
                self.reincarnate(now, seg, timewait::reincarnation_iss(&view))
            }
            TimeWaitAction::Ack { restart } => {
                self.cold.make().rare.dropped_unacceptable += 1;
                if restart {
                    self.timers.set(Timer::Linger, now + self.cfg.time_wait);
                }
                self.note_duplicate(seg);
                self.oow_ack(now, seg);
            }
            TimeWaitAction::ChallengeAck => self.challenge_ack(now),
            TimeWaitAction::Close => self.enter_closed(CloseReason::Normal),
            TimeWaitAction::ResetAndClose => self.reset_and_close(CloseReason::Reset),
            TimeWaitAction::Drop { unacceptable } => {
                if unacceptable {
                    self.cold.make().rare.dropped_unacceptable += 1;
                }
            }
        }
    }

    /// What TIME-WAIT keeps of this connection.
    pub(crate) fn time_wait_view(&self) -> TimeWaitView {
        TimeWaitView {
            rcv_nxt: self.rcv_nxt,
            snd_nxt: self.snd_nxt,
            rcv_wnd: self.rcv_wnd(),
            ts_enabled: self.flags.ts_enabled(),
            ts_recent: self.ts_recent,
        }
    }

    /// TIME-WAIT → SYN-RECEIVED: a fresh TCB for the new incarnation, with
    /// `iss` from [`timewait::reincarnation_iss`].
    fn reincarnate(&mut self, now: Instant, seg: &Segment, iss: SeqNum) {
        // The configuration was validated when this connection was made.
        let mut fresh = Connection::new(
            self.cfg.clone(),
            self.local_port,
            seg.src_port,
            iss,
            State::TimeWait,
            now,
        );
        fresh.events = core::mem::take(&mut self.events);
        fresh.keep_events_dropped(self);
        fresh
            .flags
            .set_one_shot_listener(self.flags.one_shot_listener());
        fresh
            .flags
            .set_header_prediction(self.flags.header_prediction());
        fresh.ts_offset = self.ts_offset;
        *self = fresh;
        self.take_syn(now, seg);
        self.set_origin(Origin::Passive);
        self.flags.set_syn_pending(true);
        self.timers
            .set_after(Timer::Retransmit, now, self.rtt.rto_micros(&self.cfg));
        self.set_state(State::SynReceived);
    }

    /// A retransmission that ends exactly at RCV.NXT (typically the peer's
    /// FIN resent in a simultaneous close; RFC 9293 Appendix A.2 describes
    /// the stall) fails Table 6, yet its ACK may be
    /// the first news that our FIN arrived. Take that ACK, as Linux does (its
    /// sequence test accepts SEG.SEQ+SEG.LEN = RCV.NXT); otherwise CLOSING
    /// waits for our own FIN's retransmission, whose backed-off RTO can
    /// outlast the peer's TIME-WAIT and end the close with a RST.
    /// Returns whether the connection closed.
    fn take_ack_of_old_segment(&mut self, now: Instant, seg: &Segment) -> bool {
        let f = seg.flags;
        let len = seg.seg_len();
        if !(self.flags.syn_acked()
            && f.ack()
            && !f.syn()
            && len > 0
            && seg.seq.add(len) == self.rcv_nxt
            && seg.ack.gt(self.snd_una)
            && seg.ack.le(self.snd_nxt))
        {
            return false;
        }
        self.ack_new_data(now, seg, &mut false);
        if !self.fin_acked() {
            return false;
        }
        match self.state {
            State::Closing => self.enter_time_wait(now), // G1
            State::LastAck => {
                self.enter_closed(CloseReason::Normal); // A1
                return true;
            }
            State::FinWait1 => {
                self.set_state(State::FinWait2); // F1
                self.timers.stop(Timer::Retransmit);
                self.arm_fin_wait_2(now);
            }
            _ => {}
        }
        false
    }

    /// Table 6 of §3.4 (the acceptability test), modulo 2^32.
    fn acceptable(&self, seg: &Segment, rcv_wnd: u32) -> bool {
        segment_acceptable(self.rcv_nxt, rcv_wnd, seg)
    }

    /// Octets that arrive again below RCV.NXT: reported once in a D-SACK
    /// block (RFC 2883 §4), and, since the peer resent them, our ACK was
    /// lost or late: ACK the next segments at once (below).
    fn note_duplicate(&mut self, seg: &Segment) {
        if seg.payload.is_empty() || seg.flags.syn() || !seg.seq.lt(self.rcv_nxt) {
            return;
        }
        self.enter_quick_ack();
        if self.flags.sack_enabled() {
            let end = seg.seq.add(seg.payload.len() as u32);
            self.cold
                .make()
                .sack_report
                .set_dsack(seg.seq, end.min(self.rcv_nxt));
        }
    }

    /// Quick-ACK mode again (Linux `tcp_enter_quickack_mode` /
    /// `tcp_incr_quickack`): the next segments are ACKed one by one instead
    /// of every second one within the delayed-ACK time, when the sender
    /// shows it is waiting for our ACKs (it resent data we had, or it was
    /// silent for longer than a retransmission timeout). As many as half a
    /// window of full segments, at least 2, at most `Config::quick_acks`
    /// (so a preset without quick ACKs never gets them).
    fn enter_quick_ack(&mut self) {
        let half_window = self.rcv_wnd() / (2 * u32::from(self.rcv_mss.max(1)));
        let n = half_window.max(2).min(self.cfg.quick_acks);
        self.quick_acks = self.quick_acks.max(n);
    }

    /// Cuts the parts of an acceptable segment that lie outside the window:
    /// octets (and a SYN) before RCV.NXT, octets (and the FIN) past the right
    /// edge (B25).
    fn trim_to_window(&self, seg: &mut Segment, rcv_wnd: u32) {
        let before = self.rcv_nxt.diff(seg.seq);
        if before > 0 {
            let mut skip = before as u32;
            if seg.flags.syn() {
                seg.flags = seg.flags.without(Flags::SYN);
                skip -= 1;
                seg.seq = seg.seq.add(1);
            }
            let n = (skip as usize).min(seg.payload.len());
            seg.payload.advance(n);
            seg.seq = seg.seq.add(n as u32);
            if (skip as usize) > n {
                // The FIN itself lies before RCV.NXT: already processed.
                seg.flags = seg.flags.without(Flags::FIN);
                seg.seq = seg.seq.add(1);
            }
        }
        // The window, but never past what the buffer holds (B25 trims to
        // the window; the buffer bound is the crate's invariant). A window
        // rounded up by scaling may promise up to one unit less one octet
        // more: the buffer keeps that slack, so that the peer can fill what
        // it was offered and the window then closes to zero (RecvBuffer::room).
        let wnd = rcv_wnd.min(self.rcvbuf.room() as u32);
        let room = self.rcv_nxt.add(wnd).diff(seg.seq).max(0) as usize;
        if seg.payload.len() > room {
            seg.payload.truncate(room);
            seg.flags = seg.flags.without(Flags::FIN);
        }
    }

    /// An acceptable RST with an exact sequence number (§3.10.7.4 step 2).
    fn on_reset(&mut self, now: Instant) {
        match self.state {
            State::SynReceived
                if self.origin() == Origin::Passive && self.flags.one_shot_listener() =>
            {
                self.back_to_listen(now); // R2
            }
            State::SynReceived if self.origin() == Origin::Active => {
                self.enter_closed(CloseReason::Refused)
            } // R3
            // TIME-WAIT never gets here: crate::timewait decides there
            // (an exact RST closes Normal unless RFC 1337 is on).
            _ => self.enter_closed(CloseReason::Reset),
        }
    }

    /// SYN-RECEIVED → LISTEN for the one-shot passive open: forget the peer,
    /// entirely. The TCB is rebuilt from the configuration, so nothing of
    /// this handshake survives: not data the application queued for this
    /// peer (it can never reach the next one), not its options, RTT or
    /// timers. Only the counters and undelivered events stay.
    ///
    /// The next handshake must not reuse the ISS this peer has seen. As for
    /// TIME-WAIT reuse, the new ISS lies past the old one (by 2^16 + 1, as
    /// Linux does), plus the microsecond clock scrambled, so it is not
    /// predictable from the old one alone. A caller that wants each ISS drawn
    /// from its own RFC 6528 generator demultiplexes itself and uses
    /// [`Connection::accept`] per SYN instead of a one-shot listener.
    pub(super) fn back_to_listen(&mut self, now: Instant) {
        let jitter = (now.total_micros() as u32).wrapping_mul(0x9E37_79B1) >> 8;
        let iss = self.iss.add(65_537).add(jitter);
        // The configuration was validated when this connection was made.
        let mut fresh = Connection::new(
            self.cfg.clone(),
            self.local_port,
            0,
            iss,
            State::SynReceived,
            now,
        );
        fresh.ts_offset = self.ts_offset;
        fresh.recv_buffer = self.recv_buffer;
        fresh.events = core::mem::take(&mut self.events);
        fresh.keep_events_dropped(self);
        fresh.stats = core::mem::take(&mut self.stats);
        fresh.flags.set_one_shot_listener(true);
        fresh
            .flags
            .set_header_prediction(self.flags.header_prediction());
        *self = fresh;
        self.set_state(State::Listen);
    }

    /// Step 5 for an ACK within `[SND.UNA − MAX.SND.WND, SND.NXT]`: new data
    /// acknowledged, SACK blocks (RFC 2018, RFC 6675), duplicate ACKs
    /// (RFC 5681 §3.2, RFC 6582) and the window update rule (SND.WL1/WL2, B9).
    fn process_ack(&mut self, now: Instant, seg: &Segment) {
        // (`on_predicted` has a short form of this for an ACK of nothing
        // with nothing in flight: what is added here must be added there
        // too; tests/header_prediction.rs finds any difference.)
        // An ACK releases a tail held by `send_more` (Linux pushes with the
        // socket's own Nagle setting once the ACK is processed).
        self.flags.set_more_hold(false);
        let wnd = u32::from(seg.window) << self.snd_wscale;
        if self.flags.header_prediction()
            && seg.ack.gt(self.snd_una)
            && seg.options.sack_blocks.is_empty()
            && !self.flags.in_recovery()
            && !seg.flags.contains(Flags::ECE)
            && self.cold.present().is_none()
        {
            self.process_common_ack(now, seg, wnd);
            return;
        }
        self.ecn_on_ack(now, seg);
        let sacked_before = self.cold.scoreboard.sacked_bytes();
        let una_before = self.snd_una;
        // Where loss was known to end before this ACK, in recovery: an ACK
        // that moves it shows further loss (RFC 9937 §4 SafeACK).
        let lost_before = self.flags.in_recovery().then(|| self.lost_end());
        let blocks = seg.options.sack_blocks.as_slice();
        if self.rack_on()
            && let Some(distance) = self.rack_sees_reordering(seg.ack, blocks)
        {
            // How far out of order, in segments (Linux `reordering`, for tcp_info).
            let segs = distance.div_ceil(self.snd_mss.max(1));
            let c = self.cold.make();
            c.rack_reordering.on_reordering();
            c.reordering = c.reordering.max(segs);
        }
        if self.flags.sack_enabled()
            && let Some(d) = crate::recovery::dsack_block(blocks, seg.ack)
            && self
                .cold
                .present()
                .is_some_and(|c| c.undo.on_dsack(d.left, d.right, self.snd_mss))
        {
            // Before this ACK moves SND.UNA (which may close the episode).
            self.undo_spurious_response(now);
        }
        let mut freed = crate::buffer::Acked::default();
        let mut timed = false;
        if seg.ack.gt(self.snd_una) {
            freed = self.ack_new_data(now, seg, &mut timed);
        }
        let acked = self.snd_una.dist(una_before);
        let mut newly_sacked = 0;
        let mut sack_update = None;
        if self.flags.sack_enabled() && !blocks.is_empty() && seg.ack.ge(self.snd_una) {
            let up =
                self.cold
                    .make()
                    .scoreboard
                    .on_blocks(blocks, seg.ack, self.snd_una, self.snd_nxt);
            newly_sacked = up.newly_sacked;
            if up.dsack.is_some() && self.rack_on() {
                let (una, nxt) = (self.snd_una, self.snd_nxt);
                self.cold.make().rack_reordering.on_dsack(una, nxt);
                self.flags.set_tlp_dsack(true);
            }
            if !timed && newly_sacked > 0 {
                let first = blocks.first().copied().filter(|_| up.dsack.is_none());
                self.take_sack_rtt_sample(now, first, up.new_ranges.as_slice());
            }
            sack_update = Some(up);
        }
        if self.rack_on() && (acked > 0 || newly_sacked > 0) {
            let new = sack_update
                .as_ref()
                .map_or(&[][..], |u| u.new_ranges.as_slice());
            self.rack_on_ack(now, &freed, seg.ack, new);
            self.rack_detect(now);
        }
        let is_dup = acked == 0
            && seg.ack == self.snd_una
            && seg.payload.is_empty()
            && !seg.flags.syn()
            && !seg.flags.fin()
            && self.snd_nxt != self.snd_una
            && (wnd == self.snd_wnd || newly_sacked > 0);
        if is_dup {
            // RFC 5681 §2 (RFC 6675 §2: or one that SACKs new data).
            self.cold.make().rare.dup_acks += 1;
            self.cold.make().dupacks += 1;
        }
        // RFC 6937 DeliveredData: the change in SND.UNA plus the change in
        // SACKed octets (none without SACK).
        let delivered = (acked + self.cold.scoreboard.sacked_bytes()).saturating_sub(sacked_before);
        if self.flags.sack_enabled() {
            // Outside recovery with nothing outstanding it can do nothing.
            if self.flags.in_recovery() || self.snd_una != self.snd_nxt {
                // RFC 9937 §4 SafeACK: SND.UNA advanced and no further loss shown.
                let safe = acked > 0
                    && lost_before.is_some_and(|l| !self.lost_end().gt(l.max(self.snd_una)));
                self.sack_loss_recovery(now, delivered, safe);
            }
            if self.rack_on() {
                self.tlp_on_ack(now, seg.ack);
                if acked > 0 || self.flags.in_recovery() {
                    self.arm_loss_probe(now);
                }
            }
        } else if is_dup {
            let mss = self.snd_mss;
            if self.flags.in_recovery() {
                self.cc.get_mut().on_dup_ack_in_recovery(mss);
            } else if self.cold.dupacks == 3
                && self.rtx_next().is_none()
                && seg.ack.sub(1).ge(self.recover())
            {
                // RFC 6582 §3.2 step 2: fast retransmit, enter recovery.
                let flight = self.loss_flight(self.flight_size());
                self.cc.get_mut().on_fast_retransmit(now, flight, mss);
                self.cold.make().undo.start(self.snd_una, false);
                self.ecn_on_loss();
                self.flags.set_in_recovery(true);
                self.set_recover(self.snd_nxt);
                self.set_fast_rtx(Some(self.snd_una));
                self.cold.make().rare.fast_retransmits += 1;
            }
        }
        if self.ecn.in_cwr() {
            self.ecn_cwr_on_ack(delivered);
        }
        self.update_send_window(seg, wnd, acked > 0);
        // Any ACK answers a zero-window probe: the peer is alive (MUST-37).
        if let Some(c) = self.cold.present() {
            c.persist_unanswered = 0;
        }
    }

    /// [`Connection::process_ack`] for the common ACK of a sender: it
    /// acknowledges new data, carries no SACK blocks and no ECE, outside
    /// recovery, with no cold state (nothing SACKed, no duplicate ACKs
    /// counted, no loss response to undo, no probe unanswered). The steps
    /// of the general path that can do nothing then are left out: no ECN
    /// reaction, no reordering seen (nothing SACKed), no D-SACK, no
    /// scoreboard update, not a duplicate, DeliveredData is what SND.UNA
    /// moved, and no SafeACK (not in recovery). The rest are the same calls
    /// in the same order. tests/header_prediction.rs compares the two
    /// (`set_header_prediction(false)` turns this path off).
    fn process_common_ack(&mut self, now: Instant, seg: &Segment, wnd: u32) {
        let una_before = self.snd_una;
        let freed = self.ack_new_data(now, seg, &mut false);
        if self.rack_on() {
            self.rack_on_ack(now, &freed, seg.ack, &[]);
            self.rack_detect(now);
        }
        if self.flags.sack_enabled() {
            // RFC 6937 DeliveredData: what SND.UNA moved (no scoreboard,
            // before or after: nothing here makes the cold state).
            let delivered = self.snd_una.dist(una_before);
            if self.flags.in_recovery() || self.snd_una != self.snd_nxt {
                self.sack_loss_recovery(now, delivered, false);
            }
            if self.rack_on() {
                self.tlp_on_ack(now, seg.ack);
                if self.snd_una == self.snd_nxt {
                    // Nothing outstanding: no probe to arm (what
                    // `arm_loss_probe` finds then).
                    self.timers.stop(Timer::LossProbe);
                } else {
                    self.arm_loss_probe(now);
                }
            }
        }
        self.update_send_window(seg, wnd, true);
        if let Some(c) = self.cold.present() {
            c.persist_unanswered = 0;
        }
    }

    /// §3.10.7.4 step 5: update the window (`wnd`, scaled) only from newer
    /// segments (SND.WL1/WL2, B9).
    ///
    /// An ACK that advanced SND.UNA (`advanced`) also updates it, whatever
    /// its sequence number (as Linux's `tcp_may_update_window`): SND.WND is
    /// an offset from SND.UNA, so keeping the old offset after SND.UNA moved
    /// would slide the right edge past what the peer offered. A retransmitted
    /// peer segment (SEG.SEQ < SND.WL1) acknowledging new data with a small
    /// window would otherwise let us send beyond it, and a receiver that
    /// drops segments beyond its window (Linux 6.x) then drops their ACKs
    /// too: both sides wait on each other.
    #[inline]
    fn update_send_window(&mut self, seg: &Segment, wnd: u32, advanced: bool) {
        if advanced
            || self.snd_wl1.lt(seg.seq)
            || (self.snd_wl1 == seg.seq && self.snd_wl2.le(seg.ack))
        {
            let opened = wnd > self.snd_wnd;
            self.snd_wnd = wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            self.max_snd_wnd = self.max_snd_wnd.max(wnd);
            if wnd > 0 {
                self.timers.stop(Timer::Persist);
                if opened && let Some(c) = self.cold.present() {
                    c.persist_backoff = 0;
                }
            }
        }
    }

    /// RFC 6675 §5 with RFC 9937 (PRR): enter recovery when SND.UNA + 1 is
    /// deemed lost (or on the DupThresh-th duplicate ACK), and set how much
    /// may be sent for this ACK while in recovery (`safe`: a SafeACK).
    pub(super) fn sack_loss_recovery(&mut self, now: Instant, delivered: u32, safe: bool) {
        let mss = self.snd_mss;
        if !self.flags.in_recovery()
            && self.rtx_next().is_none()
            && self.snd_una != self.snd_nxt
            && (self.cold.dupacks >= crate::recovery::DUP_THRESH
                || self.lost_end().gt(self.snd_una))
            && self.snd_una.ge(self.recover())
        {
            // RFC 6675 §5 step 4: RecoveryPoint = HighData; ssthresh from the controller.
            let flight = self.snd_nxt.dist(self.snd_una);
            let loss_flight = self.loss_flight(flight);
            self.cc.get_mut().on_fast_retransmit(now, loss_flight, mss);
            self.cold.make().undo.start(self.snd_una, false);
            self.ecn_on_loss();
            self.flags.set_in_recovery(true);
            self.set_recover(self.snd_nxt);
            self.high_rxt = self.snd_una;
            // RFC 6937: RecoverFS is everything outstanding.
            self.cold.make().prr.start(flight);
            self.cold.make().rare.fast_retransmits += 1;
        }
        if self.flags.in_recovery() {
            let ssthresh = self.cc.get().ssthresh();
            let pipe = self.pipe();
            self.cold
                .make()
                .prr
                .on_ack(delivered, pipe, ssthresh, mss, safe);
        }
    }

    /// The last loss response proved spurious (`crate::recovery::Undo`):
    /// the controller restores its window (RFC 9438 §4.9), a recovery
    /// ends, and after a timeout go-back-N stops (RFC 4015: the data was
    /// delayed, not lost; later losses are found by SACK/RACK or the timer).
    fn undo_spurious_response(&mut self, now: Instant) {
        self.cold.make().rare.spurious_undos += 1;
        self.cc.get_mut().on_spurious_congestion(now);
        self.clear_retransmit_marks();
        if self.flags.in_recovery() {
            self.flags.set_in_recovery(false);
            if let Some(c) = self.cold.present() {
                c.rack_reordering.on_recovery_end();
            }
        }
        // This window may enter recovery again for a real loss.
        self.set_recover(self.snd_una);
    }

    /// SND.UNA moves forward: free the buffer, take an RTT sample, tell
    /// congestion control, restart or stop the RTO (RFC 6298 §5). Says what
    /// was freed.
    /// `timed`: set when the ACK gave an RTT sample.
    fn ack_new_data(
        &mut self,
        now: Instant,
        seg: &Segment,
        timed: &mut bool,
    ) -> crate::buffer::Acked {
        let acked = seg.ack.dist(self.snd_una);
        let syn_newly_acked = self.snd_una == self.iss;
        let freed = self.sndbuf.ack(seg.ack);
        self.snd_una = seg.ack;
        if self.snd_nxt.lt(self.snd_una) {
            self.snd_nxt = self.snd_una;
        }
        if self.high_rxt.lt(self.snd_una) {
            self.high_rxt = self.snd_una;
        }
        // Octets SACKed earlier (or announced by duplicate ACKs) that this
        // ACK now covers: delivered before, so not counted again for window
        // growth below.
        let mut sacked_freed = 0;
        let mut reneged = false;
        if let Some(sb) = self.cold.present().map(|c| &mut c.scoreboard) {
            let before = sb.sacked_bytes();
            reneged = sb.on_ack(self.snd_una);
            sacked_freed = before - sb.sacked_bytes();
        }
        if reneged && let Some(c) = self.cold.present() {
            // RFC 2018 §8: the receiver dropped data it had SACKed (reneging).
            // Forget the scoreboard; recovery, or go-back-N after a timeout
            // (SND.UNA still below the timeout's recovery point; its cursor
            // skipped the reneged ranges), resends from SND.UNA.
            c.forget_sacks(now);
            self.high_rxt = self.snd_una;
            if self.rtx_next().is_some()
                || (!self.flags.in_recovery() && self.snd_una.lt(self.recover()))
            {
                self.set_rtx_next(Some(self.snd_una));
            }
        }
        if let Some(c) = self.cold.present() {
            c.retries = 0;
            // Before 2^31 more octets make them compare the wrong way.
            c.forget_passed(self.snd_una);
        }
        self.last_progress = now;
        if let Some(c) = self.cold.present() {
            if !self.flags.sack_enabled() {
                // RFC 6937 §3 without SACK: each duplicate ACK stood for one
                // SMSS delivered; the cumulative ACK delivers the rest.
                sacked_freed = acked.min(c.dupacks.saturating_mul(self.snd_mss));
            }
            c.dupacks = 0;
        }
        let rtt_sample = self.take_rtt_sample(now, seg, &freed, syn_newly_acked);
        let ecr = seg
            .options
            .timestamps
            .filter(|_| self.flags.ts_enabled())
            .map(|t| t.ecr);
        if self
            .cold
            .present()
            .is_some_and(|c| c.undo.on_ack(self.snd_una, ecr))
        {
            self.undo_spurious_response(now);
        }
        let mss = self.snd_mss;
        let flight = self.snd_nxt.dist(self.snd_una);
        let new_round = self.usage.on_ack(seg.ack, self.snd_nxt);
        if self.flags.in_recovery() {
            if seg.ack.ge(self.recover()) {
                self.flags.set_in_recovery(false); // RFC 6582 §3.2 step 4: full ACK.
                if self.flags.sack_enabled() {
                    self.cc.get_mut().on_sack_recovery_end(flight, mss);
                } else {
                    self.cc.get_mut().on_recovery_end(flight, mss);
                }
                if let Some(c) = self.cold.present() {
                    c.undo.on_recovery_end(self.snd_nxt);
                }
                if let Some(c) = self.cold.present() {
                    c.rack_reordering.on_recovery_end();
                }
            } else if !self.flags.sack_enabled() {
                self.cc.get_mut().on_partial_ack(acked, mss); // step 5: partial ACK.
                self.set_fast_rtx(Some(self.snd_una));
            }
        } else if !(self.ecn.ok() && (seg.flags.contains(Flags::ECE) || self.ecn.in_cwr())) {
            // RFC 3168 §6.1.2: an ACK with ECE does not grow the window, nor
            // does any during the reduction that follows it (Linux's CWR).
            // RFC 6937 DeliveredData (Linux's `acked_sacked`): octets SACKed
            // by an earlier ACK were delivered then, and grow the window at
            // most once (RFC 5681 §3.1: growth is for newly delivered data).
            let delivered = acked.saturating_sub(sacked_freed);
            // Read in the closure: what the controller does not use is
            // not read at all.
            let (usage, rtt) = (&self.usage, &self.rtt);
            self.cc.on_ack(now, |cwnd, ssthresh| crate::cc::AckInfo {
                acked: delivered,
                flight,
                mss,
                rtt: rtt_sample,
                srtt: rtt.srtt_micros().map(u64::from),
                min_rtt: rtt.min_rtt_micros().map(u64::from),
                new_round,
                app_limited: usage.app_limited(cwnd, ssthresh),
            });
        }
        if let Some(c) = self.rtx_next()
            && c.le(self.snd_una)
        {
            let next = if self.snd_una == self.snd_nxt {
                None
            } else {
                Some(self.snd_una)
            };
            self.set_rtx_next(next);
        }
        if self.fast_rtx().is_some_and(|s| s.lt(self.snd_una)) {
            self.set_fast_rtx(None);
        }
        if self.snd_una == self.snd_nxt {
            self.timers.stop(Timer::Retransmit);
            self.set_rtx_next(None);
        } else {
            self.timers
                .set_after(Timer::Retransmit, now, self.rtt.rto_micros(&self.cfg));
        }
        if self.flags.want_writable()
            && self.sndbuf.free(self.cfg.send_buffer) > 0
            && self.fin_seq().is_none()
        {
            self.flags.set_want_writable(false);
            self.push_event(Event::Writable);
        }
        *timed = rtt_sample.is_some();
        freed
    }

    /// RTT sampling as Linux does it (RFC 6298 §3, RFC 7323 §4): from the
    /// send time of the newest newly acknowledged segment, none of them
    /// retransmitted (Karn; the newest, because an older one may have
    /// waited for a lost ACK); otherwise from the timestamp echo, but only
    /// when the echo is at least as new as the latest transmission of
    /// anything this ACK covers. An older echo is stale: a receiver does
    /// not take TSval from a duplicate (RFC 7323 §4.3), so the ACK of a
    /// needless retransmission echoes a TSval from long before and would
    /// inflate the RTO. The SYN is timed by its probe when it was sent
    /// once; when it was sent again (a timeout, or the answer to a
    /// duplicate SYN), by the echo under the same rule, as Linux times the
    /// handshake (`tcp_synack_rtt_meas` falls back to the echo). RFC 6298
    /// §3: timestamps remove the ambiguity Karn's algorithm avoids.
    /// `syn_newly_acked`: this ACK is the first to cover our SYN.
    fn take_rtt_sample(
        &mut self,
        now: Instant,
        seg: &Segment,
        freed: &crate::buffer::Acked,
        syn_newly_acked: bool,
    ) -> Option<u64> {
        // In whole µs (`now - t`, saturating) until the controller's sample.
        let since = |t: Instant| now.total_micros().saturating_sub(t.total_micros());
        let mut sample = None;
        if !freed.rtx_acked
            && let Some(t) = freed.last_xmit
        {
            sample = Some(since(t));
        } else if let Some((newest, _)) = freed.max_xmit {
            sample = self.fresh_echo_sample(now, seg, newest);
        }
        if let Some((end, sent)) = self.rtt_probe()
            && seg.ack.ge(end)
        {
            sample = sample.or(Some(since(sent)));
            self.set_syn_rtt_probe(None);
        } else if syn_newly_acked && let Some(at) = self.cold.syn_resent_at {
            if sample.is_none() {
                sample = self.fresh_echo_sample(now, seg, at);
            }
            if let Some(c) = self.cold.present() {
                c.syn_resent_at = None;
            }
        }
        let r = sample?;
        self.feed_rtt_sample(now, r);
        Some(r)
    }

    /// The sample the timestamp echo of `seg` gives, µs, if timestamps are
    /// on and the echo is at least as new as `newest`, the latest
    /// transmission of what the ACK covers (else it is stale; see
    /// [`take_rtt_sample`](Self::take_rtt_sample)).
    #[inline]
    fn fresh_echo_sample(&self, now: Instant, seg: &Segment, newest: Instant) -> Option<u64> {
        let ts = seg.options.timestamps.filter(|_| self.flags.ts_enabled())?;
        if ts.ecr == 0 || (ts.ecr.wrapping_sub(self.ts_now(newest)) as i32) < 0 {
            return None;
        }
        let ms = self.ts_now(now).wrapping_sub(ts.ecr);
        ((ms as i32) >= 0).then(|| u64::from(ms.min(600_000)) * 1000)
    }

    /// One valid RTT sample, µs: to the estimator and to RACK. RFC 6298
    /// (5.7) via `sample_us`: it clears the backoff.
    #[inline(always)]
    fn feed_rtt_sample(&mut self, now: Instant, r: u64) {
        self.rtt.sample_us(r, &self.cfg);
        self.rack.on_rtt_sample_us(now, r);
    }

    /// An ACK that newly SACKed `new` and gave no sample otherwise (SND.UNA
    /// did not move, or moved over nothing it could time) is timed by what
    /// it newly SACKed, as Linux times by SACK (`sack_rtt_us` in
    /// `tcp_ack_update_rtt`, used when the cumulative ACK gives no sample):
    /// a SACK acknowledges a segment as surely as a cumulative ACK (RFC
    /// 2018 §3). Without it, an ACK that SACKs fresh data in recovery
    /// leaves the RTO backed off (RFC 6298 (5.7) clears the backoff on a
    /// new measurement), and a lost retransmission at the head then waits
    /// out doubled timeouts that Linux's would not.
    ///
    /// Only segments never retransmitted count (Karn, RFC 6298 §3), and
    /// none sent before the scoreboard was last forgotten (a second
    /// timeout, reneging): it may have been SACKed then already, and is new
    /// to the scoreboard, not to the receiver. Linux times from the oldest
    /// segment newly SACKed, wherever it is reported; a block repeated
    /// because the ACKs that first reported it were lost then charges
    /// their loss to the round trip (3 s samples on a 2 ms path at 35 %
    /// loss). So SRTT takes only a sample as sound as
    /// [`take_rtt_sample`](Self::take_rtt_sample)'s:
    /// - from the first block, `first` (`None` for a D-SACK, RFC 2883),
    ///   which holds the segment whose arrival sent this ACK (RFC 2018 §4);
    ///   later blocks repeat what earlier ACKs reported;
    /// - from the newest transmission newly completed in that block (the
    ///   one that triggered the ACK), and only if it was never
    ///   retransmitted.
    ///
    /// Any other SACK of a segment never retransmitted is still a valid
    /// measurement, an upper bound on the round trip: the backoff comes
    /// down to the fewest doublings whose RTO covers it (to none when the
    /// RTO before backoff does, as Linux's sample clears it), SRTT
    /// untouched.
    /// At most [`RACK_SCAN`](super::loss::RACK_SCAN) segments per range are
    /// examined.
    fn take_sack_rtt_sample(
        &mut self,
        now: Instant,
        first: Option<SackBlock>,
        new: &[(SeqNum, SeqNum)],
    ) {
        let forgotten = self.cold.sack_forgotten_at;
        // The newest transmission newly completed in `first`, and whether
        // a retransmission is among those sent then; the newest never
        // retransmitted newly completed anywhere.
        let mut in_first: Option<(Instant, bool)> = None;
        let mut anywhere: Option<Instant> = None;
        for &(left, right) in new {
            if !(left.ge(self.snd_una) && right.le(self.snd_nxt) && left.lt(right)) {
                continue;
            }
            let mut at = right.sub(1);
            for _ in 0..super::loss::RACK_SCAN {
                let (Some((xmit, rtx, end)), Some(start)) =
                    (self.sndbuf.entry_info(at), self.sndbuf.entry_start(at))
                else {
                    break;
                };
                if self.cold.scoreboard.unsacked_between(start, end) == 0 {
                    if first.is_some_and(|b| start.lt(b.right) && b.left.lt(end)) {
                        in_first = match in_first {
                            Some((t, r)) if t > xmit => Some((t, r)),
                            Some((t, r)) if t == xmit => Some((t, r || rtx)),
                            _ => Some((xmit, rtx)),
                        };
                    }
                    if !rtx && anywhere.is_none_or(|t| xmit > t) {
                        anywhere = Some(xmit);
                    }
                }
                if !start.gt(left) {
                    break;
                }
                at = start.sub(1);
            }
        }
        let after_forgetting = |t: Instant| forgotten.is_none_or(|f| t > f);
        let since = |t: Instant| now.total_micros().saturating_sub(t.total_micros());
        if let Some((t, false)) = in_first
            && after_forgetting(t)
        {
            self.feed_rtt_sample(now, since(t));
        } else if let Some(t) = anywhere
            && after_forgetting(t)
        {
            self.rtt.limit_backoff_to(since(t));
        }
    }

    /// RFC 7323 §4.3: remember the peer's timestamp from an in-order segment.
    fn update_ts_recent(&mut self, seg: &Segment) {
        if let Some(t) = seg.options.timestamps
            && self.flags.ts_enabled()
            && seg.seq.le(self.last_ack_sent)
            && (t.val.wrapping_sub(self.ts_recent) as i32) >= 0
        {
            self.ts_recent = t.val;
        }
    }

    /// [`text_and_fin`](Self::text_and_fin) called, not inlined: for
    /// [`after_ack`](Self::after_ack), which most segments leave without
    /// text or FIN (its frame stays small).
    #[inline(never)]
    fn text_and_fin_outlined(&mut self, now: Instant, seg: &mut Segment) {
        self.text_and_fin(now, seg);
    }

    /// Steps 7 and 8: take in-window data (out of order kept, SHLD-31) and act
    /// on a FIN only once everything before it has arrived (B5).
    #[inline(always)]
    fn text_and_fin(&mut self, now: Instant, seg: &mut Segment) {
        let receiving = match self.state {
            State::Established | State::FinWait1 | State::FinWait2 => true,
            State::SynSent | State::SynReceived => self.flags.syn_acked(),
            _ => false,
        };
        if receiving && seg.flags.fin() {
            self.set_rcv_fin(Some(seg.seq.add(seg.payload.len() as u32)));
        }
        if !seg.payload.is_empty() && receiving {
            self.ecn_on_data(seg);
            if self.flags.app_closed() {
                // Data for an application that closed: RST (RFC 2525 §2.17, Linux).
                self.rcvbuf.clear();
                if self.cfg.reset_data_after_close_as_no_tcb {
                    // Linux answers as a host without the connection would.
                    self.reply_reset(seg);
                    self.enter_closed(CloseReason::Aborted);
                } else {
                    self.reset_and_close(CloseReason::Aborted);
                }
                return;
            }
            let payload = core::mem::take(&mut seg.payload);
            self.take_text(now, seg.seq, payload);
        } else if !seg.payload.is_empty() {
            // Data after the peer's FIN (or before we are synchronized): ignored.
            self.cold.make().rare.dropped_other += 1;
        }
        if !self.flags.peer_finished() && self.rcv_fin() == Some(self.rcv_nxt) {
            self.take_fin(now);
        }
    }

    fn take_text(&mut self, now: Instant, seq: SeqNum, payload: Bytes) {
        let len = payload.len() as u32;
        // At most `cfg.mss`, so it fits the u16.
        self.rcv_mss = self.rcv_mss.max(len.min(u32::from(self.cfg.mss)) as u16);
        if now
            .total_micros()
            .saturating_sub(self.last_data_recv.total_micros())
            > self.rtt.rto_micros(&self.cfg)
        {
            // Data after a silence longer than our RTO: the sender is likely
            // restarting from a timeout with a small window (Linux
            // `tcp_event_data_recv`).
            self.enter_quick_ack();
        }
        self.last_data_recv = now;
        if !self.timers.is_set(Timer::Reclaim) {
            self.timers
                .set_after(Timer::Reclaim, now, super::RECLAIM_AFTER_US);
        }
        if self.flags.sack_enabled()
            && self.rcvbuf.has_holes()
            && let Some((l, r)) = self.rcvbuf.ooo_overlap(seq, seq.add(len))
        {
            // RFC 2883 §4: a duplicate of out-of-order data held.
            self.cold.make().sack_report.set_dsack(l, r);
        }
        let ins = self.rcvbuf.insert(self.rcv_nxt, seq, payload);
        if self.flags.sack_enabled()
            && ins.advanced == 0
            && let Some((left, right)) = self.rcvbuf.ooo_run(seq)
        {
            self.cold
                .make()
                .sack_report
                .on_arrival(crate::wire::SackBlock { left, right });
        }
        if ins.advanced > 0 {
            self.rcv_nxt = self.rcv_nxt.add(ins.advanced);
            self.count_bytes_received(ins.advanced);
            self.unacked_rcv = self.unacked_rcv.saturating_add(ins.advanced);
            self.signal_readable();
        }
        if ins.out_of_order {
            self.cold.make().rare.out_of_order += 1;
        }
        // RFC 5681 §4.2: ACK at once for out-of-order data and for data that
        // fills a hole; otherwise every second full segment (SHLD-19), within
        // the delayed-ACK time (MUST-40), quick ACKs first.
        if ins.out_of_order || ins.holes_left || self.cfg.delayed_ack.is_none() {
            self.flags.set_ack_now(true);
        } else if self.quick_acks > 0 {
            self.quick_acks -= 1;
            self.flags.set_ack_now(true);
        } else if self.unacked_rcv > u32::from(self.rcv_mss) {
            self.flags.set_ack_now(true);
        } else if !self.timers.is_set(Timer::DelayedAck) {
            // `delayed_ack` is set (tested above), in µs: validated below
            // 500 ms, so `now + d` needs no saturation tests.
            let us = self.rtt.delayed_ack_micros();
            self.timers.set_after(Timer::DelayedAck, now, us);
        }
    }

    /// Step 8: the peer's FIN, in order.
    fn take_fin(&mut self, now: Instant) {
        self.rcv_nxt = self.rcv_nxt.add(1);
        self.flags.set_peer_finished(true);
        // MUST-58 leaves the FIN's ACK timing to the delayed-ACK rules.
        // Linux ("pingpong" after a FIN in ESTABLISHED) delays it by the
        // delayed-ACK time once data has been received; with no data ever
        // received, or in any other state, it ACKs at once.
        let delay = self.cfg.delay_fin_ack
            && self.state == State::Established
            && !self.flags.ack_now()
            && self.bytes_received() > 0;
        match self.cfg.delayed_ack.filter(|_| delay) {
            Some(d) => {
                if !self.timers.is_set(Timer::DelayedAck) {
                    self.timers.set(Timer::DelayedAck, now + d);
                }
            }
            None => self.flags.set_ack_now(true),
        }
        self.push_event(Event::PeerFinished);
        match self.state {
            State::SynSent | State::SynReceived | State::Established => {
                if !matches!(self.state, State::Established) {
                    self.push_event(Event::Connected);
                    self.timers.stop(Timer::Retransmit);
                }
                self.set_state(State::CloseWait); // E9, S5, R9
                if self.fin_seq().is_some() {
                    self.set_state(State::LastAck);
                }
            }
            State::FinWait1 => {
                if self.fin_acked() {
                    self.enter_time_wait(now); // F3
                } else {
                    self.set_state(State::Closing); // F2
                }
            }
            State::FinWait2 => self.enter_time_wait(now), // W1
            _ => {}
        }
    }

    /// After a segment that acknowledged our SYN: SYN-SENT / SYN-RECEIVED →
    /// ESTABLISHED, unless the FIN already moved us on.
    ///
    /// Called after every ACK taken in the slow path: the test is inlined
    /// into the caller.
    #[inline(always)]
    fn finish_handshake(&mut self, now: Instant) {
        if matches!(self.state, State::SynSent | State::SynReceived) && self.flags.syn_acked() {
            self.enter_established(now);
        }
    }

    /// [`finish_handshake`](Self::finish_handshake) once our SYN is
    /// acknowledged in SYN-SENT or SYN-RECEIVED.
    #[inline(never)]
    fn enter_established(&mut self, now: Instant) {
        if let Some(c) = self.cold.present() {
            c.retries = 0;
        }
        self.timers.stop(Timer::Retransmit);
        self.set_state(State::Established);
        self.push_event(Event::Connected);
        // tcp_info's last_data_recv counts from the handshake's end until
        // data arrives (Linux stamps lrcvtime at the SYN-ACK, or when the
        // passive side's connection is created).
        self.last_data_recv = now;
        // And last_data_sent from there too (Linux stamps lsndtime when the
        // handshake ends): no restart after idle for the first data, however
        // long the handshake took.
        self.last_data_sent = now;
        if let Some(k) = self.cfg.keepalive {
            self.timers.set(Timer::Keepalive, now + k.idle);
        }
        if self.fin_seq().is_some() {
            // The application closed before the handshake finished.
            self.set_state(State::FinWait1);
        }
        if self.flags.want_writable() && self.sndbuf.free(self.cfg.send_buffer) > 0 {
            self.flags.set_want_writable(false);
            self.push_event(Event::Writable);
        }
    }
}

/// Table 6 of RFC 9293 §3.4: whether `seg` is acceptable to a receiver at
/// `rcv_nxt` with window `rcv_wnd`, modulo 2^32.
pub(crate) fn segment_acceptable(rcv_nxt: SeqNum, rcv_wnd: u32, seg: &Segment) -> bool {
    let len = seg.seg_len();
    let start = seg.seq;
    let wnd_end = rcv_nxt.add(rcv_wnd);
    match (len, rcv_wnd) {
        (0, 0) => start == rcv_nxt,
        (0, _) => start.in_range(rcv_nxt, wnd_end),
        (_, 0) => false,
        (_, _) => {
            let last = start.add(len - 1);
            start.in_range(rcv_nxt, wnd_end) || last.in_range(rcv_nxt, wnd_end)
        }
    }
}

/// The reply of a TCP with no connection for `seg` (RFC 9293 §3.10.7.1,
/// state CLOSED): `<SEQ=SEG.ACK><CTL=RST>` if it carried an ACK, else
/// `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>` (SEG.LEN counts SYN and FIN).
/// `None` for a RST: a RST is never answered. For hosts and listeners that
/// demultiplex themselves and find no connection (a port nobody listens on).
pub fn reset_reply(seg: &Segment) -> Option<Segment> {
    if seg.flags.rst() {
        return None;
    }
    let mut r = Segment {
        src_port: seg.dst_port,
        dst_port: seg.src_port,
        ..Segment::default()
    };
    if seg.flags.ack() {
        r.seq = seg.ack;
        r.flags = Flags::RST;
    } else {
        r.ack = seg.seq.add(seg.seg_len());
        r.flags = Flags::RST.with(Flags::ACK);
    }
    Some(r)
}
