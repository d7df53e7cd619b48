//! IP framing for callers that move whole IP packets (a TUN device, a
//! capture file): find the TCP segment in a received IPv4 or IPv6 packet,
//! find what an ICMP or ICMPv6 error says about a segment we sent
//! ([`parse_icmp`]), and write the minimal header in front of a segment to
//! send.
//!
//! The crate itself never sees IP headers ([`Endpoint::handle_packet`] takes
//! the TCP octets and the addresses); this is the shared helper of the
//! drivers that do (examples/tun, the tokio driver, [`crate::pcap`]). Only
//! what a TCP host needs: no IPv4 options on output, no fragments, no IPv6
//! extension headers. The parser trusts nothing in the packet.
//!
//! A sending loop leaves [`MAX_HEADER_LEN`] octets free in front of the
//! segment and writes the header just before it, so nothing is copied:
//!
//! ```
//! use tcp_proto::endpoint::{Endpoint, EndpointConfig};
//! use tcp_proto::{Instant, ip};
//!
//! let mut ep = Endpoint::new(EndpointConfig::default(), [3; 16]).unwrap();
//! let now = Instant::ZERO;
//! ep.connect(now, "192.0.2.2:0".parse().unwrap(), "192.0.2.1:80".parse().unwrap())
//!     .unwrap();
//! let mut tx = vec![0u8; ip::MAX_HEADER_LEN + 1500];
//! let e = ep.poll_transmit_into(now, &mut tx[ip::MAX_HEADER_LEN..]).unwrap().unwrap();
//! let at = ip::MAX_HEADER_LEN - ip::header_len(&e.ip_pair());
//! ip::write_header(&mut tx[at..], &e.ip_pair(), e.len);
//! let packet = &tx[at..ip::MAX_HEADER_LEN + e.len]; // the SYN in an IPv4 packet
//!
//! let parsed = ip::parse(packet).unwrap();
//! assert_eq!((parsed.src, parsed.dst), (e.src, e.dst));
//! assert_eq!(parsed.tcp.len(), e.len);
//! ```
//!
//! [`Endpoint::handle_packet`]: crate::endpoint::Endpoint::handle_packet

use core::net::{IpAddr, SocketAddr};
use core::ops::Range;

use crate::icmp::IcmpError;
use crate::seq::SeqNum;
use crate::wire::{Ecn, IpPair, checksum};

/// The longest header [`write_header`] writes (IPv6: 40 octets).
pub const MAX_HEADER_LEN: usize = 40;

const IPV4_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;
/// Protocol / next-header number of TCP.
const PROTO_TCP: u8 = 6;
/// Protocol number of ICMP (RFC 792).
const PROTO_ICMP: u8 = 1;
/// Next-header number of ICMPv6 (RFC 4443).
const PROTO_ICMPV6: u8 = 58;
/// ICMP header before the quoted packet: type, code, checksum, 4 octets.
const ICMP_HEADER_LEN: usize = 8;
/// Octets of the quoted TCP header read: ports and sequence number, the 8
/// every ICMPv4 error carries at least (RFC 792).
const QUOTED_TCP_LEN: usize = 8;
/// The TTL (IPv4) and hop limit (IPv6) of the headers [`write_header`] writes.
pub const TTL: u8 = 64;

/// The IP header fields TCP chooses for a segment it sends, besides the
/// addresses: the ECN codepoint ([`Connection::transmit_ecn`]), the DSCP
/// and the TTL / hop limit (`Config::dscp`, `Config::hop_limit`; MUST-48,
/// MUST-49).
///
/// [`Connection::transmit_ecn`]: crate::Connection::transmit_ecn
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct IpFields {
    /// ECN codepoint (the low two bits of IPv4's TOS / IPv6's traffic class).
    pub ecn: Ecn,
    /// Differentiated Services codepoint, 0..=63 (the high six bits).
    pub dscp: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub hop_limit: u8,
}

impl Default for IpFields {
    /// Not-ECT, DSCP 0 (best effort), [`TTL`].
    fn default() -> IpFields {
        IpFields {
            ecn: Ecn::NotEct,
            dscp: 0,
            hop_limit: TTL,
        }
    }
}

impl IpFields {
    /// The TOS / traffic-class octet: DSCP then ECN (RFC 2474, RFC 3168).
    pub fn tos(self) -> u8 {
        ((self.dscp & 0x3f) << 2) | self.ecn.bits()
    }
}

/// The TCP segment of an IP packet, as found by [`parse`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TcpInIp {
    /// The packet's source address.
    pub src: IpAddr,
    /// The packet's destination address.
    pub dst: IpAddr,
    /// The ECN field of the packet (for
    /// [`Connection::handle_segment_ecn`](crate::Connection::handle_segment_ecn)).
    pub ecn: Ecn,
    /// Where the TCP octets (header and payload) are in the packet; any
    /// link padding after the IP length is left out.
    pub tcp: Range<usize>,
}

