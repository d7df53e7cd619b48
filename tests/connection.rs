//! Behaviour of one connection pair over the simulator, driven through segments.

use std::time::Duration;
use tcp_proto::sim::{Id, Link, Sim, Trace};
use tcp_proto::{CloseReason, Config, Connection, Event, Instant, SeqNum, State};

fn cfg() -> Config {
    let mut c = Config::linux();
    c.time_wait = Duration::from_secs(60);
    // The close tests pin the four-way close; with Linux's delayed ACK of
    // a FIN that ACK would ride on the closing side's own FIN.
    c.delay_fin_ack = false;
    c
}

fn pair(seed: u64, client_iss: u32, server_iss: u32) -> (Sim, Id, Id) {
    let mut sim = Sim::new(seed);
    let s = sim.add(Connection::listen(cfg(), 80, SeqNum(server_iss)).unwrap());
    let c = sim.add(Connection::connect(cfg(), 40000, 80, SeqNum(client_iss), sim.now()).unwrap());
    (sim, c, s)
}

fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + i / 7) as u8) ^ salt).collect()
}

/// Pumps `data` from `from` to `to` while draining `to`; returns what `to` read.
fn transfer(sim: &mut Sim, from: Id, to: Id, data: &[u8], max_steps: usize) -> Vec<u8> {
    let mut off = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    for _ in 0..max_steps {
        if off < data.len()
            && let Ok(n) = sim.conn_mut(from).send(&data[off..])
        {
            off += n;
        }
        loop {
            match sim.conn_mut(to).recv(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        if got.len() == data.len() && off == data.len() {
            break;
        }
        if !sim.step() {
            break;
        }
    }
    got
}

fn transitions(sim: &Sim, id: Id) -> Vec<(State, State)> {
    sim.trace()
        .iter()
        .filter_map(|t| match t {
            Trace::Event {
                id: i,
                event: Event::StateChanged { from, to },
                ..
            } if *i == id => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

fn closed_reason(sim: &Sim, id: Id) -> Option<CloseReason> {
    sim.trace().iter().find_map(|t| match t {
        Trace::Event {
            id: i,
            event: Event::Closed(r),
            ..
        } if *i == id => Some(*r),
        _ => None,
    })
}

#[test]
fn handshake_data_both_ways_and_four_way_close() {
    let (mut sim, c, s) = pair(1, 1000, 5000);
    assert!(
        sim.run_until(1000, |sim| sim.conn(c).state() == State::Established
            && sim.conn(s).state() == State::Established)
    );
    let a = pattern(300_000, 1);
    let b = pattern(200_000, 2);
    assert_eq!(transfer(&mut sim, c, s, &a, 100_000), a);
    assert_eq!(transfer(&mut sim, s, c, &b, 100_000), b);
    let now = sim.now();
    sim.conn_mut(c).close(now).unwrap();
    assert!(sim.run_until(1000, |sim| sim.conn(s).state() == State::CloseWait));
    let mut buf = [0u8; 16];
    assert_eq!(
        sim.conn_mut(s).recv(&mut buf),
        Ok(0),
        "EOF after the peer's FIN"
    );
    let now = sim.now();
    sim.conn_mut(s).close(now).unwrap();
    sim.run_until_quiet(10_000);
    use State::*;
    assert_eq!(
        transitions(&sim, c),
        vec![
            (Closed, SynSent),
            (SynSent, Established),
            (Established, FinWait1),
            (FinWait1, FinWait2),
            (FinWait2, TimeWait),
            (TimeWait, Closed)
        ]
    );
    assert_eq!(
        transitions(&sim, s),
        vec![
            (Closed, Listen),
            (Listen, SynReceived),
            (SynReceived, Established),
            (Established, CloseWait),
            (CloseWait, LastAck),
            (LastAck, Closed)
        ]
    );
    assert_eq!(closed_reason(&sim, c), Some(CloseReason::Normal));
    assert_eq!(closed_reason(&sim, s), Some(CloseReason::Normal));
    assert!(
        sim.now() >= Instant::from_secs(60),
        "TIME-WAIT lasted 2·MSL"
    );
}

#[test]
fn megabytes_cross_the_sequence_wrap_under_loss() {
    let (mut sim, c, s) = pair(9, u32::MAX - 500, u32::MAX - 999);
    let lossy = Link {
        loss: 0.05,
        duplicate: 0.02,
        reorder: 0.05,
        jitter: Duration::from_micros(500),
        ..Link::default()
    };
    sim.set_links(c, s, lossy);
    let a = pattern(3 << 20, 3);
    assert_eq!(transfer(&mut sim, c, s, &a, 2_000_000), a);
    let b = pattern(2 << 20, 4);
    assert_eq!(transfer(&mut sim, s, c, &b, 2_000_000), b);
    assert!(sim.conn(c).stats().retransmits > 0);
}
