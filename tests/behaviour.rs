//! Behaviour of one Connection against a hand-driven peer: handshake, data
//! transfer, flow and congestion control, close. Every segment the peer
//! sends is built here and fed with `handle_segment`.

mod support;

use std::time::Duration;
use support::*;
use tcp_proto::{
    CloseReason, Config, CongestionAlgorithm, Connection, Event, Instant, Segment, SeqNum, State,
};

const ISS: u32 = 1000;
const PEER_ISS: u32 = 5000;
/// ISS within 1,000 of 2^32: the sequence space wraps during the test.
const WRAP_ISS: u32 = u32::MAX - 700;
const WRAP_PEER_ISS: u32 = u32::MAX - 300;

fn data_of(out: &[Segment]) -> Vec<&Segment> {
    out.iter().filter(|s| !s.payload.is_empty()).collect()
}

fn pure_acks(out: &[Segment]) -> Vec<&Segment> {
    out.iter()
        .filter(|s| s.flags == ACK && s.payload.is_empty())
        .collect()
}

// ---- handshake ------------------------------------------------------------

#[test]
fn active_open_sends_syn_with_mss_and_acks_the_syn_ack() {
    let (mut h, syn) = H::connect(plain(), ISS);
    assert_eq!(syn.seq, SeqNum(ISS));
    assert_eq!(syn.options.mss, Some(1460));
    let out = h.feed(h.seg(SeqNum(PEER_ISS), Some(SeqNum(ISS + 1)), SYN, b""));
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].seq, out[0].ack),
        (SeqNum(ISS + 1), SeqNum(PEER_ISS + 1))
    );
    assert_eq!(out[0].flags, ACK);
    assert_eq!(h.c.state(), State::Established);
    assert_eq!(h.count_events(Event::Connected), 1);
}

#[test]
fn passive_open_answers_syn_with_syn_ack_and_establishes_on_ack() {
    let (h, _, _) = established_passive(plain(), ISS, PEER_ISS);
    let synack = &h.log[0].1;
    assert_eq!(synack.flags, SYN | ACK);
    assert_eq!(
        (synack.seq, synack.ack),
        (SeqNum(ISS), SeqNum(PEER_ISS + 1))
    );
    assert_eq!(synack.options.mss, Some(1460));
    assert_eq!(h.count_events(Event::Connected), 1);
}

#[test]
fn simultaneous_open_between_two_connections_establishes_both() {
    let (mut a, syn_a) = H::connect(plain(), ISS);
    let c = Connection::connect(plain(), REMOTE, LOCAL, SeqNum(PEER_ISS), Instant::ZERO).unwrap();
    let mut b = H::new(c, Instant::ZERO);
    let syn_b = b.drain();
    assert_eq!(syn_b.len(), 1);
    // The SYNs cross.
    a.c.handle_segment(a.now, syn_b[0].clone());
    b.c.handle_segment(b.now, syn_a);
    assert_eq!(a.c.state(), State::SynReceived);
    assert_eq!(b.c.state(), State::SynReceived);
    let moved = exchange(&mut a, &mut b);
    assert_eq!(
        a.c.state(),
        State::Established,
        "{} segments out",
        a.log.len()
    );
    assert_eq!(
        b.c.state(),
        State::Established,
        "{} segments out",
        b.log.len()
    );
    assert!(moved <= 6, "no SYN-ACK ping-pong: {moved} segments");
    // Data flows both ways afterwards.
    a.c.send(b"ping").unwrap();
    b.c.send(b"pong").unwrap();
    exchange(&mut a, &mut b);
    a.read_all();
    b.read_all();
    assert_eq!(a.read, b"pong");
    assert_eq!(b.read, b"ping");
}

fn syn_ack_with_bad_ack_draws_rst(iss: u32, bad: u32) {
    let (mut h, _) = H::connect(plain(), iss);
    let out = h.feed(h.seg(SeqNum(PEER_ISS), Some(SeqNum(bad)), SYN, b""));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].flags, RST, "<SEQ=SEG.ACK><CTL=RST>");
    assert_eq!(out[0].seq, SeqNum(bad));
    assert_eq!(h.c.state(), State::SynSent, "otherwise ignored");
    // The right SYN-ACK still completes the handshake, with the peer's ISS.
    let out = h.feed(h.seg(SeqNum(PEER_ISS + 7), Some(SeqNum(iss).add(1)), SYN, b""));
    assert_eq!(h.c.state(), State::Established);
    assert_eq!(out[0].ack, SeqNum(PEER_ISS + 8));
}

#[test]
fn syn_ack_acking_other_than_iss_plus_one_in_syn_sent_gets_rst_and_is_ignored() {
    syn_ack_with_bad_ack_draws_rst(ISS, ISS + 2);
    syn_ack_with_bad_ack_draws_rst(ISS, ISS);
    syn_ack_with_bad_ack_draws_rst(ISS, ISS - 5);
    syn_ack_with_bad_ack_draws_rst(WRAP_ISS, WRAP_ISS.wrapping_add(1000));
}

fn syn_gaps(cfg: Config) -> (Vec<u64>, usize) {
    let (mut h, _) = H::connect(cfg, ISS);
    let mut gaps = Vec::new();
    let mut last = Instant::ZERO;
    while let Some((t, out)) = h.fire() {
        gaps.push((t - last).as_secs());
        last = t;
        if h.c.state() == State::Closed {
            assert!(out.is_empty());
            break;
        }
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].flags, out[0].seq), (SYN, SeqNum(ISS)));
    }
    assert_eq!(h.closed_event(), Some(CloseReason::TimedOut));
    (gaps, h.log.len())
}

#[test]
fn syn_is_retransmitted_with_exponential_backoff_then_times_out() {
    let mut cfg = plain(); // Config::linux: initial RTO 1 s, 6 SYN retries.
    assert_eq!(cfg.initial_rto, secs(1));
    cfg.syn_linear_timeouts = 0;
    let (gaps, sent) = syn_gaps(cfg);
    assert_eq!(gaps, vec![1, 2, 4, 8, 16, 32, 64]);
    assert_eq!(sent, 7, "the SYN and 6 retransmissions");
}

#[test]
fn linux_syn_retransmissions_start_linear_then_double() {
    // Linux >= 6.5 (tcp_syn_linear_timeouts = 4): SYNs at 0, 1, 2, 3, 4, 5,
    // 7, 11, 19, 35, 67 s and ETIMEDOUT at 131 s with tcp_syn_retries = 6.
    let (gaps, sent) = syn_gaps(plain());
    assert_eq!(gaps, vec![1, 1, 1, 1, 1, 2, 4, 8, 16, 32, 64]);
    assert_eq!(gaps.iter().sum::<u64>(), 131);
    assert_eq!(sent, 11, "the SYN and 6 + 4 retransmissions");
}

