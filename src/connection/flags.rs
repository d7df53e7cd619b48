//! The connection's yes/no state in one word: a bit per flag instead of an
//! octet per `bool`, and the presence bits of the sequence numbers that are
//! not always set (an `Option<SeqNum>` takes 8 octets; a `SeqNum` and a bit
//! take 4). Every flag has a named getter and setter, so that call sites
//! read as they did with fields.

use crate::seq::SeqNum;
use crate::time::Instant;

use crate::event::CloseReason;

/// Defines the flag bits with a getter `name()` and a setter `set_name(v)` each.
macro_rules! flags {
    ($($(#[$doc:meta])* $get:ident, $set:ident = $bit:expr;)*) => {
        impl Flags {
            $(
                $(#[$doc])*
                #[inline(always)]
                pub(super) fn $get(self) -> bool {
                    self.0 & (1 << $bit) != 0
                }

                #[inline(always)]
                pub(super) fn $set(&mut self, on: bool) {
                    if on {
                        self.0 |= 1 << $bit;
                    } else {
                        self.0 &= !(1 << $bit);
                    }
                }
            )*
        }

        /// Every flag by name (as the `bool` fields they replace printed).
        impl core::fmt::Debug for Flags {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct("Flags")
                    $(.field(stringify!($get), &self.$get()))*
                    .field("active_origin", &self.active_origin())
                    .field("close_reason", &self.close_reason())
                    .finish()
            }
        }

        #[cfg(test)]
        const BITS: &[u32] = &[$($bit),*];
    };
}

/// The presence bits of `rtx_next` and `fast_rtx` (cleared together by
/// `clear_retransmit_marks`).
const RTX_NEXT_BIT: u32 = 6;
const FAST_RTX_BIT: u32 = 5;

/// A connection's flags (all clear in a new connection but
/// `header_prediction`).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Flags(u32);

/// The flags that each make a segment due: `syn_pending`, `ack_now`,
/// `tlp_pending`, `zero_window_probe`, `keepalive_probe`, and the presence
/// of `fast_rtx` and `rtx_next` (bits 0–6).
const OUTPUT_DUE: u32 = 0b111_1111;

impl Flags {
    /// Whether any flag that makes a segment due is set (one test for the
    /// seven).
    #[inline(always)]
    pub(super) fn output_due(self) -> bool {
        self.0 & OUTPUT_DUE != 0
    }

    /// [`output_due`](Self::output_due), or in recovery (`in_recovery`,
    /// bit 19): one test for the eight.
    #[inline(always)]
    pub(super) fn output_due_or_recovery(self) -> bool {
        self.0 & (OUTPUT_DUE | 1 << 19) != 0
    }
}

/// The flags [`Flags::sends_new_data_only`] wants set (header prediction
/// on, our SYN acknowledged) and clear (SYN, loss probe, zero-window and
/// keep-alive probes, fast and go-back-N retransmissions, recovery, FIN).
/// `ack_now` may be either: a data segment carries the ACK.
const NEW_DATA_SET: u32 = 1 << 8 | 1 << 9;
const NEW_DATA_CLEAR: u32 = 1 << 0 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 19 | 1 << 24;

impl Flags {
    /// Whether no flag makes anything but new data (or, failing that, a
    /// pure ACK) the next segment (one mask test for the ten flags).
    #[inline(always)]
    pub(super) fn sends_new_data_only(self) -> bool {
        self.0 & (NEW_DATA_SET | NEW_DATA_CLEAR) == NEW_DATA_SET
    }
}

/// The flags [`Flags::sends_control_only`] wants set (header prediction
/// on) and clear (SYN, loss probe, zero-window and keep-alive probes, fast
/// and go-back-N retransmissions, recovery): what is left to send is a
/// pure ACK or a FIN alone.
const CONTROL_SET: u32 = 1 << 8;
const CONTROL_CLEAR: u32 = 1 << 0 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 19;

impl Flags {
    /// Whether no flag makes anything but a pure ACK or a FIN alone the
    /// next segment, whatever data says (one mask test for the nine flags).
    #[inline(always)]
    pub(super) fn sends_control_only(self) -> bool {
        self.0 & (CONTROL_SET | CONTROL_CLEAR) == CONTROL_SET
    }
}

/// The flags [`Flags::sends_syn_only`] wants set (header prediction on,
/// SYN due) and clear (our SYN acknowledged, recovery).
const SYN_SET: u32 = 1 << 8 | 1 << 0;
const SYN_CLEAR: u32 = 1 << 9 | 1 << 19;

impl Flags {
    /// Whether our SYN (or SYN-ACK) is the next segment but for a reply
    /// (one mask test for the four flags).
    #[inline(always)]
    pub(super) fn sends_syn_only(self) -> bool {
        self.0 & (SYN_SET | SYN_CLEAR) == SYN_SET
    }
}

flags! {
    /// Made by `Connection::listen`: a reset in SYN-RECEIVED returns to LISTEN.
    one_shot_listener, set_one_shot_listener = 7;
    /// Header prediction on (the default); off only to test it against
    /// the full segment-arrival steps.
    header_prediction, set_header_prediction = 8;
    /// Our SYN is acknowledged (the connection is synchronized in the send direction).
    syn_acked, set_syn_acked = 9;
    /// A SYN (SYN_SENT) or SYN-ACK (SYN_RECEIVED) is due.
    syn_pending, set_syn_pending = 0;
    /// Both SYNs carried timestamps (RFC 7323).
    ts_enabled, set_ts_enabled = 10;
    /// Both SYNs carried SACK-permitted (RFC 2018 §2).
    sack_enabled, set_sack_enabled = 11;
    /// The peer's FIN has been processed (RCV.NXT moved past it).
    peer_finished, set_peer_finished = 12;
    /// The application closed fully: it reads no more (MAY-1).
    app_closed, set_app_closed = 13;
    /// `shutdown_read`: reads return end-of-stream once the buffer is empty.
    rd_shut, set_rd_shut = 14;
    /// `set_cork`: hold sub-MSS segments back.
    corked, set_corked = 15;
    /// The last write said more follows (`send_more`): a short tail waits
    /// for the next ACK, write or push, and the write's end carries no PSH.
    more_hold, set_more_hold = 16;
    /// The data queued by `send_more` since the last plain write ends
    /// without PSH.
    more_unpushed, set_more_unpushed = 17;
    /// The persist timer is armed to flush a corked tail (not to probe a
    /// zero window).
    cork_probe, set_cork_probe = 18;
    /// In fast recovery (RFC 6582 / RFC 6675).
    in_recovery, set_in_recovery = 19;
    /// The tail loss probe resent old data (not new data).
    tlp_was_rtx, set_tlp_was_rtx = 20;
    /// A D-SACK arrived during the probe's episode: the probe was needless.
    tlp_dsack, set_tlp_dsack = 21;
    /// A tail loss probe is due.
    tlp_pending, set_tlp_pending = 2;
    /// An ACK is due now (not delayed).
    ack_now, set_ack_now = 1;
    /// A zero-window probe is due.
    zero_window_probe, set_zero_window_probe = 3;
    /// A keep-alive probe is due.
    keepalive_probe, set_keepalive_probe = 4;
    /// `Readable` was queued and the application has not read since.
    readable_signalled, set_readable_signalled = 22;
    /// A write found no room: `Writable` is due when room opens.
    want_writable, set_want_writable = 23;
    /// [`Marks::fin_seq`] is set.
    has_fin_seq, set_has_fin_seq = 24;
    /// [`Marks::rcv_fin`] is set.
    has_rcv_fin, set_has_rcv_fin = 25;
    /// [`RareMarks::rtx_next`] is set.
    has_rtx_next, set_has_rtx_next = RTX_NEXT_BIT;
    /// [`RareMarks::fast_rtx`] is set.
    has_fast_rtx, set_has_fast_rtx = FAST_RTX_BIT;
    /// [`RareMarks::tlp_high_seq`] is set.
    has_tlp_high_seq, set_has_tlp_high_seq = 26;
    /// [`Marks::rtt_probe_at`] is set.
    has_rtt_probe, set_has_rtt_probe = 27;
    /// SYN-RECEIVED was reached from SYN-SENT (simultaneous open), not
    /// from LISTEN (MUST-11); see `Connection::origin`.
    active_origin, set_active_origin = 28;
}

/// Bits 29–31: why the connection closed, 0 while it has not (else the
/// reason's index in [`REASONS`] plus one).
const CLOSE_SHIFT: u32 = 29;
const CLOSE_MASK: u32 = 0b111 << CLOSE_SHIFT;

// Every close reason, in the order of their codes: the event queue's table.
use super::events::REASONS;

/// Code → reason (one load; code 7 is never stored).
const DECODE_REASON: [Option<CloseReason>; 8] = [
    None,
    Some(REASONS[0]),
    Some(REASONS[1]),
    Some(REASONS[2]),
    Some(REASONS[3]),
    Some(REASONS[4]),
    Some(REASONS[5]),
    None,
];

impl Flags {
    /// Why the connection closed, once it has.
    #[inline(always)]
    pub(super) fn close_reason(self) -> Option<CloseReason> {
        DECODE_REASON[(self.0 >> CLOSE_SHIFT) as usize & 7]
    }

    #[inline(always)]
    pub(super) fn set_close_reason(&mut self, r: Option<CloseReason>) {
        let code = r.map_or(0, |r| r as u32 + 1);
        self.0 = (self.0 & !CLOSE_MASK) | (code << CLOSE_SHIFT);
    }
}

/// Sequence numbers that are not always set; each is valid only while its
/// presence bit in [`Flags`] is set, and zero while it is not (read them through the `Connection`
/// accessors of the same name, which return `Option<SeqNum>`). The three
/// that only loss recovery sets (`rtx_next`, `fast_rtx`, `tlp_high_seq`)
/// keep their values in the cold state ([`Cold`](super::cold::Cold)); their
/// presence bits stay here, so a clean connection tests a bit and never
/// reads the cold state for them.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Marks {
    /// Sequence number of our FIN, once the application shut down writing.
    pub(super) fin_seq: SeqNum,
    /// Sequence number of the peer's FIN, once seen (perhaps out of order).
    pub(super) rcv_fin: SeqNum,
    /// RTT timing of the SYN (or SYN-ACK) without timestamps (Karn): when
    /// it was sent. It ends at ISS + 1, the only segment ever timed this way.
    pub(super) rtt_probe_at: Instant,
}

/// The marks that loss recovery sets, kept in the cold state.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RareMarks {
    /// Go-back-N cursor after an RTO: next octet to retransmit.
    pub(super) rtx_next: SeqNum,
    /// One segment to retransmit now (fast retransmit, partial ACK).
    pub(super) fast_rtx: SeqNum,
    /// SND.NXT when a tail loss probe went out; cleared once acknowledged.
    pub(super) tlp_high_seq: SeqNum,
}

