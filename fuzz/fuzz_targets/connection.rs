//! One connection, driven through real segments into one of the 11 states,
//! then fed fuzzer-chosen segments (sequence and acknowledgment numbers near
//! the live window edges, so that many are accepted), time jumps and
//! application calls. After every step: every state edge is legal, the
//! buffers and the heap stay within bounds, `handle_timeout` returns and
//! leaves no deadline at or before `now`, `poll_transmit` runs dry.
#![no_main]

mod common;

use bytes::Bytes;
use common::{Edges, Input, buffers, live, timers};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;
use tcp_proto::wire::{Options, Timestamps};
use tcp_proto::{Config, Connection, Flags, IcmpError, Instant, Segment, SeqNum, State};

#[global_allocator]
static GLOBAL: common::Counting = common::Counting;

const US: u16 = 80;
const PEER: u16 = 40000;
const PEER_ISS: u32 = u32::MAX - 300;
const OUR_ISS: u32 = 0x7fff_fff0;

const STATES: [State; 11] = State::ALL;

struct Driver {
    c: Connection,
    now: Instant,
    edges: Edges,
    /// The connection's ISS, from its SYN.
    iss: SeqNum,
    /// Highest sequence number the connection has sent up to.
    snd_max: SeqNum,
    ts: bool,
    ws: Option<u8>,
    sack: bool,
    /// The connection's window-scale shift (from its SYN).
    shift: u8,
    /// The window the connection last advertised, scaled.
    wnd: u32,
    payload: Bytes,
}

impl Driver {
    fn new(c: Connection, now: Instant, ts: bool, ws: Option<u8>, sack: bool) -> Driver {
        let payload = Bytes::from((0..4096u32).map(|i| (i * 7) as u8).collect::<Vec<u8>>());
        Driver {
            c,
            now,
            edges: Edges::default(),
            iss: SeqNum(0),
            snd_max: SeqNum(0),
            ts,
            ws,
            sack,
            shift: 0,
            wnd: 0,
            payload,
        }
    }

    /// RCV.NXT of the connection, from its counters.
    fn rcv_nxt(&self) -> SeqNum {
        let st = self.c.stats();
        SeqNum(PEER_ISS)
            .add(1)
            .add(st.bytes_received as u32)
            .add(u32::from(self.c.peer_finished()))
    }

    fn snd_una(&self) -> SeqNum {
        self.snd_max.sub(self.c.stats().bytes_in_flight)
    }

    fn seg(&self, flags: Flags, seq: SeqNum, ack: SeqNum, len: usize) -> Segment {
        let mut options = Options::default();
        if self.ts {
            options.timestamps = Some(Timestamps {
                val: (self.now.total_millis() as u32).wrapping_add(1000),
                ecr: 1,
            });
        }
        Segment {
            src_port: PEER,
            dst_port: US,
            seq,
            ack: if flags.ack() { ack } else { SeqNum(0) },
            flags,
            window: 65535,
            urgent: 0,
            options,
            payload: self.payload.slice(..len.min(self.payload.len())),
        }
    }

    fn syn(&self, flags: Flags, ack: SeqNum) -> Segment {
        let mut s = self.seg(flags, SeqNum(PEER_ISS), ack, 0);
        s.options.mss = Some(1460);
        s.options.window_scale = self.ws;
        s.options.sack_permitted = self.sack;
        if self.ts {
            s.options.timestamps = Some(Timestamps { val: 1, ecr: 0 });
        }
        s
    }

    /// Everything the connection sends now; learns its ISS and edges.
    fn drain(&mut self) {
        for i in 0.. {
            assert!(i < 100_000, "poll_transmit never runs dry");
            let Some(s) = self.c.poll_transmit(self.now) else {
                break;
            };
            if s.flags.syn() {
                self.iss = s.seq;
                self.shift = s.options.window_scale.unwrap_or(0).min(14);
                if self.snd_max.lt(s.seq.add(1)) || self.snd_max == SeqNum(0) {
                    self.snd_max = s.seq.add(1);
                }
            }
            let end = s.seq.add(s.seg_len());
            if !s.flags.rst() && end.gt(self.snd_max) && !s.flags.syn() {
                self.snd_max = end;
            }
            if s.flags.ack() && !s.flags.rst() {
                let shift = if self.ws.is_some() && !s.flags.syn() {
                    self.shift
                } else {
                    0
                };
                self.wnd = u32::from(s.window) << shift;
            }
        }
        self.edges.check(&mut self.c);
        buffers(&self.c);
    }

    fn feed(&mut self, s: Segment) {
        self.c.handle_segment(self.now, s);
        self.drain();
    }

    fn ack_all(&mut self) {
        let s = self.seg(Flags::ACK, self.rcv_nxt(), self.snd_max, 0);
        self.feed(s);
    }

