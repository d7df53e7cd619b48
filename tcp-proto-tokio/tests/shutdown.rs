//! The driver at the end of a program, against Linux in a private network
//! namespace: a dropped stream still delivers its data and FIN after every
//! handle is gone (the task lingers, then ends), and `Stack::shutdown`
//! closes connections gracefully, or resets them at its timeout.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpListener as KernelListener, TcpStream as KernelStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use common::netns::{Family, KernelNet, TUN_NAME};
use common::{accept, connect, pattern, sha256_to_eof, stack_in_namespace};
use nix::sys::socket::{setsockopt, sockopt};
use sha2::{Digest, Sha256};
use tcp_proto_tokio::{ShutdownSummary, TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1 << 20;

/// A kernel listener at `addr` in the namespace, with a small receive
/// buffer (inherited by what it accepts) when `rcvbuf` is given.
fn kernel_listener(net: &KernelNet, addr: SocketAddr, rcvbuf: Option<usize>) -> KernelListener {
    net.run_in(|| {
        let l = KernelListener::bind(addr)?;
        if let Some(n) = rcvbuf {
            setsockopt(&l, sockopt::RcvBuf, &n)?;
        }
        Ok::<_, std::io::Error>(l)
    })
    .expect("kernel listener")
}

/// Waits (bounded) until `f` holds.
fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pending socket error of a kernel socket (SO_ERROR), 0 if none.
fn socket_error(s: &impl AsFd) -> i32 {
    nix::sys::socket::getsockopt(s, sockopt::SocketError).expect("SO_ERROR")
}

/// TCP states (as /proc/net/tcp numbers them) of the kernel sockets on
/// local `port` in the namespace, for both families.
fn kernel_states(net: &KernelNet, port: u16) -> Vec<u8> {
    net.run_in(|| {
        let mut states = Vec::new();
        for f in ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"] {
            let text = std::fs::read_to_string(f).expect(f);
            for line in text.lines().skip(1) {
                let cols: Vec<&str> = line.split_whitespace().collect();
                let local_port = cols[1].rsplit(':').next().unwrap();
                if u16::from_str_radix(local_port, 16) == Ok(port) {
                    states.push(u8::from_str_radix(cols[3], 16).unwrap());
                }
            }
        }
        states
    })
}
const TCP_LISTEN: u8 = 0x0a;

/// Whether only a listener (or nothing) is left of the kernel's sockets on
/// local `port`: every connection there has closed or been reset.
fn only_listening(net: &KernelNet, port: u16) -> bool {
    kernel_states(net, port).iter().all(|&s| s == TCP_LISTEN)
}

/// Whether the TUN device is gone (its last fd, the driver task's, closed).
fn tun_gone(net: &KernelNet) -> bool {
    net.ip(&["link", "show", TUN_NAME]).is_err()
}

/// 1 MiB written, then the stream, the stack and the runtime's last
/// reference dropped at once: the kernel must still read every octet and
/// EOF. Its receiver stalls first (small buffer, no reads for a while), so
/// the rest goes out through zero-window probes and window updates the
/// driver handles with no handle left. Then the driver ends: the TUN device
/// disappears.
#[test]
fn a_dropped_stream_delivers_its_data_and_fin_after_every_handle_is_gone() {
    let test = "a_dropped_stream_delivers_its_data_and_fin_after_every_handle_is_gone";
    let Some((net, rt, stack)) = stack_in_namespace(test, 1, 11) else {
        return;
    };
    let kernel = Family::V4.kernel_addr();
    let to = SocketAddr::new(kernel, 9000);
    let listener = kernel_listener(&net, to, Some(32 * 1024));
    let data = pattern(13, MIB);
    let want: [u8; 32] = Sha256::digest(&data).into();
    let server = std::thread::spawn(move || -> std::io::Result<(usize, [u8; 32])> {
        let (mut s, _) = listener.accept()?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        // Not reading yet: our side fills the window and the stream is gone
        // before most of the data is acknowledged.
        std::thread::sleep(Duration::from_millis(700));
        sha256_to_eof(&mut s)
        // Dropped: the kernel's FIN, which the driver acknowledges.
    });
    rt.block_on(async move {
        let mut s = connect(&stack, to).await;
        tokio::time::timeout(Duration::from_secs(20), s.write_all(&data))
            .await
            .expect("write in time")
            .expect("write");
        assert_eq!(stack.orphans(), 0);
        drop(s);
        assert_eq!(stack.orphans(), 1, "the connection is still closing");
        // The last handle: only the driver task is left.
    });
    // The runtime goes on (as in a long-lived program): the task lingers.
    let (n, got) = server.join().expect("kernel thread").expect("kernel read");
    assert_eq!(n, MIB, "octets the kernel read before EOF");
    assert_eq!(got, want, "SHA-256 of what the kernel read");
    // Nothing is left closing: the task ends, dropping the TUN device.
    eventually(
        "the driver task ends and the TUN disappears",
        Duration::from_secs(5),
        || tun_gone(&net),
    );
    rt.shutdown_timeout(Duration::from_secs(1));
}

