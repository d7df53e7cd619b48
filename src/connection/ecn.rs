//! Explicit Congestion Notification (RFC 3168 §6.1): negotiation on the
//! SYN exchange, the receiver's ECE echo, the sender's once-per-window
//! reduction with CWR, and which outgoing segments are ECN-capable.
//!
//! The IP bits are the caller's: they come in with
//! [`Connection::handle_segment_ecn`] and go out through
//! [`Connection::transmit_ecn`].

use super::Connection;
use crate::config::EcnMode;
use crate::seq::SeqNum;
use crate::time::Instant;
use crate::wire::{Ecn, Flags, Segment};

/// ECN state of one connection (3 octets; the sender's recovery point,
/// written only by a reduction, is in the cold state: [`Connection::ecn_recover`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct EcnState {
    /// [`OK`], [`REQUESTED`], [`ECHO_ECE`], [`SEND_CWR`], [`IN_CWR`].
    flags: u8,
    /// The ECN field of the IP packet that arrives now.
    incoming: Ecn,
    /// The ECN field for the segment last returned by `poll_transmit`.
    outgoing: Ecn,
}

/// ECN is in use: both SYNs agreed (RFC 3168 §6.1.1).
const OK: u8 = 1;
/// A SYN of ours carried the ECN-setup flags (ECE and CWR).
const REQUESTED: u8 = 2;
/// Receiver: a CE mark arrived and no CWR since; every ACK carries ECE
/// (§6.1.3).
const ECHO_ECE: u8 = 4;
/// Sender: the next new data segment carries CWR (§6.1.2).
const SEND_CWR: u8 = 8;
/// Sender: reducing after an ECN echo (Linux's CWR state), until SND.UNA
/// passes where the reduction began ([`Connection::ecn_recover`]).
const IN_CWR: u8 = 16;

impl EcnState {
    pub(super) fn new() -> EcnState {
        EcnState {
            flags: 0,
            incoming: Ecn::NotEct,
            outgoing: Ecn::NotEct,
        }
    }

    /// ECN is in use: both SYNs agreed (RFC 3168 §6.1.1).
    #[inline]
    pub(super) fn ok(&self) -> bool {
        self.has(OK)
    }

    /// The sender is reducing after an ECN echo (Linux's CWR state).
    #[inline]
    pub(super) fn in_cwr(&self) -> bool {
        self.has(IN_CWR)
    }

    #[inline]
    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    #[inline]
    fn set(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }
}

impl Connection {
    /// [`handle_segment`](Self::handle_segment) for a segment whose IP
    /// header carried the ECN codepoint `ecn` (RFC 3168 §5). Callers that do
    /// not read the IP ECN field use `handle_segment`, which means
    /// [`Ecn::NotEct`].
    pub fn handle_segment_ecn(&mut self, now: Instant, seg: Segment, ecn: Ecn) {
        self.ecn.incoming = ecn;
        self.handle_segment(now, seg);
        self.ecn.incoming = Ecn::NotEct;
    }

    /// The ECN codepoint to write into the IP header of the segment last
    /// returned by [`poll_transmit`](Self::poll_transmit): [`Ecn::Ect0`] on
    /// new data once ECN is negotiated, [`Ecn::NotEct`] on everything else
    /// (SYNs, pure ACKs, retransmissions, probes, RSTs; RFC 3168 §6.1.1,
    /// §6.1.4, §6.1.5).
    pub fn transmit_ecn(&self) -> Ecn {
        self.ecn.outgoing
    }

    /// Every IP header field for the segment last returned by
    /// [`poll_transmit`](Self::poll_transmit): [`transmit_ecn`](Self::transmit_ecn),
    /// `Config::dscp` (MUST-48) and `Config::hop_limit` (MUST-49); for
    /// [`ip::write_header_with`](crate::ip::write_header_with).
    pub fn transmit_ip(&self) -> crate::ip::IpFields {
        crate::ip::IpFields {
            ecn: self.ecn.outgoing,
            dscp: self.cfg.dscp,
            hop_limit: self.cfg.hop_limit,
        }
    }

