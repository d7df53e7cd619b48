//! IP framing for test harnesses: tcp-proto `Segment` <-> raw IPv4/IPv6
//! packets, with checksums.
//!
//! Segments are encoded and decoded with tcp-proto's own codec, and every
//! packet is cross-checked against etherparse (an independent
//! implementation): a disagreement panics, so the interop tests also test
//! `wire` against real traffic. The etherparse path
//! ([`encode_etherparse`], [`tcp_to_segment`]) stays available on its own.

use bytes::Bytes;
use etherparse::{IpNumber, IpSlice, PacketBuilder, TcpHeader, TcpOptionElement, TcpSlice};
use std::net::IpAddr;
use tcp_proto::wire::{SackBlock, Timestamps};
use tcp_proto::{ChecksumMode, Ecn, Flags, IpPair, Options, Segment, SeqNum};

/// The `IpPair` from `src` to `dst` (both of one family).
pub fn pair(src: IpAddr, dst: IpAddr) -> IpPair {
    tcp_proto::ip::pair(src, dst).unwrap_or_else(|| panic!("mixed address families {src} -> {dst}"))
}

fn options_to_elements(o: &Options) -> Vec<TcpOptionElement> {
    use TcpOptionElement as E;
    let mut v = Vec::new();
    if let Some(m) = o.mss {
        v.push(E::MaximumSegmentSize(m));
    }
    if o.sack_permitted {
        v.push(E::SelectiveAcknowledgementPermitted);
    }
    if let Some(ts) = o.timestamps {
        v.push(E::Timestamp(ts.val, ts.ecr));
    }
    if let Some(ws) = o.window_scale {
        v.push(E::Noop);
        v.push(E::WindowScale(ws));
    }
    let blocks = o.sack_blocks.as_slice();
    if let Some((first, rest)) = blocks.split_first() {
        let mut more = [None; 3];
        for (slot, b) in more.iter_mut().zip(rest) {
            *slot = Some((b.left.0, b.right.0));
        }
        v.push(E::Noop);
        v.push(E::Noop);
        v.push(E::SelectiveAcknowledgement(
            (first.left.0, first.right.0),
            more,
        ));
    }
    v
}

/// The etherparse TCP header for `seg` (checksum left zero; the builder fills it).
pub fn tcp_header(seg: &Segment) -> TcpHeader {
    let f = seg.flags;
    let mut h = TcpHeader::new(seg.src_port, seg.dst_port, seg.seq.0, seg.window);
    h.acknowledgment_number = seg.ack.0;
    h.fin = f.fin();
    h.syn = f.syn();
    h.rst = f.rst();
    h.psh = f.psh();
    h.ack = f.ack();
    h.urg = f.urg();
    h.ece = f.contains(Flags::ECE);
    h.cwr = f.contains(Flags::CWR);
    h.urgent_pointer = seg.urgent;
    h.set_options(&options_to_elements(&seg.options))
        .expect("options fit in 40 octets");
    h
}

/// `seg` as a complete IP packet from `pair.src` to `pair.dst`: IPv4 (TTL 64)
/// or IPv6 (hop limit 64), with IP and TCP checksums. Uses the library
/// (`pcap::segment_ip_packet`, i.e. `Segment::encode`) and checks the result
/// with etherparse.
pub fn encode(pair: &IpPair, seg: &Segment) -> Vec<u8> {
    let mut out = Vec::new();
    tcp_proto::pcap::segment_ip_packet(&mut out, pair, seg)
        .unwrap_or_else(|e| panic!("encode {seg}: {e}"));
    let (p, tcp) =
        parse(&out).unwrap_or_else(|| panic!("etherparse rejects our IP packet for {seg}"));
    assert_eq!(&p, pair);
    let other = tcp_to_segment(pair, &tcp)
        .unwrap_or_else(|| panic!("etherparse rejects our TCP (checksum?) for {seg}"));
    assert_eq!(&other, seg, "etherparse reads our encoding differently");
    out
}

/// Like [`encode`], built entirely by etherparse (no tcp-proto codec).
pub fn encode_etherparse(pair: &IpPair, seg: &Segment) -> Vec<u8> {
    let builder = match *pair {
        IpPair::V4 { src, dst } => PacketBuilder::ipv4(src, dst, 64),
        IpPair::V6 { src, dst } => PacketBuilder::ipv6(src, dst, 64),
    };
    let b = builder.tcp_header(tcp_header(seg));
    let mut out = Vec::with_capacity(b.size(seg.payload.len()));
    b.write_to_vec(&mut out, &seg.payload)
        .expect("segment fits in one IP packet");
    out
}

/// Splits an IP packet into its address pair and TCP octets. `None` for
/// anything that is not an unfragmented, well-formed TCP packet (ICMP, MLD,
/// and so on: callers ignore those).
pub fn parse(packet: &[u8]) -> Option<(IpPair, Bytes)> {
    let ip = IpSlice::from_slice(packet).ok()?;
    let payload = ip.payload();
    if payload.ip_number != IpNumber::TCP || payload.fragmented {
        return None;
    }
    let pair = pair(ip.source_addr(), ip.destination_addr());
    Some((pair, Bytes::copy_from_slice(payload.payload)))
}

