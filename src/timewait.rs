//! TIME-WAIT (RFC 9293 §3.10.7.4 in state TIME-WAIT, RFC 1337, RFC 6191):
//! the one home of its rules. A [`Connection`](crate::Connection) in
//! TIME-WAIT and the [`Endpoint`](crate::endpoint::Endpoint)'s compact
//! TIME-WAIT entries both ask [`on_segment`] what to do with an arriving
//! segment, and both reopen a 4-tuple with [`reincarnation_iss`].

use crate::seq::SeqNum;
use crate::wire::Segment;

/// What TIME-WAIT keeps of a connection: enough to answer its peer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TimeWaitView {
    /// RCV.NXT (just past the peer's FIN).
    pub rcv_nxt: SeqNum,
    /// SND.NXT (just past our FIN).
    pub snd_nxt: SeqNum,
    /// RCV.WND at entry.
    pub rcv_wnd: u32,
    /// Timestamps were negotiated.
    pub ts_enabled: bool,
    /// TS.Recent.
    pub ts_recent: u32,
}

/// What TIME-WAIT does with a segment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum TimeWaitAction {
    /// A new SYN may reopen the 4-tuple (MAY-2, SHLD-4, RFC 6191).
    Reopen,
    /// Answer with an ACK (rate-limited); a retransmitted FIN also restarts
    /// 2·MSL (§3.10.7.4 step 8, tcp-checklist T1/B7).
    Ack {
        /// Restart the 2·MSL timer.
        restart: bool,
    },
    /// RFC 5961 challenge ACK (an in-window, not exact, RST; an in-window SYN).
    ChallengeAck,
    /// An exact RST ends TIME-WAIT early (RFC 1337 setting off): close, Normal.
    Close,
    /// RFC 5961 off: an in-window SYN resets the connection (§3.10.7.4 step 4).
    ResetAndClose,
    /// Nothing to do. `unacceptable` counts a failed acceptability test.
    Drop {
        /// The segment failed the acceptability test (or PAWS).
        unacceptable: bool,
    },
}

/// RFC 6191 §2: with timestamps, a SYN is new if its TSval is above
/// TS.Recent, or equal to it with a sequence number above RCV.NXT (a client
/// reconnecting within one tick of its timestamp clock, as Linux does);
/// otherwise (no timestamps on either side of the test) if its sequence
/// number is above RCV.NXT. RFC 6191 would also take any SYN
/// carrying timestamps when the old incarnation had none, but the old
/// incarnation's own SYN may have offered them (the option was refused), so
/// a retransmission of it would pass; the sequence test alone is kept.
pub(crate) fn syn_may_reuse(tw: &TimeWaitView, seg: &Segment) -> bool {
    match (tw.ts_enabled, seg.options.timestamps) {
        (true, Some(t)) => {
            let newer = t.val.wrapping_sub(tw.ts_recent) as i32;
            newer > 0 || (newer == 0 && seg.seq.gt(tw.rcv_nxt))
        }
        _ => seg.seq.gt(tw.rcv_nxt),
    }
}

/// The ISS of a new incarnation reopened from TIME-WAIT: beyond anything the
/// old one sent (as Linux: SND.NXT + 2^16 + 1), so that old duplicates
/// cannot be mistaken for new data.
pub(crate) fn reincarnation_iss(tw: &TimeWaitView) -> SeqNum {
    tw.snd_nxt.add(65537)
}

