//! ICMP and ICMPv6 errors through the `Endpoint` (RFC 9293 §3.9.2.2): a
//! router's message about a segment an endpoint sent, built as the router
//! would (the IP packet we sent, quoted), found by `ip::parse_icmp` and
//! handed to `Endpoint::handle_icmp`. The per-connection rules are
//! `Connection::handle_icmp`'s (tests/icmp.rs); here: the demux to a
//! connection, a half-open entry, TIME-WAIT, a cookie or no one, and what
//! the endpoint does with a connection the error closed.

use std::net::IpAddr;
use std::time::Duration;
use tcp_proto::endpoint::{ConnectionHandle, Endpoint, EndpointConfig, SynCookies, Transmit};
use tcp_proto::ip::{self, IcmpInIp};
use tcp_proto::wire::checksum;
use tcp_proto::{
    ChecksumMode, CloseReason, Event, Flags, IcmpCause, IcmpError, Instant, Segment, SeqNum, State,
};

mod endpoints;
use endpoints::{events, pump, sa};

/// The IP packet a `Transmit` goes out as.
fn ip_packet(t: &Transmit) -> Vec<u8> {
    let pair = t.ip_pair();
    let h = ip::header_len(&pair);
    let mut buf = vec![0u8; h + 70_000];
    let n = t
        .segment
        .encode(&mut buf[h..], &pair, ChecksumMode::Verify)
        .unwrap();
    ip::write_header(&mut buf, &pair, n);
    buf.truncate(h + n);
    buf
}

/// A router's ICMP (IPv4) or ICMPv6 (IPv6) error about `pkt`, sent back to
/// its source: `rest` is the second word (the MTU of a Packet Too Big), the
/// quote as much of `pkt` as RFC 1812 §4.3.2.3 / RFC 4443 §2.4(c) allow.
fn router_says(pkt: &[u8], icmp_type: u8, code: u8, rest: [u8; 4]) -> Vec<u8> {
    let v6 = pkt[0] >> 4 == 6;
    let quote = &pkt[..pkt.len().min(if v6 { 1280 - 48 } else { 576 - 28 })];
    let mut m = vec![icmp_type, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(quote);
    if v6 {
        let router: [u8; 16] = "2001:db8::fe"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets();
        let to: [u8; 16] = pkt[8..24].try_into().unwrap();
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&router);
        pseudo.extend_from_slice(&to);
        pseudo.extend_from_slice(&(m.len() as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 58]);
        pseudo.extend_from_slice(&m);
        let sum = checksum(0, &pseudo);
        m[2..4].copy_from_slice(&sum.to_be_bytes());
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(m.len() as u16).to_be_bytes());
        p.extend_from_slice(&[58, 64]);
        p.extend_from_slice(&router);
        p.extend_from_slice(&to);
        p.extend_from_slice(&m);
        p
    } else {
        let sum = checksum(0, &m);
        m[2..4].copy_from_slice(&sum.to_be_bytes());
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 192, 0, 2, 254];
        p.extend_from_slice(&pkt[12..16]);
        let total = (20 + m.len()) as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        let sum = checksum(0, &p);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        p.extend_from_slice(&m);
        p
    }
}

/// `router_says` about `t`, parsed and handed to `ep`; returns what was parsed.
fn deliver(
    ep: &mut Endpoint,
    now: Instant,
    t: &Transmit,
    ty: u8,
    code: u8,
    rest: [u8; 4],
) -> IcmpInIp {
    let msg = router_says(&ip_packet(t), ty, code, rest);
    let m = ip::parse_icmp(&msg).expect("a well-formed ICMP error");
    ep.handle_icmp(now, m.local(), m.remote(), m.seq, m.error);
    m
}

fn closed_with(ev: &[(ConnectionHandle, Event)], h: ConnectionHandle) -> Option<CloseReason> {
    ev.iter().find_map(|(x, e)| match e {
        Event::Closed(r) if *x == h => Some(*r),
        _ => None,
    })
}

/// A client that sent its SYN: (endpoint, handle, the SYN as sent).
fn connecting(local: &str, remote: &str) -> (Endpoint, ConnectionHandle, Transmit) {
    let mut a = Endpoint::new(EndpointConfig::default(), [1; 16]).unwrap();
    let c = a.connect(Instant::ZERO, sa(local), sa(remote)).unwrap();
    let syn = a.poll_transmit(Instant::ZERO).unwrap();
    assert!(syn.segment.flags.syn());
    (a, c, syn)
}

