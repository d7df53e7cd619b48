//! tcp-proto on a TUN device: a small TCP host talking to the Linux stack.
//!
//! Run it inside a network namespace (it needs root for the TUN):
//!
//! ```sh
//! sudo ip netns add tcpp-demo
//! # tcp-proto serves echo on 192.0.2.2:7 and [2001:db8::2]:7 until Ctrl-C /
//! # SIGTERM; the kernel is 192.0.2.1 and 2001:db8::1 on tcpp0.
//! sudo ip netns exec tcpp-demo target/debug/examples/tun server --port 7 --mode echo &
//! sudo ip netns exec tcpp-demo sh -c 'echo hello | nc -N 192.0.2.2 7'
//! sudo ip netns exec tcpp-demo sh -c 'echo hello | nc -N 2001:db8::2 7'
//! sudo kill %1
//! sudo ip netns del tcpp-demo
//! ```
//!
//! Flags: `server --port P --mode echo|discard|http [--body-bytes N]
//! [--connections N]`, `client --connect ADDR:PORT --send-bytes N
//! [--expect-echo] [--ipv6]`; common: `--dev NAME` (default tcpp0),
//! `--loss P --reorder P --dup P --seed S` (impairment applied in both
//! directions), `--pcap FILE`, `--time-wait-ms MS`, `--timeout-s S`,
//! `--quiet`.
//!
//! The server answers IPv4 and IPv6 at once, serves any number of clients
//! concurrently (demultiplexed by the full 4-tuple) and runs until SIGINT or
//! SIGTERM, or until `--connections N` connections have finished. On a
//! signal it stops listening (new SYNs get a RST), closes every connection
//! gracefully and exits 0 once they are closed (a connection whose FIN was
//! acknowledged counts as closed). With `--connections N`, or as a client,
//! the exit status is 0 only if every connection did what was asked and
//! closed gracefully.
//!
//! Addresses: the kernel side of the device is 192.0.2.1/24 and
//! 2001:db8::1/64; tcp-proto is 192.0.2.2 and 2001:db8::2 (it answers for any
//! address routed to the device). An existing device (e.g. one made with
//! `ip tuntap add tcpp0 mode tun`) and addresses already on it are reused;
//! at exit the program removes only what it added (a device it created goes
//! away with its addresses). ISNs follow RFC 6528 (a 4 µs clock plus a keyed
//! hash of the 4-tuple) with the key drawn from the OS.

#[path = "../tests/common/app.rs"]
#[allow(dead_code)]
mod app;
#[path = "../tests/common/impair.rs"]
#[allow(dead_code)]
mod impair;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::process::{Command, ExitCode};
use std::time::Duration;

use app::{Fnv, fill};
use impair::{Impair, Profile};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use tcp_proto::{
    ChecksumMode, CloseReason, Config, Connection, Event, Instant, IpPair, Segment, SeqNum, State,
    pcap,
};

const KERNEL_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const OURS_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const KERNEL_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const OURS_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const SEED: u64 = 0x7c9_0001;
/// How long a signalled shutdown waits for connections to close.
const GRACE: Duration = Duration::from_secs(5);
/// Echo: stop reading while this much is waiting to be sent back (the
/// receive window then pushes back on the client).
const ECHO_PENDING_MAX: usize = 256 * 1024;

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
        /// Exit after this many connections finished (`None`: until a signal).
        connections: Option<u32>,
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
    profile: Profile,
    seed: u64,
    pcap: Option<String>,
    quiet: bool,
    time_wait: Duration,
    timeout: Option<Duration>,
}

const USAGE: &str = "usage:
  tun server [--port P] [--mode echo|discard|http] [--body-bytes N] [--connections N]
  tun client --connect ADDR:PORT --send-bytes N [--expect-echo] [--ipv6]
