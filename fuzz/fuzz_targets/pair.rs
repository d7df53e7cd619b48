//! Two connections over a fuzzer-controlled link: the fuzzer decides what
//! is delivered, dropped, duplicated, reordered and when time moves, and
//! what the applications do. Throughout, each side has read an in-order
//! prefix of what the other sent. Once the fuzzer's bytes run out the link
//! turns perfect, the applications finish their script, and both ends must
//! reach CLOSED with every octet delivered.
#![no_main]

mod common;

use common::{Edges, Input, buffers, timers};
use libfuzzer_sys::fuzz_target;
use std::collections::VecDeque;
use std::time::Duration;
use tcp_proto::{CloseReason, Config, Connection, Instant, Segment, SeqNum, State};

struct Side {
    c: Connection,
    edges: Edges,
    /// Octets the application queued, in order.
    sent: Vec<u8>,
    /// Octets the application read, in order.
    got: Vec<u8>,
    eof: bool,
    closed_app: bool,
}

impl Side {
    fn new(c: Connection) -> Side {
        Side {
            c,
            edges: Edges::default(),
            sent: Vec::new(),
            got: Vec::new(),
            eof: false,
            closed_app: false,
        }
    }

    fn pattern(i: usize, salt: u8) -> u8 {
        (i as u8).wrapping_mul(31) ^ salt ^ (i >> 8) as u8
    }

    fn send(&mut self, n: usize, salt: u8) {
        let start = self.sent.len();
        let data: Vec<u8> = (start..start + n).map(|i| Self::pattern(i, salt)).collect();
        if let Ok(k) = self.c.send(&data) {
            self.sent.extend_from_slice(&data[..k]);
        }
    }

    fn read(&mut self) {
        let mut buf = [0u8; 4096];
        loop {
            match self.c.recv(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
    }
}

struct World {
    now: Instant,
    s: [Side; 2],
    /// Segments in flight towards side `i`.
    link: [VecDeque<Segment>; 2],
}

impl World {
    fn transmit(&mut self) {
        for i in 0..2 {
            for k in 0.. {
                assert!(k < 100_000, "poll_transmit never runs dry");
                let Some(seg) = self.s[i].c.poll_transmit(self.now) else {
                    break;
                };
                if self.link[1 - i].len() < 10_000 {
                    self.link[1 - i].push_back(seg);
                }
            }
            self.s[i].edges.check(&mut self.s[i].c);
            buffers(&self.s[i].c);
        }
    }

    fn deliver(&mut self, to: usize) {
        if let Some(seg) = self.link[to].pop_front() {
            self.s[to].c.handle_segment(self.now, seg);
        }
    }

    fn check_prefixes(&self) {
        for i in 0..2 {
            let got = &self.s[i].got;
            let sent = &self.s[1 - i].sent;
            assert!(
                got.len() <= sent.len() && got[..] == sent[..got.len()],
                "side {i} read octets that are not a prefix of what was sent"
            );
        }
    }

    fn tick(&mut self, d: Duration) {
        self.now += d;
        for i in 0..2 {
            timers(&mut self.s[i].c, self.now);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input { data };
    let knobs = inp.u8();
    let mut cfg = Config::linux();
    cfg.timestamps = knobs & 1 != 0;
    cfg.window_scale = knobs & 2 != 0;
    cfg.sack = knobs & 4 != 0;
    cfg.nagle = knobs & 8 != 0;
    cfg.recv_buffer = [2000, 70_000][usize::from(knobs >> 4) & 1];
    cfg.send_buffer = [3000, 50_000][usize::from(knobs >> 5) & 1];
    let now = Instant::from_secs(1);
    let client = Connection::connect(cfg, 40000, 80, SeqNum(inp.u32()), now).expect("config");
    let server = Connection::listen(cfg, 80, SeqNum(inp.u32())).expect("config");
    let mut w = World {
        now,
        s: [Side::new(client), Side::new(server)],
        link: [VecDeque::new(), VecDeque::new()],
    };
    // The impaired phase: at most 30 s of virtual time, well inside every
    // give-up timer, so that both ends are alive when the link turns perfect.
    let end = now + Duration::from_secs(30);
    let mut steps = 0;
    while !inp.is_empty() && steps < 5000 && w.now < end {
        steps += 1;
        w.transmit();
        let op = inp.u8();
        let to = usize::from(op >> 7);
        match op % 12 {
            0..=3 => w.deliver(to),
            4 => {
                w.link[to].pop_front(); // lost
            }
            5 => {
                if let Some(s) = w.link[to].front().cloned() {
                    w.link[to].push_back(s); // duplicated, later
                }
            }
            6 => {
                let n = w.link[to].len();
                if n > 1 {
                    let k = usize::from(inp.u8()) % n;
                    w.link[to].swap(0, k); // reordered
                }
            }
            7 => {
                let d = [1u64, 1000, 40_000, 200_000, 1_000_000][usize::from(inp.u8()) % 5];
                w.tick(Duration::from_micros(d));
            }
            8 => {
                let n = usize::from(inp.u16()) % 6000;
                let salt = (to as u8).wrapping_mul(0x55);
                w.s[to].send(n, salt);
            }
            9 => w.s[to].read(),
            10 => {
                if !w.s[to].closed_app && inp.u8() % 4 == 0 {
                    let _ = w.s[to].c.shutdown_write();
                }
            }
            _ => {
                if let Some(t) = w.s[to].c.poll_timeout() {
                    let t = t.min(end);
                    if t > w.now {
                        w.now = t;
                    }
                    timers(&mut w.s[to].c, w.now);
                }
            }
        }
        w.check_prefixes();
    }

    // The link turns perfect; the applications read everything and close
    // (each once it has sent all it queued and, for the server, seen EOF).
    for _ in 0..100_000u32 {
        w.transmit();
        while !w.link[0].is_empty() || !w.link[1].is_empty() {
            w.deliver(0);
            w.deliver(1);
            w.transmit();
        }
        let mut acted = false;
        for i in 0..2 {
            w.s[i].read();
            let done_sending = w.s[i].c.send_queue_len() == 0;
            let wants_close = if i == 0 { true } else { w.s[i].eof };
            if !w.s[i].closed_app && done_sending && wants_close {
                w.s[i].closed_app = true;
                let _ = w.s[i].c.shutdown_write();
                acted = true;
            }
        }
        w.check_prefixes();
        if w.s.iter().all(|s| s.c.state() == State::Closed) {
            break;
        }
        if acted {
            continue;
        }
        // Nothing moves now: jump to the earliest deadline.
        match w.s.iter().filter_map(|s| s.c.poll_timeout()).min() {
            Some(t) => {
                w.now = w.now.max(t);
                for i in 0..2 {
                    timers(&mut w.s[i].c, w.now);
                }
            }
            None => break,
        }
    }
    for i in 0..2 {
        let s = &w.s[i];
        assert_eq!(
            s.c.state(),
            State::Closed,
            "side {i} did not finish once the link turned perfect ({:?})",
            s.c.close_reason()
        );
    }
    // Both closed normally: every octet arrived.
    if w.s
        .iter()
        .all(|s| s.c.close_reason() == Some(CloseReason::Normal))
    {
        for i in 0..2 {
            assert_eq!(
                w.s[i].got.len(),
                w.s[1 - i].sent.len(),
                "side {i} missed octets"
            );
        }
    }
});
