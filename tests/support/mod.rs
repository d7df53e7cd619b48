//! A hand-driven peer for behaviour tests: the test plays the remote TCP,
//! builds every segment itself, feeds it with `handle_segment` and reads
//! what `poll_transmit` returns. No simulator, no randomness.
#![allow(dead_code)]

use bytes::Bytes;
use std::time::Duration;
use tcp_proto::wire::{Flags, Options, Timestamps};
use tcp_proto::{CloseReason, Config, Connection, Event, Instant, Segment, SeqNum, State};

/// Port of the connection under test when it opens actively.
pub const LOCAL: u16 = 40000;
/// Port of the hand-driven peer (the "server" when we connect).
pub const REMOTE: u16 = 80;

/// Flag shorthands.
pub const ACK: Flags = Flags::ACK;
pub const SYN: Flags = Flags::SYN;
pub const FIN: Flags = Flags::FIN;
pub const RST: Flags = Flags::RST;
pub const PSH: Flags = Flags::PSH;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Linux preset without the options that make hand-crafted segments noisy.
pub fn plain() -> Config {
    let mut c = Config::linux();
    c.timestamps = false;
    c.window_scale = false;
    c
}

/// `n` octets of a recognisable pattern.
pub fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + i / 7) as u8) ^ salt).collect()
}

/// The connection under test, its clock, and everything it said.
pub struct H {
    pub c: Connection,
    pub now: Instant,
    /// Every event, in order.
    pub events: Vec<Event>,
    /// Every segment it emitted, with the time.
    pub log: Vec<(Instant, Segment)>,
    /// Every data octet the application read.
    pub read: Vec<u8>,
}

impl H {
    pub fn new(c: Connection, now: Instant) -> H {
        H {
            c,
            now,
            events: Vec::new(),
            log: Vec::new(),
            read: Vec::new(),
        }
    }

    /// Active open at time zero: returns the harness and the SYN.
    pub fn connect(cfg: Config, iss: u32) -> (H, Segment) {
        let c = Connection::connect(cfg, LOCAL, REMOTE, SeqNum(iss), Instant::ZERO).unwrap();
        let mut h = H::new(c, Instant::ZERO);
        let out = h.drain();
        assert_eq!(out.len(), 1, "one SYN: {out:?}");
        let syn = out.into_iter().next().unwrap();
        assert_eq!(syn.flags, SYN);
        (h, syn)
    }

    /// One-shot passive open on port 80.
    pub fn listen(cfg: Config, iss: u32) -> H {
        let c = Connection::listen(cfg, REMOTE, SeqNum(iss)).unwrap();
        let mut h = H::new(c, Instant::ZERO);
        h.drain();
        h
    }

    /// Collects every segment and event available now.
    pub fn drain(&mut self) -> Vec<Segment> {
        let mut out = Vec::new();
        for _ in 0..100_000 {
            match self.c.poll_transmit(self.now) {
                Some(s) => {
                    self.log.push((self.now, s.clone()));
                    out.push(s);
                }
                None => break,
            }
        }
        while let Some(e) = self.c.poll_event() {
            self.events.push(e);
        }
        out
    }

    /// Feeds one segment now and returns what came out.
    pub fn feed(&mut self, s: Segment) -> Vec<Segment> {
        self.c.handle_segment(self.now, s);
        self.drain()
    }

    /// Moves the clock forward by `d`, running every timer that falls due
    /// on the way (at its own deadline), and returns what came out.
    pub fn advance(&mut self, d: Duration) -> Vec<Segment> {
        let end = self.now + d;
        let mut out = Vec::new();
        for _ in 0..100_000 {
            match self.c.poll_timeout() {
                Some(t) if t <= end => {
                    if t > self.now {
                        self.now = t;
                    }
                    self.c.handle_timeout(self.now);
                    out.extend(self.drain());
                }
                _ => break,
            }
        }
        self.now = end;
        out.extend(self.drain());
        out
    }

    /// Jumps to the next deadline, runs it, returns (when, output).
    pub fn fire(&mut self) -> Option<(Instant, Vec<Segment>)> {
        let t = self.c.poll_timeout()?;
        if t > self.now {
            self.now = t;
        }
        self.c.handle_timeout(self.now);
        Some((self.now, self.drain()))
    }

