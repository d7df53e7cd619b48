//! Property tests of the Endpoint: random interleavings of connects, sends,
//! closes, aborts, forged segments, loss, duplication, reordering and time
//! over many 4-tuples (IPv4 and IPv6). After every step:
//! - a segment delivered for one 4-tuple changed no other connection;
//! - live handles never alias (distinct slots, distinct 4-tuples), and every
//!   handle that went stale stays stale;
//! - entries stay within the configured limits.
//!
//! Cases: 200 by default (each up to 300 steps), `TCPP_PROPTEST_CASES=N` for more.

use proptest::prelude::*;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tcp_proto::endpoint::{ConnectionHandle, Endpoint, EndpointConfig, SynCookies, Transmit};
use tcp_proto::{Flags, Instant, Segment, SeqNum, State, Stats};

#[derive(Clone, Debug)]
enum Op {
    Connect(u8),
    Send(u8, u16),
    ServerSend(u8, u16),
    Close(u8),
    ServerClose(u8),
    Abort(u8),
    Read(u8),
    Accept,
    Deliver(u16),
    Drop(u16),
    Duplicate(u16),
    Forge {
        client: u8,
        flags: u8,
        seq: u32,
        ack: u32,
    },
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u8>().prop_map(Op::Connect),
        2 => (any::<u8>(), 1..3000u16).prop_map(|(k, n)| Op::Send(k, n)),
        1 => (any::<u8>(), 1..3000u16).prop_map(|(k, n)| Op::ServerSend(k, n)),
        1 => any::<u8>().prop_map(Op::Close),
        1 => any::<u8>().prop_map(Op::ServerClose),
        1 => any::<u8>().prop_map(Op::Abort),
        2 => any::<u8>().prop_map(Op::Read),
        2 => Just(Op::Accept),
        12 => any::<u16>().prop_map(Op::Deliver),
        1 => any::<u16>().prop_map(Op::Drop),
        1 => any::<u16>().prop_map(Op::Duplicate),
        2 => (any::<u8>(), any::<u8>(), any::<u32>(), any::<u32>())
            .prop_map(|(client, flags, seq, ack)| Op::Forge { client, flags, seq, ack }),
        2 => (1..5000u16).prop_map(Op::Advance),
    ]
}

const CLIENTS: usize = 24;

fn client_addr(k: usize) -> SocketAddr {
    let ip: IpAddr = if k.is_multiple_of(2) {
        format!("192.0.2.{}", 10 + k / 4).parse().unwrap()
    } else {
        format!("2001:db8::{:x}", 10 + k / 4).parse().unwrap()
    };
    SocketAddr::new(ip, 40000 + (k % 4) as u16)
}

fn server_addr(k: usize) -> SocketAddr {
    let ip: IpAddr = if k.is_multiple_of(2) {
        "192.0.2.1".parse().unwrap()
    } else {
        "2001:db8::1".parse().unwrap()
    };
    SocketAddr::new(ip, 80)
}

struct World {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    listener: tcp_proto::endpoint::ListenerHandle,
    /// In flight: (to the server?, transmit).
    wire: Vec<(bool, Transmit)>,
    clients: Vec<Option<ConnectionHandle>>,
    accepted: Vec<ConnectionHandle>,
    seen_stale: HashSet<ConnectionHandle>,
    cfg: EndpointConfig,
}

fn snapshot(e: &Endpoint, hs: &[ConnectionHandle]) -> Vec<Option<(State, Stats)>> {
    hs.iter()
        .map(|&h| e.connection_ref(h).ok().map(|c| (c.state(), c.stats())))
        .collect()
}

impl World {
    fn new() -> World {
        let mut cfg = EndpointConfig::linux();
        cfg.max_connections = 16;
        cfg.max_half_open = 8;
        cfg.max_syn_backlog = 4;
        cfg.max_time_wait = 6;
        cfg.syn_cookies = SynCookies::WhenFull;
        cfg.buffer_budget = 200_000;
        cfg.connection.send_buffer = 16_384;
        cfg.connection.recv_buffer = 16_384;
        let mut server = Endpoint::new(cfg, [5; 16]).unwrap();
        let listener = server.listen(None, 80, 6).unwrap();
        let mut ccfg = EndpointConfig::linux();
        ccfg.connection.send_buffer = 16_384;
        ccfg.connection.recv_buffer = 16_384;
        World {
            now: Instant::from_secs(1),
            client: Endpoint::new(ccfg, [6; 16]).unwrap(),
            server,
            listener,
            wire: Vec::new(),
            clients: vec![None; CLIENTS],
            accepted: Vec::new(),
            seen_stale: HashSet::new(),
            cfg,
        }
    }

    fn collect(&mut self) {
        while let Some(t) = self.client.poll_transmit(self.now) {
            if self.wire.len() < 4000 {
                self.wire.push((true, t));
            }
        }
        while let Some(t) = self.server.poll_transmit(self.now) {
            if self.wire.len() < 4000 {
                self.wire.push((false, t));
            }
        }
        while self.client.poll_event().is_some() {}
        while self.server.poll_event().is_some() {}
    }