impl RareMarks {
    /// None set.
    pub(super) const NONE: RareMarks = RareMarks {
        rtx_next: SeqNum(0),
        fast_rtx: SeqNum(0),
        tlp_high_seq: SeqNum(0),
    };
}

/// `Connection` accessors for the optional sequence numbers: `name()`
/// returns the `Option<SeqNum>`, `set_name(o)` stores one.
macro_rules! marks {
    ($($get:ident, $set:ident, $has:ident, $set_has:ident;)*) => {
        impl super::Connection {
            $(
                #[inline(always)]
                pub(super) fn $get(&self) -> Option<SeqNum> {
                    self.flags.$has().then_some(self.marks.$get)
                }

                #[inline(always)]
                pub(super) fn $set(&mut self, v: Option<SeqNum>) {
                    self.flags.$set_has(v.is_some());
                    // Cleared to zero, so that equal states print alike.
                    self.marks.$get = v.unwrap_or_default();
                }
            )*
        }
    };
}

marks! {
    fin_seq, set_fin_seq, has_fin_seq, set_has_fin_seq;
    rcv_fin, set_rcv_fin, has_rcv_fin, set_has_rcv_fin;
}

/// The same accessors for the marks kept in the cold state: a value is
/// written there only when set (which allocates the cold state: loss
/// recovery does anyway); clearing one that is not set touches only the
/// bit, and clearing one that is set zeroes its value too, so that equal
/// states print alike.
macro_rules! rare_marks {
    ($($get:ident, $set:ident, $has:ident, $set_has:ident;)*) => {
        impl super::Connection {
            $(
                #[inline(always)]
                pub(super) fn $get(&self) -> Option<SeqNum> {
                    self.flags.$has().then(|| self.cold.marks.$get)
                }

                #[inline(always)]
                pub(super) fn $set(&mut self, v: Option<SeqNum>) {
                    match v {
                        Some(s) => {
                            self.flags.$set_has(true);
                            self.cold.make().marks.$get = s;
                        }
                        None => {
                            if self.flags.$has() {
                                self.flags.$set_has(false);
                                self.tidy_rare_marks();
                            }
                        }
                    }
                }
            )*
        }
    };
}

