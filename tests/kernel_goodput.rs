//! Goodput against Linux over an impaired path: our own relay between two
//! TUN devices, each in its own network namespace.
//!
//! ```text
//!   namespace A                relay (this process)                 namespace B
//!   Linux 198.51.100.1  <-tun-> [loss | 100 Mbit/s + drop-tail 1 BDP | RTT/2] <-tun-> Linux 192.0.2.1
//!        or tcp-proto as 198.51.100.1 inside the relay (same pipes)
//! ```
//!
//! Each direction of the relay is a `tcp_proto::sim::Pipe` driven by the
//! real clock: random loss, then the bottleneck queue (100 Mbit/s, drop-tail
//! of one bandwidth-delay product), then RTT/2 of propagation delay. The
//! same relay carries three kinds of transfer, one way, from the A side to
//! the B side or back:
//!
//! - Linux→Linux: a Linux socket in A sends to a Linux socket in B;
//! - tcp-proto→Linux: tcp-proto (`Config::linux()`, 4 MiB buffers) in the
//!   relay thread sends to Linux in B;
//! - Linux→tcp-proto: Linux in B sends to tcp-proto in the relay thread.
//!
//! Linux's congestion control is set per socket (`TCP_CONGESTION` "cubic")
//! on both ends, so the baseline does not depend on the host. Every
//! transfer is a seeded pseudo-random stream checked by SHA-256 at the
//! receiver. Goodput: octets × 8 over the receiver's time from the
//! connection being established to the end of the stream.
//!
//! By default (and in CI) a reduced grid runs: 2 MiB per transfer, RTT 2 ms
//! clean and 20 ms with 0.1 % loss, one seed; it asserts integrity and a
//! floor on goodput. `TCPP_GOODPUT_FULL=1` runs the issue's grid: RTT {2,
//! 20, 80 ms} × loss {0, 0.1 %, 3 %}, 40 MiB, median of 3 seeds (an hour or
//! more; use `--release`). `TCPP_GOODPUT_MIB` and `TCPP_GOODPUT_SEEDS`
//! override the size and seed count of either grid. Run with
//! `--nocapture` to see the table. Within a cell the three directions take
//! turns seed by seed (load changes on a shared machine weigh on all).
//!
//! For diagnosis: `TCPP_GOODPUT_CELLS=2:3,80:0` keeps only those cells (RTT
//! ms : loss %), `TCPP_GOODPUT_KINDS=LL,LP` only those directions (LL
//! Linux→Linux, PL tcp-proto→Linux, LP Linux→tcp-proto),
//! `TCPP_GOODPUT_VERBOSE=1` prints every seed's figure and tcp-proto's
//! counters, `TCPP_GOODPUT_PCAP=DIR` writes two traces per transfer (as
//! sent into the relay, as delivered by it). Separate processes can run
//! cells at once (each makes its own namespaces), which is how the slow
//! lossy 80 ms cell fits in a session: one process per direction.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as StdInstant};

use bytes::Bytes;
use common::netns::KernelNet;
use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::time::TimeSpec;
use sha2::{Digest, Sha256};
use tcp_proto::sim::{Bottleneck, Link, Pipe};
use tcp_proto::{ChecksumMode, Config, Connection, Instant, IpPair, Segment, SeqNum, State};

const RATE_BPS: u64 = 100_000_000;
const A_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const B_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PORT: u16 = 5001;
const TUN_A: &str = "tcppa";
const TUN_B: &str = "tcppb";
static PORTS: AtomicU32 = AtomicU32::new(0);

// ---- the two namespaces ------------------------------------------------------

/// A namespace with one TUN whose far end is the relay.
struct Side {
    tun: tun_rs::SyncDevice,
    // Dropped after the TUN (field order), so the device goes first.
    net: KernelNet,
}

impl Side {
    /// `name` gets `addr/24` and a route to `other` through it.
    fn new(net: KernelNet, name: &str, addr: Ipv4Addr, other: &str) -> Side {
        let tun = net
            .run_in(|| tun_rs::DeviceBuilder::new().name(name).build_sync())
            .unwrap_or_else(|e| panic!("create TUN {name}: {e}"));
        let cidr = format!("{addr}/24");
        for args in [
            vec!["addr", "add", cidr.as_str(), "dev", name],
            vec!["link", "set", name, "txqueuelen", "8192"],
            vec!["link", "set", name, "up"],
            vec!["route", "add", other, "dev", name],
        ] {
            net.ip(&args)
                .unwrap_or_else(|e| panic!("configure {name}: {e}"));
        }
        tun.set_nonblocking(true).expect("non-blocking TUN");
        Side { tun, net }
    }

