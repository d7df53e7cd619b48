//! SACK (RFC 2018) and D-SACK (RFC 2883): negotiation and the blocks a
//! receiver reports, driven segment by segment by a hand-played peer.

mod support;

use support::*;
use tcp_proto::wire::{SackBlock, Timestamps};
use tcp_proto::{Config, Instant, Segment, SeqNum, State};

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

// ---- sender: scoreboard, RFC 6675 recovery, PRR, limited transmit ----

/// The blocks a receiver holding `held` (segment indexes above the
/// cumulative ACK) would send after `latest` arrived: the run holding it
/// first, then the other runs, highest first, at most `max`.
fn blocks_for(at: impl Fn(u32) -> SeqNum, held: &[u32], latest: u32, max: usize) -> Vec<SackBlock> {
    let mut sorted = held.to_vec();
    sorted.sort_unstable();
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for k in sorted {
        match runs.last_mut() {
            Some(r) if r.1 == k => r.1 = k + 1,
            _ => runs.push((k, k + 1)),
        }
    }
    let first = *runs.iter().find(|r| r.0 <= latest && latest < r.1).unwrap();
    let mut out = vec![first];
    out.extend(runs.iter().rev().filter(|r| **r != first));
    out.truncate(max);
    out.into_iter()
        .map(|(l, r)| SackBlock {
            left: at(l),
            right: at(r),
        })
        .collect()
}

fn sack_ack(h: &H, rcv: SeqNum, ack: SeqNum, blocks: &[SackBlock]) -> Segment {
    let mut s = h.seg(rcv, Some(ack), ACK, b"");
    for b in blocks {
        s.options.sack_blocks.push(*b);
    }
    s
}

fn data(out: &[Segment]) -> Vec<SeqNum> {
    out.iter()
        .filter(|s| !s.payload.is_empty())
        .map(|s| s.seq)
        .collect()
}

/// 20 segments in flight, segments 2, 5 and 8 lost; the peer acknowledges
/// every other segment as it arrives (one round trip of ACKs). Returns the
/// retransmissions sent during that round trip.
fn one_round_with_three_holes(sack: bool, iss: u32) -> (Vec<SeqNum>, Vec<SeqNum>, H) {
    let mut cfg = plain();
    cfg.sack = sack;
    cfg.initial_window = 20;
    let (mut h, snd, rcv) = established_sack(cfg, iss, 9000, false);
    let mss = h.c.stats().snd_mss;
    let at = move |k: u32| snd.add(k * mss);
    h.c.send(&pattern(40 * mss as usize, 1)).unwrap();
    let first = data(&h.drain());
    assert_eq!(first.len(), 20);
    let lost = [2u32, 5, 8];
    let mut held = Vec::new();
    let mut rtx = Vec::new();
    let mut fresh = Vec::new();
    for k in 0..20u32 {
        if lost.contains(&k) {
            continue;
        }
        let seg = if k < 2 {
            h.seg(rcv, Some(at(k + 1)), ACK, b"")
        } else {
            held.push(k);
            sack_ack(&h, rcv, at(2), &blocks_for(at, &held, k, 4))
        };
        for s in data(&h.feed(seg)) {
            if s.lt(at(20)) {
                rtx.push(s);
            } else {
                fresh.push(s);
            }
        }
    }
    (rtx, fresh, h)
}

fn several_holes_in_one_round_trip(iss: u32) {
    let (rtx, _, h) = one_round_with_three_holes(true, iss);
    let mss = h.c.stats().snd_mss;
    let at = |k: u32| SeqNum(iss).add(1 + k * mss);
    assert_eq!(
        rtx,
        vec![at(2), at(5), at(8)],
        "RFC 6675 resends every lost hole within the round trip"
    );
    assert_eq!(h.c.stats().fast_retransmits, 1, "one recovery episode");
    // NewReno without SACK: one hole per round trip.
    let (rtx, _, _) = one_round_with_three_holes(false, iss);
    assert_eq!(rtx, vec![at(2)], "NewReno repairs only the first hole");
}

