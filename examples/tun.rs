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
//! [--connections N] [--backlog N] [--syn-backlog N]`, `client --connect ADDR:PORT --send-bytes N
//! [--expect-echo] [--ipv6]`; common: `--dev NAME` (default tcpp0),
//! `--loss P --reorder P --dup P --seed S` (impairment applied in both
//! directions), `--pcap FILE`, `--tsg FILE` (with `--pcap`: at exit, the
//! time-sequence graph of the capture's busiest direction as SVG),
//! `--time-wait-ms MS`, `--timeout-s S`, `--quiet`.
//!
//! Every connection lives in one `tcp_proto::endpoint::Endpoint`: it
//! demultiplexes by the full 4-tuple, listens with a bounded SYN queue and
//! answers with SYN cookies when it is full (`--syn-backlog N`), keeps
//! TIME-WAIT in compact entries (a new SYN may reopen one, RFC 6191), picks
//! ISNs per RFC 6528 with a key this program draws from the OS, and has one
//! deadline for all its timers. Segments are encoded straight into a reused
//! buffer behind their IP header; packets read from the device are cut from
//! one reused arena. The program owns the device, the clock and the
//! applications (echo, discard, http, or the client).
//!
//! The server answers IPv4 and IPv6 at once, serves any number of clients
//! concurrently and runs until SIGINT or SIGTERM, or until
//! `--connections N` connections have finished. On a
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
//! away with its addresses).

#[path = "../tests/common/app.rs"]
#[allow(dead_code)]
mod app;
#[path = "../tests/common/impair.rs"]
#[allow(dead_code)]
mod impair;

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::process::{Command, ExitCode};
use std::time::Duration;

use app::{Fnv, fill};
use bytes::{Bytes, BytesMut};
use impair::{Impair, Profile};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use tcp_proto::endpoint::{ConnectionHandle, Endpoint, EndpointConfig, ListenerHandle};
use tcp_proto::plot::Tsg;
use tcp_proto::{CloseReason, Ecn, Event, Instant, State, ip, pcap};

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
        /// Established connections waiting to be accepted, at most.
        backlog: usize,
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
    /// Where to draw the capture's time-sequence graph at exit.
    tsg: Option<String>,
    quiet: bool,
    time_wait: Duration,
    timeout: Option<Duration>,
    /// Half-open entries per listener before SYN cookies answer.
    syn_backlog: Option<usize>,
}

const USAGE: &str = "usage:
  tun server [--port P] [--mode echo|discard|http] [--body-bytes N] [--connections N]
             [--backlog N] [--syn-backlog N]
  tun client --connect ADDR:PORT --send-bytes N [--expect-echo] [--ipv6]
