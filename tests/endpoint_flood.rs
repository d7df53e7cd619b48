//! A SYN flood over the simulated network: spoofed SYNs from random
//! sources interleaved with 1,000 legitimate clients. The server's memory
//! stays within its configured bounds and at least 99 % of the legitimate
//! handshakes complete (SYN cookies take over once the SYN queue is full).
//!
//! `FLOOD_SYNS` sets the number of spoofed SYNs (default 100,000 here; the
//! `endpoint` bench runs 1,000,000 in release).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tcp_proto::endpoint::{Endpoint, EndpointConfig, Transmit};
use tcp_proto::sim::{Link, Net};
use tcp_proto::{Flags, Instant, Segment, SeqNum, State};

struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[test]
fn syn_flood_leaves_memory_bounded_and_legitimate_clients_connect() {
    let spoofed: u64 = std::env::var("FLOOD_SYNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    const LEGIT: usize = 1000;
    let server_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let cfg = EndpointConfig::linux();
    let mut net = Net::new(
        42,
        Link {
            delay: Duration::from_millis(5),
            ..Link::default()
        },
    );
    let server = net.add(Endpoint::new(cfg, [11; 16]).unwrap(), &[server_ip]);
    let l = net.host(server).listen(None, 80, 1024).unwrap();
    let client_ips: Vec<IpAddr> = (0..10)
        .map(|k| IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10 + k)))
        .collect();
    let clients: Vec<_> = client_ips
        .iter()
        .map(|&ip| {
            net.add(
                Endpoint::new(EndpointConfig::linux(), [ip.to_string().len() as u8; 16]).unwrap(),
                &[ip],
            )
        })
        .collect();
    let mut rng = SplitMix(7);
    // The flood lasts 100 virtual seconds; legitimate clients connect
    // during the first 90, evenly spread.
    let ticks: u64 = 100_000; // 1 ms each
    let per_tick = spoofed.div_ceil(ticks);
    let mut sent = 0u64;
    let mut handles = Vec::new();
    let mut accepted = 0usize;
    let mut max_half_open = 0;
    let mut max_heap = 0;
    let started = std::time::Instant::now();
    for tick in 0..ticks {
        for _ in 0..per_tick.min(spoofed - sent) {
            let r = rng.next();
            let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (r as u32 & 0x00ff_ffff)));
            let mut syn = Segment {
                src_port: (r >> 32) as u16 | 1024,
                dst_port: 80,
                seq: SeqNum((r >> 16) as u32),
                flags: Flags::SYN,
                window: 64240,
                ..Segment::default()
            };
            syn.options.mss = Some(1460);
            net.inject(Transmit {
                src,
                dst: server_ip,
                segment: syn,
            });
            sent += 1;
        }
        if handles.len() < LEGIT && tick.is_multiple_of(90) {
            let k = handles.len();
            let (host, ip) = (clients[k % 10], client_ips[k % 10]);
            let now = net.now();
            let h = net
                .host(host)
                .connect(now, SocketAddr::new(ip, 0), SocketAddr::new(server_ip, 80))
                .unwrap();
            handles.push((host, h));
        }
        net.advance_to(Instant::from_millis(tick + 1));
        let s = net.host(server);
        while s.accept(l).is_some() {
            accepted += 1;
        }
        max_half_open = max_half_open.max(s.counts().half_open);
        if tick.is_multiple_of(1000) {
            max_heap = max_heap.max(s.heap_bytes());
        }
    }
    let wall = started.elapsed();
    // Let the stragglers finish (retransmitted SYNs come within seconds).
    for _ in 0..200 {
        let t = net.now() + Duration::from_millis(100);
        net.advance_to(t);
    }
    let s = net.host(server);
    while s.accept(l).is_some() {
        accepted += 1;
    }
    let stats = s.stats();
    let done = handles
        .iter()
        .filter(|&&(host, h)| {
            net.host(host)
                .connection_ref(h)
                .is_ok_and(|c| c.state() == State::Established)
        })
        .count();
    println!(
        "flood: {sent} spoofed SYNs, {done}/{LEGIT} legitimate handshakes, {accepted} accepted, \
         max half-open {max_half_open}, max heap {max_heap} B, cookies sent {} accepted {}, \
         {:.0} SYNs/s (whole simulation, wall clock)",
        stats.cookies_sent,
        stats.cookies_accepted,
        sent as f64 / wall.as_secs_f64()
    );
    assert_eq!(sent, spoofed);
    assert!(
        done * 100 >= LEGIT * 99,
        "only {done} of {LEGIT} legitimate handshakes completed"
    );
    assert!(max_half_open <= cfg.max_syn_backlog.min(cfg.max_half_open));
    // Bounded: the SYN queue, the accept queues and the legitimate
    // connections, not the flood.
    assert!(max_heap < 8 << 20, "heap grew to {max_heap} octets");
    assert!(stats.cookies_sent > 0);
}