/// Finds the TCP segment in an IPv4 or IPv6 packet. `None` for anything
/// else: other protocols, IPv4 fragments, IPv4 headers whose checksum fails,
/// IPv6 extension headers, lengths that do not fit the packet.
pub fn parse(pkt: &[u8]) -> Option<TcpInIp> {
    match pkt.first()? >> 4 {
        4 => {
            let ihl = usize::from(pkt[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*pkt.get(2)?, *pkt.get(3)?]));
            let frag = u16::from_be_bytes([*pkt.get(6)?, *pkt.get(7)?]);
            if ihl < IPV4_HEADER_LEN
                || total < ihl
                || total > pkt.len()
                || pkt[9] != PROTO_TCP
                // More fragments, or an offset: not a whole segment (RFC 791).
                || frag & 0x3fff != 0
                || checksum(0, &pkt[..ihl]) != 0
            {
                return None;
            }
            let src: [u8; 4] = pkt[12..16].try_into().ok()?;
            let dst: [u8; 4] = pkt[16..20].try_into().ok()?;
            Some(TcpInIp {
                src: src.into(),
                dst: dst.into(),
                ecn: Ecn::from_bits(pkt[1]),
                tcp: ihl..total,
            })
        }
        6 => {
            let len = usize::from(u16::from_be_bytes([*pkt.get(4)?, *pkt.get(5)?]));
            if *pkt.get(6)? != PROTO_TCP || IPV6_HEADER_LEN + len > pkt.len() {
                return None;
            }
            let src: [u8; 16] = pkt[8..24].try_into().ok()?;
            let dst: [u8; 16] = pkt[24..40].try_into().ok()?;
            // Traffic class: the low nibble of octet 0 and the high of octet 1.
            let tclass = (pkt[0] << 4) | (pkt[1] >> 4);
            Some(TcpInIp {
                src: src.into(),
                dst: dst.into(),
                ecn: Ecn::from_bits(tclass),
                tcp: IPV6_HEADER_LEN..IPV6_HEADER_LEN + len,
            })
        }
        _ => None,
    }
}

/// What an ICMP or ICMPv6 error says about a TCP segment we sent, as found
/// by [`parse_icmp`]: the quoted segment's addresses, ports and sequence
/// number (ours first: we sent it), and the error.
///
/// Hand it to [`Endpoint::handle_icmp`] as `(now, m.local(), m.remote(),
/// m.seq, m.error)`, or to the [`Connection`](crate::Connection) of that
/// 4-tuple with [`Connection::handle_icmp`](crate::Connection::handle_icmp).
///
/// [`Endpoint::handle_icmp`]: crate::endpoint::Endpoint::handle_icmp
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct IcmpInIp {
    /// The quoted packet's source address: ours.
    pub src: IpAddr,
    /// The quoted packet's destination address: the peer's.
    pub dst: IpAddr,
    /// The quoted segment's source port: ours.
    pub src_port: u16,
    /// The quoted segment's destination port: the peer's.
    pub dst_port: u16,
    /// The quoted segment's sequence number.
    pub seq: SeqNum,
    /// What went wrong.
    pub error: IcmpError,
}

impl IcmpInIp {
    /// Our end of the quoted segment's connection.
    pub fn local(&self) -> SocketAddr {
        SocketAddr::new(self.src, self.src_port)
    }

    /// The peer's end of the quoted segment's connection.
    pub fn remote(&self) -> SocketAddr {
        SocketAddr::new(self.dst, self.dst_port)
    }
}

/// The MTU plateaus of RFC 1191 §7 (Table 7-1), for a Fragmentation Needed
/// from a router that reports no MTU.
const PLATEAUS: [u16; 11] = [
    68, 296, 508, 1006, 1492, 2002, 4352, 8166, 17914, 32000, 65535,
];

/// RFC 1191 §5: the largest plateau strictly below the length of the
/// packet that was too big; `None` below the smallest.
fn plateau_below(total_len: u16) -> Option<u16> {
    PLATEAUS.iter().rev().copied().find(|&p| p < total_len)
}

