//! Goodput over a lossy bottleneck, in virtual time: tcp-proto against
//! smoltcp in the same harness and the same run.
//!
//! The path: a 100 Mbit/s bottleneck in each direction with a drop-tail
//! queue of one bandwidth-delay product, RTT/2 of propagation delay each
//! way, and random loss each way (`tcp_proto::sim::Pipe`, the simulator's
//! link model: random loss, then the queue, then the delay). Every cell
//! is measured twice, one way from a client to a server whose application
//! reads at once: a fixed size (64 MiB; goodput is the octets read × 8
//! over the virtual time from the end of the handshake to the last octet
//! read) and a fixed duration as iperf3 `-t` measures (the sender always
//! has data; the octets read in the first 20 s from `connect` × 8 / 20 s).
//! Packet sizes charged to the bottleneck are IP packets (20-octet IPv4
//! header + TCP), so the most any TCP with timestamps can reach is
//! 100 × 1448/1500 = 96.5 Mbit/s.
//!
//! Grid: RTT {2, 20, 80 ms} × loss {0, 0.1 %, 1 %, 3 %} both ways, for
//! tcp-proto (`Config::linux()`, 4 MiB buffers) with each congestion and
//! loss-recovery variant its `Config` offers, and smoltcp 0.14 with Reno
//! and with CUBIC (4 MiB socket buffers, its defaults otherwise).
//!
//! `cargo bench --bench goodput` prints the grid for both measurements
//! (Mbit/s, ratio to smoltcp CUBIC, losses and retransmissions, tcp-proto's
//! loss responses) and the goodput a standards-conforming sender can
//! average in each lossy cell (Mathis; RFC 9438 §5), then criterion times
//! one representative cell for each stack (CPU time of a whole simulated
//! transfer). Knobs: `TCPP_GOODPUT_MIB` (transfer size, default 64),
//! `TCPP_GOODPUT_SECS` (measurement duration, default 20),
//! `TCPP_GOODPUT_TIMED=0` (fixed size only),
//! `TCPP_GOODPUT_SEEDS` (seeds per cell, median taken; default 3),
//! `TCPP_GOODPUT_GRID=0` skips the grid, `TCPP_GOODPUT_ONLY=substring`
//! runs only the stacks whose name contains it, `TCPP_GOODPUT_RTTS=20,80`
//! and `TCPP_GOODPUT_LOSSES=0,1` (percent) run only those rows;
//! `TCPP_GOODPUT_TRACE=ms` prints the tcp-proto sender's cwnd, ssthresh,
//! retransmissions and SRTT every `ms` of virtual time and on each change
//! of ssthresh or retransmission count (to stderr; pair it with one seed
//! and one cell).
mod common;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use smoltcp::iface::{Config as SmolConfig, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address};
use tcp_proto::sim::{Bottleneck, Link, Pipe};
use tcp_proto::{Config, CongestionAlgorithm, Connection, Instant, Segment, SeqNum, State};

use common::{Pool, QueueDevice};

/// Bottleneck rate, both directions.
const RATE_BPS: u64 = 100_000_000;
/// The most a TCP with timestamps (1448 payload octets per 1500-octet IP
/// packet) can carry through the bottleneck, Mbit/s.
const MAX_GOODPUT_MBPS: f64 = 100.0 * 1448.0 / 1500.0;
const RTTS_MS: [u64; 3] = [2, 20, 80];
const LOSSES: [f64; 4] = [0.0, 0.001, 0.01, 0.03];
/// A cell that has not finished after this much virtual time reports what
/// it delivered so far (marked `*`).
const VIRTUAL_CAP: Duration = Duration::from_secs(300);
const PATTERN_LEN: usize = 1 << 16;
const CLIENT_IP: [u8; 4] = [192, 0, 2, 1];
const SERVER_IP: [u8; 4] = [192, 0, 2, 2];
const BUFFER: usize = 4 << 20;

