//! A minimal pcap writer, so that simulations and tests can be opened in
//! Wireshark or tcpdump.
//!
//! The classic libpcap format (not pcapng): a 24-octet global header, then
//! one record per packet. The link type is `LINKTYPE_RAW` (101): each record
//! is a bare IPv4 or IPv6 packet, no Ethernet header. Timestamps are in
//! microseconds, taken from the caller's [`Instant`] (whose epoch the caller
//! picks; a pcap reader shows it as seconds since 1970). All fields are
//! written little-endian, which readers detect from the magic number.
//!
//! Only `alloc` is needed: everything appends to a `Vec<u8>` that the caller
//! writes wherever it likes.
//!
//! ```
//! use tcp_proto::{pcap, Instant};
//! let mut file = Vec::new();
//! pcap::global_header(&mut file);
//! # let ip_packet = [0x45u8, 0, 0, 20, 0, 0, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2];
//! pcap::record(&mut file, Instant::from_millis(1), &ip_packet);
//! assert_eq!(file.len(), 24 + 16 + 20);
//! // std::fs::write("trace.pcap", &file)?;
//! ```

use alloc::vec::Vec;

use crate::ip;
use crate::time::Instant;
use crate::wire::{ChecksumMode, IpPair, Segment, WireError};

/// The pcap magic number for microsecond timestamps.
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// `LINKTYPE_RAW`: records are raw IPv4/IPv6 packets.
pub const LINKTYPE_RAW: u32 = 101;
/// Longest packet recorded whole; longer ones are truncated in the file
/// (their original length is still recorded).
pub const SNAPLEN: u32 = 65_535;
/// Length of the global header.
pub const GLOBAL_HEADER_LEN: usize = 24;
/// Length of each record's header.
pub const RECORD_HEADER_LEN: usize = 16;
/// TTL (IPv4) and hop limit (IPv6) of packets built by [`ip_packet`].
pub use crate::ip::TTL;

/// Appends the pcap global header: version 2.4, microsecond timestamps,
/// snaplen 65535, link type `LINKTYPE_RAW`.
pub fn global_header(out: &mut Vec<u8>) {
    out.extend_from_slice(&MAGIC_MICROS.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes()); // version major
    out.extend_from_slice(&4u16.to_le_bytes()); // version minor
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone: UTC
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&SNAPLEN.to_le_bytes());
    out.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
}

/// Appends one record holding `ip_packet` (a complete IPv4 or IPv6 packet),
/// stamped `ts`. Packets longer than [`SNAPLEN`] are truncated.
pub fn record(out: &mut Vec<u8>, ts: Instant, ip_packet: &[u8]) {
    let micros = ts.total_micros();
    let orig_len = u32::try_from(ip_packet.len()).unwrap_or(u32::MAX);
    let incl_len = orig_len.min(SNAPLEN);
    // Seconds wrap after 136 years of a caller-chosen epoch; that is fine
    // for a trace.
    out.extend_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
    out.extend_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
    out.extend_from_slice(&incl_len.to_le_bytes());
    out.extend_from_slice(&orig_len.to_le_bytes());
    out.extend_from_slice(&ip_packet[..incl_len as usize]);
}

/// Appends a minimal IP header for a TCP payload of `tcp_len` octets from
/// `addrs.src` to `addrs.dst`: IPv4 (20 octets, DF, TTL 64, header checksum
/// computed) or IPv6 (40 octets, hop limit 64, no extension headers).
///
/// Lengths that do not fit the header's field saturate; such a packet is
/// malformed anyway and only a trace of it is being written.
pub fn ip_header(out: &mut Vec<u8>, addrs: &IpPair, tcp_len: usize) {
    let mut h = [0u8; ip::MAX_HEADER_LEN];
    let n = ip::write_header(&mut h, addrs, tcp_len);
    out.extend_from_slice(&h[..n]);
}

/// Appends a complete IP packet: [`ip_header`] followed by the already
/// encoded TCP segment `tcp`.
pub fn ip_packet(out: &mut Vec<u8>, addrs: &IpPair, tcp: &[u8]) {
    ip_header(out, addrs, tcp.len());
    out.extend_from_slice(tcp);
}

