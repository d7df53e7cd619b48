//! Resets and their defences: RFC 9293 §3.10.7 per state with RFC 5961
//! (exact-match RST, challenge ACKs, the ACK-range check, the rate limit),
//! the RST forms of §3.10.7.1, and the give-up timers.

mod support;

use std::time::Duration;
use support::*;
use tcp_proto::{CloseReason, Segment, SeqNum, State};

const ISS: u32 = 1000;
const PEER_ISS: u32 = 5000;
const WRAP_ISS: u32 = u32::MAX - 999;
const WRAP_PEER_ISS: u32 = u32::MAX - 10;

/// States where a RST is checked against RCV.NXT.
const SYNCHRONIZED_AND_SYN_RECEIVED: [State; 8] = [
    State::SynReceived,
    State::Established,
    State::FinWait1,
    State::FinWait2,
    State::CloseWait,
    State::Closing,
    State::LastAck,
    State::TimeWait,
];

/// A connection driven into `state` through segments: (harness, SND.NXT, RCV.NXT).
fn reach(state: State, iss: u32, peer_iss: u32) -> (H, SeqNum, SeqNum) {
    if state == State::SynReceived {
        // Simultaneous open: origin active, so a RST closes (no listener to return to).
        let (mut h, _) = H::connect(plain(), iss);
        h.feed(syn_from(REMOTE, LOCAL, peer_iss, Some(1460)));
        assert_eq!(h.c.state(), State::SynReceived);
        return (h, SeqNum(iss).add(1), SeqNum(peer_iss).add(1));
    }
    let (mut h, snd, rcv) = established_active(plain(), iss, peer_iss);
    let close = |h: &mut H| {
        let now = h.now;
        h.c.close(now).unwrap();
        h.drain();
    };
    let r = match state {
        State::Established => (snd, rcv),
        State::FinWait1 => {
            close(&mut h);
            (snd.add(1), rcv)
        }
        State::FinWait2 => {
            close(&mut h);
            h.feed(h.seg(rcv, Some(snd.add(1)), ACK, b""));
            (snd.add(1), rcv)
        }
        State::CloseWait => {
            h.feed(h.seg(rcv, Some(snd), FIN, b""));
            (snd, rcv.add(1))
        }
        State::Closing => {
            close(&mut h);
            h.feed(h.seg(rcv, Some(snd), FIN, b""));
            (snd.add(1), rcv.add(1))
        }
        State::LastAck => {
            h.feed(h.seg(rcv, Some(snd), FIN, b""));
            close(&mut h);
            (snd.add(1), rcv.add(1))
        }
        State::TimeWait => {
            close(&mut h);
            h.feed(h.seg(rcv, Some(snd.add(1)), FIN, b""));
            (snd.add(1), rcv.add(1))
        }
        s => panic!("reach({s}) not supported"),
    };
    assert_eq!(h.c.state(), state);
    (h, r.0, r.1)
}

fn rst(h: &H, seq: SeqNum) -> Segment {
    h.seg(seq, None, RST, b"")
}

fn assert_challenge_ack(out: &[Segment], snd: SeqNum, rcv: SeqNum, what: &str) {
    assert_eq!(out.len(), 1, "{what}: one challenge ACK: {out:?}");
    assert_eq!(out[0].flags, ACK, "{what}");
    assert_eq!(
        (out[0].seq, out[0].ack),
        (snd, rcv),
        "{what}: <SEQ=SND.NXT><ACK=RCV.NXT>"
    );
}