    fn deliver_to_server(&mut self, t: Transmit) -> Result<(), TestCaseError> {
        // Every other server connection must come through unchanged.
        let target = (t.src, t.segment.src_port, t.dst, t.segment.dst_port);
        let others: Vec<ConnectionHandle> = self
            .accepted
            .iter()
            .copied()
            .filter(|&h| {
                self.server
                    .addresses(h)
                    .is_ok_and(|(l, r)| (r.ip(), r.port(), l.ip(), l.port()) != target)
            })
            .collect();
        let before = snapshot(&self.server, &others);
        self.server
            .handle_segment(self.now, t.src, t.dst, t.segment);
        let after = snapshot(&self.server, &others);
        prop_assert_eq!(
            before,
            after,
            "a segment for {:?} changed another connection",
            target
        );
        Ok(())
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        let now = self.now;
        match op {
            Op::Connect(k) => {
                let k = k as usize % CLIENTS;
                let live = self.clients[k].is_some_and(|h| self.client.connection_ref(h).is_ok());
                if !live && let Ok(h) = self.client.connect(now, client_addr(k), server_addr(k)) {
                    self.clients[k] = Some(h);
                }
            }
            Op::Send(k, n) => {
                if let Some(h) = self.clients[k as usize % CLIENTS] {
                    let _ = self.client.send(h, &vec![k; n as usize]);
                }
            }
            Op::ServerSend(k, n) => {
                if let Some(&h) = self.accepted.get(k as usize % self.accepted.len().max(1)) {
                    let _ = self.server.send(h, &vec![k; n as usize]);
                }
            }
            Op::Close(k) => {
                if let Some(h) = self.clients[k as usize % CLIENTS] {
                    let _ = self.client.close(now, h);
                }
            }
            Op::ServerClose(k) => {
                if let Some(&h) = self.accepted.get(k as usize % self.accepted.len().max(1)) {
                    let _ = self.server.close(now, h);
                }
            }
            Op::Abort(k) => {
                if let Some(h) = self.clients[k as usize % CLIENTS] {
                    let _ = self.client.abort(h);
                }
            }
            Op::Read(k) => {
                let mut buf = vec![0u8; 8192];
                if let Some(&h) = self.accepted.get(k as usize % self.accepted.len().max(1)) {
                    let _ = self.server.recv(h, &mut buf);
                }
                if let Some(h) = self.clients[k as usize % CLIENTS] {
                    let _ = self.client.recv(h, &mut buf);
                }
            }
            Op::Accept => {
                while let Some(h) = self.server.accept(self.listener) {
                    prop_assert!(!self.accepted.contains(&h), "accept gave a handle twice");
                    self.accepted.push(h);
                }
            }
            Op::Deliver(i) | Op::Drop(i) | Op::Duplicate(i) if !self.wire.is_empty() => {
                let i = i as usize % self.wire.len();
                match op {
                    Op::Drop(_) => {
                        self.wire.remove(i);
                    }
                    Op::Duplicate(_) => {
                        let d = self.wire[i].clone();
                        self.wire.push(d);
                    }
                    _ => {
                        let (to_server, t) = self.wire.remove(i);
                        if to_server {
                            self.deliver_to_server(t)?;
                        } else {
                            self.client.handle_segment(now, t.src, t.dst, t.segment);
                        }
                    }
                }
            }
            Op::Deliver(_) | Op::Drop(_) | Op::Duplicate(_) => {}
            Op::Forge {
                client,
                flags,
                seq,
                ack,
            } => {
                let k = client as usize % CLIENTS;
                let (c, s) = (client_addr(k), server_addr(k));
                let seg = Segment {
                    src_port: c.port(),
                    dst_port: s.port(),
                    seq: SeqNum(seq),
                    ack: SeqNum(ack),
                    flags: Flags(flags),
                    window: 1000,
                    ..Segment::default()
                };
                self.deliver_to_server(Transmit {
                    src: c.ip(),
                    dst: s.ip(),
                    segment: seg,
                })?;
            }
            Op::Advance(ms) => {
                self.now += Duration::from_millis(u64::from(ms));
                self.client.handle_timeout(self.now);
                self.server.handle_timeout(self.now);
            }
        }
        self.collect();
        self.check()
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        let counts = self.server.counts();
        prop_assert!(counts.connections <= self.cfg.max_connections);
        prop_assert!(counts.half_open <= self.cfg.max_half_open);
        prop_assert!(counts.time_wait <= self.cfg.max_time_wait);
        prop_assert!(counts.buffered <= self.cfg.buffer_budget + 16_384);
        // Live handles: distinct slots and distinct 4-tuples.
        let mut slots = HashSet::new();
        let mut tuples = HashSet::new();
        for &h in &self.accepted {
            match self.server.addresses(h) {
                Ok(a) => {
                    prop_assert!(
                        !self.seen_stale.contains(&h),
                        "a stale handle came back to life"
                    );
                    prop_assert!(slots.insert(h.index()), "two live handles share a slot");
                    prop_assert!(tuples.insert(a), "two live handles share a 4-tuple");
                }
                Err(_) => {
                    self.seen_stale.insert(h);
                }
            }
        }
        prop_assert!(slots.len() <= counts.connections);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("TCPP_PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(200),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_interleavings_over_many_tuples_keep_connections_isolated_and_handles_unique(
        ops in proptest::collection::vec(op(), 1..300)
    ) {
        let mut w = World::new();
        for op in ops {
            w.step(op)?;
        }
        // Drain: deliver everything, run out every timer; all ends within limits.
        for _ in 0..200 {
            if w.wire.is_empty() {
                match [w.client.poll_timeout(), w.server.poll_timeout()].into_iter().flatten().min() {
                    Some(t) => {
                        w.now = w.now.max(t);
                        w.client.handle_timeout(w.now);
                        w.server.handle_timeout(w.now);
                        w.collect();
                    }
                    None => break,
                }
            } else {
                w.step(Op::Deliver(0))?;
            }
        }
        w.check()?;
        if std::env::var("PROPS_VERBOSE").is_ok() {
            eprintln!("accepted {} stale {} server {:?} {:?}", w.accepted.len(), w.seen_stale.len(), w.server.counts(), w.server.stats());
        }
    }
}