    fn peer_fin(&mut self, ack: SeqNum) {
        let s = self.seg(Flags::FIN.with(Flags::ACK), self.rcv_nxt(), ack, 0);
        self.feed(s);
    }

    /// Takes the connection into `target` through real segments.
    fn reach(&mut self, target: State, active: bool) {
        match target {
            State::Closed => {
                self.c.abort();
                self.drain();
            }
            State::Listen => {}
            State::SynSent => self.drain(),
            State::SynReceived => {
                let s = self.syn(Flags::SYN, SeqNum(0));
                self.feed(s);
            }
            State::Established => {
                if active {
                    self.drain();
                    let s = self.syn(Flags::SYN.with(Flags::ACK), self.iss.add(1));
                    self.feed(s);
                } else {
                    self.reach(State::SynReceived, false);
                    self.ack_all();
                }
            }
            State::FinWait1 => {
                self.reach(State::Established, active);
                self.c.close(self.now).expect("close");
                self.drain();
            }
            State::FinWait2 => {
                self.reach(State::FinWait1, active);
                self.ack_all();
            }
            State::CloseWait => {
                self.reach(State::Established, active);
                self.peer_fin(self.snd_max);
            }
            State::Closing => {
                self.reach(State::FinWait1, active);
                self.peer_fin(self.iss.add(1));
            }
            State::LastAck => {
                self.reach(State::CloseWait, active);
                self.c.close(self.now).expect("close");
                self.drain();
            }
            State::TimeWait => {
                self.reach(State::FinWait2, active);
                self.peer_fin(self.snd_max);
            }
        }
    }

    /// A sequence number near an edge of the receive window.
    fn pick_seq(&self, inp: &mut Input) -> SeqNum {
        let r = self.rcv_nxt();
        let small = u32::from(inp.u8());
        match inp.u8() % 10 {
            0 | 1 => r,
            2 => r.sub(1),
            3 => r.add(self.wnd),
            4 => r.add(self.wnd).sub(1 + small),
            5 => r.add(small),
            6 => r.sub(small),
            7 => SeqNum(PEER_ISS),
            8 => r.add(u32::from(inp.u16())),
            _ => SeqNum(inp.u32()),
        }
    }

    /// An acknowledgment number near SND.UNA / SND.NXT.
    fn pick_ack(&self, inp: &mut Input) -> SeqNum {
        let small = u32::from(inp.u8());
        match inp.u8() % 9 {
            0 | 1 => self.snd_max,
            2 => self.snd_una(),
            3 => self.snd_una().add(small),
            4 => self.snd_una().sub(small),
            5 => self.snd_max.add(1),
            6 => self.iss.add(1),
            7 => self.snd_una().sub(u32::from(inp.u16()) << 4),
            _ => SeqNum(inp.u32()),
        }
    }

