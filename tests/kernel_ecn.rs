//! ECN (RFC 3168) against Linux over a TUN in a private namespace: we ask
//! (`EcnMode::On`), Linux accepts (`tcp_ecn=2`, set in the namespace), and
//! a congestion-marking "router" in the pump marks every 25th ECN-capable
//! data packet CE each way. Both stacks must echo and react: Linux sets
//! CWR after our ECE, we reduce after its ECE; data arrives intact.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::Duration;

use common::app::{App, Finish, Fnv, accept_within, write_pattern};
use common::impair::Profile;
use common::ip;
use common::netns::{Family, KernelNet};
use common::pump::Pump;
use tcp_proto::{CloseReason, Config, Ecn, EcnMode, Flags, SeqNum, State};

const KERNEL_PORT: u16 = 5001;
const OUR_PORT: u16 = 5002;
const OUR_SEED: u64 = 0xEC_0001;
const KERNEL_SEED: u64 = 0xEC_0002;
const N: u64 = 2 << 20;

/// One logged packet: (from us, TCP flags, ECN codepoint as sent, payload length).
type Logged = (bool, Flags, Ecn, usize);

fn ecn_against_linux(family: Family) {
    let name = format!("kernel_ecn_{family:?}").to_lowercase();
    let Some(net) = KernelNet::new_or_skip(&name) else {
        return;
    };
    // Linux's default, set explicitly: accept ECN when asked, never ask.
    net.run_in(|| std::fs::write("/proc/sys/net/ipv4/tcp_ecn", "2"))
        .expect("set tcp_ecn in the namespace");
    let at = SocketAddr::new(family.kernel_addr(), KERNEL_PORT);
    let listener = net
        .run_in(move || TcpListener::bind(at))
        .expect("kernel listen");
    let kernel = net.spawn_in(move || {
        let mut s = accept_within(&listener, Duration::from_secs(20));
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut w = s.try_clone().unwrap();
        let writer = thread::spawn(move || {
            write_pattern(&mut w, KERNEL_SEED, N).expect("kernel write");
        });
        let (mut got, mut hash, mut buf) = (0u64, Fnv::default(), vec![0u8; 64 * 1024]);
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hash.update(&buf[..n]);
                    got += n as u64;
                }
                Err(e) => panic!("kernel read: {e}"),
            }
        }
        writer.join().unwrap();
        (got, hash)
    });
    let mut cfg = Config::linux();
    cfg.ecn = EcnMode::On;
    cfg.time_wait = Duration::from_millis(200);
    let out_pair = ip::pair(family.peer_addr(), family.kernel_addr());
    let app = App::new(OUR_SEED, N, N, Finish::Close { wait_eof: false });
    let mut pump = Pump::new(
        &net,
        out_pair,
        OUR_PORT,
        None,
        app,
        (Profile::CLEAN, Profile::CLEAN),
        7,
    );
    pump.mark_ce_every = Some((25, 25));
    pump.connect(cfg, KERNEL_PORT, SeqNum(0xFFFF_0000));
    pump.run_until(Duration::from_secs(60), "CLOSED", |p| {
        p.state() == Some(State::Closed) && p.app.closed.is_some()
    });
    let (k_got, k_hash) = kernel.join().expect("kernel thread");
    let conn = pump.conn.as_ref().unwrap();
    let st = conn.stats();
    let log = &pump.ecn_log;
    let ours = |f: &dyn Fn(&Logged) -> bool| log.iter().filter(|e| e.0 && f(e)).count();
    let theirs = |f: &dyn Fn(&Logged) -> bool| log.iter().filter(|e| !e.0 && f(e)).count();
    let ece = |f: Flags| f.contains(Flags::ECE);
    let cwr = |f: Flags| f.contains(Flags::CWR);
    eprintln!(
        "{name}: {st:?}\n  ours: {} data ECT(0), {} data not-ECT, {} with ECE, {} with CWR; \
         Linux: {} data ECT, {} with ECE, {} with CWR",
        ours(&|e| e.3 > 0 && e.2 == Ecn::Ect0),
        ours(&|e| e.3 > 0 && e.2 == Ecn::NotEct),
        ours(&|e| ece(e.1)),
        ours(&|e| cwr(e.1)),
        theirs(&|e| e.3 > 0 && e.2 != Ecn::NotEct),
        theirs(&|e| ece(e.1)),
        theirs(&|e| cwr(e.1)),
    );
    // Negotiation: our SYN asks, Linux's SYN-ACK agrees.
    assert_eq!(
        ours(&|e| e.1.syn() && ece(e.1) && cwr(e.1)),
        1,
        "one ECN-setup SYN"
    );
    assert_eq!(
        theirs(&|e| e.1.syn() && e.1.ack() && ece(e.1) && !cwr(e.1)),
        1,
        "ECN-setup SYN-ACK"
    );
    assert!(conn.ecn_enabled());
    // ECT(0) on our new data, never on our pure ACKs or SYN.
    assert!(ours(&|e| e.3 > 0 && e.2 == Ecn::Ect0) > 1000);
    assert_eq!(ours(&|e| e.3 == 0 && e.2 != Ecn::NotEct), 0);
    assert_eq!(st.retransmits, 0, "clean path");
    assert_eq!(ours(&|e| e.3 > 0 && e.2 == Ecn::NotEct), 0);
    // Linux's data was ECN-capable; our marks reached it both ways.
    assert!(theirs(&|e| e.3 > 0 && e.2 != Ecn::NotEct) > 1000);
    assert!(st.ecn_ce_received >= 10, "{st:?}");
    // We echoed its marks, and Linux answered with CWR.
    assert!(ours(&|e| ece(e.1)) > 0);
    assert!(
        theirs(&|e| cwr(e.1) && e.3 > 0) > 0,
        "Linux reduced and said so"
    );
    // Linux echoed our marks, we reduced (not more than once per mark) and said so.
    assert!(theirs(&|e| ece(e.1)) > 0);
    assert!(st.ecn_reductions >= 1, "{st:?}");
    assert!(st.ecn_reductions <= ours(&|e| e.3 > 0 && e.2 == Ecn::Ect0) as u64 / 25 + 1);
    assert_eq!(ours(&|e| cwr(e.1) && !e.1.syn()) as u64, st.ecn_reductions);
    // Nothing lost or corrupted on the way.
    assert_eq!(pump.app.closed, Some(CloseReason::Normal));
    assert_eq!((k_got, k_hash), (N, Fnv::of_pattern(OUR_SEED, N)));
    assert_eq!(pump.app.received, N);
    assert_eq!(pump.app.rx_hash, Fnv::of_pattern(KERNEL_SEED, N));
}

#[test]
fn ecn_negotiates_echoes_and_reacts_against_linux_v4() {
    ecn_against_linux(Family::V4);
}

#[test]
fn ecn_negotiates_echoes_and_reacts_against_linux_v6() {
    ecn_against_linux(Family::V6);
}