common: [--dev NAME] [--loss P] [--reorder P] [--dup P] [--seed S] [--pcap FILE]
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
    let has = |f: &str| flags.iter().any(|x| x == f);
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
        // The server answers both families; `--ipv6` is accepted and changes nothing.
        "server" => Role::Server {
            port: num("port", take("port"), 7)?,
            mode: match take("mode").as_deref() {
                None | Some("echo") => Mode::Echo,
                Some("discard") => Mode::Discard,
                Some("http") => Mode::Http,
                Some(m) => return Err(format!("unknown --mode {m}")),
            },
            body_bytes: num("body-bytes", take("body-bytes"), 1024)?,
            connections: match take("connections") {
                None => None,
                Some(s) => Some(
                    s.parse()
                        .ok()
                        .filter(|&n: &u32| n > 0)
                        .ok_or(format!("bad --connections {s}"))?,
                ),
            },
        },
        "client" => {
            let connect: SocketAddr = take("connect")
                .ok_or("client needs --connect ADDR:PORT")?
                .parse()
                .map_err(|e| format!("bad --connect: {e}"))?;
            if has("ipv6") && connect.is_ipv4() {
                return Err("--ipv6 given but --connect is an IPv4 address".into());
            }
            Role::Client {
                connect,
                send_bytes: num("send-bytes", take("send-bytes"), 0)?,
                expect_echo: has("expect-echo"),
            }
        }
        r => return Err(format!("unknown role {r}")),
    };
    let profile = Profile {
        loss: prob("loss", take("loss"))?,
        reorder: prob("reorder", take("reorder"))?,
        duplicate: prob("dup", take("dup"))?,
        ..Profile::CLEAN
    };
    let timeout = match (take("timeout-s"), &role) {
        (Some(s), _) => Some(Duration::from_secs(
            s.parse().map_err(|_| format!("bad --timeout-s {s}"))?,
        )),
        (None, Role::Client { .. }) => Some(Duration::from_secs(120)),
        (None, Role::Server { .. }) => None,
    };
    let opts = Opts {
        role,
        dev: take("dev").unwrap_or_else(|| "tcpp0".to_owned()),
        profile,
        seed: num("seed", take("seed"), 1)?,
        pcap: take("pcap"),
        quiet: has("quiet"),
        time_wait: Duration::from_millis(num("time-wait-ms", take("time-wait-ms"), 2000)?),
        timeout,
    };
    if let Some(k) = kv.keys().next() {
        return Err(format!("unknown option --{k}"));
    }
    Ok(opts)
}

// ---------------------------------------------------------------------------
// The device and its addresses: reuse what exists, undo only what we did.