    fn step(&mut self, inp: &mut Input) {
        match inp.u8() % 10 {
            0..=3 => {
                let fl = inp.u8();
                let mut flags = Flags(fl & 0x3f);
                if fl & 0x80 != 0 {
                    flags = flags.with(Flags::ACK);
                }
                let seq = self.pick_seq(inp);
                let ack = self.pick_ack(inp);
                let len = match inp.u8() {
                    0..=99 => 0,
                    b @ 100..=199 => usize::from(b - 99),
                    b => usize::from(b) * 12,
                };
                let mut s = self.seg(flags, seq, ack, len);
                let w = inp.u8();
                s.window = match w % 4 {
                    0 => 65535,
                    1 => 0,
                    2 => u16::from(w),
                    _ => inp.u16(),
                };
                if inp.u8() % 8 == 0 {
                    // Options on a non-SYN, or an old timestamp (PAWS).
                    let v = inp.u8();
                    if v & 1 != 0 {
                        s.options.timestamps = Some(Timestamps {
                            val: inp.u32(),
                            ecr: inp.u32(),
                        });
                    }
                    if v & 2 != 0 {
                        s.options.window_scale = Some(v >> 4);
                    }
                    if v & 4 != 0 {
                        s.options.mss = Some(inp.u16());
                    }
                }
                if self.sack && inp.u8() % 4 == 0 {
                    let l = self.snd_una().add(u32::from(inp.u16()));
                    s.options.sack_blocks.push(tcp_proto::wire::SackBlock {
                        left: l,
                        right: l.add(u32::from(inp.u16())),
                    });
                }
                self.feed(s);
            }
            4 => {
                let d = match inp.u8() % 9 {
                    0 => Duration::ZERO,
                    1 => Duration::from_micros(1),
                    2 => Duration::from_millis(1),
                    3 => Duration::from_millis(40),
                    4 => Duration::from_millis(200),
                    5 => Duration::from_secs(1),
                    6 => Duration::from_secs(10),
                    7 => Duration::from_secs(120),
                    _ => Duration::from_millis(u64::from(inp.u16())),
                };
                self.now += d;
                timers(&mut self.c, self.now);
                self.drain();
            }
            5 => {
                // Jump to the next deadline exactly.
                if let Some(t) = self.c.poll_timeout() {
                    self.now = self.now.max(t);
                }
                timers(&mut self.c, self.now);
                self.drain();
            }
            6 => {
                let n = usize::from(inp.u16()) % 5000;
                let data = vec![0x42u8; n];
                if inp.u8() & 1 == 0 {
                    let _ = self.c.send(&data);
                } else {
                    let _ = self.c.send_bytes(Bytes::from(data));
                }
                self.drain();
            }
            7 => {
                let n = usize::from(inp.u16()) % 9000;
                if inp.u8() & 1 == 0 {
                    let mut buf = vec![0u8; n];
                    let _ = self.c.recv(&mut buf);
                } else {
                    let _ = self.c.recv_bytes(n);
                }
                self.drain();
            }
            8 => {
                match inp.u8() % 8 {
                    0 => self.c.abort(),
                    1 | 2 => {
                        let _ = self.c.shutdown_write();
                    }
                    3 => {
                        let _ = self.c.open_active(PEER, self.now);
                    }
                    4 | 5 => {
                        let _ = self.c.close(self.now);
                    }
                    _ => {
                        // An ICMP error of any type and code, quoting a
                        // sequence number near what was sent, or any.
                        let (t, code, mtu) = (inp.u8(), inp.u8(), inp.u16());
                        let err = if inp.u8() & 1 == 0 {
                            IcmpError::from_icmpv4(t, code, mtu)
                        } else {
                            IcmpError::from_icmpv6(t, code, u32::from(mtu))
                        };
                        let seq = match inp.u8() % 3 {
                            0 => SeqNum(inp.u32()),
                            _ => self.snd_max.sub(u32::from(inp.u16())),
                        };
                        self.c.handle_icmp(self.now, err.unwrap_or(IcmpError::SourceQuench), seq);
                    }
                }
                self.drain();
            }
            _ => {
                // A well-behaved peer step: ACK everything, send in order.
                let len = usize::from(inp.u8()) * 8;
                let s = self.seg(
                    Flags::ACK,
                    self.rcv_nxt(),
                    self.snd_max,
                    len.min(self.wnd as usize),
                );
                self.feed(s);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input { data };
    let sel = inp.u8();
    let knobs = inp.u8();
    let target = STATES[usize::from(sel) % STATES.len()];
    let active = sel & 0x80 != 0;
    let mut cfg = Config::linux();
    cfg.timestamps = knobs & 1 != 0;
    cfg.window_scale = knobs & 2 != 0;
    cfg.sack = knobs & 4 != 0;
    cfg.nagle = knobs & 8 != 0;
    cfg.recv_buffer = [1460, 8192, 70_000, 300_000][usize::from(knobs >> 4) & 3];
    cfg.send_buffer = [1000, 20_000][usize::from(knobs >> 6) & 1];
    if knobs & 0x80 != 0 {
        cfg.keepalive = Some(tcp_proto::Keepalive {
            idle: Duration::from_secs(5),
            interval: Duration::from_secs(1),
            probes: 3,
        });
        cfg.delayed_ack = Some(Duration::from_micros(1));
    }
    let now = Instant::from_secs(1);
    let before = live();
    {
        // The active bit chooses the open only where both can reach the state.
        let active = match target {
            State::Closed | State::SynSent => true,
            State::Listen | State::SynReceived => false,
            _ => active,
        };
        let c = if active {
            Connection::connect(cfg, US, PEER, SeqNum(OUR_ISS), now).expect("config")
        } else {
            Connection::listen(cfg, US, SeqNum(OUR_ISS)).expect("config")
        };
        let ws = cfg.window_scale.then_some(7);
        let mut d = Driver::new(c, now, cfg.timestamps, ws, cfg.sack);
        d.reach(target, active);
        assert_eq!(d.c.state(), target, "setup did not reach {target}");
        let bound = 2 * (cfg.recv_buffer + cfg.send_buffer) as isize
            + 64 * cfg.send_buffer as isize
            + 256 * 1024;
        let mut steps = 0;
        while !inp.is_empty() && steps < 3000 {
            d.step(&mut inp);
            steps += 1;
            let held = live() - before;
            assert!(
                held <= bound,
                "heap {held} B over {bound} B in {}",
                d.c.state()
            );
        }
    }
    assert!(live() - before <= 0, "leak: {} B", live() - before);
});