#[test]
fn syn_ack_is_retransmitted_with_exponential_backoff_then_times_out() {
    let mut cfg = plain();
    cfg.synack_retries = 4;
    let syn = syn_from(LOCAL, REMOTE, PEER_ISS, Some(1460));
    let c = Connection::accept(cfg, &syn, SeqNum(ISS), Instant::ZERO).unwrap();
    let mut h = H::new(c, Instant::ZERO);
    assert_eq!(h.drain().len(), 1);
    let mut gaps = Vec::new();
    let mut last = Instant::ZERO;
    while let Some((t, out)) = h.fire() {
        gaps.push((t - last).as_secs());
        last = t;
        if h.c.state() == State::Closed {
            break;
        }
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].flags, out[0].seq), (SYN | ACK, SeqNum(ISS)));
    }
    assert_eq!(gaps, vec![1, 2, 4, 8, 16]);
    assert_eq!(h.closed_event(), Some(CloseReason::TimedOut));
}

#[test]
fn duplicate_syn_in_syn_received_resends_the_syn_ack() {
    let mut h = H::listen(plain(), ISS);
    let syn = syn_from(LOCAL, REMOTE, PEER_ISS, Some(1460));
    let first = h.feed(syn.clone());
    h.advance(ms(300));
    let again = h.feed(syn);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].flags, SYN | ACK);
    assert_eq!((again[0].seq, again[0].ack), (first[0].seq, first[0].ack));
    assert_eq!(h.c.state(), State::SynReceived);
}

fn negotiated_mss(our_ts: bool, peer_mss: Option<u16>, peer_ts: bool) -> u32 {
    let mut cfg = plain();
    cfg.timestamps = our_ts;
    let (mut h, syn) = H::connect(cfg, ISS);
    let mut sa = h.seg(SeqNum(PEER_ISS), Some(SeqNum(ISS + 1)), SYN, b"");
    sa.options.mss = peer_mss;
    if peer_ts {
        sa = with_ts(sa, 77, syn.options.timestamps.map_or(0, |t| t.val));
    }
    h.feed(sa);
    assert_eq!(h.c.state(), State::Established);
    // The data segments obey it.
    h.c.send(&pattern(5000, 1)).unwrap();
    let out = h.drain();
    let mss = h.c.stats().snd_mss;
    assert_eq!(out[0].payload.len() as u32, mss);
    mss
}

#[test]
fn mss_is_the_smaller_of_both_minus_twelve_with_timestamps_and_536_without_option() {
    assert_eq!(negotiated_mss(true, Some(1400), true), 1388);
    assert_eq!(negotiated_mss(true, Some(9000), true), 1448);
    assert_eq!(negotiated_mss(true, Some(1400), false), 1400);
    assert_eq!(negotiated_mss(false, Some(1000), false), 1000);
    assert_eq!(negotiated_mss(false, None, false), 536);
}

// ---- data -------------------------------------------------------------------

fn out_of_order_reassembly(iss: u32, peer_iss: u32) {
    let (mut h, snd, rcv) = established_active(plain(), iss, peer_iss);
    const N: usize = 100; // 100 segments, the odd ones first: 50 holes.
    const L: usize = 100;
    let data = pattern(N * L, 7);
    let seg = |h: &H, i: usize| {
        h.seg(
            rcv.add((i * L) as u32),
            Some(snd),
            PSH,
            &data[i * L..(i + 1) * L],
        )
    };
    for i in (1..N).step_by(2) {
        let out = h.feed(seg(&h, i));
        let acks = pure_acks(&out);
        assert_eq!(acks.len(), 1, "an immediate duplicate ACK for segment {i}");
        assert_eq!(acks[0].ack, rcv);
    }
    assert!(!h.read_all());
    assert!(
        h.read.is_empty(),
        "nothing readable before the first hole fills"
    );
    for i in (0..N).step_by(2) {
        let out = h.feed(seg(&h, i));
        let expect = rcv.add(((i + 2).min(N) * L) as u32);
        assert_eq!(out.last().map(|s| s.ack), Some(expect), "filling hole {i}");
    }
    h.read_all();
    assert_eq!(h.read.len(), N * L, "delivered exactly once");
    assert_eq!(h.read, data, "in order");
    assert_eq!(h.c.stats().bytes_received, (N * L) as u64);
}

#[test]
fn fifty_holes_are_reassembled_and_delivered_once_in_order() {
    out_of_order_reassembly(ISS, PEER_ISS);
}

#[test]
fn fifty_holes_are_reassembled_across_the_sequence_wrap() {
    out_of_order_reassembly(WRAP_ISS, WRAP_PEER_ISS);
}

/// Handshake taking 100 ms: SRTT 100 ms, RTTVAR 50 ms, RTO 300 ms (Linux floor 200 ms).
fn established_with_rtt_100ms(cfg: Config, iss: u32, peer_iss: u32) -> (H, SeqNum, SeqNum) {
    let (mut h, _) = H::connect(cfg, iss);
    h.advance(ms(100));
    let mut sa = h.seg(SeqNum(peer_iss), Some(SeqNum(iss).add(1)), SYN, b"");
    sa.options.mss = Some(1460);
    h.feed(sa);
    assert_eq!(h.c.state(), State::Established);
    assert_eq!(h.c.stats().srtt, Some(ms(100)));
    assert_eq!(h.c.stats().rto, ms(300));
    (h, SeqNum(iss).add(1), SeqNum(peer_iss).add(1))
}

fn rto_backoff_and_karn(iss: u32, peer_iss: u32) {
    let (mut h, snd, rcv) = established_with_rtt_100ms(plain(), iss, peer_iss);
    h.c.send(&pattern(1000, 3)).unwrap();
    let out = h.drain();
    assert_eq!(data_of(&out).len(), 1);
    let sent_at = h.now;
    let mut rtos = vec![h.c.stats().rto];
    let mut times = vec![];
    for _ in 0..3 {
        let (t, out) = h.fire().unwrap();
        let d = data_of(&out);
        assert_eq!(d.len(), 1, "one retransmission per expiry: {out:?}");
        assert_eq!(d[0].seq, snd, "retransmitted from SND.UNA");
        assert_eq!(d[0].payload.len(), 1000);
        times.push(t - sent_at);
        rtos.push(h.c.stats().rto);
    }
    assert_eq!(rtos, vec![ms(300), ms(600), ms(1200), ms(2400)]);
    assert_eq!(times, vec![ms(300), ms(900), ms(2100)]);
    assert_eq!(h.c.stats().rto_expirations, 3);
    // The ACK of the retransmitted segment gives no RTT sample (Karn): SRTT
    // stays, and so does the backed-off RTO.
    h.advance(ms(50));
    h.feed(h.seg(rcv, Some(snd.add(1000)), ACK, b""));
    assert_eq!(h.c.stats().srtt, Some(ms(100)));
    assert_eq!(h.c.stats().rto, ms(2400));
    assert_eq!(h.c.poll_timeout(), None, "nothing outstanding");
    // A fresh segment acknowledged after 20 ms is a valid sample.
    h.c.send(b"fresh").unwrap();
    h.drain();
    h.advance(ms(20));
    h.feed(h.seg(rcv, Some(snd.add(1005)), ACK, b""));
    let st = h.c.stats();
    assert!(st.srtt.unwrap() < ms(100), "{st:?}");
    assert!(st.rto < ms(400), "backoff cleared by a new sample: {st:?}");
}

