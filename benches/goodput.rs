//! Goodput over a lossy bottleneck, in virtual time: tcp-proto against
//! smoltcp in the same harness and the same run.
//!
//! The path: a 100 Mbit/s bottleneck in each direction with a drop-tail
//! queue of one bandwidth-delay product, RTT/2 of propagation delay each
//! way, and random loss each way (`tcp_proto::sim::Pipe`, the simulator's
//! link model: random loss, then the queue, then the delay). Every cell
//! moves [`TRANSFER`] octets one way from a client to a server whose
//! application reads at once; goodput is the octets read × 8 over the
//! virtual time from the end of the handshake to the last octet read.
//! Packet sizes charged to the bottleneck are IP packets (20-octet IPv4
//! header + TCP), so the most any TCP with timestamps can reach is
//! 100 × 1448/1500 = 96.5 Mbit/s.
//!
//! Grid: RTT {2, 20, 80 ms} × loss {0, 0.1 %, 1 %, 3 %} both ways, for
//! tcp-proto (`Config::linux()`, 4 MiB buffers) with each congestion and
//! loss-recovery variant its `Config` offers, and smoltcp 0.14 with Reno
//! and with CUBIC (4 MiB socket buffers, its defaults otherwise).
//!
//! `cargo bench --bench goodput` prints the grid (Mbit/s, ratio to the
//! bottleneck, ratio to smoltcp CUBIC), then criterion times one
//! representative cell for each stack (CPU time of a whole simulated
//! transfer). Knobs: `TCPP_GOODPUT_MIB` (transfer size, default 64),
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
    /// Virtual time from the end of the handshake to the last octet read
    /// (or to the cap).
    elapsed: Duration,
    /// Whether the transfer finished before [`VIRTUAL_CAP`].
    finished: bool,
    /// Packets lost at random / dropped by the queues (both directions).
    random_losses: u64,
    queue_drops: u64,
    /// Sender retransmissions and RTOs (tcp-proto only; smoltcp does not count them).
    retransmits: Option<u64>,
    rtos: Option<u64>,
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

