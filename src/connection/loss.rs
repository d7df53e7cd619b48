//! Where the connection meets RACK-TLP (RFC 8985): feeding deliveries to
//! RACK, marking lost segments by its clock, the reordering timer and the
//! tail loss probe. The rules themselves live in `crate::recovery`.

use super::{Connection, Timer};
use crate::buffer::Acked;
use crate::recovery::probe_timeout_micros;
use crate::seq::SeqNum;
use crate::time::Instant;
use crate::wire::SackBlock;
use core::time::Duration;

/// Most segments RACK examines per ACK: the lost boundary only needs to
/// stay ahead of what recovery may resend, so the work per ACK is bounded
/// whatever the window (a hostile peer cannot make it walk the queue).
pub(super) const RACK_SCAN: usize = 32;

impl Connection {
    /// RFC 8985 §6.2 step 2: the newest transmission among what this ACK
    /// delivered, cumulatively (`freed`) or by SACK (the ranges it newly
    /// SACKed, `new`).
    pub(super) fn rack_on_ack(
        &mut self,
        now: Instant,
        freed: &Acked,
        ack: SeqNum,
        new: &[(SeqNum, SeqNum)],
    ) {
        if let Some((xmit, rtx)) = freed.max_xmit {
            self.rack.on_delivered(now, xmit, rtx, ack);
        }
        for &(left, right) in new {
            if left.ge(self.snd_una) && right.le(self.snd_nxt) && left.lt(right) {
                self.rack_delivered_in(now, left, right);
            }
        }
    }

    /// RACK takes as delivered every segment that octets newly SACKed in
    /// `[left, right)` complete (RFC 8985 §6.2 step 2: the most recently
    /// sent of them counts; a segment is delivered once all of it is, as
    /// Linux rounds SACKs to whole segments). Walked from the top, at most
    /// [`RACK_SCAN`] segments.
    fn rack_delivered_in(&mut self, now: Instant, left: SeqNum, right: SeqNum) {
        let mut at = right.sub(1);
        for _ in 0..RACK_SCAN {
            let (Some((xmit, rtx, end)), Some(start)) =
                (self.sndbuf.entry_info(at), self.sndbuf.entry_start(at))
            else {
                break;
            };
            if self.cold.scoreboard.unsacked_between(start, end) == 0 {
                self.rack.on_delivered(now, xmit, rtx, end);
            }
            if !start.gt(left) {
                break;
            }
            at = start.sub(1);
        }
    }

    /// RFC 8985 §6.2 step 3: before an ACK is processed, whether it shows
    /// reordering: it delivers an original transmission (never resent)
    /// that lies below the highest octet SACKed so far — the hole at
    /// SND.UNA by the cumulative ACK, or the newest SACK block (a
    /// receiver's first block holds the segment that just arrived). Gives
    /// how far below the highest SACKed octet the reordered data starts.
    pub(super) fn rack_sees_reordering(&self, ack: SeqNum, blocks: &[SackBlock]) -> Option<u32> {
        let fack = self.cold.scoreboard.high_sacked()?;
        let una = self.snd_una;
        let original_below_fack = |seq: SeqNum| {
            self.sndbuf
                .entry_info(seq)
                .is_some_and(|(_, rtx, end)| !rtx && end.le(fack))
        };
        if ack.gt(una) && self.cold.scoreboard.next_hole(una).0 == una && original_below_fack(una) {
            return Some(fack.dist(una));
        }
        let first = blocks.get(usize::from(
            crate::recovery::dsack_block(blocks, ack).is_some(),
        ))?;
        (first.left.lt(first.right)
            && first.left.ge(una)
            && first.right.le(fack)
            && self
                .cold
                .scoreboard
                .unsacked_between(first.left, first.right)
                > 0
            && original_below_fack(first.right.sub(1)))
        .then(|| fack.dist(self.cold.scoreboard.next_hole(first.left).0))
    }

    /// RFC 8985 §6.2 step 5 and §6.3: moves RACK's lost boundary over the
    /// original transmissions that have been outstanding longer than the
    /// latest RTT plus the reordering window, arms the reordering timer for
    /// the next one, and finds a lost retransmission at SND.UNA.
    #[inline]
    pub(super) fn rack_detect(&mut self, now: Instant) {
        if !self.rack_on() || self.snd_una == self.snd_nxt {
            // Nothing outstanding (every ACK of a sender that keeps up):
            // nothing can be lost, no reordering timer to run.
            self.timers.stop(Timer::Rack);
            return;
        }
        self.rack_detect_outstanding(now);
    }