common: [--dev NAME] [--loss P] [--reorder P] [--dup P] [--seed S] [--pcap FILE [--tsg FILE]]
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
            backlog: num("backlog", take("backlog"), 4096)?,
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
        tsg: take("tsg"),
        quiet: has("quiet"),
        time_wait: Duration::from_millis(num("time-wait-ms", take("time-wait-ms"), 2000)?),
        timeout,
        syn_backlog: match take("syn-backlog") {
            None => None,
            Some(s) => Some(s.parse().map_err(|_| format!("bad --syn-backlog {s}"))?),
        },
    };
    if let Some(k) = kv.keys().next() {
        return Err(format!("unknown option --{k}"));
    }
    if opts.tsg.is_some() && opts.pcap.is_none() {
        return Err("--tsg draws the capture: it needs --pcap FILE".to_owned());
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
// IP framing (tcp_proto::ip): the header is written in place in front of
// the segment the endpoint encoded (no allocation).

/// Room left in front of an encoded segment for its IP header.
const IP_ROOM: usize = ip::MAX_HEADER_LEN;

// ---------------------------------------------------------------------------
// The host: one Endpoint for every connection, an application per handle.

/// The application side of one connection.
struct App {
    remote: SocketAddr,
    /// Octets read, and their hash.
    received: u64,
    rx_hash: Fnv,
    /// Octets queued so far (client: pattern; server: echo or response).
    sent: u64,
    /// Echo: read but not yet queued back.
    pending: Vec<u8>,
    /// HTTP: the request so far.
    request: Vec<u8>,
    /// HTTP: the response header, once the request is complete; the body
    /// is generated as it is sent.
    response: Option<Vec<u8>>,
    /// HTTP: header and body length.
    response_len: u64,
    closed_app: bool,
    saw_eof: bool,
    /// Queued for `run_apps` already.
    touched: bool,
}

impl App {
    fn new(remote: SocketAddr) -> App {
        App {
            remote,
            received: 0,
            rx_hash: Fnv::default(),
            sent: 0,
            pending: Vec::new(),
            request: Vec::new(),
            response: None,
            response_len: 0,
            closed_app: false,
            saw_eof: false,
            touched: false,
        }
    }

    /// Whether the application has more to do without news from the peer
    /// (echo data waiting for send room, a response not yet queued).
    fn busy(&self) -> bool {
        !self.closed_app
            && (!self.pending.is_empty()
                || (self.response.is_some() && self.sent < self.response_len))
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
    inbound: Impair<Inbound>,
    pcap: Option<std::io::BufWriter<std::fs::File>>,
    /// Where segments are encoded (IP header in front): reused.
    tx: Vec<u8>,
    /// One pcap record: reused.
    rec: Vec<u8>,
    /// Inbound packets land here; each is split off as `Bytes` (the storage
    /// is reused once the endpoint let go of earlier packets).
    rx: BytesMut,
    /// Inbound packets that were neither TCP nor an ICMP error about TCP.
    ignored: u64,
    /// ICMP and ICMPv6 errors about our segments handed to the endpoint.
    icmp: u64,
    /// The device's MTU: the largest packet a read returns.
    mtu: usize,
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

    /// Everything the endpoint has to send, encoded in place behind its IP
    /// header and written (through the impairment stage when there is one).
    fn transmit(&mut self, now: Instant, ep: &mut Endpoint) -> Result<(), String> {
        let mut tx = std::mem::take(&mut self.tx);
        let mut result = Ok(());
        while let Some(r) = ep.poll_transmit_into(now, &mut tx[IP_ROOM..]) {
            let e = match r {
                Ok(e) => e,
                Err(err) => {
                    result = Err(format!("encode: {err}"));
                    break;
                }
            };
            let pair = e.ip_pair();
            let at = IP_ROOM - ip::header_len(&pair);
            // ECN, DSCP and TTL as the connection chose them.
            ip::write_header_with(&mut tx[at..], &pair, e.len, ep.transmit_ip());
            let pkt = &tx[at..IP_ROOM + e.len];
            if self.clean {
                if let Err(err) = self.write(now, pkt) {
                    result = Err(err);
                    break;
                }
            } else {
                self.outbound.push(now, pkt.to_vec());
            }
        }
        self.tx = tx;
        result?;
        while let Some(pkt) = self.outbound.pop_ready(now) {
            self.write(now, &pkt)?;
        }
        Ok(())
    }

    /// Reads what the device has (at most `max` packets) into the inbound stage.
    fn receive(&mut self, max: usize) -> Result<(), String> {
        for _ in 0..max {
            self.rx.resize(self.mtu, 0);
            let n = match self.tun.recv(&mut self.rx) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("read {}: {e}", self.dev)),
            };
            self.rx.truncate(n);
            let pkt = self.rx.split().freeze();
            // Keep the arena's storage: `reserve` reuses it once every
            // packet cut from it is gone, else it takes a fresh block.
            self.rx.reserve(ARENA);
            let now = self.now();
            self.record(now, &pkt)?;
            if let Some(t) = ip::parse(&pkt) {
                self.inbound
                    .push(now, Inbound::Tcp(t.src, t.dst, t.ecn, pkt.slice(t.tcp)));
            } else if let Some(m) = ip::parse_icmp(&pkt) {
                // A router (or the peer) about a segment we sent: Packet
                // Too Big lowers the MSS, an unreachable destination ends
                // a connect early (RFC 9293 §3.9.2.2).
                self.icmp += 1;
                self.inbound.push(now, Inbound::Icmp(m));
            } else {
                self.ignored += 1;
            }
        }
        Ok(())
    }
}

/// A packet read from the device, on its way to the endpoint.
#[derive(Clone)]
enum Inbound {
    /// A TCP segment (header and payload) from `src` to `dst`, with the
    /// ECN field of its IP header.
    Tcp(IpAddr, IpAddr, Ecn, Bytes),
    /// An ICMP or ICMPv6 error about a segment we sent.
    Icmp(ip::IcmpInIp),
}

