//! One connection's whole life, client and server, from `connect` to both
//! sides CLOSED (TIME-WAIT expired): three-way handshake, four-way close,
//! TIME-WAIT expiry. Every segment crosses a "wire": encoded with its
//! checksum over an IPv4 pseudo-header and decoded (checksum verified) from
//! `Bytes` on the other side.
//!
//! Against smoltcp 0.14 doing the same in the same run: two `Interface`s
//! (`Medium::Ip`, IPv4, checksums computed and verified) over an in-memory
//! pair of queues, one TCP socket each; connect, accept, four-way close,
//! TIME-WAIT (smoltcp's fixed 10 s, skipped by advancing its clock).
//!
//! Neither side allocates per packet in the harness: tcp-proto's wire buffer
//! is one reused array, smoltcp's packets come from a pool. smoltcp's sockets and interfaces are
//! built once and reused (connect/listen again after CLOSED); tcp-proto
//! builds two fresh `Connection`s per lifecycle.
mod common;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use smoltcp::iface::{Config as SmolConfig, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address};
use tcp_proto::{ChecksumMode, Config, Connection, Instant, IpPair, Segment, SeqNum, State};

const CLIENT_IP: [u8; 4] = [192, 0, 2, 1];
const SERVER_IP: [u8; 4] = [192, 0, 2, 2];
const C2S: IpPair = IpPair::V4 {
    src: CLIENT_IP,
    dst: SERVER_IP,
};
const S2C: IpPair = IpPair::V4 {
    src: SERVER_IP,
    dst: CLIENT_IP,
};

// ---- tcp-proto -----------------------------------------------------------

/// The wire: encode (with checksum) into a reused buffer, decode (verifying
/// the checksum) from it. Lifecycle segments carry no payload, so decoding
/// from the slice copies nothing.
struct Wire {
    buf: [u8; 2048],
    segments: u64,
}

impl Wire {
    fn new() -> Wire {
        Wire {
            buf: [0; 2048],
            segments: 0,
        }
    }

    fn carry(&mut self, seg: &Segment, addrs: &IpPair) -> Segment {
        self.segments += 1;
        let n = seg
            .encode(&mut self.buf, addrs, ChecksumMode::Verify)
            .expect("encodes");
        Segment::decode_slice(&self.buf[..n], addrs, ChecksumMode::Verify)
            .expect("checksum verifies")
    }
}

/// Moves segments both ways until neither side has anything to send.
fn pump(wire: &mut Wire, c: &mut Connection, s: &mut Connection, now: Instant) {
    loop {
        let mut moved = false;
        while let Some(seg) = c.poll_transmit(now) {
            let seg = wire.carry(&seg, &C2S);
            s.handle_segment(now, seg);
            moved = true;
        }
        while let Some(seg) = s.poll_transmit(now) {
            let seg = wire.carry(&seg, &S2C);
            c.handle_segment(now, seg);
            moved = true;
        }
        while c.poll_event().is_some() {}
        while s.poll_event().is_some() {}
        if !moved {
            return;
        }
    }
}

/// One lifecycle; returns the segments exchanged.
fn tcp_proto_lifecycle(wire: &mut Wire, iss: u32) -> u64 {
    let before = wire.segments;
    let cfg = Config::linux();
    let mut now = Instant::from_secs(1);
    let mut s = Connection::listen(cfg, 80, SeqNum(iss.wrapping_mul(7))).expect("listen");
    let mut c = Connection::connect(cfg, 40000, 80, SeqNum(iss), now).expect("connect");
    pump(wire, &mut c, &mut s, now);
    assert_eq!(
        (c.state(), s.state()),
        (State::Established, State::Established)
    );
    c.close(now).expect("client close");
    pump(wire, &mut c, &mut s, now);
    assert_eq!(s.state(), State::CloseWait);
    s.close(now).expect("server close");
    pump(wire, &mut c, &mut s, now);
    assert_eq!((c.state(), s.state()), (State::TimeWait, State::Closed));
    now = c.poll_timeout().expect("2MSL armed");
    c.handle_timeout(now);
    pump(wire, &mut c, &mut s, now);
    assert_eq!(c.state(), State::Closed);
    wire.segments - before
}

// ---- smoltcp -------------------------------------------------------------

use common::{Pool, QueueDevice};

struct Host {
    iface: Interface,
    dev: QueueDevice,
    sockets: SocketSet<'static>,
    handle: SocketHandle,
}

impl Host {
    fn new(ip: [u8; 4], pool: &Pool, seed: u64) -> Host {
        let mut dev = QueueDevice {
            rx: VecDeque::new(),
            tx: VecDeque::new(),
            pool: pool.clone(),
            mtu: 1500,
        };
        let mut config = SmolConfig::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut dev, smoltcp::time::Instant::ZERO);
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::Ipv4(Ipv4Address::from(ip)), 24))
                .expect("room");
        });
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 65536]),
            tcp::SocketBuffer::new(vec![0; 65536]),
        );
        // Reno, as before the dev-dependency enabled smoltcp's CUBIC (which
        // would otherwise become its default).
        socket.set_congestion_control(tcp::CongestionControl::Reno);
        let mut sockets = SocketSet::new(Vec::new());
        let handle = sockets.add(socket);
        Host {
            iface,
            dev,
            sockets,
            handle,
        }
    }

    fn socket(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.handle)
    }

    fn poll(&mut self, now: smoltcp::time::Instant) {
        self.iface.poll(now, &mut self.dev, &mut self.sockets);
    }
}

