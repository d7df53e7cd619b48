//! ICMP errors at a connection (RFC 9293 §3.9.2.2): what is ignored, what
//! ends a handshake, what is only reported, and path MTU discovery (RFC
//! 1191, RFC 8201) shrinking the segments and resending the flight.
//! Sequence numbers near 2^32 throughout, so the window check wraps.

mod support;

use support::*;
use tcp_proto::{CloseReason, Event, IcmpCause, IcmpError, SeqNum, State};

const ISS: u32 = u32::MAX - 2_000;
const PEER_ISS: u32 = u32::MAX - 10;

fn unreach(cause: IcmpCause) -> IcmpError {
    IcmpError::Unreachable(cause)
}

fn too_big(mtu: u32) -> IcmpError {
    IcmpError::PacketTooBig { mtu, ipv6: false }
}

/// An established connection with `n` octets sent and not acknowledged:
/// (harness, SND.UNA, the segments that carried them).
fn with_flight(n: usize) -> (H, SeqNum, Vec<tcp_proto::Segment>) {
    let (mut h, una, _) = established_active(plain(), ISS, PEER_ISS);
    assert_eq!(h.c.send(&pattern(n, 3)).unwrap(), n);
    let out = h.drain();
    assert!(out.iter().all(|s| s.payload.len() <= 1460));
    let sent: usize = out.iter().map(|s| s.payload.len()).sum();
    assert_eq!(sent, n, "the whole write fits the initial window");
    (h, una, out)
}

#[test]
fn soft_errors_after_the_handshake_are_reported_and_never_close() {
    for cause in [
        IcmpCause::NetUnreachable,
        IcmpCause::HostUnreachable,
        IcmpCause::Prohibited,
        IcmpCause::TimeExceeded,
        IcmpCause::ParameterProblem,
    ] {
        let (mut h, una, _) = with_flight(3000);
        h.c.handle_icmp(h.now, unreach(cause), una);
        h.drain();
        assert_eq!(h.c.state(), State::Established, "{cause:?}: MUST-56");
        assert_eq!(h.events.last(), Some(&Event::Icmp(cause)), "SHLD-25");
        assert_eq!(h.c.stats().icmp_errors, 1);
    }
}

#[test]
fn hard_errors_after_the_handshake_are_reported_but_do_not_reset() {
    // RFC 5927 §5.2: a forged Port Unreachable would otherwise reset any
    // connection whose ports and sequence numbers an attacker can guess.
    for cause in [IcmpCause::PortUnreachable, IcmpCause::ProtocolUnreachable] {
        let (mut h, una, _) = with_flight(1000);
        h.c.handle_icmp(h.now, unreach(cause), una.add(500));
        h.drain();
        assert_eq!(h.c.state(), State::Established);
        assert_eq!(h.closed_event(), None);
        assert_eq!(h.count_events(Event::Icmp(cause)), 1);
        // The data still gets through once the peer answers.
        let ack = h.seg(SeqNum(PEER_ISS).add(1), Some(una.add(1000)), ACK, b"");
        h.feed(ack);
        assert_eq!(h.c.stats().bytes_in_flight, 0);
    }
}

#[test]
fn an_error_during_an_active_open_ends_it() {
    for (cause, reason) in [
        (IcmpCause::HostUnreachable, CloseReason::Unreachable),
        (IcmpCause::NetUnreachable, CloseReason::Unreachable),
        (IcmpCause::TimeExceeded, CloseReason::Unreachable),
        (IcmpCause::PortUnreachable, CloseReason::Refused),
        (IcmpCause::ProtocolUnreachable, CloseReason::Refused),
    ] {
        let (mut h, syn) = H::connect(plain(), ISS);
        h.now += ms(30);
        h.c.handle_icmp(h.now, unreach(cause), syn.seq);
        let out = h.drain();
        assert!(out.is_empty(), "no RST to an unreachable peer: {out:?}");
        assert_eq!(h.c.state(), State::Closed);
        assert_eq!(h.closed_event(), Some(reason), "{cause:?}");
        assert_eq!(h.c.close_reason(), Some(reason));
        assert_eq!(h.c.poll_timeout(), None, "no SYN retransmission left armed");
        assert!(h.c.send(b"x").is_err());
    }
}