#[test]
fn rfc6675_recovery_repairs_several_holes_in_one_round_trip_where_newreno_repairs_one() {
    several_holes_in_one_round_trip(100);
}

#[test]
fn rfc6675_recovery_across_the_sequence_wrap() {
    several_holes_in_one_round_trip(u32::MAX - 5000);
}

/// A receiver model at segment granularity: every segment `h` sends goes
/// into a FIFO link; first transmissions of `lost` are dropped; each arrival
/// draws an ACK with receiver-style SACK blocks. Runs until the first
/// recovery ends (the cumulative ACK passes everything held) and returns
/// (ssthresh, bytes in flight then, segments sent during recovery).
fn run_until_recovery_ends(h: &mut H, snd: SeqNum, rcv: SeqNum, lost: &[u32]) -> (u32, u32, usize) {
    let mss = h.c.stats().snd_mss;
    let at = move |k: u32| snd.add(k * mss);
    let mut link: std::collections::VecDeque<Segment> = h.drain().into_iter().collect();
    let mut sent_once = std::collections::HashSet::new();
    let mut held: Vec<u32> = Vec::new();
    let mut rcv_nxt = 0u32;
    let mut in_recovery_sends = 0;
    for _ in 0..10_000 {
        let Some(seg) = link.pop_front() else { break };
        if seg.payload.is_empty() {
            continue;
        }
        let k = seg.seq.dist(snd) / mss;
        if sent_once.insert(k) && lost.contains(&k) {
            continue;
        }
        if k == rcv_nxt {
            rcv_nxt += 1;
            while let Some(i) = held.iter().position(|&x| x == rcv_nxt) {
                held.swap_remove(i);
                rcv_nxt += 1;
            }
        } else if k > rcv_nxt && !held.contains(&k) {
            held.push(k);
        }
        let blocks = if held.is_empty() {
            vec![]
        } else {
            let latest = if held.contains(&k) {
                k
            } else {
                *held.iter().max().unwrap()
            };
            blocks_for(at, &held, latest, 4)
        };
        let was = h.c.stats().fast_retransmits;
        let out = h.feed(sack_ack(h, rcv, at(rcv_nxt), &blocks));
        if was == 1 || h.c.stats().fast_retransmits == 1 {
            in_recovery_sends += data(&out).len();
        }
        link.extend(out);
        if h.c.stats().fast_retransmits == 1 && held.is_empty() {
            let st = h.c.stats();
            return (st.ssthresh, st.bytes_in_flight, in_recovery_sends);
        }
    }
    panic!("recovery did not end");
}

#[test]
fn prr_sends_about_ssthresh_by_the_end_of_recovery() {
    let mut cfg = plain();
    cfg.initial_window = 20;
    let (mut h, snd, rcv) = established_sack(cfg, 100, 9000, false);
    let mss = h.c.stats().snd_mss;
    h.c.send(&pattern(200 * mss as usize, 1)).unwrap();
    let (ssthresh, flight, sends) = run_until_recovery_ends(&mut h, snd, rcv, &[2, 5, 8]);
    // RFC 6937: by the end of recovery what is in flight has come down to
    // ssthresh, by sending about half a segment per segment delivered.
    assert!(
        flight <= ssthresh + mss && flight + 2 * mss >= ssthresh,
        "in flight {flight} at the end of recovery, ssthresh {ssthresh}"
    );
    let st = h.c.stats();
    assert!(
        st.cwnd <= ssthresh,
        "cwnd {} > ssthresh {ssthresh}",
        st.cwnd
    );
    assert!(
        sends as u32 * mss >= ssthresh,
        "{sends} segments sent in recovery"
    );
}

