//! ICMP and ICMPv6 errors about segments a connection sent, classified as
//! TCP acts on them (RFC 9293 §3.9.2.2, MUST-54–56, SHLD-25/26): ignored,
//! reported, fatal to a handshake, or a smaller path MTU (RFC 1191, RFC
//! 8201).
//!
//! The caller's IP layer finds the connection from the IP and TCP headers
//! the message quotes (the segment we sent: our address and port first)
//! and hands over what the message says with the quoted sequence number:
//! [`Connection::handle_icmp`](crate::Connection::handle_icmp), or
//! [`Endpoint::handle_icmp`](crate::endpoint::Endpoint::handle_icmp) with the
//! addresses. [`crate::ip::parse_icmp`] does all of it for whole packets.
//!
//! Because anyone can send ICMP, a message counts only when it quotes a
//! sequence number the connection has sent and not yet seen acknowledged
//! (RFC 5927 §4.1), a hard error is fatal only during the handshake (RFC
//! 5927 §5.2, as Linux and the BSDs), and a Packet Too Big only ever
//! lowers the segment size, never below the family's floor (RFC 5927 §7).

/// What an ICMP Destination Unreachable, Time Exceeded or Parameter
/// Problem message says went wrong.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum IcmpCause {
    /// No route to the destination network (ICMPv4 Destination
    /// Unreachable codes 0, 6, 11; ICMPv6 code 0). Soft.
    NetUnreachable,
    /// The destination host cannot be reached (ICMPv4 codes 1, 5, 7, 8,
    /// 12, 14, 15; ICMPv6 codes 2, 3, 7). Soft.
    HostUnreachable,
    /// Communication administratively prohibited (ICMPv4 codes 9, 10, 13;
    /// ICMPv6 codes 1, 5, 6). Soft.
    Prohibited,
    /// The destination does not run TCP (ICMPv4 code 2). Hard.
    ProtocolUnreachable,
    /// Nothing listens on the destination port (ICMPv4 code 3, ICMPv6
    /// code 4). Hard.
    PortUnreachable,
    /// A hop limit or the reassembly time ran out (Time Exceeded). Soft.
    TimeExceeded,
    /// A router or the host could not process the IP header (Parameter
    /// Problem). Soft.
    ParameterProblem,
}

impl IcmpCause {
    /// RFC 9293 §3.9.2.2: Destination Unreachable codes 2–4 are hard
    /// errors (code 4 is path MTU discovery's, [`IcmpError::PacketTooBig`]);
    /// ICMPv6's Port Unreachable is treated alike.
    pub fn is_hard(self) -> bool {
        matches!(
            self,
            IcmpCause::ProtocolUnreachable | IcmpCause::PortUnreachable
        )
    }
}

/// An ICMP or ICMPv6 error message about a segment a connection sent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum IcmpError {
    /// ICMPv4 Source Quench: silently discarded (MUST-55; RFC 6633
    /// deprecates it).
    SourceQuench,
    /// Destination Unreachable (but for fragmentation needed), Time
    /// Exceeded or Parameter Problem.
    Unreachable(IcmpCause),
    /// The packet was larger than a link on the path: ICMPv4 Destination
    /// Unreachable code 4 with the next hop's MTU (RFC 1191), or ICMPv6
    /// Packet Too Big (RFC 8201).
    PacketTooBig {
        /// The MTU the message reports, in IP packet octets.
        mtu: u32,
        /// Whether it came over IPv6 (IP header 40 octets and an MTU
        /// floor of 1280) rather than IPv4 (20 octets; floor 552).
        ipv6: bool,
    },
}

/// Smallest path MTU an ICMPv4 message can make an IPv4 connection use:
/// Linux's `min_pmtu` (RFC 1191 allows 68; a smaller floor only lets a
/// forged message shrink every segment, RFC 5927 §7).
pub const MIN_PMTU_V4: u32 = 552;

/// Smallest path MTU of IPv6 (RFC 8200 §5; RFC 8201 §4: never below it).
pub const MIN_PMTU_V6: u32 = 1280;

impl IcmpError {
    /// Classifies an ICMPv4 message by type and code; `next_hop_mtu` is the
    /// 16-bit field of a Fragmentation Needed message (RFC 1191 §4; zero
    /// from routers older than it). `None` for messages TCP does not act
    /// on (echo, redirect, unknown types and codes). A Fragmentation
    /// Needed without an MTU is `None` too: the caller may estimate one
    /// from the quoted packet's length (RFC 1191 §5) and build
    /// [`IcmpError::PacketTooBig`] itself.
    pub fn from_icmpv4(icmp_type: u8, code: u8, next_hop_mtu: u16) -> Option<IcmpError> {
        use IcmpCause::*;
        let cause = match (icmp_type, code) {
            (3, 4) if next_hop_mtu == 0 => return None,
            (3, 4) => {
                return Some(IcmpError::PacketTooBig {
                    mtu: u32::from(next_hop_mtu),
                    ipv6: false,
                });
            }
            (3, 0 | 6 | 11) => NetUnreachable,
            (3, 1 | 5 | 7 | 8 | 12 | 14 | 15) => HostUnreachable,
            (3, 2) => ProtocolUnreachable,
            (3, 3) => PortUnreachable,
            (3, 9 | 10 | 13) => Prohibited,
            (4, 0) => return Some(IcmpError::SourceQuench),
            (11, 0 | 1) => TimeExceeded,
            (12, 0..=2) => ParameterProblem,
            _ => return None,
        };
        Some(IcmpError::Unreachable(cause))
    }