/// Runs `ip args…` and returns its stdout, or its stderr as the error.
fn ip_cmd(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// What `setup` changed, undone on drop (also on an error path).
struct NetSetup {
    dev: String,
    /// The device existed before (a persistent TUN): it stays.
    existed: bool,
    /// Addresses we added (`ip addr del` on drop when the device stays).
    added: Vec<&'static str>,
    /// We set the link up (down again on drop when the device stays).
    brought_up: bool,
}

impl Drop for NetSetup {
    fn drop(&mut self) {
        // A device we created is not persistent: it goes away, with its
        // addresses, when our file descriptor closes.
        if !self.existed {
            return;
        }
        for a in &self.added {
            let _ = ip_cmd(&["addr", "del", a, "dev", &self.dev]);
        }
        if self.brought_up {
            let _ = ip_cmd(&["link", "set", &self.dev, "down"]);
        }
    }
}

fn setup(dev: &str) -> Result<(tun_rs::SyncDevice, NetSetup), String> {
    let existed = std::path::Path::new("/sys/class/net").join(dev).exists();
    // Read before opening: opening the TUN may set the link up.
    let was_up = existed
        && ip_cmd(&["-o", "link", "show", "dev", dev])
            .is_ok_and(|l| l.contains(",UP") || l.contains("<UP"));
    let tun = tun_rs::DeviceBuilder::new()
        .name(dev)
        .build_sync()
        .map_err(|e| {
            if existed {
                format!(
                    "open existing device {dev}: {e} (is it a TUN device, and is no other program attached to it?)"
                )
            } else {
                format!("create TUN {dev}: {e} (root? /dev/net/tun?)")
            }
        })?;
    tun.set_nonblocking(true)
        .map_err(|e| format!("{dev}: non-blocking: {e}"))?;
    let mut guard = NetSetup {
        dev: dev.to_owned(),
        existed,
        added: Vec::new(),
        brought_up: false,
    };
    let have = ip_cmd(&["-o", "addr", "show", "dev", dev])?;
    for (cidr, v6) in [("192.0.2.1/24", false), ("2001:db8::1/64", true)] {
        let key = format!("{} {cidr}", if v6 { "inet6" } else { "inet" });
        if have.contains(&key) {
            continue; // The user's address: reused, left alone at exit.
        }
        let mut args = vec!["addr", "add", cidr, "dev", dev];
        if v6 {
            args.push("nodad");
        }
        match ip_cmd(&args) {
            Ok(_) => guard.added.push(cidr),
            // Already there under another prefix length, or IPv6 disabled:
            // carry on with what exists.
            Err(e) => eprintln!("tun: warning: {e}"),
        }
    }
    ip_cmd(&["link", "set", dev, "up"])?;
    guard.brought_up = existed && !was_up;
    if !existed {
        // A long queue: the kernel may burst many windows at us at once.
        ip_cmd(&["link", "set", dev, "txqueuelen", "8192"])?;
    }
    let _ = ip_cmd(&["link", "set", "lo", "up"]);
    Ok((tun, guard))
}

// ---------------------------------------------------------------------------
// IP framing: parse what the kernel writes, without trusting it.

/// The address pair and the TCP octets of an IPv4 or IPv6 packet; `None`
/// for anything else (ICMP, fragments, extension headers, malformed).
fn parse_ip(pkt: &[u8]) -> Option<(IpPair, &[u8])> {
    match pkt.first()? >> 4 {
        4 => {
            let ihl = usize::from(pkt.first()? & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*pkt.get(2)?, *pkt.get(3)?]));
            let frag = u16::from_be_bytes([*pkt.get(6)?, *pkt.get(7)?]);
            if ihl < 20 || total < ihl || *pkt.get(9)? != 6 || frag & 0x3fff != 0 {
                return None;
            }
            let src: [u8; 4] = pkt.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = pkt.get(16..20)?.try_into().ok()?;
            Some((IpPair::V4 { src, dst }, pkt.get(ihl..total)?))
        }
        6 => {
            let len = usize::from(u16::from_be_bytes([*pkt.get(4)?, *pkt.get(5)?]));
            if *pkt.get(6)? != 6 {
                return None;
            }
            let src: [u8; 16] = pkt.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = pkt.get(24..40)?.try_into().ok()?;
            Some((IpPair::V6 { src, dst }, pkt.get(40..40 + len)?))
        }
        _ => None,
    }
}

fn ip_of_pair(pair: &IpPair) -> (IpAddr, IpAddr) {
    match *pair {
        IpPair::V4 { src, dst } => (IpAddr::from(src), IpAddr::from(dst)),
        IpPair::V6 { src, dst } => (IpAddr::from(src), IpAddr::from(dst)),
    }
}

fn pair_of(src: IpAddr, dst: IpAddr) -> IpPair {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => IpPair::V4 {
            src: s.octets(),
            dst: d.octets(),
        },
        (IpAddr::V6(s), IpAddr::V6(d)) => IpPair::V6 {
            src: s.octets(),
            dst: d.octets(),
        },
        _ => unreachable!("a tuple holds one family"),
    }
}

/// A connection's name: both ends, address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Tuple {
    local: SocketAddr,
    remote: SocketAddr,
}

impl Tuple {
    /// The pair for segments we send.
    fn out_pair(&self) -> IpPair {
        pair_of(self.local.ip(), self.remote.ip())
    }
}

// ---------------------------------------------------------------------------
// The host.

/// One connection and its application.
struct Conn {
    conn: Connection,
    tuple: Tuple,
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
    /// The handshake completed (a half-open connection that dies is not
    /// one the application ever had).
    connected: bool,
    /// Counted in `done` already.
    judged: bool,
    /// The deadline this connection has in the timer heap.
    armed: Option<Instant>,
    /// Queued for `process` already.
    touched: bool,
}

impl Conn {
    fn new(conn: Connection, tuple: Tuple) -> Conn {
        Conn {
            conn,
            tuple,
            received: 0,
            rx_hash: Fnv::default(),
            sent: 0,
            pending: Vec::new(),
            request: Vec::new(),
            response: None,
            closed_app: false,
            saw_eof: false,
            reason: None,
            connected: false,
            judged: false,
            armed: None,
            touched: false,
        }
    }

