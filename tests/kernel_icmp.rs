//! Real ICMP from Linux, acting as a router between two TUN devices that
//! our endpoints drive, in a private namespace with forwarding on:
//!
//! ```text
//!   client endpoint ── tcppa ── Linux (router) ── tcppb ── server endpoint
//!   192.0.2.2         MTU 1500  192.0.2.1        MTU 1280  198.51.100.2
//!   2001:db8:a::2               198.51.100.1               2001:db8:b::2
//!                               2001:db8:a::1, 2001:db8:b::1
//! ```
//!
//! (a) Path MTU discovery: the client's full-sized segments (1500-octet
//! packets, DF set by `ip::write_header`) do not fit tcppb; Linux answers
//! with Fragmentation Needed (IPv4, RFC 1191) or Packet Too Big (ICMPv6,
//! RFC 8201), the client lowers its MSS, and the transfer completes with
//! every byte checked. (b) A connect to an address with an `unreachable`
//! route fails from the kernel's Destination Unreachable at once, well
//! before the first SYN retransmission. Every loop is bounded in count and
//! time.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant as StdInstant};

use common::app::fill;
use common::netns::KernelNet;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use tcp_proto::endpoint::{ConnectionHandle, Endpoint, EndpointConfig};
use tcp_proto::ip::{self, IcmpInIp};
use tcp_proto::{CloseReason, Event, IcmpCause, IcmpError, Instant};

const DEV_A: &str = "tcppa";
const DEV_B: &str = "tcppb";
const MTU_B: u32 = 1280;
const PORT: u16 = 5000;
const SEED: u64 = 0x1C_0001;
/// Bulk data for the PMTU transfer.
const N: u64 = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn client(self) -> IpAddr {
        match self {
            Family::V4 => "192.0.2.2".parse().unwrap(),
            Family::V6 => "2001:db8:a::2".parse().unwrap(),
        }
    }
    fn server(self) -> IpAddr {
        match self {
            Family::V4 => "198.51.100.2".parse().unwrap(),
            Family::V6 => "2001:db8:b::2".parse().unwrap(),
        }
    }
    /// An address routed `unreachable` on the router.
    fn nowhere(self) -> IpAddr {
        match self {
            Family::V4 => "198.51.100.200".parse().unwrap(),
            Family::V6 => "2001:db8:b::200".parse().unwrap(),
        }
    }
    fn ip_header(self) -> u32 {
        match self {
            Family::V4 => 20,
            Family::V6 => 40,
        }
    }
}

/// The namespace set up as a router between two TUN devices (see the
/// module docs); `None` after a loud skip without root or TUN.
fn router(test: &str) -> Option<(KernelNet, tun_rs::SyncDevice, tun_rs::SyncDevice)> {
    let net = KernelNet::bare_or_skip(test)?;
    let sh = |cmd: &str| {
        net.exec(&["sh", "-c", cmd])
            .unwrap_or_else(|e| panic!("{test}: {cmd}: {e}"))
    };
    // No link-local addresses (no MLD / RS chatter on the TUNs); forward
    // both families; no reverse-path filter in the way.
    sh("echo 1 > /proc/sys/net/ipv6/conf/default/addr_gen_mode; \
        echo 1 > /proc/sys/net/ipv4/ip_forward; \
        echo 1 > /proc/sys/net/ipv6/conf/all/forwarding; \
        echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter; \
        echo 0 > /proc/sys/net/ipv4/conf/default/rp_filter");
    let open = |name: &'static str| {
        let dev = net
            .run_in(|| tun_rs::DeviceBuilder::new().name(name).build_sync())
            .unwrap_or_else(|e| panic!("{test}: create TUN {name}: {e}"));
        dev.set_nonblocking(true).expect("non-blocking TUN");
        dev
    };
    let a = open(DEV_A);
    let b = open(DEV_B);
    let ip = |args: &[&str]| {
        net.ip(args)
            .unwrap_or_else(|e| panic!("{test}: ip {args:?}: {e}"))
    };
    ip(&["addr", "add", "192.0.2.1/24", "dev", DEV_A]);
    ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:a::1/64",
        "dev",
        DEV_A,
        "nodad",
    ]);
    ip(&["addr", "add", "198.51.100.1/24", "dev", DEV_B]);
    ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:b::1/64",
        "dev",
        DEV_B,
        "nodad",
    ]);
    ip(&[
        "link",
        "set",
        DEV_A,
        "mtu",
        "1500",
        "txqueuelen",
        "8192",
        "up",
    ]);
    let mtu_b = MTU_B.to_string();
    ip(&[
        "link",
        "set",
        DEV_B,
        "mtu",
        &mtu_b,
        "txqueuelen",
        "8192",
        "up",
    ]);
    ip(&["route", "add", "unreachable", "198.51.100.200/32"]);
    ip(&["-6", "route", "add", "unreachable", "2001:db8:b::200/128"]);
    Some((net, a, b))
}