fn transfer_len() -> usize {
    std::env::var("TCPP_GOODPUT_MIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(64)
        << 20
}

fn pattern() -> Vec<u8> {
    (0..PATTERN_LEN as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect()
}

/// When a transfer ends: after a fixed number of octets (the time to move
/// them is measured), or after a fixed virtual time from `connect` (the
/// octets read by then are measured, as iperf3 does with `-t`).
#[derive(Clone, Copy, Debug)]
enum Limit {
    Size(usize),
    Duration(Duration),
}

impl Limit {
    /// Octets the sending application offers.
    fn octets(self) -> usize {
        match self {
            Limit::Size(n) => n,
            Limit::Duration(_) => usize::MAX,
        }
    }
}

/// The fixed measurement duration, from `connect` (`TCPP_GOODPUT_SECS`, default 20).
fn duration() -> Duration {
    Duration::from_secs(env_usize("TCPP_GOODPUT_SECS", 20).max(1) as u64)
}

/// One point of the grid.
#[derive(Clone, Copy, Debug)]
struct Path {
    rtt: Duration,
    loss: f64,
    seed: u64,
}

impl Path {
    fn pipe<T: Clone>(&self, direction: u64) -> Pipe<T> {
        let link = Link {
            delay: self.rtt / 2,
            loss: self.loss,
            ..Link::default()
        };
        let bottleneck = Bottleneck::with_bdp_queue(RATE_BPS, self.rtt);
        Pipe::new(link, Some(bottleneck), self.seed * 2 + direction)
    }
}

/// What one transfer did.
#[derive(Clone, Copy, Debug, Default)]
struct Outcome {
    /// Octets the receiving application read.
    delivered: usize,
    /// Fixed size: virtual time from the end of the handshake to the last
    /// octet read (or to the cap). Fixed duration: that duration.
    elapsed: Duration,
    /// Whether the transfer finished before [`VIRTUAL_CAP`] (always, for a
    /// fixed duration).
    finished: bool,
    /// Packets lost at random / dropped by the queues (both directions).
    random_losses: u64,
    queue_drops: u64,
    /// Sender retransmissions and RTOs (tcp-proto only; smoltcp does not count them).
    retransmits: Option<u64>,
    rtos: Option<u64>,
    /// tcp-proto's loss responses: fast-recovery entries, tail loss probes,
    /// retransmissions RACK found lost again, undone responses.
    recoveries: Option<u64>,
    tlps: Option<u64>,
    lost_retransmits: Option<u64>,
    undos: Option<u64>,
}

impl Outcome {
    fn mbps(&self) -> f64 {
        self.delivered as f64 * 8.0 / self.elapsed.as_secs_f64().max(1e-9) / 1e6
    }
}

/// Checks the octets read against the pattern.
struct Checker<'a> {
    at: usize,
    pat: &'a [u8],
}

impl Checker<'_> {
    fn check(&mut self, got: &[u8]) {
        for (i, &b) in got.iter().enumerate() {
            assert_eq!(
                b,
                self.pat[(self.at + i) % PATTERN_LEN],
                "octet {} corrupted",
                self.at + i
            );
        }
        self.at += got.len();
    }
}

fn later(now: Instant, next: Option<Instant>) -> Instant {
    match next {
        Some(t) if t > now => t,
        // Something is due now and was just handled: move on a microsecond
        // so a deadline that stays due cannot spin the loop.
        _ => now + Duration::from_micros(1),
    }
}

// ---- tcp-proto -------------------------------------------------------------

/// The tcp-proto variants the grid runs: each congestion controller and
/// loss recovery `Config` offers (the names say what is on).
fn tcp_proto_variants() -> Vec<(&'static str, Config)> {
    let base = {
        let mut c = Config::linux();
        c.send_buffer = BUFFER;
        c.recv_buffer = BUFFER;
        c
    };
    let newreno = Config {
        congestion: CongestionAlgorithm::NewReno,
        sack: false,
        rack: false,
        ..base
    };
    let newreno_sack = Config {
        sack: true,
        rack: false,
        ..newreno
    };
    let newreno_rack = Config {
        sack: true,
        rack: true,
        ..newreno
    };
    let cubic = Config {
        sack: false,
        rack: false,
        ..base
    };
    // `Config::linux()` as it ships: CUBIC, SACK, RACK-TLP.
    let cubic_rack = base;
    vec![
        ("tcpp NewReno", newreno),
        ("tcpp NewReno+SACK", newreno_sack),
        ("tcpp NewReno+SACK+RACK", newreno_rack),
        ("tcpp CUBIC", cubic),
        ("tcpp CUBIC+SACK+RACK", cubic_rack),
    ]
}