    /// One packet the kernel sent, if any is waiting.
    fn recv(&self, buf: &mut [u8]) -> Option<usize> {
        match self.tun.recv(buf) {
            Ok(n) => Some(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(e) => panic!("read TUN: {e}"),
        }
    }

    fn send(&self, pkt: &[u8]) {
        // A full TUN queue drops, as a NIC would: the transfer sees a loss.
        let _ = self.tun.send(pkt);
    }
}

// ---- Linux endpoints -----------------------------------------------------------

fn set_cubic(s: &TcpStream) {
    nix::sys::socket::setsockopt(
        s,
        nix::sys::socket::sockopt::TcpCongestion,
        &std::ffi::OsString::from("cubic"),
    )
    .expect("TCP_CONGESTION cubic");
    let got = nix::sys::socket::getsockopt(s, nix::sys::socket::sockopt::TcpCongestion)
        .expect("read TCP_CONGESTION");
    assert_eq!(got.to_string_lossy().trim_end_matches('\0'), "cubic");
}

/// What a receiver saw.
#[derive(Debug)]
struct Received {
    octets: u64,
    digest: [u8; 32],
    /// From the connection being established to the end of the stream.
    elapsed: Duration,
}

/// A Linux receiver in `net`: accepts one connection on `listener`, reads to EOF.
fn linux_receiver(net: &KernelNet, listener: TcpListener, limit: Duration) -> JoinHandle<Received> {
    net.spawn_in(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let start = StdInstant::now();
        set_cubic(&s);
        s.set_read_timeout(Some(limit)).expect("read timeout");
        let mut h = Sha256::new();
        let mut octets = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    h.update(&buf[..n]);
                    octets += n as u64;
                }
                Err(e) => panic!("Linux receiver: {e} after {octets} octets"),
            }
        }
        Received {
            octets,
            digest: h.finalize().into(),
            elapsed: start.elapsed(),
        }
    })
}

