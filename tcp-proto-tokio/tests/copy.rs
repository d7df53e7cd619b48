//! `tokio::io::copy` of 100 MiB each way between tcp-proto (driven by
//! tokio over TUN) and Linux, in a private network namespace: the octets
//! that arrive are the octets sent (length and SHA-256), within a bounded
//! time. The rate is printed (run with `--nocapture`).

mod common;

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener as KernelListener, TcpStream as KernelStream};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use common::netns::Family;
use common::{Pattern, sha256_to_eof, stack_in_namespace};
use sha2::{Digest, Sha256};
use tcp_proto_tokio::{TcpListener, TcpStream};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

const MIB: u64 = 1024 * 1024;
const TOTAL: u64 = 100 * MIB;
/// Generous on a loaded 2-core machine; an unloaded run takes seconds.
const LIMIT: Duration = Duration::from_secs(120);

/// An `AsyncRead` of `left` pattern octets that hashes what it hands out.
struct Source {
    pattern: Pattern,
    left: u64,
    hash: Sha256,
}

impl AsyncRead for Source {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.left) as usize;
        let out = &mut buf.initialize_unfilled()[..n];
        self.pattern.fill(out);
        self.hash.update(&*out);
        self.left -= n as u64;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// An `AsyncWrite` that hashes and counts what it is given.
#[derive(Default)]
struct Sink {
    len: u64,
    hash: Sha256,
}

impl AsyncWrite for Sink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.hash.update(data);
        self.len += data.len() as u64;
        Poll::Ready(Ok(data.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Reads `s` to EOF: (octets, SHA-256).
fn kernel_drain(mut s: KernelStream) -> std::io::Result<(u64, [u8; 32])> {
    s.set_read_timeout(Some(LIMIT))?;
    let (n, hash) = sha256_to_eof(&mut s)?;
    Ok((n as u64, hash))
}

/// Writes `TOTAL` pattern octets to `s` and half-closes: their SHA-256.
fn kernel_fill(mut s: KernelStream, seed: u64) -> std::io::Result<[u8; 32]> {
    s.set_write_timeout(Some(LIMIT))?;
    let mut p = Pattern::new(seed);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = TOTAL;
    while left > 0 {
        let k = (buf.len() as u64).min(left) as usize;
        p.fill(&mut buf[..k]);
        h.update(&buf[..k]);
        s.write_all(&buf[..k])?;
        left -= k as u64;
    }
    s.shutdown(Shutdown::Write)?;
    Ok(h.finalize().into())
}

fn rate(what: &str, secs: f64) {
    let mbit = (TOTAL * 8) as f64 / secs / 1e6;
    eprintln!(
        "{what}: {} MiB in {secs:.2} s = {mbit:.0} Mbit/s",
        TOTAL / MIB
    );
}

#[test]
fn copy_100_mib_each_way_with_the_kernel() {
    let test = "copy_100_mib_each_way_with_the_kernel";
    let Some((net, rt, stack)) = stack_in_namespace(test, 2, 11) else {
        return;
    };

    // tcp-proto → kernel: copy a source into a connected stream, then FIN.
    let kernel = SocketAddr::new(Family::V4.kernel_addr(), 9000);
    let l = net
        .run_in(|| KernelListener::bind(kernel))
        .expect("kernel listener");
    let drain = std::thread::spawn(move || kernel_drain(l.accept()?.0));
    let t = Instant::now();
    let sent = rt.block_on(async {
        tokio::time::timeout(LIMIT, async {
            let mut s = TcpStream::connect(&stack, kernel).await?;
            let mut src = Source {
                pattern: Pattern::new(1),
                left: TOTAL,
                hash: Sha256::new(),
            };
            let n = tokio::io::copy(&mut src, &mut s).await?;
            s.shutdown().await?;
            std::io::Result::Ok((n, <[u8; 32]>::from(src.hash.finalize())))
        })
        .await
        .expect("tcp-proto → kernel copy in time")
        .expect("tcp-proto → kernel copy")
    });
    let got = drain.join().unwrap().expect("kernel read");
    rate("tcp-proto → kernel", t.elapsed().as_secs_f64());
    assert_eq!(sent.0, TOTAL);
    assert_eq!(got.0, TOTAL, "octets the kernel read");
    assert_eq!(got.1, sent.1, "SHA-256 of what the kernel read");

    // kernel → tcp-proto: copy an accepted stream into a sink until EOF.
    let listener = TcpListener::bind(&stack, None, 9001, 4).expect("listen");
    let to = SocketAddr::new(Family::V6.peer_addr(), 9001);
    let t = Instant::now();
    let fill = net.spawn_in(move || {
        let s = KernelStream::connect_timeout(&to, Duration::from_secs(10))?;
        kernel_fill(s, 2)
    });
    let sink = rt.block_on(async {
        tokio::time::timeout(LIMIT, async {
            let (mut s, _) = listener.accept().await?;
            let mut sink = Sink::default();
            tokio::io::copy(&mut s, &mut sink).await?;
            std::io::Result::Ok(sink)
        })
        .await
        .expect("kernel → tcp-proto copy in time")
        .expect("kernel → tcp-proto copy")
    });
    let want = fill.join().unwrap().expect("kernel write");
    rate("kernel → tcp-proto", t.elapsed().as_secs_f64());
    assert_eq!(sink.len, TOTAL, "octets tcp-proto read");
    assert_eq!(<[u8; 32]>::from(sink.hash.finalize()), want, "SHA-256");
    drop(listener);
    drop(stack);
    rt.shutdown_timeout(Duration::from_secs(1));
}
