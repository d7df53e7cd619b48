//! A TUN device the user made with a small MTU (a tunnel's 1280): the
//! stack advertises an MSS that fits it, over IPv4 and IPv6.

mod common;

use std::net::{SocketAddr, TcpStream as KernelStream};
use std::time::Duration;

use common::{namespace, ours, stack};
use tcp_proto::endpoint::EndpointConfig;
use tcp_proto_tokio::TcpListener;

/// The kernel's routes to us claim 1500 octets, so its own MTU does not
/// cap what it uses: its MSS for the connection (`TCP_MAXSEG`, less 12
/// octets of timestamps) is then what we advertised. With the device at
/// 1280 that must be at most 1240 (IPv4) and 1220 (IPv6), not the 1460
/// and 1440 a 1500-octet link gets.
#[test]
fn the_advertised_mss_fits_the_mtu_of_the_device() {
    let Some((net, tun)) = namespace("the_advertised_mss_fits_the_mtu_of_the_device") else {
        return;
    };
    net.ip(&["link", "set", "dev", "tcpp0", "mtu", "1280"])
        .expect("the device's MTU");
    net.ip(&[
        "route",
        "replace",
        "192.0.2.0/24",
        "dev",
        "tcpp0",
        "mtu",
        "1500",
    ])
    .expect("IPv4 route");
    net.ip(&[
        "-6",
        "route",
        "replace",
        "2001:db8::/64",
        "dev",
        "tcpp0",
        "mtu",
        "1500",
    ])
    .expect("IPv6 route");
    let rt = common::runtime(1);
    // Built on a thread inside the namespace, as a program run with `ip
    // netns exec` is: the stack asks the kernel for the device's MTU by
    // name, in the namespace of the thread that asks.
    let stack = net.run_in(|| rt.block_on(async { stack(tun, EndpointConfig::default(), 3) }));
    let listener = TcpListener::bind(&stack, None, 7, 16).expect("listen");
    rt.spawn(async move {
        let mut held = Vec::new();
        loop {
            let (s, _) = listener.accept().await.expect("accept");
            held.push(s);
        }
    });
    let ours = ours();
    let mss: Vec<u32> = net.run_in(move || {
        ours.iter()
            .map(|ip| {
                let s = KernelStream::connect_timeout(
                    &SocketAddr::new(*ip, 7),
                    Duration::from_secs(10),
                )
                .unwrap_or_else(|e| panic!("connect {ip}: {e}"));
                nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::TcpMaxSeg)
                    .expect("TCP_MAXSEG")
            })
            .collect()
    });
    assert!((1100..=1240).contains(&mss[0]), "IPv4 MSS {}", mss[0]);
    assert!((1100..=1220).contains(&mss[1]), "IPv6 MSS {}", mss[1]);
    drop(stack);
    drop(rt);
}
