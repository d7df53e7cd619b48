//! tcp-proto on a TUN device, talking to the Linux TCP stack.
//!
//! Run it inside a network namespace you created (it needs root for the TUN):
//!
//! ```sh
//! sudo ip netns add tcpp-demo
//! # tcp-proto serves on 192.0.2.2:7; the kernel is 192.0.2.1 on tcpp0.
//! sudo ip netns exec tcpp-demo target/debug/examples/tun server --dev tcpp0 --port 7 --mode echo
//! # in another shell, a kernel client in the same namespace:
//! sudo ip netns exec tcpp-demo sh -c 'echo hello | nc -N 192.0.2.2 7'
//! # tcp-proto as the client, against a kernel server:
//! # (the kernel listens on the wildcard: 192.0.2.1 exists only while tun runs)
//! sudo ip netns exec tcpp-demo sh -c 'nc -l 5001 >/dev/null' &
//! sudo ip netns exec tcpp-demo target/debug/examples/tun client --dev tcpp0 --connect 192.0.2.1:5001 --send-bytes 1000000
//! sudo ip netns del tcpp-demo
//! ```
//!
//! Flags: `server --port P --mode echo|discard|http [--body-bytes N]
//! [--connections N]`, `client --connect ADDR:PORT --send-bytes N
//! [--expect-echo]`; common: `--dev NAME`, `--ipv6`, `--loss P --reorder P
//! --dup P --seed S` (impairment applied in both directions), `--pcap FILE`,
//! `--time-wait-ms MS`, `--timeout-s S`, `--quiet`.
//!
//! Addresses: the kernel side of the device is 192.0.2.1/24 and
//! 2001:db8::1/64 (given to it here if missing); tcp-proto is 192.0.2.2 and
//! 2001:db8::2. Every state transition is printed with a timestamp. The
//! exit status is 0 only if everything asked for succeeded and every
//! connection closed gracefully. The device is not persistent: it goes
//! away, with its addresses, when the program exits.

#[path = "../tests/common/app.rs"]
#[allow(dead_code)]
mod app;
#[path = "../tests/common/impair.rs"]
#[allow(dead_code)]
mod impair;
#[path = "../tests/common/ip.rs"]
#[allow(dead_code)]
mod ip;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::process::{Command, ExitCode};
use std::time::Duration;

use app::{Fnv, fill};
use impair::{Impair, Profile};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use tcp_proto::{
    CloseReason, Config, Connection, Event, Instant, IpPair, Segment, SeqNum, State, pcap,
};

const KERNEL_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const OURS_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const KERNEL_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const OURS_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const SEED: u64 = 0x7c9_0001;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Echo,
    Discard,
    Http,
}

#[derive(Debug)]
enum Role {
    Server {
        port: u16,
        mode: Mode,
        body_bytes: u64,
        connections: u32,
    },
    Client {
        connect: SocketAddr,
        send_bytes: u64,
        expect_echo: bool,
    },
}

#[derive(Debug)]
struct Opts {
    role: Role,
    dev: String,
    ipv6: bool,
    profile: Profile,
    seed: u64,
    pcap: Option<String>,
    quiet: bool,
    time_wait: Duration,
    timeout: Duration,
}

const USAGE: &str = "usage:
  tun server --dev NAME --port P --mode echo|discard|http [--body-bytes N] [--connections N]
  tun client --dev NAME --connect ADDR:PORT --send-bytes N [--expect-echo]
common: [--ipv6] [--loss P] [--reorder P] [--dup P] [--seed S] [--pcap FILE]
        [--time-wait-ms MS] [--timeout-s S] [--quiet]";