#[test]
fn rto_doubles_across_expiries_and_karn_takes_no_sample_from_a_retransmission() {
    rto_backoff_and_karn(ISS, PEER_ISS);
}

#[test]
fn rto_backoff_and_karn_across_the_sequence_wrap() {
    rto_backoff_and_karn(WRAP_ISS, WRAP_PEER_ISS);
}

fn fast_retransmit_and_partial_ack(cc: CongestionAlgorithm, iss: u32, peer_iss: u32) {
    let mut cfg = plain();
    cfg.congestion = cc;
    let (mut h, snd, rcv) = established_active(cfg, iss, peer_iss);
    let mss = 1460u32;
    let at = |k: u32| snd.add(k * mss);
    h.c.send(&pattern(10 * mss as usize, 5)).unwrap();
    let out = h.drain();
    assert_eq!(data_of(&out).len(), 10, "initial window of 10 segments");
    // Segments 1 and 4 are lost. Segment 0 is acknowledged; 2 and 3 draw dup ACKs.
    let ack = |h: &H, a: SeqNum| h.seg(rcv, Some(a), ACK, b"");
    h.feed(ack(&h, at(1)));
    for n in 1..=2 {
        let out = h.feed(ack(&h, at(1)));
        assert!(
            data_of(&out).is_empty(),
            "no retransmission on dup ACK {n}: {out:?}"
        );
    }
    assert_eq!(h.c.stats().fast_retransmits, 0);
    let cwnd_before = h.c.stats().cwnd;
    let out = h.feed(ack(&h, at(1)));
    let d = data_of(&out);
    assert_eq!(d.len(), 1, "fast retransmit on the third dup ACK: {out:?}");
    assert_eq!(d[0].seq, at(1));
    let st = h.c.stats();
    assert_eq!((st.fast_retransmits, st.dup_acks), (1, 3));
    match cc {
        CongestionAlgorithm::NewReno => assert_eq!(st.ssthresh, 9 * mss / 2, "half the flight"),
        // RFC 9438 §4.6: β_cubic = 0.7 of the window.
        _ => assert_eq!(st.ssthresh, cwnd_before * 7 / 10, "β·cwnd"),
    }
    assert_eq!(st.cwnd, st.ssthresh + 3 * mss);
    // More dup ACKs inflate the window but resend nothing.
    for _ in 0..3 {
        let out = h.feed(ack(&h, at(1)));
        assert!(data_of(&out).iter().all(|s| s.seq != at(1)));
    }
    // Partial ACK (up to the second hole): the next hole goes at once (RFC 6582).
    let out = h.feed(ack(&h, at(4)));
    let d = data_of(&out);
    assert_eq!(
        d.first().map(|s| s.seq),
        Some(at(4)),
        "partial ACK retransmits: {out:?}"
    );
    assert_eq!(h.c.stats().fast_retransmits, 1, "no second fast retransmit");
    // The full ACK ends recovery: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
    let end = at(10);
    h.feed(ack(&h, end));
    let st = h.c.stats();
    assert_eq!(st.bytes_in_flight, 0, "{st:?}");
    assert_eq!(
        st.cwnd,
        st.ssthresh.min(2 * mss),
        "RFC 6582 §3.2 step 4 (1)"
    );
    assert_eq!(h.c.stats().retransmits, 2);
}

#[test]
fn third_duplicate_ack_triggers_fast_retransmit_and_partial_ack_resends_next_hole() {
    fast_retransmit_and_partial_ack(CongestionAlgorithm::NewReno, ISS, PEER_ISS);
}

#[test]
fn fast_retransmit_and_newreno_across_the_sequence_wrap() {
    fast_retransmit_and_partial_ack(CongestionAlgorithm::NewReno, WRAP_ISS, WRAP_PEER_ISS);
}

#[test]
fn cubic_fast_retransmit_reduces_by_beta_then_recovers_like_newreno() {
    fast_retransmit_and_partial_ack(CongestionAlgorithm::Cubic, WRAP_ISS, WRAP_PEER_ISS);
}

fn zero_window_persist(iss: u32, peer_iss: u32) {
    let (mut h, snd, rcv) = established_active(plain(), iss, peer_iss);
    // The peer closes its window.
    h.feed(with_wnd(h.seg(rcv, Some(snd), ACK, b""), 0));
    h.c.send(&pattern(3000, 9)).unwrap();
    let out = h.drain();
    assert!(
        data_of(&out).is_empty(),
        "no data into a zero window: {out:?}"
    );
    let mut last = h.now;
    let mut gaps = Vec::new();
    for round in 0..60 {
        let (t, out) = h.fire().expect("the persist timer is armed");
        assert_eq!(out.len(), 1, "one probe in round {round}: {out:?}");
        assert!(out[0].payload.len() <= 1);
        gaps.push(t - last);
        last = t;
        // Every probe is answered with a zero window.
        h.feed(with_wnd(h.seg(rcv, Some(snd), ACK, b""), 0));
        assert_eq!(
            h.c.state(),
            State::Established,
            "MUST-37: alive after {round} rounds"
        );
    }
    assert!(
        gaps[1] > gaps[0] && gaps[2] > gaps[1],
        "probes back off: {gaps:?}"
    );
    assert!(*gaps.last().unwrap() <= h.c.config().max_rto);
    // The window opens: the data flows at once.
    let out = h.feed(h.seg(rcv, Some(snd), ACK, b""));
    let d = data_of(&out);
    assert_eq!(d.first().map(|s| s.seq), Some(snd), "{out:?}");
    assert_eq!(d.iter().map(|s| s.payload.len()).sum::<usize>(), 3000);
}

#[test]
fn zero_window_is_probed_with_backoff_forever_while_answered_then_transfer_resumes() {
    zero_window_persist(ISS, PEER_ISS);
}

#[test]
fn zero_window_probing_across_the_sequence_wrap() {
    zero_window_persist(WRAP_ISS, WRAP_PEER_ISS);
}

