//! TCP is unicast (RFC 9293 §3.9.1.1 MUST-46, §3.9.2.3 MUST-57 and
//! MUST-63): no OPEN to or from a multicast, broadcast or unspecified
//! address, and a segment to or from one is dropped without a reply.

use std::net::{IpAddr, SocketAddr};
use tcp_proto::endpoint::{Endpoint, EndpointConfig, EndpointError};
use tcp_proto::wire::Options;
use tcp_proto::{Flags, Instant, Segment, SeqNum, ip};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn syn(src_port: u16) -> Segment {
    Segment {
        src_port,
        dst_port: 80,
        seq: SeqNum(u32::MAX - 3),
        flags: Flags::SYN,
        window: 65535,
        options: Options {
            mss: Some(1460),
            ..Options::default()
        },
        ..Segment::default()
    }
}

#[test]
fn connect_refuses_multicast_broadcast_and_unspecified_addresses() {
    let mut ep = Endpoint::new(EndpointConfig::default(), [1; 16]).unwrap();
    let now = Instant::ZERO;
    for (local, remote) in [
        ("192.0.2.2:0", "224.0.0.1:80"),
        ("192.0.2.2:0", "255.255.255.255:80"),
        ("192.0.2.2:0", "0.0.0.0:80"),
        ("0.0.0.0:0", "192.0.2.1:80"),
        ("[2001:db8::2]:0", "[ff02::1]:80"),
        ("[2001:db8::2]:0", "[::]:80"),
    ] {
        assert_eq!(
            ep.connect(now, sa(local), sa(remote)).err(),
            Some(EndpointError::NotUnicast),
            "{local} -> {remote}"
        );
    }
    assert!(ep.poll_transmit(now).is_none(), "no SYN left");
    assert!(
        ep.connect(now, sa("192.0.2.2:0"), sa("192.0.2.1:80"))
            .is_ok()
    );
    assert_eq!(
        ep.listen(Some(ip("239.1.2.3")), 80, 8).err(),
        Some(EndpointError::NotUnicast)
    );
    assert!(
        ep.listen(Some(ip("0.0.0.0")), 80, 8).is_ok(),
        "a wildcard listener"
    );
}

#[test]
fn segments_to_or_from_non_unicast_addresses_are_dropped_without_a_reply() {
    let mut ep = Endpoint::new(EndpointConfig::default(), [2; 16]).unwrap();
    let now = Instant::ZERO;
    ep.listen(None, 80, 8).unwrap();
    // A SYN to the port from, or to, an address no connection can have.
    for (n, (src, dst)) in [
        ("0.0.0.0", "192.0.2.1"),
        ("224.0.0.5", "192.0.2.1"),
        ("255.255.255.255", "192.0.2.1"),
        ("192.0.2.7", "255.255.255.255"),
        ("192.0.2.7", "224.0.0.1"),
        ("ff02::1", "2001:db8::1"),
        ("2001:db8::7", "ff02::2"),
    ]
    .into_iter()
    .enumerate()
    {
        ep.handle_segment(now, ip(src), ip(dst), syn(40000 + n as u16));
        assert!(
            ep.poll_transmit(now).is_none(),
            "no SYN-ACK, no RST: {src} -> {dst}"
        );
    }
    // Not to a closed port either (no RST).
    let mut stray = syn(41000);
    stray.dst_port = 81;
    ep.handle_segment(now, ip("224.0.0.5"), ip("192.0.2.1"), stray);
    assert!(ep.poll_transmit(now).is_none());
    assert_eq!(ep.stats().not_unicast, 8);
    assert_eq!(ep.stats().syns_received, 0);
    // A unicast SYN is answered.
    ep.handle_segment(now, ip("192.0.2.7"), ip("192.0.2.1"), syn(42000));
    let t = ep.poll_transmit(now).expect("SYN-ACK");
    assert_eq!(t.segment.flags, Flags::SYN | Flags::ACK);
}

#[test]
fn only_unicast_addresses_are_unicast() {
    for a in ["192.0.2.1", "198.51.100.255", "2001:db8::1", "fe80::1"] {
        assert!(ip::is_unicast(ip(a)), "{a}");
    }
    for a in [
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.255",
        "255.255.255.255",
        "::",
        "ff02::1",
    ] {
        assert!(!ip::is_unicast(ip(a)), "{a}");
    }
}