#[test]
fn limited_transmit_sends_new_data_on_the_first_two_dup_acks() {
    for sack in [false, true] {
        let mut cfg = plain();
        cfg.sack = sack;
        let (mut h, snd, rcv) = established_sack(cfg, 100, 9000, false);
        let mss = h.c.stats().snd_mss;
        let at = |k: u32| snd.add(k * mss);
        h.c.send(&pattern(20 * mss as usize, 1)).unwrap();
        assert_eq!(data(&h.drain()).len(), 10, "IW10");
        // Segment 0 is lost; 1 and 2 arrive.
        for (n, k) in [(1usize, 1u32), (2, 2)] {
            let mut a = h.seg(rcv, Some(at(0)), ACK, b"");
            if sack {
                a.options.sack_blocks.push(SackBlock {
                    left: at(1),
                    right: at(k + 1),
                });
            }
            let out = data(&h.feed(a));
            assert_eq!(
                out,
                vec![at(9 + n as u32)],
                "dup ACK {n} (sack {sack}) sends one new segment"
            );
        }
        assert_eq!(h.c.stats().fast_retransmits, 0);
    }
}

/// RFC 5681 §3.2 step 2 (and RFC 6675 §5 step 4.2): the FlightSize a
/// loss halves leaves out what limited transmit sent on the first two
/// duplicate ACKs. A window-limited NewReno sender with cwnd 10 goes to
/// ssthresh 5, not 6 — with and without SACK.
#[test]
fn limited_transmit_is_not_counted_in_the_flight_that_a_loss_halves() {
    for sack in [false, true] {
        let mut cfg = plain();
        cfg.sack = sack;
        cfg.rack = false;
        cfg.congestion = tcp_proto::CongestionAlgorithm::NewReno;
        let (mut h, snd, rcv) = established_sack(cfg, 100, 9000, false);
        let mss = h.c.stats().snd_mss;
        let at = |k: u32| snd.add(k * mss);
        h.c.send(&pattern(30 * mss as usize, 1)).unwrap();
        assert_eq!(data(&h.drain()).len(), 10, "IW10");
        let mut sent = Vec::new();
        for k in 1..=3u32 {
            let mut a = h.seg(rcv, Some(at(0)), ACK, b"");
            if sack {
                a.options.sack_blocks.push(SackBlock {
                    left: at(1),
                    right: at(k + 1),
                });
            }
            sent.extend(data(&h.feed(a)));
        }
        assert!(
            sent.contains(&at(10)) && sent.contains(&at(11)),
            "limited transmit: {sent:?}"
        );
        assert!(sent.contains(&at(0)), "fast retransmit: {sent:?}");
        let st = h.c.stats();
        assert_eq!(st.fast_retransmits, 1);
        assert_eq!(st.ssthresh, 5 * mss, "sack {sack}: {st:?}");
    }
}

#[test]
fn reneging_peer_that_drops_sacked_data_still_gets_everything() {
    let mut cfg = plain();
    cfg.initial_window = 20;
    let (mut h, snd, rcv) = established_sack(cfg, u32::MAX - 3000, 9000, false);
    let mss = h.c.stats().snd_mss;
    let at = move |k: u32| snd.add(k * mss);
    let total = 60u32;
    let payload = pattern((total * mss) as usize, 3);
    h.c.send(&payload).unwrap();
    let lost = [2u32, 9, 10, 30];
    let mut link: std::collections::VecDeque<Segment> = h.drain().into_iter().collect();
    let mut sent_once = std::collections::HashSet::new();
    // What it SACKed and then threw away.
    let mut claimed: Vec<u32> = Vec::new();
    let mut got = Vec::new();
    let mut rcv_nxt = 0u32;
    let mut steps = 0;
    while rcv_nxt < total {
        steps += 1;
        assert!(steps < 20_000, "no progress: rcv_nxt {rcv_nxt}");
        let Some(seg) = link.pop_front() else {
            let (_, out) = h.fire().expect("a timer while data is outstanding");
            link.extend(out);
            assert!(h.now < Instant::from_secs(120), "stalled");
            continue;
        };
        if seg.payload.is_empty() {
            continue;
        }
        let off = seg.seq.dist(snd);
        let k = off / mss;
        if sent_once.insert(k) && lost.contains(&k) {
            continue;
        }
        let have = got.len() as u32;
        let end = off + seg.payload.len() as u32;
        if off <= have && end > have {
            got.extend_from_slice(&seg.payload[(have - off) as usize..]);
            rcv_nxt = got.len() as u32 / mss;
        } else if off > have && off % mss == 0 && !claimed.contains(&k) {
            claimed.push(k); // SACKed, and dropped
        }
        claimed.retain(|&c| c >= rcv_nxt && at(c).dist(snd) >= got.len() as u32);
        let blocks = if claimed.is_empty() {
            vec![]
        } else {
            let latest = if claimed.contains(&k) {
                k
            } else {
                *claimed.iter().max().unwrap()
            };
            blocks_for(at, &claimed, latest, 4)
        };
        let ack = snd.add(got.len() as u32);
        link.extend(h.feed(sack_ack(&h, rcv, ack, &blocks)));
    }
    assert_eq!(got, payload, "every octet, in order, once");
}