#[test]
fn unanswered_zero_window_probes_eventually_give_up() {
    let mut cfg = plain();
    cfg.max_retries = 5;
    let (mut h, snd, rcv) = established_active(cfg, ISS, PEER_ISS);
    h.feed(with_wnd(h.seg(rcv, Some(snd), ACK, b""), 0));
    h.c.send(b"stuck").unwrap();
    h.drain();
    let mut probes = 0;
    while h.fire().is_some() && h.c.state() != State::Closed {
        probes += 1;
        assert!(probes < 100);
    }
    assert_eq!(h.closed_event(), Some(CloseReason::TimedOut));
}

/// A bulk transfer into the connection while the application reads in
/// irregular pieces: the right edge of every ACK is at or beyond the one before.
fn right_edge_never_moves_left(iss: u32, peer_iss: u32) {
    let mut cfg = plain();
    cfg.window_scale = true;
    cfg.recv_buffer = 100_000;
    let (mut h, syn) = H::connect(cfg, iss);
    let shift = syn.options.window_scale.expect("we offer window scaling");
    assert!(shift > 0);
    let mut sa = h.seg(SeqNum(peer_iss), Some(SeqNum(iss).add(1)), SYN, b"");
    sa.options.mss = Some(1460);
    sa.options.window_scale = Some(7);
    let out = h.feed(sa);
    let snd = SeqNum(iss).add(1);
    let base = SeqNum(peer_iss).add(1);
    let data = pattern(2_000_000, 11);
    let mut max_edge = base.add(u32::from(syn.window));
    let mut wnd_edge = max_edge;
    let mut una = base;
    let mut nxt = base;
    let mut rng = 12345u64;
    let mut acks = 0u64;
    let mut check =
        |out: &[Segment], max_edge: &mut SeqNum, wnd_edge: &mut SeqNum, una: &mut SeqNum| {
            for s in out {
                assert!(!s.flags.rst(), "{s:?}");
                if !s.flags.ack() || s.flags.syn() {
                    continue;
                }
                let edge = s.ack.add(u32::from(s.window) << shift);
                assert!(
                    edge.ge(*max_edge),
                    "right edge moved left: {:?} < {:?} in {s:?}",
                    edge,
                    max_edge
                );
                *max_edge = edge;
                *wnd_edge = edge;
                if s.ack.gt(*una) {
                    *una = s.ack;
                }
                acks += 1;
            }
        };
    check(&out, &mut max_edge, &mut wnd_edge, &mut una);
    let mut idle = 0;
    for _ in 0..200_000 {
        if h.read.len() == data.len() {
            break;
        }
        // The peer sends up to four segments within the window it was given.
        let mut sent = 0;
        while sent < 4 {
            let off = nxt.dist(base) as usize;
            if off >= data.len() {
                break;
            }
            let room = if wnd_edge.gt(nxt) {
                wnd_edge.dist(nxt) as usize
            } else {
                0
            };
            let len = 1460.min(room).min(data.len() - off);
            if len == 0 {
                break;
            }
            let out = h.feed(h.seg(nxt, Some(snd), ACK, &data[off..off + len]));
            check(&out, &mut max_edge, &mut wnd_edge, &mut una);
            nxt = nxt.add(len as u32);
            sent += 1;
        }
        // The application reads a pseudo-random amount.
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let want = ((rng >> 33) % 9000) as usize;
        if want > 0 {
            let mut buf = vec![0u8; want];
            if let Ok(n) = h.c.recv(&mut buf) {
                h.read.extend_from_slice(&buf[..n]);
            }
            let out = h.drain();
            check(&out, &mut max_edge, &mut wnd_edge, &mut una);
        }
        if sent == 0 {
            idle += 1;
            let out = h.advance(ms(50));
            check(&out, &mut max_edge, &mut wnd_edge, &mut una);
            if idle % 4 == 0 {
                // A window probe, as a stuck sender would send.
                let out = h.feed(h.seg(nxt.sub(1), Some(snd), ACK, b""));
                check(&out, &mut max_edge, &mut wnd_edge, &mut una);
            }
            if idle % 8 == 0 && una.lt(nxt) {
                nxt = una; // go back: anything unacknowledged is resent
            }
        } else {
            idle = 0;
        }
    }
    assert_eq!(h.read.len(), data.len());
    assert!(h.read == data);
    assert!(acks > 100, "{acks} ACKs checked");
}

#[test]
fn advertised_right_edge_never_moves_left_during_a_bulk_transfer() {
    right_edge_never_moves_left(ISS, PEER_ISS);
}

#[test]
fn advertised_right_edge_never_moves_left_across_the_sequence_wrap() {
    right_edge_never_moves_left(WRAP_ISS, WRAP_PEER_ISS);
}

#[test]
fn receiver_avoids_silly_window_updates() {
    let mut cfg = plain();
    cfg.recv_buffer = 8 * 1460;
    cfg.quick_acks = 0;
    let (mut h, snd, rcv) = established_active(cfg, ISS, PEER_ISS);
    // Fill the window completely.
    let data = pattern(8 * 1460, 2);
    let mut last = Vec::new();
    for i in 0..8 {
        last = h.feed(h.seg(
            rcv.add(i * 1460),
            Some(snd),
            ACK,
            &data[i as usize * 1460..(i as usize + 1) * 1460],
        ));
    }
    last.extend(h.advance(ms(50)));
    let a = last.last().expect("an ACK for the full window");
    assert_eq!((a.ack, a.window), (rcv.add(8 * 1460), 0));
    let edge = rcv.add(8 * 1460);
    // Reading a little opens no window: no update, and a probe sees zero.
    let mut buf = [0u8; 100];
    assert_eq!(h.c.recv(&mut buf), Ok(100));
    assert!(h.drain().is_empty(), "no window update for 100 octets");
    let out = h.feed(h.seg(edge.sub(1), Some(snd), ACK, b""));
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].window, 0,
        "a 100-octet window is not offered (MUST-39)"
    );
    // Reading an MSS worth opens it, and the update goes out at once.
    let mut buf = [0u8; 1460];
    assert_eq!(h.c.recv(&mut buf), Ok(1460));
    let out = h.drain();
    assert_eq!(out.len(), 1, "window update: {out:?}");
    assert!(u32::from(out[0].window) >= 1460, "{out:?}");
}

