//! Exact window trajectories of the shipped controllers through scripted
//! episodes (slow start with HyStart++, loss, recovery, undo, timeout,
//! ECN, application-limited and idle pauses, hours of congestion
//! avoidance), pinned so that a change of representation (integer widths,
//! time encodings) cannot change a single octet of what they compute.
//!
//! Every hook call appends (cwnd, ssthresh); the whole sequence is pinned by
//! its FNV-1a hash and its length, and a few checkpoints are pinned by value
//! so that a failure says where the trajectories part.

use super::{AckSample, CongestionControl, Cubic, HyStartMode, NewReno};
use crate::time::Instant;
use alloc::vec::Vec;
use core::time::Duration;

const MSS: u32 = 1448;

/// Drives one controller and records its window after every hook.
struct Script<C> {
    c: C,
    now: Instant,
    trace: Vec<(u32, u32)>,
}

impl<C: CongestionControl> Script<C> {
    fn new(c: C) -> Self {
        Script {
            c,
            now: Instant::from_secs(1),
            trace: Vec::new(),
        }
    }

    fn record(&mut self) {
        self.trace.push((self.c.cwnd(), self.c.ssthresh()));
    }

    fn last(&self) -> (u32, u32) {
        *self.trace.last().unwrap()
    }

    fn wait(&mut self, d: Duration) {
        self.now += d;
    }

    /// One round trip: a window of ACKs of `per_ack` octets each, the first
    /// one starting a round, each with an RTT sample of `rtt`.
    fn round(&mut self, rtt: Duration, per_ack: u32, app_limited: bool) {
        let n = (self.c.cwnd() / per_ack).clamp(1, 2000);
        for i in 0..n {
            let mut a = AckSample::new(per_ack, self.c.cwnd(), MSS);
            a.rtt = Some(rtt + Duration::from_micros(u64::from(i % 7) * 113));
            a.srtt = Some(rtt);
            a.min_rtt = Some(rtt);
            a.new_round = i == 0;
            a.app_limited = app_limited;
            self.c.on_ack(self.now, &a);
            self.record();
            self.wait(rtt / n);
        }
    }

    fn rounds(&mut self, k: u32, rtt_ms: u64, per_ack: u32) {
        for _ in 0..k {
            self.round(Duration::from_millis(rtt_ms), per_ack, false);
        }
    }

    /// A loss repaired by fast recovery: dup ACKs, a partial ACK, the end.
    fn fast_recovery(&mut self) {
        let flight = self.c.cwnd();
        self.c.on_fast_retransmit(self.now, flight, MSS);
        self.record();
        for _ in 0..3 {
            self.c.on_dup_ack_in_recovery(MSS);
            self.record();
        }
        self.c.on_partial_ack(3 * MSS + 17, MSS);
        self.record();
        self.wait(Duration::from_millis(20));
        self.c.on_recovery_end(flight / 2 + 333, MSS);
        self.record();
    }

    fn rto(&mut self) {
        let flight = self.c.cwnd();
        self.c.on_rto(self.now, flight, MSS);
        self.record();
    }

    fn undo(&mut self) {
        self.c.on_spurious_congestion(self.now);
        self.record();
    }

    fn ecn(&mut self) {
        let flight = self.c.cwnd();
        self.c.on_ecn(self.now, flight, MSS);
        self.record();
    }

    fn idle(&mut self, d: Duration) {
        self.wait(d);
        self.c.on_restart_after_idle(self.now);
        self.record();
    }
}