/// Appends `seg` as a complete IP packet: [`ip_header`] followed by the
/// segment encoded with its TCP checksum over `addrs`. Returns the packet's
/// length.
pub fn segment_ip_packet(
    out: &mut Vec<u8>,
    addrs: &IpPair,
    seg: &Segment,
) -> Result<usize, WireError> {
    let tcp_len = seg.encoded_len()?;
    let start = out.len();
    ip_header(out, addrs, tcp_len);
    let at = out.len();
    out.resize(at + tcp_len, 0);
    match seg.encode(&mut out[at..], addrs, ChecksumMode::Verify) {
        Ok(_) => Ok(out.len() - start),
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// Appends one record holding `seg` from `addrs.src` to `addrs.dst`, wrapped
/// in a minimal IPv4/IPv6 header ([`segment_ip_packet`]), stamped `ts`.
/// Fails only when the segment cannot be encoded (options too long); then
/// nothing is appended.
///
/// ```
/// use tcp_proto::{pcap, Flags, Instant, IpPair, SeqNum, Segment};
/// let addrs = IpPair::V4 { src: [192, 0, 2, 2], dst: [192, 0, 2, 1] };
/// let syn = Segment { src_port: 40000, dst_port: 80, seq: SeqNum(1), flags: Flags::SYN, window: 1024, ..Segment::default() };
/// let mut file = Vec::new();
/// pcap::global_header(&mut file);
/// pcap::segment_packet(&mut file, Instant::ZERO, &addrs, &syn).unwrap();
/// assert_eq!(file.len(), 24 + 16 + 20 + 20);
/// ```
pub fn segment_packet(
    out: &mut Vec<u8>,
    ts: Instant,
    addrs: &IpPair,
    seg: &Segment,
) -> Result<(), WireError> {
    let mut pkt = Vec::new();
    segment_ip_packet(&mut pkt, addrs, seg)?;
    record(out, ts, &pkt);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;
    use alloc::vec;

    /// An independent reader of what we write: (ts_micros, incl, orig, data).
    fn parse(file: &[u8]) -> Vec<(u64, u32, u32, Vec<u8>)> {
        let u32le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        assert_eq!(u32le(&file[0..4]), MAGIC_MICROS);
        assert_eq!(&file[4..8], &[2, 0, 4, 0]);
        assert_eq!(u32le(&file[16..20]), SNAPLEN);
        assert_eq!(u32le(&file[20..24]), LINKTYPE_RAW);
        let mut recs = Vec::new();
        let mut at = GLOBAL_HEADER_LEN;
        while at < file.len() {
            let h = &file[at..at + RECORD_HEADER_LEN];
            let (s, us, incl, orig) = (
                u32le(&h[0..4]),
                u32le(&h[4..8]),
                u32le(&h[8..12]),
                u32le(&h[12..16]),
            );
            assert!(us < 1_000_000);
            let start = at + RECORD_HEADER_LEN;
            recs.push((
                u64::from(s) * 1_000_000 + u64::from(us),
                incl,
                orig,
                file[start..start + incl as usize].to_vec(),
            ));
            at = start + incl as usize;
        }
        assert_eq!(at, file.len());
        recs
    }

    #[test]
    fn records_round_trip_and_truncate_at_snaplen() {
        let mut f = Vec::new();
        global_header(&mut f);
        assert_eq!(f.len(), GLOBAL_HEADER_LEN);
        record(&mut f, Instant::from_micros(3_000_042), &[1, 2, 3]);
        let big = vec![7u8; 70_000];
        record(&mut f, Instant::from_secs(5), &big);
        let recs = parse(&f);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0], (3_000_042, 3, 3, vec![1, 2, 3]));
        assert_eq!(
            (recs[1].0, recs[1].1, recs[1].2),
            (5_000_000, SNAPLEN, 70_000)
        );
    }

    #[test]
    fn ipv4_header_checksum_verifies() {
        let addrs = IpPair::V4 {
            src: [192, 0, 2, 2],
            dst: [192, 0, 2, 1],
        };
        let mut p = Vec::new();
        ip_packet(&mut p, &addrs, &[0u8; 20]);
        assert_eq!(p.len(), 40);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]), 40);
        assert_eq!((p[8], p[9]), (64, 6));
        // A header with its checksum in place sums to zero (RFC 1071).
        assert_eq!(checksum(0, &p[..20]), 0);
        assert_eq!(&p[12..16], &[192, 0, 2, 2]);
    }

    #[test]
    fn segment_packet_encodes_a_verifiable_segment() {
        use crate::wire::{Flags, verify_checksum};
        let addrs = IpPair::V4 {
            src: [192, 0, 2, 2],
            dst: [192, 0, 2, 1],
        };
        let seg = Segment {
            src_port: 1,
            dst_port: 2,
            flags: Flags::ACK,
            payload: bytes::Bytes::from_static(b"abc"),
            ..Segment::default()
        };
        let mut f = Vec::new();
        segment_packet(&mut f, Instant::from_secs(1), &addrs, &seg).unwrap();
        let recs = parse(&f_with_header(f));
        let pkt = &recs[0].3;
        assert_eq!(pkt.len(), 20 + 20 + 3);
        assert_eq!(checksum(0, &pkt[..20]), 0);
        assert!(verify_checksum(&pkt[20..], &addrs));
        let back = Segment::decode_slice(&pkt[20..], &addrs, ChecksumMode::Verify).unwrap();
        assert_eq!(back, seg);
    }

    fn f_with_header(records: Vec<u8>) -> Vec<u8> {
        let mut f = Vec::new();
        global_header(&mut f);
        f.extend_from_slice(&records);
        f
    }

    #[test]
    fn ipv6_header_layout() {
        let mut src = [0u8; 16];
        src[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        let mut dst = src;
        src[15] = 2;
        dst[15] = 1;
        let mut p = Vec::new();
        ip_packet(&mut p, &IpPair::V6 { src, dst }, &[0u8; 32]);
        assert_eq!(p.len(), 72);
        assert_eq!(p[0] >> 4, 6);
        assert_eq!(u16::from_be_bytes([p[4], p[5]]), 32);
        assert_eq!((p[6], p[7]), (6, 64));
        assert_eq!(&p[8..24], &src);
        assert_eq!(&p[24..40], &dst);
    }
}