fn parse() -> Result<Opts, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let role_name = args.first().ok_or("missing server|client")?.clone();
    let mut kv: HashMap<String, String> = HashMap::new();
    let mut flags: Vec<String> = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        let Some(name) = a.strip_prefix("--") else {
            return Err(format!("unexpected argument {a}"));
        };
        if matches!(name, "ipv6" | "quiet" | "expect-echo") {
            flags.push(name.to_owned());
            i += 1;
        } else {
            let v = args.get(i + 1).ok_or(format!("--{name} needs a value"))?;
            kv.insert(name.to_owned(), v.clone());
            i += 2;
        }
    }
    let mut take = |k: &str| kv.remove(k);
    fn num<T: std::str::FromStr>(k: &str, v: Option<String>, default: T) -> Result<T, String> {
        match v {
            None => Ok(default),
            Some(s) => s.parse().map_err(|_| format!("bad --{k} {s}")),
        }
    }
    let prob = |k: &str, v: Option<String>| -> Result<f64, String> {
        let p: f64 = num(k, v, 0.0)?;
        if (0.0..=1.0).contains(&p) {
            Ok(p)
        } else {
            Err(format!("--{k} must be within 0..=1"))
        }
    };
    let role = match role_name.as_str() {
        "server" => Role::Server {
            port: num("port", take("port"), 7)?,
            mode: match take("mode").as_deref() {
                None | Some("echo") => Mode::Echo,
                Some("discard") => Mode::Discard,
                Some("http") => Mode::Http,
                Some(m) => return Err(format!("unknown --mode {m}")),
            },
            body_bytes: num("body-bytes", take("body-bytes"), 1024)?,
            connections: num("connections", take("connections"), 1)?,
        },
        "client" => Role::Client {
            connect: take("connect")
                .ok_or("client needs --connect ADDR:PORT")?
                .parse()
                .map_err(|e| format!("bad --connect: {e}"))?,
            send_bytes: num("send-bytes", take("send-bytes"), 0)?,
            expect_echo: flags.iter().any(|f| f == "expect-echo"),
        },
        r => return Err(format!("unknown role {r}")),
    };
    let profile = Profile {
        loss: prob("loss", take("loss"))?,
        reorder: prob("reorder", take("reorder"))?,
        duplicate: prob("dup", take("dup"))?,
        ..Profile::CLEAN
    };
    let opts = Opts {
        role,
        dev: take("dev").unwrap_or_else(|| "tcpp0".to_owned()),
        ipv6: flags.iter().any(|f| f == "ipv6"),
        profile,
        seed: num("seed", take("seed"), 1)?,
        pcap: take("pcap"),
        quiet: flags.iter().any(|f| f == "quiet"),
        time_wait: Duration::from_millis(num("time-wait-ms", take("time-wait-ms"), 2000)?),
        timeout: Duration::from_secs(num("timeout-s", take("timeout-s"), 120)?),
    };
    if let Some(k) = kv.keys().next() {
        return Err(format!("unknown option --{k}"));
    }
    if let Role::Client { connect, .. } = &opts.role
        && connect.is_ipv6() != opts.ipv6
    {
        return Err("--connect's address family must match --ipv6".into());
    }
    Ok(opts)
}

/// Runs `ip args…`; `Ok(false)` when the address or route already exists.
fn ip_cmd(args: &[&str]) -> Result<bool, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        return Ok(true);
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("File exists") {
        return Ok(false);
    }
    Err(format!("ip {}: {}", args.join(" "), err.trim()))
}

/// One connection and its application.
struct Conn {
    conn: Connection,
    peer: SocketAddr,
    /// Octets read, and their hash.
    received: u64,
    rx_hash: Fnv,
    /// Octets queued so far (client: pattern; server: echo or response).
    sent: u64,
    /// Echo: read but not yet queued back.
    pending: Vec<u8>,
    /// HTTP: the request so far.
    request: Vec<u8>,
    response: Option<Vec<u8>>,
    closed_app: bool,
    saw_eof: bool,
    reason: Option<CloseReason>,
}

