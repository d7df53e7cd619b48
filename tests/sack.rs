//! SACK (RFC 2018) and D-SACK (RFC 2883): negotiation and the blocks a
//! receiver reports, driven segment by segment by a hand-played peer.

mod support;

use support::*;
use tcp_proto::wire::{SackBlock, Timestamps};
use tcp_proto::{Config, Segment, SeqNum, State};

fn blocks(s: &Segment) -> Vec<(u32, u32)> {
    s.options
        .sack_blocks
        .as_slice()
        .iter()
        .map(|b| (b.left.0, b.right.0))
        .collect()
}

/// The last pure ACK among `out`.
fn last_ack(out: &[Segment]) -> &Segment {
    out.iter()
        .rev()
        .find(|s| s.payload.is_empty())
        .expect("an ACK")
}

/// Active open where the peer's SYN-ACK permits SACK (and timestamps when `ts`).
fn established_sack(cfg: Config, iss: u32, peer_iss: u32, ts: bool) -> (H, SeqNum, SeqNum) {
    let (mut h, syn) = H::connect(cfg, iss);
    let mut sa = h.seg(SeqNum(peer_iss), Some(syn.seq.add(1)), SYN, b"");
    sa.options.mss = Some(1460);
    sa.options.sack_permitted = true;
    if ts {
        sa.options.timestamps = Some(Timestamps { val: 1, ecr: 0 });
    }
    h.feed(sa);
    assert_eq!(h.c.state(), State::Established);
    (h, SeqNum(iss).add(1), SeqNum(peer_iss).add(1))
}

fn ts(mut s: Segment) -> Segment {
    s.options.timestamps = Some(Timestamps { val: 2, ecr: 0 });
    s
}

#[test]
fn linux_preset_offers_sack_on_syn_and_echoes_it_on_syn_ack() {
    let (_, syn) = H::connect(Config::linux(), 100);
    assert!(syn.options.sack_permitted);
    let mut h = H::listen(Config::linux(), 500);
    let mut s = syn_from(LOCAL, REMOTE, 9, Some(1460));
    s.options.sack_permitted = true;
    let out = h.feed(s);
    assert!(out[0].options.sack_permitted, "{out:?}");
    // A SYN without sackOK gets a SYN-ACK without it.
    let mut h = H::listen(Config::linux(), 500);
    let out = h.feed(syn_from(LOCAL, REMOTE, 9, Some(1460)));
    assert!(!out[0].options.sack_permitted, "{out:?}");
}

#[test]
fn rfc9293_preset_neither_offers_nor_accepts_sack() {
    let (_, syn) = H::connect(Config::rfc9293(), 100);
    assert!(!syn.options.sack_permitted);
    let mut h = H::listen(Config::rfc9293(), 500);
    let mut s = syn_from(LOCAL, REMOTE, 9, Some(1460));
    s.options.sack_permitted = true;
    let out = h.feed(s);
    assert!(!out[0].options.sack_permitted, "{out:?}");
    // Out-of-order data then draws a plain duplicate ACK.
    let (mut h, _, p) = established_sack(Config::rfc9293(), 1, 1000, false);
    let out = h.feed(h.seg(p.add(100), Some(SeqNum(2)), ACK, &[1; 100]));
    assert!(last_ack(&out).options.sack_blocks.is_empty());
}

fn receiver_reports_latest_block_first(peer_iss: u32) {
    let mut cfg = plain();
    cfg.sack = true;
    let (mut h, una, p) = established_sack(cfg, 1, peer_iss, false);
    let seg = |h: &H, off: u32, len: usize| h.seg(p.add(off), Some(una), ACK, &vec![7; len]);
    // Holes at [0,100), [200,300), [400,500), [600,700), [800,900).
    let mut sent = Vec::new();
    for off in [100u32, 300, 500, 700, 900] {
        let out = h.feed(seg(&h, off, 100));
        let a = last_ack(&out);
        assert_eq!(a.ack, p, "ACK stays at RCV.NXT");
        sent.push((p.add(off).0, p.add(off + 100).0));
        let expect: Vec<_> = sent.iter().rev().take(4).copied().collect();
        assert_eq!(blocks(a), expect, "most recent first, at most four");
    }
    // An arrival that joins two runs reports the joined run first; the
    // older report it swallowed disappears.
    let out = h.feed(seg(&h, 200, 100));
    let a = last_ack(&out);
    assert_eq!(
        blocks(a),
        vec![
            (p.add(100).0, p.add(400).0),
            (p.add(900).0, p.add(1000).0),
            (p.add(700).0, p.add(800).0),
            (p.add(500).0, p.add(600).0),
        ]
    );
    // The first hole filled: RCV.NXT moves past the joined run; blocks below it vanish.
    let out = h.feed(seg(&h, 0, 100));
    let a = last_ack(&out);
    assert_eq!(a.ack, p.add(400));
    assert_eq!(
        blocks(a),
        vec![
            (p.add(900).0, p.add(1000).0),
            (p.add(700).0, p.add(800).0),
            (p.add(500).0, p.add(600).0),
        ]
    );
}

