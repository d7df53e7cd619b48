//! examples/tun.rs, run as a program in a fresh namespace against Linux:
//! an HTTP GET from a kernel socket to `server --mode http`, `client`
//! against a kernel echo server (clean over IPv4, lossy over IPv6), and a
//! refused connection that must make it exit non-zero; the echo server
//! against a kernel client that sends far more than it reads at first. The device must be
//! gone when the program exits. (tests/kernel_host.rs has the server's
//! scenarios: many clients, both families, signals, SYN flood, TIME-WAIT.)

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::app::fill;
use common::example::{EXAMPLE_SEED, assert_device_gone, start, wait, wait_for_line};
use common::netns::KernelNet;
use common::tshark;

#[test]
fn example_http_server_answers_a_kernel_get() {
    let Some(net) = KernelNet::bare_or_skip("example_http_server_answers_a_kernel_get") else {
        return;
    };
    let pcap = tshark::pcap_path("example_http_server");
    let body = 300_000usize;
    let mut child = start(
        &net,
        &[
            "server",
            "--dev",
            "tcpp0",
            "--port",
            "8080",
            "--mode",
            "http",
            "--connections",
            "1",
            "--body-bytes",
            &body.to_string(),
            "--time-wait-ms",
            "200",
            "--timeout-s",
            "30",
            "--pcap",
            pcap.to_str().unwrap(),
        ],
    );
    let rest = wait_for_line(&mut child, "listening on");
    let to: SocketAddr = "192.0.2.2:8080".parse().unwrap();
    let response = net.run_in(move || {
        let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(10))
            .expect("kernel connects to the example");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: 192.0.2.2\r\n\r\n")
            .unwrap();
        let mut r = Vec::new();
        s.read_to_end(&mut r).expect("read the response to EOF");
        r
    });
    let st = wait(&mut child, Duration::from_secs(30));
    let lines = rest.join().unwrap();
    assert!(st.success(), "example exit status {st}: {lines:?}");
    assert_device_gone(&net);

    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header")
        + 4;
    let head = String::from_utf8_lossy(&response[..head_end]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {body}\r\n")),
        "{head}"
    );
    let mut want = vec![0u8; body];
    fill(EXAMPLE_SEED, 0, &mut want);
    assert!(
        response[head_end..] == want[..],
        "body differs ({} octets)",
        response.len() - head_end
    );
    assert!(
        lines.iter().any(|l| l.contains("-> TIME-WAIT")),
        "the server closed first: {lines:?}"
    );
    if tshark::available("example_http_server_answers_a_kernel_get") {
        tshark::assert_trace_ok(&pcap, true);
    }
}

/// A kernel echo server on `[::]:port` (both families) in the namespace.
fn kernel_echo(net: &KernelNet, port: u16) -> std::thread::JoinHandle<u64> {
    let l = net
        .run_in(move || TcpListener::bind(("::", port)))
        .expect("kernel echo server binds");
    net.spawn_in(move || {
        let (mut s, _) = l.accept().expect("accept the example's connection");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = vec![0u8; 65_536];
        let mut n = 0u64;
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => {
                    s.write_all(&buf[..k]).expect("echo");
                    n += k as u64;
                }
                Err(e) => panic!("kernel echo read: {e}"),
            }
        }
        s.shutdown(Shutdown::Write).unwrap();
        n
    })
}

fn client_against_kernel_echo(test: &str, ipv6: bool, lossy: bool) {
    let Some(net) = KernelNet::bare_or_skip(test) else {
        return;
    };
    let echo = kernel_echo(&net, 5001);
    let pcap = tshark::pcap_path(test);
    let n: u64 = 1 << 20;
    let target = if ipv6 {
        "[2001:db8::1]:5001"
    } else {
        "192.0.2.1:5001"
    };
    let n_s = n.to_string();
    let mut args = vec![
        "client",
        "--dev",
        "tcpp0",
        "--connect",
        target,
        "--send-bytes",
        &n_s,
        "--expect-echo",
        "--time-wait-ms",
        "200",
        "--timeout-s",
        "60",
        "--pcap",
        pcap.to_str().unwrap(),
    ];
    if ipv6 {
        args.push("--ipv6");
    }
    if lossy {
        args.extend([
            "--loss",
            "0.1",
            "--reorder",
            "0.1",
            "--dup",
            "0.1",
            "--seed",
            "7",
        ]);
    }
    let mut child = start(&net, &args);
    let rest = wait_for_line(&mut child, "connecting to");
    let st = wait(&mut child, Duration::from_secs(60));
    let lines = rest.join().unwrap();
    assert!(st.success(), "example exit status {st}: {lines:?}");
    assert_eq!(
        echo.join().expect("kernel echo thread"),
        n,
        "the kernel echoed everything"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("OK: sent {n} octets, received {n} octets"))),
        "{lines:?}"
    );
    assert_device_gone(&net);
    if tshark::available(test) {
        tshark::assert_trace_ok(&pcap, !lossy);
        if lossy {
            tshark::assert_retransmissions_seen(&pcap);
        }
    }
}