/// One endpoint on one TUN device.
struct Side {
    dev: tun_rs::SyncDevice,
    ep: Endpoint,
    tx: Vec<u8>,
    rx: Vec<u8>,
    /// ICMP errors read from the device, with when they arrived.
    icmp: Vec<(Instant, IcmpInIp)>,
    /// Largest IP packet written, and how many were written.
    largest_out: usize,
    packets_out: u64,
}

impl Side {
    fn new(dev: tun_rs::SyncDevice, secret: u8) -> Side {
        Side {
            dev,
            ep: Endpoint::new(EndpointConfig::linux(), [secret; 16]).expect("endpoint"),
            tx: vec![0u8; ip::MAX_HEADER_LEN + 65_535],
            rx: vec![0u8; 65_535],
            icmp: Vec::new(),
            largest_out: 0,
            packets_out: 0,
        }
    }

    /// Reads what the device has (bounded) into the endpoint.
    fn receive(&mut self, now: Instant) {
        for _ in 0..1024 {
            let n = match self.dev.recv(&mut self.rx) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => panic!("read TUN: {e}"),
            };
            let pkt = &self.rx[..n];
            if let Some(t) = ip::parse(pkt) {
                let seg = bytes::Bytes::copy_from_slice(&pkt[t.tcp]);
                let _ = self.ep.handle_packet(now, t.src, t.dst, &seg);
            } else if let Some(m) = ip::parse_icmp(pkt) {
                self.icmp.push((now, m));
                self.ep
                    .handle_icmp(now, m.local(), m.remote(), m.seq, m.error);
            }
        }
    }

    /// Writes everything the endpoint has to send.
    fn transmit(&mut self, now: Instant) {
        const ROOM: usize = ip::MAX_HEADER_LEN;
        while let Some(r) = self.ep.poll_transmit_into(now, &mut self.tx[ROOM..]) {
            let e = r.expect("encode");
            let pair = e.ip_pair();
            let at = ROOM - ip::header_len(&pair);
            ip::write_header(&mut self.tx[at..], &pair, e.len);
            let pkt = &self.tx[at..ROOM + e.len];
            self.largest_out = self.largest_out.max(pkt.len());
            self.packets_out += 1;
            match self.dev.send(pkt) {
                Ok(_) => {}
                // A full queue loses the packet; TCP resends.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOBUFS) => {}
                Err(e) => panic!("write TUN: {e}"),
            }
        }
    }

    fn timers(&mut self, now: Instant) {
        if self.ep.poll_timeout().is_some_and(|t| t <= now) {
            self.ep.handle_timeout(now);
        }
    }
}

struct Clock(StdInstant);

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_micros(self.0.elapsed().as_micros() as u64)
    }
}

/// Waits until either device is readable, at most `max`.
fn wait(a: &Side, b: &Side, max: Duration) {
    let ms = max.as_millis().clamp(0, 10) as u16;
    let mut fds = [
        PollFd::new(a.dev.as_fd(), PollFlags::POLLIN),
        PollFd::new(b.dev.as_fd(), PollFlags::POLLIN),
    ];
    let _ = poll(&mut fds, PollTimeout::from(ms));
}

fn closed(ev: &[(ConnectionHandle, Event)], h: ConnectionHandle) -> Option<CloseReason> {
    ev.iter().find_map(|(x, e)| match e {
        Event::Closed(r) if *x == h => Some(*r),
        _ => None,
    })
}