/// A shutdown with idle connections both ways (we connected to the kernel
/// over IPv4, the kernel to us over IPv6): the kernel reads EOF, closes,
/// and its close completes (no socket left in CLOSE-WAIT or LAST-ACK);
/// the summary counts both as closed; afterwards nothing new starts.
#[test]
fn shutdown_closes_idle_connections_with_a_fin_and_their_close_completes() {
    let test = "shutdown_closes_idle_connections_with_a_fin_and_their_close_completes";
    let Some((net, rt, stack)) = stack_in_namespace(test, 1, 12) else {
        return;
    };
    let to_kernel = SocketAddr::new(Family::V4.kernel_addr(), 9001);
    let kernel_l = kernel_listener(&net, to_kernel, None);
    let to_us = SocketAddr::new(Family::V6.peer_addr(), 9002);
    let our_l = TcpListener::bind(&stack, None, 9002, 16).expect("listen");

    // Each kernel side reads until our FIN (EOF), then closes.
    let kernel_side = |mut s: KernelStream| -> std::io::Result<usize> {
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut buf = [0u8; 64];
        let mut got = 0;
        loop {
            match s.read(&mut buf[got..])? {
                0 => break,
                n => got += n,
            }
        }
        Ok(got)
    };
    let server = std::thread::spawn(move || kernel_side(kernel_l.accept()?.0));
    let client = net.spawn_in(move || {
        kernel_side(KernelStream::connect_timeout(
            &to_us,
            Duration::from_secs(10),
        )?)
    });
    let (summary, took, mut ours) = rt.block_on(async {
        let mut a = connect(&stack, to_kernel).await;
        a.write_all(b"hello").await.expect("write");
        let b = accept(&our_l).await;
        // Stacks are clones: one keeps working after the other shut down.
        let other = stack.clone();
        let t = Instant::now();
        let summary = tokio::time::timeout(
            Duration::from_secs(8),
            stack.shutdown(Duration::from_secs(5)),
        )
        .await
        .expect("shutdown returns in time");
        let took = t.elapsed();
        // Nothing new starts on a stack that was shut down.
        let e = TcpStream::connect(&other, to_kernel)
            .await
            .err()
            .expect("connect after shutdown");
        assert_eq!(e.kind(), std::io::ErrorKind::NotConnected, "{e}");
        let e = TcpListener::bind(&other, None, 9003, 1)
            .err()
            .expect("bind after shutdown");
        assert_eq!(e.kind(), std::io::ErrorKind::NotConnected, "{e}");
        let e = our_l.accept().await.err().expect("accept after shutdown");
        assert_eq!(e.kind(), std::io::ErrorKind::NotConnected, "{e}");
        // Every connection is freed, though our streams are still held.
        assert_eq!(other.counts().connections, 0);
        assert_eq!(other.counts().buffered, 0);
        (summary, took, [a, b])
    });
    assert_eq!(
        server.join().unwrap().expect("kernel server"),
        5,
        "octets before EOF"
    );
    assert_eq!(
        client.join().unwrap().expect("kernel client"),
        0,
        "octets before EOF"
    );
    assert_eq!(
        summary,
        ShutdownSummary {
            connections: 2,
            closed: 2,
            elapsed: summary.elapsed,
            ..ShutdownSummary::default()
        },
        "{summary:?}"
    );
    assert!(
        took < Duration::from_secs(4),
        "a graceful close took {took:?}"
    );
    // Our streams read EOF (the kernel's FIN); writes fail.
    rt.block_on(async {
        for s in &mut ours {
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.expect("read after shutdown");
            assert_eq!(got, b"");
            assert!(s.write_all(b"late").await.is_err(), "write after shutdown");
        }
    });
    // The kernel's closes completed: our ACK of its FIN arrived.
    for port in [9001, 9002] {
        eventually(
            &format!("no kernel socket left closing on {port}"),
            Duration::from_secs(3),
            || only_listening(&net, port),
        );
    }
    drop(ours);
    rt.shutdown_timeout(Duration::from_secs(1));
}