#[test]
fn delayed_ack_waits_40ms_for_one_segment_and_acks_two_at_once() {
    let mut cfg = plain();
    cfg.quick_acks = 0;
    let (mut h, snd, rcv) = established_active(cfg, ISS, PEER_ISS);
    let d = pattern(4 * 1460, 4);
    let t0 = h.now;
    let out = h.feed(h.seg(rcv, Some(snd), ACK, &d[..1460]));
    assert!(
        out.is_empty(),
        "one full segment: the ACK is delayed: {out:?}"
    );
    assert_eq!(h.c.poll_timeout(), Some(t0 + ms(40)));
    let (t, out) = h.fire().unwrap();
    assert_eq!(t - t0, ms(40));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack, rcv.add(1460));
    // Two full segments: the second is acknowledged at once.
    let out = h.feed(h.seg(rcv.add(1460), Some(snd), ACK, &d[1460..2920]));
    assert!(out.is_empty());
    let out = h.feed(h.seg(rcv.add(2920), Some(snd), ACK, &d[2920..4380]));
    assert_eq!(
        out.len(),
        1,
        "every second full segment is acknowledged at once"
    );
    assert_eq!(out[0].ack, rcv.add(4380));
    // Out of order: an immediate duplicate ACK.
    let out = h.feed(h.seg(rcv.add(5840), Some(snd), ACK, b"later"));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack, rcv.add(4380));
}

/// Feeds one full segment at `seq` and says whether it drew an ACK at once.
fn acked_at_once(h: &mut H, seq: SeqNum, snd: SeqNum, d: &[u8]) -> bool {
    let out = h.feed(h.seg(seq, Some(snd), ACK, d));
    out.iter().any(|s| s.ack == seq.add(d.len() as u32))
}

#[test]
fn quick_acks_resume_after_duplicate_data_and_after_a_silence_longer_than_the_rto() {
    // As Linux (`tcp_enter_quickack_mode` on DELAYEDACKLOST, `tcp_event_data_recv`
    // after a gap > RTO): a sender that resends what we had, or that was
    // silent for a timeout, is waiting on our ACKs with a small window.
    let mut cfg = plain();
    cfg.quick_acks = 4;
    let (mut h, snd, rcv) = established_active(cfg, ISS, PEER_ISS);
    let d = pattern(1460, 9);
    let mut seq = rcv;
    // The four quick ACKs of the start, then every second segment.
    for k in 0..4 {
        assert!(
            acked_at_once(&mut h, seq, snd, &d),
            "quick ACK {k} at start"
        );
        seq = seq.add(1460);
    }
    assert!(!acked_at_once(&mut h, seq, snd, &d), "quick ACKs used up");
    let (_, out) = h.fire().unwrap();
    assert_eq!(out.len(), 1, "the delayed ACK: {out:?}");
    // The peer resends the last segment: its ACK was late for it.
    let out = h.feed(h.seg(seq, Some(snd), ACK, &d));
    assert_eq!(out.len(), 1, "a duplicate is ACKed at once: {out:?}");
    seq = seq.add(1460);
    assert_eq!(out[0].ack, seq);
    for k in 0..4 {
        assert!(
            acked_at_once(&mut h, seq, snd, &d),
            "quick ACK {k} after the duplicate"
        );
        seq = seq.add(1460);
    }
    assert!(!acked_at_once(&mut h, seq, snd, &d), "four again, no more");
    let (_, out) = h.fire().unwrap();
    assert_eq!(out.len(), 1, "the delayed ACK: {out:?}");
    seq = seq.add(1460);
    // Silence for longer than the RTO (a retransmission timeout at the
    // sender), then one segment: ACKed at once, and the next ones too.
    assert!(h.advance(secs(3)).is_empty());
    for k in 0..4 {
        assert!(
            acked_at_once(&mut h, seq, snd, &d),
            "quick ACK {k} after the silence"
        );
        seq = seq.add(1460);
    }
    assert!(!acked_at_once(&mut h, seq, snd, &d), "four again, no more");
}

#[test]
fn no_quick_acks_after_duplicates_when_the_config_has_none() {
    let mut cfg = plain();
    cfg.quick_acks = 0;
    let (mut h, snd, rcv) = established_active(cfg, ISS, PEER_ISS);
    let d = pattern(1460, 9);
    assert!(!acked_at_once(&mut h, rcv, snd, &d));
    h.fire().unwrap();
    let out = h.feed(h.seg(rcv, Some(snd), ACK, &d));
    assert_eq!(out.len(), 1, "a duplicate is still ACKed at once: {out:?}");
    assert!(
        !acked_at_once(&mut h, rcv.add(1460), snd, &d),
        "but the next segment waits for the delayed-ACK timer"
    );
}

#[test]
fn nagle_holds_a_small_write_while_a_small_segment_is_unacked() {
    let (mut h, snd, rcv) = established_active(plain(), ISS, PEER_ISS);
    h.c.send(b"first").unwrap();
    assert_eq!(data_of(&h.drain()).len(), 1);
    h.c.send(b"second").unwrap();
    assert!(data_of(&h.drain()).is_empty(), "held by Nagle");
    let out = h.feed(h.seg(rcv, Some(snd.add(5)), ACK, b""));
    let d = data_of(&out);
    assert_eq!(d.len(), 1, "released by the ACK");
    assert_eq!((d[0].seq, &d[0].payload[..]), (snd.add(5), &b"second"[..]));
    // A full-sized segment in flight does not hold a small one (Minshall).
    h.feed(h.seg(rcv, Some(snd.add(11)), ACK, b""));
    h.c.send(&pattern(1460 + 10, 1)).unwrap();
    let d = h.drain();
    assert_eq!(data_of(&d).len(), 2, "{d:?}");
}

#[test]
fn nagle_off_sends_every_small_write_at_once() {
    let mut cfg = plain();
    cfg.nagle = false;
    let (mut h, _, _) = established_active(cfg, ISS, PEER_ISS);
    for w in [&b"a"[..], b"bb", b"ccc"] {
        h.c.send(w).unwrap();
        let out = h.drain();
        assert_eq!(data_of(&out).len(), 1, "{out:?}");
        assert_eq!(&out[0].payload[..], w);
    }
}

// ---- close ------------------------------------------------------------------

#[test]
fn fin_follows_the_queued_data() {
    let (mut h, snd, _) = established_active(plain(), ISS, PEER_ISS);
    h.c.send(&pattern(3000, 1)).unwrap();
    let now = h.now;
    h.c.close(now).unwrap();
    let out = h.drain();
    let lens: Vec<_> = out
        .iter()
        .map(|s| (s.payload.len(), s.flags.fin()))
        .collect();
    assert_eq!(lens, vec![(1460, false), (1460, false), (80, true)]);
    assert_eq!(out[2].seq, snd.add(2920));
    assert_eq!(h.c.state(), State::FinWait1);
}

