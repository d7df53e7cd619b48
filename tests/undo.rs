//! Undo of spurious congestion responses (RFC 3522 Eifel detection with
//! timestamps, RFC 3708 D-SACK, RFC 9438 §4.9): a recovery or timeout
//! caused by delay or reordering, not loss, gives the window back and does
//! not resend the whole flight; a real loss is never undone.

use std::time::Duration;
use tcp_proto::sim::{Id, Link, Sim};
use tcp_proto::{Config, Connection, SeqNum, State};

fn pair(cfg: Config) -> (Sim, Id, Id) {
    let mut sim = Sim::new(3);
    sim.tracing = false;
    let s = sim.add(Connection::listen(cfg, 80, SeqNum(5000)).unwrap());
    let c =
        sim.add(Connection::connect(cfg, 40000, 80, SeqNum(u32::MAX - 20_000), sim.now()).unwrap());
    sim.set_links(
        c,
        s,
        Link {
            delay: Duration::from_millis(10),
            ..Link::default()
        },
    );
    assert!(
        sim.run_until(1000, |sim| sim.conn(c).state() == State::Established
            && sim.conn(s).state() == State::Established)
    );
    (sim, c, s)
}

/// Keeps the client's send buffer full and the server reading, stepping
/// until `done` (or panics after `limit` steps).
fn pump(sim: &mut Sim, c: Id, s: Id, limit: usize, mut done: impl FnMut(&mut Sim) -> bool) {
    let data = vec![0xa5_u8; 1 << 14];
    let mut buf = vec![0u8; 1 << 16];
    for _ in 0..limit {
        while sim.conn_mut(c).send(&data).is_ok_and(|n| n > 0) {}
        while sim.conn_mut(s).recv(&mut buf).is_ok_and(|n| n > 0) {}
        if done(sim) {
            return;
        }
        assert!(sim.step(), "stalled");
    }
    panic!("condition not reached in {limit} steps");
}

/// Runs a clean bulk transfer (slow start) until the client has
/// `segments` full segments in flight.
fn bulk_until_in_flight(sim: &mut Sim, c: Id, s: Id, segments: u32) {
    pump(sim, c, s, 200_000, |sim| {
        let st = sim.conn(c).stats();
        st.bytes_in_flight >= segments * st.snd_mss
    });
}

fn slow_link(ms: u64) -> Link {
    Link {
        delay: Duration::from_millis(ms),
        ..Link::default()
    }
}

fn acks_to(sim: &Sim, to: Id) -> Vec<usize> {
    sim.in_flight()
        .enumerate()
        .filter(|(_, p)| p.to == to)
        .map(|(i, _)| i)
        .collect()
}

/// Every ACK on its way to the client is held back by `d`.
fn hold_acks(sim: &mut Sim, c: Id, d: Duration) {
    let n = acks_to(sim, c).len();
    for _ in 0..n {
        // delay_in_flight moves the segment to the end: the first match is the next one.
        let i = acks_to(sim, c)[0];
        sim.delay_in_flight(i, d);
    }
}

fn spurious_timeout_is_undone(timestamps: bool) {
    let mut cfg = Config::linux();
    cfg.timestamps = timestamps;
    let (mut sim, c, s) = pair(cfg);
    bulk_until_in_flight(&mut sim, c, s, 40);
    let before = sim.conn(c).stats();
    // The ACKs of a whole flight and of the next 1.5 s come 1.5 s late
    // (a delay spike on the return path): the timer fires first.
    hold_acks(&mut sim, c, Duration::from_millis(1500));
    sim.set_link(s, c, slow_link(1500));
    pump(&mut sim, c, s, 200_000, |sim| {
        sim.conn(c).stats().rto_expirations > before.rto_expirations
    });
    sim.set_link(s, c, slow_link(10));
    let t0 = sim.now();
    // Until the late ACKs (and the D-SACK of the retransmission) are in.
    pump(&mut sim, c, s, 200_000, |sim| {
        sim.now() > t0 + Duration::from_millis(1600)
    });
    let st = sim.conn(c).stats();
    assert_eq!(st.rto_expirations, before.rto_expirations + 1, "{st:?}");
    assert_eq!(st.spurious_undos, 1, "timestamps {timestamps}: {st:?}");
    // Go-back-N stopped: only the timer's retransmission (and perhaps a
    // tail probe) went out again, not the 40-segment flight.
    assert!(
        st.retransmits - before.retransmits <= 2,
        "resent {} segments",
        st.retransmits - before.retransmits
    );
    assert!(
        st.cwnd >= before.cwnd,
        "window restored: {} before the timeout, {} after the undo",
        before.cwnd,
        st.cwnd
    );
    assert_eq!(st.ssthresh, before.ssthresh, "threshold restored");
}

#[test]
fn timeout_caused_by_late_acks_is_undone_and_go_back_n_stops_with_timestamps() {
    spurious_timeout_is_undone(true);
}

#[test]
fn timeout_caused_by_late_acks_is_undone_and_go_back_n_stops_by_dsack() {
    spurious_timeout_is_undone(false);
}

/// Holds one data segment of a full flight back by `d` so that the
/// segments after it arrive first: the client enters recovery for it.
fn reorder_one_segment(timestamps: bool, hold: Duration) -> (tcp_proto::Stats, tcp_proto::Stats) {
    let mut cfg = Config::linux();
    cfg.timestamps = timestamps;
    let (mut sim, c, s) = pair(cfg);
    bulk_until_in_flight(&mut sim, c, s, 30);
    let before = sim.conn(c).stats();
    let data_to_server: Vec<usize> = sim
        .in_flight()
        .enumerate()
        .filter(|(_, p)| p.to == s && !p.seg.payload.is_empty())
        .map(|(i, _)| i)
        .collect();
    assert!(data_to_server.len() > 10, "a flight of data on the link");
    let i = data_to_server[2];
    match hold {
        Duration::MAX => {
            sim.drop_in_flight(i);
        }
        d => sim.delay_in_flight(i, d),
    }
    // A few round trips: recovery, the late original, the D-SACK.
    let t0 = sim.now();
    pump(&mut sim, c, s, 400_000, |sim| {
        sim.now() > t0 + Duration::from_millis(150)
    });
    (before, sim.conn(c).stats())
}

/// One segment 15 ms late on a 20 ms path (three later segments arrive
/// first): one fast retransmit, then one undo that gives ssthresh back.
fn assert_reordering_is_undone(timestamps: bool) {
    let (before, st) = reorder_one_segment(timestamps, Duration::from_millis(15));
    assert_eq!(st.fast_retransmits, before.fast_retransmits + 1);
    assert_eq!(st.spurious_undos, 1, "{st:?}");
    assert!(
        st.ssthresh >= before.ssthresh,
        "{} -> {}",
        before.ssthresh,
        st.ssthresh
    );
}

#[test]
fn recovery_for_a_reordered_segment_is_undone_by_timestamps() {
    assert_reordering_is_undone(true);
}

#[test]
fn recovery_for_a_reordered_segment_is_undone_by_dsack() {
    assert_reordering_is_undone(false);
}

#[test]
fn recovery_for_a_real_loss_is_never_undone() {
    for ts in [true, false] {
        let (before, st) = reorder_one_segment(ts, Duration::MAX);
        assert_eq!(st.fast_retransmits, before.fast_retransmits + 1, "ts {ts}");
        assert_eq!(st.spurious_undos, 0, "ts {ts}: {st:?}");
        assert!(st.ssthresh < before.cwnd, "ts {ts}: reduced and kept");
    }
}