#[test]
fn receiver_reports_latest_block_first_at_most_four_and_drops_delivered_ones() {
    receiver_reports_latest_block_first(5000);
}

#[test]
fn receiver_blocks_are_right_across_the_sequence_wrap() {
    receiver_reports_latest_block_first(u32::MAX - 450);
}

#[test]
fn receiver_sends_three_blocks_beside_timestamps() {
    let (mut h, una, p) = established_sack(Config::linux(), 1, 7000, true);
    let mut last = Vec::new();
    for off in [100u32, 300, 500, 700, 900] {
        let out = h.feed(ts(h.seg(p.add(off), Some(una), ACK, &[1; 100])));
        last = blocks(last_ack(&out));
    }
    assert_eq!(last.len(), 3);
    assert_eq!(last[0], (p.add(900).0, p.add(1000).0));
}

#[test]
fn duplicate_below_rcv_nxt_is_reported_once_as_dsack() {
    let mut cfg = plain();
    cfg.sack = true;
    let (mut h, una, p) = established_sack(cfg, 1, u32::MAX - 50, false);
    h.feed(h.seg(p, Some(una), ACK, &[1; 200]));
    h.advance(ms(50));
    // The same segment again: D-SACK names it (RFC 2883 §4.1.1).
    let out = h.feed(h.seg(p, Some(una), ACK, &[1; 200]));
    let a = last_ack(&out);
    assert_eq!(a.ack, p.add(200));
    assert_eq!(blocks(a), vec![(p.0, p.add(200).0)]);
    // A partly old segment: only the old part is a duplicate.
    let out = h.feed(h.seg(p.add(150), Some(una), ACK, &[1; 100]));
    let a = last_ack(&out);
    assert_eq!(a.ack, p.add(250));
    assert_eq!(blocks(a), vec![(p.add(150).0, p.add(200).0)]);
    // The next ACK carries it no more.
    let out = h.feed(h.seg(p.add(400), Some(una), ACK, &[1; 100]));
    assert_eq!(blocks(last_ack(&out)), vec![(p.add(400).0, p.add(500).0)]);
}

#[test]
fn duplicate_of_out_of_order_data_is_dsack_followed_by_its_run() {
    let mut cfg = plain();
    cfg.sack = true;
    let (mut h, una, p) = established_sack(cfg, 1, 300, false);
    h.feed(h.seg(p.add(1000), Some(una), ACK, &[1; 500]));
    h.feed(h.seg(p.add(3000), Some(una), ACK, &[1; 500]));
    // RFC 2883 §4.2.2 (example 2 shape): a duplicate inside a held run.
    let out = h.feed(h.seg(p.add(1100), Some(una), ACK, &[1; 100]));
    assert_eq!(
        blocks(last_ack(&out)),
        vec![
            (p.add(1100).0, p.add(1200).0),
            (p.add(1000).0, p.add(1500).0),
            (p.add(3000).0, p.add(3500).0),
        ]
    );
}

#[test]
fn sack_blocks_never_push_a_data_segment_past_the_mss() {
    let (mut h, una, p) = established_sack(Config::linux(), 1, 300, true);
    for off in [1000u32, 3000, 5000] {
        h.feed(ts(h.seg(p.add(off), Some(una), ACK, &[1; 100])));
    }
    let mss = h.c.stats().snd_mss as usize;
    h.c.send(&vec![9u8; 10 * mss]).unwrap();
    let out = h.drain();
    let data: Vec<_> = out.iter().filter(|s| !s.payload.is_empty()).collect();
    assert!(!data.is_empty());
    for s in data {
        let opt = s.options.encoded_len();
        assert!(
            s.payload.len() + opt <= mss + 12,
            "payload {} + options {opt} exceed MSS {mss} + timestamps",
            s.payload.len()
        );
    }
    let _ = SackBlock::default();
}
