//! Fuzzing peer input (issue #3): arbitrary segments thrown at a connection in
//! each of the eleven states, reached through real segments first, never
//! panic, never take an illegal edge, and never make it hold more than its
//! buffers allow.
//!
//! Cases: 1,000 per property by default, `TCPP_PROPTEST_CASES=N` for more.

use bytes::Bytes;
use proptest::prelude::*;
use std::time::Duration;
use tcp_proto::wire::{SackBlock, Timestamps};
use tcp_proto::{Config, Connection, Event, Flags, Instant, Options, Segment, SeqNum, State};

fn cases() -> u32 {
    std::env::var("TCPP_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

const CLIENT_PORT: u16 = 40000;
const SERVER_PORT: u16 = 80;

/// The connection under test and what it has told its peer so far.
struct Target {
    conn: Connection,
    /// Its SND.NXT as seen on the wire (end of the furthest segment it sent).
    snd_nxt: SeqNum,
    /// Its RCV.NXT as seen on the wire (end of the peer's last in-order segment).
    rcv_nxt: SeqNum,
    now: Instant,
    /// The state it is in, from its events.
    state: State,
}

/// Drains `c`'s output; at most `limit` segments (poll_transmit must end).
fn drain(c: &mut Connection, now: Instant) -> Vec<Segment> {
    let mut out = Vec::new();
    while let Some(s) = c.poll_transmit(now) {
        out.push(s);
        assert!(out.len() < 10_000, "poll_transmit does not run dry");
    }
    out
}

/// Checks `c`'s pending events against the legal-edge table, starting from
/// `state`; returns the state reached.
fn check_events(c: &mut Connection, mut state: State) -> Result<State, TestCaseError> {
    while let Some(e) = c.poll_event() {
        if let Event::StateChanged { from, to } = e {
            prop_assert_eq!(from, state, "event chain broken");
            prop_assert!(
                from.can_move_to(to),
                "illegal transition {} -> {}",
                from,
                to
            );
            state = to;
        }
    }
    prop_assert_eq!(c.state(), state);
    Ok(state)
}

fn end(s: &Segment) -> SeqNum {
    s.seq.add(s.seg_len())
}

/// A hand-driven pair: `a` is the target (client or server), `b` the peer.
struct Pair {
    a: Connection,
    b: Connection,
    a_state: State,
    a_snd: SeqNum,
    a_rcv: SeqNum,
    now: Instant,
}

impl Pair {
    fn new(cfg: Config, target_is_client: bool, iss: [u32; 2]) -> Pair {
        let now = Instant::ZERO;
        // The target gets `cfg`; its peer the default configuration.
        let (ccfg, scfg) = if target_is_client {
            (cfg, Config::default())
        } else {
            (Config::default(), cfg)
        };
        let client =
            Connection::connect(ccfg, CLIENT_PORT, SERVER_PORT, SeqNum(iss[0]), now).unwrap();
        let server = Connection::listen(scfg, SERVER_PORT, SeqNum(iss[1])).unwrap();
        let (a, b) = if target_is_client {
            (client, server)
        } else {
            (server, client)
        };
        Pair {
            a,
            b,
            a_state: State::Closed,
            a_snd: SeqNum(iss[usize::from(!target_is_client)]),
            a_rcv: SeqNum(0),
            now,
        }
    }

    /// Moves segments both ways until quiet; `keep(from_a, seg)` decides
    /// which are delivered.
    fn exchange(
        &mut self,
        mut keep: impl FnMut(bool, &Segment) -> bool,
    ) -> Result<(), TestCaseError> {
        for _ in 0..100 {
            let from_a = drain(&mut self.a, self.now);
            let from_b = drain(&mut self.b, self.now);
            if from_a.is_empty() && from_b.is_empty() {
                break;
            }
            for s in from_a {
                if end(&s).gt(self.a_snd) && !s.flags.rst() {
                    self.a_snd = end(&s);
                }
                if keep(true, &s) {
                    self.b.handle_segment(self.now, s);
                }
            }
            for s in from_b {
                if keep(false, &s) {
                    // The furthest end: a window probe or keep-alive sits
                    // one below RCV.NXT.
                    if !s.flags.rst() && (s.flags.syn() || end(&s).gt(self.a_rcv)) {
                        self.a_rcv = end(&s);
                    }
                    self.a.handle_segment(self.now, s);
                }
            }
            self.a_state = check_events(&mut self.a, self.a_state)?;
            while self.b.poll_event().is_some() {}
        }
        self.a_state = check_events(&mut self.a, self.a_state)?;
        Ok(())
    }

    fn into_target(self) -> Target {
        Target {
            conn: self.a,
            snd_nxt: self.a_snd,
            rcv_nxt: self.a_rcv,
            now: self.now,
            state: self.a_state,
        }
    }
}

/// Builds a connection in `want`, through real segments only.
fn reach(want: State, cfg: Config, iss: [u32; 2]) -> Result<Target, TestCaseError> {
    use State::*;
    let all = |_: bool, _: &Segment| true;
    let t = match want {
        Closed => {
            let mut p = Pair::new(cfg, true, iss);
            p.exchange(all)?;
            p.a.abort();
            p.exchange(all)?;
            p.into_target()
        }
        Listen => {
            let mut p = Pair::new(cfg, false, iss);
            p.exchange(|_, _| false)?;
            p.into_target()
        }
        SynSent => {
            let mut p = Pair::new(cfg, true, iss);
            p.exchange(|_, _| false)?;
            p.into_target()
        }
        SynReceived => {
            // The server got the SYN; its SYN-ACK is lost.
            let mut p = Pair::new(cfg, false, iss);
            p.exchange(|from_a, _| !from_a)?;
            p.into_target()
        }
        Established => {
            let mut p = Pair::new(cfg, true, iss);
            p.exchange(all)?;
            // Some data both ways, read at both ends.
            let _ = p.a.send(&[7u8; 3000]);
            let _ = p.b.send(&[9u8; 2000]);
            let mut buf = [0u8; 4096];
            for _ in 0..8 {
                p.exchange(all)?;
                while matches!(p.a.recv(&mut buf), Ok(n) if n > 0) {}
                while matches!(p.b.recv(&mut buf), Ok(n) if n > 0) {}
            }
            p.exchange(all)?;
            p.into_target()
        }
        FinWait1 => {
            let mut p = Pair::new(cfg, true, iss);
            p.exchange(all)?;
            p.a.shutdown_write().unwrap();
            p.exchange(|from_a, _| !from_a)?; // our FIN is lost
            p.into_target()
        }
        FinWait2 | TimeWait | CloseWait | LastAck => {
            // The target closes first (FIN-WAIT-2, TIME-WAIT) or second
            // (CLOSE-WAIT, LAST-ACK).
            let first = matches!(want, FinWait2 | TimeWait);
            let mut p = Pair::new(cfg, first, iss);
            p.exchange(all)?;
            if first {
                p.a.shutdown_write().unwrap();
                p.exchange(all)?;
                if want == TimeWait {
                    p.b.shutdown_write().unwrap();
                    p.exchange(all)?;
                }
            } else {
                p.b.shutdown_write().unwrap();
                p.exchange(all)?;
                if want == LastAck {
                    p.a.shutdown_write().unwrap();
                    p.exchange(|from_a, _| !from_a)?;
                }
            }
            p.into_target()
        }
        Closing => {
            // Both FINs cross; the ACKs of both are lost.
            let mut p = Pair::new(cfg, true, iss);
            p.exchange(all)?;
            p.a.shutdown_write().unwrap();
            p.b.shutdown_write().unwrap();
            let fa = drain(&mut p.a, p.now);
            let fb = drain(&mut p.b, p.now);
            for s in fa {
                p.a_snd = end(&s);
                p.b.handle_segment(p.now, s);
            }
            for s in fb {
                p.a_rcv = end(&s);
                p.a.handle_segment(p.now, s);
            }
            p.a_state = check_events(&mut p.a, p.a_state)?;
            drain(&mut p.a, p.now);
            p.into_target()
        }
    };
    prop_assert_eq!(t.conn.state(), want, "could not reach {}", want);
    Ok(t)
}

/// One fuzzed segment, relative to the target's numbers.
#[derive(Clone, Debug)]
struct Fuzz {
    flags: u8,
    /// `None`: a random sequence number; `Some(d)`: RCV.NXT + d.
    seq: Option<i32>,
    seq_random: u32,
    ack: Option<i32>,
    ack_random: u32,
    window: u16,
    mss: Option<u16>,
    ws: Option<u8>,
    ts: Option<(Option<i32>, u32)>,
    sack: Vec<(i32, u16)>,
    payload: usize,
    wrong_port: bool,
    /// Advance the clock by this much (ms) and fire timers first.
    wait_ms: u16,
}

fn near() -> impl Strategy<Value = i32> {
    prop_oneof![
        3 => -3i32..3,
        3 => -70_000i32..70_000,
        1 => any::<i32>(),
    ]
}

fn fuzz() -> impl Strategy<Value = Fuzz> {
    (
        (
            prop_oneof![
                any::<u8>(),
                Just(0x10u8), // ACK
                Just(0x18),   // PSH ACK
                Just(0x11),   // FIN ACK
                Just(0x02),   // SYN
                Just(0x12),   // SYN ACK
                Just(0x04),   // RST
                Just(0x14),   // RST ACK
            ],
            prop::option::weighted(0.85, near()),
            any::<u32>(),
            prop::option::weighted(0.85, near()),
            any::<u32>(),
            prop_oneof![any::<u16>(), Just(0u16), Just(65535)],
        ),
        (
            prop::option::weighted(0.1, any::<u16>()),
            prop::option::weighted(0.1, any::<u8>()),
            prop::option::weighted(0.5, (prop::option::of(-5i32..5), any::<u32>())),
            prop::collection::vec((near(), any::<u16>()), 0..4),
            prop_oneof![3 => 0usize..1, 3 => 1usize..1500, 1 => 1500usize..70_000],
            prop::bool::weighted(0.03),
            prop_oneof![8 => Just(0u16), 1 => 1u16..5000],
        ),
    )
        .prop_map(
            |(
                (flags, seq, seq_random, ack, ack_random, window),
                (mss, ws, ts, sack, payload, wrong_port, wait_ms),
            )| Fuzz {
                flags,
                seq,
                seq_random,
                ack,
                ack_random,
                window,
                mss,
                ws,
                ts,
                sack,
                payload,
                wrong_port,
                wait_ms,
            },
        )
}

fn build(f: &Fuzz, t: &Target, data: &Bytes, ts_seen: u32) -> Segment {
    let (src, dst) = if t.conn.local_port() == SERVER_PORT {
        (CLIENT_PORT, SERVER_PORT)
    } else {
        (SERVER_PORT, CLIENT_PORT)
    };
    let rel = |base: SeqNum, d: Option<i32>, r: u32| match d {
        Some(d) => SeqNum(base.0.wrapping_add(d as u32)),
        None => SeqNum(r),
    };
    let mut options = Options {
        mss: f.mss,
        window_scale: f.ws,
        ..Options::default()
    };
    if let Some((val, ecr)) = f.ts {
        options.timestamps = Some(Timestamps {
            val: match val {
                Some(d) => ts_seen.wrapping_add(d as u32),
                None => ecr.rotate_left(7),
            },
            ecr,
        });
    }
    for &(l, n) in &f.sack {
        let left = rel(t.snd_nxt, Some(l), 0);
        options.sack_blocks.push(SackBlock {
            left,
            right: left.add(u32::from(n)),
        });
    }
    Segment {
        src_port: if f.wrong_port { src ^ 1 } else { src },
        dst_port: dst,
        seq: rel(t.rcv_nxt, f.seq, f.seq_random),
        ack: rel(t.snd_nxt, f.ack, f.ack_random),
        flags: Flags(f.flags),
        window: f.window,
        urgent: f.window.rotate_left(3),
        options,
        payload: data.slice(..f.payload.min(data.len())),
    }
}

fn state_strategy() -> impl Strategy<Value = State> {
    proptest::sample::select(State::ALL.to_vec())
}

fn cfg_strategy() -> impl Strategy<Value = Config> {
    (
        any::<bool>(),
        536u16..1461,
        1usize..40_000,
        1460usize..40_000,
        any::<(bool, bool, bool)>(),
    )
        .prop_map(|(rfc, mss, sndbuf, rcvbuf, (ts, ws, r5961))| {
            let mut c = if rfc {
                Config::rfc9293()
            } else {
                Config::linux()
            };
            c.mss = mss;
            c.send_buffer = sndbuf;
            c.recv_buffer = rcvbuf;
            c.timestamps = ts;
            c.window_scale = ws;
            c.rfc5961 = r5961;
            c
        })
}

/// Checks the target's observable bounds.
fn check_bounds(t: &Target) -> Result<(), TestCaseError> {
    let c = &t.conn;
    let cfg = c.config();
    prop_assert!(
        c.recv_available() <= cfg.recv_buffer,
        "{} readable > {}",
        c.recv_available(),
        cfg.recv_buffer
    );
    prop_assert!(c.send_queue_len() <= cfg.send_buffer);
    let st = c.stats();
    prop_assert!(
        st.bytes_in_flight <= 1 << 31,
        "bytes_in_flight {}",
        st.bytes_in_flight
    );
    prop_assert!(
        st.rcv_wnd as usize <= cfg.recv_buffer + (1 << 14),
        "rcv_wnd {}",
        st.rcv_wnd
    );
    Ok(())
}

fn throw(t: &mut Target, fuzz: &[Fuzz], data: &Bytes) -> Result<(), TestCaseError> {
    let mut ts_seen = 1u32;
    for f in fuzz {
        if f.wait_ms > 0 {
            t.now += Duration::from_millis(u64::from(f.wait_ms));
            if t.conn.poll_timeout().is_some_and(|d| d <= t.now) {
                t.conn.handle_timeout(t.now);
            }
        }
        let seg = build(f, t, data, ts_seen);
        if let Some(ts) = seg.options.timestamps {
            ts_seen = ts_seen.max(ts.val);
        }
        t.conn.handle_segment(t.now, seg);
        for s in drain(&mut t.conn, t.now) {
            if !s.flags.rst() && end(&s).gt(t.snd_nxt) {
                t.snd_nxt = end(&s);
            }
        }
        t.state = check_events(&mut t.conn, t.state)?;
        check_bounds(t)?;
        // Read now and then, as an application would.
        if f.flags & 0x20 != 0 {
            let mut buf = [0u8; 2048];
            let _ = t.conn.recv(&mut buf);
        }
    }
    Ok(())
}

fn iss() -> impl Strategy<Value = u32> {
    prop_oneof![any::<u32>(), (0u32..1000).prop_map(|d| u32::MAX - d)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_segments_in_any_state_never_panic_or_take_an_illegal_edge(
        want in state_strategy(),
        cfg in cfg_strategy(),
        iss in [iss(), iss()],
        fuzz in prop::collection::vec(fuzz(), 1..60),
    ) {
        let data = Bytes::from((0..70_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        let mut t = reach(want, cfg, iss)?;
        throw(&mut t, &fuzz, &data)?;
    }
}

proptest! {
    // Each case throws thousands of segments: a tenth of the cases.
    #![proptest_config(ProptestConfig::with_cases(cases().div_ceil(10)))]

    /// Thousands of in-window out-of-order segments (the hole at RCV.NXT
    /// never filled) never make the connection hold more than its receive
    /// buffer; filling the hole releases at most a buffer's worth.
    #[test]
    fn out_of_order_floods_stay_within_the_receive_buffer(
        recv_buffer in 1460usize..20_000,
        pieces in prop::collection::vec((1u32..40_000, 1usize..1500), 2000..3000),
        iss in [iss(), iss()],
    ) {
        let mut cfg = Config::linux();
        cfg.recv_buffer = recv_buffer;
        cfg.timestamps = false;
        let mut t = reach(State::Established, cfg, iss)?;
        let data = Bytes::from(vec![0x5au8; 1500]);
        let (src, dst) = (SERVER_PORT, CLIENT_PORT);
        for &(off, len) in &pieces {
            // Never at RCV.NXT itself: the hole stays open.
            let seg = Segment {
                src_port: src,
                dst_port: dst,
                seq: t.rcv_nxt.add(off),
                ack: t.snd_nxt,
                flags: Flags::ACK,
                window: 65535,
                payload: data.slice(..len),
                ..Segment::default()
            };
            t.conn.handle_segment(t.now, seg);
            drain(&mut t.conn, t.now);
            prop_assert_eq!(t.conn.recv_available(), 0, "data readable across a hole");
            check_bounds(&t)?;
        }
        t.state = check_events(&mut t.conn, t.state)?;
        prop_assert_eq!(t.state, State::Established);
        // Fill the hole with a window's worth, a segment at a time. What
        // becomes readable is bounded by the window advertised (which may
        // lag the free space: receiver SWS avoidance).
        let wnd = t.conn.stats().rcv_wnd as usize;
        let mut seq = t.rcv_nxt;
        for _ in 0..(recv_buffer / 1000 + 2) {
            let seg = Segment {
                src_port: src,
                dst_port: dst,
                seq,
                ack: t.snd_nxt,
                flags: Flags::ACK,
                window: 65535,
                payload: data.slice(..1000),
                ..Segment::default()
            };
            t.conn.handle_segment(t.now, seg);
            drain(&mut t.conn, t.now);
            check_bounds(&t)?;
            seq = seq.add(1000);
        }
        let got = t.conn.recv_available();
        prop_assert!(got <= recv_buffer);
        prop_assert!(
            got >= wnd.min(1000),
            "hole filled but only {} readable (window {})",
            got,
            wnd
        );
    }
}
