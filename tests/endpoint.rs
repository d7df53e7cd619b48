//! The Endpoint: demux, listeners and their queues, SYN cookies, ISNs,
//! no-TCB replies, compact TIME-WAIT, timers, handles and limits, driven
//! through real segments between endpoints (and a hand-driven peer where a
//! test needs exact segments).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tcp_proto::endpoint::{Endpoint, EndpointConfig, EndpointError, SynCookies};
use tcp_proto::wire::Timestamps;
use tcp_proto::{Event, Flags, Instant, Segment, SeqNum, State};

mod endpoints;
use endpoints::{events, pair, pump, sa};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn endpoint_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Endpoint>();
}

#[test]
fn many_connections_both_ways_over_ipv4_and_ipv6() {
    let (mut a, mut b) = pair(EndpointConfig::default());
    let mut now = Instant::from_secs(1);
    let la = a.listen(None, 7, 1024).unwrap();
    let lb = b.listen(None, 7, 1024).unwrap();
    let addrs = [("192.0.2.1", "192.0.2.2"), ("2001:db8::1", "2001:db8::2")];
    let mut from_a = Vec::new();
    let mut from_b = Vec::new();
    for (ia, ib) in addrs {
        for _ in 0..50 {
            from_a.push(
                a.connect(now, SocketAddr::new(ip(ia), 0), SocketAddr::new(ip(ib), 7))
                    .unwrap(),
            );
            from_b.push(
                b.connect(now, SocketAddr::new(ip(ib), 0), SocketAddr::new(ip(ia), 7))
                    .unwrap(),
            );
        }
    }
    pump(now, &mut a, &mut b);
    let acc_b: Vec<_> = std::iter::from_fn(|| b.accept(lb)).collect();
    let acc_a: Vec<_> = std::iter::from_fn(|| a.accept(la)).collect();
    assert_eq!((acc_a.len(), acc_b.len()), (100, 100));
    assert_eq!(a.counts().connections, 200);
    // Each client sends its own message; each server echoes it back.
    for (k, &h) in from_a.iter().enumerate() {
        a.send(h, format!("a{k}").as_bytes()).unwrap();
    }
    for (k, &h) in from_b.iter().enumerate() {
        b.send(h, format!("b{k}").as_bytes()).unwrap();
    }
    pump(now, &mut a, &mut b);
    let mut buf = [0u8; 64];
    for (server, accepted) in [(&mut b, &acc_b), (&mut a, &acc_a)] {
        for &h in accepted {
            let n = server.recv(h, &mut buf).unwrap();
            let msg = buf[..n].to_vec();
            server.send(h, &msg).unwrap();
        }
    }
    pump(now, &mut a, &mut b);
    for (client, handles, tag) in [(&mut a, &from_a, 'a'), (&mut b, &from_b, 'b')] {
        for (k, &h) in handles.iter().enumerate() {
            let n = client.recv(h, &mut buf).unwrap();
            assert_eq!(&buf[..n], format!("{tag}{k}").as_bytes());
            // The addresses are those the connection was made with.
            let (local, remote) = client.addresses(h).unwrap();
            assert_eq!(local.ip().is_ipv6(), remote.ip().is_ipv6());
        }
    }
    // Close all: the active closers end in compact TIME-WAIT entries.
    for &h in &from_a {
        a.close(now, h).unwrap();
    }
    for &h in &from_b {
        b.close(now, h).unwrap();
    }
    pump(now, &mut a, &mut b);
    for &h in &acc_b {
        b.close(now, h).unwrap();
    }
    for &h in &acc_a {
        a.close(now, h).unwrap();
    }
    pump(now, &mut a, &mut b);
    assert_eq!(a.counts().connections, 0);
    assert_eq!(b.counts().connections, 0);
    assert_eq!(a.counts().time_wait, 100);
    assert_eq!(b.counts().time_wait, 100);
    for &h in from_a.iter().chain(&acc_a) {
        assert_eq!(a.connection(h).err(), Some(EndpointError::StaleHandle));
    }
    // Every handle got its Closed event.
    let closed = events(&mut a)
        .into_iter()
        .filter(|(_, e)| matches!(e, Event::Closed(_)))
        .count();
    assert_eq!(closed, 200);
    // TIME-WAIT ends after 2·MSL, through the one timer heap.
    now += Duration::from_secs(61);
    a.handle_timeout(now);
    assert_eq!(a.counts().time_wait, 0);
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn stale_handle_is_an_error_and_never_another_connection() {
    let (mut a, mut b) = pair(EndpointConfig::default());
    let now = Instant::ZERO;
    let l = b.listen(None, 80, 8).unwrap();
    let c1 = a
        .connect(now, sa("192.0.2.1:1000"), sa("192.0.2.2:80"))
        .unwrap();
    pump(now, &mut a, &mut b);
    a.abort(c1).unwrap();
    pump(now, &mut a, &mut b);
    assert_eq!(a.send(c1, b"x"), Err(EndpointError::StaleHandle));
    // The slot is reused by the next connection; the old handle still fails.
    let c2 = a
        .connect(now, sa("192.0.2.1:1001"), sa("192.0.2.2:80"))
        .unwrap();
    assert_eq!(c2.index(), c1.index());
    assert_ne!(c1, c2);
    assert_eq!(a.connection(c1).err(), Some(EndpointError::StaleHandle));
    assert!(a.connection(c2).is_ok());
    let _ = b.accept(l);
}

#[test]
fn most_specific_listener_wins_over_the_wildcard() {
    let (mut a, mut b) = pair(EndpointConfig::default());
    let now = Instant::ZERO;
    let any = b.listen(None, 80, 8).unwrap();
    let one = b.listen(Some(ip("192.0.2.2")), 80, 8).unwrap();
    assert_eq!(
        b.listen(Some(ip("192.0.2.2")), 80, 8).err(),
        Some(EndpointError::AddressInUse)
    );
    a.connect(now, sa("192.0.2.1:1000"), sa("192.0.2.2:80"))
        .unwrap();
    a.connect(now, sa("192.0.2.1:1001"), sa("192.0.2.3:80"))
        .unwrap();
    a.connect(now, sa("[2001:db8::1]:1002"), sa("[2001:db8::2]:80"))
        .unwrap();
    pump(now, &mut a, &mut b);
    let h = b.accept(one).unwrap();
    assert_eq!(b.addresses(h).unwrap().0, sa("192.0.2.2:80"));
    assert!(b.accept(one).is_none());
    let hs: Vec<_> = std::iter::from_fn(|| b.accept(any)).collect();
    let mut rest: Vec<_> = hs.iter().map(|&h| b.addresses(h).unwrap().0).collect();
    rest.sort();
    assert_eq!(rest, vec![sa("192.0.2.3:80"), sa("[2001:db8::2]:80")]);
    // A family wildcard (::) wins over the all-families one.
    let v6any = b.listen(Some(ip("::")), 80, 8).unwrap();
    a.connect(now, sa("[2001:db8::1]:1003"), sa("[2001:db8::2]:80"))
        .unwrap();
    a.connect(now, sa("192.0.2.1:1004"), sa("192.0.2.3:80"))
        .unwrap();
    pump(now, &mut a, &mut b);
    let h6 = b.accept(v6any).unwrap();
    assert_eq!(b.addresses(h6).unwrap().1, sa("[2001:db8::1]:1003"));
    let h4 = b.accept(any).unwrap();
    assert_eq!(b.addresses(h4).unwrap().1, sa("192.0.2.1:1004"));
}

#[test]
fn full_accept_queue_drops_syns_and_completing_acks_until_accepted() {
    let mut cfg = EndpointConfig::linux();
    cfg.syn_cookies = SynCookies::Off;
    let (mut a, mut b) = pair(cfg);
    let mut now = Instant::ZERO;
    let l = b.listen(None, 80, 2).unwrap();
    let clients: Vec<_> = (0..5)
        .map(|k| {
            a.connect(
                now,
                SocketAddr::new(ip("192.0.2.1"), 2000 + k),
                sa("192.0.2.2:80"),
            )
            .unwrap()
        })
        .collect();
    pump(now, &mut a, &mut b);
    assert_eq!(b.counts().connections, 2);
    let s = b.stats();
    assert!(
        s.syns_dropped_accept_full + s.acks_dropped_accept_full >= 3,
        "{s:?}"
    );
    // Accept as they come; the clients' retransmissions complete the rest.
    let mut accepted = Vec::new();
    for _ in 0..40 {
        accepted.extend(std::iter::from_fn(|| b.accept(l)));
        let Some(t) = [a.poll_timeout(), b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        now = now.max(t);
        a.handle_timeout(now);
        b.handle_timeout(now);
        pump(now, &mut a, &mut b);
        if accepted.len() == 5 {
            break;
        }
    }
    accepted.extend(std::iter::from_fn(|| b.accept(l)));
    assert_eq!(accepted.len(), 5);
    for c in clients {
        assert_eq!(a.connection(c).unwrap().state(), State::Established);
    }
}

#[test]
fn segment_without_connection_gets_rst_and_rst_gets_nothing() {
    let mut b = Endpoint::new(EndpointConfig::default(), [3; 16]).unwrap();
    let now = Instant::ZERO;
    let syn = Segment {
        src_port: 5000,
        dst_port: 81,
        seq: SeqNum(100),
        flags: Flags::SYN,
        window: 1000,
        ..Segment::default()
    };
    b.handle_segment(now, ip("192.0.2.1"), ip("192.0.2.2"), syn);
    let t = b.poll_transmit(now).unwrap();
    assert_eq!((t.src, t.dst), (ip("192.0.2.2"), ip("192.0.2.1")));
    assert_eq!(t.segment.flags, Flags::RST | Flags::ACK);
    assert_eq!(t.segment.ack, SeqNum(101));
    let rst = Segment {
        src_port: 5000,
        dst_port: 81,
        seq: SeqNum(100),
        flags: Flags::RST,
        ..Segment::default()
    };
    b.handle_segment(now, ip("192.0.2.1"), ip("192.0.2.2"), rst);
    assert!(b.poll_transmit(now).is_none());
    assert_eq!(b.stats().resets_sent, 1);
}

#[test]
fn no_tcb_replies_are_rate_limited() {
    let mut cfg = EndpointConfig::linux();
    cfg.reply_rate_limit = Some(10);
    let mut b = Endpoint::new(cfg, [3; 16]).unwrap();
    let now = Instant::from_secs(5);
    for k in 0..100u16 {
        let ack = Segment {
            src_port: 5000 + k,
            dst_port: 81,
            seq: SeqNum(1),
            ack: SeqNum(2),
            flags: Flags::ACK,
            ..Segment::default()
        };
        b.handle_segment(now, ip("192.0.2.1"), ip("192.0.2.2"), ack);
    }
    assert_eq!(std::iter::from_fn(|| b.poll_transmit(now)).count(), 10);
    assert_eq!(b.stats().replies_rate_limited, 90);
}

fn syn_from(port: u16, seq: u32, tsval: Option<u32>) -> Segment {
    let mut s = Segment {
        src_port: port,
        dst_port: 80,
        seq: SeqNum(seq),
        flags: Flags::SYN,
        window: 65535,
        ..Segment::default()
    };
    s.options.mss = Some(1460);
    s.options.window_scale = Some(7);
    s.options.sack_permitted = true;
    s.options.timestamps = tsval.map(|val| Timestamps { val, ecr: 0 });
    s
}

#[test]
fn syn_ack_is_retransmitted_then_the_half_open_entry_expires() {
    let mut cfg = EndpointConfig::linux();
    cfg.connection.synack_retries = 2;
    let mut b = Endpoint::new(cfg, [3; 16]).unwrap();
    b.listen(None, 80, 8).unwrap();
    let mut now = Instant::ZERO;
    b.handle_segment(
        now,
        ip("192.0.2.1"),
        ip("192.0.2.2"),
        syn_from(4000, 7, None),
    );
    let first = b.poll_transmit(now).unwrap().segment;
    assert_eq!(first.flags, Flags::SYN | Flags::ACK);
    assert_eq!(b.counts().half_open, 1);
    let mut resent = Vec::new();
    while let Some(t) = b.poll_timeout() {
        now = t;
        b.handle_timeout(now);
        resent.extend(std::iter::from_fn(|| b.poll_transmit(now)).map(|t| (now, t.segment)));
    }
    // Two retransmissions, 1 s then 2 s apart, the same SYN-ACK each time.
    assert_eq!(resent.len(), 2);
    assert_eq!(resent[0].0, Instant::from_secs(1));
    assert_eq!(resent[1].0, Instant::from_secs(3));
    assert!(
        resent
            .iter()
            .all(|(_, s)| s.seq == first.seq && s.ack == first.ack)
    );
    assert_eq!(b.counts().half_open, 0);
    assert_eq!(b.stats().half_open_expired, 1);
}

#[test]
fn isns_differ_per_tuple_and_advance_with_time() {
    let mut a = Endpoint::new(EndpointConfig::default(), [9; 16]).unwrap();
    let mut isn = |now: Instant, port: u16| {
        let h = a
            .connect(
                now,
                SocketAddr::new(ip("192.0.2.1"), port),
                sa("192.0.2.2:80"),
            )
            .unwrap();
        let s = a.poll_transmit(now).unwrap().segment;
        a.abort(h).unwrap();
        while a.poll_transmit(now).is_some() {}
        s.seq
    };
    let t0 = Instant::from_secs(10);
    let x = isn(t0, 1000);
    let y = isn(t0, 1001);
    assert_ne!(x, y);
    // Same tuple later: M advanced by (elapsed µs) / 4, F unchanged.
    let later = isn(t0 + Duration::from_millis(400), 1000);
    assert_eq!(later.0.wrapping_sub(x.0), 100_000);
    // Another secret: another F.
    let mut other = Endpoint::new(EndpointConfig::default(), [10; 16]).unwrap();
    other
        .connect(t0, sa("192.0.2.1:1000"), sa("192.0.2.2:80"))
        .unwrap();
    assert_ne!(other.poll_transmit(t0).unwrap().segment.seq, x);
}

#[test]
fn syn_cookies_complete_handshakes_without_half_open_state() {
    let mut cfg = EndpointConfig::linux();
    cfg.syn_cookies = SynCookies::Always;
    let (mut a, mut b) = pair(cfg);
    let now = Instant::from_secs(100);
    let l = b.listen(None, 80, 64).unwrap();
    let c = a
        .connect(now, sa("192.0.2.1:1000"), sa("192.0.2.2:80"))
        .unwrap();
    // SYN → cookie SYN-ACK; nothing kept.
    let syn = a.poll_transmit(now).unwrap();
    b.handle_segment(now, syn.src, syn.dst, syn.segment);
    assert_eq!(b.counts().half_open, 0);
    assert_eq!(b.stats().cookies_sent, 1);
    pump(now, &mut a, &mut b);
    let s = b.accept(l).expect("cookie handshake completes");
    assert_eq!(b.stats().cookies_accepted, 1);
    // Window scale and timestamps came back out of the TSval bits: a large
    // transfer uses the scaled window.
    let data = vec![7u8; 200_000];
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    for _ in 0..1000 {
        if sent < data.len() {
            sent += a.send(c, &data[sent..]).unwrap_or(0);
        }
        pump(now, &mut a, &mut b);
        while let Ok(n) = b.recv(s, &mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() == data.len() {
            break;
        }
    }
    assert_eq!(got, data);
    assert!(b.connection_ref(s).unwrap().stats().rcv_wnd > 65535);
}

#[test]
fn forged_and_expired_cookies_are_refused() {
    let mut cfg = EndpointConfig::linux();
    cfg.syn_cookies = SynCookies::Always;
    let mut b = Endpoint::new(cfg, [4; 16]).unwrap();
    let l = b.listen(None, 80, 64).unwrap();
    let now = Instant::from_secs(1000);
    let (cli, srv) = (ip("192.0.2.1"), ip("192.0.2.2"));
    b.handle_segment(now, cli, srv, syn_from(4000, 500, Some(1)));
    let synack = b.poll_transmit(now).unwrap().segment;
    let ack = |ackno: SeqNum, ecr: u32| {
        let mut s = Segment {
            src_port: 4000,
            dst_port: 80,
            seq: SeqNum(501),
            ack: ackno,
            flags: Flags::ACK,
            window: 1000,
            ..Segment::default()
        };
        s.options.timestamps = Some(Timestamps { val: 2, ecr });
        s
    };
    let ecr = synack.options.timestamps.unwrap().val;
    // Forged: a cookie one off.
    b.handle_segment(now, cli, srv, ack(synack.seq.add(2), ecr));
    assert_eq!(b.poll_transmit(now).unwrap().segment.flags, Flags::RST);
    // Expired: the right cookie, 200 s later.
    let late = now + Duration::from_secs(200);
    b.handle_segment(late, cli, srv, ack(synack.seq.add(1), ecr));
    assert_eq!(b.poll_transmit(late).unwrap().segment.flags, Flags::RST);
    assert_eq!(b.stats().cookies_rejected, 2);
    assert!(b.accept(l).is_none());
    // Valid: accepted within the window.
    let soon = now + Duration::from_secs(30);
    b.handle_segment(soon, cli, srv, ack(synack.seq.add(1), ecr));
    let h = b.accept(l).unwrap();
    assert_eq!(b.connection_ref(h).unwrap().state(), State::Established);
}

#[test]
fn cookies_take_over_when_the_syn_queue_is_full() {
    let mut cfg = EndpointConfig::linux();
    cfg.max_syn_backlog = 4;
    let mut b = Endpoint::new(cfg, [4; 16]).unwrap();
    b.listen(None, 80, 64).unwrap();
    let now = Instant::from_secs(1);
    for k in 0..10 {
        b.handle_segment(
            now,
            ip("192.0.2.1"),
            ip("192.0.2.2"),
            syn_from(4000 + k, 9, None),
        );
    }
    assert_eq!(b.counts().half_open, 4);
    assert_eq!(b.stats().cookies_sent, 6);
    assert_eq!(std::iter::from_fn(|| b.poll_transmit(now)).count(), 10);
}

/// A connection from `a` (client, active closer) to `b`, closed both ways:
/// `a` holds a compact TIME-WAIT entry. Returns the endpoints, the FIN `b`
/// sent and the time.
fn into_time_wait(cfg: EndpointConfig) -> (Endpoint, Endpoint, Segment, Instant) {
    let now = Instant::from_secs(50);
    let (a, b, moved) = endpoints::into_time_wait(cfg, now);
    let fin = moved
        .iter()
        .rev()
        .find(|(ab, s)| !ab && s.flags.fin())
        .unwrap()
        .1
        .clone();
    assert_eq!(a.counts().connections, 0);
    (a, b, fin, now)
}

#[test]
fn time_wait_acks_a_retransmitted_fin_and_restarts_2msl() {
    let (mut a, _b, fin, now) = into_time_wait(EndpointConfig::default());
    let later = now + Duration::from_secs(30);
    a.handle_segment(later, ip("192.0.2.2"), ip("192.0.2.1"), fin.clone());
    let ack = a.poll_transmit(later).unwrap().segment;
    assert_eq!(ack.flags, Flags::ACK);
    assert_eq!(ack.ack, fin.seq.add(1));
    // 2·MSL counts from the retransmission now: still there at now + 61 s.
    a.handle_timeout(now + Duration::from_secs(61));
    assert_eq!(a.counts().time_wait, 1);
    a.handle_timeout(later + Duration::from_secs(60));
    assert_eq!(a.counts().time_wait, 0);
}

#[test]
fn time_wait_rst_follows_the_rfc1337_setting() {
    for rfc1337 in [false, true] {
        let mut cfg = EndpointConfig::linux();
        cfg.connection.rfc1337 = rfc1337;
        let (mut a, _b, fin, now) = into_time_wait(cfg);
        let rst = Segment {
            src_port: 80,
            dst_port: 4000,
            seq: fin.seq.add(1),
            flags: Flags::RST,
            ..Segment::default()
        };
        a.handle_segment(now, ip("192.0.2.2"), ip("192.0.2.1"), rst);
        assert_eq!(
            a.counts().time_wait,
            usize::from(rfc1337),
            "rfc1337 = {rfc1337}"
        );
        assert!(a.poll_transmit(now).is_none());
    }
}

#[test]
fn time_wait_lets_a_newer_syn_reuse_the_tuple_and_acks_an_old_one() {
    // a is the server-side closer here: it listens and closes first.
    let (mut a, mut b) = pair(EndpointConfig::default());
    let now = Instant::from_secs(50);
    let l = a.listen(None, 80, 8).unwrap();
    let c = b
        .connect(now, sa("192.0.2.2:4000"), sa("192.0.2.1:80"))
        .unwrap();
    let moved = pump(now, &mut a, &mut b);
    let first_syn = moved
        .iter()
        .find(|(ab, s)| !ab && s.flags.syn())
        .unwrap()
        .1
        .clone();
    let s = a.accept(l).unwrap();
    a.close(now, s).unwrap();
    pump(now, &mut a, &mut b);
    b.close(now, c).unwrap();
    pump(now, &mut a, &mut b);
    assert_eq!(a.counts().time_wait, 1);
    let (peer, us) = (ip("192.0.2.2"), ip("192.0.2.1"));
    // The old SYN again (old timestamp): answered with an ACK, TIME-WAIT kept.
    a.handle_segment(now, peer, us, first_syn.clone());
    let ack = a.poll_transmit(now).unwrap().segment;
    assert_eq!(ack.flags, Flags::ACK);
    assert_eq!(a.counts().time_wait, 1);
    // A new SYN with a newer timestamp: a new incarnation.
    let later = now + Duration::from_secs(5);
    let mut newer = first_syn.clone();
    let ts = newer.options.timestamps.unwrap();
    newer.options.timestamps = Some(Timestamps {
        val: ts.val + 5000,
        ecr: 0,
    });
    a.handle_segment(later, peer, us, newer);
    assert_eq!(a.counts().time_wait, 0);
    assert_eq!(a.counts().half_open, 1);
    let synack = a.poll_transmit(later).unwrap().segment;
    assert_eq!(synack.flags, Flags::SYN | Flags::ACK);
    assert_eq!(a.stats().time_wait_reopened, 1);
    // Its ISS lies beyond the old incarnation's sequence space.
    assert!(synack.seq.gt(ack.seq));
}

#[test]
fn time_wait_without_timestamps_reopens_only_for_a_higher_sequence() {
    let mut cfg = EndpointConfig::linux();
    cfg.connection.timestamps = false;
    let (mut a, mut b) = pair(cfg);
    let now = Instant::from_secs(50);
    let l = a.listen(None, 80, 8).unwrap();
    let c = b
        .connect(now, sa("192.0.2.2:4000"), sa("192.0.2.1:80"))
        .unwrap();
    pump(now, &mut a, &mut b);
    let s = a.accept(l).unwrap();
    a.close(now, s).unwrap();
    pump(now, &mut a, &mut b);
    b.close(now, c).unwrap();
    let moved = pump(now, &mut a, &mut b);
    let fin = moved
        .iter()
        .find(|(ab, s)| !ab && s.flags.fin())
        .unwrap()
        .1
        .clone();
    let (peer, us) = (ip("192.0.2.2"), ip("192.0.2.1"));
    let mut old = syn_from(4000, fin.seq.0.wrapping_sub(10), None);
    old.options.timestamps = None;
    a.handle_segment(now, peer, us, old);
    assert_eq!(a.poll_transmit(now).unwrap().segment.flags, Flags::ACK);
    assert_eq!(a.counts().time_wait, 1);
    let mut higher = syn_from(4000, fin.seq.0.wrapping_add(100_000), None);
    higher.options.timestamps = None;
    a.handle_segment(now, peer, us, higher);
    assert_eq!(a.counts().time_wait, 0);
    assert_eq!(
        a.poll_transmit(now).unwrap().segment.flags,
        Flags::SYN | Flags::ACK
    );
}

#[test]
fn time_wait_cap_closes_instead_of_keeping_more() {
    let mut cfg = EndpointConfig::linux();
    cfg.max_time_wait = 3;
    let (mut a, mut b) = pair(cfg);
    let now = Instant::from_secs(1);
    let l = b.listen(None, 80, 64).unwrap();
    let cs: Vec<_> = (0..6)
        .map(|k| {
            a.connect(
                now,
                SocketAddr::new(ip("192.0.2.1"), 3000 + k),
                sa("192.0.2.2:80"),
            )
            .unwrap()
        })
        .collect();
    pump(now, &mut a, &mut b);
    let ss: Vec<_> = std::iter::from_fn(|| b.accept(l)).collect();
    for &c in &cs {
        a.close(now, c).unwrap();
    }
    pump(now, &mut a, &mut b);
    for &s in &ss {
        b.close(now, s).unwrap();
    }
    pump(now, &mut a, &mut b);
    assert_eq!(a.counts().time_wait, 3);
    assert_eq!(a.stats().time_wait_overflow, 3);
    assert_eq!(a.counts().connections, 0);
}

#[test]
fn a_deadline_set_by_an_application_call_is_registered() {
    let (mut a, mut b) = pair(EndpointConfig::default());
    let now = Instant::from_secs(1);
    b.listen(None, 80, 8).unwrap();
    let c = a
        .connect(now, sa("192.0.2.1:1000"), sa("192.0.2.2:80"))
        .unwrap();
    pump(now, &mut a, &mut b);
    assert_eq!(a.poll_timeout(), None, "idle, established: no timer");
    a.send(c, b"data").unwrap();
    let _lost = a.poll_transmit(now).unwrap(); // the data segment, lost
    let rto = a.poll_timeout().expect("the RTO is registered");
    assert!(rto > now);
    a.handle_timeout(rto);
    let again = a.poll_transmit(rto).unwrap().segment;
    assert_eq!(&again.payload[..], b"data");
}

#[test]
fn memory_budget_refuses_connections_and_drops_payload_past_it() {
    let mut cfg = EndpointConfig::linux();
    cfg.buffer_budget = 10_000;
    cfg.buffer_pressure_percent = 50;
    let mut a = Endpoint::new(EndpointConfig::default(), [1; 16]).unwrap();
    let mut b = Endpoint::new(cfg, [2; 16]).unwrap();
    let now = Instant::from_secs(1);
    let l = b.listen(None, 80, 8).unwrap();
    let c = a
        .connect(now, sa("192.0.2.1:1000"), sa("192.0.2.2:80"))
        .unwrap();
    pump(now, &mut a, &mut b);
    let s = b.accept(l).unwrap();
    // The server does not read: its receive buffer fills to the budget.
    let data = vec![1u8; 30_000];
    let mut sent = 0;
    for _ in 0..20 {
        sent += a.send(c, &data[sent..]).unwrap_or(0);
        pump(now, &mut a, &mut b);
    }
    assert!(b.counts().buffered <= 10_000 + 1460, "{:?}", b.counts());
    assert!(b.stats().payload_dropped_budget > 0);
    // Under pressure: a new connection is refused (its SYN dropped).
    a.connect(now, sa("192.0.2.1:1001"), sa("192.0.2.2:80"))
        .unwrap();
    pump(now, &mut a, &mut b);
    assert_eq!(b.counts().connections, 1);
    assert!(b.stats().syns_dropped_limit >= 1);
    // Reading relieves it.
    let mut buf = vec![0u8; 65536];
    while b.recv(s, &mut buf).is_ok_and(|n| n > 0) {}
    assert!(b.counts().buffered < 5_000);
}

#[test]
fn connection_limit_refuses_connects() {
    let mut cfg = EndpointConfig::linux();
    cfg.max_connections = 2;
    let mut a = Endpoint::new(cfg, [1; 16]).unwrap();
    let now = Instant::ZERO;
    a.connect(now, sa("192.0.2.1:1"), sa("192.0.2.2:80"))
        .unwrap();
    a.connect(now, sa("192.0.2.1:2"), sa("192.0.2.2:80"))
        .unwrap();
    assert_eq!(
        a.connect(now, sa("192.0.2.1:3"), sa("192.0.2.2:80")).err(),
        Some(EndpointError::TooManyConnections)
    );
    assert_eq!(
        a.connect(now, sa("192.0.2.1:1"), sa("[2001:db8::1]:80"))
            .err(),
        Some(EndpointError::AddressFamilyMismatch)
    );
}

#[test]
fn encode_into_and_raw_packets_round_trip_with_checksums() {
    let (mut a, mut b) = pair(EndpointConfig::default());
    let now = Instant::ZERO;
    let l = b.listen(None, 80, 8).unwrap();
    a.connect(now, sa("[2001:db8::1]:1000"), sa("[2001:db8::2]:80"))
        .unwrap();
    let mut buf = [0u8; 1600];
    for _ in 0..10 {
        let mut moved = false;
        while let Some(r) = a.poll_transmit_into(now, &mut buf) {
            let e = r.unwrap();
            let pkt = bytes::Bytes::copy_from_slice(&buf[..e.len]);
            b.handle_packet(now, e.src, e.dst, &pkt).unwrap();
            moved = true;
        }
        while let Some(r) = b.poll_transmit_into(now, &mut buf) {
            let e = r.unwrap();
            let pkt = bytes::Bytes::copy_from_slice(&buf[..e.len]);
            a.handle_packet(now, e.src, e.dst, &pkt).unwrap();
            moved = true;
        }
        if !moved {
            break;
        }
    }
    assert!(b.accept(l).is_some());
    // A corrupted packet is refused and counted.
    let mut bad = [0u8; 20];
    bad[12] = 5 << 4;
    assert!(
        b.handle_packet(
            now,
            ip("2001:db8::1"),
            ip("2001:db8::2"),
            &bytes::Bytes::copy_from_slice(&bad)
        )
        .is_err()
    );
    assert_eq!(b.stats().malformed, 1);
}

#[test]
fn ipv6_connections_advertise_an_mss_20_octets_smaller() {
    let mut a = Endpoint::new(EndpointConfig::default(), [1; 16]).unwrap();
    let now = Instant::ZERO;
    a.connect(now, sa("192.0.2.1:1000"), sa("192.0.2.2:80"))
        .unwrap();
    a.connect(now, sa("[2001:db8::1]:1000"), sa("[2001:db8::2]:80"))
        .unwrap();
    let mss: Vec<_> = std::iter::from_fn(|| a.poll_transmit(now))
        .map(|t| (t.dst.is_ipv6(), t.segment.options.mss))
        .collect();
    assert!(mss.contains(&(false, Some(1460))));
    assert!(mss.contains(&(true, Some(1440))));
    let mut cfg = EndpointConfig::linux();
    cfg.ipv6_mss = Some(1400);
    let mut b = Endpoint::new(cfg, [1; 16]).unwrap();
    b.connect(now, sa("[2001:db8::1]:1000"), sa("[2001:db8::2]:80"))
        .unwrap();
    assert_eq!(
        b.poll_transmit(now).unwrap().segment.options.mss,
        Some(1400)
    );
    cfg.ipv6_mss = Some(10);
    assert!(Endpoint::new(cfg, [1; 16]).is_err());
}

#[test]
fn timer_heap_stays_bounded_when_handle_timeout_is_never_called() {
    // Every SYN leaves a heap entry; completed or reset handshakes leave
    // them stale. Without a single handle_timeout the heap is still purged.
    let mut b = Endpoint::new(EndpointConfig::default(), [3; 16]).unwrap();
    b.listen(None, 80, 8).unwrap();
    let now = Instant::from_secs(1);
    for k in 0..20_000u32 {
        let src: IpAddr = std::net::Ipv4Addr::from(0x0a00_0000 | k).into();
        b.handle_segment(now, src, ip("192.0.2.2"), syn_from(4000, k, None));
        while b.poll_transmit(now).is_some() {}
        // The client resets: the half-open entry goes, its heap entry stays stale.
        let rst = Segment {
            src_port: 4000,
            dst_port: 80,
            seq: SeqNum(k.wrapping_add(1)),
            flags: Flags::RST,
            ..Segment::default()
        };
        b.handle_segment(now, src, ip("192.0.2.2"), rst);
    }
    assert_eq!(b.counts().half_open, 0);
    assert!(b.counts().timers <= 1024 + 2, "{:?}", b.counts());
}

#[test]
fn under_memory_pressure_receive_windows_shrink_and_grow_back_after() {
    let mut cfg = EndpointConfig::linux();
    cfg.buffer_budget = 40_000;
    cfg.buffer_pressure_percent = 50;
    cfg.connection.recv_buffer = 64 * 1024;
    let mut a = Endpoint::new(EndpointConfig::default(), [1; 16]).unwrap();
    let mut b = Endpoint::new(cfg, [2; 16]).unwrap();
    let now = Instant::from_secs(1);
    let l = b.listen(None, 80, 8).unwrap();
    let hog = a
        .connect(now, sa("192.0.2.1:1000"), sa("192.0.2.2:80"))
        .unwrap();
    let reader = a
        .connect(now, sa("192.0.2.1:1001"), sa("192.0.2.2:80"))
        .unwrap();
    pump(now, &mut a, &mut b);
    let s1 = b.accept(l).unwrap();
    let s2 = b.accept(l).unwrap();
    let (s_hog, s_reader) = if b.addresses(s1).unwrap().1.port() == 1000 {
        (s1, s2)
    } else {
        (s2, s1)
    };
    let mut buf = vec![0u8; 65536];
    // The reader's peer sends 3,000 octets, the application reads them all;
    // returns the window the reader advertises afterwards.
    let exchange = |a: &mut Endpoint, b: &mut Endpoint, buf: &mut Vec<u8>| {
        a.send(reader, &[5u8; 3000]).unwrap();
        pump(now, a, b);
        while b.recv(s_reader, buf).is_ok_and(|n| n > 0) {}
        pump(now, a, b);
        b.connection_ref(s_reader).unwrap().stats().rcv_wnd
    };
    let before = exchange(&mut a, &mut b, &mut buf);
    assert!(before > 40_000, "window before pressure: {before}");
    // The hog fills its buffer, unread: the endpoint is under pressure.
    a.send(hog, &[1u8; 30_000]).unwrap();
    pump(now, &mut a, &mut b);
    assert!(b.counts().buffered > 20_000, "{:?}", b.counts());
    // The window already advertised is used up, never retracted; after it,
    // the reader advertises at most four segments.
    let mut during = before;
    for _ in 0..40 {
        during = exchange(&mut a, &mut b, &mut buf);
    }
    assert!(during <= 4 * 1460, "window under pressure: {during}");
    // The hog's data is read: pressure ends, the reader's window opens again.
    while b.recv(s_hog, &mut buf).is_ok_and(|n| n > 0) {}
    let after = exchange(&mut a, &mut b, &mut buf);
    assert!(after > 40_000, "window after pressure: {after}");
}

#[test]
fn time_wait_without_a_listener_answers_a_new_syn_with_its_ack_and_stays() {
    let (mut a, _b, fin, now) = into_time_wait(EndpointConfig::default());
    // a (the client) listens on nothing; a new SYN from the server's side.
    let newer = fin.options.timestamps.unwrap().val.wrapping_add(1000);
    let mut syn = syn_from(80, fin.seq.0.wrapping_add(100_000), Some(newer));
    syn.dst_port = 4000;
    a.handle_segment(now, ip("192.0.2.2"), ip("192.0.2.1"), syn);
    assert_eq!(a.poll_transmit(now).unwrap().segment.flags, Flags::ACK);
    assert_eq!(a.counts().time_wait, 1);
}

#[test]
fn a_new_connection_config_applies_to_later_syns_and_bad_ones_are_refused() {
    let mut b = Endpoint::new(EndpointConfig::linux(), [5; 16]).unwrap();
    b.listen(None, 80, 8).unwrap();
    let now = Instant::ZERO;
    let synack_mss = |b: &mut Endpoint, port: u16| {
        b.handle_segment(
            now,
            ip("192.0.2.1"),
            ip("192.0.2.2"),
            syn_from(port, 7, None),
        );
        b.poll_transmit(now).unwrap().segment.options.mss
    };
    assert_eq!(synack_mss(&mut b, 4000), Some(1460));
    let mut cfg = b.config().connection;
    cfg.mss = 10;
    assert!(b.set_connection_config(cfg).is_err());
    cfg.mss = 536;
    b.set_connection_config(cfg).unwrap();
    assert_eq!(b.config().connection.mss, 536);
    assert_eq!(synack_mss(&mut b, 4001), Some(536));
}

#[test]
fn closing_a_closed_connection_with_unread_data_frees_it() {
    let (mut a, mut b) = pair(EndpointConfig::default());
    let now = Instant::from_secs(1);
    let lb = b.listen(None, 7, 16).unwrap();
    let ha = a
        .connect(now, sa("192.0.2.1:0"), sa("192.0.2.2:7"))
        .unwrap();
    pump(now, &mut a, &mut b);
    let hb = b.accept(lb).unwrap();
    a.send(ha, b"never read").unwrap();
    a.close(now, ha).unwrap();
    pump(now, &mut a, &mut b);
    // b half-closes in CLOSE-WAIT without reading: LAST-ACK, then CLOSED
    // with the data still unread (the application may read it yet).
    b.shutdown_write(hb).unwrap();
    pump(now, &mut a, &mut b);
    events(&mut b);
    assert_eq!(b.connection_ref(hb).map(|c| c.state()), Ok(State::Closed));
    assert_eq!(b.counts().connections, 1);
    // The application closes without reading: nothing is left to keep.
    b.close(now, hb).unwrap();
    events(&mut b);
    assert_eq!(b.counts().connections, 0);
    assert_eq!(b.counts().buffered, 0);
    assert_eq!(b.connection_ref(hb).err(), Some(EndpointError::StaleHandle));
}
