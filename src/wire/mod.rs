//! TCP segments on the wire: the header, typed options, the payload, and the
//! Internet checksum over the IPv4/IPv6 pseudo-header. The codec and nothing
//! else: no state, no policy.

mod checksum;
mod codec;
mod ecn;
mod options;

pub use checksum::{checksum, pseudo_header_sum};
pub use codec::verify_checksum;
pub use ecn::Ecn;
pub use options::{Options, SackBlock, SackBlocks, Timestamps};

use crate::seq::SeqNum;
use bytes::Bytes;
use core::fmt;

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;
/// Longest TCP header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;

/// The control bits of a TCP header (RFC 9293 §3.1, RFC 3168 for ECE/CWR).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// No more data from sender.
    pub const FIN: Flags = Flags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: Flags = Flags(0x02);
    /// Reset the connection.
    pub const RST: Flags = Flags(0x04);
    /// Push function.
    pub const PSH: Flags = Flags(0x08);
    /// Acknowledgment field is significant.
    pub const ACK: Flags = Flags(0x10);
    /// Urgent pointer field is significant.
    pub const URG: Flags = Flags(0x20);
    /// ECN-Echo (RFC 3168).
    pub const ECE: Flags = Flags(0x40);
    /// Congestion Window Reduced (RFC 3168).
    pub const CWR: Flags = Flags(0x80);

    /// No flags.
    pub const fn empty() -> Flags {
        Flags(0)
    }
    /// Whether every bit of `other` is set in `self`.
    #[inline]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    /// `self` with the bits of `other` added.
    #[inline]
    #[must_use]
    pub const fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
    /// `self` with the bits of `other` removed.
    #[inline]
    #[must_use]
    pub const fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }
    /// SYN is set.
    #[inline]
    pub const fn syn(self) -> bool {
        self.contains(Flags::SYN)
    }
    /// ACK is set.
    #[inline]
    pub const fn ack(self) -> bool {
        self.contains(Flags::ACK)
    }
    /// FIN is set.
    #[inline]
    pub const fn fin(self) -> bool {
        self.contains(Flags::FIN)
    }
    /// RST is set.
    #[inline]
    pub const fn rst(self) -> bool {
        self.contains(Flags::RST)
    }
    /// PSH is set.
    #[inline]
    pub const fn psh(self) -> bool {
        self.contains(Flags::PSH)
    }
    /// URG is set.
    #[inline]
    pub const fn urg(self) -> bool {
        self.contains(Flags::URG)
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.with(rhs)
    }
}

impl fmt::Debug for Flags {
    /// tcpdump style: `[S.]` for SYN+ACK, `[P.]`, `[F.]`, `[R]`, `[.]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (flag, c) in [
            (Flags::SYN, "S"),
            (Flags::FIN, "F"),
            (Flags::PSH, "P"),
            (Flags::RST, "R"),
            (Flags::URG, "U"),
            (Flags::ECE, "E"),
            (Flags::CWR, "W"),
            (Flags::ACK, "."),
        ] {
            if self.contains(flag) {
                f.write_str(c)?;
            }
        }
        f.write_str("]")
    }
}

/// The IP addresses a TCP checksum covers (RFC 9293 §3.1 pseudo-header;
/// RFC 8200 §8.1 for IPv6). The caller owns IP and supplies them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum IpPair {
    /// IPv4 source and destination.
    V4 {
        /// Source address.
        src: [u8; 4],
        /// Destination address.
        dst: [u8; 4],
    },
    /// IPv6 source and destination.
    V6 {
        /// Source address.
        src: [u8; 16],
        /// Destination address.
        dst: [u8; 16],
    },
}

impl IpPair {
    /// The same pair seen from the other end (source and destination swapped).
    #[must_use]
    pub fn reversed(self) -> IpPair {
        match self {
            IpPair::V4 { src, dst } => IpPair::V4 { src: dst, dst: src },
            IpPair::V6 { src, dst } => IpPair::V6 { src: dst, dst: src },
        }
    }
}

/// Whether decoding verifies the checksum. `Skip` is for hardware offload.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum ChecksumMode {
    /// Verify on decode, compute on encode.
    #[default]
    Verify,
    /// Neither verify nor compute (the checksum field is written as zero).
    Skip,
}

/// A decoded (or to-be-encoded) TCP segment.
///
/// The payload is a [`Bytes`]: decoding from a `Bytes` slices it, never copies.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Segment {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// SEG.SEQ.
    pub seq: SeqNum,
    /// SEG.ACK (meaningful only with the ACK flag).
    pub ack: SeqNum,
    /// Control bits.
    pub flags: Flags,
    /// SEG.WND as carried in the header (unscaled).
    pub window: u16,
    /// Urgent pointer (meaningful only with the URG flag).
    pub urgent: u16,
    /// Typed options.
    pub options: Options,
    /// The data octets.
    pub payload: Bytes,
}