#[test]
fn a_passive_open_returns_to_listen_when_its_syn_ack_cannot_reach_the_client() {
    // The rule of the Endpoint's SYN queue (Linux's tcp_req_err): an error
    // quoting the SYN-ACK that says the client is unreachable ends the
    // half-open connection; others are only reported.
    for (cause, back) in [
        (IcmpCause::HostUnreachable, true),
        (IcmpCause::NetUnreachable, true),
        (IcmpCause::TimeExceeded, true),
        (IcmpCause::PortUnreachable, true),
        (IcmpCause::Prohibited, false),
    ] {
        let mut h = H::listen(plain(), ISS);
        let out = h.feed(syn_from(LOCAL, REMOTE, PEER_ISS, Some(1460)));
        assert_eq!(out[0].flags, SYN | ACK);
        let synack = out[0].seq;
        // Quoting anything else (here SND.NXT) never ends it.
        h.c.handle_icmp(h.now, unreach(cause), synack.add(1));
        h.drain();
        assert_eq!(h.c.state(), State::SynReceived);
        h.c.handle_icmp(h.now, unreach(cause), synack);
        h.drain();
        let want = if back {
            State::Listen
        } else {
            State::SynReceived
        };
        assert_eq!(h.c.state(), want, "{cause:?}");
        assert_eq!(h.closed_event(), None);
        assert_eq!(h.count_events(Event::Icmp(cause)), if back { 1 } else { 2 });
    }
}

#[test]
fn icmp_quoting_a_sequence_number_not_in_flight_is_ignored_and_counted() {
    let (mut h, una, _) = with_flight(3000);
    let nxt = una.add(3000);
    // Below SND.UNA, and beyond SND.NXT: nobody who saw our segments.
    for seq in [una.sub(1), nxt.add(1), una.add(1 << 31)] {
        h.c.handle_icmp(h.now, unreach(IcmpCause::PortUnreachable), seq);
        h.c.handle_icmp(h.now, too_big(576), seq);
    }
    h.drain();
    let st = h.c.stats();
    assert_eq!((st.icmp_errors, st.icmp_ignored), (0, 6));
    assert_eq!(st.snd_mss, 1460);
    assert!(!h.events.iter().any(|e| matches!(e, Event::Icmp(_))));
    // SND.NXT itself is in range (a pure ACK we sent carries it).
    h.c.handle_icmp(h.now, unreach(IcmpCause::TimeExceeded), nxt);
    assert_eq!(h.c.stats().icmp_errors, 1);
}

#[test]
fn source_quench_is_silently_discarded() {
    let (mut h, una, _) = with_flight(3000);
    let before = h.c.stats();
    h.c.handle_icmp(h.now, IcmpError::SourceQuench, una);
    let out = h.drain();
    let after = h.c.stats();
    assert!(out.is_empty());
    assert_eq!(
        (after.cwnd, after.ssthresh),
        (before.cwnd, before.ssthresh),
        "MUST-55"
    );
    assert_eq!((after.icmp_errors, after.icmp_ignored), (0, 1));
}

#[test]
fn closed_listen_and_time_wait_ignore_icmp() {
    let mut l = H::listen(plain(), ISS);
    l.c.handle_icmp(l.now, unreach(IcmpCause::PortUnreachable), SeqNum(ISS));
    assert_eq!(l.c.state(), State::Listen);
    assert_eq!(l.c.stats().icmp_ignored, 1);

    // Active close, the peer's FIN: TIME-WAIT.
    let (mut h, nxt, rcv) = established_active(plain(), ISS, PEER_ISS);
    h.c.close(h.now).unwrap();
    let fin = h.drain();
    assert!(fin[0].flags.fin());
    let finack = h.seg(rcv, Some(nxt.add(1)), FIN, b"");
    h.feed(finack);
    assert_eq!(h.c.state(), State::TimeWait);
    h.c.handle_icmp(h.now, unreach(IcmpCause::PortUnreachable), nxt.add(1));
    assert_eq!(h.c.state(), State::TimeWait);
    assert_eq!(h.c.stats().icmp_ignored, 1);
}

