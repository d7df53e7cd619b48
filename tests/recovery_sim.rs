//! Loss recovery end to end over the crate's lossy simulator: SACK with
//! RFC 6675, PRR and RACK-TLP against duplicate-ACK recovery (the same
//! controller, SACK off) on the same seeded paths.

use std::time::Duration;
use tcp_proto::sim::{Id, Link, Sim};
use tcp_proto::{Config, Connection, Instant, SeqNum};

struct Run {
    elapsed: Duration,
    rtos: u64,
    retransmits: u64,
}

/// Sends `len` octets from a client to a server over `loss` random loss
/// both ways with a 10 ms one-way delay; checks every octet arrived.
fn transfer(cfg: Config, seed: u64, loss: f64, len: usize) -> Run {
    let mut sim = Sim::new(seed);
    sim.tracing = false;
    let s = sim.add(Connection::listen(cfg, 80, SeqNum(u32::MAX - 20_000)).unwrap());
    let c = sim.add(Connection::connect(cfg, 40000, 80, SeqNum(77), sim.now()).unwrap());
    let link = Link {
        delay: Duration::from_millis(10),
        loss,
        ..Link::default()
    };
    sim.set_links(c, s, link);
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 1000) as u8).collect();
    let start = sim.now();
    let got = pump(&mut sim, c, s, &data);
    assert_eq!(got.len(), data.len(), "seed {seed}: transfer incomplete");
    assert!(got == data, "seed {seed}: data corrupted");
    let st = sim.conn(c).stats();
    Run {
        elapsed: sim.now() - start,
        rtos: st.rto_expirations,
        retransmits: st.retransmits,
    }
}

fn pump(sim: &mut Sim, from: Id, to: Id, data: &[u8]) -> Vec<u8> {
    let mut off = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let deadline = Instant::from_secs(600);
    while got.len() < data.len() && sim.now() < deadline {
        if off < data.len()
            && let Ok(n) = sim.conn_mut(from).send(&data[off..])
        {
            off += n;
        }
        while let Ok(n) = sim.conn_mut(to).recv(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        if !sim.step() {
            break;
        }
    }
    got
}

fn cfg(sack: bool) -> Config {
    let mut c = Config::linux();
    c.sack = sack;
    c
}

#[test]
fn sack_recovery_beats_duplicate_ack_recovery_on_the_same_lossy_paths() {
    let (mut sack_t, mut reno_t) = (Duration::ZERO, Duration::ZERO);
    let (mut sack_rto, mut reno_rto) = (0, 0);
    for seed in 1..=4 {
        let a = transfer(cfg(true), seed, 0.02, 1 << 20);
        let b = transfer(cfg(false), seed, 0.02, 1 << 20);
        println!(
            "seed {seed}: SACK {:?} ({} RTOs, {} rtx)  no SACK {:?} ({} RTOs, {} rtx)",
            a.elapsed, a.rtos, a.retransmits, b.elapsed, b.rtos, b.retransmits
        );
        sack_t += a.elapsed;
        reno_t += b.elapsed;
        sack_rto += a.rtos;
        reno_rto += b.rtos;
    }
    assert!(
        sack_t < reno_t,
        "SACK took {sack_t:?}, no SACK {reno_t:?} over the same paths"
    );
    assert!(
        sack_rto <= reno_rto,
        "SACK {sack_rto} RTOs, NewReno {reno_rto}"
    );
}

/// The 35 % loss demo used to inflate the RTT estimate to tens of seconds
/// (stale timestamp echoes taken as samples), so that FIN retransmissions
/// outlived the peer's TIME-WAIT. On a 2 ms path SRTT must stay near 2 ms.
#[test]
fn srtt_stays_near_the_path_rtt_at_35_percent_loss() {
    for seed in 1..=12 {
        let mut sim = Sim::new(seed);
        sim.tracing = false;
        let cfg = Config::linux();
        let s = sim.add(Connection::listen(cfg, 80, SeqNum(5)).unwrap());
        let c =
            sim.add(Connection::connect(cfg, 40000, 80, SeqNum(u32::MAX - 9), sim.now()).unwrap());
        sim.set_links(
            c,
            s,
            Link {
                delay: Duration::from_millis(1),
                loss: 0.35,
                ..Link::default()
            },
        );
        let data = vec![0x42u8; 64 * 1024];
        let got = pump(&mut sim, c, s, &data);
        assert_eq!(got.len(), data.len(), "seed {seed}");
        for id in [c, s] {
            let st = sim.conn(id).stats();
            if let Some(srtt) = st.srtt {
                assert!(
                    srtt < Duration::from_millis(250),
                    "seed {seed}: srtt {srtt:?} on a 2 ms path ({st:?})"
                );
            }
        }
    }
}