#[test]
fn a_connect_answered_by_host_unreachable_closes_unreachable_and_frees_the_handle() {
    let (mut a, c, syn) = connecting("192.0.2.1:4000", "198.51.100.7:80");
    let now = Instant::from_millis(3);
    let m = deliver(&mut a, now, &syn, 3, 1, [0; 4]);
    assert_eq!(m.error, IcmpError::Unreachable(IcmpCause::HostUnreachable));
    assert_eq!((m.local(), m.seq), (sa("192.0.2.1:4000"), syn.segment.seq));
    let ev = events(&mut a);
    assert_eq!(
        closed_with(&ev, c),
        Some(CloseReason::Unreachable),
        "{ev:?}"
    );
    assert!(a.connection_ref(c).is_err(), "the handle is stale");
    assert_eq!(a.counts().connections, 0);
    assert_eq!(a.stats().icmp_to_connections, 1);
    // Nothing more goes out for it, and no timer is left to fire.
    assert!(a.poll_transmit(now).is_none());
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn a_connect_answered_by_port_unreachable_is_refused_over_ipv4_and_ipv6() {
    for (local, remote, ty, code) in [
        ("192.0.2.1:4000", "198.51.100.7:80", 3, 3),
        ("[2001:db8::1]:4000", "[2001:db8:1::7]:80", 1, 4),
    ] {
        let (mut a, c, syn) = connecting(local, remote);
        let m = deliver(&mut a, Instant::from_millis(1), &syn, ty, code, [0; 4]);
        assert_eq!(m.error, IcmpError::Unreachable(IcmpCause::PortUnreachable));
        let ev = events(&mut a);
        assert_eq!(
            closed_with(&ev, c),
            Some(CloseReason::Refused),
            "{remote}: {ev:?}"
        );
        assert!(a.connection_ref(c).is_err());
    }
}

#[test]
fn an_error_quoting_a_sequence_number_never_sent_is_ignored_and_counted() {
    let (mut a, c, syn) = connecting("192.0.2.1:4000", "198.51.100.7:80");
    let now = Instant::from_millis(1);
    let mut forged = syn.clone();
    forged.segment.seq = syn.segment.seq.add(1_000_000);
    deliver(&mut a, now, &forged, 3, 1, [0; 4]);
    assert_eq!(a.stats().icmp_to_connections, 1);
    let conn = a.connection_ref(c).expect("still there");
    assert_eq!(conn.state(), State::SynSent);
    assert_eq!(conn.stats().icmp_ignored, 1);
    assert_eq!(closed_with(&events(&mut a), c), None);
}

#[test]
fn an_error_for_no_one_is_ignored_and_counted() {
    let (mut a, c, syn) = connecting("192.0.2.1:4000", "198.51.100.7:80");
    let now = Instant::from_millis(1);
    let mut other = syn.clone();
    other.segment.dst_port = 81; // a 4-tuple we have nothing for
    deliver(&mut a, now, &other, 3, 1, [0; 4]);
    other.segment.dst_port = 80;
    other.dst = "198.51.100.8".parse().unwrap();
    deliver(&mut a, now, &other, 3, 3, [0; 4]);
    // Addresses of two families: no 4-tuple at all.
    a.handle_icmp(
        now,
        sa("192.0.2.1:4000"),
        sa("[2001:db8::7]:80"),
        syn.segment.seq,
        IcmpError::Unreachable(IcmpCause::PortUnreachable),
    );
    let st = a.stats();
    assert_eq!((st.icmp_ignored, st.icmp_to_connections), (3, 0));
    assert_eq!(a.connection_ref(c).unwrap().state(), State::SynSent);
}

/// A listening endpoint and the SYN-ACK of the half-open entry a SYN made.
fn half_open(cookies: SynCookies) -> (Endpoint, Transmit) {
    let cfg = EndpointConfig {
        syn_cookies: cookies,
        ..EndpointConfig::default()
    };
    let mut b = Endpoint::new(cfg, [2; 16]).unwrap();
    b.listen(None, 80, 8).unwrap();
    let mut syn = Segment {
        src_port: 4000,
        dst_port: 80,
        seq: SeqNum(7),
        flags: Flags::SYN,
        window: 65535,
        ..Segment::default()
    };
    syn.options.mss = Some(1460);
    let ours: IpAddr = "198.51.100.2".parse().unwrap();
    b.handle_segment(Instant::ZERO, "192.0.2.1".parse().unwrap(), ours, syn);
    let synack = b.poll_transmit(Instant::ZERO).unwrap();
    assert_eq!(synack.segment.flags, Flags::SYN | Flags::ACK);
    (b, synack)
}

#[test]
fn net_unreachable_about_its_syn_ack_drops_a_half_open_entry() {
    let (mut b, synack) = half_open(SynCookies::Off);
    assert_eq!(b.counts().half_open, 1);
    let now = Instant::from_millis(5);
    deliver(&mut b, now, &synack, 3, 0, [0; 4]);
    assert_eq!(b.counts().half_open, 0);
    assert_eq!(b.stats().icmp_half_open_dropped, 1);
    // No SYN-ACK retransmission for it afterwards.
    b.handle_timeout(now + Duration::from_secs(10));
    assert!(b.poll_transmit(now + Duration::from_secs(10)).is_none());
    assert_eq!(b.stats().synack_retransmits, 0);
}

#[test]
fn a_half_open_entry_stays_for_a_wrong_sequence_number_or_an_error_that_does_not_end_it() {
    let (mut b, synack) = half_open(SynCookies::Off);
    let now = Instant::from_millis(5);
    let mut wrong = synack.clone();
    wrong.segment.seq = synack.segment.seq.add(1);
    deliver(&mut b, now, &wrong, 3, 0, [0; 4]);
    // Administratively prohibited: not one of tcp_req_err's.
    deliver(&mut b, now, &synack, 3, 13, [0; 4]);
    assert_eq!(b.counts().half_open, 1);
    assert_eq!(b.stats().icmp_ignored, 2);
    // A hard error about the SYN-ACK itself ends it.
    deliver(&mut b, now, &synack, 3, 3, [0; 4]);
    assert_eq!(b.counts().half_open, 0);
    assert_eq!(b.stats().icmp_half_open_dropped, 1);
}

#[test]
fn a_syn_cookie_leaves_nothing_for_an_error_to_end() {
    let (mut b, synack) = half_open(SynCookies::Always);
    assert_eq!(b.counts().half_open, 0);
    deliver(&mut b, Instant::from_millis(5), &synack, 3, 1, [0; 4]);
    assert_eq!(b.stats().icmp_ignored, 1);
    assert_eq!(
        b.counts(),
        Endpoint::new(EndpointConfig::default(), [0; 16])
            .unwrap()
            .counts()
    );
}

#[test]
fn time_wait_ignores_icmp() {
    let now = Instant::from_secs(1);
    let (mut a, _b, moved) = endpoints::into_time_wait(EndpointConfig::default(), now);
    let last_ack = moved.iter().rev().find(|(ab, _)| *ab).unwrap().1.clone();
    let t = Transmit {
        src: "192.0.2.1".parse().unwrap(),
        dst: "192.0.2.2".parse().unwrap(),
        segment: last_ack,
    };
    deliver(&mut a, now, &t, 3, 3, [0; 4]);
    assert_eq!(a.stats().icmp_ignored, 1);
    assert_eq!(a.counts().time_wait, 1);
}

#[test]
fn packet_too_big_shrinks_what_the_endpoint_sends_afterwards() {
    for (client, server, v6) in [
        ("192.0.2.1:4000", "192.0.2.2:80", false),
        ("[2001:db8::1]:4000", "[2001:db8::2]:80", true),
    ] {
        let mut a = Endpoint::new(EndpointConfig::default(), [1; 16]).unwrap();
        let mut b = Endpoint::new(EndpointConfig::default(), [2; 16]).unwrap();
        let now = Instant::from_secs(1);
        let l = b.listen(None, 80, 8).unwrap();
        let c = a.connect(now, sa(client), sa(server)).unwrap();
        pump(now, &mut a, &mut b);
        let s = b.accept(l).unwrap();
        let before = a.connection_ref(c).unwrap().tcp_info(now).snd_mss;
        let data: Vec<u8> = (0..40_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let n = a.send(c, &data).unwrap();
        assert_eq!(n, data.len());
        // The first flight: full-sized segments, none of which got through.
        let flight: Vec<Transmit> = std::iter::from_fn(|| a.poll_transmit(now)).collect();
        let big = flight
            .iter()
            .find(|t| t.segment.payload.len() == before as usize)
            .expect("a full-sized segment");
        let (ty, rest) = if v6 {
            (2, 1280u32.to_be_bytes())
        } else {
            (3, [0, 0, 0x05, 0x00])
        };
        let m = deliver(&mut a, now, big, ty, if v6 { 0 } else { 4 }, rest);
        assert_eq!(
            m.error,
            IcmpError::PacketTooBig {
                mtu: 1280,
                ipv6: v6
            }
        );
        let after = a.connection_ref(c).unwrap().tcp_info(now).snd_mss;
        // 1280 less IP and TCP headers and the timestamps option.
        let ip_len = if v6 { 40 } else { 20 };
        assert_eq!(after, 1280 - ip_len - 20 - 12, "before {before}");
        assert!(after < before);
        // From here on every packet fits 1280, and the data all arrives.
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(t) = a.poll_transmit(now) {
                assert!(ip_packet(&t).len() <= 1280, "{}", t.segment);
                b.handle_segment(now, t.src, t.dst, t.segment);
                moved = true;
            }
            while let Some(t) = b.poll_transmit(now) {
                a.handle_segment(now, t.src, t.dst, t.segment);
                moved = true;
            }
            while let Ok(k) = b.recv(s, &mut buf) {
                if k == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..k]);
            }
            if !moved && got.len() == data.len() {
                break;
            }
        }
        assert_eq!(got.len(), data.len());
        assert!(got == data, "every byte arrives intact");
        assert_eq!(a.connection_ref(c).unwrap().stats().icmp_errors, 1);
        assert_eq!(a.stats().icmp_to_connections, 1);
    }
}