fn rst_rules_in_every_state(iss: u32, peer_iss: u32) {
    for state in SYNCHRONIZED_AND_SYN_RECEIVED {
        // In the window but not at RCV.NXT: challenge ACK, state unchanged.
        let (mut h, snd, rcv) = reach(state, iss, peer_iss);
        let out = h.feed(rst(&h, rcv.add(100)));
        assert_challenge_ack(&out, snd, rcv, &format!("{state}, in-window RST"));
        assert_eq!(h.c.state(), state);
        assert_eq!(h.c.stats().challenge_acks, 1);
        // Outside the window: dropped silently.
        for seq in [rcv.sub(1), rcv.sub(70_000), rcv.add(1 << 30)] {
            let out = h.feed(rst(&h, seq));
            assert!(
                out.is_empty(),
                "{state}: out-of-window RST {seq:?} ignored: {out:?}"
            );
            assert_eq!(h.c.state(), state);
        }
        // Exactly RCV.NXT: the connection is reset.
        let out = h.feed(rst(&h, rcv));
        assert!(out.is_empty(), "{state}: no reply to a RST: {out:?}");
        assert_eq!(h.c.state(), State::Closed, "{state}: exact RST");
        let want = match state {
            State::SynReceived => CloseReason::Refused, // R3: origin active
            // Both FINs were acknowledged: the RST only ends 2·MSL early.
            State::TimeWait => CloseReason::Normal,
            _ => CloseReason::Reset,
        };
        assert_eq!(h.closed_event(), Some(want), "{state}");
    }
}

#[test]
fn rst_must_hit_rcv_nxt_exactly_in_every_state() {
    rst_rules_in_every_state(ISS, PEER_ISS);
}

#[test]
fn rst_must_hit_rcv_nxt_exactly_across_the_sequence_wrap() {
    rst_rules_in_every_state(WRAP_ISS, WRAP_PEER_ISS);
}

#[test]
fn rst_with_ack_is_judged_by_its_sequence_number_too() {
    let (mut h, snd, rcv) = reach(State::Established, ISS, PEER_ISS);
    let out = h.feed(h.seg(rcv.add(5), Some(snd), RST, b""));
    assert_challenge_ack(&out, snd, rcv, "in-window RST+ACK");
    h.feed(h.seg(rcv, Some(snd), RST, b""));
    assert_eq!(h.closed_event(), Some(CloseReason::Reset));
}

#[test]
fn rfc1337_keeps_time_wait_on_an_exact_rst() {
    let mut cfg = plain();
    cfg.rfc1337 = true;
    let (mut h, snd, rcv) = established_active(cfg, ISS, PEER_ISS);
    let now = h.now;
    h.c.close(now).unwrap();
    h.drain();
    h.feed(h.seg(rcv, Some(snd.add(1)), FIN, b""));
    assert_eq!(h.c.state(), State::TimeWait);
    let out = h.feed(rst(&h, rcv.add(1)));
    assert!(out.is_empty());
    assert_eq!(h.c.state(), State::TimeWait);
}

#[test]
fn syn_in_established_gets_a_challenge_ack_whatever_its_seq() {
    for (iss, piss) in [(ISS, PEER_ISS), (WRAP_ISS, WRAP_PEER_ISS)] {
        for off in [0u32, 10, 1 << 20, u32::MAX - 5] {
            let (mut h, snd, rcv) = reach(State::Established, iss, piss);
            let out = h.feed(h.seg(rcv.add(off), None, SYN, b""));
            assert!(
                out.iter().all(|s| !s.flags.rst() && !s.flags.syn()),
                "{out:?}"
            );
            assert_eq!(out.len(), 1, "SYN at +{off}: {out:?}");
            assert_eq!((out[0].flags, out[0].seq, out[0].ack), (ACK, snd, rcv));
            assert_eq!(h.c.state(), State::Established);
        }
    }
}

#[test]
fn old_duplicate_syn_in_time_wait_is_challenged_not_accepted() {
    // RFC 6191: a SYN at or below RCV.NXT (no timestamps) may be an old
    // duplicate: it is challenged and TIME-WAIT goes on.
    let (mut h, snd, rcv) = reach(State::TimeWait, ISS, PEER_ISS);
    let out = h.feed(h.seg(rcv.sub(10), None, SYN, b""));
    assert_challenge_ack(&out, snd, rcv, "SYN in TIME-WAIT");
    assert_eq!(h.c.state(), State::TimeWait);
}