/// An ICMP (over IPv4) or ICMPv6 (over IPv6) error message about a TCP
/// segment: who sent the segment to whom, its sequence number, and what the
/// message says, classified by [`IcmpError::from_icmpv4`] and
/// [`IcmpError::from_icmpv6`].
///
/// `None` for anything TCP does not act on or cannot trust the shape of:
/// other protocols, IPv4 fragments or a failing IPv4 header checksum, IPv6
/// extension headers, a failing ICMP checksum (ICMPv6 with its
/// pseudo-header, RFC 4443 §2.3), informational messages and unknown
/// types or codes, a quote that is not TCP, not of the message's own IP
/// family, or too short to hold the first 8 octets of the TCP header
/// (RFC 792 promises them), and a Packet Too Big whose quoted packet was
/// no larger than the MTU it reports (RFC 5927 §7: it cannot be what made
/// the packet too big). A Fragmentation Needed without an MTU (from a
/// router older than RFC 1191) gets the largest plateau of RFC 1191 §5
/// below the quoted packet's length. Trusts nothing in the packet and
/// never panics.
pub fn parse_icmp(pkt: &[u8]) -> Option<IcmpInIp> {
    match pkt.first()? >> 4 {
        4 => parse_icmpv4(pkt),
        6 => parse_icmpv6(pkt),
        _ => None,
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The fields of an IP header [`parse_icmp`] reads, either family.
struct Header<A> {
    /// Header length: IHL · 4 (IPv4), 40 (IPv6).
    len: usize,
    /// The packet's length as the header says: total length (IPv4),
    /// payload length + 40 (IPv6).
    total: u32,
    /// Protocol (IPv4) or next header (IPv6).
    proto: u8,
    src: A,
    dst: A,
}

/// An IPv4 header at the start of `pkt`. Checks only that the header is
/// there: the version and an IHL of at least 5 that fits.
fn ipv4_header(pkt: &[u8]) -> Option<Header<[u8; 4]>> {
    let first = *pkt.first()?;
    let len = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || len < IPV4_HEADER_LEN || len > pkt.len() {
        return None;
    }
    Some(Header {
        len,
        total: u32::from(be16(pkt, 2)?),
        proto: *pkt.get(9)?,
        src: pkt.get(12..16)?.try_into().ok()?,
        dst: pkt.get(16..20)?.try_into().ok()?,
    })
}

/// An IPv6 header at the start of `pkt` (no extension headers followed).
fn ipv6_header(pkt: &[u8]) -> Option<Header<[u8; 16]>> {
    if pkt.first()? >> 4 != 6 {
        return None;
    }
    Some(Header {
        len: IPV6_HEADER_LEN,
        total: u32::from(be16(pkt, 4)?) + IPV6_HEADER_LEN as u32,
        proto: *pkt.get(6)?,
        src: pkt.get(8..24)?.try_into().ok()?,
        dst: pkt.get(24..40)?.try_into().ok()?,
    })
}

/// Ports and sequence number: the first 8 octets of a quoted TCP header.
fn quoted_tcp(tcp: &[u8]) -> Option<(u16, u16, SeqNum)> {
    if tcp.len() < QUOTED_TCP_LEN {
        return None;
    }
    Some((be16(tcp, 0)?, be16(tcp, 2)?, SeqNum(be32(tcp, 4)?)))
}

fn parse_icmpv4(pkt: &[u8]) -> Option<IcmpInIp> {
    let outer = ipv4_header(pkt)?;
    let (ihl, total) = (outer.len, outer.total as usize);
    let frag = be16(pkt, 6)?;
    if outer.proto != PROTO_ICMP
        || total < ihl + ICMP_HEADER_LEN
        || total > pkt.len()
        // A fragment of an ICMP message: not whole (RFC 791).
        || frag & 0x3fff != 0
        || checksum(0, pkt.get(..ihl)?) != 0
    {
        return None;
    }
    let icmp = pkt.get(ihl..total)?;
    if checksum(0, icmp) != 0 {
        return None;
    }
    let (icmp_type, code) = (*icmp.first()?, *icmp.get(1)?);
    // The quoted packet: its IPv4 header (options and all) and 8 octets of TCP.
    let quote = icmp.get(ICMP_HEADER_LEN..)?;
    let q = ipv4_header(quote)?;
    // Only a first fragment (or a whole packet) starts with the TCP header.
    if q.proto != PROTO_TCP || be16(quote, 6)? & 0x1fff != 0 {
        return None;
    }
    let (src_port, dst_port, seq) = quoted_tcp(quote.get(q.len..)?)?;
    let next_hop_mtu = be16(icmp, 6)?;
    let error = match IcmpError::from_icmpv4(icmp_type, code, next_hop_mtu) {
        Some(e) => e,
        // Fragmentation Needed from a router older than RFC 1191.
        None if (icmp_type, code) == (3, 4) => IcmpError::PacketTooBig {
            mtu: u32::from(plateau_below(q.total as u16)?),
            ipv6: false,
        },
        None => return None,
    };
    too_big_sane(error, q.total)?;
    Some(IcmpInIp {
        src: q.src.into(),
        dst: q.dst.into(),
        src_port,
        dst_port,
        seq,
        error,
    })
}

fn parse_icmpv6(pkt: &[u8]) -> Option<IcmpInIp> {
    let outer = ipv6_header(pkt)?;
    let len = outer.total as usize - IPV6_HEADER_LEN;
    if outer.proto != PROTO_ICMPV6 || len < ICMP_HEADER_LEN {
        return None;
    }
    let icmp = pkt.get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + len)?;
    // RFC 4443 §2.3: the checksum covers the pseudo-header of RFC 8200 §8.1
    // (addresses, 32-bit length, next header 58).
    let mut pseudo = [0u8; 40];
    pseudo[..16].copy_from_slice(&outer.src);
    pseudo[16..32].copy_from_slice(&outer.dst);
    pseudo[32..36].copy_from_slice(&(len as u32).to_be_bytes());
    pseudo[39] = PROTO_ICMPV6;
    if checksum(!checksum(0, &pseudo), icmp) != 0 {
        return None;
    }
    let (icmp_type, code) = (*icmp.first()?, *icmp.get(1)?);
    let quote = icmp.get(ICMP_HEADER_LEN..)?;
    let q = ipv6_header(quote)?;
    if q.proto != PROTO_TCP {
        return None;
    }
    let (src_port, dst_port, seq) = quoted_tcp(quote.get(q.len..)?)?;
    let error = IcmpError::from_icmpv6(icmp_type, code, be32(icmp, 4)?)?;
    too_big_sane(error, q.total)?;
    Some(IcmpInIp {
        src: q.src.into(),
        dst: q.dst.into(),
        src_port,
        dst_port,
        seq,
        error,
    })
}

/// RFC 5927 §7: a Packet Too Big is believable only if the packet it
/// quotes (`quoted_len` octets, as its IP header says) was larger than the
/// MTU it reports.
fn too_big_sane(error: IcmpError, quoted_len: u32) -> Option<()> {
    match error {
        IcmpError::PacketTooBig { mtu, .. } if quoted_len <= mtu => None,
        _ => Some(()),
    }
}

/// Whether `a` can be one end of a TCP connection: not multicast, not
/// the IPv4 limited broadcast, not unspecified (RFC 9293 §3.9.1.1 MUST-46,
/// §3.9.2.3 MUST-57 and MUST-63: TCP is unicast only). Subnet-directed
/// broadcast addresses depend on the interface's prefix, which only the
/// caller knows.
pub fn is_unicast(a: IpAddr) -> bool {
    let v4_broadcast = matches!(a, IpAddr::V4(v) if v.is_broadcast());
    !a.is_multicast() && !a.is_unspecified() && !v4_broadcast
}

/// The addresses of a segment from `src` to `dst` as its checksum
/// pseudo-header covers them (e.g. a [`parse`]d packet's); `None` when the
/// two are of different families.
pub fn pair(src: IpAddr, dst: IpAddr) -> Option<IpPair> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Some(IpPair::V4 {
            src: s.octets(),
            dst: d.octets(),
        }),
        (IpAddr::V6(s), IpAddr::V6(d)) => Some(IpPair::V6 {
            src: s.octets(),
            dst: d.octets(),
        }),
        _ => None,
    }
}