fn tcp_proto_transfer(cfg: Config, path: Path, total: usize, pat: &[u8]) -> Outcome {
    let mut up: Pipe<Segment> = path.pipe(0);
    let mut down: Pipe<Segment> = path.pipe(1);
    let mut now = Instant::from_secs(1);
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
        if start.is_some_and(|s| now - s > VIRTUAL_CAP) {
            break;
        }
    }
    let start = start.expect("handshake finished");
    let st = a.stats();
    Outcome {
        delivered: received,
        elapsed: if received >= total { last } else { now } - start,
        finished: received >= total,
        random_losses: up.stats().lost + down.stats().lost,
        queue_drops: up.stats().queue_drops + down.stats().queue_drops,
        retransmits: Some(st.retransmits),
        rtos: Some(st.rto_expirations),
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

fn smoltcp_transfer(cc: tcp::CongestionControl, path: Path, total: usize, pat: &[u8]) -> Outcome {
    let pool: Pool = Rc::new(RefCell::new(Vec::new()));
    let mut up: Pipe<Vec<u8>> = path.pipe(0);
    let mut down: Pipe<Vec<u8>> = path.pipe(1);
    let mut a = Host::new(CLIENT_IP, &pool, 1, cc);
    let mut b = Host::new(SERVER_IP, &pool, 2, cc);
    let mut now = Instant::from_secs(1);
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
        if start.is_some_and(|s| now - s > VIRTUAL_CAP) {
            break;
        }
    }
    let start = start.expect("handshake finished");
    Outcome {
        delivered: received,
        elapsed: if received >= total { last } else { now } - start,
        finished: received >= total,
        random_losses: up.stats().lost + down.stats().lost,
        queue_drops: up.stats().queue_drops + down.stats().queue_drops,
        retransmits: None,
        rtos: None,
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

    fn run(&self, path: Path, total: usize, pat: &[u8]) -> Outcome {
        match *self {
            Stack::TcpProto(_, cfg) => tcp_proto_transfer(cfg, path, total, pat),
            Stack::Smoltcp(_, cc) => smoltcp_transfer(cc, path, total, pat),
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

fn grid(pat: &[u8]) {
    let total = transfer_len();
    let rtts = filtered("TCPP_GOODPUT_RTTS", &RTTS_MS, |r| r as f64);
    let losses = filtered("TCPP_GOODPUT_LOSSES", &LOSSES, |l| l * 100.0);
    let seeds = env_usize("TCPP_GOODPUT_SEEDS", 3).max(1);
    let stacks = stacks();
    println!(
        "goodput grid: {} MiB one way, 100 Mbit/s bottleneck each way, drop-tail 1 BDP, \
         random loss both ways, virtual time (median of {seeds} seed(s); * = unfinished after {} s)",
        total >> 20,
        VIRTUAL_CAP.as_secs()
    );
    let wall = std::time::Instant::now();
    // results[rtt][loss][stack]
    let mut results = Vec::new();
    for &rtt in &rtts {
        let mut row = Vec::new();
        for &loss in &losses {
            let mut cells = Vec::new();
            for s in &stacks {
                let runs = (0..seeds as u64)
                    .map(|seed| {
                        let path = Path {
                            rtt: Duration::from_millis(rtt),
                            loss,
                            seed: 1 + seed,
                        };
                        s.run(path, total, pat)
                    })
                    .collect();
                cells.push(median(runs));
            }
            row.push(cells);
        }
        results.push(row);
    }
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
    let table = |title: &str, f: &dyn Fn(&[Outcome], &Outcome) -> String| {
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
    table("Goodput, Mbit/s", &|_, o| {
        format!("{:.1}{}", o.mbps(), mark(o))
    });
    table("Ratio to the bottleneck (100 Mbit/s)", &|_, o| {
        format!("{:.2}", o.mbps() / 100.0)
    });
    if let Some(k) = smol_cubic {
        table("Ratio to smoltcp CUBIC (same cell)", &|cells, o| {
            format!("{:.2}", o.mbps() / cells[k].mbps().max(1e-9))
        });
    }
    table(
        "Random losses / queue drops (both ways) / sender retransmits / RTOs",
        &|_, o| {
            let opt = |x: Option<u64>| x.map_or("-".to_string(), |v| v.to_string());
            format!(
                "{}/{}/{}/{}",
                o.random_losses,
                o.queue_drops,
                opt(o.retransmits),
                opt(o.rtos)
            )
        },
    );
    // The goals, for the best tcp-proto variant there is.
    let best = stacks
        .iter()
        .rposition(|s| matches!(s, Stack::TcpProto(..)));
    if let (Some(b), Some(k)) = (best, smol_cubic) {
        println!("\ngoals for {}:", stacks[b].name());
        let col = |loss: f64| losses.iter().position(|&l| l == loss);
        for (i, &rtt) in rtts.iter().enumerate() {
            if let Some(j) = col(0.0) {
                let o = &results[i][j][b];
                println!(
                    "  {rtt} ms, no loss: {:.1} Mbit/s = {:.0} % of the bottleneck (goal >= 90 %; \
                     the most with timestamps is {:.1})",
                    o.mbps(),
                    o.mbps(),
                    MAX_GOODPUT_MBPS
                );
            }
            if let Some(j) = col(0.01) {
                let o1 = &results[i][j][b];
                let s1 = &results[i][j][k];
                println!(
                    "  {rtt} ms, 1 % loss: {:.2} Mbit/s = {:.2}x smoltcp CUBIC ({:.2}) (goal >= 2x)",
                    o1.mbps(),
                    o1.mbps() / s1.mbps().max(1e-9),
                    s1.mbps()
                );
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
        g.bench_function(s.name(), |bch| bch.iter(|| s.run(path, total, &pat)));
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