rare_marks! {
    rtx_next, set_rtx_next, has_rtx_next, set_has_rtx_next;
    fast_rtx, set_fast_rtx, has_fast_rtx, set_has_fast_rtx;
    tlp_high_seq, set_tlp_high_seq, has_tlp_high_seq, set_has_tlp_high_seq;
}

impl super::Connection {
    /// `set_rtx_next(None)` and `set_fast_rtx(None)` with one test.
    #[inline(always)]
    pub(super) fn clear_retransmit_marks(&mut self) {
        const BOTH: u32 = 1 << RTX_NEXT_BIT | 1 << FAST_RTX_BIT;
        if self.flags.0 & BOTH != 0 {
            self.flags.0 &= !BOTH;
            self.tidy_rare_marks();
        }
    }

    /// Zeroes the cold values of the rare marks that are not set (out of
    /// line: only clearing a mark that was set comes here, so the inlined
    /// setters stay a bit test on the common path).
    #[cold]
    #[inline(never)]
    fn tidy_rare_marks(&mut self) {
        let f = self.flags;
        if let Some(c) = self.cold.present() {
            if !f.has_rtx_next() {
                c.marks.rtx_next = SeqNum(0);
            }
            if !f.has_fast_rtx() {
                c.marks.fast_rtx = SeqNum(0);
            }
            if !f.has_tlp_high_seq() {
                c.marks.tlp_high_seq = SeqNum(0);
            }
        }
    }
}