#[test]
fn simultaneous_close_of_two_connections_goes_through_closing() {
    let (mut a, syn) = H::connect(plain(), ISS);
    let b = Connection::accept(plain(), &syn, SeqNum(PEER_ISS), Instant::ZERO).unwrap();
    let mut b = H::new(b, Instant::ZERO);
    exchange(&mut a, &mut b);
    assert_eq!(
        (a.c.state(), b.c.state()),
        (State::Established, State::Established)
    );
    let now = a.now;
    a.c.close(now).unwrap();
    b.c.close(now).unwrap();
    let fa = a.drain();
    let fb = b.drain();
    for s in fb {
        a.c.handle_segment(now, s);
    }
    for s in fa {
        b.c.handle_segment(now, s);
    }
    assert_eq!((a.c.state(), b.c.state()), (State::Closing, State::Closing));
    exchange(&mut a, &mut b);
    assert_eq!(
        (a.c.state(), b.c.state()),
        (State::TimeWait, State::TimeWait)
    );
    assert!(a.has_edge(State::Closing, State::TimeWait));
}

#[test]
fn close_wait_half_close_keeps_sending_then_last_ack_closes() {
    let (mut h, snd, rcv) = established_passive(plain(), ISS, PEER_ISS);
    h.feed(h.seg(rcv, Some(snd), FIN, b"bye"));
    assert_eq!(h.c.state(), State::CloseWait);
    assert!(h.read_all(), "EOF after the data");
    let reply = pattern(5000, 6);
    assert_eq!(h.c.send(&reply), Ok(5000));
    let out = h.drain();
    let d = data_of(&out);
    let mut got = Vec::new();
    for s in &d {
        assert_eq!(s.ack, rcv.add(4), "data and FIN acknowledged");
        got.extend_from_slice(&s.payload);
    }
    assert_eq!(got, reply, "the data arrives after the peer's FIN");
    h.feed(h.seg(rcv.add(4), Some(snd.add(5000)), ACK, b""));
    let now = h.now;
    h.c.close(now).unwrap();
    let out = h.drain();
    assert_eq!(h.c.state(), State::LastAck);
    assert_eq!((out[0].flags, out[0].seq), (FIN | ACK, snd.add(5000)));
    h.feed(h.seg(rcv.add(4), Some(snd.add(5001)), ACK, b""));
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.closed_event(), Some(CloseReason::Normal));
}

fn fin_retransmission_keeps_seq(iss: u32, peer_iss: u32) {
    let (mut h, snd, rcv) = established_active(plain(), iss, peer_iss);
    h.c.send(b"tail").unwrap();
    let now = h.now;
    h.c.close(now).unwrap();
    let out = h.drain();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].seq, out[0].flags.fin()), (snd, true));
    // The data is acknowledged, the FIN is not: it alone is resent, at its seq.
    h.feed(h.seg(rcv, Some(snd.add(4)), ACK, b""));
    for _ in 0..3 {
        let (_, out) = h.fire().unwrap();
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].flags.fin() && out[0].payload.is_empty());
        assert_eq!(out[0].seq, snd.add(4), "the FIN keeps its original seq");
    }
    h.feed(h.seg(rcv, Some(snd.add(5)), ACK, b""));
    assert_eq!(h.c.state(), State::FinWait2);
}

#[test]
fn fin_retransmission_keeps_its_original_seq() {
    fin_retransmission_keeps_seq(ISS, PEER_ISS);
}

#[test]
fn fin_retransmission_keeps_its_seq_across_the_wrap() {
    fin_retransmission_keeps_seq(WRAP_ISS, WRAP_PEER_ISS);
}

fn to_time_wait(iss: u32, peer_iss: u32) -> (H, SeqNum, SeqNum) {
    let (mut h, snd, rcv) = established_active(plain(), iss, peer_iss);
    let now = h.now;
    h.c.close(now).unwrap();
    h.drain();
    h.feed(h.seg(rcv, Some(snd.add(1)), FIN, b""));
    assert_eq!(h.c.state(), State::TimeWait);
    (h, snd, rcv)
}

fn time_wait_restart(iss: u32, peer_iss: u32) {
    let (mut h, snd, rcv) = to_time_wait(iss, peer_iss);
    let tw = h.c.config().time_wait;
    assert_eq!(tw, secs(60));
    let t0 = h.now;
    assert_eq!(h.c.poll_timeout(), Some(t0 + tw), "2·MSL");
    h.advance(secs(30));
    let out = h.feed(h.seg(rcv, Some(snd.add(1)), FIN, b""));
    assert_eq!(out.len(), 1, "the retransmitted FIN is acknowledged");
    assert_eq!(
        (out[0].flags, out[0].ack, out[0].seq),
        (ACK, rcv.add(1), snd.add(1))
    );
    h.advance(secs(59));
    assert_eq!(h.c.state(), State::TimeWait, "the 2·MSL timer restarted");
    h.advance(secs(1));
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.now - t0, secs(90));
}

#[test]
fn time_wait_lasts_2msl() {
    let (mut h, _, _) = to_time_wait(ISS, PEER_ISS);
    let t0 = h.now;
    h.advance(secs(60) - Duration::from_micros(1));
    assert_eq!(h.c.state(), State::TimeWait);
    h.advance(Duration::from_micros(1));
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.now - t0, secs(60));
    assert_eq!(h.closed_event(), Some(CloseReason::Normal));
}

/// `TCP_LINGER2` only concerns FIN-WAIT-2: set in TIME-WAIT it neither
/// cuts nor extends the 2·MSL wait, which still ends normally.
#[test]
fn changing_linger2_in_time_wait_leaves_the_2msl_wait() {
    let (mut h, _, _) = to_time_wait(ISS, PEER_ISS);
    let t0 = h.now;
    h.advance(secs(10));
    let now = h.now;
    h.c.set_fin_wait_2_timeout(Some(secs(1)), now);
    h.c.set_fin_wait_2_timeout(None, now);
    assert_eq!(h.c.poll_timeout(), Some(t0 + secs(60)));
    h.advance(secs(50) - Duration::from_micros(1));
    assert_eq!(h.c.state(), State::TimeWait);
    h.advance(Duration::from_micros(1));
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.closed_event(), Some(CloseReason::Normal));
}

#[test]
fn retransmitted_fin_in_time_wait_restarts_2msl() {
    time_wait_restart(ISS, PEER_ISS);
}

#[test]
fn retransmitted_fin_in_time_wait_restarts_2msl_across_the_wrap() {
    time_wait_restart(WRAP_ISS, WRAP_PEER_ISS);
}

#[test]
fn fin_out_of_order_waits_for_the_data_before_it() {
    let (mut h, snd, rcv) = established_active(plain(), ISS, PEER_ISS);
    let out = h.feed(h.seg(rcv.add(100), Some(snd), FIN, &[2u8; 50]));
    assert_eq!(
        h.c.state(),
        State::Established,
        "the FIN is not in order yet"
    );
    assert!(!h.c.peer_finished());
    assert_eq!(out.last().map(|s| s.ack), Some(rcv), "duplicate ACK");
    let out = h.feed(h.seg(rcv, Some(snd), ACK, &[1u8; 100]));
    assert_eq!(h.c.state(), State::CloseWait);
    assert_eq!(
        out.last().map(|s| s.ack),
        Some(rcv.add(151)),
        "data, data and FIN"
    );
    assert!(h.read_all());
    assert_eq!(h.read.len(), 150);
    assert_eq!(h.count_events(Event::PeerFinished), 1);
}