fn tcp_proto_transfer(cfg: Config, path: Path, limit: Limit, pat: &[u8]) -> Outcome {
    let total = limit.octets();
    let mut up: Pipe<Segment> = path.pipe(0);
    let mut down: Pipe<Segment> = path.pipe(1);
    let mut now = Instant::from_secs(1);
    let connect_at = now;
    let mut a = Connection::connect(cfg, 40000, 80, SeqNum(0xfff0_0000), now).expect("cfg");
    let mut b = Connection::listen(cfg, 80, SeqNum(7)).expect("cfg");
    let mut start = None;
    let (mut sent, mut received) = (0usize, 0usize);
    let mut rbuf = vec![0u8; 1 << 18];
    let mut checker = Checker { at: 0, pat };
    let mut last = now;
    let trace = std::env::var("TCPP_GOODPUT_TRACE").is_ok();
    let mut last_trace = (0, 0, 0);
    let trace_ms: u128 = std::env::var("TCPP_GOODPUT_TRACE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    while received < total {
        // Deliveries and timers due now.
        while let Some(s) = up.pop_due(now) {
            b.handle_segment(now, s);
        }
        while let Some(s) = down.pop_due(now) {
            a.handle_segment(now, s);
        }
        for c in [&mut a, &mut b] {
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
            }
        }
        // The applications: the client writes all it can, the server reads all there is.
        if start.is_none() && a.state() == State::Established {
            start = Some(now);
        }
        while sent < total {
            let off = sent % PATTERN_LEN;
            let end = (PATTERN_LEN - off).min(total - sent) + off;
            match a.send(&pat[off..end]) {
                Ok(n) if n > 0 => sent += n,
                _ => break,
            }
        }
        loop {
            match b.recv(&mut rbuf) {
                Ok(n) if n > 0 => {
                    checker.check(&rbuf[..n]);
                    received += n;
                    last = now;
                }
                _ => break,
            }
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        if trace {
            let i = a.tcp_info(now);
            let key = (
                i.snd_ssthresh,
                i.total_retrans,
                (now - start.unwrap_or(now)).as_millis() / trace_ms,
            );
            if key != last_trace {
                last_trace = key;
                eprintln!(
                    "t={:.3} cwnd={} ssthresh={} rtx={} rto={} srtt={} unacked={} rcvd={}",
                    (now - start.unwrap_or(now)).as_secs_f64(),
                    i.snd_cwnd,
                    i.snd_ssthresh,
                    i.total_retrans,
                    i.total_rto,
                    i.rtt,
                    i.unacked,
                    received
                );
            }
        }
        // Output onto the path.
        while let Some(s) = a.poll_transmit(now) {
            let len = 20 + s.encoded_len().expect("encodes");
            up.send(now, len, s);
        }
        while let Some(s) = b.poll_transmit(now) {
            let len = 20 + s.encoded_len().expect("encodes");
            down.send(now, len, s);
        }
        if received >= total {
            break;
        }
        let next = [
            up.next_arrival(),
            down.next_arrival(),
            a.poll_timeout(),
            b.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        assert!(
            next.is_some(),
            "tcp-proto: transfer stuck with nothing pending"
        );
        now = later(now, next);
        if ended(limit, connect_at, start, now) {
            break;
        }
    }
    let start = start.expect("handshake finished");
    let st = a.stats();
    Outcome {
        delivered: received,
        elapsed: elapsed(limit, start, received >= total, last, now),
        finished: received >= total || matches!(limit, Limit::Duration(_)),
        random_losses: up.stats().lost + down.stats().lost,
        queue_drops: up.stats().queue_drops + down.stats().queue_drops,
        retransmits: Some(st.retransmits),
        rtos: Some(st.rto_expirations),
        recoveries: Some(st.fast_retransmits),
        tlps: Some(st.tail_loss_probes),
        lost_retransmits: Some(st.rack_lost_retransmits),
        undos: Some(st.spurious_undos),
    }
}

/// Whether the run is over at `now` (the cap, or the fixed duration).
fn ended(limit: Limit, connect_at: Instant, start: Option<Instant>, now: Instant) -> bool {
    match limit {
        Limit::Size(_) => start.is_some_and(|s| now - s > VIRTUAL_CAP),
        Limit::Duration(d) => now - connect_at > d,
    }
}

/// The time the goodput is taken over: from the end of the handshake to the
/// last octet (or the cap) for a fixed size; the fixed duration itself
/// (the octets read by then count) otherwise.
fn elapsed(limit: Limit, start: Instant, done: bool, last: Instant, now: Instant) -> Duration {
    match limit {
        Limit::Size(_) => (if done { last } else { now }) - start,
        Limit::Duration(d) => d,
    }
}

// ---- smoltcp ---------------------------------------------------------------

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
            tcp::SocketBuffer::new(vec![0; BUFFER]),
            tcp::SocketBuffer::new(vec![0; BUFFER]),
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

    fn poll(&mut self, now: Instant) {
        let t = smol(now);
        self.iface.poll(t, &mut self.dev, &mut self.sockets);
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.iface
            .poll_at(smol(now), &self.sockets)
            .map(|t| Instant::from_micros(t.total_micros().max(0) as u64))
    }
}

