//! Plumbing check for the kernel interop harness: a hand-built SYN written
//! to the TUN reaches Linux TCP in a private namespace, and its SYN-ACK
//! comes back. No `Connection` involved.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant as StdInstant};

use common::ip;
use common::netns::{Family, KernelNet};
use tcp_proto::{Flags, Options, Segment, SeqNum};

fn syn_reaches_the_kernel(family: Family, test: &str) {
    let Some(net) = KernelNet::new_or_skip(test) else {
        return;
    };
    let port = 5001;
    let listen_at = SocketAddr::new(family.kernel_addr(), port);
    let listener = net
        .run_in(move || TcpListener::bind(listen_at))
        .expect("bind kernel listener in the namespace");

    let out = ip::pair(family.peer_addr(), family.kernel_addr());
    let iss = SeqNum(0xFFFF_FFF0); // close to the wrap on purpose
    let our_port = 40_000;
    let syn = Segment {
        src_port: our_port,
        dst_port: port,
        seq: iss,
        flags: Flags::SYN,
        window: 65_535,
        options: Options {
            mss: Some(1400),
            ..Options::default()
        },
        ..Segment::default()
    };
    net.send(&ip::encode(&out, &syn))
        .expect("write SYN to the TUN");

    // Bounded in time (2 s) and in packets (64).
    let deadline = StdInstant::now() + Duration::from_secs(2);
    let mut buf = vec![0u8; 65_536];
    let mut synack = None;
    for _ in 0..64 {
        let left = deadline.saturating_duration_since(StdInstant::now());
        if left.is_zero() {
            break;
        }
        let Some(n) = net.recv_timeout(&mut buf, left).expect("read the TUN") else {
            break;
        };
        let Some((pair, seg)) = ip::decode(&buf[..n]) else {
            continue;
        }; // ND, MLD, ...
        if pair == out.reversed() && seg.src_port == port && seg.dst_port == our_port {
            synack = Some(seg);
            break;
        }
    }
    let synack = synack.unwrap_or_else(|| panic!("{test}: no reply from the kernel within 2 s"));
    assert_eq!(synack.flags, Flags::SYN | Flags::ACK, "{test}: {synack}");
    assert_eq!(
        synack.ack,
        iss.add(1),
        "{test}: SYN-ACK must acknowledge ISS+1: {synack}"
    );
    assert!(
        synack.options.mss.is_some(),
        "{test}: kernel SYN-ACK carries MSS: {synack}"
    );

    // Tear the half-open connection down.
    let rst = Segment {
        src_port: our_port,
        dst_port: port,
        seq: iss.add(1),
        flags: Flags::RST,
        ..Segment::default()
    };
    net.send(&ip::encode(&out, &rst))
        .expect("write RST to the TUN");
    drop(listener);
}

#[test]
fn tun_plumbing_reaches_the_kernel() {
    syn_reaches_the_kernel(Family::V4, "tun_plumbing_reaches_the_kernel");
}

#[test]
fn tun_plumbing_reaches_the_kernel_v6() {
    syn_reaches_the_kernel(Family::V6, "tun_plumbing_reaches_the_kernel_v6");
}

#[test]
fn namespace_is_removed_on_drop() {
    let Some(net) = KernelNet::new_or_skip("namespace_is_removed_on_drop") else {
        return;
    };
    let name = net.name().to_owned();
    assert!(std::path::Path::new(&format!("/run/netns/{name}")).exists());
    // Even when the test body panics, the guard cleans up.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _net = net;
        panic!("deliberate");
    }));
    assert!(r.is_err());
    assert!(
        !std::path::Path::new(&format!("/run/netns/{name}")).exists(),
        "namespace {name} left behind"
    );
}
