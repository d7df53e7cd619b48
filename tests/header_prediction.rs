//! Header prediction (the fast path for in-order segments in ESTABLISHED)
//! must be invisible: two worlds run the same random script, one with the
//! prediction on (the default) and one with every segment through the full
//! §3.10.7.4 steps, and after every step the segments sent, the events, the
//! deadlines, the counters and the whole connection state (its `Debug`
//! rendering) must be identical. The same switch turns off the sender's
//! short form of step 5 for the common ACK of new data (no SACK blocks, no
//! ECE, outside recovery, no cold state), which the same script pins.
//!
//! The script moves data both ways over a link that can reorder, drop and
//! duplicate, and it forges segments from the queued ones by moving their
//! sequence and acknowledgment numbers across the window edges, changing
//! the window, the flags (PSH, FIN, RST, SYN, URG, ECE, CWR) and the
//! timestamps, and adding SACK blocks: the predicate's every condition is
//! met and missed.
//!
//! Cases: 100 by default, `TCPP_PROPTEST_CASES=N` for more.

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use tcp_proto::{
    Config, Connection, Ecn, Flags, Instant, Segment, SeqNum,
    wire::{SackBlock, Timestamps},
};

fn cases() -> u32 {
    std::env::var("TCPP_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

/// How a forged segment differs from a queued one.
#[derive(Clone, Copy, Debug)]
enum Forge {
    /// SEG.SEQ moved by this much (negative: before RCV.NXT).
    Seq(i32),
    /// SEG.ACK moved by this much (past SND.NXT, below SND.UNA...).
    Ack(i32),
    /// Another window field.
    Window(u16),
    /// These flag bits toggled.
    Flags(u8),
    /// TSval moved by this much (backwards: PAWS).
    TsVal(i32),
    /// The timestamps option removed.
    NoTs,
    /// A SACK block relative to SEG.ACK.
    Sack(u16, u16),
    /// The payload cut to this many octets.
    Truncate(u16),
    /// This many octets appended to the payload (past the window's edge).
    Extend(u16),
    /// Arrives marked CE.
    Ce,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    /// The side's application writes this many octets (`more`: with
    /// `send_more`, MSG_MORE).
    Send(bool, u16, bool),
    /// The side's application reads at most this many.
    Recv(bool, u16),
    /// The queued segment at this index (modulo) towards the side arrives.
    Deliver(bool, u8),
    /// ... is lost.
    Drop(bool, u8),
    /// ... arrives and stays queued (a duplicate).
    Duplicate(bool, u8),
    /// A forged copy of it arrives (the original stays queued).
    Forge(bool, u8, Forge),
    /// Time passes; both sides handle their timeouts.
    Advance(u16),
    /// The side's application closes.
    Close(bool),
}

fn forge() -> impl Strategy<Value = Forge> {
    prop_oneof![
        (-3000i32..3000).prop_map(Forge::Seq),
        (-3000i32..3000).prop_map(Forge::Ack),
        any::<u16>().prop_map(Forge::Window),
        any::<u8>().prop_map(Forge::Flags),
        (-5i32..5).prop_map(Forge::TsVal),
        Just(Forge::NoTs),
        (any::<u16>(), 1u16..3000).prop_map(|(a, b)| Forge::Sack(a % 3000, b)),
        any::<u16>().prop_map(Forge::Truncate),
        (1u16..20000).prop_map(Forge::Extend),
        Just(Forge::Ce),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), 1u16..6000, any::<bool>()).prop_map(|(s, n, m)| Op::Send(s, n, m)),
        3 => (any::<bool>(), 1u16..6000).prop_map(|(s, n)| Op::Recv(s, n)),
        12 => (any::<bool>(), any::<u8>()).prop_map(|(s, i)| Op::Deliver(s, i % 4)),
        1 => (any::<bool>(), any::<u8>()).prop_map(|(s, i)| Op::Drop(s, i)),
        1 => (any::<bool>(), any::<u8>()).prop_map(|(s, i)| Op::Duplicate(s, i)),
        3 => (any::<bool>(), any::<u8>(), forge()).prop_map(|(s, i, f)| Op::Forge(s, i, f)),
        2 => (1u16..3000).prop_map(Op::Advance),
        1 => any::<bool>().prop_map(Op::Close),
    ]
}

/// The configurations the cases draw from: Linux's (SACK, timestamps,
/// RACK, ECN accepted) and RFC 9293's, with small MSS and buffers so that
/// windows fill and edges are crossed, delayed ACKs on or off.
fn config(pick: u8, mss: u16, rcvbuf: u16, delack: bool) -> Config {
    let mut c = match pick % 4 {
        0 => Config::linux(),
        1 => Config::rfc9293(),
        2 => {
            let mut c = Config::linux();
            c.timestamps = false;
            c
        }
        _ => {
            let mut c = Config::linux();
            c.sack = false;
            c.ecn = tcp_proto::EcnMode::On;
            c
        }
    };
    c.mss = mss;
    c.recv_buffer = usize::from(rcvbuf).max(usize::from(mss));
    c.send_buffer = 16 * 1024;
    if !delack {
        c.delayed_ack = None;
    }
    c
}