    /// Classifies an ICMPv6 message (RFC 4443) by type and code; `mtu` is
    /// the 32-bit field of a Packet Too Big. `None` for informational
    /// messages and unknown types and codes.
    pub fn from_icmpv6(icmp_type: u8, code: u8, mtu: u32) -> Option<IcmpError> {
        use IcmpCause::*;
        let cause = match (icmp_type, code) {
            (1, 0) => NetUnreachable,
            (1, 2 | 3 | 7) => HostUnreachable,
            (1, 1 | 5 | 6) => Prohibited,
            (1, 4) => PortUnreachable,
            (2, 0) => return Some(IcmpError::PacketTooBig { mtu, ipv6: true }),
            (3, 0 | 1) => TimeExceeded,
            (4, 0..=2) => ParameterProblem,
            _ => return None,
        };
        Some(IcmpError::Unreachable(cause))
    }

    /// For a Packet Too Big, the largest TCP segment (header included,
    /// options not) the reported MTU allows, with the MTU raised to its
    /// floor first ([`MIN_PMTU_V4`], [`MIN_PMTU_V6`]).
    pub fn max_segment(self) -> Option<u32> {
        match self {
            IcmpError::PacketTooBig { mtu, ipv6: false } => Some(mtu.max(MIN_PMTU_V4) - 20),
            IcmpError::PacketTooBig { mtu, ipv6: true } => Some(mtu.max(MIN_PMTU_V6) - 40),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IcmpCause::*;

    #[test]
    fn icmpv4_codes_classify_as_rfc_9293_and_rfc_1191_say() {
        let u = |c| IcmpError::from_icmpv4(3, c, 0);
        for (code, cause) in [
            (0, NetUnreachable),
            (1, HostUnreachable),
            (2, ProtocolUnreachable),
            (3, PortUnreachable),
            (5, HostUnreachable),
            (9, Prohibited),
            (13, Prohibited),
        ] {
            assert_eq!(u(code), Some(IcmpError::Unreachable(cause)), "code {code}");
        }
        // Soft: 0, 1, 5; hard: 2, 3 (MUST-56, SHLD-26).
        assert!(!NetUnreachable.is_hard() && !HostUnreachable.is_hard());
        assert!(ProtocolUnreachable.is_hard() && PortUnreachable.is_hard());
        assert_eq!(
            IcmpError::from_icmpv4(3, 4, 1400),
            Some(IcmpError::PacketTooBig {
                mtu: 1400,
                ipv6: false
            })
        );
        assert_eq!(
            IcmpError::from_icmpv4(3, 4, 0),
            None,
            "no MTU: the caller estimates"
        );
        assert_eq!(IcmpError::from_icmpv4(3, 16, 0), None, "unknown code");
        assert_eq!(
            IcmpError::from_icmpv4(4, 0, 0),
            Some(IcmpError::SourceQuench)
        );
        assert_eq!(
            IcmpError::from_icmpv4(11, 0, 0),
            Some(IcmpError::Unreachable(TimeExceeded))
        );
        assert_eq!(
            IcmpError::from_icmpv4(12, 0, 0),
            Some(IcmpError::Unreachable(ParameterProblem))
        );
        for informational in [0, 5, 8, 13, 14] {
            assert_eq!(IcmpError::from_icmpv4(informational, 0, 0), None);
        }
    }

    #[test]
    fn icmpv6_codes_classify_as_rfc_4443_and_rfc_9293_say() {
        let u = |c| IcmpError::from_icmpv6(1, c, 0);
        assert_eq!(u(0), Some(IcmpError::Unreachable(NetUnreachable)));
        assert_eq!(u(3), Some(IcmpError::Unreachable(HostUnreachable)));
        assert_eq!(u(4), Some(IcmpError::Unreachable(PortUnreachable)));
        assert_eq!(u(1), Some(IcmpError::Unreachable(Prohibited)));
        assert_eq!(u(8), None);
        assert_eq!(
            IcmpError::from_icmpv6(2, 0, 1400),
            Some(IcmpError::PacketTooBig {
                mtu: 1400,
                ipv6: true
            })
        );
        assert_eq!(
            IcmpError::from_icmpv6(3, 1, 0),
            Some(IcmpError::Unreachable(TimeExceeded))
        );
        assert_eq!(
            IcmpError::from_icmpv6(4, 1, 0),
            Some(IcmpError::Unreachable(ParameterProblem))
        );
        for informational in [128, 129, 135] {
            assert_eq!(IcmpError::from_icmpv6(informational, 0, 0), None);
        }
    }

    #[test]
    fn packet_too_big_never_goes_below_the_family_floor() {
        let v4 = |mtu| IcmpError::PacketTooBig { mtu, ipv6: false }.max_segment();
        let v6 = |mtu| IcmpError::PacketTooBig { mtu, ipv6: true }.max_segment();
        assert_eq!(v4(1400), Some(1380));
        assert_eq!(v4(68), Some(MIN_PMTU_V4 - 20));
        assert_eq!(v6(1400), Some(1360));
        assert_eq!(v6(576), Some(MIN_PMTU_V6 - 40));
        assert_eq!(IcmpError::SourceQuench.max_segment(), None);
    }
}
