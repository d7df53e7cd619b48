//! What the kernel tests of the tokio driver share: a namespace with a TUN
//! device, a stack on it, and deterministic test data.

#![allow(dead_code)]

#[path = "../../../tests/common/netns.rs"]
pub mod netns;

use std::net::IpAddr;

use netns::{Family, KernelNet, TUN_NAME};
use tcp_proto::endpoint::EndpointConfig;
use tcp_proto_tokio::Stack;

/// A namespace whose `tcpp0` routes the documentation prefixes to the TUN
/// fd returned (the kernel: 192.0.2.1, 2001:db8::1; our side: 192.0.2.2,
/// 2001:db8::2). `None` after a loud skip without root/TUN (a panic under
/// `CI=true`).
pub fn namespace(test: &str) -> Option<(KernelNet, tun_rs::SyncDevice)> {
    let net = KernelNet::bare_or_skip(test)?;
    net.exec(&[
        "sh",
        "-c",
        "echo 1 > /proc/sys/net/ipv6/conf/default/addr_gen_mode",
    ])
    .expect("quiet IPv6");
    let tun = net
        .run_in(|| tun_rs::DeviceBuilder::new().name(TUN_NAME).build_sync())
        .expect("TUN in the namespace");
    net.ip(&["addr", "add", "192.0.2.1/24", "dev", TUN_NAME])
        .unwrap();
    net.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8::1/64",
        "dev",
        TUN_NAME,
        "nodad",
    ])
    .unwrap();
    net.ip(&["link", "set", TUN_NAME, "txqueuelen", "8192"])
        .unwrap();
    net.ip(&["link", "set", TUN_NAME, "up"]).unwrap();
    Some((net, tun))
}

/// Our addresses on the TUN (the far end from the kernel).
pub fn ours() -> [IpAddr; 2] {
    [Family::V4.peer_addr(), Family::V6.peer_addr()]
}

/// A stack on `tun` answering as [`ours`]; call inside the runtime.
pub fn stack(tun: tun_rs::SyncDevice, cfg: EndpointConfig, secret: u8) -> Stack {
    let dev = tun_rs::AsyncDevice::new(tun).expect("async TUN");
    Stack::new(dev, &ours(), cfg, [secret; 16]).expect("stack")
}

/// `len` pseudo-random octets from `seed` (xorshift).
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut p = Pattern::new(seed);
    let mut v = vec![0u8; len];
    p.fill(&mut v);
    v
}

/// An endless deterministic octet stream (xorshift64), eight octets a step.
pub struct Pattern {
    x: u64,
    spare: [u8; 8],
    used: usize,
}

impl Pattern {
    /// The stream for `seed`.
    pub fn new(seed: u64) -> Pattern {
        Pattern {
            x: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            spare: [0; 8],
            used: 8,
        }
    }

    fn next_word(&mut self) -> [u8; 8] {
        self.x ^= self.x << 13;
        self.x ^= self.x >> 7;
        self.x ^= self.x << 17;
        self.x.to_le_bytes()
    }

    /// Fills `buf` with the next octets of the stream.
    pub fn fill(&mut self, mut buf: &mut [u8]) {
        while self.used < 8 && !buf.is_empty() {
            buf[0] = self.spare[self.used];
            self.used += 1;
            buf = &mut buf[1..];
        }
        let mut words = buf.chunks_exact_mut(8);
        for w in &mut words {
            w.copy_from_slice(&self.next_word());
        }
        let rest = words.into_remainder();
        if !rest.is_empty() {
            self.spare = self.next_word();
            let k = rest.len();
            rest.copy_from_slice(&self.spare[..k]);
            self.used = k;
        }
    }
}