/// A Linux sender in `net`: connects to `to`, writes `data`, closes.
fn linux_sender(net: &KernelNet, to: SocketAddr, data: Bytes, limit: Duration) -> JoinHandle<()> {
    net.spawn_in(move || {
        // A fresh namespace has no route yet for a moment: retry briefly.
        let mut s = None;
        for _ in 0..50 {
            match TcpStream::connect_timeout(&to, limit) {
                Ok(c) => {
                    s = Some(c);
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let mut s = s.expect("Linux sender: connect");
        set_cubic(&s);
        s.set_write_timeout(Some(limit)).expect("write timeout");
        s.write_all(&data).expect("Linux sender: write");
        s.shutdown(std::net::Shutdown::Write).expect("shutdown");
        // Wait for the peer's FIN so the close is not a reset.
        s.set_read_timeout(Some(limit)).expect("read timeout");
        let mut b = [0u8; 64];
        let _ = s.read(&mut b);
    })
}

// ---- tcp-proto endpoint (inside the relay thread) --------------------------------

fn ipv4_pair(src: Ipv4Addr, dst: Ipv4Addr) -> IpPair {
    IpPair::V4 {
        src: src.octets(),
        dst: dst.octets(),
    }
}

/// The TCP segment of an IPv4 packet from `B_ADDR` to `A_ADDR`, checksum verified.
fn decode_from_b(pkt: &[u8]) -> Option<Segment> {
    if pkt.len() < 20 || pkt[0] >> 4 != 4 || pkt[9] != 6 {
        return None;
    }
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    if pkt[12..16] != B_ADDR.octets() || pkt[16..20] != A_ADDR.octets() || total > pkt.len() {
        return None;
    }
    let tcp = Bytes::copy_from_slice(&pkt[ihl..total]);
    Segment::decode(&tcp, &ipv4_pair(B_ADDR, A_ADDR), ChecksumMode::Verify).ok()
}

enum Role {
    /// Sends `data`, then closes.
    Sender { data: Bytes, sent: usize },
    /// Reads to EOF, hashing.
    Receiver { hash: Sha256, octets: u64 },
}

struct ProtoEnd {
    conn: Option<Connection>,
    cfg: Config,
    role: Role,
    start: Option<StdInstant>,
    done: Option<Received>,
    port: u16,
    buf: Vec<u8>,
}

impl ProtoEnd {
    fn config() -> Config {
        let mut c = Config::linux();
        c.send_buffer = 4 << 20;
        c.recv_buffer = 4 << 20;
        c
    }

    /// Timers, the application, and output: whatever is due at `now`.
    fn drive(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        let Some(c) = self.conn.as_mut() else {
            return;
        };
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
        }
        if self.start.is_none() && c.state() == State::Established {
            self.start = Some(StdInstant::now());
        }
        match &mut self.role {
            Role::Sender { data, sent } => {
                while *sent < data.len() {
                    match c.send_bytes(data.slice(*sent..)) {
                        Ok(n) if n > 0 => *sent += n,
                        _ => break,
                    }
                }
                if *sent == data.len() && c.state() == State::Established {
                    let _ = c.close(now);
                }
                if c.state() == State::Closed || c.state() == State::TimeWait {
                    self.done.get_or_insert(Received {
                        octets: *sent as u64,
                        digest: [0; 32],
                        elapsed: Duration::ZERO,
                    });
                }
            }
            Role::Receiver { hash, octets } => {
                loop {
                    match c.recv(&mut self.buf) {
                        Ok(n) if n > 0 => {
                            hash.update(&self.buf[..n]);
                            *octets += n as u64;
                        }
                        _ => break,
                    }
                }
                if c.peer_finished() && c.recv_available() == 0 && self.done.is_none() {
                    let _ = c.close(now);
                    self.done = Some(Received {
                        octets: *octets,
                        digest: hash.clone().finalize().into(),
                        elapsed: self.start.map_or(Duration::ZERO, |s| s.elapsed()),
                    });
                }
            }
        }
        while c.poll_event().is_some() {}
        let pair = ipv4_pair(A_ADDR, B_ADDR);
        while let Some(seg) = c.poll_transmit(now) {
            let mut pkt = Vec::with_capacity(20 + seg.encoded_len().unwrap_or(0));
            tcp_proto::pcap::segment_ip_packet(&mut pkt, &pair, &seg).expect("encode");
            out.push(pkt);
        }
    }

    fn handle(&mut self, now: Instant, pkt: &[u8]) {
        let Some(seg) = decode_from_b(pkt) else {
            return;
        };
        if seg.dst_port != self.port {
            return;
        }
        match self.conn.as_mut() {
            Some(c) => c.handle_segment(now, seg),
            None if seg.flags.syn() && !seg.flags.ack() => {
                self.conn = Connection::accept(self.cfg, &seg, SeqNum(0x1234_5678), now).ok();
            }
            None => {}
        }
    }
}

// ---- the relay ---------------------------------------------------------------------

/// The A end of the relay: Linux in namespace A, or tcp-proto in this thread.
enum EndA<'a> {
    Linux(&'a Side),
    Proto(Box<ProtoEnd>),
}

#[derive(Clone, Copy, Debug)]
struct Cell {
    rtt_ms: u64,
    loss: f64,
}

/// With `TCPP_GOODPUT_PCAP=DIR`, every relay run writes two traces there:
/// `*-sent.pcap` (packets as each end handed them to the relay) and
/// `*-delivered.pcap` (packets as the relay passed them on, after loss,
/// queue and delay), for tshark.
struct Tracer {
    name: String,
    sent: Vec<u8>,
    delivered: Vec<u8>,
}

impl Tracer {
    fn new(name: String) -> Option<Tracer> {
        std::env::var_os("TCPP_GOODPUT_PCAP")?;
        let mut t = Tracer {
            name,
            sent: Vec::new(),
            delivered: Vec::new(),
        };
        tcp_proto::pcap::global_header(&mut t.sent);
        tcp_proto::pcap::global_header(&mut t.delivered);
        Some(t)
    }

    fn write(&self) {
        let dir = std::path::PathBuf::from(std::env::var_os("TCPP_GOODPUT_PCAP").expect("set"));
        std::fs::create_dir_all(&dir).expect("pcap dir");
        for (what, b) in [("sent", &self.sent), ("delivered", &self.delivered)] {
            std::fs::write(dir.join(format!("{}-{what}.pcap", self.name)), b).expect("write pcap");
        }
    }
}

/// What a relay run did.
struct Relayed {
    finished: bool,
    up: tcp_proto::sim::PipeStats,
    down: tcp_proto::sim::PipeStats,
    /// The relay's worst lateness waking up for a due packet, and how many
    /// wake-ups were more than 1 ms late (the machine's scheduling noise).
    late_max: Duration,
    late_count: u64,
}

/// Puts the calling thread (the relay, and the tcp-proto end inside it) in
/// the real-time class with `chrt`, so that on a loaded machine it wakes
/// when a packet is due rather than whenever the scheduler gets to it.
/// The loop sleeps in `ppoll` between packets, so it cannot starve others.
/// Without `chrt` it runs at normal priority (and says so).
fn realtime_relay_thread() {
    let tid = nix::unistd::gettid().to_string();
    let ok = std::process::Command::new("chrt")
        .args(["-f", "-p", "10", &tid])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("note: chrt failed; the relay runs at normal priority (figures are noisier)");
    }
}

/// Runs the relay until `done` says so or `limit` passes. Returns the
/// tcp-proto end's result, if it had one, and the pipes' counters.
fn relay(
    cell: Cell,
    seed: u64,
    a: &mut EndA<'_>,
    b: &Side,
    limit: Duration,
    done: &dyn Fn(&EndA<'_>) -> bool,
    mut trace: Option<&mut Tracer>,
) -> Relayed {
    let rtt = Duration::from_millis(cell.rtt_ms);
    let link = Link {
        delay: rtt / 2,
        loss: cell.loss,
        ..Link::default()
    };
    let bottleneck = Some(Bottleneck::with_bdp_queue(RATE_BPS, rtt));
    let mut up: Pipe<Vec<u8>> = Pipe::new(link, bottleneck, seed * 2);
    let mut down: Pipe<Vec<u8>> = Pipe::new(link, bottleneck, seed * 2 + 1);
    let epoch = StdInstant::now();
    let clock = || Instant::from_micros(epoch.elapsed().as_micros() as u64);
    let mut buf = vec![0u8; 65_536];
    let mut out = Vec::new();
    let mut finished = false;
    let (mut late_max, mut late_count) = (Duration::ZERO, 0u64);
    while epoch.elapsed() < limit {
        let now = clock();
        // Ingress from both ends.
        match a {
            EndA::Linux(side) => {
                for _ in 0..512 {
                    let Some(n) = side.recv(&mut buf) else { break };
                    if let Some(t) = trace.as_deref_mut() {
                        tcp_proto::pcap::record(&mut t.sent, now, &buf[..n]);
                    }
                    up.send(now, n, buf[..n].to_vec());
                }
            }
            EndA::Proto(p) => {
                p.drive(now, &mut out);
                for pkt in out.drain(..) {
                    if let Some(t) = trace.as_deref_mut() {
                        tcp_proto::pcap::record(&mut t.sent, now, &pkt);
                    }
                    up.send(now, pkt.len(), pkt);
                }
            }
        }
        for _ in 0..512 {
            let Some(n) = b.recv(&mut buf) else { break };
            if let Some(t) = trace.as_deref_mut() {
                tcp_proto::pcap::record(&mut t.sent, now, &buf[..n]);
            }
            down.send(now, n, buf[..n].to_vec());
        }
        // Egress of what is due.
        let now = clock();
        while let Some(pkt) = up.pop_due(now) {
            if let Some(t) = trace.as_deref_mut() {
                tcp_proto::pcap::record(&mut t.delivered, now, &pkt);
            }
            b.send(&pkt);
        }
        while let Some(pkt) = down.pop_due(now) {
            if let Some(t) = trace.as_deref_mut() {
                tcp_proto::pcap::record(&mut t.delivered, now, &pkt);
            }
            match a {
                EndA::Linux(side) => side.send(&pkt),
                EndA::Proto(p) => p.handle(now, &pkt),
            }
        }
        if let EndA::Proto(p) = a {
            p.drive(now, &mut out);
            for pkt in out.drain(..) {
                if let Some(t) = trace.as_deref_mut() {
                    tcp_proto::pcap::record(&mut t.sent, now, &pkt);
                }
                up.send(now, pkt.len(), pkt);
            }
        }
        if done(a) {
            finished = true;
            break;
        }
        // Sleep until a packet arrives at a TUN or something is due (at most 5 ms).
        let mut next = now + Duration::from_millis(5);
        for t in [up.next_arrival(), down.next_arrival()]
            .into_iter()
            .flatten()
        {
            next = next.min(t);
        }
        if let EndA::Proto(p) = a
            && let Some(t) = p.conn.as_ref().and_then(|c| c.poll_timeout())
        {
            next = next.min(t);
        }
        let wait = next.saturating_duration_since(clock());
        if !wait.is_zero() {
            let mut fds = vec![PollFd::new(b.tun.as_fd(), PollFlags::POLLIN)];
            if let EndA::Linux(side) = a {
                fds.push(PollFd::new(side.tun.as_fd(), PollFlags::POLLIN));
            }
            let ready = ppoll(&mut fds, Some(TimeSpec::from_duration(wait)), None);
            if ready == Ok(0) {
                // Woken by the timer: how late, on this shared machine?
                let late = clock().saturating_duration_since(next);
                late_max = late_max.max(late);
                late_count += u64::from(late > Duration::from_millis(1));
            }
        }
    }
    Relayed {
        finished,
        up: up.stats(),
        down: down.stats(),
        late_max,
        late_count,
    }
}

// ---- the grid ----------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    LinuxToLinux,
    ProtoToLinux,
    LinuxToProto,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::LinuxToLinux, Kind::ProtoToLinux, Kind::LinuxToProto];
    /// For file names and `TCPP_GOODPUT_KINDS`.
    fn tag(self) -> &'static str {
        match self {
            Kind::LinuxToLinux => "LL",
            Kind::ProtoToLinux => "PL",
            Kind::LinuxToProto => "LP",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::LinuxToLinux => "Linux→Linux",
            Kind::ProtoToLinux => "tcp-proto→Linux",
            Kind::LinuxToProto => "Linux→tcp-proto",
        }
    }
}