struct SmolPair {
    client: Host,
    server: Host,
    now: smoltcp::time::Instant,
    segments: u64,
}

impl SmolPair {
    fn new() -> SmolPair {
        let pool: Pool = Rc::new(RefCell::new(Vec::new()));
        SmolPair {
            client: Host::new(CLIENT_IP, &pool, 1),
            server: Host::new(SERVER_IP, &pool, 2),
            now: smoltcp::time::Instant::from_secs(1),
            segments: 0,
        }
    }

    fn pump(&mut self) {
        loop {
            self.client.poll(self.now);
            let mut moved = !self.client.dev.tx.is_empty();
            self.segments += self.client.dev.tx.len() as u64;
            self.server.dev.rx.append(&mut self.client.dev.tx);
            self.server.poll(self.now);
            moved |= !self.server.dev.tx.is_empty();
            self.segments += self.server.dev.tx.len() as u64;
            self.client.dev.rx.append(&mut self.server.dev.tx);
            if !moved {
                return;
            }
        }
    }

    /// One lifecycle; returns the segments exchanged.
    fn lifecycle(&mut self) -> u64 {
        use tcp::State as S;
        let before = self.segments;
        self.server.socket().listen(80).expect("listen");
        let cx = self.client.iface.context();
        self.client
            .sockets
            .get_mut::<tcp::Socket>(self.client.handle)
            .connect(
                cx,
                (IpAddress::Ipv4(Ipv4Address::from(SERVER_IP)), 80),
                40000,
            )
            .expect("connect");
        self.pump();
        assert_eq!(
            (self.client.socket().state(), self.server.socket().state()),
            (S::Established, S::Established)
        );
        self.client.socket().close();
        self.pump();
        assert_eq!(self.server.socket().state(), S::CloseWait);
        self.server.socket().close();
        self.pump();
        assert_eq!(
            (self.client.socket().state(), self.server.socket().state()),
            (S::TimeWait, S::Closed)
        );
        // TIME-WAIT: smoltcp's fixed 10 s; jump to the deadline it reports.
        let at = self
            .client
            .iface
            .poll_at(self.now, &self.client.sockets)
            .expect("time-wait deadline");
        self.now = at.max(self.now + smoltcp::time::Duration::from_secs(10));
        self.pump();
        assert_eq!(self.client.socket().state(), S::Closed);
        self.segments - before
    }
}

fn lifecycle(c: &mut Criterion) {
    let mut wire = Wire::new();
    // For profilers (perf, callgrind): `LIFECYCLE_ONLY=tcp-proto|smoltcp`
    // runs `LIFECYCLE_N` lifecycles of one side and nothing else.
    if let Ok(which) = std::env::var("LIFECYCLE_ONLY") {
        let n: u32 = std::env::var("LIFECYCLE_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let mut pair = SmolPair::new();
        for i in 0..n {
            match which.as_str() {
                "smoltcp" => std::hint::black_box(pair.lifecycle()),
                _ => std::hint::black_box(tcp_proto_lifecycle(&mut wire, i)),
            };
        }
        std::process::exit(0);
    }
    let ours = tcp_proto_lifecycle(&mut wire, 1000);
    let mut pair = SmolPair::new();
    let theirs = pair.lifecycle();
    // Both exchange the same seven segments: SYN, SYN-ACK, ACK, FIN, ACK, FIN, ACK.
    assert_eq!(ours, 7, "tcp-proto segments");
    assert_eq!(theirs, 7, "smoltcp segments");

    let mut g = c.benchmark_group("lifecycle");
    let mut iss = 1000u32;
    g.bench_function("tcp-proto", |b| {
        b.iter(|| {
            iss = iss.wrapping_add(64_000);
            tcp_proto_lifecycle(&mut wire, iss)
        })
    });
    g.bench_function("smoltcp", |b| b.iter(|| pair.lifecycle()));
    g.finish();
    report_ratio(&mut wire, &mut pair);
}

/// A direct, interleaved measurement of both, for the ratio line.
fn report_ratio(wire: &mut Wire, pair: &mut SmolPair) {
    const N: u32 = 20_000;
    let mut best = (Duration::MAX, Duration::MAX);
    for round in 0..5 {
        let t = std::time::Instant::now();
        for i in 0..N {
            std::hint::black_box(tcp_proto_lifecycle(wire, i.wrapping_mul(977) ^ round));
        }
        best.0 = best.0.min(t.elapsed() / N);
        let t = std::time::Instant::now();
        for _ in 0..N {
            std::hint::black_box(pair.lifecycle());
        }
        best.1 = best.1.min(t.elapsed() / N);
    }
    println!(
        "lifecycle: tcp-proto {:.3} µs, smoltcp {:.3} µs per lifecycle; tcp-proto is {:.2}x faster",
        best.0.as_secs_f64() * 1e6,
        best.1.as_secs_f64() * 1e6,
        best.1.as_secs_f64() / best.0.as_secs_f64()
    );
}

criterion_group!(benches, lifecycle);
criterion_main!(benches);
