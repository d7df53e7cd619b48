//! IP framing for callers that move whole IP packets (a TUN device, a
//! capture file): find the TCP segment in a received IPv4 or IPv6 packet,
//! and write the minimal header in front of a segment to send.
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

use core::net::IpAddr;
use core::ops::Range;

use crate::wire::{IpPair, checksum};

/// The longest header [`write_header`] writes (IPv6: 40 octets).
pub const MAX_HEADER_LEN: usize = 40;

const IPV4_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;
/// Protocol / next-header number of TCP.
const PROTO_TCP: u8 = 6;
/// The TTL (IPv4) and hop limit (IPv6) of the headers [`write_header`] writes.
pub const TTL: u8 = 64;

/// The TCP segment of an IP packet, as found by [`parse`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TcpInIp {
    /// The packet's source address.
    pub src: IpAddr,
    /// The packet's destination address.
    pub dst: IpAddr,
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
            Some(TcpInIp {
                src: src.into(),
                dst: dst.into(),
                tcp: IPV6_HEADER_LEN..IPV6_HEADER_LEN + len,
            })
        }
        _ => None,
    }
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
/// hop limit 64, no extension headers). Returns the header's length.
///
/// A length too large for the header's field saturates (such a packet is
/// malformed; a capture may still record it).
///
/// # Panics
///
/// When `out` is shorter than [`header_len`] — a caller's bug, never
/// the peer's input.
pub fn write_header(out: &mut [u8], addrs: &IpPair, tcp_len: usize) -> usize {
    match addrs {
        IpPair::V4 { src, dst } => {
            let total = u16::try_from(IPV4_HEADER_LEN + tcp_len).unwrap_or(u16::MAX);
            let h = &mut out[..IPV4_HEADER_LEN];
            h.fill(0);
            h[0] = 0x45; // version 4, IHL 5
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h[6] = 0x40; // DF
            h[8] = TTL;
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
            // Version 6, traffic class 0, flow label 0.
            h[..4].copy_from_slice(&[0x60, 0, 0, 0]);
            h[4..6].copy_from_slice(&payload.to_be_bytes());
            h[6] = PROTO_TCP;
            h[7] = TTL;
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
}