impl super::Connection {
    /// Takes the segment to retransmit now, if any.
    #[inline(always)]
    pub(super) fn take_fast_rtx(&mut self) -> Option<SeqNum> {
        let v = self.fast_rtx();
        self.set_fast_rtx(None);
        v
    }

    /// The SYN timed for an RTT sample (Karn): where it ends (ISS + 1),
    /// when it was sent.
    #[inline(always)]
    pub(super) fn rtt_probe(&self) -> Option<(SeqNum, Instant)> {
        self.flags
            .has_rtt_probe()
            .then_some((self.iss.add(1), self.marks.rtt_probe_at))
    }

    /// Times the SYN sent `at` (or stops timing it: `None`).
    #[inline(always)]
    pub(super) fn set_syn_rtt_probe(&mut self, at: Option<Instant>) {
        self.flags.set_has_rtt_probe(at.is_some());
        self.marks.rtt_probe_at = at.unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_has_its_own_bit() {
        let mut seen = CLOSE_MASK;
        for &b in BITS {
            assert!(b < 32);
            assert_eq!(seen & (1 << b), 0, "bit {b} used twice");
            seen |= 1 << b;
        }
    }

    #[test]
    fn output_due_is_exactly_the_seven_output_flags() {
        let mut f = Flags::default();
        f.set_header_prediction(true);
        f.set_in_recovery(true);
        f.set_want_writable(true);
        f.set_has_rtt_probe(true);
        f.set_has_fin_seq(true);
        f.set_syn_acked(true);
        assert!(!f.output_due());
        type Set = fn(&mut Flags, bool);
        let due: [Set; 7] = [
            Flags::set_syn_pending,
            Flags::set_ack_now,
            Flags::set_tlp_pending,
            Flags::set_zero_window_probe,
            Flags::set_keepalive_probe,
            Flags::set_has_fast_rtx,
            Flags::set_has_rtx_next,
        ];
        for set in due {
            let mut g = f;
            set(&mut g, true);
            assert!(g.output_due());
            assert!(g.output_due_or_recovery());
        }
        let mut g = f;
        g.set_in_recovery(false);
        assert!(!g.output_due_or_recovery());
        assert!(f.output_due_or_recovery(), "in recovery");
    }

    #[test]
    fn the_close_reason_round_trips_beside_the_flags() {
        for (i, r) in REASONS.into_iter().enumerate() {
            assert_eq!(r as usize, i);
            let mut f = Flags(!CLOSE_MASK);
            assert_eq!(f.close_reason(), None);
            f.set_close_reason(Some(r));
            assert_eq!(f.close_reason(), Some(r));
            assert_eq!(f.0 | CLOSE_MASK, !0, "no flag cleared");
            f.set_close_reason(None);
            assert_eq!(f, Flags(!CLOSE_MASK));
        }
    }

    #[test]
    fn new_data_only_is_exactly_its_ten_flags() {
        let mut f = Flags::default();
        f.set_header_prediction(true);
        f.set_syn_acked(true);
        // Flags that do not matter.
        f.set_ack_now(true);
        f.set_ts_enabled(true);
        f.set_sack_enabled(true);
        f.set_want_writable(true);
        f.set_has_tlp_high_seq(true);
        assert!(f.sends_new_data_only());
        type Set = fn(&mut Flags, bool);
        let must_be_clear: [Set; 8] = [
            Flags::set_syn_pending,
            Flags::set_tlp_pending,
            Flags::set_zero_window_probe,
            Flags::set_keepalive_probe,
            Flags::set_has_fast_rtx,
            Flags::set_has_rtx_next,
            Flags::set_in_recovery,
            Flags::set_has_fin_seq,
        ];
        for set in must_be_clear {
            let mut g = f;
            set(&mut g, true);
            assert!(!g.sends_new_data_only());
        }
        let must_be_set: [Set; 2] = [Flags::set_header_prediction, Flags::set_syn_acked];
        for set in must_be_set {
            let mut g = f;
            set(&mut g, false);
            assert!(!g.sends_new_data_only());
        }
    }

    #[test]
    fn control_only_is_exactly_its_eight_flags() {
        let mut f = Flags::default();
        f.set_header_prediction(true);
        // Flags that do not matter.
        f.set_syn_acked(true);
        f.set_ack_now(true);
        f.set_has_fin_seq(true);
        f.set_ts_enabled(true);
        f.set_sack_enabled(true);
        f.set_want_writable(true);
        assert!(f.sends_control_only());
        type Set = fn(&mut Flags, bool);
        let must_be_clear: [Set; 7] = [
            Flags::set_syn_pending,
            Flags::set_tlp_pending,
            Flags::set_zero_window_probe,
            Flags::set_keepalive_probe,
            Flags::set_has_fast_rtx,
            Flags::set_has_rtx_next,
            Flags::set_in_recovery,
        ];
        for set in must_be_clear {
            let mut g = f;
            set(&mut g, true);
            assert!(!g.sends_control_only());
        }
        let mut g = f;
        g.set_header_prediction(false);
        assert!(!g.sends_control_only());
    }

    #[test]
    fn syn_only_is_exactly_its_four_flags() {
        let mut f = Flags::default();
        f.set_header_prediction(true);
        f.set_syn_pending(true);
        // Flags that do not matter.
        f.set_ack_now(true);
        f.set_ts_enabled(true);
        f.set_has_rtt_probe(true);
        assert!(f.sends_syn_only());
        let mut g = f;
        g.set_syn_acked(true);
        assert!(!g.sends_syn_only());
        let mut g = f;
        g.set_in_recovery(true);
        assert!(!g.sends_syn_only());
        let mut g = f;
        g.set_header_prediction(false);
        assert!(!g.sends_syn_only());
        let mut g = f;
        g.set_syn_pending(false);
        assert!(!g.sends_syn_only());
    }

    #[test]
    fn setting_one_flag_leaves_the_others() {
        let mut f = Flags::default();
        f.set_ack_now(true);
        f.set_want_writable(true);
        assert!(f.ack_now() && f.want_writable());
        assert!(!f.in_recovery() && !f.has_fin_seq());
        f.set_ack_now(false);
        assert!(!f.ack_now() && f.want_writable());
        f.set_ack_now(false);
        assert!(!f.ack_now() && f.want_writable());
    }
}