#[test]
fn packet_too_big_shrinks_the_segments_and_resends_the_flight_at_the_new_size() {
    let (mut h, una, first) = with_flight(8 * 1460);
    let before = h.c.stats();
    // A path MTU of 1200: 1200 - 20 (IPv4) - 20 (TCP) = 1160 octets.
    h.now += ms(5);
    h.c.handle_icmp(h.now, too_big(1200), first[0].seq);
    let resent = h.drain();
    let st = h.c.stats();
    assert_eq!(st.snd_mss, 1160);
    assert_eq!(
        (st.cwnd, st.ssthresh),
        (before.cwnd, before.ssthresh),
        "no congestion response"
    );
    assert_eq!(st.icmp_errors, 1);
    // Go-back-N from SND.UNA, every segment at most 1160, in order, as far
    // as the window allows: the whole flight here.
    assert!(!resent.is_empty());
    assert_eq!(resent[0].seq, una);
    let mut at = una;
    for s in &resent {
        assert!(s.payload.len() <= 1160, "{} octets", s.payload.len());
        assert_eq!(s.seq, at);
        at = at.add(s.payload.len() as u32);
    }
    assert_eq!(at, una.add(8 * 1460), "the flight resent");
    // New data goes out at the new size too.
    h.c.send(&pattern(5000, 9)).unwrap();
    let ack = h.seg(SeqNum(PEER_ISS).add(1), Some(una.add(8 * 1460)), ACK, b"");
    let out = h.feed(ack);
    assert!(!out.is_empty());
    assert!(out.iter().all(|s| s.payload.len() <= 1160));
}

#[test]
fn packet_too_big_never_raises_the_mss_nor_lowers_it_below_the_floor() {
    let (mut h, una, _) = with_flight(3000);
    h.c.handle_icmp(h.now, too_big(9000), una);
    assert_eq!(h.c.stats().snd_mss, 1460, "a larger MTU is ignored");
    assert_eq!(h.c.stats().icmp_ignored, 1);
    // A forged MTU of 68 (RFC 1191's minimum) only brings IPv4 to 552.
    h.c.handle_icmp(h.now, too_big(68), una);
    assert_eq!(h.c.stats().snd_mss, 552 - 40);
    // IPv6 never goes below 1280.
    let (mut h6, una6, _) = with_flight(3000);
    h6.c.handle_icmp(
        h6.now,
        IcmpError::PacketTooBig {
            mtu: 600,
            ipv6: true,
        },
        una6,
    );
    assert_eq!(h6.c.stats().snd_mss, 1280 - 60);
}

#[test]
fn packet_too_big_leaves_room_for_the_timestamp_option() {
    let mut cfg = plain();
    cfg.timestamps = true;
    let (mut h, syn) = H::connect(cfg, ISS);
    let mut sa = h.seg(SeqNum(PEER_ISS), Some(syn.seq.add(1)), SYN, b"");
    sa.options.mss = Some(1460);
    sa.options.timestamps = Some(tcp_proto::wire::Timestamps { val: 7, ecr: 1 });
    h.feed(sa);
    assert_eq!(h.c.state(), State::Established);
    assert_eq!(h.c.stats().snd_mss, 1448);
    h.c.send(&pattern(4000, 1)).unwrap();
    h.drain();
    h.c.handle_icmp(h.now, too_big(1400), syn.seq.add(1));
    // 1400 - 20 - 20 - 12.
    assert_eq!(h.c.stats().snd_mss, 1348);
}

#[test]
fn packet_too_big_before_the_handshake_ends_is_ignored() {
    let (mut h, syn) = H::connect(plain(), ISS);
    h.c.handle_icmp(h.now, too_big(600), syn.seq);
    assert_eq!(h.c.state(), State::SynSent);
    assert_eq!(h.c.stats().icmp_ignored, 1);
    let mut sa = h.seg(SeqNum(PEER_ISS), Some(syn.seq.add(1)), SYN, b"");
    sa.options.mss = Some(1460);
    h.feed(sa);
    assert_eq!(h.c.stats().snd_mss, 1460);
}