    /// [`rack_detect`](Self::rack_detect) with data outstanding.
    fn rack_detect_outstanding(&mut self, now: Instant) {
        let recovering = self.flags.in_recovery() || self.rtx_next().is_some();
        let dupthresh_sacked = self.cold.scoreboard.sacked_bytes()
            >= crate::recovery::DUP_THRESH.saturating_mul(self.snd_mss);
        let reo = self.rack.reo_wnd(
            &self.cold.rack_reordering,
            self.rtt.srtt(),
            recovering,
            dupthresh_sacked,
        );
        let mut wait: Option<Duration> = None;
        // A retransmission that is itself lost (RFC 8985 §2.2 ⑤): resend it.
        // In recovery, one of this episode's; after an RTO, one its go-back-N
        // sent: below the RTO's recovery point no recovery may start (RFC
        // 6582 §4), and nothing else would resend it before the next,
        // backed-off, RTO (Linux's RACK resends it in CA_Loss).
        let retransmitted_below = if self.flags.in_recovery() {
            self.high_rxt.gt(self.snd_una)
        } else {
            self.snd_una.lt(self.recover())
        };
        if retransmitted_below && let Some((xmit, true, end)) = self.sndbuf.entry_info(self.snd_una)
        {
            match self.rack.time_to_loss(now, xmit, end, reo) {
                Some(Duration::ZERO) if self.fast_rtx().is_none() => {
                    self.set_fast_rtx(Some(self.snd_una));
                    self.cold.make().rare.rack_lost_retransmits += 1;
                }
                Some(d) if !d.is_zero() => wait = Some(d),
                _ => {}
            }
        }
        let mut cur = self.rack_lost_end().max(self.high_rxt).max(self.snd_una);
        for _ in 0..RACK_SCAN {
            let (hole, _) = self.cold.scoreboard.next_hole(cur);
            if !hole.lt(self.snd_nxt) {
                break;
            }
            let Some((xmit, _, end)) = self.sndbuf.entry_info(hole) else {
                break;
            };
            match self.rack.time_to_loss(now, xmit, end, reo) {
                Some(Duration::ZERO) => {
                    self.set_rack_lost_end(end);
                    cur = end;
                }
                Some(d) => {
                    wait = Some(wait.map_or(d, |w| w.min(d)));
                    break;
                }
                None => break,
            }
        }
        match wait {
            Some(d) => self.timers.set(Timer::Rack, now + d),
            None => self.timers.stop(Timer::Rack),
        }
    }

    /// RFC 8985 §7.2: (re)arms the probe timeout while data is outstanding
    /// outside recovery and no probe is in flight. A probe due at or after
    /// the RTO takes the RTO's place (Linux: "if the RTO formula yields an
    /// earlier time, then use that time"): it fires just before it, and the
    /// RTO starts again from the probe.
    pub(super) fn arm_loss_probe(&mut self, now: Instant) {
        let eligible = self.rack_on()
            && self.flags.syn_acked()
            && !self.flags.in_recovery()
            && self.rtx_next().is_none()
            && self.tlp_high_seq().is_none()
            && self.snd_una != self.snd_nxt;
        if !eligible {
            self.timers.stop(Timer::LossProbe);
            return;
        }
        let one = self.snd_nxt.dist(self.snd_una) <= self.snd_mss;
        let pto = probe_timeout_micros(self.rtt.srtt_micros(), one);
        let mut at = now.total_micros().saturating_add(pto);
        if let Some(rto) = self.timers.deadline(Timer::Retransmit)
            && at >= rto.total_micros()
        {
            at = rto.total_micros().saturating_sub(1).max(now.total_micros());
        }
        self.timers.set(Timer::LossProbe, Instant::from_micros(at));
    }

    /// RFC 8985 §7.3: the probe timer fired: one probe goes out next, and
    /// the RTO counts from it (RFC 8985 §7.3: "rearm the RTO timer").
    pub(super) fn on_loss_probe_timeout(&mut self, now: Instant) {
        if self.rack_on()
            && !self.flags.in_recovery()
            && self.rtx_next().is_none()
            && self.tlp_high_seq().is_none()
            && self.snd_una != self.snd_nxt
        {
            self.flags.set_tlp_pending(true);
            self.timers
                .set_after(Timer::Retransmit, now, self.rtt.rto_micros(&self.cfg));
        }
    }

    /// RFC 8985 §7.4: the ACK covering the probe ends its episode. A
    /// probe that resent old data and drew no D-SACK repaired a real loss:
    /// congestion control reacts as to one loss.
    ///
    /// Nearly every ACK finds no episode open: that test is inlined into
    /// the caller.
    #[inline(always)]
    pub(super) fn tlp_on_ack(&mut self, now: Instant, ack: SeqNum) {
        if let Some(high) = self.tlp_high_seq()
            && ack.ge(high)
        {
            self.tlp_episode_end(now);
        }
    }

    /// [`tlp_on_ack`](Self::tlp_on_ack) once the ACK covers the probe.
    #[inline(never)]
    fn tlp_episode_end(&mut self, now: Instant) {
        self.set_tlp_high_seq(None);
        if self.flags.tlp_was_rtx() && !self.flags.tlp_dsack() && !self.flags.in_recovery() {
            let mss = self.snd_mss;
            let cc = self.cc.get_mut();
            let cwnd = cc.cwnd();
            cc.on_fast_retransmit(now, cwnd, mss);
            let ssthresh = cc.ssthresh();
            cc.on_recovery_end(ssthresh, mss);
            self.ecn_on_loss();
        }
    }
}
