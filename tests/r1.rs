//! R1 (RFC 9293 §3.8.3): after `Config::retries1` retransmissions of the
//! same data or SYN the application hears of the delivery problem
//! (MUST-20's negative advice, MUST-22 for SYNs, SHLD-9), once per
//! episode, and the connection keeps trying until R2.

mod support;

use support::*;
use tcp_proto::{CloseReason, Event, SeqNum, State};

const ISS: u32 = u32::MAX - 500;
const PEER_ISS: u32 = 9000;

#[test]
fn the_third_data_retransmission_reports_a_delivery_problem_once_per_episode() {
    let (mut h, una, _) = established_active(plain(), ISS, PEER_ISS);
    h.c.send(&pattern(1000, 1)).unwrap();
    h.drain();
    for n in 1..=5 {
        let (_, out) = h.fire().unwrap();
        assert_eq!(out[0].seq, una, "retransmission {n}");
        let want = usize::from(n >= 3);
        assert_eq!(h.count_events(Event::DeliveryProblem), want, "after {n}");
    }
    assert_eq!(h.c.state(), State::Established, "R2 is 15");
    // Progress ends the episode; the next one reports again.
    let ack = h.seg(SeqNum(PEER_ISS).add(1), Some(una.add(1000)), ACK, b"");
    h.feed(ack);
    h.c.send(&pattern(500, 2)).unwrap();
    h.drain();
    for _ in 0..3 {
        h.fire().unwrap();
    }
    assert_eq!(h.count_events(Event::DeliveryProblem), 2);
}

#[test]
fn syn_retransmissions_report_at_r1_too_and_zero_turns_it_off() {
    let (mut h, _) = H::connect(plain(), ISS);
    for _ in 0..3 {
        h.fire().unwrap();
    }
    assert_eq!(h.count_events(Event::DeliveryProblem), 1, "MUST-22");
    assert_eq!(h.c.state(), State::SynSent);

    let mut cfg = plain();
    cfg.retries1 = 0;
    let (mut h, _) = H::connect(cfg, ISS);
    while h.fire().is_some() {}
    assert_eq!(h.closed_event(), Some(CloseReason::TimedOut));
    assert_eq!(h.count_events(Event::DeliveryProblem), 0);
}