    /// A segment from the peer (ports swapped). `ack: None` leaves ACK clear.
    pub fn seg(&self, seq: SeqNum, ack: Option<SeqNum>, flags: Flags, data: &[u8]) -> Segment {
        let mut f = flags;
        if ack.is_some() {
            f = f.with(ACK);
        }
        Segment {
            src_port: self.c.remote_port(),
            dst_port: self.c.local_port(),
            seq,
            ack: ack.unwrap_or(SeqNum(0)),
            flags: f,
            window: 65535,
            urgent: 0,
            options: Options::default(),
            payload: Bytes::copy_from_slice(data),
        }
    }

    /// Reads everything available into `self.read`; `true` on EOF.
    pub fn read_all(&mut self) -> bool {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match self.c.recv(&mut buf) {
                Ok(0) => return true,
                Ok(n) => self.read.extend_from_slice(&buf[..n]),
                Err(_) => return false,
            }
        }
    }

    /// Every `StateChanged` edge seen so far.
    pub fn edges(&self) -> Vec<(State, State)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::StateChanged { from, to } => Some((*from, *to)),
                _ => None,
            })
            .collect()
    }

    pub fn has_edge(&self, from: State, to: State) -> bool {
        self.edges().contains(&(from, to))
    }

    pub fn closed_event(&self) -> Option<CloseReason> {
        self.events.iter().find_map(|e| match e {
            Event::Closed(r) => Some(*r),
            _ => None,
        })
    }

    pub fn count_events(&self, ev: Event) -> usize {
        self.events.iter().filter(|e| **e == ev).count()
    }
}

/// A peer SYN (no ACK) with an MSS option.
pub fn syn_from(src: u16, dst: u16, seq: u32, mss: Option<u16>) -> Segment {
    Segment {
        src_port: src,
        dst_port: dst,
        seq: SeqNum(seq),
        flags: SYN,
        window: 65535,
        options: Options {
            mss,
            ..Options::default()
        },
        ..Segment::default()
    }
}

/// With `timestamps` set on the segment.
pub fn with_ts(mut s: Segment, val: u32, ecr: u32) -> Segment {
    s.options.timestamps = Some(Timestamps { val, ecr });
    s
}

/// With a window field.
pub fn with_wnd(mut s: Segment, w: u16) -> Segment {
    s.window = w;
    s
}

/// An established connection opened actively: (harness, our ISS + 1 = SND.NXT,
/// peer's next sequence number). The peer offers MSS 1460 and no other option.
pub fn established_active(cfg: Config, iss: u32, peer_iss: u32) -> (H, SeqNum, SeqNum) {
    let (mut h, syn) = H::connect(cfg, iss);
    let mut sa = h.seg(SeqNum(peer_iss), Some(syn.seq.add(1)), SYN, b"");
    sa.options.mss = Some(1460);
    let out = h.feed(sa);
    assert_eq!(h.c.state(), State::Established, "{out:?}");
    assert!(
        out.iter()
            .any(|s| s.flags == ACK && s.ack == SeqNum(peer_iss).add(1)),
        "the handshake's ACK: {out:?}"
    );
    (h, SeqNum(iss).add(1), SeqNum(peer_iss).add(1))
}

/// An established connection opened passively through `listen`:
/// (harness, our SND.NXT, peer's next sequence number).
pub fn established_passive(cfg: Config, iss: u32, peer_iss: u32) -> (H, SeqNum, SeqNum) {
    let mut h = H::listen(cfg, iss);
    let out = h.feed(syn_from(LOCAL, REMOTE, peer_iss, Some(1460)));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].flags, SYN | ACK);
    let ack = h.seg(SeqNum(peer_iss).add(1), Some(SeqNum(iss).add(1)), ACK, b"");
    let out = h.feed(ack);
    assert!(out.is_empty(), "nothing to say after the ACK: {out:?}");
    assert_eq!(h.c.state(), State::Established);
    (h, SeqNum(iss).add(1), SeqNum(peer_iss).add(1))
}

/// Two connections wired back to back without loss: moves every segment
/// across until both are quiet, at the current time of `a` (which both share).
pub fn exchange(a: &mut H, b: &mut H) -> usize {
    let mut moved = 0;
    for _ in 0..10_000 {
        let from_a = a.drain();
        let from_b = b.drain();
        if from_a.is_empty() && from_b.is_empty() {
            break;
        }
        b.now = a.now;
        for s in from_a {
            moved += 1;
            b.c.handle_segment(b.now, s);
        }
        for s in from_b {
            moved += 1;
            a.c.handle_segment(a.now, s);
        }
    }
    moved
}