struct Host {
    opts: Opts,
    tun: tun_rs::SyncDevice,
    start: std::time::Instant,
    pair: IpPair,
    conns: HashMap<(u16, u16), Conn>,
    outbound: Impair<Vec<u8>>,
    inbound: Impair<Segment>,
    pcap: Vec<u8>,
    done: u32,
    failures: Vec<String>,
    iss_counter: u32,
}

impl Host {
    fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }

    fn say(&self, msg: &str) {
        if !self.opts.quiet {
            let t = self.start.elapsed();
            println!("[{:4}.{:06}] {msg}", t.as_secs(), t.subsec_micros());
        }
    }

    fn config(&self) -> Config {
        let mut c = Config::linux();
        c.time_wait = self.opts.time_wait;
        if self.opts.ipv6 {
            c.default_peer_mss = 1220;
        }
        c
    }

    /// An ISS from the clock (RFC 6528 in spirit: a caller's choice).
    fn iss(&mut self) -> SeqNum {
        self.iss_counter = self.iss_counter.wrapping_add(0x1234_5679);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        SeqNum(t.wrapping_mul(2_654_435_761) ^ self.iss_counter)
    }

    fn send_raw(&mut self, now: Instant, seg: &Segment) {
        let pkt = ip::encode(&self.pair, seg);
        self.outbound.push(now, pkt);
    }

    fn flush(&mut self, now: Instant) -> Result<(), String> {
        let keys: Vec<_> = self.conns.keys().copied().collect();
        for k in keys {
            self.drain(now, k);
        }
        while let Some(pkt) = self.outbound.pop_ready(now) {
            if self.opts.pcap.is_some() {
                pcap::record(&mut self.pcap, now, &pkt);
            }
            self.tun
                .send(&pkt)
                .map_err(|e| format!("write {}: {e}", self.opts.dev))?;
        }
        Ok(())
    }

    /// Transmits of one connection into the outbound stage; events printed.
    fn drain(&mut self, now: Instant, key: (u16, u16)) {
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        let mut segs = Vec::new();
        while let Some(s) = c.conn.poll_transmit(now) {
            segs.push(s);
        }
        let mut lines = Vec::new();
        while let Some(ev) = c.conn.poll_event() {
            match ev {
                Event::StateChanged { from, to } => {
                    lines.push(format!("{} {from} -> {to}", c.peer))
                }
                Event::Closed(r) => {
                    c.reason = Some(r);
                    lines.push(format!("{} closed: {r:?}", c.peer));
                }
                Event::PeerFinished => lines.push(format!("{} peer finished (FIN)", c.peer)),
                Event::Connected => lines.push(format!("{} connected", c.peer)),
                Event::Readable | Event::Writable => {}
            }
        }
        for s in &segs {
            self.send_raw(now, s);
        }
        for l in lines {
            self.say(&l);
        }
    }

    /// The application of every connection: send, read, close.
    fn apps(&mut self, now: Instant) {
        let mut chunk = vec![0u8; 64 * 1024];
        let role = &self.opts.role;
        for c in self.conns.values_mut() {
            if c.conn.state() == State::Closed || c.closed_app {
                continue;
            }
            // Read everything available.
            loop {
                match c.conn.recv(&mut chunk) {
                    Ok(0) => {
                        c.saw_eof = true;
                        break;
                    }
                    Ok(n) => {
                        c.rx_hash.update(&chunk[..n]);
                        c.received += n as u64;
                        match role {
                            Role::Server {
                                mode: Mode::Echo, ..
                            } => c.pending.extend_from_slice(&chunk[..n]),
                            Role::Server {
                                mode: Mode::Http, ..
                            } if c.response.is_none() => c.request.extend_from_slice(&chunk[..n]),
                            _ => {}
                        }
                    }
                    Err(_) => break,
                }
            }
            match role {
                Role::Client { send_bytes, .. } => {
                    while c.sent < *send_bytes {
                        let room = c.conn.send_capacity().min(chunk.len());
                        let n = (*send_bytes - c.sent).min(room as u64) as usize;
                        if n == 0 {
                            break;
                        }
                        fill(SEED, c.sent, &mut chunk[..n]);
                        match c.conn.send(&chunk[..n]) {
                            Ok(k) => c.sent += k as u64,
                            Err(_) => break,
                        }
                    }
                    if c.sent == *send_bytes && c.conn.state() == State::Established {
                        // Half-close: the server learns we are done; we read on.
                        let _ = c.conn.shutdown_write();
                    }
                    if c.saw_eof && c.sent == *send_bytes {
                        let _ = c.conn.close(now);
                        c.closed_app = true;
                    }
                }
                Role::Server {
                    mode, body_bytes, ..
                } => {
                    if *mode == Mode::Echo
                        && !c.pending.is_empty()
                        && let Ok(k) = c.conn.send(&c.pending)
                    {
                        c.pending.drain(..k);
                        c.sent += k as u64;
                    }
                    if *mode == Mode::Http
                        && c.response.is_none()
                        && c.request.windows(4).any(|w| w == b"\r\n\r\n")
                    {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {body_bytes}\r\nConnection: close\r\n\r\n"
                        )
                        .into_bytes();
                        let start = r.len();
                        r.resize(start + *body_bytes as usize, 0);
                        fill(SEED, 0, &mut r[start..]);
                        c.response = Some(r);
                    }
                    if let Some(r) = &c.response {
                        let at = c.sent as usize;
                        if at < r.len()
                            && let Ok(k) = c.conn.send(&r[at..])
                        {
                            c.sent += k as u64;
                        }
                        if c.sent as usize == r.len() {
                            // The server closes first (HTTP/1.1, Connection: close).
                            let _ = c.conn.close(now);
                            c.closed_app = true;
                        }
                    } else if c.saw_eof && c.pending.is_empty() {
                        let _ = c.conn.close(now);
                        c.closed_app = true;
                    }
                }
            }
        }
    }

    fn deliver(&mut self, now: Instant, seg: Segment) {
        let key = (seg.dst_port, seg.src_port);
        if self.conns.contains_key(&key) {
            self.conns
                .get_mut(&key)
                .expect("checked")
                .conn
                .handle_segment(now, seg);
            self.drain(now, key);
            return;
        }
        let listening = match self.opts.role {
            Role::Server { port, .. } => port == seg.dst_port,
            Role::Client { .. } => false,
        };
        if listening && seg.flags.syn() && !seg.flags.ack() && !seg.flags.rst() {
            let iss = self.iss();
            let peer_ip = match self.pair {
                IpPair::V4 { dst, .. } => IpAddr::from(dst),
                IpPair::V6 { dst, .. } => IpAddr::from(dst),
            };
            match Connection::accept(self.config(), &seg, iss, now) {
                Ok(conn) => {
                    let c = Conn::new(conn, SocketAddr::new(peer_ip, seg.src_port));
                    self.say(&format!("{} SYN: accepted", c.peer));
                    self.conns.insert(key, c);
                    self.drain(now, key);
                }
                Err(e) => self.say(&format!("SYN not accepted: {e}")),
            }
        } else if let Some(rst) = tcp_proto::reset_reply(&seg) {
            // RFC 9293 §3.10.7.1: no connection, so a RST.
            self.send_raw(now, &rst);
        }
    }

    /// Judges the connections that reached CLOSED and forgets them.
    fn reap(&mut self) {
        let closed: Vec<_> = self
            .conns
            .iter()
            .filter(|(_, c)| c.conn.state() == State::Closed)
            .map(|(k, _)| *k)
            .collect();
        for k in closed {
            let c = self.conns.remove(&k).expect("listed");
            let verdict = self.verdict(&c);
            match &verdict {
                Ok(summary) => self.say(&format!("{} OK: {summary}", c.peer)),
                Err(why) => {
                    self.say(&format!("{} FAILED: {why}", c.peer));
                    self.failures.push(format!("{}: {why}", c.peer));
                }
            }
            self.done += 1;
        }
    }

    fn verdict(&self, c: &Conn) -> Result<String, String> {
        let reason = c.reason.or(c.conn.close_reason());
        if reason != Some(CloseReason::Normal) {
            return Err(format!("closed with {reason:?}"));
        }
        let summary = format!(
            "sent {} octets, received {} octets (FNV {:016x})",
            c.sent, c.received, c.rx_hash.0
        );
        match &self.opts.role {
            Role::Client {
                send_bytes,
                expect_echo,
                ..
            } => {
                if c.sent != *send_bytes {
                    return Err(format!("sent {} of {send_bytes} octets", c.sent));
                }
                if *expect_echo
                    && (c.received != *send_bytes
                        || c.rx_hash != Fnv::of_pattern(SEED, *send_bytes))
                {
                    return Err(format!(
                        "echo mismatch: got {} octets back, hash {:016x}",
                        c.received, c.rx_hash.0
                    ));
                }
            }
            Role::Server { mode, .. } => match mode {
                Mode::Echo if c.sent != c.received => {
                    return Err(format!("echoed {} of {} octets", c.sent, c.received));
                }
                Mode::Http if c.response.is_none() => {
                    return Err("no complete HTTP request".into());
                }
                _ => {}
            },
        }
        Ok(summary)
    }

    fn finished(&self) -> bool {
        match self.opts.role {
            Role::Server { connections, .. } => self.done >= connections,
            Role::Client { .. } => self.done >= 1,
        }
    }

    fn run(&mut self) -> Result<(), String> {
        let deadline = self.start + self.opts.timeout;
        let mut rx = vec![0u8; 65_536];
        while !self.finished() {
            if std::time::Instant::now() > deadline {
                return Err(format!("timed out after {:?}", self.opts.timeout));
            }
            let now = self.now();
            for c in self.conns.values_mut() {
                if c.conn.poll_timeout().is_some_and(|t| t <= now) {
                    c.conn.handle_timeout(now);
                }
            }
            self.apps(now);
            self.flush(now)?;
            self.reap();

            let mut wait = Duration::from_millis(10);
            let deadlines = self
                .conns
                .values()
                .filter_map(|c| c.conn.poll_timeout())
                .chain(self.outbound.next_deadline())
                .chain(self.inbound.next_deadline());
            for t in deadlines {
                wait = wait.min(t.saturating_duration_since(now));
            }
            let mut budget = 256;
            let mut timeout = wait;
            while budget > 0 {
                budget -= 1;
                let ms = timeout.as_millis().min(1000) as u16;
                let mut fds = [PollFd::new(self.tun.as_fd(), PollFlags::POLLIN)];
                let ready = match poll(&mut fds, PollTimeout::from(ms)) {
                    Ok(n) => n,
                    Err(nix::errno::Errno::EINTR) => 0,
                    Err(e) => return Err(format!("poll: {e}")),
                };
                if ready == 0 {
                    break;
                }
                let n = self
                    .tun
                    .recv(&mut rx)
                    .map_err(|e| format!("read {}: {e}", self.opts.dev))?;
                timeout = Duration::ZERO;
                let now = self.now();
                if self.opts.pcap.is_some() {
                    pcap::record(&mut self.pcap, now, &rx[..n]);
                }
                if let Some((pair, seg)) = ip::decode(&rx[..n])
                    && pair == self.pair.reversed()
                {
                    self.inbound.push(now, seg);
                }
            }
            let now = self.now();
            while let Some(seg) = self.inbound.pop_ready(now) {
                self.deliver(now, seg);
            }
            self.apps(now);
            self.flush(now)?;
            self.reap();
        }
        Ok(())
    }
}