#[test]
fn ack_of_unsent_data_drops_its_data_acked_per_config() {
    // Linux (the default): in ESTABLISHED the segment is dropped silently.
    let (mut h, snd, rcv) = reach(State::Established, ISS, PEER_ISS);
    let out = h.feed(h.seg(rcv, Some(snd.add(10)), PSH, b"injected"));
    assert!(out.is_empty(), "{out:?}");
    assert!(!h.read_all());
    assert!(
        h.read.is_empty(),
        "data with an ACK beyond SND.NXT is not delivered"
    );
    assert_eq!(h.c.stats().bytes_received, 0);
    assert_eq!(h.c.stats().dropped_bad_ack, 1);
    // In other states it draws an ACK (RFC 9293 §3.10.7.4).
    let (mut h, snd, rcv) = reach(State::CloseWait, ISS, PEER_ISS);
    let out = h.feed(h.seg(rcv, Some(snd.add(10)), ACK, b""));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].flags, out[0].seq, out[0].ack), (ACK, snd, rcv));
    // The RFC's answer in ESTABLISHED too when the Linux habit is off.
    let mut cfg = plain();
    cfg.drop_ack_of_unsent_silently = false;
    let (mut h, snd, rcv) = established_active(cfg, ISS, PEER_ISS);
    let out = h.feed(h.seg(rcv, Some(snd.add(10)), PSH, b"injected"));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].flags, out[0].seq, out[0].ack), (ACK, snd, rcv));
    assert!(!h.read_all());
    assert!(h.read.is_empty());
}

fn ack_below_max_window_is_challenged(iss: u32, peer_iss: u32) {
    let (mut h, snd, rcv) = reach(State::Established, iss, peer_iss);
    // Move SND.UNA well past the ISS so that old ACKs exist.
    let data = pattern(100_000, 1);
    let mut una = snd;
    let mut off = 0;
    for _ in 0..10_000 {
        if una == snd.add(100_000) {
            break;
        }
        off += h.c.send(&data[off..]).unwrap_or(0);
        let mut out = h.drain();
        loop {
            let mut top = una;
            for s in &out {
                let end = s.seq.add(s.payload.len() as u32);
                if end.gt(top) {
                    top = end;
                }
            }
            if top == una {
                break;
            }
            una = top;
            out = h.feed(h.seg(rcv, Some(una), ACK, b""));
        }
    }
    assert_eq!(una, snd.add(100_000));
    let max_wnd = 65535u32; // the peer's largest window (unscaled)
    // Below SND.UNA − MAX.SND.WND: challenge ACK, data not delivered.
    let out = h.feed(h.seg(rcv, Some(una.sub(max_wnd + 1)), PSH, b"blind"));
    assert_challenge_ack(&out, una, rcv, "ACK below the range");
    assert_eq!(h.c.stats().bytes_received, 0);
    assert_eq!(h.c.stats().challenge_acks, 1);
    // At the lower bound: acceptable (an old duplicate), the data is delivered.
    h.feed(h.seg(rcv, Some(una.sub(max_wnd)), PSH, b"old ack"));
    h.read_all();
    assert_eq!(h.read, b"old ack");
    assert_eq!(h.c.state(), State::Established);
}

#[test]
fn ack_below_snd_una_minus_max_snd_wnd_is_challenged_and_its_data_dropped() {
    ack_below_max_window_is_challenged(ISS, PEER_ISS);
}

#[test]
fn ack_range_check_across_the_sequence_wrap() {
    ack_below_max_window_is_challenged(WRAP_ISS, WRAP_PEER_ISS);
}