impl Segment {
    /// SEG.LEN: payload octets plus one each for SYN and FIN (RFC 9293 §3.4).
    #[inline]
    pub fn seg_len(&self) -> u32 {
        // A payload can never exceed 2^32 octets on any real path; saturate anyway.
        let data = u32::try_from(self.payload.len()).unwrap_or(u32::MAX);
        data.saturating_add(u32::from(self.flags.syn()))
            .saturating_add(u32::from(self.flags.fin()))
    }
}

impl Segment {
    /// A tcpdump-style line with addresses, e.g.
    /// `IP 192.0.2.1.52276 > 192.0.2.2.80: Flags [S], seq 1, win 3, length 0`.
    pub fn display_with<'a>(&'a self, addrs: &'a IpPair) -> impl fmt::Display + 'a {
        struct WithAddrs<'a>(&'a Segment, &'a IpPair);
        impl fmt::Display for WithAddrs<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let (s, a) = (self.0, self.1);
                match *a {
                    IpPair::V4 { src, dst } => write!(
                        f,
                        "IP {}.{} > {}.{}: ",
                        core::net::Ipv4Addr::from(src),
                        s.src_port,
                        core::net::Ipv4Addr::from(dst),
                        s.dst_port
                    )?,
                    IpPair::V6 { src, dst } => write!(
                        f,
                        "IP6 {}.{} > {}.{}: ",
                        core::net::Ipv6Addr::from(src),
                        s.src_port,
                        core::net::Ipv6Addr::from(dst),
                        s.dst_port
                    )?,
                }
                s.fmt_after_ports(f)
            }
        }
        WithAddrs(self, addrs)
    }

    /// Everything tcpdump prints after `src > dst: `.
    fn fmt_after_ports(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags {}, seq {}", self.flags, self.seq)?;
        if !self.payload.is_empty() {
            write!(f, ":{}", self.seq.add(self.payload.len() as u32))?;
        }
        if self.flags.ack() {
            write!(f, ", ack {}", self.ack)?;
        }
        write!(f, ", win {}", self.window)?;
        if !self.options.is_empty() {
            write!(f, ", options [{}]", self.options)?;
        }
        write!(f, ", length {}", self.payload.len())
    }
}

impl fmt::Display for Segment {
    /// tcpdump style: `1 > 2: Flags [S.], seq 1, ack 2, win 3, length 0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} > {}: ", self.src_port, self.dst_port)?;
        self.fmt_after_ports(f)
    }
}

/// Why a byte string is not a valid TCP segment. Each malformation has its
/// own variant so that callers can count drops by cause.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum WireError {
    /// Fewer than 20 octets: no room for the fixed header.
    #[error("truncated header: {len} octets, need at least 20")]
    Truncated {
        /// Octets available.
        len: usize,
    },
    /// Data offset below 5 words.
    #[error("data offset {offset} is below the minimum of 5")]
    DataOffsetTooSmall {
        /// The data offset field, in 32-bit words.
        offset: u8,
    },
    /// Data offset points past the end of the segment.
    #[error("data offset {offset} (= {} octets) runs past the {len}-octet segment", *offset as usize * 4)]
    DataOffsetPastEnd {
        /// The data offset field, in 32-bit words.
        offset: u8,
        /// Octets available.
        len: usize,
    },
    /// An option (other than EOL/NOP) with a length byte of 0 or 1 (MUST-7).
    #[error("option kind {kind} has illegal length {len}")]
    OptionLengthTooSmall {
        /// Option kind.
        kind: u8,
        /// Its length byte.
        len: u8,
    },
    /// An option whose length byte (or the length byte itself) runs past the header.
    #[error("option kind {kind} overruns the header")]
    OptionOverrun {
        /// Option kind.
        kind: u8,
    },
    /// A known option with the wrong size (e.g. MSS not 4, SACK not 2+8n).
    #[error("option kind {kind} has length {len}, which its definition forbids")]
    BadOptionSize {
        /// Option kind.
        kind: u8,
        /// Its length byte.
        len: u8,
    },
    /// The checksum does not verify (MUST-3).
    #[error("bad checksum")]
    BadChecksum,
    /// The segment's options do not fit in 40 octets.
    #[error("options need {needed} octets, more than the 40 a header holds")]
    OptionsTooLong {
        /// Octets the options need.
        needed: usize,
    },
    /// The output buffer is too small for the encoded segment.
    #[error("output buffer of {have} octets is too small, need {need}")]
    BufferTooSmall {
        /// Octets needed.
        need: usize,
        /// Octets available.
        have: usize,
    },
}