#[test]
fn fin_wait_2_times_out_after_close_but_not_after_shutdown_write() {
    let (mut h, snd, rcv) = established_active(plain(), ISS, PEER_ISS);
    h.c.shutdown_write().unwrap();
    h.drain();
    h.feed(h.seg(rcv, Some(snd.add(1)), ACK, b""));
    assert_eq!(h.c.state(), State::FinWait2);
    assert_eq!(h.c.poll_timeout(), None, "half-closed: waits for the peer");
    let (mut h, snd, rcv) = established_active(plain(), ISS, PEER_ISS);
    let now = h.now;
    h.c.close(now).unwrap();
    h.drain();
    h.feed(h.seg(rcv, Some(snd.add(1)), ACK, b""));
    let t0 = h.now;
    h.advance(secs(59));
    assert_eq!(h.c.state(), State::FinWait2);
    h.advance(secs(1));
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.now - t0, secs(60));
    assert_eq!(h.closed_event(), Some(CloseReason::TimedOut));
}

#[test]
fn data_arriving_after_the_application_closed_draws_a_rst() {
    let (mut h, snd, rcv) = established_active(plain(), ISS, PEER_ISS);
    let now = h.now;
    h.c.close(now).unwrap();
    h.drain();
    h.feed(h.seg(rcv, Some(snd.add(1)), ACK, b""));
    assert_eq!(h.c.state(), State::FinWait2);
    let out = h.feed(h.seg(rcv, Some(snd.add(1)), ACK, b"late data"));
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].flags.rst());
    assert_eq!(out[0].seq, snd.add(1));
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.closed_event(), Some(CloseReason::Aborted));
}

#[test]
fn close_with_unread_data_sends_rst() {
    let (mut h, snd, rcv) = established_active(plain(), ISS, PEER_ISS);
    h.feed(h.seg(rcv, Some(snd), ACK, b"unread"));
    let now = h.now;
    h.c.close(now).unwrap();
    let out = h.drain();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].flags, RST | ACK);
    assert_eq!((out[0].seq, out[0].ack), (snd, rcv.add(6)));
    assert!(out.iter().all(|s| !s.flags.fin()));
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.closed_event(), Some(CloseReason::Aborted));
}

#[test]
fn fin_retransmission_in_closing_and_last_ack_keeps_its_seq() {
    // CLOSING: our FIN crossed theirs and is not acknowledged.
    let (mut h, snd, rcv) = established_active(plain(), ISS, PEER_ISS);
    let now = h.now;
    h.c.close(now).unwrap();
    h.drain();
    h.feed(h.seg(rcv, Some(snd), FIN, b""));
    assert_eq!(h.c.state(), State::Closing);
    for _ in 0..2 {
        let (_, out) = h.fire().unwrap();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(
            (out[0].flags, out[0].seq, out[0].ack),
            (FIN | ACK, snd, rcv.add(1))
        );
    }
    h.feed(h.seg(rcv.add(1), Some(snd.add(1)), ACK, b""));
    assert_eq!(h.c.state(), State::TimeWait);
    // LAST-ACK.
    let (mut h, snd, rcv) = established_passive(plain(), WRAP_ISS, WRAP_PEER_ISS);
    h.feed(h.seg(rcv, Some(snd), FIN, b""));
    let now = h.now;
    h.c.close(now).unwrap();
    h.drain();
    assert_eq!(h.c.state(), State::LastAck);
    for _ in 0..2 {
        let (_, out) = h.fire().unwrap();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!((out[0].flags, out[0].seq), (FIN | ACK, snd));
    }
    h.feed(h.seg(rcv.add(1), Some(snd.add(1)), ACK, b""));
    assert_eq!(h.closed_event(), Some(CloseReason::Normal));
}

#[test]
fn syn_ack_carrying_data_and_fin_delivers_the_data_then_eof() {
    let (mut h, _) = H::connect(plain(), ISS);
    let out = h.feed(h.seg(SeqNum(PEER_ISS), Some(SeqNum(ISS + 1)), SYN | FIN, b"hello"));
    assert_eq!(h.c.state(), State::CloseWait);
    assert_eq!(out.last().map(|s| s.ack), Some(SeqNum(PEER_ISS + 7)));
    assert!(h.read_all());
    assert_eq!(h.read, b"hello");
}

#[test]
fn one_shot_listener_starts_afresh_after_returning_to_listen() {
    let mut h = H::listen(plain(), ISS);
    h.feed(syn_from(LOCAL, REMOTE, PEER_ISS, Some(1460)));
    // Two SYN-ACK retransmissions back the RTO off to 4 s.
    h.fire().unwrap();
    h.fire().unwrap();
    h.feed(h.seg(SeqNum(PEER_ISS + 1), None, RST, b""));
    assert_eq!(h.c.state(), State::Listen);
    assert_eq!(h.c.poll_timeout(), None, "no timer in LISTEN");
    let t0 = h.now;
    h.feed(syn_from(LOCAL + 1, REMOTE, 9000, Some(1460)));
    let (t, out) = h.fire().unwrap();
    assert_eq!(out[0].flags, SYN | ACK);
    assert_eq!(t - t0, secs(1), "a new SYN-ACK starts from the initial RTO");
}

#[test]
fn data_beyond_the_window_is_trimmed_not_delivered() {
    let mut cfg = plain();
    cfg.recv_buffer = 4000;
    let (mut h, snd, rcv) = established_active(cfg, ISS, PEER_ISS);
    let d = pattern(3 * 1460, 8);
    let mut out = Vec::new();
    for i in 0..3 {
        out = h.feed(h.seg(
            rcv.add(i * 1460),
            Some(snd),
            ACK,
            &d[i as usize * 1460..(i as usize + 1) * 1460],
        ));
    }
    out.extend(h.advance(ms(50)));
    let a = out.last().expect("an ACK");
    assert_eq!((a.ack, a.window), (rcv.add(4000), 0));
    h.read_all();
    assert_eq!(h.read, &d[..4000]);
}