/// What a receiver modelled at segment granularity saw of one transfer.
#[derive(Debug)]
struct Delivery {
    /// Segments sent after the first RTO that the receiver already held
    /// (needless resends).
    needless: usize,
    rtos: u64,
    /// Virtual time from the first send to the last octet held in order.
    took: std::time::Duration,
}

/// Sends `total` segments and plays an honest SACK receiver (blocks most
/// recent first, at most `max_blocks`) over a FIFO link until it holds
/// everything; `drop(k, n)` says whether the `n`-th transmission (1 = the
/// first) of segment `k` is lost. Timers fire when the link is empty.
fn deliver(
    cfg: Config,
    total: u32,
    max_blocks: usize,
    drop: impl Fn(u32, u32) -> bool,
) -> Delivery {
    let (mut h, snd, rcv) = established_sack(cfg, u32::MAX - 7000, 9000, false);
    let mss = h.c.stats().snd_mss;
    let at = move |k: u32| snd.add(k * mss);
    h.c.send(&pattern((total * mss) as usize, 5)).unwrap();
    let start = h.now;
    let mut link: std::collections::VecDeque<Segment> = h.drain().into_iter().collect();
    let mut sends = std::collections::HashMap::<u32, u32>::new();
    let mut held: Vec<u32> = Vec::new();
    let mut rcv_nxt = 0u32;
    let mut needless = 0;
    for _ in 0..100_000 {
        if rcv_nxt == total {
            break;
        }
        let Some(seg) = link.pop_front() else {
            let (_, out) = h.fire().expect("a timer while data is outstanding");
            assert!(h.now - start < ms(60_000), "stalled");
            link.extend(out);
            continue;
        };
        if seg.payload.is_empty() {
            continue;
        }
        let k = seg.seq.dist(snd) / mss;
        let n = sends.entry(k).or_default();
        *n += 1;
        if (k < rcv_nxt || held.contains(&k)) && h.c.stats().rto_expirations > 0 {
            needless += 1;
        }
        if drop(k, *n) {
            continue;
        }
        if k == rcv_nxt {
            rcv_nxt += 1;
            while let Some(i) = held.iter().position(|&x| x == rcv_nxt) {
                held.swap_remove(i);
                rcv_nxt += 1;
            }
        } else if k > rcv_nxt && !held.contains(&k) {
            held.push(k);
        }
        let blocks = if held.is_empty() {
            vec![]
        } else {
            let latest = if held.contains(&k) {
                k
            } else {
                *held.iter().max().unwrap()
            };
            blocks_for(at, &held, latest, max_blocks)
        };
        h.advance(ms(1));
        let out = h.feed(sack_ack(&h, rcv, at(rcv_nxt), &blocks));
        link.extend(out);
    }
    assert_eq!(rcv_nxt, total, "everything delivered");
    Delivery {
        needless,
        rtos: h.c.stats().rto_expirations,
        took: h.now - start,
    }
}

