//! Bulk transfer: 64 MiB one way over a perfect in-memory link, every
//! segment encoded with its checksum (IPv4 pseudo-header) and decoded with
//! the checksum verified, both sides driven in one loop.
//!
//! The link: zero propagation delay, no loss. One data segment at a time
//! goes from sender to receiver; the receiver's application reads at once
//! and whatever the receiver sends (ACKs, window updates) goes straight
//! back. When neither side has anything to send, the virtual clock jumps to
//! the earliest deadline (delayed ACK, RTO, ...), so a protocol stall costs
//! no CPU time but shows in *virtual* time. Virtual time is charged for the
//! data direction only, at 10 Gbit/s per octet of IP packet (20-octet IPv4
//! header + TCP header + payload): a stall-free transfer runs at the link
//! rate less header overhead, a stall drags it down.
//!
//! Compared in the same run: tcp-proto with NewReno against smoltcp 0.14
//! with no congestion control and with its Reno (feature `socket-tcp-reno`),
//! both with 1 MiB buffers each way and MSS 1460. Then the tcp-proto grid
//! {NewReno, CUBIC} × MSS {536, 1460, 9000, 65495} × delayed ACK on/off.
//!
//! `cargo bench --bench bulk` prints a summary table (best of three direct
//! timings per cell: Gbit/s of CPU time, Gbit/s of virtual time, timer
//! stalls) and then runs criterion on the headline cells.
mod common;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smoltcp::iface::{Config as SmolConfig, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address};
use tcp_proto::{
    ChecksumMode, Config, CongestionAlgorithm, Connection, Instant, IpPair, Segment, SeqNum, State,
};

const TOTAL: usize = 64 << 20;
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
/// Virtual link rate for the data direction.
const LINK_BITS_PER_SEC: u64 = 10_000_000_000;
const PATTERN_LEN: usize = 1 << 16;

