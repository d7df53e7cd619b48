//! The ECN field of the IP header (RFC 3168 §5): two bits the caller reads
//! from each received packet and writes into each sent one. IP stays the
//! caller's; the connection only says which codepoint.

/// An ECN codepoint (RFC 3168 §5): the low two bits of the IPv4 TOS octet
/// or of the IPv6 Traffic Class.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Ecn {
    /// `00`: not ECN-capable transport.
    #[default]
    NotEct,
    /// `01`: ECN-capable transport, ECT(1).
    Ect1,
    /// `10`: ECN-capable transport, ECT(0): what a sender sets (RFC 3168 §6.1.2).
    Ect0,
    /// `11`: congestion experienced, set by a router instead of dropping.
    Ce,
}

impl Ecn {
    /// The codepoint in the two low bits of `tos` (IPv4 TOS or IPv6 Traffic Class).
    #[inline]
    pub const fn from_bits(tos: u8) -> Ecn {
        match tos & 0b11 {
            0b00 => Ecn::NotEct,
            0b01 => Ecn::Ect1,
            0b10 => Ecn::Ect0,
            _ => Ecn::Ce,
        }
    }

    /// The two bits to put in the low bits of the TOS / Traffic Class octet.
    #[inline]
    pub const fn bits(self) -> u8 {
        match self {
            Ecn::NotEct => 0b00,
            Ecn::Ect1 => 0b01,
            Ecn::Ect0 => 0b10,
            Ecn::Ce => 0b11,
        }
    }

    /// Whether the packet was marked Congestion Experienced.
    #[inline]
    pub const fn is_ce(self) -> bool {
        matches!(self, Ecn::Ce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codepoints_round_trip_through_the_tos_bits() {
        for e in [Ecn::NotEct, Ecn::Ect1, Ecn::Ect0, Ecn::Ce] {
            assert_eq!(Ecn::from_bits(0xb8 | e.bits()), e, "DSCP bits ignored");
        }
        assert_eq!(Ecn::from_bits(0x02), Ecn::Ect0);
        assert!(Ecn::from_bits(0xff).is_ce());
    }
}