    /// [`poll_transmit`](Self::poll_transmit) with the ECN codepoint for
    /// the segment's IP header.
    pub fn poll_transmit_ecn(&mut self, now: Instant) -> Option<(Segment, Ecn)> {
        let s = self.poll_transmit(now)?;
        Some((s, self.ecn.outgoing))
    }

    /// Whether ECN was negotiated on this connection.
    pub fn ecn_enabled(&self) -> bool {
        self.ecn.ok()
    }

    /// Our SYN (active open): ask for ECN with ECE and CWR (§6.1.1) on
    /// the first transmission only, so that a middlebox that drops
    /// ECN-setup SYNs costs one timeout, not the connection (§6.1.1.1).
    pub(super) fn ecn_syn_flags(&mut self, flags: Flags, first: bool) -> Flags {
        if self.cfg.ecn == EcnMode::On && first {
            self.ecn.set(REQUESTED, true);
            return flags.with(Flags::ECE).with(Flags::CWR);
        }
        flags
    }

    /// Our SYN-ACK: ECE alone when we accepted the peer's request.
    pub(super) fn ecn_synack_flags(&self, flags: Flags) -> Flags {
        if self.ecn.ok() {
            flags.with(Flags::ECE)
        } else {
            flags
        }
    }

    /// The peer's SYN or SYN-ACK decides (§6.1.1): a SYN asks with ECE and
    /// CWR both set; a SYN-ACK agrees with ECE alone (ECE and CWR together
    /// is a reflected SYN, not an answer).
    pub(super) fn ecn_on_syn(&mut self, seg: &Segment) {
        let f = seg.flags;
        let (ece, cwr) = (f.contains(Flags::ECE), f.contains(Flags::CWR));
        let ok = if f.ack() {
            self.ecn.has(REQUESTED) && ece && !cwr
        } else {
            self.cfg.ecn != EcnMode::Off && ece && cwr
        };
        self.ecn.set(OK, ok);
    }

    /// Receiver side, for an acceptable segment with data (§6.1.3): CWR
    /// ends the echo, then a CE mark (re)starts it and is acknowledged at
    /// once. CE on out-of-window segments is ignored (they never get here).
    pub(super) fn ecn_on_data(&mut self, seg: &Segment) {
        if !self.ecn.ok() {
            return;
        }
        if seg.flags.contains(Flags::CWR) {
            self.ecn.set(ECHO_ECE, false);
        }
        if self.ecn.incoming.is_ce() {
            self.cold.make().rare.ecn_ce_received += 1;
            if !self.ecn.has(ECHO_ECE) {
                self.ecn.set(ECHO_ECE, true);
                self.flags.set_ack_now(true);
            }
        }
    }

    /// Sender side, for an acceptable ACK (§6.1.2): an ECE halves (or
    /// β-reduces) the window once per window of data, unless loss recovery
    /// already reduced it. Returns whether the ACK carried ECE, in which
    /// case it must not grow the window.
    pub(super) fn ecn_on_ack(&mut self, now: Instant, seg: &Segment) -> bool {
        if !self.ecn.ok() || !seg.flags.contains(Flags::ECE) || seg.flags.syn() {
            return false;
        }
        if !self.flags.in_recovery() && self.rtx_next().is_none() && seg.ack.gt(self.ecn_recover())
        {
            let flight = self.flight_size();
            let mss = self.snd_mss;
            // Linux's tcp_init_cwnd_reduction: PRR from the window before
            // (prior_cwnd), the controller's threshold as the target.
            let prior_cwnd = self.cc.get().cwnd();
            self.cc.get_mut().on_ecn(now, flight, mss);
            let c = self.cold.make();
            c.ecn_recover = Some(self.snd_nxt);
            c.prr.start(prior_cwnd);
            c.rare.ecn_reductions += 1;
            self.ecn.set(SEND_CWR, true);
            self.ecn.set(IN_CWR, true);
        }
        true
    }

