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

/// `LINKTYPE_ETHERNET`: records are Ethernet II frames.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// `LINKTYPE_LINUX_SLL`: Linux "cooked" captures (`tcpdump -i any`).
pub const LINKTYPE_LINUX_SLL: u32 = 113;
/// `LINKTYPE_IPV4`: records are raw IPv4 packets.
pub const LINKTYPE_IPV4: u32 = 228;
/// `LINKTYPE_IPV6`: records are raw IPv6 packets.
pub const LINKTYPE_IPV6: u32 = 229;

/// Why a capture could not be read.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ReadError {
    /// The file does not start with a classic pcap magic number (pcapng is
    /// not read).
    #[error("not a classic pcap file (magic {0:#010x})")]
    BadMagic(u32),
    /// The file ends inside a header or a record.
    #[error("the capture is truncated at octet {0}")]
    Truncated(usize),
    /// The link type is not one of raw IP, Ethernet or Linux SLL.
    #[error("link type {0} is not read (raw IP, Ethernet and Linux SLL are)")]
    LinkType(u32),
}

/// One record of a capture: when, and the IP packet it holds (the link
/// header removed; `None` when the frame is not IPv4 or IPv6); find its
/// TCP segment with [`crate::ip::parse`].
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// The record's timestamp.
    pub ts: Instant,
    /// The IPv4 or IPv6 packet.
    pub ip: Option<&'a [u8]>,
}

/// Reads a classic pcap file from memory: microsecond or nanosecond
/// timestamps, either byte order, link types raw IP, Ethernet (with
/// 802.1Q tags) or Linux SLL. Nothing is copied; nothing panics on a
/// malformed file (the iterator yields the error and stops).
///
/// ```
/// use tcp_proto::{pcap, Instant};
/// let mut file = Vec::new();
/// pcap::global_header(&mut file);
/// pcap::record(&mut file, Instant::from_millis(3), &[0x45, 0, 0, 20]);
/// let packets: Vec<_> = pcap::read(&file).unwrap().collect::<Result<_, _>>().unwrap();
/// assert_eq!(packets[0].ts, Instant::from_millis(3));
/// assert_eq!(packets[0].ip, Some(&[0x45u8, 0, 0, 20][..]));
/// ```
pub fn read(file: &[u8]) -> Result<Records<'_>, ReadError> {
    let head = file
        .get(..GLOBAL_HEADER_LEN)
        .ok_or(ReadError::Truncated(file.len()))?;
    let magic_le = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let (big_endian, nanos) = match magic_le {
        MAGIC_MICROS => (false, false),
        0xa1b2_3c4d => (false, true),
        0xd4c3_b2a1 => (true, false),
        0x4d3c_b2a1 => (true, true),
        m => return Err(ReadError::BadMagic(m)),
    };
    let r = Records {
        file,
        at: GLOBAL_HEADER_LEN,
        big_endian,
        nanos,
        linktype: 0,
        failed: false,
    };
    let linktype = r.u32_at(20);
    match linktype {
        LINKTYPE_RAW | LINKTYPE_IPV4 | LINKTYPE_IPV6 | LINKTYPE_ETHERNET | LINKTYPE_LINUX_SLL => {
            Ok(Records { linktype, ..r })
        }
        other => Err(ReadError::LinkType(other)),
    }
}

/// The records of a capture, in file order ([`read`]).
#[derive(Clone, Debug)]
pub struct Records<'a> {
    file: &'a [u8],
    at: usize,
    big_endian: bool,
    nanos: bool,
    linktype: u32,
    failed: bool,
}

