//! Congestion control seen from outside: the presets' controllers, a
//! user's controller plugged in through the public trait, and window
//! validation (no growth while the application does not use the window).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tcp_proto::cc::{AckSample, CongestionControl};
use tcp_proto::sim::{Id, Link, Sim};
use tcp_proto::{Config, CongestionAlgorithm, Connection, Instant, SeqNum, State};

fn pair(cfg: Config, link: Link) -> (Sim, Id, Id) {
    let mut sim = Sim::new(7);
    let s = sim.add(Connection::listen(cfg, 80, SeqNum(5000)).unwrap());
    let c =
        sim.add(Connection::connect(cfg, 40000, 80, SeqNum(u32::MAX - 3000), sim.now()).unwrap());
    sim.set_links(c, s, link);
    (sim, c, s)
}

fn link(delay_ms: u64) -> Link {
    Link {
        delay: Duration::from_millis(delay_ms),
        ..Link::default()
    }
}

fn established(sim: &mut Sim, c: Id, s: Id) {
    assert!(
        sim.run_until(1000, |sim| sim.conn(c).state() == State::Established
            && sim.conn(s).state() == State::Established)
    );
}

#[test]
fn linux_preset_runs_cubic_and_the_rfc_preset_newreno() {
    assert_eq!(Config::linux().congestion, CongestionAlgorithm::Cubic);
    assert_eq!(Config::default().congestion, CongestionAlgorithm::Cubic);
    assert_eq!(Config::rfc9293().congestion, CongestionAlgorithm::NewReno);
}

/// A user's controller: a fixed window of `segs` segments, counting what
/// the connection tells it.
#[derive(Debug)]
struct FixedWindow {
    segs: u32,
    mss: u32,
    acks: Arc<AtomicU32>,
    rtt_samples: Arc<AtomicU32>,
    rounds: Arc<AtomicU32>,
    resets: Arc<AtomicU32>,
}