fn smol(t: Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(t.total_micros() as i64)
}

fn smoltcp_transfer(cc: tcp::CongestionControl, path: Path, limit: Limit, pat: &[u8]) -> Outcome {
    let total = limit.octets();
    let pool: Pool = Rc::new(RefCell::new(Vec::new()));
    let mut up: Pipe<Vec<u8>> = path.pipe(0);
    let mut down: Pipe<Vec<u8>> = path.pipe(1);
    let mut a = Host::new(CLIENT_IP, &pool, 1, cc);
    let mut b = Host::new(SERVER_IP, &pool, 2, cc);
    let mut now = Instant::from_secs(1);
    let connect_at = now;
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
    let mut start = None;
    let (mut sent, mut received) = (0usize, 0usize);
    let mut rbuf = vec![0u8; 1 << 18];
    let mut checker = Checker { at: 0, pat };
    let mut last = now;
    while received < total {
        while let Some(p) = up.pop_due(now) {
            b.dev.rx.push_back(p);
        }
        while let Some(p) = down.pop_due(now) {
            a.dev.rx.push_back(p);
        }
        a.poll(now);
        b.poll(now);
        if start.is_none() && a.socket().state() == tcp::State::Established {
            start = Some(now);
        }
        while sent < total {
            let off = sent % PATTERN_LEN;
            let end = (PATTERN_LEN - off).min(total - sent) + off;
            match a.socket().send_slice(&pat[off..end]) {
                Ok(n) if n > 0 => sent += n,
                _ => break,
            }
        }
        loop {
            match b.socket().recv_slice(&mut rbuf) {
                Ok(n) if n > 0 => {
                    checker.check(&rbuf[..n]);
                    received += n;
                    last = now;
                }
                _ => break,
            }
        }
        // Send what the writes and reads allow (data, window updates).
        a.poll(now);
        b.poll(now);
        while let Some(p) = a.dev.tx.pop_front() {
            up.send(now, p.len(), p);
        }
        while let Some(p) = b.dev.tx.pop_front() {
            down.send(now, p.len(), p);
        }
        if received >= total {
            break;
        }
        let next = [
            up.next_arrival(),
            down.next_arrival(),
            a.poll_at(now),
            b.poll_at(now),
        ]
        .into_iter()
        .flatten()
        .min();
        assert!(
            next.is_some(),
            "smoltcp: transfer stuck with nothing pending"
        );
        now = later(now, next);
        if ended(limit, connect_at, start, now) {
            break;
        }
    }
    let start = start.expect("handshake finished");
    Outcome {
        delivered: received,
        elapsed: elapsed(limit, start, received >= total, last, now),
        finished: received >= total || matches!(limit, Limit::Duration(_)),
        random_losses: up.stats().lost + down.stats().lost,
        queue_drops: up.stats().queue_drops + down.stats().queue_drops,
        ..Outcome::default()
    }
}