/// (a): bulk data from the client (tcppa, MTU 1500) to the server (tcppb,
/// MTU 1280) through Linux; the path MTU comes from Linux's ICMP.
fn pmtu_through_linux(family: Family) {
    let test = format!("kernel_icmp_pmtu_{family:?}").to_lowercase();
    let Some((_net, dev_a, dev_b)) = router(&test) else {
        return;
    };
    let clock = Clock(StdInstant::now());
    let mut a = Side::new(dev_a, 1);
    let mut b = Side::new(dev_b, 2);
    let l = b.ep.listen(None, PORT, 8).expect("listen");
    let now = clock.now();
    let c =
        a.ep.connect(
            now,
            SocketAddr::new(family.client(), 0),
            SocketAddr::new(family.server(), PORT),
        )
        .expect("connect");
    let (mut sent, mut got) = (0u64, 0u64);
    let mut s = None;
    let mut mss_before = None;
    // The smallest MSS the client used, and whether it sent its FIN.
    let mut mss_min = u32::MAX;
    let mut closing = false;
    let (mut client_closed, mut server_eof) = (None, false);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut want = vec![0u8; 64 * 1024];
    let deadline = StdInstant::now() + Duration::from_secs(30);
    let mut rounds = 0u32;
    while client_closed.is_none() || !server_eof {
        rounds += 1;
        assert!(
            rounds < 500_000 && StdInstant::now() < deadline,
            "{test}: not done after {rounds} rounds: sent {sent}, got {got}, ICMP {:?}",
            a.icmp
        );
        let now = clock.now();
        a.timers(now);
        b.timers(now);
        a.receive(now);
        b.receive(now);
        // Client: the pattern as room allows; FIN after the last octet.
        if let Ok(conn) = a.ep.connection_ref(c)
            && conn.state() == tcp_proto::State::Established
        {
            mss_before.get_or_insert(conn.tcp_info(now).snd_mss);
            while sent < N {
                let room = a.ep.connection_ref(c).map_or(0, |c| c.send_capacity());
                let n = (N - sent).min(room as u64).min(chunk.len() as u64) as usize;
                if n == 0 {
                    break;
                }
                fill(SEED, sent, &mut chunk[..n]);
                sent += a.ep.send(c, &chunk[..n]).expect("send") as u64;
            }
            if sent == N && !closing {
                a.ep.close(now, c).expect("close");
                closing = true;
            }
        }
        // In any state after the handshake (the FIN may be queued already
        // when the ICMP comes).
        if let Ok(conn) = a.ep.connection_ref(c)
            && mss_before.is_some()
        {
            mss_min = mss_min.min(conn.tcp_info(now).snd_mss);
        }
        // Server: every octet checked against the pattern; close at EOF.
        if s.is_none() {
            s = b.ep.accept(l);
        }
        if let Some(h) = s {
            loop {
                match b.ep.recv(h, &mut chunk) {
                    Ok(0) => {
                        if !server_eof {
                            server_eof = true;
                            let _ = b.ep.close(now, h);
                        }
                        break;
                    }
                    Ok(n) => {
                        fill(SEED, got, &mut want[..n]);
                        assert!(chunk[..n] == want[..n], "{test}: octets {got}.. differ");
                        got += n as u64;
                    }
                    Err(_) => break,
                }
            }
        }
        a.transmit(now);
        b.transmit(now);
        while let Some((h, e)) = a.ep.poll_event() {
            if let Some(r) = closed(&[(h, e)], c) {
                client_closed = Some(r);
            }
        }
        while b.ep.poll_event().is_some() {}
        let soonest = [a.ep.poll_timeout(), b.ep.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .map_or(Duration::from_millis(10), |t| {
                Duration::from_micros(t.total_micros().saturating_sub(clock.now().total_micros()))
            });
        wait(&a, &b, soonest);
    }
    let elapsed = clock.0.elapsed();
    assert_eq!(got, N, "{test}: every octet arrives");
    assert_eq!(client_closed, Some(CloseReason::Normal), "{test}");
    let ptb: Vec<&(Instant, IcmpInIp)> = a
        .icmp
        .iter()
        .filter(|(_, m)| matches!(m.error, IcmpError::PacketTooBig { .. }))
        .collect();
    let (first_at, first) = *ptb
        .first()
        .unwrap_or_else(|| panic!("{test}: Linux sent no Packet Too Big: {:?}", a.icmp));
    assert_eq!(
        first.error,
        IcmpError::PacketTooBig {
            mtu: MTU_B,
            ipv6: family == Family::V6
        },
        "{test}"
    );
    let before = mss_before.expect("established");
    let st = a.ep.stats();
    // The connection's numbers are gone with it: the endpoint counted the
    // hand-over, and what the client sent afterwards fit the path.
    assert!(st.icmp_to_connections >= 1, "{test}: {st:?}");
    // 1280 less the IP and TCP headers and the timestamps option.
    let after = MTU_B - family.ip_header() - 20 - 12;
    assert!(before > after, "{test}: MSS {before} was already small");
    assert_eq!(mss_min, after, "{test}: the MSS after Linux's ICMP");
    eprintln!(
        "{test}: {} Packet Too Big from Linux (first at {:.1} ms: {:?} quoting seq {}), MSS {before} -> {mss_min}; \
         {N} octets in {:.0} ms, {} packets out, largest {} octets",
        ptb.len(),
        first_at.total_micros() as f64 / 1000.0,
        first.error,
        first.seq.0,
        elapsed.as_secs_f64() * 1000.0,
        a.packets_out,
        a.largest_out,
    );
}

/// (b): a connect to an address the router has an `unreachable` route for.
fn unreachable_through_linux(family: Family) {
    let test = format!("kernel_icmp_unreachable_{family:?}").to_lowercase();
    let Some((_net, dev_a, dev_b)) = router(&test) else {
        return;
    };
    let clock = Clock(StdInstant::now());
    let mut a = Side::new(dev_a, 1);
    let b = Side::new(dev_b, 2);
    let c =
        a.ep.connect(
            clock.now(),
            SocketAddr::new(family.client(), 0),
            SocketAddr::new(family.nowhere(), PORT),
        )
        .expect("connect");
    let deadline = StdInstant::now() + Duration::from_secs(5);
    let mut reason = None;
    for _ in 0..100_000 {
        let now = clock.now();
        a.timers(now);
        a.receive(now);
        a.transmit(now);
        while let Some((h, e)) = a.ep.poll_event() {
            if let Some(r) = closed(&[(h, e)], c) {
                reason = Some((now, r));
            }
        }
        if reason.is_some() || StdInstant::now() > deadline {
            break;
        }
        wait(&a, &b, Duration::from_millis(10));
    }
    let (at, r) = reason.unwrap_or_else(|| {
        panic!(
            "{test}: the connect did not end within 5 s; ICMP {:?}",
            a.icmp
        )
    });
    assert_eq!(r, CloseReason::Unreachable, "{test}: ICMP {:?}", a.icmp);
    let (_, m) = a.icmp.first().expect("the kernel's ICMP");
    let want = match family {
        // RTN_UNREACHABLE: EHOSTUNREACH, ICMP Host Unreachable.
        Family::V4 => IcmpCause::HostUnreachable,
        // ICMPv6 Destination Unreachable, no route.
        Family::V6 => IcmpCause::NetUnreachable,
    };
    assert_eq!(m.error, IcmpError::Unreachable(want), "{test}");
    // Well before the SYN's first retransmission (1 s): one SYN only.
    assert!(at < Instant::from_millis(500), "{test}: took {at:?}");
    assert_eq!(a.packets_out, 1, "{test}: the SYN alone");
    assert!(a.ep.connection_ref(c).is_err(), "{test}: handle freed");
    eprintln!(
        "{test}: {:?} from Linux, connect ended {r:?} after {:.2} ms",
        m.error,
        at.total_micros() as f64 / 1000.0
    );
}

#[test]
fn kernel_icmp_fragmentation_needed_lowers_the_mss_and_the_transfer_completes() {
    pmtu_through_linux(Family::V4);
}

#[test]
fn kernel_icmpv6_packet_too_big_lowers_the_mss_and_the_transfer_completes() {
    pmtu_through_linux(Family::V6);
}

#[test]
fn kernel_icmp_host_unreachable_ends_a_connect_at_once() {
    unreachable_through_linux(Family::V4);
}

#[test]
fn kernel_icmpv6_no_route_ends_a_connect_at_once() {
    unreachable_through_linux(Family::V6);
}