/// RFC 6675 §5.1 (with Errata 1610) and Linux: what the peer SACKed
/// survives the first RTO, so go-back-N resends only the holes. Six holes
/// whose fast retransmissions are lost too (only the timer finds that
/// without RACK, and here RACK has nothing sent later to go by); the
/// receiver reports only its three most recent blocks, so a sender that
/// forgot the scoreboard at the timeout (RFC 2018 §8's SHOULD) would
/// resend segments of the older ranges the receiver holds.
#[test]
fn the_first_rto_keeps_the_scoreboard_and_resends_only_holes() {
    for rack in [false, true] {
        let mut cfg = plain();
        cfg.rack = rack;
        cfg.initial_window = 40;
        let holes = [0u32, 5, 10, 15, 20, 25];
        let d = deliver(cfg, 40, 3, |k, n| holes.contains(&k) && n <= 2);
        assert!(
            d.rtos >= 1,
            "rack {rack}: the timer found the lost retransmissions: {d:?}"
        );
        assert_eq!(
            d.needless, 0,
            "rack {rack}: nothing the receiver held was resent: {d:?}"
        );
    }
}

/// A receiver that reneges (drops what it SACKed) is still served across
/// timeouts: the scoreboard kept at the first RTO is forgotten when an ACK
/// stops at a SACKed edge, and go-back-N resends from SND.UNA.
#[test]
fn a_kept_scoreboard_is_forgotten_when_the_receiver_reneges_after_an_rto() {
    let mut cfg = plain();
    cfg.rack = false;
    cfg.initial_window = 20;
    let (mut h, snd, rcv) = established_sack(cfg, 100, 9000, false);
    let mss = h.c.stats().snd_mss;
    let at = move |k: u32| snd.add(k * mss);
    h.c.send(&pattern((20 * mss) as usize, 5)).unwrap();
    assert_eq!(data(&h.drain()).len(), 20);
    // Segment 0 is lost; 1..=19 are SACKed; the fast retransmission is lost.
    for k in 1..20u32 {
        let b = [SackBlock {
            left: at(1),
            right: at(k + 1),
        }];
        h.feed(sack_ack(&h, rcv, at(0), &b));
    }
    // The timer: segment 0 again, nothing SACKed.
    let mut rto_out = Vec::new();
    while h.c.stats().rto_expirations == 0 {
        rto_out = data(&h.fire().expect("RTO").1);
    }
    assert_eq!(rto_out, vec![at(0)]);
    // The receiver threw 1..=19 away: its ACK stops at their left edge.
    let out = data(&h.feed(h.seg(rcv, Some(at(1)), ACK, b"")));
    assert_eq!(
        out.first(),
        Some(&at(1)),
        "reneging seen: go-back-N resends from SND.UNA: {out:?}"
    );
}

/// RFC 6675 §4 NextSeg rule 4: when no hole is lost, no new data is
/// there and no other hole lies below the highest SACK, one "rescue"
/// retransmission per recovery resends the segment holding the highest
/// unSACKed octet. Segment 3 and the tail (18, 19) are lost and the
/// application has nothing more to send: the rescue repairs the tail
/// within the recovery instead of the RTO. RACK-TLP (RFC 8985) covers
/// tails by its probe, so the rule serves RFC 6675 loss detection only.
#[test]
fn rescue_retransmission_repairs_a_lost_tail_in_recovery_without_rto() {
    let mut cfg = plain();
    cfg.rack = false;
    cfg.initial_window = 20;
    let lost = [3u32, 18, 19];
    let d = deliver(cfg, 20, 4, |k, n| lost.contains(&k) && n == 1);
    assert_eq!(d.rtos, 0, "the tail was repaired without the timer: {d:?}");
    assert!(d.took < ms(200), "{d:?}");
}