    /// One ACK during the ECN reduction (Linux's CWR state), after the ACK was
    /// processed (`delivered`: octets it acknowledged or SACKed anew). Until
    /// SND.UNA passes where the reduction began, the window is what PRR
    /// allows (RFC 6937; Linux's tcp_cwnd_reduction): the pipe plus this
    /// ACK's share, proportional above ssthresh, at most what was delivered
    /// below it (no retransmission to make an ACK a SafeACK here). Then it
    /// is ssthresh (tcp_end_cwnd_reduction). Loss recovery, which has its
    /// own PRR, takes over from it ([`ecn_on_loss`](Self::ecn_on_loss)).
    pub(super) fn ecn_cwr_on_ack(&mut self, delivered: u32) {
        let ssthresh = self.cc.get().ssthresh();
        if self.snd_una.gt(self.ecn_recover()) {
            self.ecn.set(IN_CWR, false);
            self.cc.get_mut().set_window(ssthresh, ssthresh);
            return;
        }
        if delivered == 0 {
            return;
        }
        let pipe = self.pipe();
        let out = self.snd_nxt.dist(self.ecn_recover());
        let mss = self.snd_mss;
        let sndcnt = self
            .cold
            .make()
            .prr
            .reduction_step(delivered, pipe, ssthresh, mss, out);
        // At least one segment: in octets a small delivery could leave less
        // than a segment of window with nothing in flight (Linux counts
        // packets, and sndcnt is then at least one).
        let cwnd = pipe.saturating_add(sndcnt).max(mss);
        self.cc.get_mut().set_window(cwnd, ssthresh);
    }

    /// A loss response also counts as this window's reduction (§6.1.2:
    /// at most one per window, whichever signal came first); loss recovery
    /// ends an ECN reduction in progress.
    pub(super) fn ecn_on_loss(&mut self) {
        self.cold.make().ecn_recover = Some(self.snd_nxt);
        self.ecn.set(IN_CWR, false);
    }

    /// Sender: no further reduction until an ACK passes this point (one
    /// reduction per window of data, §6.1.2); SND.UNA − 1 (passed) until a
    /// reduction or loss response sets it, and again once SND.UNA passes it
    /// (see `Cold::forget_passed`).
    pub(super) fn ecn_recover(&self) -> SeqNum {
        self.cold.ecn_recover.unwrap_or(self.snd_una.sub(1))
    }

    /// Marks an outgoing segment: ECE on ACKs while echoing, CWR and ECT(0)
    /// on new data only (§6.1.2, §6.1.5: never ECT on retransmissions, nor
    /// on pure ACKs or SYNs).
    #[inline]
    pub(super) fn ecn_on_transmit(&mut self, s: &mut Segment, new_data: bool) {
        s.flags = self.ecn_flags_on_transmit(s.flags, new_data);
    }

    /// [`ecn_on_transmit`](Self::ecn_on_transmit) for a segment with
    /// `flags`: returns them marked.
    #[inline(always)]
    pub(super) fn ecn_flags_on_transmit(&mut self, mut flags: Flags, new_data: bool) -> Flags {
        self.ecn.outgoing = Ecn::NotEct;
        if !self.ecn.ok() || flags.syn() || flags.rst() {
            return flags;
        }
        if self.ecn.has(ECHO_ECE) && flags.ack() {
            flags = flags.with(Flags::ECE);
        }
        if new_data {
            self.ecn.outgoing = Ecn::Ect0;
            if self.ecn.has(SEND_CWR) {
                self.ecn.set(SEND_CWR, false);
                flags = flags.with(Flags::CWR);
            }
        }
        flags
    }
}
