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

/// Octets in a [`Pattern`]'s block: not a power of two, so that block
/// boundaries fall anywhere in a segment.
const BLOCK: usize = (1 << 20) + 4099;

/// An endless deterministic octet stream: a pseudo-random block (xorshift64)
/// repeated, with the block's sequence number in its first eight octets so
/// that no two blocks are equal. Copying makes it fast in debug builds.
pub struct Pattern {
    block: Vec<u8>,
    at: usize,
    n: u64,
}

impl Pattern {
    /// The stream for `seed`.
    pub fn new(seed: u64) -> Pattern {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut block = vec![0u8; BLOCK];
        for w in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = w.len();
            w.copy_from_slice(&x.to_le_bytes()[..k]);
        }
        Pattern { block, at: 0, n: 0 }
    }

    /// Fills `buf` with the next octets of the stream.
    pub fn fill(&mut self, mut buf: &mut [u8]) {
        while !buf.is_empty() {
            if self.at == 0 {
                self.block[..8].copy_from_slice(&self.n.to_le_bytes());
                self.n += 1;
            }
            let k = buf.len().min(BLOCK - self.at);
            buf[..k].copy_from_slice(&self.block[self.at..self.at + k]);
            self.at = (self.at + k) % BLOCK;
            buf = &mut buf[k..];
        }
    }
}