#[test]
fn hostile_sack_flood_with_tiny_segments_keeps_the_connection_sane() {
    let mut cfg = plain();
    cfg.send_buffer = 1 << 20;
    let (mut h, syn) = H::connect(cfg, 5);
    let mut sa = h.seg(SeqNum(9000), Some(syn.seq.add(1)), SYN, b"");
    sa.options.mss = Some(64);
    sa.options.sack_permitted = true;
    h.feed(sa);
    let snd = SeqNum(6);
    let rcv = SeqNum(9001);
    h.c.send(&vec![1u8; 1 << 20]).unwrap();
    let mut sent = 0u32;
    for _ in 0..200 {
        // Open the window wide: ACK a little so that cwnd grows.
        let out = h.drain();
        sent += out.len() as u32;
        let una = snd.add(64);
        let mut a = h.seg(rcv, Some(una), ACK, b"");
        a.window = 65535;
        h.feed(a);
    }
    let nxt_guess = snd.add(sent * 64);
    let mut x = 99u32;
    for _ in 0..50_000 {
        let mut a = h.seg(rcv, Some(snd.add(64)), ACK, b"");
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let off = x % (sent * 64 + 4096);
            let len = 1 + (x >> 20) % 3;
            a.options.sack_blocks.push(SackBlock {
                left: snd.add(off),
                right: snd.add(off + len),
            });
        }
        h.c.handle_segment(h.now, a);
        while h.c.poll_transmit(h.now).is_some() {}
    }
    assert_eq!(h.c.state(), State::Established);
    // Whatever the flood claimed, nothing was freed: a cumulative ACK of
    // everything sent empties the flight, and sending goes on.
    let nxt = snd.add(h.c.stats().bytes_in_flight + 64);
    assert!(nxt.dist(snd) <= nxt_guess.dist(snd) + 64 * 4096);
    let out = h.feed(h.seg(rcv, Some(nxt), ACK, b""));
    assert!(!data(&out).is_empty(), "sending resumes");
    assert!(
        data(&out).iter().all(|s| s.ge(nxt)),
        "nothing below the ACK is resent"
    );
}

// ---- RACK-TLP (RFC 8985) ----

/// Linux preset with SACK and timestamps off for hand-made segments, the
/// RTT measured as 50 ms.
fn established_rack(iw: u32) -> (H, SeqNum, SeqNum) {
    let mut cfg = plain();
    cfg.initial_window = iw;
    let (mut h, syn) = H::connect(cfg, 100);
    let mut sa = h.seg(SeqNum(9000), Some(syn.seq.add(1)), SYN, b"");
    sa.options.mss = Some(1460);
    sa.options.sack_permitted = true;
    h.advance(ms(50));
    h.feed(sa);
    assert_eq!(h.c.stats().srtt, Some(ms(50)));
    (h, SeqNum(101), SeqNum(9001))
}

#[test]
fn tail_loss_probe_fires_on_tail_loss_and_recovers_without_rto() {
    let (mut h, snd, rcv) = established_rack(10);
    let mss = h.c.stats().snd_mss;
    let at = |k: u32| snd.add(k * mss);
    h.c.send(&pattern(10 * mss as usize, 2)).unwrap();
    assert_eq!(data(&h.drain()).len(), 10);
    // The last three segments are lost; the first seven are acknowledged.
    h.advance(ms(50));
    for k in 1..=7 {
        let out = h.feed(h.seg(rcv, Some(at(k)), ACK, b""));
        assert!(data(&out).is_empty());
    }
    // About two RTTs later the probe resends the last segment.
    let (when, out) = h.fire().unwrap();
    let probe = data(&out);
    assert_eq!(probe, vec![at(9)], "the probe is the last segment: {out:?}");
    assert!(
        when - tcp_proto::Instant::ZERO < ms(50 + 50 + 150),
        "probe at {when:?}"
    );
    assert_eq!(h.c.stats().tail_loss_probes, 1);
    assert_eq!(h.c.stats().rto_expirations, 0);
    // The probe arrives: its SACK tells RACK that 7 and 8, sent before it, are lost.
    h.advance(ms(50));
    let mut a = h.seg(rcv, Some(at(7)), ACK, b"");
    a.options.sack_blocks.push(SackBlock {
        left: at(9),
        right: at(10),
    });
    let out = h.feed(a);
    // PRR (RFC 9937 §4): the ACK did not move SND.UNA, so the conservative
    // bound sends what it delivered, one segment; the ACK of that
    // retransmission is a SafeACK and lets the next one go.
    assert_eq!(data(&out), vec![at(7)], "RACK repairs the tail: {out:?}");
    h.advance(ms(50));
    let mut a = h.seg(rcv, Some(at(8)), ACK, b"");
    a.options.sack_blocks.push(SackBlock {
        left: at(9),
        right: at(10),
    });
    let out = h.feed(a);
    assert_eq!(data(&out), vec![at(8)], "then the other hole: {out:?}");
    h.advance(ms(50));
    h.feed(h.seg(rcv, Some(at(10)), ACK, b""));
    let st = h.c.stats();
    assert_eq!(st.bytes_in_flight, 0);
    assert_eq!(st.rto_expirations, 0, "no RTO: {st:?}");
}