/// A shutdown while one kernel peer never reads (our data and FIN cannot
/// go) and another never closes (we wait in FIN-WAIT-2): both are reset at
/// the timeout, the call returns within a bound, and new SYNs are refused
/// while it waits.
#[test]
fn shutdown_resets_peers_that_never_read_or_close_at_the_timeout() {
    let test = "shutdown_resets_peers_that_never_read_or_close_at_the_timeout";
    let Some((net, rt, stack)) = stack_in_namespace(test, 1, 13) else {
        return;
    };
    let to_kernel = SocketAddr::new(Family::V4.kernel_addr(), 9011);
    let kernel_l = kernel_listener(&net, to_kernel, Some(16 * 1024));
    // The kernel's connection from us: accepted, never read.
    let never_reads = std::thread::spawn(move || kernel_l.accept().map(|(s, _)| (s, kernel_l)));
    let port = 9012;
    let to_us = SocketAddr::new(Family::V6.peer_addr(), port);
    let our_l = TcpListener::bind(&stack, None, port, 16).expect("listen");
    // The kernel's connection to us: it reads our FIN, then holds on.
    let idle = net.spawn_in(move || {
        let mut s = KernelStream::connect_timeout(&to_us, Duration::from_secs(10))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut buf = [0u8; 16];
        assert_eq!(s.read(&mut buf)?, 0, "our FIN");
        Ok::<_, std::io::Error>(s)
    });
    let timeout = Duration::from_millis(1500);
    let (summary, took, refused, never_closes) = rt.block_on(async {
        let mut a = connect(&stack, to_kernel).await;
        // Fill the kernel's window and our send buffer.
        let data = pattern(3, 4 * MIB);
        let _ = tokio::time::timeout(Duration::from_millis(500), a.write_all(&data)).await;
        let b = accept(&our_l).await;
        let t = Instant::now();
        let other = stack.clone();
        let shutdown = tokio::spawn(stack.shutdown(timeout));
        // Meanwhile a new connection is refused.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let to = SocketAddr::new(Family::V4.peer_addr(), port);
        let refused = net
            .spawn_in(move || {
                KernelStream::connect_timeout(&to, Duration::from_secs(5)).map(|_| ())
            })
            .join()
            .unwrap();
        // Our FIN reached the idle peer (it read EOF, and holds on).
        let never_closes = tokio::task::spawn_blocking(move || idle.join().unwrap())
            .await
            .unwrap()
            .expect("kernel idle client");
        let summary = tokio::time::timeout(timeout + Duration::from_secs(3), shutdown)
            .await
            .expect("shutdown returns within its timeout and a bound")
            .unwrap();
        let took = t.elapsed();
        assert_eq!(other.counts().connections, 0, "all reset and freed");
        drop((a, b));
        (summary, took, refused, never_closes)
    });
    assert_eq!(
        refused.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionRefused),
        "a SYN during the shutdown"
    );
    assert!(took >= timeout, "returned before its timeout: {took:?}");
    assert!(took < timeout + Duration::from_secs(2), "took {took:?}");
    assert_eq!(
        summary,
        ShutdownSummary {
            connections: 2,
            reset: 2,
            elapsed: summary.elapsed,
            ..ShutdownSummary::default()
        },
        "{summary:?}"
    );
    // The kernel saw our RSTs: both sockets carry the error.
    let (never_reads, _listener) = never_reads.join().unwrap().expect("kernel accept");
    eventually(
        "the kernel's sockets were reset",
        Duration::from_secs(3),
        || only_listening(&net, 9011),
    );
    assert_eq!(
        socket_error(&never_reads),
        nix::libc::ECONNRESET,
        "never-reading peer"
    );
    // Linux reports a reset in CLOSE-WAIT as EPIPE.
    let e = socket_error(&never_closes);
    assert!(
        e == nix::libc::EPIPE || e == nix::libc::ECONNRESET,
        "never-closing peer: errno {e}"
    );
    rt.shutdown_timeout(Duration::from_secs(1));
}

/// A dropped stream whose peer never reads cannot deliver its data and
/// FIN: at the linger limit the driver gives up with a RST, then ends.
#[test]
fn an_orphan_that_cannot_close_is_reset_at_the_linger_limit_then_the_task_ends() {
    let test = "an_orphan_that_cannot_close_is_reset_at_the_linger_limit_then_the_task_ends";
    let Some((net, rt, stack)) = stack_in_namespace(test, 1, 14) else {
        return;
    };
    let linger = Duration::from_millis(800);
    stack.set_orphan_linger(linger);
    let to = SocketAddr::new(Family::V6.kernel_addr(), 9021);
    let kernel_l = kernel_listener(&net, to, Some(16 * 1024));
    let never_reads = std::thread::spawn(move || kernel_l.accept().map(|(s, _)| (s, kernel_l)));
    let dropped = rt.block_on(async move {
        let mut s = connect(&stack, to).await;
        let data = pattern(4, 4 * MIB);
        let _ = tokio::time::timeout(Duration::from_millis(300), s.write_all(&data)).await;
        drop(s);
        assert_eq!(stack.orphans(), 1);
        Instant::now()
        // The stack goes too: only the driver task is left.
    });
    let (s, _listener) = never_reads.join().unwrap().expect("kernel accept");
    eventually(
        "the kernel's socket is reset",
        linger + Duration::from_secs(3),
        || only_listening(&net, 9021),
    );
    let took = dropped.elapsed();
    assert!(
        took >= linger,
        "reset {took:?} after the drop, before the limit"
    );
    assert_eq!(socket_error(&s), nix::libc::ECONNRESET);
    eventually(
        "the driver task ends and the TUN disappears",
        Duration::from_secs(3),
        || tun_gone(&net),
    );
    rt.shutdown_timeout(Duration::from_secs(1));
}