/// Whether the TCP checksum of `tcp` (for `pair`) verifies.
pub fn checksum_ok(pair: &IpPair, tcp: &[u8]) -> bool {
    let Ok(s) = TcpSlice::from_slice(tcp) else {
        return false;
    };
    let h = s.to_header();
    let want = match *pair {
        IpPair::V4 { src, dst } => h.calc_checksum_ipv4_raw(src, dst, s.payload()),
        IpPair::V6 { src, dst } => h.calc_checksum_ipv6_raw(src, dst, s.payload()),
    };
    // 0x0000 and 0xFFFF are the same number in ones' complement (RFC 1071);
    // Linux sends 0xFFFF where etherparse computes 0x0000 (seen in the
    // kernel matrix), and a receiver that sums the segment accepts both.
    let same = |a: u16, b: u16| a == b || (a | b == 0xFFFF && (a == 0 || b == 0));
    want.is_ok_and(|w| same(w, h.checksum))
}

/// Decodes TCP octets into a `Segment` with etherparse (checksum verified).
pub fn tcp_to_segment(pair: &IpPair, tcp: &Bytes) -> Option<Segment> {
    if !checksum_ok(pair, tcp) {
        return None;
    }
    let s = TcpSlice::from_slice(tcp).ok()?;
    let h = s.to_header();
    let mut flags = Flags::empty();
    for (on, f) in [
        (h.fin, Flags::FIN),
        (h.syn, Flags::SYN),
        (h.rst, Flags::RST),
        (h.psh, Flags::PSH),
        (h.ack, Flags::ACK),
        (h.urg, Flags::URG),
        (h.ece, Flags::ECE),
        (h.cwr, Flags::CWR),
    ] {
        if on {
            flags = flags.with(f);
        }
    }
    let mut options = Options::default();
    for o in h.options_iterator() {
        match o.ok()? {
            TcpOptionElement::Noop => {}
            TcpOptionElement::MaximumSegmentSize(m) => options.mss = Some(m),
            TcpOptionElement::WindowScale(w) => options.window_scale = Some(w),
            TcpOptionElement::SelectiveAcknowledgementPermitted => options.sack_permitted = true,
            TcpOptionElement::Timestamp(val, ecr) => {
                options.timestamps = Some(Timestamps { val, ecr })
            }
            TcpOptionElement::SelectiveAcknowledgement(first, more) => {
                for (l, r) in std::iter::once(first).chain(more.into_iter().flatten()) {
                    options.sack_blocks.push(SackBlock {
                        left: SeqNum(l),
                        right: SeqNum(r),
                    });
                }
            }
        }
    }
    let hl = h.header_len();
    Some(Segment {
        src_port: h.source_port,
        dst_port: h.destination_port,
        seq: SeqNum(h.sequence_number),
        ack: SeqNum(h.acknowledgment_number),
        flags,
        window: h.window_size,
        urgent: h.urgent_pointer,
        options,
        payload: tcp.slice(hl..),
    })
}

/// Parses an IP packet into its pair and decoded segment (`Segment::decode`,
/// checksum verified); `None` for non-TCP packets and for TCP that does not
/// decode. Panics when tcp-proto and etherparse disagree about a segment.
pub fn decode(packet: &[u8]) -> Option<(IpPair, Segment)> {
    let (pair, tcp) = parse(packet)?;
    let ours = Segment::decode(&tcp, &pair, ChecksumMode::Verify).ok();
    let theirs = tcp_to_segment(&pair, &tcp);
    assert_eq!(
        ours, theirs,
        "tcp-proto and etherparse decode {tcp:02x?} differently"
    );
    Some((pair, ours?))
}

/// The ECN codepoint of an IP packet (RFC 3168 §5: the low two bits of the
/// IPv4 TOS octet or of the IPv6 Traffic Class). `NotEct` for anything else.
pub fn ecn_of(packet: &[u8]) -> Ecn {
    match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 20 => Ecn::from_bits(packet[1]),
        Some(6) if packet.len() >= 40 => Ecn::from_bits(packet[1] >> 4),
        _ => Ecn::NotEct,
    }
}

/// Sets the ECN codepoint of an IP packet in place; for IPv4 the header
/// checksum is recomputed.
pub fn set_ecn(packet: &mut [u8], ecn: Ecn) {
    match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 20 => {
            packet[1] = (packet[1] & !0b11) | ecn.bits();
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            packet[10] = 0;
            packet[11] = 0;
            let mut sum: u32 = packet[..ihl]
                .chunks(2)
                .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
                .sum();
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            packet[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        }
        Some(6) if packet.len() >= 40 => {
            packet[1] = (packet[1] & !0x30) | (ecn.bits() << 4);
        }
        _ => {}
    }
}

#[cfg(test)]
mod ecn_tests {
    use super::*;

    #[test]
    fn ecn_bits_set_in_v4_and_v6_packets_keep_them_valid() {
        let seg = Segment {
            src_port: 1,
            dst_port: 2,
            flags: Flags::ACK,
            payload: Bytes::from_static(b"x"),
            ..Segment::default()
        };
        for p in [
            pair("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()),
            pair(
                "2001:db8::1".parse().unwrap(),
                "2001:db8::2".parse().unwrap(),
            ),
        ] {
            let mut pkt = encode(&p, &seg);
            assert_eq!(ecn_of(&pkt), Ecn::NotEct);
            set_ecn(&mut pkt, Ecn::Ce);
            assert_eq!(ecn_of(&pkt), Ecn::Ce);
            // etherparse still accepts it (IPv4 header checksum included).
            let ip = IpSlice::from_slice(&pkt).expect("valid IP");
            if let IpSlice::Ipv4(v4) = ip {
                let h = v4.header().to_header();
                assert_eq!(h.header_checksum, h.calc_header_checksum());
            }
            assert_eq!(decode(&pkt).map(|(_, s)| s), Some(seg.clone()));
        }
    }
}
