//! Kernel clients against the async echo server, in a private network
//! namespace: Linux connects (IPv4 and IPv6) to tcp-proto driven by tokio
//! over a TUN device, sends data, reads the echo back and checks its
//! SHA-256. The server closes by `shutdown` on half of the connections and
//! by dropping the stream on the other half: both must end in a FIN (the
//! client reads EOF after exactly the data it sent).

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream as KernelStream};
use std::time::Duration;

use common::netns::Family;
use common::{accept, connect, namespace, ours, pattern, sha256_to_eof, stack, stack_in_namespace};
use sha2::{Digest, Sha256};
use tcp_proto::endpoint::EndpointConfig;
use tcp_proto_tokio::TcpListener;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PORT: u16 = 7;

/// One kernel client: writes `data` from a second thread while reading the
/// echo, half-closes, and returns the length and SHA-256 of what came back.
fn kernel_client(to: SocketAddr, data: Vec<u8>) -> std::io::Result<(usize, [u8; 32])> {
    let mut s = KernelStream::connect_timeout(&to, Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut w = s.try_clone()?;
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        w.write_all(&data)?;
        w.shutdown(Shutdown::Write)
    });
    let echoed = sha256_to_eof(&mut s)?;
    writer.join().expect("writer thread")?;
    Ok(echoed)
}

async fn serve(listener: TcpListener) {
    let mut n = 0u64;
    loop {
        let (mut s, _) = listener.accept().await.expect("accept");
        n += 1;
        let graceful_shutdown = n.is_multiple_of(2);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let k = s.read(&mut buf).await.expect("server read");
                if k == 0 {
                    break;
                }
                s.write_all(&buf[..k]).await.expect("server write");
            }
            if graceful_shutdown {
                s.shutdown().await.expect("shutdown");
            }
            // Otherwise the drop closes it.
        });
    }
}

fn echo_clients(test: &str, clients: usize, bytes: usize) {
    let Some((net, rt, stack)) = stack_in_namespace(test, 2, 7) else {
        return;
    };
    let ours = ours();
    let listener = TcpListener::bind(&stack, None, PORT, 1024).expect("listen");
    rt.spawn(serve(listener));

    let net = std::sync::Arc::new(net);
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let to = SocketAddr::new(ours[i % 2], PORT);
            let data = pattern(i as u64, bytes + i * 97);
            let want: [u8; 32] = Sha256::digest(&data).into();
            let len = data.len();
            let h = net.spawn_in(move || kernel_client(to, data));
            (i, to, want, len, h)
        })
        .collect();
    for (i, to, want, len, h) in handles {
        let (n, got) = h
            .join()
            .expect("client thread")
            .unwrap_or_else(|e| panic!("client {i} to {to}: {e}"));
        assert_eq!(n, len, "client {i} to {to}: echoed length");
        assert_eq!(got, want, "client {i} to {to}: echoed SHA-256");
    }
    drop(stack);
    rt.shutdown_timeout(Duration::from_secs(1));
}

#[test]
fn kernel_clients_get_their_data_echoed_and_a_fin() {
    echo_clients(
        "kernel_clients_get_their_data_echoed_and_a_fin",
        100,
        64 * 1024,
    );
}

#[test]
fn connect_to_a_kernel_listener_and_read_until_its_fin() {
    let test = "connect_to_a_kernel_listener_and_read_until_its_fin";
    let Some((net, tun)) = namespace(test) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stack = rt.block_on(async { stack(tun, EndpointConfig::default(), 9) });
    for fam in [Family::V4, Family::V6] {
        let kernel: IpAddr = fam.kernel_addr();
        let listener = net
            .run_in(|| std::net::TcpListener::bind(SocketAddr::new(kernel, 8080)))
            .expect("kernel listener");
        let data = pattern(99, 300_000);
        let want: [u8; 32] = Sha256::digest(&data).into();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("kernel accept");
            s.write_all(&data).expect("kernel write");
            // Dropped: FIN.
        });
        let got = rt.block_on(async {
            let mut s = connect(&stack, SocketAddr::new(kernel, 8080)).await;
            let mut all = Vec::new();
            tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut all))
                .await
                .expect("read in time")
                .expect("read");
            all
        });
        server.join().unwrap();
        assert_eq!(got.len(), 300_000, "{fam:?}");
        assert_eq!(Sha256::digest(&got).as_slice(), want, "{fam:?}");
    }
}

#[test]
fn resets_surface_as_connection_reset_and_a_dropped_listener_refuses() {
    let test = "resets_surface_as_connection_reset_and_a_dropped_listener_refuses";
    let Some((net, rt, stack)) = stack_in_namespace(test, 1, 5) else {
        return;
    };
    let listener = TcpListener::bind(&stack, None, PORT, 16).expect("listen");
    for fam in [Family::V4, Family::V6] {
        let to = SocketAddr::new(fam.peer_addr(), PORT);
        // The kernel aborts (SO_LINGER 0) in the middle: our reader sees a reset.
        let client = net.spawn_in(move || {
            let mut s = KernelStream::connect_timeout(&to, Duration::from_secs(10)).unwrap();
            s.write_all(b"some data, then an abort").unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).unwrap(); // the server got it
            nix::sys::socket::setsockopt(
                &s,
                nix::sys::socket::sockopt::Linger,
                &nix::libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                },
            )
            .unwrap();
        });
        let err = rt.block_on(async {
            let mut s = accept(&listener).await;
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0);
            s.write_all(b"ok!!").await.unwrap();
            tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) => panic!("{fam:?}: EOF instead of a reset"),
                        Ok(_) => continue,
                        Err(e) => return e,
                    }
                }
            })
            .await
            .expect("reset in time")
        });
        client.join().unwrap();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::ConnectionReset,
            "{fam:?}: {err}"
        );

        // We abort: the kernel's read fails with ECONNRESET. On a loaded
        // machine the RST may arrive before the kernel's `connect` call has
        // returned: then `connect` itself reports the reset (Linux checks
        // the socket's error on its way out), which is as good.
        let client = net.spawn_in(move || {
            let mut s = KernelStream::connect_timeout(&to, Duration::from_secs(10))?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            let mut buf = [0u8; 16];
            match s.read(&mut buf) {
                Ok(n) => panic!("{n} octets or EOF instead of a reset"),
                Err(e) => Err::<(), _>(e),
            }
        });
        rt.block_on(async {
            accept(&listener).await.abort();
        });
        let r = client.join().unwrap();
        assert_eq!(
            r.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionReset),
            "{fam:?}: kernel side of our abort"
        );
    }
    // No listener: a SYN gets a RST.
    drop(listener);
    for fam in [Family::V4, Family::V6] {
        let to = SocketAddr::new(fam.peer_addr(), PORT);
        let r = net
            .spawn_in(move || {
                KernelStream::connect_timeout(&to, Duration::from_secs(10)).map(|_| ())
            })
            .join()
            .unwrap();
        assert_eq!(
            r.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionRefused),
            "{fam:?}: connect after the listener was dropped"
        );
    }
    drop(stack);
    rt.shutdown_timeout(Duration::from_secs(1));
}
