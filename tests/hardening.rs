//! Regression tests for issue 10's hardening fixes: ACK budgets an off-path
//! attacker cannot drain, handle_timeout that always terminates, the right
//! edge after a retransmitted SYN-ACK, a listener that forgets its peer, the
//! RST's timestamp option, and no redundant window updates.

mod support;

use std::time::Duration;
use support::*;
use tcp_proto::{Config, ConfigError, Connection, Instant, SeqNum, State};

const ISS: u32 = 1000;
const PEER_ISS: u32 = 5000;

/// Blind junk: out-of-window pure ACKs and SYNs at sequence numbers far
/// from the window, within half a second.
fn junk_flood(h: &mut H, rcv: SeqNum, n: u32) {
    for i in 0..n {
        h.now += Duration::from_micros(50);
        let seq = rcv.add(0x4000_0000).add(i.wrapping_mul(7919));
        let flags = if i % 3 == 0 { SYN } else { ACK };
        let s = h.seg(seq, Some(SeqNum(i.wrapping_mul(104_729))), flags, b"");
        h.feed(s);
    }
}

#[test]
fn junk_flood_cannot_silence_answers_to_real_retransmissions_or_challenge_acks() {
    let (mut h, snd, rcv) = established_passive(plain(), ISS, PEER_ISS);
    // The peer sends 100 octets; we have them.
    let out = h.feed(h.seg(rcv, Some(snd), PSH, &pattern(100, 1)));
    let _ = out;
    h.advance(ms(50));
    let rcv = rcv.add(100);
    junk_flood(&mut h, rcv, 5000);
    assert_eq!(h.c.state(), State::Established);
    assert!(
        h.c.stats().oow_acks_suppressed > 0,
        "the junk drew a limited budget"
    );
    // Our ACK was lost: the peer retransmits what we already have. It is answered.
    let out = h.feed(h.seg(rcv.sub(100), Some(snd), PSH, &pattern(100, 1)));
    assert!(
        out.iter().any(|s| s.flags == ACK && s.ack == rcv),
        "the retransmission is acknowledged: {out:?}"
    );
    // The peer's FIN retransmitted after the flood is answered too (a FIN
    // occupies sequence space).
    // And a real challenge ACK (RFC 5961 §3.2) still goes out.
    let rst = h.seg(rcv.add(10), None, RST, b"");
    let out = h.feed(rst);
    assert!(
        out.iter()
            .any(|s| s.flags == ACK && s.ack == rcv && s.seq == snd),
        "challenge ACK after the flood: {out:?}"
    );
    assert_eq!(h.c.stats().challenge_acks, 1);
    assert_eq!(h.c.state(), State::Established);
}

#[test]
fn out_of_window_pure_acks_are_rate_limited_but_keepalive_probes_are_answered() {
    let (mut h, snd, rcv) = established_passive(plain(), ISS, PEER_ISS);
    junk_flood(&mut h, rcv, 1000);
    let st = h.c.stats();
    assert!(st.oow_acks_suppressed >= 800, "{st:?}");
    assert_eq!(
        st.challenge_acks_suppressed, 0,
        "junk spends no challenge ACK"
    );
    // A keep-alive probe (SEQ = RCV.NXT − 1, no data) is still answered.
    let out = h.feed(h.seg(rcv.sub(1), Some(snd), ACK, b""));
    assert!(
        out.iter().any(|s| s.flags == ACK && s.ack == rcv),
        "{out:?}"
    );
}

#[test]
fn zero_challenge_ack_limit_is_rejected() {
    let mut c = Config::linux();
    c.challenge_ack_limit = 0;
    assert_eq!(c.validate(), Err(ConfigError::ZeroChallengeAckLimit));
    assert!(Connection::listen(c, 80, SeqNum(1)).is_err());
}

/// Every duration at its smallest legal value: one clock tick.
fn tick_config() -> Config {
    let us = Duration::from_micros(1);
    let mut c = Config::linux();
    c.initial_rto = us;
    c.min_rto = us;
    c.max_rto = us;
    c.rttvar_floor = us;
    c.delayed_ack = Some(us);
    c.time_wait = us;
    c.fin_wait_2_timeout = Some(us);
    c.user_timeout = Some(Duration::from_micros(3));
    c.keepalive = Some(tcp_proto::Keepalive {
        idle: us,
        interval: us,
        probes: 2,
    });
    c
}

#[test]
fn durations_below_the_clock_resolution_are_rejected() {
    let ns = Duration::from_nanos(1);
    let base = tick_config();
    assert_eq!(base.validate(), Ok(()));
    let mut bad = Vec::new();
    let mut c = base;
    c.keepalive = Some(tcp_proto::Keepalive {
        idle: ns,
        interval: Duration::from_secs(1),
        probes: 2,
    });
    bad.push(c);
    let mut c = base;
    c.keepalive = Some(tcp_proto::Keepalive {
        idle: Duration::from_secs(1),
        interval: ns,
        probes: 2,
    });
    bad.push(c);
    let mut c = base;
    c.min_rto = ns;
    bad.push(c);
    let mut c = base;
    c.initial_rto = ns;
    bad.push(c);
    let mut c = base;
    c.time_wait = ns;
    bad.push(c);
    let mut c = base;
    c.delayed_ack = Some(ns);
    bad.push(c);
    let mut c = base;
    c.fin_wait_2_timeout = Some(ns);
    bad.push(c);
    let mut c = base;
    c.user_timeout = Some(Duration::ZERO);
    bad.push(c);
    for c in bad {
        assert!(c.validate().is_err(), "{c:?}");
    }
}