/// One transfer's result.
#[derive(Clone, Copy, Debug)]
struct Run {
    mbps: f64,
    random_losses: u64,
    queue_drops: u64,
    late_max: Duration,
    late_count: u64,
}

fn stream(len: usize, seed: u64) -> Bytes {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        v.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    v.truncate(len);
    Bytes::from(v)
}

struct Net {
    a: Side,
    b: Side,
}

fn transfer(net: &Net, kind: Kind, cell: Cell, seed: u64, data: &Bytes, limit: Duration) -> Run {
    let want: [u8; 32] = Sha256::digest(data).into();
    let mut trace = Tracer::new(format!(
        "{}-{}ms-{}-seed{seed}",
        kind.tag(),
        cell.rtt_ms,
        cell.loss * 100.0
    ));
    let b_listen = SocketAddr::from((B_ADDR, PORT));
    let (r, got) = match kind {
        Kind::LinuxToLinux | Kind::ProtoToLinux => {
            let listener = net
                .b
                .net
                .run_in(move || TcpListener::bind(b_listen))
                .expect("bind in B");
            let rx = linux_receiver(&net.b.net, listener, limit);
            let r = if kind == Kind::LinuxToLinux {
                let tx = linux_sender(&net.a.net, b_listen, data.clone(), limit);
                let mut a = EndA::Linux(&net.a);
                let r = relay(
                    cell,
                    seed,
                    &mut a,
                    &net.b,
                    limit,
                    &|_| rx.is_finished(),
                    trace.as_mut(),
                );
                // Let the sender see its FIN acknowledged.
                let _ = relay(
                    cell,
                    seed,
                    &mut a,
                    &net.b,
                    Duration::from_millis(300),
                    &|_| tx.is_finished(),
                    None,
                );
                r
            } else {
                // A fresh port each time: Linux may still hold the last one.
                let port = 40_000 + (PORTS.fetch_add(1, Ordering::Relaxed) % 20_000) as u16;
                let cfg = ProtoEnd::config();
                let conn = Connection::connect(cfg, port, PORT, SeqNum(seed as u32), Instant::ZERO)
                    .expect("config");
                let mut a = EndA::Proto(Box::new(ProtoEnd {
                    conn: Some(conn),
                    cfg,
                    role: Role::Sender {
                        data: data.clone(),
                        sent: 0,
                    },
                    start: None,
                    done: None,
                    port,
                    buf: Vec::new(),
                }));
                let r = relay(
                    cell,
                    seed,
                    &mut a,
                    &net.b,
                    limit,
                    &|_| rx.is_finished(),
                    trace.as_mut(),
                );
                verbose(kind, cell, &a);
                r
            };
            assert!(
                r.finished,
                "{} {cell:?}: not finished within {limit:?}",
                kind.name()
            );
            (r, rx.join().expect("Linux receiver"))
        }
        Kind::LinuxToProto => {
            let a_addr = SocketAddr::from((A_ADDR, PORT));
            let tx = linux_sender(&net.b.net, a_addr, data.clone(), limit);
            let mut a = EndA::Proto(Box::new(ProtoEnd {
                conn: None,
                cfg: ProtoEnd::config(),
                role: Role::Receiver {
                    hash: Sha256::new(),
                    octets: 0,
                },
                start: None,
                done: None,
                port: PORT,
                buf: vec![0u8; 1 << 16],
            }));
            let r = relay(
                cell,
                seed,
                &mut a,
                &net.b,
                limit,
                &|a| match a {
                    EndA::Proto(p) => p.done.is_some(),
                    EndA::Linux(_) => unreachable!(),
                },
                trace.as_mut(),
            );
            assert!(
                r.finished,
                "{} {cell:?}: not finished within {limit:?}",
                kind.name()
            );
            // Our FIN and the last ACKs, so the Linux sender ends cleanly.
            let _ = relay(
                cell,
                seed,
                &mut a,
                &net.b,
                Duration::from_secs(2),
                &|_| tx.is_finished(),
                None,
            );
            verbose(kind, cell, &a);
            let EndA::Proto(p) = a else { unreachable!() };
            (r, p.done.expect("finished"))
        }
    };
    if let Some(t) = &trace {
        t.write();
    }
    assert_eq!(
        got.octets,
        data.len() as u64,
        "{} {cell:?}: length",
        kind.name()
    );
    assert!(
        got.digest == want,
        "{} {cell:?}: SHA-256 of the received stream differs",
        kind.name()
    );
    Run {
        mbps: got.octets as f64 * 8.0 / got.elapsed.as_secs_f64().max(1e-6) / 1e6,
        random_losses: r.up.lost + r.down.lost,
        queue_drops: r.up.queue_drops + r.down.queue_drops,
        late_max: r.late_max,
        late_count: r.late_count,
    }
}

