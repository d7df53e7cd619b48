//! The Endpoint at scale.
//!
//! - `setup`: N established connections in one server `Endpoint` (N = 1,000,000
//!   by default, `ENDPOINT_CONNS` to change), built by a hand-driven peer
//!   (SYN, then the ACK of the SYN-ACK, both with timestamps, from N distinct
//!   4-tuples): time per handshake, heap octets per idle connection (the
//!   endpoint's own count, and the process RSS growth).
//! - `segment/1` and `segment/N`: one in-order 64-octet data segment to a
//!   connection (a scattered walk over all of them at N), the application
//!   reads it, and the endpoint's output (one ACK) is drained.
//! - `timers/1` and `timers/N`: every connection holds a keep-alive timer
//!   (the heap holds N entries, deadlines 1 µs apart); `poll_timeout` finds
//!   the earliest, `handle_timeout` fires it (a probe goes out, the timer
//!   re-arms 75 s later), the output is drained.
//! - `syn`: SYNs per second at a listener, SYN-queue path and cookie path.
//!
//! smoltcp has no counterpart (one socket per connection in a `SocketSet`
//! that `poll` walks in full), so these figures stand alone; the per-connection
//! figures of `lifecycle` and `bulk` are the side-by-side ones.
//!
//! Instruction counts (callgrind): `ENDPOINT_ONLY=segment ENDPOINT_CONNS=n
//! ENDPOINT_SEGMENTS=m` runs the setup and then `m` segments in
//! `measured_segments`, nothing else (`ENDPOINT_ONLY=timers`: `m` timer
//! firings in `measured_timers`); `benches/endpoint_callgrind.sh` runs it
//! under `valgrind --tool=callgrind --toggle-collect=*measured_segments*`
//! for n = 1 and n = N and prints instructions per segment.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant as WallInstant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use tcp_proto::endpoint::{ConnectionHandle, Endpoint, EndpointConfig, SynCookies};
use tcp_proto::wire::Timestamps;
use tcp_proto::{Flags, Instant, Keepalive, Segment, SeqNum};

const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

/// The peer side of one connection, kept by the bench (not an endpoint).
#[derive(Clone, Copy)]
struct Peer {
    ip: IpAddr,
    port: u16,
    snd_nxt: SeqNum,
    rcv_nxt: SeqNum,
    handle: ConnectionHandle,
}

fn peer_addr(i: usize) -> (IpAddr, u16) {
    // 250 addresses × up to 64k ports: distinct 4-tuples for any N ≤ 16M.
    let ip = IpAddr::V4(Ipv4Addr::new(
        198,
        51,
        (100 + i % 2) as u8,
        (1 + (i / 2) % 250) as u8,
    ));
    (ip, 1024 + (i / 500) as u16)
}

fn cfg(keepalive: bool) -> EndpointConfig {
    let mut c = EndpointConfig::linux();
    c.max_connections = 4 << 20;
    c.max_syn_backlog = 1 << 20;
    c.max_half_open = 1 << 20;
    c.syn_cookies = SynCookies::Off;
    // Every data segment is ACKed at once, at any N: the protocol work per
    // segment is the same whether a connection sees its first segment or
    // its millionth (with delayed ACKs, quick-ACK at connection start would
    // make the first segments of each connection dearer than the rest).
    c.connection.delayed_ack = None;
    if keepalive {
        // Probes never give up: each firing sends a probe and re-arms.
        c.connection.keepalive = Some(Keepalive {
            idle: Duration::from_secs(7200),
            interval: Duration::from_secs(75),
            probes: u32::MAX,
        });
    }
    c
}

fn syn(port: u16, seq: SeqNum, tsval: u32) -> Segment {
    let mut s = Segment {
        src_port: port,
        dst_port: 80,
        seq,
        flags: Flags::SYN,
        window: 64240,
        ..Segment::default()
    };
    s.options.mss = Some(1460);
    s.options.window_scale = Some(7);
    s.options.sack_permitted = true;
    s.options.timestamps = Some(Timestamps { val: tsval, ecr: 0 });
    s
}