impl CongestionControl for FixedWindow {
    fn cwnd(&self) -> u32 {
        self.segs * self.mss
    }
    fn ssthresh(&self) -> u32 {
        self.segs * self.mss
    }
    fn reset(&mut self, _initial_window: u32, mss: u32) {
        self.mss = mss;
        self.resets.fetch_add(1, Ordering::Relaxed);
    }
    fn on_ack(&mut self, _now: Instant, ack: &AckSample) {
        assert!(ack.acked > 0 && ack.mss == self.mss);
        self.acks.fetch_add(1, Ordering::Relaxed);
        if ack.rtt.is_some() {
            self.rtt_samples.fetch_add(1, Ordering::Relaxed);
        }
        if ack.new_round {
            self.rounds.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn on_fast_retransmit(&mut self, _: Instant, _: u32, _: u32) {}
    fn on_dup_ack_in_recovery(&mut self, _: u32) {}
    fn on_partial_ack(&mut self, _: u32, _: u32) {}
    fn on_recovery_end(&mut self, _: u32, _: u32) {}
    fn on_rto(&mut self, _: Instant, _: u32, _: u32) {}
    fn on_ecn(&mut self, _: Instant, _: u32, _: u32) {}
}

#[test]
fn a_plugged_in_controller_sets_the_window_and_hears_every_ack() {
    let (mut sim, c, s) = pair(Config::linux(), link(5));
    let acks = Arc::new(AtomicU32::new(0));
    let rtt_samples = Arc::new(AtomicU32::new(0));
    let rounds = Arc::new(AtomicU32::new(0));
    let resets = Arc::new(AtomicU32::new(0));
    sim.conn_mut(c)
        .set_congestion_control(Box::new(FixedWindow {
            segs: 3,
            mss: 0,
            acks: acks.clone(),
            rtt_samples: rtt_samples.clone(),
            rounds: rounds.clone(),
            resets: resets.clone(),
        }));
    established(&mut sim, c, s);
    assert_eq!(
        resets.load(Ordering::Relaxed),
        2,
        "on install, then at the SYN-ACK"
    );
    let mss = sim.conn(c).stats().snd_mss;
    let data = vec![0x5a; 300_000];
    let mut off = 0;
    let mut got = 0;
    let mut buf = vec![0u8; 65536];
    let mut max_flight = 0;
    for _ in 0..200_000 {
        if off < data.len()
            && let Ok(n) = sim.conn_mut(c).send(&data[off..])
        {
            off += n;
        }
        while let Ok(n) = sim.conn_mut(s).recv(&mut buf) {
            if n == 0 {
                break;
            }
            got += n;
        }
        max_flight = max_flight.max(sim.conn(c).stats().bytes_in_flight);
        if got == data.len() || !sim.step() {
            break;
        }
    }
    assert_eq!(got, data.len());
    assert_eq!(sim.conn(c).stats().cwnd, 3 * mss);
    assert!(
        max_flight <= 3 * mss,
        "flight {max_flight} within the user's window"
    );
    assert_eq!(max_flight, 3 * mss, "and the window is used");
    let acks = acks.load(Ordering::Relaxed);
    let r = rounds.load(Ordering::Relaxed);
    eprintln!("{acks} ACKs, {r} rounds, done at {:?}", sim.now());
    // 208 segments in flights of 3: at least one ACK per flight.
    assert!(acks >= 69, "{acks} ACKs reported");
    assert_eq!(
        rtt_samples.load(Ordering::Relaxed),
        acks,
        "timestamps: a sample per ACK"
    );
    // One round per flight of three segments.
    assert!((69..=acks).contains(&r), "{r} rounds");
    // At least 69 round trips of 10 ms, not a 300 kB burst.
    assert!(sim.now() > Instant::from_millis(690), "{:?}", sim.now());
}

/// Sends `chunk` octets every `every` for `total` of virtual time.
fn trickle(sim: &mut Sim, c: Id, s: Id, chunk: usize, every: Duration, total: Duration) {
    let mut buf = vec![0u8; 65536];
    let data = vec![1u8; chunk];
    let mut t = sim.now();
    let end = t + total;
    while t < end {
        assert_eq!(sim.conn_mut(c).send(&data), Ok(chunk));
        t += every;
        sim.run_for(t.saturating_duration_since(sim.now()), 100_000);
        while let Ok(n) = sim.conn_mut(s).recv(&mut buf) {
            if n == 0 {
                break;
            }
        }
        if sim.now() < t {
            sim.set_now(t);
        }
    }
}

#[test]
fn cubic_window_does_not_grow_while_the_application_leaves_it_unused() {
    let (mut sim, c, s) = pair(Config::linux(), link(5));
    established(&mut sim, c, s);
    let iw = sim.conn(c).stats().cwnd;
    // 2 kB per 10 ms round trip against a 10-segment window, for 20 s.
    trickle(
        &mut sim,
        c,
        s,
        2000,
        Duration::from_millis(10),
        Duration::from_secs(20),
    );
    let st = sim.conn(c).stats();
    assert!(st.bytes_sent >= 3_900_000, "{st:?}");
    assert_eq!(st.cwnd, iw, "cwnd not grown past its use: {st:?}");
}

/// Runs a bulk transfer from `cfg`'s client over an 80 ms path with a
/// 100 Mbit/s bottleneck and a drop-tail queue of one BDP until slow start
/// ends (ssthresh set); returns (cwnd at that moment in segments, queue
/// drops so far, client retransmissions so far).
fn slow_start_exit_on_a_one_bdp_queue(cfg: Config) -> (u32, u64, u64) {
    use tcp_proto::sim::Bottleneck;
    let rtt = Duration::from_millis(80);
    let (mut sim, c, s) = pair(cfg, link(40));
    sim.tracing = false;
    sim.set_bottlenecks(c, s, Some(Bottleneck::with_bdp_queue(100_000_000, rtt)));
    established(&mut sim, c, s);
    let data = vec![0x5a_u8; 1 << 16];
    let mut buf = vec![0u8; 1 << 16];
    for _ in 0..5_000_000 {
        while sim.conn_mut(c).send(&data).is_ok_and(|n| n > 0) {}
        while sim.conn_mut(s).recv(&mut buf).is_ok_and(|n| n > 0) {}
        let info = sim.conn(c).tcp_info(sim.now());
        if info.snd_ssthresh < 1 << 30 {
            let drops = sim.bottleneck(c, s).map_or(0, |q| q.drops());
            return (info.snd_cwnd, drops, sim.conn(c).stats().retransmits);
        }
        assert!(sim.now() < Instant::from_secs(30), "slow start never ended");
        assert!(sim.step(), "transfer stalled");
    }
    panic!("step budget exhausted in slow start");
}

#[test]
fn linux_slow_start_ends_before_a_one_bdp_queue_overflows() {
    let mut cfg = Config::linux();
    cfg.send_buffer = 4 << 20;
    cfg.recv_buffer = 4 << 20;
    // BDP = 100 Mbit/s × 80 ms = 1 MB ≈ 667 packets; BDP + queue ≈ 1334.
    let (cwnd, drops, rtx) = slow_start_exit_on_a_one_bdp_queue(cfg);
    assert_eq!(
        (drops, rtx),
        (0, 0),
        "left slow start at cwnd {cwnd} without a loss"
    );
    assert!((300..1334).contains(&cwnd), "exit window {cwnd} segments");
    // RFC 9406's round-to-round comparison, same path: it notices only
    // after the queue overflowed (the reason linux() uses Linux's test).
    cfg.hystart = tcp_proto::cc::HyStartMode::Rfc9406;
    let (cwnd, drops, _) = slow_start_exit_on_a_one_bdp_queue(cfg);
    assert!(
        drops > 100,
        "RFC 9406 exit at cwnd {cwnd} after {drops} drops"
    );
    assert_eq!(
        Config::rfc9293().hystart,
        tcp_proto::cc::HyStartMode::Rfc9406
    );
}