struct World {
    /// 0 is the client, 1 the server.
    conns: [Connection; 2],
    /// `queues[i]`: segments on their way to side `i`.
    queues: [VecDeque<Segment>; 2],
    now: Instant,
    sent: [u64; 2],
}

impl World {
    fn new(cfg: Config, prediction: bool) -> World {
        let now = Instant::from_secs(10);
        let mut a = Connection::connect(cfg, 40000, 80, SeqNum(0xffff_f000), now).unwrap();
        let mut b = Connection::listen(cfg, 80, SeqNum(0x7fff_ff00)).unwrap();
        a.set_header_prediction(prediction);
        b.set_header_prediction(prediction);
        World {
            conns: [a, b],
            queues: [VecDeque::new(), VecDeque::new()],
            now,
            sent: [0; 2],
        }
    }

    fn arrive(&mut self, side: usize, seg: Segment, ecn: Ecn) {
        self.conns[side].handle_segment_ecn(self.now, seg, ecn);
    }

    /// Applies `op` and returns what could be observed of it.
    fn step(&mut self, op: Op) -> String {
        match op {
            Op::Send(s, n, more) => {
                let s = usize::from(s);
                let data: Vec<u8> = (0..n)
                    .map(|i| (self.sent[s] + u64::from(i)) as u8)
                    .collect();
                let c = &mut self.conns[s];
                let r = if more {
                    c.send_more(&data)
                } else {
                    c.send(&data)
                };
                if let Ok(k) = r {
                    self.sent[s] += k as u64;
                }
            }
            Op::Recv(s, n) => {
                let mut buf = vec![0; usize::from(n)];
                let _ = self.conns[usize::from(s)].recv(&mut buf);
            }
            Op::Deliver(s, i) | Op::Drop(s, i) | Op::Duplicate(s, i) => {
                let s = usize::from(s);
                let q = &mut self.queues[s];
                if !q.is_empty() {
                    let i = usize::from(i) % q.len();
                    let seg = if matches!(op, Op::Duplicate(..)) {
                        q[i].clone()
                    } else {
                        q.remove(i).unwrap()
                    };
                    if !matches!(op, Op::Drop(..)) {
                        self.arrive(s, seg, Ecn::NotEct);
                    }
                }
            }
            Op::Forge(s, i, f) => {
                let s = usize::from(s);
                let q = &self.queues[s];
                if !q.is_empty() {
                    let mut seg = q[usize::from(i) % q.len()].clone();
                    let mut ecn = Ecn::NotEct;
                    match f {
                        Forge::Seq(d) => seg.seq = SeqNum(seg.seq.0.wrapping_add(d as u32)),
                        Forge::Ack(d) => seg.ack = SeqNum(seg.ack.0.wrapping_add(d as u32)),
                        Forge::Window(w) => seg.window = w,
                        Forge::Flags(b) => seg.flags = Flags(seg.flags.0 ^ b),
                        Forge::TsVal(d) => {
                            if let Some(t) = &mut seg.options.timestamps {
                                t.val = t.val.wrapping_add(d as u32);
                            } else {
                                seg.options.timestamps = Some(Timestamps { val: 1, ecr: 0 });
                            }
                        }
                        Forge::NoTs => seg.options.timestamps = None,
                        Forge::Sack(a, b) => {
                            let left = seg.ack.add(u32::from(a));
                            seg.options.sack_blocks.push(SackBlock {
                                left,
                                right: left.add(u32::from(b)),
                            });
                        }
                        Forge::Truncate(n) => {
                            let n = usize::from(n) % (seg.payload.len() + 1);
                            seg.payload = seg.payload.slice(..n);
                        }
                        Forge::Extend(n) => {
                            let mut p = seg.payload.to_vec();
                            p.resize(p.len() + usize::from(n), 0x5a);
                            seg.payload = p.into();
                        }
                        Forge::Ce => ecn = Ecn::Ce,
                    }
                    self.arrive(s, seg, ecn);
                }
            }
            Op::Advance(ms) => {
                self.now += Duration::from_millis(u64::from(ms));
                for c in &mut self.conns {
                    c.handle_timeout(self.now);
                }
            }
            Op::Close(s) => {
                let _ = self.conns[usize::from(s)].close(self.now);
            }
        }
        self.observe()
    }