#[test]
fn example_client_against_kernel_echo_v4() {
    client_against_kernel_echo("example_client_against_kernel_echo_v4", false, false);
}

#[test]
fn example_client_against_kernel_echo_v6_lossy() {
    client_against_kernel_echo("example_client_against_kernel_echo_v6_lossy", true, true);
}

#[test]
fn example_exits_nonzero_when_the_kernel_refuses() {
    let Some(net) = KernelNet::bare_or_skip("example_exits_nonzero_when_the_kernel_refuses") else {
        return;
    };
    let mut child = start(
        &net,
        &[
            "client",
            "--dev",
            "tcpp0",
            "--connect",
            "192.0.2.1:9",
            "--send-bytes",
            "10",
            "--timeout-s",
            "20",
        ],
    );
    let rest = wait_for_line(&mut child, "connecting to");
    let st = wait(&mut child, Duration::from_secs(30));
    let lines = rest.join().unwrap();
    assert_eq!(st.code(), Some(1), "refused must fail: {lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("closed: Refused")),
        "{lines:?}"
    );
    assert_device_gone(&net);
}

/// The echo server stops reading while its backlog of echoes is full, and
/// the receive side raises no new event for data it already holds: once
/// the backlog has gone out it must read again by itself. A kernel client
/// with a 2 KiB receive buffer sends 8 MiB (far more than the backlog,
/// the connection's buffers and its own socket buffers hold) and reads
/// nothing for the first second, so the server's window closes with
/// unread data behind it; every octet must still come back, in order.
/// (The example used to stop there: the client's zero-window probes
/// learned our window was closed, and both sides waited.)
#[test]
fn example_echo_server_keeps_echoing_to_a_client_that_reads_late() {
    let test = "example_echo_server_keeps_echoing_to_a_client_that_reads_late";
    let Some(net) = KernelNet::bare_or_skip(test) else {
        return;
    };
    let mut child = start(
        &net,
        &[
            "server",
            "--dev",
            "tcpp0",
            "--port",
            "7",
            "--mode",
            "echo",
            "--connections",
            "1",
            "--time-wait-ms",
            "200",
            "--timeout-s",
            "60",
        ],
    );
    let rest = wait_for_line(&mut child, "listening on");
    const N: usize = 8 << 20;
    let echoed = net.run_in(move || {
        use nix::sys::socket::{
            AddressFamily, SockFlag, SockType, SockaddrIn, connect, setsockopt, socket, sockopt,
        };
        use std::os::fd::AsRawFd;
        let fd = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("socket");
        // Before connect, so that the window it offers is small from the SYN.
        setsockopt(&fd, sockopt::RcvBuf, &2048).expect("SO_RCVBUF");
        connect(fd.as_raw_fd(), &SockaddrIn::new(192, 0, 2, 2, 7)).expect("connect");
        let s = TcpStream::from(fd);
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(40))).unwrap();
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            let mut data = vec![0u8; N];
            fill(EXAMPLE_SEED, 0, &mut data);
            w.write_all(&data).expect("the client's write completes");
            w.shutdown(Shutdown::Write).unwrap();
        });
        std::thread::sleep(Duration::from_secs(1));
        let mut r = &s;
        let mut got = Vec::with_capacity(N);
        let mut buf = vec![0u8; 65_536];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => got.extend_from_slice(&buf[..k]),
                Err(e) => panic!("echo stalled after {} of {N} octets: {e}", got.len()),
            }
        }
        writer.join().unwrap();
        got
    });
    let st = wait(&mut child, Duration::from_secs(60));
    let lines = rest.join().unwrap();
    assert!(st.success(), "example exit status {st}: {lines:?}");
    assert_eq!(echoed.len(), N, "every octet echoed");
    let mut want = vec![0u8; N];
    fill(EXAMPLE_SEED, 0, &mut want);
    assert!(echoed == want, "the echo differs from what was sent");
    assert_device_gone(&net);
}