/// A server endpoint with `n` established connections.
fn build(n: usize, keepalive: bool) -> (Endpoint, Vec<Peer>, Instant) {
    let mut e = Endpoint::new(cfg(keepalive), [42; 16]).unwrap();
    let l = e.listen(None, 80, n + 1).unwrap();
    let now = Instant::from_secs(10);
    let mut peers = Vec::with_capacity(n);
    for i in 0..n {
        // With keep-alive, handshakes 1 µs apart: the deadlines are distinct.
        let now = if keepalive {
            now + Duration::from_micros(i as u64)
        } else {
            now
        };
        let (ip, port) = peer_addr(i);
        let isn = SeqNum((i as u32).wrapping_mul(2_654_435_761));
        e.handle_segment(now, ip, SERVER, syn(port, isn, 1));
        let synack = e.poll_transmit(now).expect("SYN-ACK").segment;
        let mut ack = Segment {
            src_port: port,
            dst_port: 80,
            seq: isn.add(1),
            ack: synack.seq.add(1),
            flags: Flags::ACK,
            window: 502,
            ..Segment::default()
        };
        ack.options.timestamps = Some(Timestamps {
            val: 2,
            ecr: synack.options.timestamps.map_or(0, |t| t.val),
        });
        e.handle_segment(now, ip, SERVER, ack);
        let handle = e.accept(l).expect("established");
        while e.poll_event().is_some() {}
        peers.push(Peer {
            ip,
            port,
            snd_nxt: isn.add(1),
            rcv_nxt: synack.seq.add(1),
            handle,
        });
    }
    // Each completed handshake left its half-open entry's heap entry behind
    // (lazy invalidation): one stale pop per handshake, paid here, in the
    // setup, rather than by the first measured timer.
    let _ = e.poll_timeout();
    (e, peers, now)
}

/// One data segment from peer `p`, read by the application, output drained.
#[inline]
fn one_segment(e: &mut Endpoint, p: &mut Peer, now: Instant, payload: &Bytes, buf: &mut [u8]) {
    let mut s = Segment {
        src_port: p.port,
        dst_port: 80,
        seq: p.snd_nxt,
        ack: p.rcv_nxt,
        flags: Flags::ACK | Flags::PSH,
        window: 502,
        payload: payload.clone(),
        ..Segment::default()
    };
    s.options.timestamps = Some(Timestamps { val: 3, ecr: 0 });
    p.snd_nxt = p.snd_nxt.add(payload.len() as u32);
    e.handle_segment(now, p.ip, SERVER, s);
    let _ = e.recv(p.handle, buf);
    while let Some(t) = e.poll_transmit(now) {
        black_box(t);
    }
}

/// `poll_timeout`, then `handle_timeout` at that deadline (one keep-alive
/// timer fires: a probe goes out and the timer re-arms), output drained.
#[inline(never)]
fn fire_next_timer(e: &mut Endpoint) {
    let at = e.poll_timeout().expect("a keep-alive timer");
    e.handle_timeout(at);
    while let Some(t) = e.poll_transmit(at) {
        black_box(t);
    }
}

#[inline(never)]
fn measured_timers(e: &mut Endpoint, m: usize) {
    for _ in 0..m {
        fire_next_timer(e);
    }
}