#[test]
fn rack_detects_a_lost_retransmission_and_resends_it_without_rto() {
    let (mut h, snd, rcv) = established_rack(20);
    let mss = h.c.stats().snd_mss;
    let at = |k: u32| snd.add(k * mss);
    h.c.send(&pattern(60 * mss as usize, 2)).unwrap();
    assert_eq!(data(&h.drain()).len(), 20);
    h.advance(ms(50));
    // Segment 0 lost; 1..=19 arrive and are SACKed: recovery resends 0.
    let mut rtx_at = None;
    let mut sent_after = Vec::new();
    for k in 1..20u32 {
        let mut a = h.seg(rcv, Some(at(0)), ACK, b"");
        a.options.sack_blocks.push(SackBlock {
            left: at(1),
            right: at(k + 1),
        });
        for s in data(&h.feed(a)) {
            if s == at(0) {
                rtx_at = Some(h.now);
            } else {
                sent_after.push(s);
            }
        }
    }
    assert!(rtx_at.is_some(), "segment 0 was resent");
    assert!(
        !sent_after.is_empty(),
        "new data went out after the retransmission"
    );
    // The retransmission is lost too; the new data sent after it arrives.
    h.advance(ms(50));
    let mut out = Vec::new();
    for (i, s) in sent_after.iter().enumerate() {
        let mut a = h.seg(rcv, Some(at(0)), ACK, b"");
        a.options.sack_blocks.push(SackBlock {
            left: at(1),
            right: s.add(mss),
        });
        let _ = i;
        out.extend(h.feed(a));
    }
    // RACK's clock (RTT + reordering window) runs out: segment 0 goes again.
    out.extend(h.advance(ms(30)));
    assert!(
        data(&out).contains(&at(0)),
        "the lost retransmission was resent: {:?}",
        data(&out)
    );
    let st = h.c.stats();
    assert_eq!(st.rto_expirations, 0, "{st:?}");
    assert_eq!(st.rack_lost_retransmits, 1);
}

