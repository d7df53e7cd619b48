//! Issue #4: tcp-proto against Linux TCP over a TUN in a private namespace.
//! Both roles, IPv4 and IPv6, every close order, clean and lossy (10% loss,
//! reordering and duplication each way). Each scenario writes a pcap to
//! `$CARGO_TARGET_TMPDIR/pcap/` and, with tshark, checks it.
//!
//! Sizes: `TCPP_INTEROP_MIB` (default 10) MiB each way for the clean
//! transfer scenarios, 1 MiB for the other clean ones, 256 KiB when lossy.
//!
//! (Moved to tests/ once `Connection` is on main; see tests/pending/README.)

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::app::{App, Finish, Fnv, accept_within, write_pattern};
use common::impair::Profile;
use common::ip;
use common::netns::{Family, KernelNet};
use common::pump::Pump;
use common::tshark;
use tcp_proto::{CloseReason, Config, SeqNum, State};

const KERNEL_PORT: u16 = 5001;
const OUR_PORT: u16 = 5002;
const OUR_SEED: u64 = 0x7c9_0001;
const KERNEL_SEED: u64 = 0x11_4e75;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// tcp-proto connects; the kernel listens.
    Client,
    /// The kernel connects; tcp-proto accepts.
    Server,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CloseOrder {
    UsFirst,
    KernelFirst,
    Simultaneous,
    /// The kernel shuts down writing; we keep sending 1 MiB, then close.
    HalfClose,
    AbortUs,
    AbortKernel,
}

/// What the kernel side saw.
#[derive(Debug)]
struct KernelResult {
    received: u64,
    hash: Fnv,
    read_error: Option<ErrorKind>,
    /// Octets written after our abort to draw a RST (lossy runs only).
    pokes: u32,
}

fn config() -> Config {
    let mut c = Config::linux();
    c.time_wait = Duration::from_millis(200);
    c
}

fn mib() -> u64 {
    std::env::var("TCPP_INTEROP_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

/// The kernel application, run on a thread inside the namespace.
/// `go`: for a simultaneous close, waits for the signal before shutting
/// down and reports back on `done`.
fn kernel_app(
    stream: TcpStream,
    send: u64,
    recv_before_close: u64,
    order: CloseOrder,
    go: Option<(mpsc::Receiver<()>, mpsc::Sender<()>)>,
    lossy: bool,
) -> KernelResult {
    // When we abort in a lossy run our one RST may be dropped; the kernel
    // then learns of it only when it sends, as a real application would.
    let poke = lossy && order == CloseOrder::AbortUs;
    let read_timeout = if poke { 1 } else { 60 };
    stream
        .set_read_timeout(Some(Duration::from_secs(read_timeout)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut writer = stream.try_clone().expect("clone kernel stream");
    let shutdown_after_send = order == CloseOrder::HalfClose;
    let w = thread::spawn(move || {
        if write_pattern(&mut writer, KERNEL_SEED, send).is_err() {
            return;
        }
        if shutdown_after_send {
            let _ = writer.shutdown(Shutdown::Write);
        }
    });
    let mut reader = stream;
    let mut res = KernelResult {
        received: 0,
        hash: Fnv::default(),
        read_error: None,
        pokes: 0,
    };
    let mut buf = vec![0u8; 64 * 1024];
    // Read until EOF, an error, or (for the kernel-initiated closes) enough.
    let stop_at = match order {
        CloseOrder::KernelFirst | CloseOrder::AbortKernel | CloseOrder::Simultaneous => {
            Some(recv_before_close)
        }
        _ => None,
    };
    loop {
        if stop_at.is_some_and(|s| res.received >= s) {
            break;
        }
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                res.hash.update(&buf[..n]);
                res.received += n as u64;
            }
            Err(e)
                if poke
                    && res.pokes < 60
                    && matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                res.pokes += 1;
                if let Err(e) = reader.write_all(b"?") {
                    res.read_error = Some(e.kind());
                    break;
                }
            }
            Err(e) => {
                res.read_error = Some(e.kind());
                break;
            }
        }
    }
    let _ = w.join();
    match order {
        CloseOrder::AbortKernel => {
            // Abort only once we have read everything: a RST discards
            // whatever the kernel still has queued.
            let (go, _) = go.expect("abort needs a signal");
            go.recv_timeout(Duration::from_secs(60)).expect("go signal");
            use nix::sys::socket::{setsockopt, sockopt::Linger};
            setsockopt(
                &reader,
                Linger,
                &nix::libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                },
            )
            .expect("SO_LINGER 0");
        }
        CloseOrder::Simultaneous => {
            let (go, done) = go.expect("simultaneous close needs a signal");
            go.recv_timeout(Duration::from_secs(30)).expect("go signal");
            let _ = reader.shutdown(Shutdown::Write);
            let _ = done.send(());
            // Read to EOF (our FIN).
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => res.received += n as u64,
                    Err(e) => {
                        res.read_error = Some(e.kind());
                        break;
                    }
                }
            }
        }
        _ => {}
    }
    drop(reader); // close (FIN, or RST with linger 0)
    res
}