#[inline(never)]
fn measured_segments(e: &mut Endpoint, peers: &mut [Peer], now: Instant, m: usize) {
    let payload = Bytes::from_static(&[7u8; 64]);
    let mut buf = [0u8; 256];
    let n = peers.len();
    for k in 0..m {
        // A stride coprime with n visits every connection, in scattered order.
        let i = (k.wrapping_mul(7919)) % n;
        one_segment(e, &mut peers[i], now, &payload, &mut buf);
    }
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<usize>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn conns() -> usize {
    std::env::var("ENDPOINT_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// With `ENDPOINT_GO_FILE` set, waits (up to 30 minutes) until that file
/// exists before measuring: `endpoint_callgrind.sh` runs the setup with
/// callgrind's instrumentation off (a 1M-connection setup fully
/// instrumented takes tens of minutes) and switches it on here.
fn wait_for_go() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    if let Ok(f) = std::env::var("ENDPOINT_GO_FILE") {
        for _ in 0..18_000 {
            if std::path::Path::new(&f).exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{f} never appeared");
    }
}

fn profile_mode() {
    let n = conns();
    let m: usize = std::env::var("ENDPOINT_SEGMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    if std::env::var("ENDPOINT_ONLY").is_ok_and(|v| v.starts_with("timer")) {
        let (mut e, _peers, _) = build(n, true);
        println!("{n} connections with keep-alive timers set up");
        wait_for_go();
        let t = WallInstant::now();
        measured_timers(&mut e, m);
        println!(
            "fired {m} timers among {n} connections: {:.0} ns per timer",
            t.elapsed().as_secs_f64() * 1e9 / m as f64
        );
        std::process::exit(0);
    }
    let rss0 = rss_bytes();
    let (mut e, mut peers, now) = build(n, false);
    println!(
        "{n} idle connections: Connection {} B, endpoint heap {} B per connection \
         (self-counted), RSS growth {} B per connection",
        std::mem::size_of::<tcp_proto::Connection>(),
        e.heap_bytes() / n,
        rss_bytes().saturating_sub(rss0) / n
    );
    wait_for_go();
    let t = WallInstant::now();
    measured_segments(&mut e, &mut peers, now, m);
    let el = t.elapsed();
    println!(
        "ran {m} segments over {n} connections: {:.0} ns per segment",
        el.as_secs_f64() * 1e9 / m as f64
    );
    std::process::exit(0);
}

fn endpoint(c: &mut Criterion) {
    if std::env::var("ENDPOINT_ONLY").is_ok() {
        profile_mode();
    }
    let n = conns();
    println!(
        "sizes: Connection {} B, TIME-WAIT entry 64 B, half-open entry 72 B",
        std::mem::size_of::<tcp_proto::Connection>()
    );
    // ---- setup at N ------------------------------------------------------
    let rss0 = rss_bytes();
    let t = WallInstant::now();
    let (mut big, mut big_peers, now) = build(n, false);
    let setup = t.elapsed();
    let rss = rss_bytes().saturating_sub(rss0);
    println!(
        "setup: {n} connections in {:.2} s ({:.2} µs per handshake); endpoint heap {} B per connection \
         (self-counted), RSS growth {} B per connection",
        setup.as_secs_f64(),
        setup.as_secs_f64() * 1e6 / n as f64,
        big.heap_bytes() / n,
        rss / n
    );

    let mut g = c.benchmark_group("endpoint");
    g.sample_size(20);
    let payload = Bytes::from_static(&[7u8; 64]);
    let mut buf = [0u8; 256];
    {
        let (mut one, mut one_peers, now1) = build(1, false);
        g.bench_function("segment/1", |b| {
            b.iter(|| one_segment(&mut one, &mut one_peers[0], now1, &payload, &mut buf))
        });
    }
    let mut k = 0usize;
    g.bench_function(format!("segment/{n}"), |b| {
        b.iter(|| {
            k = k.wrapping_add(7919) % n;
            one_segment(&mut big, &mut big_peers[k], now, &payload, &mut buf)
        })
    });
    drop(big);
    drop(big_peers);

    // ---- timers: heap of N keep-alive entries ------------------------------
    for size in [1, n] {
        let (mut e, _peers, _) = build(size, true);
        g.bench_function(format!("timers/{size}"), |b| {
            b.iter(|| fire_next_timer(&mut e))
        });
    }

    // ---- SYNs per second ---------------------------------------------------
    for (name, cookies) in [
        ("syn/queue", SynCookies::Off),
        ("syn/cookie", SynCookies::Always),
    ] {
        let mut cf = cfg(false);
        cf.syn_cookies = cookies;
        cf.max_syn_backlog = 1 << 22;
        cf.max_half_open = 1 << 22;
        // Half-open entries expire at their first timeout; the clock jumps
        // every 65,536 SYNs and the expiry is part of the measured cost.
        cf.connection.synack_retries = 0;
        let mut e = Endpoint::new(cf, [9; 16]).unwrap();
        e.listen(None, 80, 1024).unwrap();
        let mut i = 0u32;
        let mut now = Instant::from_secs(10);
        g.bench_function(name, |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                if i.is_multiple_of(65_536) {
                    now += Duration::from_secs(2);
                    e.handle_timeout(now);
                }
                let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i & 0x00ff_ffff)));
                e.handle_segment(now, src, SERVER, syn((i >> 8) as u16 | 1024, SeqNum(i), i));
                while let Some(t) = e.poll_transmit(now) {
                    black_box(t);
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, endpoint);
criterion_main!(benches);