#[test]
fn a_lossless_transfer_through_a_smaller_path_mtu_completes_intact() {
    // Two connections back to back; the "path" drops every segment whose
    // IPv4 packet is over 1000 octets and answers its sender with a
    // Fragmentation Needed, as a router would (RFC 1191).
    const MTU: usize = 1000;
    let (mut a, syn) = H::connect(plain(), ISS);
    let mut b = H::listen(plain(), PEER_ISS);
    let sa = b.feed(syn);
    for s in sa {
        a.c.handle_segment(a.now, s);
    }
    exchange(&mut a, &mut b);
    assert_eq!(
        (a.c.state(), b.c.state()),
        (State::Established, State::Established)
    );
    let data = pattern(200_000, 5);
    let mut sent = 0;
    let mut drops = 0;
    for _ in 0..20_000 {
        if sent < data.len() {
            sent += a.c.send(&data[sent..]).unwrap_or(0);
        }
        let from_a = a.drain();
        for s in from_a {
            if 20 + s.encoded_len().unwrap() > MTU {
                drops += 1;
                a.c.handle_icmp(a.now, too_big(MTU as u32), s.seq);
            } else {
                b.c.handle_segment(b.now, s);
            }
        }
        b.read_all();
        for s in b.drain() {
            a.c.handle_segment(a.now, s);
        }
        if b.read.len() == data.len() {
            break;
        }
        a.now += ms(1);
        b.now = a.now;
        // Timers run; what they send goes out on the next pass.
        for h in [&mut a, &mut b] {
            if h.c.poll_timeout().is_some_and(|t| t <= h.now) {
                h.c.handle_timeout(h.now);
            }
        }
    }
    assert_eq!(b.read.len(), data.len(), "transfer completed");
    assert!(b.read == data, "every octet intact, in order");
    assert!(drops > 0, "the path did drop the first segments");
    assert_eq!(a.c.stats().snd_mss, (MTU - 40) as u32);
    assert_eq!(
        a.c.stats().rto_expirations,
        0,
        "recovered without a timeout"
    );
}

#[test]
fn host_unreachable_about_a_backed_off_retransmission_undoes_one_doubling() {
    // RFC 6069: the path is down, not congested.
    let (mut h, una, _) = with_flight(1000);
    let rto = h.c.stats().rto;
    // Two timeouts: the RTO is now 4x, due 4·RTO after the second resend.
    let (t1, out1) = h.fire().unwrap();
    assert_eq!(out1[0].seq, una);
    let (t2, out2) = h.fire().unwrap();
    assert_eq!(out2[0].seq, una);
    assert_eq!(t2 - t1, 2 * rto);
    assert_eq!(h.c.poll_timeout(), Some(t2 + 4 * rto));
    // Not about SND.UNA: nothing changes.
    h.c.handle_icmp(h.now, unreach(IcmpCause::HostUnreachable), una.add(1));
    assert_eq!(h.c.poll_timeout(), Some(t2 + 4 * rto));
    // About it: the timer comes back to 2·RTO after the last resend.
    h.now += rto;
    h.c.handle_icmp(h.now, unreach(IcmpCause::HostUnreachable), una);
    assert_eq!(h.c.poll_timeout(), Some(t2 + 2 * rto));
    assert_eq!(h.c.state(), State::Established);
    // Once more, an RTO after that: 1·RTO from t2 has passed, so the
    // retransmission goes now (and backs off again).
    h.now += rto + ms(1);
    h.c.handle_icmp(h.now, unreach(IcmpCause::NetUnreachable), una);
    let out = h.drain();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].seq, una, "resent at once");
    assert_eq!(h.c.poll_timeout(), Some(h.now + 2 * rto));
    // A Port Unreachable never reverts.
    let before = h.c.poll_timeout();
    h.c.handle_icmp(h.now, unreach(IcmpCause::PortUnreachable), una);
    assert_eq!(h.c.poll_timeout(), before);
}