impl<'a> Records<'a> {
    fn u32_at(&self, i: usize) -> u32 {
        let b = [
            self.file[i],
            self.file[i + 1],
            self.file[i + 2],
            self.file[i + 3],
        ];
        if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    /// Strips the link header from a frame.
    fn ip(&self, frame: &'a [u8]) -> Option<&'a [u8]> {
        let (ethertype, rest) = match self.linktype {
            LINKTYPE_RAW | LINKTYPE_IPV4 | LINKTYPE_IPV6 => return Some(frame),
            LINKTYPE_ETHERNET => {
                let mut at = 12;
                let mut t = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
                // 802.1Q / 802.1ad tags.
                while t == 0x8100 || t == 0x88a8 {
                    at += 4;
                    t = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
                }
                (t, frame.get(at + 2..)?)
            }
            _ => (
                u16::from_be_bytes([*frame.get(14)?, *frame.get(15)?]),
                frame.get(16..)?,
            ),
        };
        matches!(ethertype, 0x0800 | 0x86dd).then_some(rest)
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Packet<'a>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.at >= self.file.len() {
            return None;
        }
        if self.file.len() - self.at < RECORD_HEADER_LEN {
            self.failed = true;
            return Some(Err(ReadError::Truncated(self.file.len())));
        }
        let secs = u64::from(self.u32_at(self.at));
        let frac = u64::from(self.u32_at(self.at + 4));
        let incl = self.u32_at(self.at + 8) as usize;
        let start = self.at + RECORD_HEADER_LEN;
        let Some(frame) = start
            .checked_add(incl)
            .and_then(|end| self.file.get(start..end))
        else {
            self.failed = true;
            return Some(Err(ReadError::Truncated(self.file.len())));
        };
        self.at = start + incl;
        let micros = if self.nanos { frac / 1000 } else { frac };
        Some(Ok(Packet {
            ts: Instant::from_micros(secs.saturating_mul(1_000_000).saturating_add(micros)),
            ip: self.ip(frame),
        }))
    }
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

    fn capture() -> Vec<u8> {
        let addrs = IpPair::V4 {
            src: [192, 0, 2, 1],
            dst: [192, 0, 2, 2],
        };
        let seg = Segment {
            src_port: 1,
            dst_port: 2,
            payload: bytes::Bytes::from_static(b"hello"),
            ..Segment::default()
        };
        let mut file = Vec::new();
        global_header(&mut file);
        segment_packet(&mut file, Instant::from_micros(1_500_000), &addrs, &seg).unwrap();
        segment_packet(&mut file, Instant::from_micros(2_000_001), &addrs, &seg).unwrap();
        file
    }

    #[test]
    fn what_we_write_reads_back_to_the_same_segments() {
        let file = capture();
        let packets: Vec<Packet<'_>> = read(&file).unwrap().map(Result::unwrap).collect();
        assert_eq!(packets.len(), 2);
        assert_eq!(packets[1].ts, Instant::from_micros(2_000_001));
        let pkt = packets[0].ip.unwrap();
        let found = crate::ip::parse(pkt).unwrap();
        assert_eq!(found.src, core::net::IpAddr::from([192, 0, 2, 1]));
        let addrs = IpPair::V4 {
            src: [192, 0, 2, 1],
            dst: [192, 0, 2, 2],
        };
        let seg = Segment::decode_slice(&pkt[found.tcp], &addrs, ChecksumMode::Verify).unwrap();
        assert_eq!(&seg.payload[..], b"hello");
    }

    #[test]
    fn big_endian_nanosecond_ethernet_captures_read() {
        let le = capture();
        let rec =
            &le[GLOBAL_HEADER_LEN + RECORD_HEADER_LEN..GLOBAL_HEADER_LEN + RECORD_HEADER_LEN + 45];
        let mut file = Vec::new();
        file.extend_from_slice(&0xa1b2_3c4du32.to_be_bytes());
        file.extend_from_slice(&[0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
        file.extend_from_slice(&LINKTYPE_ETHERNET.to_be_bytes());
        let frame_len = 14 + 4 + rec.len();
        file.extend_from_slice(&3u32.to_be_bytes());
        file.extend_from_slice(&5_000u32.to_be_bytes()); // 5 µs in nanoseconds
        file.extend_from_slice(&(frame_len as u32).to_be_bytes());
        file.extend_from_slice(&(frame_len as u32).to_be_bytes());
        file.extend_from_slice(&[0; 12]); // MAC addresses
        file.extend_from_slice(&[0x81, 0x00, 0, 7]); // an 802.1Q tag
        file.extend_from_slice(&[0x08, 0x00]);
        file.extend_from_slice(rec);
        let p: Vec<Packet<'_>> = read(&file).unwrap().map(Result::unwrap).collect();
        assert_eq!(p[0].ts, Instant::from_micros(3_000_005));
        assert_eq!(p[0].ip, Some(rec));
    }

    #[test]
    fn malformed_captures_are_errors_not_panics() {
        let file = capture();
        assert_eq!(read(&[1, 2, 3]).err(), Some(ReadError::Truncated(3)));
        let mut bad = file.clone();
        bad[0] = 0;
        assert!(matches!(read(&bad), Err(ReadError::BadMagic(_))));
        let mut other = file.clone();
        other[20] = 7;
        assert_eq!(read(&other).err(), Some(ReadError::LinkType(7)));
        // Every truncation: whole records, then one error, never a panic.
        for cut in GLOBAL_HEADER_LEN..file.len() {
            let results: Vec<_> = read(&file[..cut]).unwrap().collect();
            let errors = results.iter().filter(|r| r.is_err()).count();
            assert!(errors <= 1 && results.last().is_none_or(|r| r.is_ok() == (errors == 0)));
        }
    }
}