#[test]
fn paws_drops_a_segment_with_an_old_timestamp() {
    let cfg = Config::linux(); // timestamps on
    let (mut h, syn) = H::connect(cfg, ISS);
    let ts0 = syn.options.timestamps.expect("we offer timestamps").val;
    let mut sa = h.seg(SeqNum(PEER_ISS), Some(SeqNum(ISS + 1)), SYN, b"");
    sa.options.mss = Some(1460);
    h.feed(with_ts(sa, 1000, ts0));
    let rcv = SeqNum(PEER_ISS + 1);
    let snd = SeqNum(ISS + 1);
    h.feed(with_ts(h.seg(rcv, Some(snd), PSH, b"new"), 2000, ts0));
    let out = h.feed(with_ts(
        h.seg(rcv.add(3), Some(snd), PSH, b"old"),
        1500,
        ts0,
    ));
    assert_eq!(
        out.len(),
        1,
        "an ACK for the PAWS-rejected segment: {out:?}"
    );
    assert_eq!(out[0].ack, rcv.add(3));
    assert_eq!(
        out[0].options.timestamps.map(|t| t.ecr),
        Some(2000),
        "TS.Recent kept"
    );
    h.read_all();
    assert_eq!(h.read, b"new");
    // A RST is not subject to PAWS (RFC 7323 §5.3 R1: exempt).
    h.feed(with_ts(h.seg(rcv.add(3), None, RST, b""), 1, ts0));
    assert_eq!(h.closed_event(), Some(CloseReason::Reset));
}

#[test]
fn one_shot_listener_survives_synack_give_up_and_accepts_the_next_syn() {
    // R15: the SYN-ACK retries run out, the one-shot listener returns to
    // LISTEN (not CLOSED) and the next SYN is answered.
    let mut cfg = plain();
    cfg.synack_retries = 2;
    let mut h = H::listen(cfg, 1000);
    h.feed(syn_from(LOCAL, REMOTE, 5000, Some(1460)));
    assert_eq!(h.c.state(), State::SynReceived);
    while h.c.state() == State::SynReceived {
        assert!(
            h.fire().is_some(),
            "a timer is armed while the SYN-ACK is unanswered"
        );
    }
    assert_eq!(h.c.state(), State::Listen);
    assert_eq!(h.closed_event(), None);
    let out = h.feed(syn_from(LOCAL + 1, REMOTE, 9000, Some(1460)));
    assert_eq!(h.c.state(), State::SynReceived);
    assert_eq!((out[0].flags, out[0].ack), (SYN | ACK, SeqNum(9001)));
}

#[test]
fn close_in_syn_received_still_reports_connected_when_the_syn_is_acked() {
    let mut h = H::listen(plain(), 1000);
    h.feed(syn_from(LOCAL, REMOTE, 5000, Some(1460)));
    let now = h.now;
    h.c.close(now).unwrap();
    assert_eq!(h.c.state(), State::FinWait1);
    assert!(
        h.drain().iter().all(|s| !s.flags.fin()),
        "no FIN before our SYN is acknowledged"
    );
    let out = h.feed(h.seg(SeqNum(5001), Some(SeqNum(1001)), ACK, b""));
    assert_eq!(h.count_events(Event::Connected), 1);
    let fin = out
        .iter()
        .find(|s| s.flags.fin())
        .expect("the FIN follows the ACK of our SYN");
    assert_eq!(fin.seq, SeqNum(1001));
}

#[test]
fn keepalive_probes_an_idle_peer_and_gives_up_only_after_the_configured_probes() {
    let mut cfg = plain();
    cfg.keepalive = Some(tcp_proto::Keepalive {
        idle: secs(7200),
        interval: secs(75),
        probes: 3,
    });
    let (mut h, snd, rcv) = established_active(cfg, ISS, PEER_ISS);
    // Idle for less than the idle time: nothing goes out.
    assert!(h.advance(secs(7100)).is_empty());
    // Past it: one probe, SEQ = SND.NXT − 1 (here SND.UNA − 1), no data (SHLD-12).
    let out = h.advance(secs(150));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        (out[0].seq, out[0].ack, out[0].payload.len()),
        (snd.sub(1), rcv, 0)
    );
    // The peer answers: the connection lives on and probing starts over (MUST-29).
    h.feed(h.seg(rcv, Some(snd), ACK, b""));
    assert!(h.advance(secs(7100)).is_empty());
    // Now the peer is gone: three unanswered probes 75 s apart, then TimedOut,
    // with a RST at SND.NXT so a half-reachable peer learns of it.
    let out = h.advance(secs(7200 + 3 * 75 + 1));
    assert_eq!(
        out.iter().filter(|s| s.seq == snd.sub(1)).count(),
        3,
        "{out:?}"
    );
    let rst: Vec<_> = out.iter().filter(|s| s.flags.rst()).collect();
    assert_eq!(rst.len(), 1, "{out:?}");
    assert_eq!((rst[0].seq, rst[0].ack), (snd, rcv));
    assert_eq!(out.last().map(|s| s.flags.rst()), Some(true), "{out:?}");
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.closed_event(), Some(CloseReason::TimedOut));
}

/// RFC 9293 §3.10.7.4 step 5 keeps SND.WND as an offset from SND.UNA. An
/// older peer segment (a retransmission: SEG.SEQ < SND.WL1) that
/// acknowledges new data with a small window must still set the window:
/// keeping the old offset after SND.UNA moved would put the right edge past
/// what the peer offered, and Linux 6.x drops a segment that ends beyond its
/// window together with its ACK (a deadlock seen with a kernel echo server
/// whose window had closed to 1 KiB).
fn old_segment_acking_new_data_sets_the_window(iss: u32, peer_iss: u32) {
    let (mut h, snd, rcv) = established_active(plain(), iss, peer_iss);
    let mss = 1460u32;
    // The peer's first data segment is lost; its second arrives out of
    // order and SND.WL1 becomes its sequence number.
    h.feed(h.seg(rcv.add(100), Some(snd), ACK, &[2u8; 100]));
    h.drain();
    h.c.send(&pattern(20 * mss as usize, 9)).unwrap();
    let out = h.drain();
    assert_eq!(data_of(&out).len(), 10, "initial window: {out:?}");
    // The peer retransmits its first segment (SEG.SEQ < SND.WL1, at
    // RCV.NXT), now acknowledging one of ours and offering 1,000 octets.
    let mut old = h.seg(rcv, Some(snd.add(mss)), ACK, &[1u8; 100]);
    old.window = 1000;
    let out = h.feed(old);
    let edge = snd.add(mss + 1000);
    for s in data_of(&out) {
        assert!(
            s.seq.add(s.payload.len() as u32).le(edge),
            "sent beyond the offered window (edge {edge:?}): {s:?}"
        );
    }
    assert!(data_of(&out).is_empty(), "nothing new fits: {out:?}");
}

#[test]
fn an_old_segment_acking_new_data_sets_the_send_window() {
    old_segment_acking_new_data_sets_the_window(ISS, PEER_ISS);
}

#[test]
fn an_old_segment_acking_new_data_sets_the_send_window_across_the_wrap() {
    old_segment_acking_new_data_sets_the_window(WRAP_ISS, WRAP_PEER_ISS);
}