#[test]
fn challenge_acks_are_rate_limited_per_connection() {
    let (mut h, snd, rcv) = reach(State::Established, ISS, PEER_ISS);
    let limit = h.c.config().challenge_ack_limit;
    assert_eq!(limit, 100);
    let mut acks = 0;
    for i in 0..1000u32 {
        h.now += Duration::from_micros(500); // 1000 RSTs within half a second
        let out = h.feed(rst(&h, rcv.add(1 + i)));
        assert!(out.iter().all(|s| s.flags == ACK));
        acks += out.len();
    }
    assert_eq!(acks, limit as usize, "the flood draws at most the limit");
    let st = h.c.stats();
    assert_eq!(
        (st.challenge_acks, st.challenge_acks_suppressed),
        (100, 900)
    );
    assert_eq!(h.c.state(), State::Established);
    // A second later the budget is back.
    h.now += Duration::from_secs(1);
    let out = h.feed(rst(&h, rcv.add(7)));
    assert_challenge_ack(&out, snd, rcv, "after the limit window");
    // A second connection has its own budget.
    let (mut g, snd2, rcv2) = reach(State::Established, ISS + 1, PEER_ISS + 1);
    let out = g.feed(rst(&g, rcv2.add(3)));
    assert_challenge_ack(&out, snd2, rcv2, "another connection");
}

/// RSTs of every shape: exact, in window, out of window, with and without
/// ACK (good and bad), with data, with SYN and FIN.
fn assorted_rsts(h: &H, snd: SeqNum, rcv: SeqNum) -> Vec<Segment> {
    let mut v = Vec::new();
    for seq in [
        rcv.add(1),
        rcv.add(50_000),
        rcv.sub(1),
        rcv.add(1 << 31),
        SeqNum(0),
    ] {
        for ack in [None, Some(snd), Some(snd.add(1000)), Some(snd.sub(100_000))] {
            v.push(h.seg(seq, ack, RST, b""));
            v.push(h.seg(seq, ack, RST, b"payload"));
            v.push(h.seg(seq, ack, RST | SYN, b""));
            v.push(h.seg(seq, ack, RST | FIN, b""));
        }
    }
    // Exact, last: it may close the connection (then CLOSED sees the rest).
    v.push(h.seg(rcv, Some(snd), RST, b""));
    v.push(h.seg(rcv, None, RST, b"x"));
    v
}

#[test]
fn a_rst_is_never_answered_with_a_rst_in_any_state() {
    let check = |mut h: H, snd: SeqNum, rcv: SeqNum, name: &str| {
        for s in assorted_rsts(&h, snd, rcv) {
            let out = h.feed(s.clone());
            assert!(
                out.iter().all(|o| !o.flags.rst()),
                "{name}: RST answered with a RST: {s:?} -> {out:?}"
            );
        }
    };
    for state in SYNCHRONIZED_AND_SYN_RECEIVED {
        let (h, snd, rcv) = reach(state, ISS, PEER_ISS);
        check(h, snd, rcv, state.name());
    }
    // LISTEN (one-shot and via accept's passive SYN-RECEIVED).
    let h = H::listen(plain(), ISS);
    let mut rs = assorted_rsts(&h, SeqNum(ISS), SeqNum(PEER_ISS));
    for s in &mut rs {
        s.src_port = LOCAL;
        s.dst_port = REMOTE;
    }
    let mut h = h;
    for s in rs {
        let out = h.feed(s);
        assert!(out.is_empty(), "LISTEN ignores RSTs: {out:?}");
        assert_eq!(h.c.state(), State::Listen);
    }
    let mut h = H::listen(plain(), ISS);
    h.feed(syn_from(LOCAL, REMOTE, PEER_ISS, Some(1460)));
    check(
        h,
        SeqNum(ISS + 1),
        SeqNum(PEER_ISS + 1),
        "passive SYN-RECEIVED",
    );
    // SYN-SENT.
    let (h, _) = H::connect(plain(), ISS);
    check(h, SeqNum(ISS + 1), SeqNum(PEER_ISS), "SYN-SENT");
    // CLOSED (an aborted connection).
    let (mut h, snd, rcv) = established_active(plain(), ISS, PEER_ISS);
    h.c.abort();
    h.drain();
    assert_eq!(h.c.state(), State::Closed);
    check(h, snd, rcv, "CLOSED");
}

