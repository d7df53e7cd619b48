//! LISTEN (RFC 9293 §3.10.7.2): the one home of what a listener does with a
//! segment. A [`Connection`](crate::Connection) made by
//! [`Connection::listen`](crate::Connection::listen) and the
//! [`Endpoint`](crate::endpoint::Endpoint)'s listeners both ask [`on_segment`].

use crate::icmp::{IcmpCause, IcmpError};
use crate::seq::SeqNum;
use crate::wire::Segment;

/// What a listener does with a segment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ListenAction {
    /// A RST: ignored (L1).
    Ignore,
    /// An ACK: answered with `<SEQ=SEG.ACK><CTL=RST>` (L2).
    Reset,
    /// Neither SYN nor ACK nor RST: dropped (L4).
    Drop,
    /// A SYN: a new connection may start (L3). Data on the SYN is not kept:
    /// it is not acknowledged either, so the peer sends it again (B11).
    Syn,
}

/// §3.10.7.2, in the RFC's order: RST, then ACK, then SYN.
pub(crate) fn on_segment(seg: &Segment) -> ListenAction {
    let f = seg.flags;
    if f.rst() {
        ListenAction::Ignore
    } else if f.ack() {
        ListenAction::Reset
    } else if f.syn() {
        ListenAction::Syn
    } else {
        ListenAction::Drop
    }
}

/// Whether an ICMP error about our SYN-ACK ends a half-open entry (SYN
/// queue) whose ISS is `iss`: only one that quotes the SYN-ACK itself
/// (`seq == iss`, RFC 5927 §4.1), and only for errors that say the client
/// cannot be reached — Net or Host Unreachable, Time Exceeded, Parameter
/// Problem (Linux's `tcp_req_err`) — or a hard error. Anything else leaves
/// the entry to its SYN-ACK retransmissions. A passive
/// [`Connection`](crate::Connection) in SYN-RECEIVED returns to LISTEN by
/// the same rule.
pub(crate) fn icmp_ends_half_open(err: IcmpError, seq: SeqNum, iss: SeqNum) -> bool {
    use IcmpCause::*;
    let unreachable = match err {
        IcmpError::Unreachable(c) => {
            c.is_hard()
                || matches!(
                    c,
                    NetUnreachable | HostUnreachable | TimeExceeded | ParameterProblem
                )
        }
        IcmpError::SourceQuench | IcmpError::PacketTooBig { .. } => false,
    };
    seq == iss && unreachable
}