fn pattern() -> Vec<u8> {
    (0..PATTERN_LEN as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect()
}

/// Virtual nanoseconds to serialize an IP packet carrying `tcp_len` octets of TCP.
fn wire_ns(tcp_len: usize) -> u64 {
    ((20 + tcp_len) as u64 * 8 * 1_000_000_000).div_ceil(LINK_BITS_PER_SEC)
}

/// What one transfer did.
#[derive(Clone, Copy, Debug, Default)]
struct Outcome {
    /// Virtual time from the first data octet queued to the last one read.
    virtual_ns: u64,
    /// Times the loop had to jump the clock to a deadline mid-transfer.
    stalls: u64,
    /// Virtual time spent in those jumps.
    stalled_ns: u64,
    /// Segments each way.
    data_segments: u64,
    acks: u64,
}

impl Outcome {
    fn virtual_gbps(&self) -> f64 {
        TOTAL as f64 * 8.0 / self.virtual_ns as f64
    }
}

/// Checks received data against the pattern (outside the timed runs).
struct Checker {
    enabled: bool,
    at: usize,
    pat: Vec<u8>,
}

impl Checker {
    fn check(&mut self, got: &[u8]) {
        if !self.enabled {
            return;
        }
        for &b in got {
            assert_eq!(
                b,
                self.pat[self.at % PATTERN_LEN],
                "octet {} corrupted",
                self.at
            );
            self.at += 1;
        }
    }
}

// ---- tcp-proto -----------------------------------------------------------

struct Wire {
    buf: BytesMut,
}

impl Wire {
    fn carry(&mut self, seg: &Segment, addrs: &IpPair) -> (Segment, usize) {
        // Reclaims the previous packet's storage once nothing refers to it.
        self.buf.reserve(seg.encoded_len().expect("fits"));
        let n = seg
            .encode_into(&mut self.buf, addrs, ChecksumMode::Verify)
            .expect("encodes");
        let packet = self.buf.split().freeze();
        let seg = Segment::decode(&packet, addrs, ChecksumMode::Verify).expect("checksum verifies");
        (seg, n)
    }
}

/// tcp-proto settings for one cell.
#[derive(Clone, Copy, Debug)]
struct Cell {
    mss: u16,
    delayed_ack: bool,
    /// Use the zero-copy calls (`send_bytes` of slices of one `Bytes`,
    /// `recv_bytes`) instead of `send(&[u8])` / `recv(&mut [u8])`.
    zero_copy: bool,
    /// The congestion controller.
    cc: CongestionAlgorithm,
}

fn tcp_proto_config(cell: Cell) -> Config {
    let mut c = Config::linux();
    c.mss = cell.mss;
    c.congestion = cell.cc;
    if !cell.delayed_ack {
        c.delayed_ack = None;
    }
    c
}

fn tcp_proto_bulk(cell: Cell, pat: &[u8], checker: &mut Checker) -> Outcome {
    let cfg = tcp_proto_config(cell);
    let mut wire = Wire {
        buf: BytesMut::with_capacity(65536 + 64),
    };
    let mut now_ns: u64 = 1_000_000_000;
    let at = |ns: u64| Instant::from_micros(ns / 1000);
    let mut a = Connection::connect(cfg, 40000, 80, SeqNum(0xfff0_0000), at(now_ns)).expect("cfg");
    let mut b = Connection::listen(cfg, 80, SeqNum(7)).expect("cfg");
    // Handshake.
    loop {
        let now = at(now_ns);
        let mut moved = false;
        while let Some(s) = a.poll_transmit(now) {
            b.handle_segment(now, wire.carry(&s, &C2S).0);
            moved = true;
        }
        while let Some(s) = b.poll_transmit(now) {
            a.handle_segment(now, wire.carry(&s, &S2C).0);
            moved = true;
        }
        if !moved {
            break;
        }
    }
    assert_eq!(
        (a.state(), b.state()),
        (State::Established, State::Established)
    );
    while a.poll_event().is_some() {}
    while b.poll_event().is_some() {}

    let start_ns = now_ns;
    let mut out = Outcome::default();
    let (mut sent, mut received) = (0usize, 0usize);
    let mut rbuf = vec![0u8; 1 << 18];
    let pat_bytes = bytes::Bytes::copy_from_slice(pat);
    while received < TOTAL {
        while sent < TOTAL {
            let off = sent % PATTERN_LEN;
            let end = (PATTERN_LEN - off).min(TOTAL - sent) + off;
            let r = if cell.zero_copy {
                a.send_bytes(pat_bytes.slice(off..end))
            } else {
                a.send(&pat[off..end])
            };
            match r {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        let now = at(now_ns);
        let mut moved = false;
        if let Some(s) = a.poll_transmit(now) {
            moved = true;
            let (seg, n) = wire.carry(&s, &C2S);
            out.data_segments += 1;
            now_ns += wire_ns(n);
            let now = at(now_ns);
            b.handle_segment(now, seg);
            loop {
                if cell.zero_copy {
                    match b.recv_bytes(usize::MAX) {
                        Ok(d) if !d.is_empty() => {
                            checker.check(&d);
                            received += d.len();
                        }
                        _ => break,
                    }
                } else {
                    match b.recv(&mut rbuf) {
                        Ok(n) if n > 0 => {
                            checker.check(&rbuf[..n]);
                            received += n;
                        }
                        _ => break,
                    }
                }
            }
        }
        let now = at(now_ns);
        while let Some(s) = b.poll_transmit(now) {
            moved = true;
            out.acks += 1;
            a.handle_segment(now, wire.carry(&s, &S2C).0);
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        if !moved && received < TOTAL {
            // Nothing to send on either side: jump to the next deadline.
            let next = [a.poll_timeout(), b.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .expect("a stalled transfer must have a timer armed");
            let t = (next.total_micros() * 1000).max(now_ns);
            out.stalls += 1;
            out.stalled_ns += t - now_ns;
            now_ns = t;
            a.handle_timeout(at(now_ns));
            b.handle_timeout(at(now_ns));
        }
    }
    assert_eq!(sent, TOTAL);
    out.virtual_ns = now_ns - start_ns;
    out
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
    fn new(ip: [u8; 4], pool: &Pool, seed: u64, cc: tcp::CongestionControl) -> Host {
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
            tcp::SocketBuffer::new(vec![0; 1 << 20]),
            tcp::SocketBuffer::new(vec![0; 1 << 20]),
        );
        socket.set_congestion_control(cc);
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
}

fn smol_at(ns: u64) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros((ns / 1000) as i64)
}

fn smoltcp_bulk(cc: tcp::CongestionControl, pat: &[u8], checker: &mut Checker) -> Outcome {
    let pool: Pool = Rc::new(RefCell::new(Vec::new()));
    let mut a = Host::new(CLIENT_IP, &pool, 1, cc);
    let mut b = Host::new(SERVER_IP, &pool, 2, cc);
    let mut now_ns: u64 = 1_000_000_000;
    b.socket().listen(80).expect("listen");
    let cx = a.iface.context();
    a.sockets
        .get_mut::<tcp::Socket>(a.handle)
        .connect(
            cx,
            (IpAddress::Ipv4(Ipv4Address::from(SERVER_IP)), 80),
            40000,
        )
        .expect("connect");
    for _ in 0..10 {
        let now = smol_at(now_ns);
        a.iface.poll(now, &mut a.dev, &mut a.sockets);
        b.dev.rx.append(&mut a.dev.tx);
        b.iface.poll(now, &mut b.dev, &mut b.sockets);
        a.dev.rx.append(&mut b.dev.tx);
    }
    assert_eq!(a.socket().state(), tcp::State::Established);
    assert_eq!(b.socket().state(), tcp::State::Established);

    let start_ns = now_ns;
    let mut out = Outcome::default();
    let (mut sent, mut received) = (0usize, 0usize);
    let mut rbuf = vec![0u8; 1 << 18];
    while received < TOTAL {
        while sent < TOTAL {
            let off = sent % PATTERN_LEN;
            let end = (PATTERN_LEN - off).min(TOTAL - sent) + off;
            match a.socket().send_slice(&pat[off..end]) {
                Ok(0) | Err(_) => break,
                Ok(n) => sent += n,
            }
        }
        let now = smol_at(now_ns);
        // Sender: take in every ACK, then emit at most one segment.
        a.iface.poll_maintenance(now);
        while a.iface.poll_ingress_single(now, &mut a.dev, &mut a.sockets)
            != smoltcp::iface::PollIngressSingleResult::None
        {}
        a.iface.poll_egress(now, &mut a.dev, &mut a.sockets);
        let mut moved = false;
        if let Some(p) = a.dev.tx.pop_front() {
            moved = true;
            out.data_segments += 1;
            now_ns += wire_ns(p.len() - 20);
            b.dev.rx.push_back(p);
            let now = smol_at(now_ns);
            while b.iface.poll_ingress_single(now, &mut b.dev, &mut b.sockets)
                != smoltcp::iface::PollIngressSingleResult::None
            {}
            loop {
                match b.socket().recv_slice(&mut rbuf) {
                    Ok(n) if n > 0 => {
                        checker.check(&rbuf[..n]);
                        received += n;
                    }
                    _ => break,
                }
            }
        }
        // Receiver: everything it has to say goes straight back.
        let now = smol_at(now_ns);
        while b.iface.poll_egress(now, &mut b.dev, &mut b.sockets)
            != smoltcp::iface::PollResult::None
        {}
        if !b.dev.tx.is_empty() {
            moved = true;
            out.acks += b.dev.tx.len() as u64;
            a.dev.rx.append(&mut b.dev.tx);
        }
        if !moved && received < TOTAL {
            let next = [
                a.iface.poll_at(now, &a.sockets),
                b.iface.poll_at(now, &b.sockets),
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("a stalled transfer must have a timer armed");
            let t = (next.total_micros() as u64 * 1000).max(now_ns + 1000);
            out.stalls += 1;
            out.stalled_ns += t - now_ns;
            now_ns = t;
        }
    }
    out.virtual_ns = now_ns - start_ns;
    out
}

// ---- runs ----------------------------------------------------------------

#[derive(Clone, Copy)]
enum Subject {
    TcpProto(Cell),
    Smoltcp(tcp::CongestionControl),
}

impl Subject {
    fn name(&self) -> String {
        match self {
            Subject::TcpProto(c) => format!(
                "tcp-proto {:?} mss={} delack={}{}",
                c.cc,
                c.mss,
                if c.delayed_ack { "on" } else { "off" },
                if c.zero_copy { " zero-copy" } else { "" }
            ),
            Subject::Smoltcp(tcp::CongestionControl::None) => "smoltcp no-cc mss=1460".into(),
            Subject::Smoltcp(_) => "smoltcp Reno mss=1460".into(),
        }
    }

    fn run(&self, pat: &[u8], checker: &mut Checker) -> Outcome {
        match *self {
            Subject::TcpProto(c) => tcp_proto_bulk(c, pat, checker),
            Subject::Smoltcp(cc) => smoltcp_bulk(cc, pat, checker),
        }
    }
}

fn gbps(d: Duration) -> f64 {
    TOTAL as f64 * 8.0 / d.as_secs_f64() / 1e9
}

/// One checked run, then the best of `n` timed runs.
fn measure(s: Subject, pat: &[u8], n: usize) -> (Outcome, Duration) {
    let mut checker = Checker {
        enabled: true,
        at: 0,
        pat: pat.to_vec(),
    };
    let outcome = s.run(pat, &mut checker);
    assert_eq!(checker.at, TOTAL, "{}: all data delivered", s.name());
    checker.enabled = false;
    let mut best = Duration::MAX;
    for _ in 0..n {
        let t = std::time::Instant::now();
        std::hint::black_box(s.run(pat, &mut checker));
        best = best.min(t.elapsed());
    }
    (outcome, best)
}

const MSS_GRID: [u16; 4] = [536, 1460, 9000, 65495];

fn summary(pat: &[u8]) {
    println!("bulk: 64 MiB one way, checksums on, best of 3 (CPU Gbit/s), virtual link 10 Gbit/s");
    let headline = [
        Subject::TcpProto(Cell {
            mss: 1460,
            delayed_ack: true,
            zero_copy: false,
            cc: CongestionAlgorithm::NewReno,
        }),
        Subject::Smoltcp(tcp::CongestionControl::None),
        Subject::Smoltcp(tcp::CongestionControl::Reno),
        Subject::TcpProto(Cell {
            mss: 1460,
            delayed_ack: true,
            zero_copy: true,
            cc: CongestionAlgorithm::NewReno,
        }),
    ];
    let mut cpu = Vec::new();
    for s in headline {
        let (o, d) = measure(s, pat, 3);
        print_row(&s.name(), &o, d);
        cpu.push(gbps(d));
    }
    println!(
        "ratios: tcp-proto / smoltcp no-cc = {:.2}x, tcp-proto / smoltcp Reno = {:.2}x; \
         zero-copy tcp-proto / smoltcp no-cc = {:.2}x",
        cpu[0] / cpu[1],
        cpu[0] / cpu[2],
        cpu[3] / cpu[1]
    );
    let mut virt = Vec::new();
    for cc in [CongestionAlgorithm::NewReno, CongestionAlgorithm::Cubic] {
        for mss in MSS_GRID {
            for delayed_ack in [true, false] {
                let s = Subject::TcpProto(Cell {
                    mss,
                    delayed_ack,
                    zero_copy: false,
                    cc,
                });
                let (o, d) = measure(s, pat, 3);
                print_row(&s.name(), &o, d);
                virt.push(o.virtual_gbps());
            }
        }
    }
    let best = virt.iter().copied().fold(0.0, f64::max);
    let worst = virt.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "grid (virtual time): worst {worst:.2} / best {best:.2} Gbit/s = {:.2}",
        worst / best
    );
}

fn print_row(name: &str, o: &Outcome, d: Duration) {
    println!(
        "  {name:<38} {:>7.2} Gbit/s CPU  {:>6.2} Gbit/s virtual  {:>7} data segs {:>7} acks  {} stalls ({:.1} ms)",
        gbps(d),
        o.virtual_gbps(),
        o.data_segments,
        o.acks,
        o.stalls,
        o.stalled_ns as f64 / 1e6
    );
}

fn bulk(c: &mut Criterion) {
    let pat = pattern();
    // For profilers (perf, callgrind): `BULK_ONLY=tcp-proto|tcp-proto-zero-copy|smoltcp|smoltcp-reno`
    // runs one 64 MiB transfer of that subject (MSS 1460) and nothing else.
    if let Ok(which) = std::env::var("BULK_ONLY") {
        let s = match which.as_str() {
            "smoltcp" => Subject::Smoltcp(tcp::CongestionControl::None),
            "smoltcp-reno" => Subject::Smoltcp(tcp::CongestionControl::Reno),
            "tcp-proto-zero-copy" => Subject::TcpProto(Cell {
                mss: 1460,
                delayed_ack: true,
                zero_copy: true,
                cc: CongestionAlgorithm::NewReno,
            }),
            _ => Subject::TcpProto(Cell {
                mss: 1460,
                delayed_ack: true,
                zero_copy: false,
                cc: CongestionAlgorithm::NewReno,
            }),
        };
        let mut off = Checker {
            enabled: false,
            at: 0,
            pat: Vec::new(),
        };
        std::hint::black_box(s.run(&pat, &mut off));
        std::process::exit(0);
    }
    if std::env::var_os("BULK_NO_SUMMARY").is_none() {
        summary(&pat);
    }
    let mut off = Checker {
        enabled: false,
        at: 0,
        pat: Vec::new(),
    };
    let mut g = c.benchmark_group("bulk-64MiB");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(TOTAL as u64));
    for s in [
        Subject::TcpProto(Cell {
            mss: 1460,
            delayed_ack: true,
            zero_copy: false,
            cc: CongestionAlgorithm::NewReno,
        }),
        Subject::TcpProto(Cell {
            mss: 1460,
            delayed_ack: true,
            zero_copy: true,
            cc: CongestionAlgorithm::NewReno,
        }),
        Subject::Smoltcp(tcp::CongestionControl::None),
        Subject::Smoltcp(tcp::CongestionControl::Reno),
    ] {
        g.bench_function(s.name(), |b| b.iter(|| s.run(&pat, &mut off)));
    }
    g.finish();
    let mut g = c.benchmark_group("bulk-grid");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(TOTAL as u64));
    for mss in MSS_GRID {
        for delayed_ack in [true, false] {
            let s = Subject::TcpProto(Cell {
                mss,
                delayed_ack,
                zero_copy: false,
                cc: CongestionAlgorithm::NewReno,
            });
            g.bench_function(s.name(), |b| b.iter(|| s.run(&pat, &mut off)));
        }
    }
    g.finish();
}

criterion_group!(benches, bulk);
criterion_main!(benches);