#[test]
fn handle_timeout_terminates_and_leaves_no_past_deadline_with_the_smallest_durations() {
    let cfg = tick_config();
    let mut now = Instant::from_secs(1);
    let mut a = Connection::connect(cfg, 40000, 80, SeqNum(u32::MAX - 5), now).unwrap();
    let mut b = Connection::listen(cfg, 80, SeqNum(9)).unwrap();
    let mut buf = [0u8; 4096];
    for step in 0..20_000u32 {
        // A lossy wire: on every third step everything is lost.
        while let Some(s) = a.poll_transmit(now) {
            if step % 3 != 0 {
                b.handle_segment(now, s);
            }
        }
        while let Some(s) = b.poll_transmit(now) {
            if step % 3 != 0 {
                a.handle_segment(now, s);
            }
        }
        if step % 5 == 0 {
            let _ = a.send(&[1u8; 3000]);
        }
        let _ = b.recv(&mut buf);
        now += Duration::from_micros(1 + u64::from(step % 4));
        for c in [&mut a, &mut b] {
            c.handle_timeout(now);
            if let Some(t) = c.poll_timeout() {
                assert!(t > now, "deadline {t} not after {now} in {}", c.state());
            }
        }
    }
}

#[test]
fn retransmitted_syn_ack_does_not_pull_back_a_scaled_edge() {
    let mut cfg = Config::linux();
    cfg.timestamps = false;
    assert!(cfg.recv_buffer > 65535);
    let mut h = H::listen(cfg, ISS);
    let mut syn = syn_from(LOCAL, REMOTE, PEER_ISS, Some(1460));
    syn.options.window_scale = Some(7);
    let out = h.feed(syn);
    assert_eq!(out.len(), 1);
    let shift = out[0].options.window_scale.expect("scale echoed");
    let rcv = SeqNum(PEER_ISS).add(1);
    // An out-of-window ACK draws our pure ACK in SYN-RECEIVED, with a scaled window.
    let out = h.feed(h.seg(rcv.add(1 << 30), Some(SeqNum(ISS).add(1)), ACK, b""));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].flags, ACK);
    let offered = u32::from(out[0].window) << shift;
    assert!(offered > 200_000, "scaled window {offered}");
    // The SYN-ACK is retransmitted (its window field is never scaled).
    let (_, out) = h.fire().unwrap();
    assert!(out.iter().any(|s| s.flags == SYN | ACK), "{out:?}");
    // The peer completes the handshake and sends data 100,000 octets into
    // the window it was offered: it is in the window, not dropped.
    let before = h.c.stats().dropped_unacceptable;
    h.feed(h.seg(rcv, Some(SeqNum(ISS).add(1)), ACK, b""));
    assert_eq!(h.c.state(), State::Established);
    h.feed(h.seg(
        rcv.add(100_000),
        Some(SeqNum(ISS).add(1)),
        ACK,
        &pattern(1000, 3),
    ));
    let st = h.c.stats();
    assert_eq!(
        st.dropped_unacceptable, before,
        "data in the offered window was dropped"
    );
    assert_eq!(st.out_of_order, 1);
}

/// Two peers, one after the other, at a one-shot listener: what the
/// application queued while the first was handshaking never reaches the
/// second, and the second handshake has a new ISS.
fn listener_forgets_the_first_peer(fail: impl Fn(&mut H, SeqNum)) {
    let mut h = H::listen(plain(), ISS);
    let out = h.feed(syn_from(5001, REMOTE, PEER_ISS, Some(1460)));
    assert_eq!(out.len(), 1);
    let first_iss = out[0].seq;
    assert_eq!(h.c.send(b"for the first peer only"), Ok(23));
    fail(&mut h, SeqNum(PEER_ISS).add(1));
    assert_eq!(h.c.state(), State::Listen);
    assert_eq!(h.c.send_queue_len(), 0, "queued data was dropped");
    // A second peer connects.
    let out = h.feed(syn_from(6002, REMOTE, 90_000, Some(1460)));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].flags, SYN | ACK);
    assert_eq!(out[0].dst_port, 6002);
    let iss2 = out[0].seq;
    assert_ne!(iss2, first_iss, "the ISS is not reused");
    assert!(
        iss2.gt(first_iss.add(65_536)),
        "the new ISS lies past the old one"
    );
    let out = h.feed(h.seg(SeqNum(90_001), Some(iss2.add(1)), ACK, b""));
    assert_eq!(h.c.state(), State::Established);
    let out2 = h.advance(secs(5));
    assert!(
        out.iter().chain(&out2).all(|s| s.payload.is_empty()),
        "nothing queued for the first peer goes to the second: {out:?} {out2:?}"
    );
}