#[test]
fn syn_sent_ignores_a_rst_without_an_acceptable_ack() {
    let (mut h, _) = H::connect(plain(), ISS);
    for ack in [None, Some(SeqNum(ISS)), Some(SeqNum(ISS + 2))] {
        let out = h.feed(h.seg(SeqNum(PEER_ISS), ack, RST, b""));
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(h.c.state(), State::SynSent);
    }
    h.feed(h.seg(SeqNum(0), Some(SeqNum(ISS + 1)), RST, b""));
    assert_eq!(h.closed_event(), Some(CloseReason::Refused));
}

/// A connection in CLOSED that still knows its ports (a reset connection).
fn closed_conn() -> H {
    let (mut h, _) = H::connect(plain(), ISS);
    h.feed(h.seg(SeqNum(0), Some(SeqNum(ISS + 1)), RST, b""));
    assert_eq!(h.c.state(), State::Closed);
    h
}

#[test]
fn closed_answers_with_seq_seg_ack_rst_when_the_segment_has_ack() {
    let mut h = closed_conn();
    let out = h.feed(h.seg(SeqNum(777), Some(SeqNum(123_456)), PSH, b"data"));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].flags, RST, "<SEQ=SEG.ACK><CTL=RST>");
    assert_eq!(out[0].seq, SeqNum(123_456));
    assert_eq!((out[0].src_port, out[0].dst_port), (LOCAL, REMOTE));
}

#[test]
fn closed_answers_with_rst_ack_covering_seg_len_when_the_segment_has_no_ack() {
    let mut h = closed_conn();
    for (flags, data, len) in [
        (SYN, &b""[..], 1u32),
        (SYN, &b"0123456789"[..], 11),
        (SYN | FIN, &b"0123456789"[..], 12),
        (FIN, &b""[..], 1),
        (PSH, &b"abc"[..], 3),
    ] {
        let seq = SeqNum(u32::MAX - 4);
        let out = h.feed(h.seg(seq, None, flags, data));
        assert_eq!(out.len(), 1, "{flags:?}");
        assert_eq!(
            out[0].flags,
            RST | ACK,
            "<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>"
        );
        assert_eq!(out[0].seq, SeqNum(0));
        assert_eq!(
            out[0].ack,
            seq.add(len),
            "SEG.LEN counts SYN and FIN: {flags:?}"
        );
    }
    let out = h.feed(h.seg(SeqNum(5), None, RST, b""));
    assert!(out.is_empty(), "never answer a RST");
}

#[test]
fn listen_answers_an_ack_with_seq_seg_ack_rst_and_drops_the_rest() {
    let mut h = H::listen(plain(), ISS);
    let mut s = h.seg(SeqNum(42), Some(SeqNum(9999)), PSH, b"hello");
    s.src_port = LOCAL;
    let out = h.feed(s);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags, out[0].seq), (RST, SeqNum(9999)));
    assert_eq!(out[0].dst_port, LOCAL);
    assert_eq!(h.c.state(), State::Listen);
    // A segment with neither SYN, ACK nor RST: dropped (L4).
    let mut s = h.seg(SeqNum(42), None, PSH, b"hello");
    s.src_port = LOCAL;
    assert!(h.feed(s).is_empty());
    assert_eq!(h.c.state(), State::Listen);
}

#[test]
fn in_window_ack_in_syn_received_that_is_unacceptable_draws_a_rst() {
    let mut h = H::listen(plain(), ISS);
    h.feed(syn_from(LOCAL, REMOTE, PEER_ISS, Some(1460)));
    let out = h.feed(h.seg(SeqNum(PEER_ISS + 1), Some(SeqNum(ISS + 50)), ACK, b""));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        (out[0].flags, out[0].seq),
        (RST, SeqNum(ISS + 50)),
        "R10: RST(a)"
    );
    assert_eq!(h.c.state(), State::SynReceived);
}