    /// Drains both sides' output into the link and renders everything
    /// observable, the state included.
    fn observe(&mut self) -> String {
        let mut out = String::new();
        for side in 0..2 {
            let now = self.now;
            let c = &mut self.conns[side];
            while let Some(seg) = c.poll_transmit(now) {
                out += &format!("{side} sends {seg:?}\n");
                // Bound the link: a script that never delivers drops the oldest.
                let q = &mut self.queues[1 - side];
                if q.len() >= 64 {
                    q.pop_front();
                }
                q.push_back(seg);
            }
            while let Some(e) = c.poll_event() {
                out += &format!("{side} event {e:?}\n");
            }
            out += &format!(
                "{side} timeout {:?} stats {:?}\n{:?}\n",
                c.poll_timeout(),
                c.stats(),
                c
            );
        }
        out.replace("header_prediction: false", "header_prediction: true")
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn header_prediction_changes_nothing_observable(
        pick in any::<u8>(),
        mss in 64u16..1500,
        rcvbuf in 256u16..20000,
        delack in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..160),
    ) {
        let cfg = config(pick, mss, rcvbuf, delack);
        let mut fast = World::new(cfg, true);
        let mut slow = World::new(cfg, false);
        prop_assert_eq!(fast.observe(), slow.observe());
        for (i, op) in ops.into_iter().enumerate() {
            let (f, s) = (fast.step(op), slow.step(op));
            prop_assert!(f == s, "step {} ({:?}) differs:\nfast:\n{}\nslow:\n{}", i, op, f, s);
        }
    }
}

/// A plain bulk transfer (the case the fast path is for) delivers every
/// octet in order with the prediction on.
#[test]
fn in_order_data_and_acks_arrive_through_the_fast_path_intact() {
    let cfg = config(0, 1000, 20000, true);
    let mut w = World::new(cfg, true);
    w.observe();
    for _ in 0..8 {
        w.step(Op::Deliver(true, 0));
        w.step(Op::Deliver(false, 0));
    }
    assert_eq!(w.conns[0].state(), tcp_proto::State::Established);
    let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7) as u8).collect();
    let mut got = Vec::new();
    let mut at = 0;
    for _ in 0..10_000 {
        if at < data.len()
            && let Ok(n) = w.conns[0].send(&data[at..])
        {
            at += n;
        }
        w.observe();
        while let Some(s) = w.queues[1].pop_front() {
            w.arrive(1, s, Ecn::NotEct);
        }
        let mut buf = [0u8; 4096];
        while let Ok(n) = w.conns[1].recv(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        w.observe();
        while let Some(s) = w.queues[0].pop_front() {
            w.arrive(0, s, Ecn::NotEct);
        }
        if got.len() == data.len() {
            break;
        }
        w.step(Op::Advance(50));
    }
    assert_eq!(got, data);
}

/// A controller whose window is 16 segments, but one segment when data
/// restarts an idle flight (until the next ACK).
#[derive(Debug, Default)]
struct ShrinksOnRestart {
    cwnd: u32,
    mss: u32,
}

impl tcp_proto::cc::CongestionControl for ShrinksOnRestart {
    fn cwnd(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        u32::MAX
    }
    fn reset(&mut self, _initial_window: u32, mss: u32) {
        self.mss = mss;
        self.cwnd = 16 * mss;
    }
    fn on_ack(&mut self, _now: Instant, _ack: &tcp_proto::cc::AckSample) {
        self.cwnd = 16 * self.mss;
    }
    fn on_fast_retransmit(&mut self, _now: Instant, _flight: u32, _mss: u32) {}
    fn on_dup_ack_in_recovery(&mut self, _mss: u32) {}
    fn on_partial_ack(&mut self, _acked: u32, _mss: u32) {}
    fn on_recovery_end(&mut self, _flight: u32, _mss: u32) {}
    fn on_rto(&mut self, _now: Instant, _flight: u32, _mss: u32) {}
    fn on_ecn(&mut self, _now: Instant, _flight: u32, _mss: u32) {}
    fn on_restart_after_idle(&mut self, _now: Instant) {
        self.cwnd = self.mss;
    }
}

/// The sender's fast path reuses the congestion window it read for the
/// GSO-burst look-ahead, except when the segment restarted an idle flight
/// (the controller may change its window then): a controller that does
/// must see the same segments and state with the fast path on and off.
#[test]
fn a_window_changed_by_an_idle_restart_reaches_the_gso_look_ahead() {
    let cfg = config(0, 500, 20000, true);
    let run = |prediction: bool| {
        let mut w = World::new(cfg, prediction);
        w.conns[0].set_congestion_control(Box::new(ShrinksOnRestart::default()));
        let mut log = w.observe();
        for _ in 0..8 {
            log += &w.step(Op::Deliver(true, 0));
            log += &w.step(Op::Deliver(false, 0));
        }
        for _ in 0..3 {
            log += &w.step(Op::Send(false, 3000, false));
            for _ in 0..20 {
                log += &w.step(Op::Deliver(true, 0));
                log += &w.step(Op::Deliver(false, 0));
            }
            log += &w.step(Op::Advance(2000));
        }
        log
    };
    let (fast, slow) = (run(true), run(false));
    assert!(
        fast.contains("gso_burst_count"),
        "the state shows the burst"
    );
    assert_eq!(fast, slow);
}