    /// A new incarnation of the 4-tuple (a SYN reopened it from TIME-WAIT):
    /// the application starts over.
    fn reset_app(&mut self) {
        self.received = 0;
        self.rx_hash = Fnv::default();
        self.sent = 0;
        self.pending.clear();
        self.request.clear();
        self.response = None;
        self.closed_app = false;
        self.saw_eof = false;
        self.reason = None;
        self.connected = false;
        self.judged = false;
    }
}

/// The outside world: the device, the impairment stages, the capture.
struct Io {
    tun: tun_rs::SyncDevice,
    dev: String,
    start: std::time::Instant,
    quiet: bool,
    clean: bool,
    outbound: Impair<Vec<u8>>,
    inbound: Impair<(IpPair, Segment)>,
    pcap: Option<std::io::BufWriter<std::fs::File>>,
    /// Reused for every packet we encode and every pcap record.
    tx: Vec<u8>,
    rec: Vec<u8>,
    /// Inbound packets that were not TCP for us, or failed the checksum.
    ignored: u64,
}

impl Io {
    fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }

    /// A line of the log (not with `--quiet`).
    fn say(&self, msg: &str) {
        if !self.quiet {
            self.announce(msg);
        }
    }

    /// A line printed even with `--quiet` (start, summary, shutdown).
    fn announce(&self, msg: &str) {
        let t = self.start.elapsed();
        println!("[{:4}.{:06}] {msg}", t.as_secs(), t.subsec_micros());
    }

    fn record(&mut self, now: Instant, pkt: &[u8]) -> Result<(), String> {
        if let Some(w) = &mut self.pcap {
            self.rec.clear();
            pcap::record(&mut self.rec, now, pkt);
            w.write_all(&self.rec).map_err(|e| format!("pcap: {e}"))?;
        }
        Ok(())
    }

    /// Encodes `seg` as an IP packet into the reused buffer and sends it
    /// (through the impairment stage when there is one).
    fn emit(&mut self, now: Instant, pair: &IpPair, seg: &Segment) -> Result<(), String> {
        let mut tx = std::mem::take(&mut self.tx);
        tx.clear();
        let r = match pcap::segment_ip_packet(&mut tx, pair, seg) {
            Err(e) => Err(format!("encode {seg}: {e}")),
            Ok(_) if self.clean => self.write(now, &tx),
            Ok(_) => {
                self.outbound.push(now, tx.clone());
                Ok(())
            }
        };
        self.tx = tx;
        r
    }

    fn write(&mut self, now: Instant, pkt: &[u8]) -> Result<(), String> {
        self.record(now, pkt)?;
        match self.tun.send(pkt) {
            Ok(_) => Ok(()),
            // The kernel's queue is full: the packet is lost, TCP resends.
            Err(e)
                if e.raw_os_error() == Some(nix::libc::ENOBUFS)
                    || e.kind() == std::io::ErrorKind::WouldBlock =>
            {
                Ok(())
            }
            Err(e) => Err(format!("write {}: {e}", self.dev)),
        }
    }

    fn flush(&mut self, now: Instant) -> Result<(), String> {
        while let Some(pkt) = self.outbound.pop_ready(now) {
            self.write(now, &pkt)?;
        }
        Ok(())
    }
}

struct Host {
    opts: Opts,
    io: Io,
    sig: SignalFd,
    conns: HashMap<Tuple, Conn>,
    /// (deadline, connection): a lazily cleaned min-heap; an entry is live
    /// only while it equals the connection's `armed`.
    timers: BinaryHeap<Reverse<(Instant, Tuple)>>,
    touched: Vec<Tuple>,
    /// The RFC 6528 key, from the OS.
    secret: [u8; 16],
    chunk: Vec<u8>,
    /// Connections finished (judged), and the failures among them.
    done: u32,
    failed: u32,
    failures: Vec<String>,
    /// Half-open connections that died before their handshake completed.
    half_open_dropped: u64,
    /// Set by SIGINT/SIGTERM: the deadline for the graceful close.
    stopping: Option<Instant>,
}

/// How a run ended.
enum Outcome {
    /// Everything asked for was done (or a signal ended it cleanly).
    Done,
    /// A signal arrived and some connections would not close in time.
    Unclean(usize),
}