/// The length of the header [`write_header`] writes for `addrs`: 20
/// (IPv4) or 40 (IPv6).
pub fn header_len(addrs: &IpPair) -> usize {
    match addrs {
        IpPair::V4 { .. } => IPV4_HEADER_LEN,
        IpPair::V6 { .. } => IPV6_HEADER_LEN,
    }
}

/// Writes, at the start of `out`, the header of a packet carrying
/// `tcp_len` TCP octets from `addrs`' source to its destination: IPv4
/// (20 octets, DF, TTL 64, header checksum computed) or IPv6 (40 octets,
/// hop limit 64, no extension headers), Not-ECT, DSCP 0. Returns the
/// header's length. [`write_header_with`] sets those fields.
///
/// A length too large for the header's field saturates (such a packet is
/// malformed; a capture may still record it).
///
/// # Panics
///
/// When `out` is shorter than [`header_len`] — a caller's bug, never
/// the peer's input.
pub fn write_header(out: &mut [u8], addrs: &IpPair, tcp_len: usize) -> usize {
    write_header_with(out, addrs, tcp_len, IpFields::default())
}

/// [`write_header`] with the ECN codepoint, DSCP and TTL / hop limit of
/// `fields` (what [`Connection::transmit_ip`](crate::Connection::transmit_ip)
/// or the `Endpoint`'s transmit gives for the segment).
///
/// # Panics
///
/// When `out` is shorter than [`header_len`].
pub fn write_header_with(
    out: &mut [u8],
    addrs: &IpPair,
    tcp_len: usize,
    fields: IpFields,
) -> usize {
    let tos = fields.tos();
    let ttl = fields.hop_limit;
    match addrs {
        IpPair::V4 { src, dst } => {
            let total = u16::try_from(IPV4_HEADER_LEN + tcp_len).unwrap_or(u16::MAX);
            let h = &mut out[..IPV4_HEADER_LEN];
            h.fill(0);
            h[0] = 0x45; // version 4, IHL 5
            h[1] = tos;
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h[6] = 0x40; // DF
            h[8] = ttl;
            h[9] = PROTO_TCP;
            h[12..16].copy_from_slice(src);
            h[16..20].copy_from_slice(dst);
            let sum = checksum(0, h);
            h[10..12].copy_from_slice(&sum.to_be_bytes());
            IPV4_HEADER_LEN
        }
        IpPair::V6 { src, dst } => {
            let payload = u16::try_from(tcp_len).unwrap_or(u16::MAX);
            let h = &mut out[..IPV6_HEADER_LEN];
            // Version 6, the traffic class, flow label 0.
            h[..4].copy_from_slice(&[0x60 | (tos >> 4), tos << 4, 0, 0]);
            h[4..6].copy_from_slice(&payload.to_be_bytes());
            h[6] = PROTO_TCP;
            h[7] = ttl;
            h[8..24].copy_from_slice(src);
            h[24..40].copy_from_slice(dst);
            IPV6_HEADER_LEN
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const V4: IpPair = IpPair::V4 {
        src: [192, 0, 2, 2],
        dst: [192, 0, 2, 1],
    };
    const V6: IpPair = IpPair::V6 {
        src: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        dst: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    };

    #[test]
    fn ecn_dscp_and_hop_limit_are_written_and_the_ecn_field_read_back() {
        for (addrs, v6) in [(V4, false), (V6, true)] {
            for ecn in [Ecn::NotEct, Ecn::Ect0, Ecn::Ect1, Ecn::Ce] {
                let f = IpFields {
                    ecn,
                    dscp: 46, // EF
                    hop_limit: 7,
                };
                let mut p = vec![0u8; header_len(&addrs) + 20];
                write_header_with(&mut p, &addrs, 20, f);
                let (tos, ttl) = if v6 {
                    ((p[0] << 4) | (p[1] >> 4), p[7])
                } else {
                    (p[1], p[8])
                };
                assert_eq!(tos, (46 << 2) | ecn.bits(), "{addrs:?} {ecn:?}");
                assert_eq!(ttl, 7);
                if v6 {
                    assert_eq!(p[0] >> 4, 6, "version kept");
                    assert_eq!(p[1] & 0x0f, 0, "flow label 0");
                } else {
                    assert_eq!(checksum(0, &p[..20]), 0, "header checksum covers the TOS");
                }
                // A TCP header of zeros: parse finds it and reads the field.
                let t = parse(&p).expect("parses");
                assert_eq!(t.ecn, ecn);
            }
        }
        // The default: Not-ECT, DSCP 0, TTL 64, as write_header.
        let mut a = vec![0u8; 40];
        let mut b = vec![0u8; 40];
        write_header(&mut a, &V4, 20);
        write_header_with(&mut b, &V4, 20, IpFields::default());
        assert_eq!(a, b);
        assert_eq!((a[1], a[8]), (0, TTL));
    }

    fn packet(addrs: &IpPair, tcp_len: usize) -> alloc::vec::Vec<u8> {
        let mut p = vec![0xa5; header_len(addrs) + tcp_len];
        let n = write_header(&mut p, addrs, tcp_len);
        assert_eq!(n, header_len(addrs));
        p
    }

    #[test]
    fn a_written_header_parses_back_to_its_addresses_and_segment() {
        for (addrs, hl) in [(V4, 20), (V6, 40)] {
            let p = packet(&addrs, 33);
            let t = parse(&p).unwrap();
            assert_eq!(t.tcp, hl..hl + 33);
            let (src, dst) = match addrs {
                IpPair::V4 { src, dst } => (IpAddr::from(src), IpAddr::from(dst)),
                IpPair::V6 { src, dst } => (IpAddr::from(src), IpAddr::from(dst)),
            };
            assert_eq!((t.src, t.dst), (src, dst));
            assert_eq!(pair(t.src, t.dst), Some(addrs));
        }
    }

    #[test]
    fn addresses_of_two_families_make_no_pair() {
        let v4 = IpAddr::from([192, 0, 2, 2]);
        let v6 = IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
        assert_eq!(pair(v4, v6), None);
        assert_eq!(pair(v6, v4), None);
    }

    #[test]
    fn the_ipv4_header_checksum_verifies_and_a_corrupt_one_is_refused() {
        let mut p = packet(&V4, 0);
        assert_eq!(checksum(0, &p[..20]), 0);
        assert_eq!(&p[..10], &[0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 6]);
        p[8] = 63; // TTL changed, checksum not
        assert_eq!(parse(&p), None);
    }

    #[test]
    fn link_padding_after_the_ip_length_is_not_tcp() {
        let mut p = packet(&V4, 20);
        p.extend_from_slice(&[0; 6]);
        assert_eq!(parse(&p).unwrap().tcp, 20..40);
    }

    #[test]
    fn fragments_other_protocols_and_short_packets_are_not_segments() {
        let frag = |bits: u16| {
            let mut p = packet(&V4, 8);
            p[6..8].copy_from_slice(&bits.to_be_bytes());
            p[10..12].fill(0);
            let sum = checksum(0, &p[..20]);
            p[10..12].copy_from_slice(&sum.to_be_bytes());
            parse(&p)
        };
        assert!(frag(0x4000).is_some()); // DF alone is fine
        assert_eq!(frag(0x2000), None); // more fragments
        assert_eq!(frag(0x0001), None); // an offset
        let mut udp = packet(&V6, 8);
        udp[6] = 17;
        assert_eq!(parse(&udp), None);
        for p in [packet(&V4, 8), packet(&V6, 8)] {
            for cut in 0..p.len() {
                assert_eq!(parse(&p[..cut]), None, "cut at {cut}");
            }
        }
        assert_eq!(parse(&[0x55; 60]), None); // version 5
        let mut ihl = packet(&V4, 8);
        ihl[0] = 0x44; // IHL below 5
        assert_eq!(parse(&ihl), None);
    }

    #[test]
    fn lengths_too_large_for_the_field_saturate() {
        let mut h = [0u8; 40];
        write_header(&mut h, &V4, 70_000);
        assert_eq!(&h[2..4], &[0xff, 0xff]);
        write_header(&mut h, &V6, 70_000);
        assert_eq!(&h[4..6], &[0xff, 0xff]);
    }

    // ---- parse_icmp -----------------------------------------------------

    use crate::icmp::IcmpCause;
    use alloc::vec::Vec;

    const OURS4: [u8; 4] = [192, 0, 2, 2];
    const PEER4: [u8; 4] = [198, 51, 100, 2];
    const ROUTER4: [u8; 4] = [192, 0, 2, 1];
    const OURS6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    const PEER6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    const ROUTER6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const SEQ: u32 = 0xdead_beef;

    /// An IPv4 packet: `options` after the fixed header, header checksum set,
    /// DF, total length `total` (or the real length).
    fn v4(
        proto: u8,
        src: [u8; 4],
        dst: [u8; 4],
        options: &[u8],
        payload: &[u8],
        total: Option<u16>,
    ) -> Vec<u8> {
        let ihl = 20 + options.len();
        let mut p = vec![0u8; ihl];
        p[0] = 0x40 | (ihl / 4) as u8;
        let len = total.unwrap_or((ihl + payload.len()) as u16);
        p[2..4].copy_from_slice(&len.to_be_bytes());
        p[6] = 0x40;
        p[8] = 64;
        p[9] = proto;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p[20..].copy_from_slice(options);
        let sum = checksum(0, &p);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn v6(next: u8, src: [u8; 16], dst: [u8; 16], payload: &[u8], plen: Option<u16>) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        let len = plen.unwrap_or(payload.len() as u16);
        p[4..6].copy_from_slice(&len.to_be_bytes());
        p[6] = next;
        p[7] = 64;
        p[8..24].copy_from_slice(&src);
        p[24..40].copy_from_slice(&dst);
        p.extend_from_slice(payload);
        p
    }

    /// The first 20 octets of a TCP header from port 40000 to port 80.
    fn tcp_header(seq: u32) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[12] = 0x50;
        t[13] = 0x10;
        t
    }

    /// An ICMP message: type, code, checksum (unset), `rest`, `quote`.
    fn icmp(t: u8, code: u8, rest: [u8; 4], quote: &[u8]) -> Vec<u8> {
        let mut m = vec![t, code, 0, 0];
        m.extend_from_slice(&rest);
        m.extend_from_slice(quote);
        m
    }

    /// ICMPv4 in IPv4 from the router to us, checksum set.
    fn icmpv4(t: u8, code: u8, rest: [u8; 4], quote: &[u8]) -> Vec<u8> {
        let mut m = icmp(t, code, rest, quote);
        let sum = checksum(0, &m);
        m[2..4].copy_from_slice(&sum.to_be_bytes());
        v4(PROTO_ICMP, ROUTER4, OURS4, &[], &m, None)
    }

    /// ICMPv6 in IPv6 from the router to us, checksum set with the pseudo-header.
    fn icmpv6(t: u8, code: u8, rest: [u8; 4], quote: &[u8]) -> Vec<u8> {
        let mut m = icmp(t, code, rest, quote);
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&ROUTER6);
        pseudo.extend_from_slice(&OURS6);
        pseudo.extend_from_slice(&(m.len() as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, PROTO_ICMPV6]);
        pseudo.extend_from_slice(&m);
        let sum = checksum(0, &pseudo);
        m[2..4].copy_from_slice(&sum.to_be_bytes());
        v6(PROTO_ICMPV6, ROUTER6, OURS6, &m, None)
    }

    /// The packet we sent, as a router quotes it: IPv4 header of a
    /// `total`-octet packet, then the first `tcp` octets of its TCP header.
    fn quote4(total: u16, tcp: usize) -> Vec<u8> {
        let t = tcp_header(SEQ);
        v4(PROTO_TCP, OURS4, PEER4, &[], &t[..tcp], Some(total))
    }

    fn quote6(total: u16, tcp: usize) -> Vec<u8> {
        let t = tcp_header(SEQ);
        v6(PROTO_TCP, OURS6, PEER6, &t[..tcp], Some(total - 40))
    }

    fn mtu_rest(mtu: u16) -> [u8; 4] {
        let m = mtu.to_be_bytes();
        [0, 0, m[0], m[1]]
    }

    fn unreachable(cause: IcmpCause) -> Option<IcmpError> {
        Some(IcmpError::Unreachable(cause))
    }

    #[test]
    fn icmpv4_errors_name_our_segment_and_what_went_wrong() {
        use IcmpCause::*;
        let q = quote4(1500, 8);
        for ((t, code), want) in [
            ((3, 0), unreachable(NetUnreachable)),
            ((3, 1), unreachable(HostUnreachable)),
            ((3, 2), unreachable(ProtocolUnreachable)),
            ((3, 3), unreachable(PortUnreachable)),
            ((3, 13), unreachable(Prohibited)),
            ((4, 0), Some(IcmpError::SourceQuench)),
            ((11, 0), unreachable(TimeExceeded)),
            ((12, 0), unreachable(ParameterProblem)),
        ] {
            let m =
                parse_icmp(&icmpv4(t, code, [0; 4], &q)).unwrap_or_else(|| panic!("{t}/{code}"));
            assert_eq!(Some(m.error), want, "{t}/{code}");
            assert_eq!((m.src, m.dst), (IpAddr::from(OURS4), IpAddr::from(PEER4)));
            assert_eq!((m.src_port, m.dst_port, m.seq), (40000, 80, SeqNum(SEQ)));
            assert_eq!(m.local(), SocketAddr::new(OURS4.into(), 40000));
            assert_eq!(m.remote(), SocketAddr::new(PEER4.into(), 80));
        }
        let m = parse_icmp(&icmpv4(3, 4, mtu_rest(1280), &q)).unwrap();
        assert_eq!(
            m.error,
            IcmpError::PacketTooBig {
                mtu: 1280,
                ipv6: false
            }
        );
        // Echo requests and replies, redirects, unknown codes: not for TCP.
        for (t, code) in [(0, 0), (8, 0), (5, 1), (3, 16), (11, 2)] {
            assert_eq!(parse_icmp(&icmpv4(t, code, [0; 4], &q)), None, "{t}/{code}");
        }
    }

    #[test]
    fn icmpv6_errors_name_our_segment_and_what_went_wrong() {
        use IcmpCause::*;
        let q = quote6(1500, 20);
        for ((t, code), want) in [
            ((1, 0), unreachable(NetUnreachable)),
            ((1, 3), unreachable(HostUnreachable)),
            ((1, 1), unreachable(Prohibited)),
            ((1, 4), unreachable(PortUnreachable)),
            ((3, 0), unreachable(TimeExceeded)),
            ((4, 1), unreachable(ParameterProblem)),
        ] {
            let m =
                parse_icmp(&icmpv6(t, code, [0; 4], &q)).unwrap_or_else(|| panic!("{t}/{code}"));
            assert_eq!(Some(m.error), want, "{t}/{code}");
            assert_eq!((m.src, m.dst), (IpAddr::from(OURS6), IpAddr::from(PEER6)));
            assert_eq!((m.src_port, m.dst_port, m.seq), (40000, 80, SeqNum(SEQ)));
        }
        let m = parse_icmp(&icmpv6(2, 0, 1280u32.to_be_bytes(), &q)).unwrap();
        assert_eq!(
            m.error,
            IcmpError::PacketTooBig {
                mtu: 1280,
                ipv6: true
            }
        );
        // Echo request, neighbour solicitation, unknown codes.
        for (t, code) in [(128, 0), (135, 0), (1, 8)] {
            assert_eq!(parse_icmp(&icmpv6(t, code, [0; 4], &q)), None, "{t}/{code}");
        }
    }

    #[test]
    fn a_quote_with_ipv4_options_is_read_past_them() {
        let t = tcp_header(SEQ);
        // Record Route with room for one address (7) and an end-of-list: 8 octets.
        let opts = [7, 7, 4, 0, 0, 0, 0, 0];
        let q = v4(PROTO_TCP, OURS4, PEER4, &opts, &t[..8], Some(1500));
        let m = parse_icmp(&icmpv4(3, 1, [0; 4], &q)).unwrap();
        assert_eq!((m.src_port, m.dst_port, m.seq), (40000, 80, SeqNum(SEQ)));
    }

    #[test]
    fn a_bad_icmp_checksum_is_refused() {
        let mut p = icmpv4(3, 1, [0; 4], &quote4(1500, 8));
        assert!(parse_icmp(&p).is_some());
        let last = p.len() - 1;
        p[last] ^= 1;
        assert_eq!(parse_icmp(&p), None);
        let mut p = icmpv6(1, 0, [0; 4], &quote6(1500, 8));
        assert!(parse_icmp(&p).is_some());
        p[last] ^= 0x80;
        assert_eq!(parse_icmp(&p), None);
        // ICMPv6's checksum covers the addresses (RFC 4443 §2.3): the same
        // message to another address fails.
        let mut p = icmpv6(1, 0, [0; 4], &quote6(1500, 8));
        p[39] ^= 1;
        assert_eq!(parse_icmp(&p), None);
        // And the outer IPv4 header's own checksum counts.
        let mut p = icmpv4(3, 1, [0; 4], &quote4(1500, 8));
        p[8] = 1; // TTL changed, header checksum not
        assert_eq!(parse_icmp(&p), None);
    }

    #[test]
    fn a_quote_too_short_for_ports_and_sequence_number_is_refused() {
        for tcp in 0..8 {
            assert_eq!(
                parse_icmp(&icmpv4(3, 1, [0; 4], &quote4(1500, tcp))),
                None,
                "{tcp}"
            );
            assert_eq!(
                parse_icmp(&icmpv6(1, 0, [0; 4], &quote6(1500, tcp))),
                None,
                "{tcp}"
            );
        }
        // No quote at all, or half an IP header.
        assert_eq!(parse_icmp(&icmpv4(3, 1, [0; 4], &[])), None);
        assert_eq!(
            parse_icmp(&icmpv4(3, 1, [0; 4], &quote4(1500, 8)[..12])),
            None
        );
        assert_eq!(
            parse_icmp(&icmpv6(1, 0, [0; 4], &quote6(1500, 8)[..30])),
            None
        );
    }

    #[test]
    fn a_truncated_packet_is_refused_at_every_length() {
        for p in [
            icmpv4(3, 4, mtu_rest(1280), &quote4(1500, 20)),
            icmpv6(2, 0, 1280u32.to_be_bytes(), &quote6(1500, 20)),
        ] {
            assert!(parse_icmp(&p).is_some());
            for cut in 0..p.len() {
                assert_eq!(parse_icmp(&p[..cut]), None, "cut at {cut}");
            }
        }
    }

    #[test]
    fn a_quote_that_is_not_tcp_or_of_the_other_family_is_refused() {
        let udp4 = v4(17, OURS4, PEER4, &[], &tcp_header(SEQ), Some(1500));
        assert_eq!(parse_icmp(&icmpv4(3, 3, [0; 4], &udp4)), None);
        let udp6 = v6(17, OURS6, PEER6, &tcp_header(SEQ), Some(1460));
        assert_eq!(parse_icmp(&icmpv6(1, 4, [0; 4], &udp6)), None);
        // An ICMPv4 message quoting an IPv6 packet, and the other way round.
        assert_eq!(parse_icmp(&icmpv4(3, 3, [0; 4], &quote6(1500, 8))), None);
        assert_eq!(parse_icmp(&icmpv6(1, 4, [0; 4], &quote4(1500, 8))), None);
        // Not ICMP at all: TCP, or ICMPv4's number in an IPv6 packet.
        assert_eq!(parse_icmp(&packet(&V4, 40)), None);
        assert_eq!(
            parse_icmp(&v6(
                PROTO_ICMP,
                ROUTER6,
                OURS6,
                &[3, 1, 0, 0, 0, 0, 0, 0],
                None
            )),
            None
        );
        // A quoted later fragment does not start with a TCP header.
        let mut frag = quote4(1500, 8);
        frag[6..8].copy_from_slice(&0x0010u16.to_be_bytes());
        assert_eq!(parse_icmp(&icmpv4(3, 1, [0; 4], &frag)), None);
    }

    #[test]
    fn fragmentation_needed_without_an_mtu_takes_the_plateau_below_the_packet() {
        let too_big = |total| parse_icmp(&icmpv4(3, 4, [0; 4], &quote4(total, 8))).map(|m| m.error);
        let v4 = |mtu| Some(IcmpError::PacketTooBig { mtu, ipv6: false });
        assert_eq!(too_big(1500), v4(1492));
        assert_eq!(too_big(1492), v4(1006), "strictly below");
        assert_eq!(too_big(1493), v4(1492));
        assert_eq!(too_big(9000), v4(8166));
        assert_eq!(too_big(65535), v4(32000));
        assert_eq!(too_big(69), v4(68));
        assert_eq!(too_big(68), None, "nothing below the smallest plateau");
        assert_eq!(plateau_below(0), None);
    }

    #[test]
    fn a_packet_too_big_about_a_packet_that_fit_is_dropped() {
        // RFC 5927 §7: the quoted packet must be larger than the MTU.
        let v4 = |total, mtu| parse_icmp(&icmpv4(3, 4, mtu_rest(mtu), &quote4(total, 8)));
        assert!(v4(1500, 1280).is_some());
        assert!(v4(1281, 1280).is_some());
        assert_eq!(v4(1280, 1280), None);
        assert_eq!(v4(576, 1280), None);
        let v6 = |total, mtu: u32| parse_icmp(&icmpv6(2, 0, mtu.to_be_bytes(), &quote6(total, 8)));
        assert!(v6(1500, 1280).is_some());
        assert_eq!(v6(1280, 1280), None);
        assert_eq!(v6(1400, 1500), None);
        // Other errors do not depend on the quoted length.
        assert!(parse_icmp(&icmpv4(3, 1, [0; 4], &quote4(40, 8))).is_some());
    }

    #[test]
    fn link_padding_after_the_icmp_message_is_left_out_of_its_checksum() {
        let mut p = icmpv4(3, 1, [0; 4], &quote4(1500, 8));
        p.extend_from_slice(&[0xff; 7]);
        assert!(parse_icmp(&p).is_some());
        let mut p = icmpv6(1, 0, [0; 4], &quote6(1500, 8));
        p.extend_from_slice(&[0xff; 7]);
        assert!(parse_icmp(&p).is_some());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_octets_never_panic(p in proptest::collection::vec(any::<u8>(), 0..200)) {
                let _ = parse_icmp(&p);
                let _ = parse(&p);
            }

            /// Valid envelopes (checksums right) around arbitrary types,
            /// codes and quotes, cut anywhere: deeper than random octets go.
            #[test]
            fn well_formed_envelopes_around_arbitrary_quotes_never_panic(
                v6: bool,
                t in prop_oneof![0u8..5, 11u8..13, any::<u8>()],
                code in 0u8..20,
                rest: [u8; 4],
                quote in proptest::collection::vec(any::<u8>(), 0..100),
                version_nibble in prop_oneof![Just(4u8), Just(6u8), any::<u8>()],
                ihl in 0u8..16,
                cut: proptest::sample::Index,
            ) {
                let mut quote = quote;
                if let Some(b) = quote.first_mut() {
                    *b = (version_nibble << 4) | ihl;
                }
                let p = if v6 { icmpv6(t, code, rest, &quote) } else { icmpv4(t, code, rest, &quote) };
                let whole = parse_icmp(&p);
                if let Some(m) = whole {
                    prop_assert_eq!(m.src.is_ipv6(), v6);
                }
                let _ = parse_icmp(&p[..cut.index(p.len() + 1)]);
            }
        }
    }
}