// ---- the grid --------------------------------------------------------------

#[derive(Clone, Copy)]
#[allow(clippy::large_enum_variant)] // a handful, built once
enum Stack {
    TcpProto(&'static str, Config),
    Smoltcp(&'static str, tcp::CongestionControl),
}

impl Stack {
    fn name(&self) -> &'static str {
        match self {
            Stack::TcpProto(n, _) | Stack::Smoltcp(n, _) => n,
        }
    }

    fn run(&self, path: Path, limit: Limit, pat: &[u8]) -> Outcome {
        match *self {
            Stack::TcpProto(_, cfg) => tcp_proto_transfer(cfg, path, limit, pat),
            Stack::Smoltcp(_, cc) => smoltcp_transfer(cc, path, limit, pat),
        }
    }
}

const SMOL_CUBIC: &str = "smoltcp CUBIC";

fn stacks() -> Vec<Stack> {
    let mut v: Vec<Stack> = tcp_proto_variants()
        .into_iter()
        .map(|(n, c)| Stack::TcpProto(n, c))
        .collect();
    v.push(Stack::Smoltcp("smoltcp Reno", tcp::CongestionControl::Reno));
    v.push(Stack::Smoltcp(SMOL_CUBIC, tcp::CongestionControl::Cubic));
    if let Ok(only) = std::env::var("TCPP_GOODPUT_ONLY") {
        v.retain(|s| s.name().contains(only.as_str()) || s.name() == SMOL_CUBIC);
    }
    v
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<Outcome>) -> Outcome {
    v.sort_by(|x, y| x.mbps().total_cmp(&y.mbps()));
    v[v.len() / 2]
}

/// The grid's values kept by a comma-separated filter in `name`, if set.
fn filtered<T: Copy>(name: &str, all: &[T], key: impl Fn(T) -> f64) -> Vec<T> {
    let Ok(list) = std::env::var(name) else {
        return all.to_vec();
    };
    let want: Vec<f64> = list
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    all.iter()
        .copied()
        .filter(|&v| want.iter().any(|w| (w - key(v)).abs() < 1e-9))
        .collect()
}

/// results[rtt][loss][stack] for one [`Limit`].
type Results = Vec<Vec<Vec<Outcome>>>;

fn run_grid(
    stacks: &[Stack],
    rtts: &[u64],
    losses: &[f64],
    seeds: usize,
    limit: Limit,
    pat: &[u8],
) -> Results {
    rtts.iter()
        .map(|&rtt| {
            losses
                .iter()
                .map(|&loss| {
                    stacks
                        .iter()
                        .map(|s| {
                            let runs = (0..seeds as u64)
                                .map(|seed| {
                                    let path = Path {
                                        rtt: Duration::from_millis(rtt),
                                        loss,
                                        seed: 1 + seed,
                                    };
                                    s.run(path, limit, pat)
                                })
                                .collect();
                            median(runs)
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// The round trip a data packet and its ACK see on an empty queue:
/// propagation plus the serialization of a 1500-octet packet and a
/// 52-octet ACK at the bottleneck rate.
fn base_rtt(rtt_ms: u64) -> f64 {
    rtt_ms as f64 / 1e3 + (1500.0 + 52.0) * 8.0 / RATE_BPS as f64
}

/// What a standards-conforming sender can average at packet loss rate `p`
/// on a round trip of `rtt` seconds, Mbit/s of payload (1448-octet
/// segments), capped at [`MAX_GOODPUT_MBPS`]:
/// - Mathis et al. (1997): MSS/RTT · C/√p with C = √(3/2) ≈ 1.22 for
///   periodic loss (the classic bound) and C ≈ 1.31 for random loss;
/// - RFC 9438 §5: CUBIC's average window is the larger of its curve's,
///   (C·(3+β)/(4·(1−β)))^¼ · RTT^¾ / p^¾ segments (C = 0.4, β = 0.7), and
///   the Reno-friendly AIMD's, √(3/2)/√p (α = 3(1−β)/(1+β) makes it Reno's).
fn bounds(rtt: f64, p: f64) -> (f64, f64, f64) {
    let seg = 1448.0 * 8.0 / rtt / 1e6; // Mbit/s per segment per round trip
    let mathis = seg * 1.5f64.sqrt() / p.sqrt();
    let mathis_random = seg * 1.31 / p.sqrt();
    let (c, beta) = (0.4f64, 0.7f64);
    let w_cubic =
        (c * (3.0 + beta) / (4.0 * (1.0 - beta))).powf(0.25) * rtt.powf(0.75) / p.powf(0.75);
    let w_reno = 1.5f64.sqrt() / p.sqrt();
    let cubic = seg * w_cubic.max(w_reno);
    let cap = |x: f64| x.min(MAX_GOODPUT_MBPS);
    (cap(mathis), cap(mathis_random), cap(cubic))
}

fn grid(pat: &[u8]) {
    let total = transfer_len();
    let secs = duration();
    let rtts = filtered("TCPP_GOODPUT_RTTS", &RTTS_MS, |r| r as f64);
    let losses = filtered("TCPP_GOODPUT_LOSSES", &LOSSES, |l| l * 100.0);
    let seeds = env_usize("TCPP_GOODPUT_SEEDS", 3).max(1);
    let stacks = stacks();
    println!(
        "goodput grid: 100 Mbit/s bottleneck each way, drop-tail 1 BDP, random loss both ways, \
         virtual time, median of {seeds} seed(s) (1..={seeds}); two measurements per cell:\n\
         - fixed size: {} MiB one way, octets x 8 / (end of handshake .. last octet read) \
         (* = unfinished after {} s: what it delivered by then);\n\
         - fixed duration (as iperf3 -t): the sender always has data, octets read in the first \
         {} s from connect x 8 / {} s",
        total >> 20,
        VIRTUAL_CAP.as_secs(),
        secs.as_secs(),
        secs.as_secs(),
    );
    let wall = std::time::Instant::now();
    let sized = run_grid(&stacks, &rtts, &losses, seeds, Limit::Size(total), pat);
    let timed = if std::env::var("TCPP_GOODPUT_TIMED").as_deref() == Ok("0") {
        None
    } else {
        Some(run_grid(
            &stacks,
            &rtts,
            &losses,
            seeds,
            Limit::Duration(secs),
            pat,
        ))
    };
    let head = |title: &str| {
        print!("\n{title}\n| RTT | loss |");
        for s in &stacks {
            print!(" {} |", s.name());
        }
        print!("\n|---|---|");
        for _ in &stacks {
            print!("---|");
        }
        println!();
    };
    let smol_cubic = stacks.iter().position(|s| s.name() == SMOL_CUBIC);
    let table = |results: &Results, title: &str, f: &dyn Fn(&[Outcome], &Outcome) -> String| {
        head(title);
        for (i, &rtt) in rtts.iter().enumerate() {
            for (j, &loss) in losses.iter().enumerate() {
                print!("| {rtt} ms | {} % |", loss * 100.0);
                let cells = &results[i][j];
                for o in cells {
                    print!(" {} |", f(cells, o));
                }
                println!();
            }
        }
    };
    let mark = |o: &Outcome| if o.finished { "" } else { "*" };
    let opt = |x: Option<u64>| x.map_or("-".to_string(), |v| v.to_string());
    let mut sets = vec![(format!("fixed size, {} MiB", total >> 20), &sized)];
    if let Some(t) = &timed {
        sets.push((
            format!("fixed duration, {} s from connect", secs.as_secs()),
            t,
        ));
    }
    for (what, results) in &sets {
        table(results, &format!("Goodput, Mbit/s ({what})"), &|_, o| {
            format!("{:.2}{}", o.mbps(), mark(o))
        });
        if let Some(k) = smol_cubic {
            table(
                results,
                &format!("Ratio to smoltcp CUBIC, same cell ({what})"),
                &|cells, o| format!("{:.2}", o.mbps() / cells[k].mbps().max(1e-9)),
            );
        }
        table(
            results,
            &format!(
                "Random losses / queue drops (both ways) / sender retransmits / RTOs ({what})"
            ),
            &|_, o| {
                format!(
                    "{}/{}/{}/{}",
                    o.random_losses,
                    o.queue_drops,
                    opt(o.retransmits),
                    opt(o.rtos)
                )
            },
        );
        table(
            results,
            &format!(
                "tcp-proto loss responses: recoveries / tail loss probes / lost retransmissions \
                 / undone ({what})"
            ),
            &|_, o| {
                format!(
                    "{}/{}/{}/{}",
                    opt(o.recoveries),
                    opt(o.tlps),
                    opt(o.lost_retransmits),
                    opt(o.undos)
                )
            },
        );
    }
    println!(
        "\nWhat a standards-conforming sender can average (Mbit/s of payload; RTT = path + \
         serialization): Mathis MSS/RTT x 1.22/sqrt(p) (periodic loss) and x 1.31/sqrt(p) \
         (random loss); RFC 9438 section 5 CUBIC average window max(curve, Reno-friendly)"
    );
    println!(
        "| RTT | loss | Mathis 1.22 | Mathis 1.31 (random) | RFC 9438 CUBIC | 2x smoltcp CUBIC (size / duration) |"
    );
    println!("|---|---|---|---|---|---|");
    for (i, &rtt) in rtts.iter().enumerate() {
        for (j, &loss) in losses.iter().enumerate() {
            if loss == 0.0 {
                continue;
            }
            let (m, mr, cu) = bounds(base_rtt(rtt), loss);
            let two = |r: &Results| {
                smol_cubic.map_or("-".into(), |k| format!("{:.2}", 2.0 * r[i][j][k].mbps()))
            };
            println!(
                "| {rtt} ms | {} % | {m:.2} | {mr:.2} | {cu:.2} | {} / {} |",
                loss * 100.0,
                two(&sized),
                timed.as_ref().map_or("-".into(), two),
            );
        }
    }
    // The goals, for the best tcp-proto variant there is.
    let best = stacks
        .iter()
        .rposition(|s| matches!(s, Stack::TcpProto(..)));
    if let (Some(b), Some(k)) = (best, smol_cubic) {
        println!("\ngoals for {}:", stacks[b].name());
        let col = |loss: f64| losses.iter().position(|&l| l == loss);
        for (what, results) in &sets {
            for (i, &rtt) in rtts.iter().enumerate() {
                if let Some(j) = col(0.0) {
                    let o = &results[i][j][b];
                    println!(
                        "  {what}: {rtt} ms, no loss: {:.1} Mbit/s = {:.1} % of the bottleneck \
                         (goal >= 90 %; the most with timestamps is {:.1})",
                        o.mbps(),
                        o.mbps(),
                        MAX_GOODPUT_MBPS
                    );
                }
                if let Some(j) = col(0.01) {
                    let o1 = &results[i][j][b];
                    let s1 = &results[i][j][k];
                    println!(
                        "  {what}: {rtt} ms, 1 % loss: {:.2} Mbit/s = {:.2}x smoltcp CUBIC ({:.2}) (goal >= 2x)",
                        o1.mbps(),
                        o1.mbps() / s1.mbps().max(1e-9),
                        s1.mbps()
                    );
                }
            }
        }
    }
    println!(
        "\n(grid took {:.1} s of wall-clock time)\n",
        wall.elapsed().as_secs_f64()
    );
}

// ---- criterion: the CPU cost of one representative cell ----------------------

fn goodput(c: &mut Criterion) {
    let pat = pattern();
    let total = 8 << 20;
    let path = Path {
        rtt: Duration::from_millis(20),
        loss: 0.001,
        seed: 1,
    };
    let mut g = c.benchmark_group("goodput 8 MiB, 20 ms, 0.1 % loss");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Bytes(total as u64));
    for s in stacks() {
        g.bench_function(s.name(), |bch| {
            bch.iter(|| s.run(path, Limit::Size(total), &pat))
        });
    }
    g.finish();
}

criterion_group!(benches, goodput);

fn main() {
    if std::env::var("TCPP_GOODPUT_GRID").as_deref() != Ok("0") {
        grid(&pattern());
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