/// Largest packet read from the device.
const MAX_PACKET: usize = 65_535;
/// Storage the inbound arena keeps at hand.
const ARENA: usize = 1 << 20;

struct Host {
    opts: Opts,
    io: Io,
    sig: SignalFd,
    ep: Endpoint,
    listener: Option<ListenerHandle>,
    apps: HashMap<ConnectionHandle, App>,
    touched: Vec<ConnectionHandle>,
    /// Applications with work of their own left (run again next round).
    busy: Vec<ConnectionHandle>,
    chunk: Vec<u8>,
    /// Connections finished (judged), and the failures among them.
    done: u32,
    failed: u32,
    failures: Vec<String>,
    /// The most half-open entries seen at once.
    max_half_open: usize,
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
    fn touch(&mut self, h: ConnectionHandle) {
        if let Some(a) = self.apps.get_mut(&h)
            && !a.touched
        {
            a.touched = true;
            self.touched.push(h);
        }
    }

    /// New connections from the listener get an application.
    fn accept(&mut self) {
        let Some(l) = self.listener else {
            return;
        };
        while let Some(h) = self.ep.accept(l) {
            let Ok((local, remote)) = self.ep.addresses(h) else {
                continue;
            };
            self.io.say(&format!("{remote} accepted (to {local})"));
            self.apps.insert(h, App::new(remote));
            self.touch(h);
        }
    }

    /// Events: printed; those that call for the application queue it.
    fn events(&mut self) {
        while let Some((h, ev)) = self.ep.poll_event() {
            let who = self
                .apps
                .get(&h)
                .map(|a| a.remote.to_string())
                .unwrap_or_else(|| format!("#{}", h.index()));
            match ev {
                Event::StateChanged { from, to } => self.io.say(&format!("{who} {from} -> {to}")),
                Event::Connected => self.io.say(&format!("{who} connected")),
                Event::PeerFinished => self.io.say(&format!("{who} peer finished (FIN)")),
                Event::Readable | Event::Writable => {}
                Event::Icmp(cause) => self.io.say(&format!("{who} ICMP: {cause:?}")),
                Event::DeliveryProblem => {
                    self.io.say(&format!("{who} retransmitting (R1 reached)"))
                }
                Event::Closed(r) => {
                    // The last event of a handle (TIME-WAIT, if any, is the
                    // endpoint's now).
                    self.io.say(&format!("{who} closed: {r:?}"));
                    if let Some(a) = self.apps.remove(&h) {
                        self.judge(&a, r);
                    }
                    continue;
                }
            }
            self.touch(h);
        }
    }

    /// Runs the application of every queued connection (and of those that
    /// still have work of their own).
    fn run_apps(&mut self, now: Instant) {
        for h in std::mem::take(&mut self.busy) {
            self.touch(h);
        }
        while let Some(h) = self.touched.pop() {
            let Some(mut a) = self.apps.remove(&h) else {
                continue;
            };
            a.touched = false;
            self.app(now, h, &mut a);
            if a.busy() {
                self.busy.push(h);
            }
            self.apps.insert(h, a);
        }
    }