/// The episode every controller goes through.
fn episode<C: CongestionControl>(s: &mut Script<C>, checkpoints: &mut Vec<(u32, u32)>) {
    // Slow start; the RTT rises from the fifth round (HyStart++ exits).
    s.rounds(4, 20, MSS);
    s.rounds(8, 45, MSS);
    checkpoints.push(s.last());
    // Congestion avoidance, odd ACK sizes (remainders carried).
    s.rounds(20, 20, 2 * MSS + 301);
    checkpoints.push(s.last());
    // Loss, recovery, then avoidance along the curve.
    s.fast_recovery();
    checkpoints.push(s.last());
    s.rounds(15, 20, MSS);
    // The recovery was spurious.
    s.undo();
    checkpoints.push(s.last());
    s.rounds(10, 20, 700);
    // The application leaves the window unused for two seconds.
    for _ in 0..20 {
        s.round(Duration::from_millis(100), MSS, true);
    }
    s.rounds(5, 20, MSS);
    checkpoints.push(s.last());
    // A timeout, slow start back up on stretch ACKs (the per-ACK limit
    // L bites), and an undo of the timeout.
    s.rto();
    s.rounds(12, 20, 10 * MSS + 1);
    checkpoints.push(s.last());
    s.undo();
    s.rounds(5, 20, MSS);
    checkpoints.push(s.last());
    // A real loss (fast convergence below W_max) and a long RTT: through K
    // into the convex region.
    s.fast_recovery();
    s.fast_recovery();
    s.rounds(80, 100, MSS);
    checkpoints.push(s.last());
    // Two hours idle, then ACKs again; then three hours without a word
    // (no idle hook): time far beyond every curve.
    s.idle(Duration::from_secs(7200));
    s.rounds(10, 20, MSS);
    checkpoints.push(s.last());
    s.wait(Duration::from_secs(3 * 3600));
    s.rounds(3, 20, MSS);
    checkpoints.push(s.last());
    // An ECN echo (never undone), a repeated timeout, a late undo.
    s.ecn();
    s.undo();
    s.rounds(10, 20, 5000);
    s.rto();
    s.rto();
    s.undo();
    s.rounds(30, 20, MSS);
    checkpoints.push(s.last());
}

fn fnv(trace: &[(u32, u32)]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &(a, b) in trace {
        for byte in a.to_le_bytes().into_iter().chain(b.to_le_bytes()) {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn run<C: CongestionControl>(c: C) -> (usize, u64, Vec<(u32, u32)>) {
    let mut s = Script::new(c);
    let mut checkpoints = Vec::new();
    episode(&mut s, &mut checkpoints);
    (s.trace.len(), fnv(&s.trace), checkpoints)
}

#[test]
fn cubic_trajectory_with_linux_hystart_is_pinned() {
    let (len, hash, cps) = run(Cubic::new(10, MSS).with_hystart_mode(HyStartMode::Linux));
    assert_eq!(
        cps,
        alloc::vec![
            (357434, 243264),
            (945513, 243264),
            (474537, 661859),
            (945513, 661859),
            (1960922, 661859),
            (1546415, 1372645),
            (2502399, 1372645),
            (1065755, 877086),
            (1066211, 877086),
            (3597314, 877086),
            (2708505, 2518119)
        ],
        "checkpoints"
    );
    assert_eq!((len, hash), (190969, 0xea6a_f52b_aead_20e4));
}

#[test]
fn cubic_trajectory_with_rfc9406_hystart_is_pinned() {
    let (len, hash, cps) = run(Cubic::new(10, MSS));
    assert_eq!(
        cps,
        alloc::vec![
            (729056, 724724),
            (757928, 724724),
            (380745, 530549),
            (757928, 724724),
            (779616, 724724),
            (548794, 545731),
            (786843, 724724),
            (356281, 276641),
            (360152, 276641),
            (1213024, 276641),
            (940944, 849116)
        ],
        "checkpoints"
    );
    assert_eq!((len, hash), (82504, 0x5e71_061a_fdf7_5ec9));
}

#[test]
fn cubic_trajectory_without_slow_start_limit_is_pinned() {
    let (len, hash, cps) = run(Cubic::new(10, MSS)
        .with_hystart_mode(HyStartMode::Linux)
        .with_slow_start_limit(0));
    assert_eq!(
        cps,
        alloc::vec![
            (357434, 243264),
            (945513, 243264),
            (474537, 661859),
            (945513, 661859),
            (1960922, 661859),
            (1696293, 1372645),
            (2502399, 1372645),
            (1065755, 877086),
            (1066211, 877086),
            (3597314, 877086),
            (2708505, 2518119)
        ],
        "checkpoints"
    );
    assert_eq!((len, hash), (191152, 0xa553_5dc4_f884_6183));
}

#[test]
fn newreno_trajectory_is_pinned() {
    let (len, hash, cps) = run(NewReno::new(10, MSS));
    assert_eq!(
        cps,
        alloc::vec![
            (15290880, 4294967295),
            (73210880, 4294967295),
            (36605440, 36605440),
            (73210880, 4294967295),
            (159610880, 4294967295),
            (18824, 79805440),
            (174090880, 4294967295),
            (43529960, 43522720),
            (43529960, 43522720),
            (43531408, 43522720),
            (21775840, 21765704)
        ],
        "checkpoints"
    );
    assert_eq!((len, hash), (426589, 0xd9eb_9ef4_b500_e6da));
}