/// RACK with 40 segments queued, 20 sent (IW20, RTT 50 ms): segments 0..5
/// are acknowledged after a `prelude` (nothing more, a D-SACK, or
/// reordering); segment 5 is lost and 6, 7, 8 arrive, which starts a
/// recovery that resends 5; then 9 and 13 arrive (10, 11, 12 missing, one
/// segment SACKed above them: not lost by DupThresh). Returns how long
/// until the connection's next timer then: RACK's reordering timer when it
/// waits to call 10-12 lost, else the RTO. After reordering, 5 itself is
/// not resent at DupThresh and the time to RACK's timer for it is returned.
fn second_hole_in_recovery(prelude: &str) -> (H, std::time::Duration) {
    let (mut h, snd, rcv) = established_rack(20);
    let mss = h.c.stats().snd_mss;
    let at = move |k: u32| snd.add(k * mss);
    h.c.send(&pattern(40 * mss as usize, 2)).unwrap();
    assert_eq!(data(&h.drain()).len(), 20);
    h.advance(ms(50));
    let block = |l: u32, r: u32| SackBlock {
        left: at(l),
        right: at(r),
    };
    match prelude {
        // A duplicate of segment 3 arrived: D-SACK.
        "dsack" => {
            h.feed(sack_ack(&h, rcv, at(5), &[block(3, 4)]));
        }
        // Segment 0 arrives after 1 and 2, never resent: reordering.
        "reorder" => {
            h.feed(sack_ack(&h, rcv, at(0), &[block(1, 2)]));
            h.feed(sack_ack(&h, rcv, at(0), &[block(1, 3)]));
            h.feed(h.seg(rcv, Some(at(3)), ACK, b""));
            h.feed(h.seg(rcv, Some(at(5)), ACK, b""));
        }
        _ => {
            h.feed(h.seg(rcv, Some(at(5)), ACK, b""));
        }
    }
    let mut out = Vec::new();
    for k in 7..=9 {
        out.extend(data(&h.feed(sack_ack(&h, rcv, at(5), &[block(6, k)]))));
    }
    if prelude == "reorder" {
        // DupThresh does not call 5 lost; RACK waits min RTT / 4.
        assert!(!out.contains(&at(5)), "reordering seen: {out:?}");
        let next = h.c.poll_timeout().expect("a timer") - h.now;
        return (h, next);
    }
    assert!(
        out.contains(&at(5)),
        "{prelude}: recovery resent 5: {out:?}"
    );
    let out = data(&h.feed(sack_ack(&h, rcv, at(5), &[block(13, 14), block(6, 10)])));
    assert!(out.is_empty(), "{prelude}: PRR has no room: {out:?}");
    let next = h.c.poll_timeout().expect("a timer") - h.now;
    (h, next)
}

/// RFC 8985 §6.2 step 4: until reordering is seen, RACK's reordering
/// window is zero in recovery, so the holes sent before a SACKed segment
/// are lost at once, though DupThresh would not call them lost (one
/// segment SACKed above). A D-SACK (a needless retransmission) is not
/// reordering (step 3). After real reordering (an original delivered
/// below the highest SACK) RACK waits min RTT / 4 first.
#[test]
fn in_recovery_rack_marks_holes_lost_at_once_unless_reordering_was_seen() {
    for prelude in ["plain", "dsack"] {
        let (h, next) = second_hole_in_recovery(prelude);
        assert!(
            next > ms(100),
            "{prelude}: 10-12 lost at once, no reordering timer: next timer in {next:?}"
        );
        assert_eq!(h.c.stats().rto_expirations, 0);
    }
    let (_, next) = second_hole_in_recovery("reorder");
    assert!(
        next <= ms(13),
        "reordering seen: RACK's timer waits min RTT / 4: next timer in {next:?}"
    );
}

#[test]
fn rfc9293_preset_keeps_dupthresh_and_sends_no_probe() {
    let mut cfg = Config::rfc9293();
    cfg.timestamps = false;
    cfg.window_scale = false;
    cfg.sack = true; // SACK with RFC 6675, but no RACK-TLP.
    let (mut h, snd, rcv) = established_sack(cfg, 100, 9000, false);
    let mss = h.c.stats().snd_mss;
    let at = |k: u32| snd.add(k * mss);
    h.c.send(&pattern(3 * mss as usize, 2)).unwrap();
    assert_eq!(data(&h.drain()).len(), 3);
    h.feed(h.seg(rcv, Some(at(1)), ACK, b""));
    // The tail is lost: only the RTO resends it.
    let (_, out) = h.fire().unwrap();
    assert_eq!(data(&out), vec![at(1)]);
    let st = h.c.stats();
    assert_eq!((st.tail_loss_probes, st.rto_expirations), (0, 1));
}