impl Host {
    fn config(&self, tuple: &Tuple) -> Config {
        let mut c = Config::linux();
        c.time_wait = self.opts.time_wait;
        if tuple.local.is_ipv6() {
            c.mss = 1440;
            c.default_peer_mss = 1220;
        }
        // RFC 7323 §5.4 / RFC 6528: a timestamp offset per address pair,
        // from the same keyed hash (as Linux does).
        c.ts_offset = self.keyed(&(tuple.local.ip(), tuple.remote.ip())) as u32;
        c
    }

    /// A keyed PRF: SipHash-1-3 (std's `DefaultHasher`) over the secret and
    /// `v`. Good enough for an example; not for a library.
    fn keyed<T: Hash>(&self, v: &T) -> u64 {
        let mut h = DefaultHasher::new();
        h.write(&self.secret);
        v.hash(&mut h);
        h.finish()
    }

    /// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
    /// M a 4 µs timer (wall clock, so a restarted host keeps counting up).
    fn isn(&self, tuple: &Tuple) -> SeqNum {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0);
        let m = (micros / 4) as u32;
        SeqNum(m.wrapping_add(self.keyed(tuple) as u32))
    }

    fn touch(&mut self, tuple: Tuple) {
        if let Some(c) = self.conns.get_mut(&tuple)
            && !c.touched
        {
            c.touched = true;
            self.touched.push(tuple);
        }
    }

    fn deliver(&mut self, now: Instant, pair: IpPair, seg: Segment) -> Result<(), String> {
        let (remote_ip, local_ip) = ip_of_pair(&pair);
        let tuple = Tuple {
            local: SocketAddr::new(local_ip, seg.dst_port),
            remote: SocketAddr::new(remote_ip, seg.src_port),
        };
        if let Some(c) = self.conns.get_mut(&tuple) {
            c.conn.handle_segment(now, seg);
            self.touch(tuple);
            return Ok(());
        }
        let listening = match self.opts.role {
            Role::Server { port, .. } => port == seg.dst_port && self.stopping.is_none(),
            Role::Client { .. } => false,
        };
        let f = seg.flags;
        if listening && f.syn() && !f.ack() && !f.rst() {
            let iss = self.isn(&tuple);
            match Connection::accept(self.config(&tuple), &seg, iss, now) {
                Ok(conn) => {
                    self.io.say(&format!(
                        "{} SYN to {}: accepted",
                        tuple.remote, tuple.local
                    ));
                    self.conns.insert(tuple, Conn::new(conn, tuple));
                    self.touch(tuple);
                }
                Err(e) => self
                    .io
                    .say(&format!("{} SYN not accepted: {e}", tuple.remote)),
            }
        } else if let Some(rst) = tcp_proto::reset_reply(&seg) {
            // RFC 9293 §3.10.7.1: no connection, so a RST (never for a RST).
            self.io.emit(now, &pair.reversed(), &rst)?;
        }
        Ok(())
    }

    /// Runs the application, sends what the connection has, prints its
    /// events, re-arms its timer, and judges it once it is CLOSED.
    fn process(&mut self, now: Instant) -> Result<(), String> {
        while let Some(tuple) = self.touched.pop() {
            let Some(mut c) = self.conns.remove(&tuple) else {
                continue;
            };
            c.touched = false;
            self.app(now, &mut c);
            let pair = tuple.out_pair();
            while let Some(seg) = c.conn.poll_transmit(now) {
                self.io.emit(now, &pair, &seg)?;
            }
            while let Some(ev) = c.conn.poll_event() {
                match ev {
                    Event::StateChanged {
                        from: State::TimeWait,
                        to: State::SynReceived,
                    } => {
                        // RFC 6191: a new SYN reopened the 4-tuple; the old
                        // incarnation was judged when it entered TIME-WAIT.
                        c.reset_app();
                        self.io.say(&format!(
                            "{} TIME-WAIT -> SYN-RECEIVED (reused)",
                            tuple.remote
                        ));
                    }
                    Event::StateChanged { from, to } => {
                        self.io.say(&format!("{} {from} -> {to}", tuple.remote));
                        if to == State::TimeWait {
                            // Both FINs acknowledged: done, as far as the
                            // application goes (TIME-WAIT is the stack's).
                            c.reason = Some(CloseReason::Normal);
                            self.judge(&mut c);
                        }
                    }
                    Event::Closed(r) => {
                        c.reason = Some(r);
                        self.io.say(&format!("{} closed: {r:?}", tuple.remote));
                    }
                    Event::PeerFinished => self
                        .io
                        .say(&format!("{} peer finished (FIN)", tuple.remote)),
                    Event::Connected => {
                        c.connected = true;
                        self.io.say(&format!("{} connected", tuple.remote))
                    }
                    Event::Readable | Event::Writable => {}
                }
            }
            if c.conn.state() == State::Closed {
                self.judge(&mut c);
                continue; // dropped: its heap entries are stale now
            }
            let next = c.conn.poll_timeout();
            if next != c.armed {
                c.armed = next;
                if let Some(t) = next {
                    self.timers.push(Reverse((t, tuple)));
                }
            }
            if c.touched {
                self.touched.push(tuple);
            }
            self.conns.insert(tuple, c);
        }
        // Stale heap entries are dropped as they come up; rebuild when they
        // dominate.
        if self.timers.len() > 4 * self.conns.len() + 1024 {
            self.timers = self
                .conns
                .iter()
                .filter_map(|(t, c)| c.armed.map(|a| Reverse((a, *t))))
                .collect();
        }
        self.io.flush(now)
    }

    /// Expired timers: only the connections whose deadline passed.
    fn expire(&mut self, now: Instant) {
        while let Some(Reverse((at, tuple))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            if let Some(c) = self.conns.get_mut(&tuple)
                && c.armed == Some(at)
            {
                c.armed = None;
                c.conn.handle_timeout(now);
                self.touch(tuple);
            }
        }
    }

    /// The application of one connection: read, send, close.
    fn app(&mut self, now: Instant, c: &mut Conn) {
        if c.conn.state() == State::Closed || c.closed_app {
            return;
        }
        let chunk = &mut self.chunk;
        let stopping = self.stopping.is_some();
        // Read what is available (echo: while little is waiting to go back).
        while c.pending.len() < ECHO_PENDING_MAX {
            match c.conn.recv(chunk) {
                Ok(0) => {
                    c.saw_eof = true;
                    break;
                }
                Ok(n) => {
                    c.rx_hash.update(&chunk[..n]);
                    c.received += n as u64;
                    match self.opts.role {
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
        match &self.opts.role {
            Role::Client { send_bytes, .. } => {
                while c.sent < *send_bytes && !stopping {
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
                if (c.sent == *send_bytes || stopping) && c.conn.state() == State::Established {
                    // Half-close: the server learns we are done; we read on.
                    let _ = c.conn.shutdown_write();
                }
                if (c.saw_eof && c.sent == *send_bytes) || stopping {
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
                } else if (c.saw_eof || stopping) && c.pending.is_empty() {
                    // Shutting down: what was read is echoed, then FIN.
                    let _ = c.conn.close(now);
                    c.closed_app = true;
                }
            }
        }
    }

    /// Records the end of one connection (or incarnation).
    fn judge(&mut self, c: &mut Conn) {
        if std::mem::replace(&mut c.judged, true) {
            return;
        }
        if !c.connected && matches!(self.opts.role, Role::Server { .. }) {
            // A SYN whose handshake never completed (a scanner, a flood).
            self.half_open_dropped += 1;
            return;
        }
        self.done += 1;
        match self.verdict(c) {
            Ok(summary) => self.io.say(&format!("{} OK: {summary}", c.tuple.remote)),
            Err(why) => {
                self.io.say(&format!("{} FAILED: {why}", c.tuple.remote));
                self.failed += 1;
                if self.failures.len() < 20 {
                    self.failures.push(format!("{}: {why}", c.tuple.remote));
                }
            }
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
            Role::Server { connections, .. } => connections.is_some_and(|n| self.done >= n),
            Role::Client { .. } => self.done >= 1,
        }
    }

    /// After a signal: whether every connection is closed as far as we are
    /// concerned (our FIN acknowledged: FIN-WAIT-2, TIME-WAIT, CLOSED).
    fn all_closed(&self) -> bool {
        self.conns.values().all(|c| {
            matches!(
                c.conn.state(),
                State::Closed | State::TimeWait | State::FinWait2
            )
        })
    }

    fn begin_shutdown(&mut self, now: Instant, sig: &str) {
        self.io.announce(&format!(
            "{sig}: closing {} connection(s), no longer listening",
            self.conns.len()
        ));
        self.stopping = Some(now + GRACE);
        let all: Vec<Tuple> = self.conns.keys().copied().collect();
        for t in all {
            // Half-open connections were never handed to the application:
            // reset, as Linux does when a listener closes.
            if let Some(c) = self.conns.get_mut(&t)
                && matches!(c.conn.state(), State::SynReceived | State::Listen)
                && matches!(self.opts.role, Role::Server { .. })
            {
                c.conn.abort();
            }
            self.touch(t);
        }
    }

    fn run(&mut self) -> Result<Outcome, String> {
        let deadline = self.opts.timeout.map(|t| self.io.start + t);
        let mut rx = vec![0u8; 65_536];
        loop {
            let now = self.io.now();
            self.expire(now);
            while let Some((pair, seg)) = self.io.inbound.pop_ready(now) {
                self.deliver(now, pair, seg)?;
            }
            self.process(now)?;
            if self.finished() {
                return Ok(Outcome::Done);
            }
            if let Some(stop) = self.stopping {
                if self.all_closed() {
                    // What is left has closed our side (FIN acknowledged).
                    let mut left: Vec<Conn> = self.conns.drain().map(|(_, c)| c).collect();
                    for c in &mut left {
                        c.reason.get_or_insert(CloseReason::Normal);
                        self.judge(c);
                    }
                    return Ok(Outcome::Done);
                }
                if now >= stop {
                    let left = self.conns.len();
                    for c in self.conns.values_mut() {
                        c.conn.abort();
                    }
                    let all: Vec<Tuple> = self.conns.keys().copied().collect();
                    for t in all {
                        self.touch(t);
                    }
                    self.process(now)?;
                    return Ok(Outcome::Unclean(left));
                }
            }
            if deadline.is_some_and(|d| std::time::Instant::now() > d) {
                return Err(format!(
                    "timed out after {:?}",
                    self.opts.timeout.unwrap_or_default()
                ));
            }

            let mut wait = Duration::from_secs(1);
            let soonest = self
                .timers
                .peek()
                .map(|Reverse((t, _))| *t)
                .into_iter()
                .chain(self.io.outbound.next_deadline())
                .chain(self.io.inbound.next_deadline())
                .chain(self.stopping);
            for t in soonest {
                wait = wait.min(t.saturating_duration_since(now));
            }
            let ms = wait.as_micros().div_ceil(1000).min(1000) as u16;
            let (tun_ready, sig_ready) = {
                let mut fds = [
                    PollFd::new(self.io.tun.as_fd(), PollFlags::POLLIN),
                    PollFd::new(self.sig.as_fd(), PollFlags::POLLIN),
                ];
                match poll(&mut fds, PollTimeout::from(ms)) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(format!("poll: {e}")),
                }
                let ready = |f: &PollFd| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN));
                (ready(&fds[0]), ready(&fds[1]))
            };
            if sig_ready && let Ok(Some(info)) = self.sig.read_signal() {
                let name = Signal::try_from(info.ssi_signo as i32)
                    .map(|s| s.as_str())
                    .unwrap_or("signal");
                if self.stopping.is_none() {
                    let now = self.io.now();
                    self.begin_shutdown(now, name);
                }
            }
            if !tun_ready {
                continue;
            }
            // Everything that is queued, bounded per round so timers and
            // transmits keep their turn.
            for _ in 0..256 {
                let n = match self.io.tun.recv(&mut rx) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("read {}: {e}", self.io.dev)),
                };
                let now = self.io.now();
                self.io.record(now, &rx[..n])?;
                let Some((pair, tcp)) = parse_ip(&rx[..n]) else {
                    self.io.ignored += 1;
                    continue;
                };
                match Segment::decode_slice(tcp, &pair, ChecksumMode::Verify) {
                    Ok(seg) => self.io.inbound.push(now, (pair, seg)),
                    Err(_) => self.io.ignored += 1,
                }
            }
        }
    }
}