struct Plan {
    us_send: u64,
    kernel_send: u64,
    finish: Finish,
}

fn plan(order: CloseOrder, n: u64) -> Plan {
    let extra = 1 << 20;
    match order {
        CloseOrder::UsFirst => Plan {
            us_send: n,
            kernel_send: n,
            finish: Finish::Close { wait_eof: false },
        },
        CloseOrder::KernelFirst => Plan {
            us_send: n,
            kernel_send: n,
            finish: Finish::Close { wait_eof: true },
        },
        CloseOrder::Simultaneous => Plan {
            us_send: n,
            kernel_send: n,
            finish: Finish::Stay,
        },
        CloseOrder::HalfClose => Plan {
            us_send: n + extra,
            kernel_send: n,
            finish: Finish::Close { wait_eof: true },
        },
        CloseOrder::AbortUs => Plan {
            us_send: n,
            kernel_send: n,
            finish: Finish::Abort,
        },
        CloseOrder::AbortKernel => Plan {
            us_send: n,
            kernel_send: n,
            finish: Finish::Stay,
        },
    }
}

fn scenario(family: Family, role: Role, order: CloseOrder, lossy: bool) {
    let name = format!(
        "kernel_{family:?}_{role:?}_{order:?}_{}",
        if lossy { "lossy" } else { "clean" }
    )
    .to_lowercase();
    let Some(net) = KernelNet::new_or_skip(&name) else {
        return;
    };
    let n = if lossy {
        256 * 1024
    } else if matches!(order, CloseOrder::UsFirst | CloseOrder::KernelFirst) {
        mib() << 20
    } else {
        1 << 20
    };
    let p = plan(order, n);
    let profile = if lossy {
        Profile::lossy(0.10)
    } else {
        Profile::CLEAN
    };
    let out_pair = ip::pair(family.peer_addr(), family.kernel_addr());
    let seed = 0xC0FFEE ^ (order as u64) << 8 ^ (role as u64) << 4 ^ (family as u64);
    let iss = SeqNum(0xFFFF_0000); // the sequence space wraps during 10 MiB
    let (go_tx, go_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let go = matches!(order, CloseOrder::Simultaneous | CloseOrder::AbortKernel)
        .then_some((go_rx, done_tx));
    let (kernel_send, kernel_recv) = (p.kernel_send, p.us_send);

    let app = App::new(OUR_SEED, p.us_send, p.kernel_send, p.finish);
    let (kernel, mut pump) = match role {
        Role::Client => {
            let at = SocketAddr::new(family.kernel_addr(), KERNEL_PORT);
            let listener = net
                .run_in(move || TcpListener::bind(at))
                .expect("kernel listen");
            let kernel = net.spawn_in(move || {
                let stream = accept_within(&listener, Duration::from_secs(20));
                kernel_app(stream, kernel_send, kernel_recv, order, go, lossy)
            });
            let mut pump = Pump::new(
                &net,
                out_pair,
                OUR_PORT,
                None,
                app,
                (profile, profile),
                seed,
            );
            pump.connect(config(), KERNEL_PORT, iss);
            (kernel, pump)
        }
        Role::Server => {
            let to = SocketAddr::new(family.peer_addr(), OUR_PORT);
            let kernel = net.spawn_in(move || {
                let stream = TcpStream::connect_timeout(&to, Duration::from_secs(20))
                    .expect("kernel connect");
                kernel_app(stream, kernel_send, kernel_recv, order, go, lossy)
            });
            let mut pump = Pump::new(
                &net,
                out_pair,
                OUR_PORT,
                None,
                app,
                (profile, profile),
                seed,
            );
            pump.accept_with = Some((config(), iss));
            (kernel, pump)
        }
    };

    let limit = Duration::from_secs(if lossy { 60 } else { 30 });
    // Transfer done: all our data acknowledged (so the kernel application
    // can read it without us pumping) and all of the kernel's data read.
    pump.run_until(limit, "transfer", |p| {
        p.app.sent == p.app.send_total
            && p.app.received >= p.app.recv_target
            && p.conn
                .as_ref()
                .is_some_and(|c| c.send_queue_len() == 0 || c.state() == State::Closed)
    });
    if order == CloseOrder::AbortKernel {
        go_tx.send(()).unwrap();
    }
    if order == CloseOrder::Simultaneous {
        go_tx.send(()).unwrap();
        done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("kernel shut down");
        thread::sleep(Duration::from_millis(2)); // let its FIN reach the TUN queue
        let now = pump.clock.now();
        pump.conn.as_mut().unwrap().close(now).expect("close");
    }
    if order == CloseOrder::AbortKernel && lossy {
        // The kernel's one RST may be dropped: we learn of the abort when
        // we next send (the kernel answers with another RST), so the
        // application writes again every second, as a real one would.
        let start = std::time::Instant::now();
        let mut last = start;
        while pump.state() != Some(State::Closed) && start.elapsed() < limit {
            pump.step(Duration::from_millis(10));
            if last.elapsed() > Duration::from_secs(1) {
                last = std::time::Instant::now();
                let _ = pump.conn.as_mut().unwrap().send(b"?");
            }
        }
    }
    pump.run_until(limit, "CLOSED", |p| {
        p.state() == Some(State::Closed) && p.app.closed.is_some()
    });
    // Keep pumping until the kernel application is done: it may still send
    // (a write after our abort must draw our host's RST).
    let start = std::time::Instant::now();
    while !kernel.is_finished() && start.elapsed() < limit + Duration::from_secs(60) {
        pump.step(Duration::from_millis(10));
    }
    let k = kernel.join().expect("kernel thread");
    // Stay a moment so late segments (final ACKs) are in the trace.
    let t = pump.clock.now();
    pump.run_until(Duration::from_secs(1), "quiet", |p| {
        p.clock.now().saturating_duration_since(t) > Duration::from_millis(50)
    });

    let path = tshark::pcap_path(&name);
    pump.write_pcap(&path);
    let start = if role == Role::Client {
        State::Closed
    } else {
        State::Listen
    };
    let states = pump.app.assert_legal_path(start);
    eprintln!(
        "{name}: {states:?}, impairment out {:?} in {:?}, TUN drops {}",
        pump.outbound.stats,
        pump.inbound.stats,
        net.tun_drops()
    );
    assert_eq!(
        net.tun_drops(),
        0,
        "{name}: the kernel dropped packets on the TUN"
    );
    assert_eq!(*states.last().unwrap(), State::Closed);
    assert!(states.contains(&State::Established), "{states:?}");

    match order {
        CloseOrder::AbortUs => {
            assert_eq!(pump.app.closed, Some(CloseReason::Aborted));
            assert_eq!(
                k.read_error,
                Some(ErrorKind::ConnectionReset),
                "kernel sees ECONNRESET: {k:?}"
            );
        }
        CloseOrder::AbortKernel => {
            assert_eq!(pump.app.closed, Some(CloseReason::Reset));
            assert_eq!(
                pump.app.rx_hash,
                Fnv::of_pattern(KERNEL_SEED, p.kernel_send)
            );
        }
        _ => {
            assert_eq!(pump.app.closed, Some(CloseReason::Normal));
            assert_eq!(k.read_error, None, "{k:?}");
            assert_eq!(k.received, p.us_send, "kernel got all our bytes");
            assert_eq!(
                k.hash,
                Fnv::of_pattern(OUR_SEED, p.us_send),
                "kernel's hash of our stream"
            );
            assert_eq!(pump.app.received, p.kernel_send);
            assert_eq!(
                pump.app.rx_hash,
                Fnv::of_pattern(KERNEL_SEED, p.kernel_send),
                "our hash of the kernel's stream"
            );
            assert!(pump.app.saw_peer_fin(), "we saw the kernel's FIN");
            let active = matches!(order, CloseOrder::UsFirst | CloseOrder::Simultaneous);
            assert_eq!(
                states.contains(&State::TimeWait),
                active,
                "active closer passes TIME-WAIT: {states:?}"
            );
            // With loss a FIN may arrive after the other side's ACK.
            if order == CloseOrder::Simultaneous && !lossy {
                assert!(
                    states.contains(&State::Closing),
                    "simultaneous close goes through CLOSING: {states:?}"
                );
            }
            if !active {
                assert!(
                    states.contains(&State::LastAck),
                    "passive closer ends via LAST-ACK: {states:?}"
                );
            }
        }
    }
    if tshark::available(&name) {
        tshark::assert_trace_ok(&path, !lossy);
        if lossy {
            tshark::assert_retransmissions_seen(&path);
        }
    }
}

/// Connecting to a port nobody listens on, both directions.
fn refused(family: Family, role: Role) {
    let name = format!("kernel_{family:?}_{role:?}_refused").to_lowercase();
    let Some(net) = KernelNet::new_or_skip(&name) else {
        return;
    };
    let out_pair = ip::pair(family.peer_addr(), family.kernel_addr());
    let app = App::new(OUR_SEED, 0, 0, Finish::Stay);
    let mut pump = Pump::new(
        &net,
        out_pair,
        OUR_PORT,
        None,
        app,
        (Profile::CLEAN, Profile::CLEAN),
        1,
    );
    match role {
        Role::Client => {
            pump.connect(config(), 9, SeqNum(12345));
            pump.run_until(Duration::from_secs(5), "refusal", |p| {
                p.app.closed.is_some()
            });
            assert_eq!(pump.app.closed, Some(CloseReason::Refused));
            assert_eq!(
                pump.app.assert_legal_path(State::Closed),
                vec![State::Closed, State::SynSent, State::Closed]
            );
        }
        Role::Server => {
            let to = SocketAddr::new(family.peer_addr(), 9);
            let kernel = net.spawn_in(move || {
                TcpStream::connect_timeout(&to, Duration::from_secs(5)).map(|_| ())
            });
            pump.run_until(Duration::from_secs(5), "the kernel's SYN", |p| {
                !p.unmatched.is_empty()
            });
            let r = kernel.join().unwrap();
            assert_eq!(r.map_err(|e| e.kind()), Err(ErrorKind::ConnectionRefused));
        }
    }
    let path = tshark::pcap_path(&name);
    pump.write_pcap(&path);
    if tshark::available(&name) {
        tshark::assert_trace_ok(&path, false);
        assert_eq!(
            tshark::fields(&path, "tcp.flags.reset == 1", &["frame.number"]).len(),
            1
        );
    }
}

macro_rules! matrix {
    ($($name:ident: $fam:ident $role:ident $order:ident;)*) => {
        mod clean { use super::*; $(#[test] fn $name() { scenario(Family::$fam, Role::$role, CloseOrder::$order, false); })* }
        mod lossy { use super::*; $(#[test] fn $name() { scenario(Family::$fam, Role::$role, CloseOrder::$order, true); })* }
    };
}

matrix! {
    v4_client_us_first: V4 Client UsFirst;
    v4_client_kernel_first: V4 Client KernelFirst;
    v4_client_simultaneous: V4 Client Simultaneous;
    v4_client_half_close: V4 Client HalfClose;
    v4_client_abort_us: V4 Client AbortUs;
    v4_client_abort_kernel: V4 Client AbortKernel;
    v4_server_us_first: V4 Server UsFirst;
    v4_server_kernel_first: V4 Server KernelFirst;
    v4_server_simultaneous: V4 Server Simultaneous;
    v4_server_half_close: V4 Server HalfClose;
    v4_server_abort_us: V4 Server AbortUs;
    v4_server_abort_kernel: V4 Server AbortKernel;
    v6_client_us_first: V6 Client UsFirst;
    v6_client_kernel_first: V6 Client KernelFirst;
    v6_client_simultaneous: V6 Client Simultaneous;
    v6_client_half_close: V6 Client HalfClose;
    v6_client_abort_us: V6 Client AbortUs;
    v6_client_abort_kernel: V6 Client AbortKernel;
    v6_server_us_first: V6 Server UsFirst;
    v6_server_kernel_first: V6 Server KernelFirst;
    v6_server_simultaneous: V6 Server Simultaneous;
    v6_server_half_close: V6 Server HalfClose;
    v6_server_abort_us: V6 Server AbortUs;
    v6_server_abort_kernel: V6 Server AbortKernel;
}

#[test]
fn refused_v4_client() {
    refused(Family::V4, Role::Client);
}
#[test]
fn refused_v4_server() {
    refused(Family::V4, Role::Server);
}
#[test]
fn refused_v6_client() {
    refused(Family::V6, Role::Client);
}
#[test]
fn refused_v6_server() {
    refused(Family::V6, Role::Server);
}