/// §3.10.7.4 for a segment arriving in TIME-WAIT, with PAWS (RFC 7323 §5.3),
/// RFC 5961 (`rfc5961`) and RFC 1337 (`rfc1337`: a RST does not end
/// TIME-WAIT).
pub(crate) fn on_segment(
    tw: &TimeWaitView,
    seg: &Segment,
    rfc1337: bool,
    rfc5961: bool,
) -> TimeWaitAction {
    let f = seg.flags;
    if f.syn() && !f.ack() && !f.rst() && syn_may_reuse(tw, seg) {
        return TimeWaitAction::Reopen;
    }
    // Step 1: sequence number, after PAWS.
    let paws_fail = tw.ts_enabled
        && !f.rst()
        && seg
            .options
            .timestamps
            .is_some_and(|t| (t.val.wrapping_sub(tw.ts_recent) as i32) < 0);
    if paws_fail || !crate::connection::segment_acceptable(tw.rcv_nxt, tw.rcv_wnd, seg) {
        if f.rst() {
            // Never answer a RST.
            return TimeWaitAction::Drop { unacceptable: true };
        }
        let restart = f.fin() && seg.seq.add(seg.seg_len()) == tw.rcv_nxt;
        return TimeWaitAction::Ack { restart };
    }
    // Step 2: RST (RFC 5961 §3.2: only an exact match counts).
    if f.rst() {
        return if rfc5961 && seg.seq != tw.rcv_nxt {
            TimeWaitAction::ChallengeAck
        } else if rfc1337 {
            TimeWaitAction::Drop {
                unacceptable: false,
            }
        } else {
            TimeWaitAction::Close
        };
    }
    // Step 4: a SYN in the window (one before RCV.NXT is trimmed away).
    if f.syn() && !seg.seq.lt(tw.rcv_nxt) {
        return if rfc5961 {
            TimeWaitAction::ChallengeAck
        } else {
            TimeWaitAction::ResetAndClose
        };
    }
    // An acceptable ACK, or data after the peer's FIN: nothing to do.
    TimeWaitAction::Drop {
        unacceptable: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Flags, Timestamps};

    fn tw(ts: bool) -> TimeWaitView {
        TimeWaitView {
            rcv_nxt: SeqNum(1000),
            snd_nxt: SeqNum(5000),
            rcv_wnd: 65535,
            ts_enabled: ts,
            ts_recent: 100,
        }
    }

    fn seg(flags: Flags, seq: u32, tsval: Option<u32>) -> Segment {
        let mut s = Segment {
            flags,
            seq: SeqNum(seq),
            ack: SeqNum(5000),
            ..Segment::default()
        };
        s.options.timestamps = tsval.map(|val| Timestamps { val, ecr: 0 });
        s
    }

    #[test]
    fn retransmitted_fin_is_acked_and_restarts_2msl() {
        let fin = seg(Flags::FIN | Flags::ACK, 999, Some(100));
        assert_eq!(
            on_segment(&tw(true), &fin, false, true),
            TimeWaitAction::Ack { restart: true }
        );
    }

    #[test]
    fn syn_with_newer_timestamp_reopens_and_older_is_acked() {
        let new = seg(Flags::SYN, 10, Some(101));
        assert_eq!(
            on_segment(&tw(true), &new, false, true),
            TimeWaitAction::Reopen
        );
        let old = seg(Flags::SYN, 10, Some(99));
        assert_eq!(
            on_segment(&tw(true), &old, false, true),
            TimeWaitAction::Ack { restart: false }
        );
    }

    #[test]
    fn syn_with_equal_timestamp_reopens_only_above_rcv_nxt() {
        // RFC 6191 §2: same TSval (same clock tick), higher sequence number.
        let t = tw(true);
        let above = seg(Flags::SYN, t.rcv_nxt.add(1000).0, Some(t.ts_recent));
        assert_eq!(on_segment(&t, &above, false, true), TimeWaitAction::Reopen);
        let below = seg(Flags::SYN, t.rcv_nxt.sub(1000).0, Some(t.ts_recent));
        assert_eq!(
            on_segment(&t, &below, false, true),
            TimeWaitAction::Ack { restart: false }
        );
    }

    #[test]
    fn syn_without_timestamps_reopens_only_above_rcv_nxt() {
        let above = seg(Flags::SYN, 2000, None);
        assert_eq!(
            on_segment(&tw(false), &above, false, true),
            TimeWaitAction::Reopen
        );
        let below = seg(Flags::SYN, 10, None);
        assert_eq!(
            on_segment(&tw(false), &below, false, true),
            TimeWaitAction::Ack { restart: false }
        );
        // Near the wrap: 2^32 - 5 is "below" 1000 modulo 2^32.
        let wrapped = seg(Flags::SYN, u32::MAX - 5, None);
        assert!(!syn_may_reuse(&tw(false), &wrapped));
    }

    #[test]
    fn exact_rst_follows_rfc1337_and_inexact_gets_a_challenge() {
        let rst = seg(Flags::RST, 1000, None);
        assert_eq!(
            on_segment(&tw(false), &rst, false, true),
            TimeWaitAction::Close
        );
        assert_eq!(
            on_segment(&tw(false), &rst, true, true),
            TimeWaitAction::Drop {
                unacceptable: false
            }
        );
        let inexact = seg(Flags::RST, 1500, None);
        assert_eq!(
            on_segment(&tw(false), &inexact, false, true),
            TimeWaitAction::ChallengeAck
        );
        let outside = seg(Flags::RST, 900, None);
        assert_eq!(
            on_segment(&tw(false), &outside, false, true),
            TimeWaitAction::Drop { unacceptable: true }
        );
    }

    #[test]
    fn reincarnation_iss_lies_beyond_the_old_snd_nxt() {
        assert_eq!(reincarnation_iss(&tw(false)), SeqNum(5000 + 65537));
    }
}