#[test]
fn user_timeout_closes_with_timed_out_at_the_timeout() {
    let mut cfg = plain();
    cfg.user_timeout = Some(Duration::from_secs(5));
    let (mut h, _, _) = established_active(cfg, ISS, PEER_ISS);
    // Idle for longer than the user timeout first: idleness is not a failure.
    h.advance(Duration::from_secs(20));
    let sent_at = h.now;
    h.c.send(b"never acked").unwrap();
    h.drain();
    let (t, out) = h.fire().unwrap();
    assert!(!out.is_empty(), "the first RTO retransmits");
    assert!(t - sent_at < Duration::from_secs(1));
    assert_eq!(h.c.state(), State::Established);
    while h.c.state() != State::Closed {
        h.fire()
            .expect("a timer is armed until the connection gives up");
    }
    assert_eq!(h.closed_event(), Some(CloseReason::TimedOut));
    let took = h.now - sent_at;
    assert!(
        took >= Duration::from_secs(5) && took <= Duration::from_millis(5001),
        "gave up after {took:?}, not at the 5 s user timeout"
    );
    assert!(h.c.stats().rto_expirations < u64::from(h.c.config().max_retries));
}

#[test]
fn data_retransmission_gives_up_after_max_retries() {
    let mut cfg = plain();
    cfg.max_retries = 4;
    let (mut h, snd, _) = established_active(cfg, ISS, PEER_ISS);
    h.c.send(b"lost forever").unwrap();
    h.drain();
    let mut rtx = 0;
    while let Some((_, out)) = h.fire() {
        for s in &out {
            assert_eq!(s.seq, snd);
            rtx += 1;
        }
        if h.c.state() == State::Closed {
            break;
        }
    }
    assert_eq!(rtx, 4, "max_retries retransmissions, then give up");
    assert_eq!(h.closed_event(), Some(CloseReason::TimedOut));
    assert!(matches!(
        h.c.send(b"x"),
        Err(tcp_proto::Error::Closed(CloseReason::TimedOut))
    ));
}

#[test]
fn abort_sends_rst_with_snd_nxt() {
    let (mut h, snd, rcv) = established_active(plain(), ISS, PEER_ISS);
    h.c.abort();
    let out = h.drain();
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].flags, out[0].seq, out[0].ack),
        (RST | ACK, snd, rcv)
    );
    assert_eq!(h.closed_event(), Some(CloseReason::Aborted));
}

#[test]
fn without_rfc5961_an_in_window_rst_or_syn_resets() {
    let mut cfg = plain();
    cfg.rfc5961 = false;
    let (mut h, _, rcv) = established_active(cfg, ISS, PEER_ISS);
    let out = h.feed(rst(&h, rcv.add(100)));
    assert!(out.is_empty());
    assert_eq!(
        h.closed_event(),
        Some(CloseReason::Reset),
        "RFC 793: any in-window RST"
    );
    let (mut h, snd, rcv) = established_active(cfg, ISS, PEER_ISS);
    let out = h.feed(h.seg(rcv.add(10), None, SYN, b""));
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].flags.rst());
    assert_eq!(out[0].seq, snd);
    assert_eq!(h.c.state(), State::Closed);
    // Out of the window, a RST is still ignored.
    let (mut h, _, rcv) = established_active(cfg, ISS, PEER_ISS);
    h.feed(rst(&h, rcv.sub(1)));
    assert_eq!(h.c.state(), State::Established);
}

#[test]
fn reset_reply_takes_the_rst_forms_of_closed_and_never_answers_a_rst() {
    use tcp_proto::reset_reply;
    let mut seg = syn_from(40000, 80, u32::MAX, None);
    seg.payload = bytes::Bytes::from_static(b"abc");
    seg.flags = SYN | FIN;
    // No ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SEG.LEN = 3 + SYN + FIN.
    let r = reset_reply(&seg).expect("a reply");
    assert_eq!((r.src_port, r.dst_port), (80, 40000));
    assert_eq!((r.flags, r.seq, r.ack), (RST | ACK, SeqNum(0), SeqNum(4)));
    // With ACK: <SEQ=SEG.ACK><CTL=RST>.
    seg.flags = ACK;
    seg.ack = SeqNum(77);
    let r = reset_reply(&seg).expect("a reply");
    assert_eq!((r.flags, r.seq), (RST, SeqNum(77)));
    seg.flags = RST | ACK;
    assert_eq!(reset_reply(&seg), None);
}
