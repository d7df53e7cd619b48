//! ECN (RFC 3168) through the `Endpoint`: negotiated on passive opens
//! whether the handshake goes through the SYN queue or a SYN cookie, and
//! the IP ECN bits carried both ways by `handle_segment_ecn` and
//! `transmit_ecn`.

use std::net::SocketAddr;
use tcp_proto::endpoint::{Endpoint, EndpointConfig, SynCookies};
use tcp_proto::{Ecn, EcnMode, Flags, Instant, Segment};

/// Moves segments both ways until quiet, each with the ECN codepoint its
/// sender asked for, turned into CE by `mark`; returns (a → b, segment, ecn).
fn pump(
    now: Instant,
    a: &mut Endpoint,
    b: &mut Endpoint,
    mut mark: impl FnMut(&Segment, Ecn) -> Ecn,
) -> Vec<(bool, Segment, Ecn)> {
    let mut moved = Vec::new();
    for _ in 0..10_000 {
        let mut any = false;
        while let Some(t) = a.poll_transmit(now) {
            let e = a.transmit_ecn();
            moved.push((true, t.segment.clone(), e));
            let e = mark(&t.segment, e);
            b.handle_segment_ecn(now, t.src, t.dst, t.segment, e);
            any = true;
        }
        while let Some(t) = b.poll_transmit(now) {
            let e = b.transmit_ecn();
            moved.push((false, t.segment.clone(), e));
            a.handle_segment_ecn(now, t.src, t.dst, t.segment, e);
            any = true;
        }
        if !any {
            return moved;
        }
    }
    panic!("pump did not settle");
}

fn negotiated_through(cookies: SynCookies) {
    let mut client_cfg = EndpointConfig::default();
    client_cfg.connection.ecn = EcnMode::On;
    // linux(): accepts ECN.
    let server_cfg = EndpointConfig {
        syn_cookies: cookies,
        ..EndpointConfig::default()
    };
    let mut a = Endpoint::new(client_cfg, [1; 16]).unwrap();
    let mut b = Endpoint::new(server_cfg, [2; 16]).unwrap();
    let now = Instant::from_secs(1);
    let l = b.listen(None, 80, 16).unwrap();
    let sa: SocketAddr = "192.0.2.1:0".parse().unwrap();
    let sb: SocketAddr = "192.0.2.2:80".parse().unwrap();
    let c = a.connect(now, sa, sb).unwrap();
    let moved = pump(now, &mut a, &mut b, |_, e| e);
    let synack = moved
        .iter()
        .find(|(ab, s, _)| !ab && s.flags.syn())
        .expect("SYN-ACK");
    assert!(
        synack.1.flags.contains(Flags::ECE),
        "{cookies:?}: {:?}",
        synack.1
    );
    assert!(!synack.1.flags.contains(Flags::CWR));
    assert_eq!(synack.2, Ecn::NotEct);
    let s = b.accept(l).expect("accepted");
    let via_cookie = u64::from(cookies == SynCookies::Always);
    assert_eq!(b.stats().cookies_accepted, via_cookie, "{cookies:?}");
    assert!(a.connection_ref(c).unwrap().ecn_enabled());
    assert!(b.connection_ref(s).unwrap().ecn_enabled(), "{cookies:?}");
    // Data goes out ECT(0); a CE mark on the way comes back as ECE.
    b.send(s, &[5u8; 3000]).unwrap();
    let mut marked = false;
    let moved = pump(now, &mut b, &mut a, |seg, e| {
        if !seg.payload.is_empty() && !marked {
            assert_eq!(e, Ecn::Ect0);
            marked = true;
            Ecn::Ce
        } else {
            e
        }
    });
    assert!(marked);
    assert!(
        moved
            .iter()
            .all(|(_, s, e)| (*e == Ecn::Ect0) != s.payload.is_empty())
    );
    assert!(
        moved
            .iter()
            .any(|(ab, s, _)| !ab && s.flags.contains(Flags::ECE)),
        "the client echoed the mark: {moved:?}"
    );
    assert_eq!(b.connection_ref(s).unwrap().stats().ecn_reductions, 1);
}

#[test]
fn ecn_is_negotiated_through_the_syn_queue() {
    negotiated_through(SynCookies::Off);
}

#[test]
fn ecn_is_negotiated_through_a_syn_cookie() {
    negotiated_through(SynCookies::Always);
}

#[test]
fn endpoint_without_the_ecn_bits_still_works_and_never_marks() {
    // Callers of handle_segment/poll_transmit alone: linux() does not ask,
    // so nothing is negotiated and every codepoint stays Not-ECT.
    let mut a = Endpoint::new(EndpointConfig::default(), [1; 16]).unwrap();
    let mut b = Endpoint::new(EndpointConfig::default(), [2; 16]).unwrap();
    let now = Instant::from_secs(1);
    let l = b.listen(None, 80, 16).unwrap();
    let c = a
        .connect(
            now,
            "192.0.2.1:0".parse().unwrap(),
            "192.0.2.2:80".parse().unwrap(),
        )
        .unwrap();
    pump(now, &mut a, &mut b, |_, e| e);
    let s = b.accept(l).unwrap();
    a.send(c, &[1u8; 5000]).unwrap();
    let moved = pump(now, &mut a, &mut b, |_, e| e);
    assert!(moved.iter().all(|(_, seg, e)| *e == Ecn::NotEct
        && !seg.flags.contains(Flags::ECE)
        && !seg.flags.contains(Flags::CWR)));
    assert!(!b.connection_ref(s).unwrap().ecn_enabled());
}
