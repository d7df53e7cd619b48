//! RTT sampling like Linux (RFC 6298 §3, RFC 7323 §4): sequence-based
//! samples from segments never retransmitted, timestamp echoes only as a
//! fallback and never when stale; a valid sample clears the RTO backoff.

mod support;

use support::*;
use tcp_proto::wire::Timestamps;
use tcp_proto::{Config, Segment, SeqNum, State};

/// Linux preset with timestamps: the peer's SYN-ACK offers them.
fn established_ts() -> (H, SeqNum, SeqNum) {
    let (mut h, syn) = H::connect(Config::linux(), 1000);
    let mut sa = h.seg(SeqNum(50_000), Some(syn.seq.add(1)), SYN, b"");
    sa.options.mss = Some(1460);
    sa.options.timestamps = Some(Timestamps {
        val: 1,
        ecr: syn.options.timestamps.unwrap().val,
    });
    h.advance(ms(100));
    h.feed(sa);
    assert_eq!(h.c.state(), State::Established);
    (h, SeqNum(1001), SeqNum(50_001))
}

fn ack_with_ecr(h: &H, rcv: SeqNum, ack: SeqNum, ecr: u32) -> Segment {
    let mut s = h.seg(rcv, Some(ack), ACK, b"");
    s.options.timestamps = Some(Timestamps { val: 2, ecr });
    s
}

fn tsval(s: &Segment) -> u32 {
    s.options.timestamps.unwrap().val
}

#[test]
fn stale_timestamp_echo_never_becomes_an_rtt_sample() {
    let (mut h, snd, rcv) = established_ts();
    let srtt0 = h.c.stats().srtt.unwrap();
    assert_eq!(srtt0, ms(100), "the SYN timed by its probe");
    // One segment goes at t, is lost, and is resent by the RTO.
    h.c.send(&[7u8; 1000]).unwrap();
    let first = h.drain();
    let old_tsval = tsval(&first[0]);
    let rtx = h.advance(ms(350));
    assert_eq!(rtx.len(), 1, "{rtx:?}");
    assert_eq!(h.c.stats().rto_expirations, 1);
    // The ACK of the retransmission echoes the *original* transmission's
    // TSval (a stale echo): it times neither transmission.
    h.advance(ms(100));
    h.feed(ack_with_ecr(&h, rcv, snd.add(1000), old_tsval));
    let st = h.c.stats();
    assert_eq!(st.srtt, Some(srtt0), "no sample from a stale echo: {st:?}");
    // Thirty more such rounds over a lossy path: the RTO stays sane (the
    // 35 % loss demo used to inflate it to tens of seconds).
    let mut una = snd.add(1000);
    for _ in 0..30 {
        h.c.send(&[7u8; 1000]).unwrap();
        let sent = h.drain();
        let stale = tsval(&sent[0]).wrapping_sub(5000); // five seconds old
        h.advance(secs(2));
        h.advance(ms(100));
        h.feed(ack_with_ecr(&h, rcv, una.add(1000), stale));
        una = una.add(1000);
        // An in-order ACK of fresh data echoes an old TSval too (the peer's
        // TS.Recent lagging): the sequence-based sample wins.
        h.c.send(&[8u8; 1000]).unwrap();
        h.drain();
        h.advance(ms(100));
        h.feed(ack_with_ecr(&h, rcv, una.add(1000), stale));
        una = una.add(1000);
    }
    let st = h.c.stats();
    assert!(st.srtt.unwrap() <= ms(110), "srtt {:?}", st.srtt);
    assert!(st.rto <= ms(400), "rto {:?}", st.rto);
}

#[test]
fn valid_sample_after_a_timeout_clears_the_backoff() {
    let (mut h, snd, rcv) = established_ts();
    h.c.send(&[7u8; 1000]).unwrap();
    h.drain();
    let base = h.c.stats().rto;
    h.advance(base);
    h.advance(base * 2);
    assert_eq!(h.c.stats().rto_expirations, 2);
    assert!(h.c.stats().rto >= base * 4);
    // The retransmission's ACK, echoing the retransmission's TSval: valid
    // (RFC 7323 §4.1 times it), and RFC 6298 (5.7) drops the backoff.
    let last = h.log.last().unwrap().1.clone();
    h.advance(ms(100));
    h.feed(ack_with_ecr(&h, rcv, snd.add(1000), tsval(&last)));
    let st = h.c.stats();
    assert!(
        st.rto < base * 2,
        "backoff cleared: {:?} vs base {base:?}",
        st.rto
    );
    // Fresh data, timed by sequence: a valid sample too.
    h.c.send(&[8u8; 1000]).unwrap();
    h.drain();
    h.advance(ms(100));
    h.feed(ack_with_ecr(&h, rcv, snd.add(2000), 0));
    assert_eq!(h.c.stats().srtt.map(|d| d.as_millis()), Some(100));
}