    /// The application of one connection: read, send, close.
    fn app(&mut self, now: Instant, h: ConnectionHandle, a: &mut App) {
        if a.closed_app {
            return;
        }
        let ep = &mut self.ep;
        let chunk = &mut self.chunk;
        let stopping = self.stopping.is_some();
        let echo = matches!(
            self.opts.role,
            Role::Server {
                mode: Mode::Echo,
                ..
            }
        );
        // Read what is available (echo: while little is waiting to go back),
        // and echo it, until neither moves: the receive side raises no
        // new event for data it already holds, so an echo that stopped
        // reading at its limit must read again once its backlog has gone
        // out, or a peer waiting on our window and we on its data wait for
        // each other (the peer's probes only learn our window is closed).
        loop {
            let mut moved = false;
            while a.pending.len() < ECHO_PENDING_MAX {
                match ep.recv(h, chunk) {
                    Ok(0) => {
                        a.saw_eof = true;
                        break;
                    }
                    Ok(n) => {
                        a.rx_hash.update(&chunk[..n]);
                        a.received += n as u64;
                        match self.opts.role {
                            Role::Server {
                                mode: Mode::Echo, ..
                            } => a.pending.extend_from_slice(&chunk[..n]),
                            Role::Server {
                                mode: Mode::Http, ..
                            } if a.response.is_none() => a.request.extend_from_slice(&chunk[..n]),
                            _ => {}
                        }
                    }
                    Err(_) => break,
                }
                moved = true;
            }
            if echo
                && !a.pending.is_empty()
                && let Ok(k) = ep.send(h, &a.pending)
                && k > 0
            {
                a.pending.drain(..k);
                a.sent += k as u64;
                moved = true;
            }
            if !moved || !echo || a.saw_eof {
                break;
            }
        }
        let established = ep
            .connection_ref(h)
            .is_ok_and(|c| c.state() == State::Established);
        match &self.opts.role {
            Role::Client { send_bytes, .. } => {
                while a.sent < *send_bytes && !stopping {
                    let room = ep
                        .connection_ref(h)
                        .map_or(0, |c| c.send_capacity())
                        .min(chunk.len());
                    let n = (*send_bytes - a.sent).min(room as u64) as usize;
                    if n == 0 {
                        break;
                    }
                    fill(SEED, a.sent, &mut chunk[..n]);
                    match ep.send(h, &chunk[..n]) {
                        Ok(k) => a.sent += k as u64,
                        Err(_) => break,
                    }
                }
                if (a.sent == *send_bytes || stopping) && established {
                    // Half-close: the server learns we are done; we read on.
                    let _ = ep.shutdown_write(h);
                }
                if (a.saw_eof && a.sent == *send_bytes) || stopping {
                    let _ = ep.close(now, h);
                    a.closed_app = true;
                }
            }
            Role::Server {
                mode, body_bytes, ..
            } => {
                if *mode == Mode::Http
                    && a.response.is_none()
                    && a.request.windows(4).any(|w| w == b"\r\n\r\n")
                {
                    let r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {body_bytes}\r\nConnection: close\r\n\r\n"
                    )
                    .into_bytes();
                    a.response_len = r.len() as u64 + body_bytes;
                    a.response = Some(r);
                }
                if let Some(head) = &a.response {
                    // The header, then the body pattern, as room allows.
                    while a.sent < a.response_len {
                        let at = a.sent as usize;
                        let r = if at < head.len() {
                            ep.send(h, &head[at..])
                        } else {
                            let off = a.sent - head.len() as u64;
                            let n = (a.response_len - a.sent).min(chunk.len() as u64) as usize;
                            fill(SEED, off, &mut chunk[..n]);
                            ep.send(h, &chunk[..n])
                        };
                        match r {
                            Ok(k) if k > 0 => a.sent += k as u64,
                            _ => break,
                        }
                    }
                    if a.sent == a.response_len {
                        // The server closes first (HTTP/1.1, Connection: close).
                        let _ = ep.close(now, h);
                        a.closed_app = true;
                    }
                } else if (a.saw_eof || stopping) && a.pending.is_empty() {
                    // Shutting down: what was read is echoed, then FIN.
                    let _ = ep.close(now, h);
                    a.closed_app = true;
                }
            }
        }
    }

    /// Records the end of one connection.
    fn judge(&mut self, a: &App, reason: CloseReason) {
        self.done += 1;
        match self.verdict(a, reason) {
            Ok(summary) => self.io.say(&format!("{} OK: {summary}", a.remote)),
            Err(why) => {
                self.io.say(&format!("{} FAILED: {why}", a.remote));
                self.failed += 1;
                if self.failures.len() < 20 {
                    self.failures.push(format!("{}: {why}", a.remote));
                }
            }
        }
    }

    fn verdict(&self, a: &App, reason: CloseReason) -> Result<String, String> {
        if reason != CloseReason::Normal {
            return Err(format!("closed with {reason:?}"));
        }
        let summary = format!(
            "sent {} octets, received {} octets (FNV {:016x})",
            a.sent, a.received, a.rx_hash.0
        );
        match &self.opts.role {
            Role::Client {
                send_bytes,
                expect_echo,
                ..
            } => {
                if a.sent != *send_bytes {
                    return Err(format!("sent {} of {send_bytes} octets", a.sent));
                }
                if *expect_echo
                    && (a.received != *send_bytes
                        || a.rx_hash != Fnv::of_pattern(SEED, *send_bytes))
                {
                    return Err(format!(
                        "echo mismatch: got {} octets back, hash {:016x}",
                        a.received, a.rx_hash.0
                    ));
                }
            }
            Role::Server { mode, .. } => match mode {
                Mode::Echo if a.sent != a.received => {
                    return Err(format!("echoed {} of {} octets", a.sent, a.received));
                }
                Mode::Http if a.response.is_none() => {
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
    /// concerned (our FIN acknowledged: FIN-WAIT-2, or gone).
    fn all_closed(&self) -> bool {
        self.apps.keys().all(|h| {
            self.ep.connection_ref(*h).map_or(true, |c| {
                matches!(c.state(), State::Closed | State::TimeWait | State::FinWait2)
            })
        })
    }

    fn begin_shutdown(&mut self, now: Instant, sig: &str) {
        self.io.announce(&format!(
            "{sig}: closing {} connection(s), no longer listening",
            self.apps.len()
        ));
        self.stopping = Some(now + GRACE);
        // Half-open entries are forgotten and unaccepted connections reset,
        // as Linux does when a listener closes.
        if let Some(l) = self.listener.take() {
            let _ = self.ep.unlisten(l);
        }
        let all: Vec<ConnectionHandle> = self.apps.keys().copied().collect();
        for h in all {
            self.touch(h);
        }
    }

    /// One round of work at `now`: timers, input, the applications, output.
    fn step(&mut self, now: Instant) -> Result<(), String> {
        if self.ep.poll_timeout().is_some_and(|t| t <= now) {
            self.ep.handle_timeout(now);
        }
        while let Some(p) = self.io.inbound.pop_ready(now) {
            match p {
                // A bad checksum or header is counted by the endpoint.
                Inbound::Tcp(src, dst, ecn, tcp) => {
                    let _ = self.ep.handle_packet_ecn(now, src, dst, &tcp, ecn);
                }
                Inbound::Icmp(m) => {
                    self.io.say(&format!(
                        "ICMP about {} -> {}: {:?}",
                        m.local(),
                        m.remote(),
                        m.error
                    ));
                    self.ep
                        .handle_icmp(now, m.local(), m.remote(), m.seq, m.error);
                }
            }
        }
        self.max_half_open = self.max_half_open.max(self.ep.counts().half_open);
        // Applications can make events that call for the application again
        // (a close completing, say): a few rounds, bounded.
        for _ in 0..4 {
            self.accept();
            self.events();
            if self.touched.is_empty() && self.busy.is_empty() {
                break;
            }
            self.run_apps(now);
        }
        self.io.transmit(now, &mut self.ep)?;
        self.events();
        Ok(())
    }

    fn run(&mut self) -> Result<Outcome, String> {
        let deadline = self.opts.timeout.map(|t| self.io.start + t);
        loop {
            let now = self.io.now();
            self.step(now)?;
            if self.finished() {
                // Done as asked: stop listening, and wait out TIME-WAIT so a
                // lost last ACK is still answered (a signal cuts it short).
                if let Some(l) = self.listener.take() {
                    let _ = self.ep.unlisten(l);
                }
                if self.ep.counts().time_wait == 0 || self.stopping.is_some() {
                    return Ok(Outcome::Done);
                }
            }
            if let Some(stop) = self.stopping {
                if self.all_closed() {
                    // What is left has closed our side (FIN acknowledged).
                    let left: Vec<(ConnectionHandle, App)> = self.apps.drain().collect();
                    for (_, a) in &left {
                        self.judge(a, CloseReason::Normal);
                    }
                    return Ok(Outcome::Done);
                }
                if now >= stop {
                    let left: Vec<ConnectionHandle> = self.apps.keys().copied().collect();
                    for h in &left {
                        let _ = self.ep.abort(*h);
                    }
                    self.io.transmit(now, &mut self.ep)?;
                    return Ok(Outcome::Unclean(left.len()));
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
                .ep
                .poll_timeout()
                .into_iter()
                .chain(self.io.outbound.next_deadline())
                .chain(self.io.inbound.next_deadline())
                .chain(self.stopping);
            for t in soonest {
                wait = wait.min(t.saturating_duration_since(now));
            }
            if !self.busy.is_empty() {
                wait = wait.min(Duration::from_millis(1));
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
            if tun_ready {
                // Bounded per round so timers and transmits keep their turn.
                self.io.receive(256)?;
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
    // The endpoint's key (ISNs, demux hash, cookies, ephemeral ports): from
    // the OS, since the crate draws nothing itself.
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
    // The device's MTU (one the user made may not be 1500): the largest
    // packet a read returns, and what the MSS we advertise must fit.
    let mtu = std::fs::read_to_string(format!("/sys/class/net/{}/mtu", opts.dev))
        .ok()
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(1500usize)
        .clamp(1280, MAX_PACKET);
    let mut cfg = EndpointConfig::linux();
    cfg.connection.time_wait = opts.time_wait;
    cfg.fit_mss_to_mtu(mtu);
    if let Some(n) = opts.syn_backlog {
        cfg.max_syn_backlog = n;
    }
    let ep = match Endpoint::new(cfg, secret) {
        Ok(ep) => ep,
        Err(e) => {
            eprintln!("tun: endpoint: {e}");
            return ExitCode::from(2);
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
        tx: vec![0u8; IP_ROOM + MAX_PACKET],
        rec: Vec::with_capacity(2048),
        rx: BytesMut::with_capacity(ARENA),
        ignored: 0,
        icmp: 0,
        mtu,
    };
    let mut host = Host {
        opts,
        io,
        sig,
        ep,
        listener: None,
        apps: HashMap::new(),
        touched: Vec::new(),
        busy: Vec::new(),
        chunk: vec![0u8; 64 * 1024],
        done: 0,
        failed: 0,
        failures: Vec::new(),
        max_half_open: 0,
        stopping: None,
    };
    match &host.opts.role {
        Role::Server {
            port,
            mode,
            backlog,
            ..
        } => {
            // One listener for every address and both families.
            match host.ep.listen(None, *port, *backlog) {
                Ok(l) => host.listener = Some(l),
                Err(e) => {
                    eprintln!("tun: listen: {e}");
                    return ExitCode::FAILURE;
                }
            }
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
            let now = host.io.now();
            // Port 0: the endpoint picks an ephemeral port (RFC 6056).
            match host.ep.connect(now, SocketAddr::new(ours, 0), connect) {
                Ok(h) => {
                    let local = host
                        .ep
                        .addresses(h)
                        .map_or(SocketAddr::new(ours, 0), |(l, _)| l);
                    host.apps.insert(h, App::new(connect));
                    host.touch(h);
                    host.io
                        .announce(&format!("{local} connecting to {connect}"));
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
    if let (Some(out), Some(capture)) = (&host.opts.tsg, &host.opts.pcap) {
        let drawn = std::fs::read(capture)
            .map_err(|e| e.to_string())
            .and_then(|f| Tsg::from_pcap(&f).map_err(|e| e.to_string()))
            .and_then(|g| std::fs::write(out, g.to_svg()).map_err(|e| e.to_string()));
        match drawn {
            Ok(()) => host.io.announce(&format!("time-sequence graph in {out}")),
            Err(e) => eprintln!("tun: --tsg {out}: {e}"),
        }
    }
    if !host.opts.profile.is_clean() {
        host.io.say(&format!(
            "impairment: out {:?}, in {:?}",
            host.io.outbound.stats, host.io.inbound.stats
        ));
    }
    let st = host.ep.stats();
    host.io.announce(&format!(
        "finished {} connection(s), {} failed; {} connection(s) still open; {} packet(s) ignored; {} ICMP error(s) ({} to connections, {} half-open dropped, {} ignored)",
        host.done,
        host.failed,
        host.apps.len(),
        host.io.ignored + st.malformed,
        host.io.icmp,
        st.icmp_to_connections,
        st.icmp_half_open_dropped,
        st.icmp_ignored,
    ));
    host.io.announce(&format!(
        "endpoint: {} SYNs, {} half-open at most, {} SYN cookies sent, {} accepted, {} rejected, {} half-open expired, {} handshakes, {} TIME-WAIT entered, {} reopened, {} RSTs sent",
        st.syns_received,
        host.max_half_open,
        st.cookies_sent,
        st.cookies_accepted,
        st.cookies_rejected,
        st.half_open_expired,
        st.handshakes_completed,
        st.time_wait_entered,
        st.time_wait_reopened,
        st.resets_sent,
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
            host.io.announce("all done");
            ExitCode::SUCCESS
        }
    };
    // The device (if ours) goes with the descriptor; addresses we added to
    // an existing device are removed.
    drop(host);
    drop(net);
    code
}