impl Conn {
    fn new(conn: Connection, peer: SocketAddr) -> Conn {
        Conn {
            conn,
            peer,
            received: 0,
            rx_hash: Fnv::default(),
            sent: 0,
            pending: Vec::new(),
            request: Vec::new(),
            response: None,
            closed_app: false,
            saw_eof: false,
            reason: None,
        }
    }
}

fn setup(opts: &Opts) -> Result<tun_rs::SyncDevice, String> {
    let tun = tun_rs::DeviceBuilder::new()
        .name(&opts.dev)
        .build_sync()
        .map_err(|e| format!("create TUN {}: {e} (root? /dev/net/tun?)", opts.dev))?;
    // The kernel's side of the link; kept if it is there already.
    ip_cmd(&["addr", "add", "192.0.2.1/24", "dev", &opts.dev])?;
    ip_cmd(&[
        "-6",
        "addr",
        "add",
        "2001:db8::1/64",
        "dev",
        &opts.dev,
        "nodad",
    ])?;
    ip_cmd(&["link", "set", "lo", "up"])?;
    ip_cmd(&["link", "set", &opts.dev, "txqueuelen", "8192"])?;
    ip_cmd(&["link", "set", &opts.dev, "up"])?;
    Ok(tun)
}

fn main() -> ExitCode {
    let opts = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tun: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let tun = match setup(&opts) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tun: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (ours, kernel) = if opts.ipv6 {
        (IpAddr::V6(OURS_V6), IpAddr::V6(KERNEL_V6))
    } else {
        (IpAddr::V4(OURS_V4), IpAddr::V4(KERNEL_V4))
    };
    let pair = match (&opts.role, ours) {
        (Role::Client { connect, .. }, _) => ip::pair(ours, connect.ip()),
        (Role::Server { .. }, _) => ip::pair(ours, kernel),
    };
    let mut pcap_file = Vec::new();
    pcap::global_header(&mut pcap_file);
    let mut host = Host {
        outbound: Impair::new(opts.profile, opts.seed),
        inbound: Impair::new(opts.profile, opts.seed ^ 0x5555_5555),
        opts,
        tun,
        start: std::time::Instant::now(),
        pair,
        conns: HashMap::new(),
        pcap: pcap_file,
        done: 0,
        failures: Vec::new(),
        iss_counter: 0,
    };
    match &host.opts.role {
        Role::Server { port, mode, .. } => {
            host.say(&format!(
                "listening on {}:{port} ({mode:?}) on {}; kernel side {kernel}",
                ours, host.opts.dev
            ));
        }
        Role::Client { connect, .. } => {
            let connect = *connect;
            let lport = 40_000 + (host.iss().0 % 20_000) as u16;
            let iss = host.iss();
            let now = host.now();
            match Connection::connect(host.config(), lport, connect.port(), iss, now) {
                Ok(conn) => {
                    host.conns
                        .insert((lport, connect.port()), Conn::new(conn, connect));
                    host.say(&format!("{ours}:{lport} connecting to {connect}"));
                }
                Err(e) => {
                    eprintln!("tun: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let result = host.run();
    if let Some(path) = &host.opts.pcap
        && let Err(e) = std::fs::write(path, &host.pcap)
    {
        eprintln!("tun: write {path}: {e}");
        return ExitCode::FAILURE;
    }
    let in_stats = host.inbound.stats;
    let out_stats = host.outbound.stats;
    if !host.opts.profile.is_clean() {
        host.say(&format!("impairment: out {out_stats:?}, in {in_stats:?}"));
    }
    match result {
        Err(e) => {
            eprintln!("tun: {e}");
            ExitCode::FAILURE
        }
        Ok(()) if !host.failures.is_empty() => {
            eprintln!("tun: failed: {}", host.failures.join("; "));
            ExitCode::FAILURE
        }
        Ok(()) => {
            host.say("all done");
            ExitCode::SUCCESS
        }
    }
}