fn main() -> ExitCode {
    let opts = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tun: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // SIGINT/SIGTERM arrive on a file descriptor the loop polls (blocked
    // first, before anything else runs).
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    let sig = match mask
        .thread_block()
        .and_then(|()| SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tun: signalfd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut secret = [0u8; 16];
    if let Err(e) = getrandom::fill(&mut secret) {
        eprintln!("tun: getrandom: {e}");
        return ExitCode::FAILURE;
    }
    let (tun, net) = match setup(&opts.dev) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tun: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pcap = match &opts.pcap {
        None => None,
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => {
                let mut w = std::io::BufWriter::new(f);
                let mut head = Vec::new();
                pcap::global_header(&mut head);
                let _ = w.write_all(&head);
                Some(w)
            }
            Err(e) => {
                eprintln!("tun: create {path}: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let io = Io {
        tun,
        dev: opts.dev.clone(),
        start: std::time::Instant::now(),
        quiet: opts.quiet,
        clean: opts.profile.is_clean(),
        outbound: Impair::new(opts.profile, opts.seed),
        inbound: Impair::new(opts.profile, opts.seed ^ 0x5555_5555),
        pcap,
        tx: Vec::with_capacity(2048),
        rec: Vec::with_capacity(2048),
        ignored: 0,
    };
    let mut host = Host {
        opts,
        io,
        sig,
        conns: HashMap::new(),
        timers: BinaryHeap::new(),
        touched: Vec::new(),
        secret,
        chunk: vec![0u8; 64 * 1024],
        done: 0,
        failed: 0,
        failures: Vec::new(),
        half_open_dropped: 0,
        stopping: None,
    };
    match &host.opts.role {
        Role::Server { port, mode, .. } => {
            host.io.announce(&format!(
                "listening on {OURS_V4}:{port} and [{OURS_V6}]:{port} ({mode:?}) on {}; kernel side {KERNEL_V4}, {KERNEL_V6}",
                host.opts.dev
            ));
        }
        Role::Client { connect, .. } => {
            let connect = *connect;
            let ours = if connect.is_ipv6() {
                IpAddr::V6(OURS_V6)
            } else {
                IpAddr::V4(OURS_V4)
            };
            let mut r = [0u8; 2];
            let _ = getrandom::fill(&mut r);
            let lport = 40_000 + u16::from_le_bytes(r) % 20_000;
            let tuple = Tuple {
                local: SocketAddr::new(ours, lport),
                remote: connect,
            };
            let now = host.io.now();
            match Connection::connect(
                host.config(&tuple),
                lport,
                connect.port(),
                host.isn(&tuple),
                now,
            ) {
                Ok(conn) => {
                    host.conns.insert(tuple, Conn::new(conn, tuple));
                    host.touch(tuple);
                    host.io
                        .announce(&format!("{ours}:{lport} connecting to {connect}"));
                }
                Err(e) => {
                    eprintln!("tun: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let result = host.run();
    if let Some(w) = &mut host.io.pcap
        && let Err(e) = w.flush()
    {
        eprintln!("tun: pcap: {e}");
        return ExitCode::FAILURE;
    }
    if !host.opts.profile.is_clean() {
        host.io.say(&format!(
            "impairment: out {:?}, in {:?}",
            host.io.outbound.stats, host.io.inbound.stats
        ));
    }
    host.io.announce(&format!(
        "finished {} connection(s), {} failed; {} connection(s) still open; {} half-open dropped; {} packet(s) ignored",
        host.done,
        host.failed,
        host.conns.len(),
        host.half_open_dropped,
        host.io.ignored
    ));
    let signalled = host.stopping.is_some();
    let code = match result {
        Err(e) => {
            eprintln!("tun: {e}");
            ExitCode::FAILURE
        }
        Ok(Outcome::Unclean(n)) => {
            eprintln!("tun: {n} connection(s) did not close within {GRACE:?}; aborted");
            ExitCode::FAILURE
        }
        // A server stopped by a signal closed everything it had: success,
        // whatever individual clients did before.
        Ok(Outcome::Done) if signalled && matches!(host.opts.role, Role::Server { .. }) => {
            host.io.announce("stopped cleanly");
            ExitCode::SUCCESS
        }
        Ok(Outcome::Done) if host.failed > 0 || (signalled && !host.finished()) => {
            eprintln!("tun: failed: {}", host.failures.join("; "));
            ExitCode::FAILURE
        }
        Ok(Outcome::Done) => {
            host.io.say("all done");
            ExitCode::SUCCESS
        }
    };
    // The device (if ours) goes with the descriptor; addresses we added to
    // an existing device are removed.
    drop(host);
    drop(net);
    code
}
