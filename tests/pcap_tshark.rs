//! The library's pcap writer, read back by tshark (skipped loudly when
//! tshark is missing, required under `CI=true`).

mod common;

use bytes::Bytes;
use common::{ip, tshark};
use tcp_proto::{Flags, Instant, IpPair, Options, Segment, SeqNum, pcap};

fn tcp_bytes(pair: &IpPair, seg: &Segment) -> Vec<u8> {
    // The TCP part of an IP packet built by the (independent) test framer.
    let pkt = ip::encode(pair, seg);
    let (_, tcp) = ip::parse(&pkt).expect("framer output parses");
    tcp.to_vec()
}

fn handshake_and_data(pair: IpPair) -> Vec<(Instant, IpPair, Segment)> {
    let (a, b) = (40_000, 80);
    let (ia, ib) = (SeqNum(1000), SeqNum(u32::MAX - 2));
    let back = pair.reversed();
    let opts = Options {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        ..Options::default()
    };
    vec![
        (
            Instant::from_millis(1),
            pair,
            Segment {
                src_port: a,
                dst_port: b,
                seq: ia,
                flags: Flags::SYN,
                window: 64_240,
                options: opts,
                ..Segment::default()
            },
        ),
        (
            Instant::from_millis(2),
            back,
            Segment {
                src_port: b,
                dst_port: a,
                seq: ib,
                ack: ia.add(1),
                flags: Flags::SYN | Flags::ACK,
                window: 65_160,
                options: opts,
                ..Segment::default()
            },
        ),
        (
            Instant::from_millis(3),
            pair,
            Segment {
                src_port: a,
                dst_port: b,
                seq: ia.add(1),
                ack: ib.add(1),
                flags: Flags::ACK,
                window: 502,
                ..Segment::default()
            },
        ),
        (
            Instant::from_millis(4),
            pair,
            Segment {
                src_port: a,
                dst_port: b,
                seq: ia.add(1),
                ack: ib.add(1),
                flags: Flags::ACK | Flags::PSH,
                window: 502,
                payload: Bytes::from_static(b"hello, wire"),
                ..Segment::default()
            },
        ),
        (
            Instant::from_millis(5),
            back,
            Segment {
                src_port: b,
                dst_port: a,
                seq: ib.add(1),
                ack: ia.add(12),
                flags: Flags::ACK,
                window: 509,
                ..Segment::default()
            },
        ),
    ]
}

#[test]
fn tshark_reads_our_pcap_v4_and_v6() {
    let v4 = IpPair::V4 {
        src: [192, 0, 2, 2],
        dst: [192, 0, 2, 1],
    };
    let mut s6 = [0u8; 16];
    s6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    let mut d6 = s6;
    s6[15] = 2;
    d6[15] = 1;
    let v6 = IpPair::V6 { src: s6, dst: d6 };

    let mut file = Vec::new();
    pcap::global_header(&mut file);
    let mut n = 0;
    for pair in [v4, v6] {
        for (ts, p, seg) in handshake_and_data(pair) {
            let mut pkt = Vec::new();
            pcap::ip_packet(&mut pkt, &p, &tcp_bytes(&p, &seg));
            // Our framer and the library's hand-written header agree.
            let (pp, tcp) = ip::parse(&pkt).expect("library IP header parses");
            assert_eq!(pp, p);
            assert!(ip::checksum_ok(&pp, &tcp));
            pcap::record(&mut file, ts, &pkt);
            n += 1;
        }
    }
    let path = tshark::pcap_path("tshark_reads_our_pcap");
    std::fs::write(&path, &file).expect("write pcap");

    if !tshark::available("tshark_reads_our_pcap_v4_and_v6") {
        return;
    }
    assert_eq!(tshark::count(&path), n);
    tshark::assert_trace_ok(&path, true);
    let syns = tshark::fields(
        &path,
        "tcp.flags.syn == 1 && tcp.flags.ack == 0",
        &["tcp.seq", "tcp.options.mss_val", "frame.time_epoch"],
    );
    assert_eq!(syns.len(), 2, "{syns:?}");
    assert_eq!(syns[0][0], "1000");
    assert_eq!(syns[0][1], "1460");
    assert!(syns[0][2].starts_with("0.001000"), "{syns:?}");
    let data = tshark::fields(&path, "tcp.len > 0", &["tcp.len", "ip.version", "ipv6.dst"]);
    assert_eq!(data.len(), 2);
    assert_eq!(data[0][0], "11");
    assert_eq!(data[1][2], "2001:db8::1");

    // The checks have teeth: a flipped payload bit is a bad TCP checksum.
    let (ts, p, seg) = handshake_and_data(v4).remove(3);
    let mut pkt = Vec::new();
    pcap::ip_packet(&mut pkt, &p, &tcp_bytes(&p, &seg));
    *pkt.last_mut().unwrap() ^= 1;
    let mut bad = Vec::new();
    pcap::global_header(&mut bad);
    pcap::record(&mut bad, ts, &pkt);
    let bad_path = tshark::pcap_path("tshark_bad_checksum");
    std::fs::write(&bad_path, &bad).expect("write pcap");
    assert_eq!(tshark::malformed(&bad_path).len(), 1);
}