#[test]
fn reset_in_syn_received_returns_to_listen_without_the_first_peers_data_or_iss() {
    listener_forgets_the_first_peer(|h, rcv| {
        let mut rst = h.seg(rcv, None, RST, b"");
        rst.src_port = 5001;
        h.feed(rst);
    });
}

#[test]
fn synack_give_up_returns_to_listen_without_the_first_peers_data_or_iss() {
    listener_forgets_the_first_peer(|h, _| {
        for _ in 0..20 {
            if h.c.state() == State::Listen {
                break;
            }
            h.fire();
        }
    });
}

#[test]
fn reading_sends_no_ack_when_the_unscaled_window_cannot_grow() {
    // 1 MiB buffer, no window scale: the field is 65,535 before and after.
    let (mut h, snd, rcv) = established_passive(plain(), ISS, PEER_ISS);
    let mut at = rcv;
    for _ in 0..10 {
        h.feed(h.seg(at, Some(snd), ACK, &pattern(1000, 2)));
        at = at.add(1000);
    }
    h.advance(ms(200));
    let acked = h.log.last().expect("ACKs went out").1.clone();
    assert_eq!((acked.ack, acked.window), (at, 65535));
    assert!(h.read_all() || !h.read.is_empty());
    assert_eq!(h.read.len(), 10_000);
    let out = h.drain();
    assert!(out.is_empty(), "an ACK re-advertising 65,535: {out:?}");
}

#[test]
fn rst_from_a_connection_with_timestamps_carries_the_option() {
    let mut cfg = plain();
    cfg.timestamps = true;
    let mut h = H::listen(cfg, ISS);
    let syn = with_ts(syn_from(LOCAL, REMOTE, PEER_ISS, Some(1460)), 777, 0);
    let out = h.feed(syn);
    assert!(out[0].options.timestamps.is_some());
    let ack = with_ts(
        h.seg(SeqNum(PEER_ISS).add(1), Some(SeqNum(ISS).add(1)), ACK, b""),
        778,
        out[0].options.timestamps.unwrap().val,
    );
    h.feed(ack);
    assert_eq!(h.c.state(), State::Established);
    h.now += secs(3);
    h.c.abort();
    let out = h.drain();
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].flags.rst());
    let ts = out[0].options.timestamps.expect("the RST carries TS");
    assert_eq!(ts.ecr, 778);
    assert_eq!(ts.val, h.now.total_millis() as u32);
}

/// Data segments a client needs to deliver 1,000 ten-octet writes made by
/// `write`, over a link without loss and 1 ms of delay each way, Nagle on.
fn segments_for_small_writes(write: impl Fn(&mut Connection, &[u8])) -> usize {
    let cfg = Config::linux();
    let mut a = H::new(
        Connection::connect(cfg, LOCAL, REMOTE, SeqNum(ISS), Instant::ZERO).unwrap(),
        Instant::ZERO,
    );
    let mut b = H::listen(cfg, PEER_ISS);
    exchange(&mut a, &mut b);
    assert_eq!(a.c.state(), State::Established);
    for i in 0..1000u32 {
        write(&mut a.c, &[i as u8; 10]);
    }
    let mut data_segments = 0;
    let mut in_flight: Vec<(Instant, bool, tcp_proto::Segment)> = Vec::new();
    for _ in 0..100_000 {
        if b.read.len() == 10_000 {
            break;
        }
        for s in a.drain() {
            if !s.payload.is_empty() {
                data_segments += 1;
            }
            in_flight.push((a.now + ms(1), true, s));
        }
        for s in b.drain() {
            in_flight.push((b.now + ms(1), false, s));
        }
        let next = in_flight
            .iter()
            .map(|x| x.0)
            .chain(a.c.poll_timeout())
            .chain(b.c.poll_timeout())
            .min()
            .expect("something pending");
        a.now = a.now.max(next);
        b.now = a.now;
        let (due, later): (Vec<_>, Vec<_>) = in_flight.into_iter().partition(|x| x.0 <= a.now);
        in_flight = later;
        for (_, to_b, s) in due {
            if to_b {
                b.c.handle_segment(b.now, s);
            } else {
                a.c.handle_segment(a.now, s);
            }
        }
        a.c.handle_timeout(a.now);
        b.c.handle_timeout(b.now);
        b.read_all();
    }
    assert_eq!(b.read.len(), 10_000);
    for (i, chunk) in b.read.chunks(10).enumerate() {
        assert!(chunk.iter().all(|&o| o == i as u8), "octets out of order");
    }
    data_segments
}

#[test]
fn nagle_holds_however_the_application_queued_the_octets() {
    let copied = segments_for_small_writes(|c, d| {
        c.send(d).unwrap();
    });
    let zero_copy = segments_for_small_writes(|c, d| {
        c.send_bytes(bytes::Bytes::copy_from_slice(d)).unwrap();
    });
    println!("1,000 ten-octet writes: send {copied} segments, send_bytes {zero_copy}");
    assert!(copied <= 12, "send: {copied} segments");
    assert!(
        zero_copy <= copied + 2,
        "send_bytes: {zero_copy} segments, send: {copied}"
    );
}
