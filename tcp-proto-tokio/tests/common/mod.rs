//! What the kernel tests of the tokio driver share: a namespace with a TUN
//! device, a stack on it, and deterministic test data.

#![allow(dead_code)]

#[path = "../../../tests/common/netns.rs"]
pub mod netns;

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use netns::{Family, KernelNet};
use sha2::{Digest, Sha256};
use tcp_proto::endpoint::EndpointConfig;
use tcp_proto_tokio::{Stack, TcpListener, TcpStream};

/// A namespace whose `tcpp0` routes the documentation prefixes to the TUN
/// fd returned (the kernel: 192.0.2.1, 2001:db8::1; our side: 192.0.2.2,
/// 2001:db8::2). `None` after a loud skip without root/TUN (a panic under
/// `CI=true`).
pub fn namespace(test: &str) -> Option<(KernelNet, tun_rs::SyncDevice)> {
    let net = KernelNet::bare_or_skip(test)?;
    let tun = net.open_tun().expect("TUN in the namespace");
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

/// What a test starts from: [`namespace`], a [`runtime`] with `workers`
/// worker threads, and a [`stack`] with the default configuration on the
/// TUN. `None` after a loud skip without root/TUN.
pub fn stack_in_namespace(
    test: &str,
    workers: usize,
    secret: u8,
) -> Option<(KernelNet, tokio::runtime::Runtime, Stack)> {
    let (net, tun) = namespace(test)?;
    let rt = runtime(workers);
    let stack = rt.block_on(async { stack(tun, EndpointConfig::default(), secret) });
    Some((net, rt, stack))
}

/// A multi-thread tokio runtime with `workers` worker threads.
pub fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

/// A connection from `stack` to `to`; panics if it fails or takes more
/// than 10 s.
pub async fn connect(stack: &Stack, to: SocketAddr) -> TcpStream {
    tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(stack, to))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// The next connection `listener` accepts; panics if that fails or takes
/// more than 10 s.
pub async fn accept(listener: &TcpListener) -> TcpStream {
    let (s, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("accept in time")
        .expect("accept");
    s
}

/// Reads `s` (a kernel socket) to EOF: the octets read and their SHA-256.
pub fn sha256_to_eof(s: &mut impl Read) -> std::io::Result<(usize, [u8; 32])> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok((total, h.finalize().into()));
        }
        h.update(&buf[..n]);
        total += n;
    }
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