/// With `TCPP_GOODPUT_VERBOSE=1`, tcp-proto's counters after a transfer.
fn verbose(kind: Kind, cell: Cell, a: &EndA<'_>) {
    if std::env::var("TCPP_GOODPUT_VERBOSE").as_deref() != Ok("1") {
        return;
    }
    if let EndA::Proto(p) = a
        && let Some(c) = p.conn.as_ref()
    {
        let s = c.stats();
        eprintln!(
            "{} {cell:?}: retransmits {} (fast {}, RTOs {}), dup ACKs {}, SRTT {:?}, cwnd {}, ssthresh {}, peer window {}, out-of-order in {}",
            kind.name(),
            s.retransmits,
            s.fast_retransmits,
            s.rto_expirations,
            s.dup_acks,
            s.srtt,
            s.cwnd,
            s.ssthresh,
            s.snd_wnd,
            s.out_of_order
        );
    }
}

/// Mbit/s with three significant digits, so that ratios of the slow lossy
/// cells (below 1 Mbit/s) can be read from the table.
fn mbit(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.1}")
    }
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn goodput_against_linux_over_an_impaired_relay() {
    let test = "goodput_against_linux_over_an_impaired_relay";
    let Some(na) = KernelNet::bare_or_skip(test) else {
        return;
    };
    let Some(nb) = KernelNet::bare_or_skip(test) else {
        return;
    };
    realtime_relay_thread();
    let net = Net {
        a: Side::new(na, TUN_A, A_ADDR, "192.0.2.0/24"),
        b: Side::new(nb, TUN_B, B_ADDR, "198.51.100.0/24"),
    };
    let full = std::env::var("TCPP_GOODPUT_FULL").as_deref() == Ok("1");
    let (cells, mib, seeds): (Vec<Cell>, usize, usize) = if full {
        let mut v = Vec::new();
        for rtt_ms in [2, 20, 80] {
            for loss in [0.0, 0.001, 0.03] {
                v.push(Cell { rtt_ms, loss });
            }
        }
        (v, 40, 3)
    } else {
        (
            vec![
                Cell {
                    rtt_ms: 2,
                    loss: 0.0,
                },
                Cell {
                    rtt_ms: 20,
                    loss: 0.001,
                },
            ],
            2,
            1,
        )
    };
    let mib = env_usize("TCPP_GOODPUT_MIB").unwrap_or(mib);
    let seeds = env_usize("TCPP_GOODPUT_SEEDS").unwrap_or(seeds).max(1);
    let limit = Duration::from_secs(if full { 900 } else { 60 });
    // `TCPP_GOODPUT_CELLS=2:3,80:0` keeps only those cells (RTT ms : loss %).
    let cells: Vec<Cell> = match std::env::var("TCPP_GOODPUT_CELLS") {
        Ok(list) => list
            .split(',')
            .map(|c| {
                let (r, l) = c
                    .split_once(':')
                    .expect("TCPP_GOODPUT_CELLS: RTT_MS:LOSS_PCT,...");
                Cell {
                    rtt_ms: r.trim().parse().expect("RTT ms"),
                    loss: l.trim().parse::<f64>().expect("loss %") / 100.0,
                }
            })
            .collect(),
        Err(_) => cells,
    };
    // `TCPP_GOODPUT_KINDS=LL,LP` keeps only those directions (the rest print as 0).
    let kinds = std::env::var("TCPP_GOODPUT_KINDS").unwrap_or_else(|_| "LL,PL,LP".into());

    println!(
        "\nGoodput over the relay ({mib} MiB one way, 100 Mbit/s bottleneck each way, drop-tail 1 BDP, \
         random loss both ways, Linux CUBIC per socket, median of {seeds} seed(s), Mbit/s; every run SHA-256-checked)\n"
    );
    println!(
        "| RTT | loss | Linux→Linux | tcp-proto→Linux | Linux→tcp-proto | drops (random/queue) | relay wake-ups >1 ms late / worst ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut table = Vec::new();
    let chosen: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|kind| kinds.split(',').any(|k| k.trim() == kind.tag()))
        .collect();
    for cell in &cells {
        // The three directions take turns seed by seed, so that a change in
        // the shared machine's load during a cell weighs on all of them
        // rather than on whichever ran last; the ratios are of medians.
        let mut runs: Vec<Vec<Run>> = vec![Vec::new(); Kind::ALL.len()];
        for s in 0..seeds as u64 {
            let data = stream(mib << 20, s + 1);
            for &kind in &chosen {
                runs[kind as usize].push(transfer(&net, kind, *cell, s + 1, &data, limit));
            }
        }
        let mut medians = Vec::new();
        let mut drops = Vec::new();
        let mut late = Vec::new();
        for (kind, runs) in Kind::ALL.into_iter().zip(runs.iter_mut()) {
            if runs.is_empty() {
                medians.push(f64::NAN);
                drops.push("-".into());
                late.push("-".into());
                continue;
            }
            if std::env::var("TCPP_GOODPUT_VERBOSE").as_deref() == Ok("1") {
                let each: Vec<String> = runs.iter().map(|r| mbit(r.mbps)).collect();
                eprintln!("{} {cell:?}: per seed {}", kind.name(), each.join(" "));
            }
            runs.sort_by(|x, y| x.mbps.total_cmp(&y.mbps));
            let m = runs[runs.len() / 2];
            medians.push(m.mbps);
            drops.push(format!("{}/{}", m.random_losses, m.queue_drops));
            late.push(format!("{}/{}", m.late_count, m.late_max.as_millis()));
        }
        let l = medians[0];
        println!(
            "| {} ms | {} % | {} | {} ({:.2}) | {} ({:.2}) | {} | {} |",
            cell.rtt_ms,
            cell.loss * 100.0,
            mbit(l),
            mbit(medians[1]),
            medians[1] / l,
            mbit(medians[2]),
            medians[2] / l,
            drops.join(", "),
            late.join(", ")
        );
        table.push((*cell, medians));
    }
    println!();
    // The sanity floor (the issue's goal is 0.9× Linux→Linux in every cell;
    // this floor is far below it, so that a broken relay or a stalled stack
    // fails while the shared CI machine's noise does not).
    for (cell, m) in &table {
        for (kind, mbps) in Kind::ALL.iter().zip(m) {
            if mbps.is_nan() {
                continue;
            }
            let floor = if cell.loss == 0.0 && cell.rtt_ms <= 2 {
                4.0
            } else {
                0.5
            };
            assert!(
                *mbps >= floor,
                "{} at {cell:?}: {mbps:.2} Mbit/s is below the floor of {floor} Mbit/s",
                kind.name()
            );
            assert!(
                *mbps <= 100.0,
                "{} at {cell:?}: {mbps:.2} Mbit/s is faster than the bottleneck",
                kind.name()
            );
        }
    }
}
