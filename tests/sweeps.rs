//! Sweeps over the lossy simulator (issue 9, item 9): at up to 20 % loss
//! each way, no connection goes 60 s of virtual time without progress, and
//! the passive closer's FIN retransmissions never outlive the active
//! closer's 60 s TIME-WAIT. Behind both, a second sweep: the smoothed RTT
//! never exceeds three times the longest round trip the path can produce
//! (plus 200 ms), so no stale sample inflates the RTO.
//!
//! Each run: a request of [`REQUEST`] octets from client to server, a
//! response of the same size back, then the client closes first (the
//! active closer, ending in TIME-WAIT) and the server closes on EOF (the
//! passive closer, in LAST-ACK until its FIN is acknowledged). Both use
//! `Config::linux()` (TIME-WAIT 60 s). The grid: loss {5, 10, 20 %} ×
//! one-way delay {1, 20, 100 ms} × seeds, with a little reordering and
//! duplication. `TCPP_SWEEP_SEEDS=N` runs N seeds per point (default 6).

use std::time::Duration;
use tcp_proto::sim::{Id, Link, Sim, Trace};
use tcp_proto::{CloseReason, Config, Connection, Event, Instant, SeqNum, State};

const REQUEST: usize = 48 << 10;
const NO_PROGRESS_LIMIT: Duration = Duration::from_secs(60);

fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + i / 7) as u8) ^ salt).collect()
}

fn seeds() -> u64 {
    std::env::var("TCPP_SWEEP_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

/// What a connection has done so far; any change is progress.
fn progress(c: &Connection) -> (u64, u64, u32, State) {
    let s = c.stats();
    (s.bytes_received, s.bytes_sent, s.bytes_in_flight, c.state())
}

/// Whether a connection is waiting on the network (rather than on the
/// clock, by design, or on nothing).
fn owes_progress(c: &Connection) -> bool {
    match c.state() {
        State::Closed | State::Listen | State::TimeWait => false,
        State::SynSent | State::SynReceived | State::FinWait1 | State::Closing | State::LastAck => {
            true
        }
        _ => c.stats().bytes_in_flight > 0 || c.send_queue_len() > 0,
    }
}

struct App {
    to_send: Vec<u8>,
    sent: usize,
    got: Vec<u8>,
    want: usize,
    closed: bool,
}

impl App {
    fn drive(&mut self, c: &mut Connection, now: Instant, close_when_done: bool) {
        while self.sent < self.to_send.len() {
            match c.send(&self.to_send[self.sent..]) {
                Ok(n) if n > 0 => self.sent += n,
                _ => break,
            }
        }
        let mut buf = [0u8; 8192];
        while let Ok(n) = c.recv(&mut buf) {
            if n == 0 {
                break;
            }
            self.got.extend_from_slice(&buf[..n]);
        }
        let done_here = self.sent == self.to_send.len() && self.got.len() >= self.want;
        let may_close = if close_when_done {
            done_here
        } else {
            done_here && c.peer_finished()
        };
        if may_close && !self.closed && c.state() != State::Closed {
            self.closed = c.close(now).is_ok();
        }
    }
}

#[derive(Debug)]
struct Outcome {
    longest_stall: Duration,
    stalled: Option<(Id, Instant)>,
    fin_after_time_wait: Vec<Instant>,
    client_reason: Option<CloseReason>,
    server_reason: Option<CloseReason>,
    data_ok: bool,
    rto_max: Duration,
    srtt_max: Duration,
}

fn run(seed: u64, loss: f64, delay: Duration) -> Outcome {
    let mut sim = Sim::new(seed);
    let cfg = Config::linux();
    assert_eq!(cfg.time_wait, NO_PROGRESS_LIMIT);
    let s = sim.add(Connection::listen(cfg, 80, SeqNum(seed as u32 ^ 0xdead_0000)).unwrap());
    let c = sim.add(
        Connection::connect(
            cfg,
            40000,
            80,
            SeqNum((seed as u32).wrapping_mul(7919)),
            sim.now(),
        )
        .unwrap(),
    );
    sim.set_links(
        c,
        s,
        Link {
            delay,
            jitter: delay / 10,
            loss,
            duplicate: 0.01,
            reorder: 0.02,
            reorder_delay: delay / 2 + Duration::from_millis(1),
        },
    );
    let request = pattern(REQUEST, 1);
    let response = pattern(REQUEST, 2);
    let mut client = App {
        to_send: request.clone(),
        sent: 0,
        got: Vec::new(),
        want: REQUEST,
        closed: false,
    };
    let mut server = App {
        to_send: Vec::new(),
        sent: 0,
        got: Vec::new(),
        want: REQUEST,
        closed: false,
    };
    let mut last_progress = [
        (sim.now(), progress(sim.conn(c))),
        (sim.now(), progress(sim.conn(s))),
    ];
    let mut longest = Duration::ZERO;
    let mut stalled = None;
    let mut rto_max = Duration::ZERO;
    let mut srtt_max = Duration::ZERO;
    // Bounded: ten virtual hours or a million steps.
    for _ in 0..1_000_000 {
        let now = sim.now();
        client.drive(sim.conn_mut(c), now, true);
        if server.got.len() >= REQUEST && server.to_send.is_empty() {
            server.to_send = response.clone();
        }
        server.drive(sim.conn_mut(s), now, false);
        for (k, id) in [c, s].into_iter().enumerate() {
            let conn = sim.conn(id);
            rto_max = rto_max.max(conn.stats().rto);
            srtt_max = srtt_max.max(conn.stats().srtt.unwrap_or_default());
            let p = progress(conn);
            if p != last_progress[k].1 || !owes_progress(conn) {
                last_progress[k] = (now, p);
            } else {
                let gap = now - last_progress[k].0;
                if gap > longest {
                    longest = gap;
                    if gap >= NO_PROGRESS_LIMIT && stalled.is_none() {
                        stalled = Some((id, last_progress[k].0));
                    }
                }
            }
        }
        let both_closed =
            sim.conn(c).state() == State::Closed && sim.conn(s).state() == State::Closed;
        if both_closed || now > Instant::from_secs(36_000) || !sim.step() {
            break;
        }
    }
    // When the client left TIME-WAIT, and when the server sent FINs.
    let mut client_closed_at = None;
    let mut client_reason = None;
    let mut server_reason = None;
    let mut server_fins = Vec::new();
    for t in sim.trace() {
        match t {
            Trace::Event {
                at,
                id,
                event:
                    Event::StateChanged {
                        to: State::Closed, ..
                    },
            } if *id == c => client_closed_at = Some(*at),
            Trace::Event {
                id,
                event: Event::Closed(r),
                ..
            } => {
                if *id == c {
                    client_reason = Some(*r);
                } else if *id == s {
                    server_reason = Some(*r);
                }
            }
            Trace::Sent { at, from, seg, .. } if *from == s && seg.flags.fin() => {
                server_fins.push(*at)
            }
            _ => {}
        }
    }
    let fin_after_time_wait = match client_closed_at {
        Some(end) => server_fins.into_iter().filter(|&t| t > end).collect(),
        None => Vec::new(),
    };
    Outcome {
        longest_stall: longest,
        stalled,
        fin_after_time_wait,
        client_reason,
        server_reason,
        data_ok: server.got == request && client.got == response,
        rto_max,
        srtt_max,
    }
}

/// The longest round trip the sweep's path can produce at one-way `delay`:
/// both ways with jitter and a reordering hold-back, plus a delayed ACK.
fn path_rtt(delay: Duration) -> Duration {
    2 * (delay + delay / 10 + delay / 2 + Duration::from_millis(1)) + Duration::from_millis(40)
}

/// No real sample exceeds [`path_rtt`]; SRTT (an average of samples) gets
/// three times that plus 200 ms of slack before it counts as inflated.
fn srtt_bound(delay: Duration) -> Duration {
    3 * path_rtt(delay) + Duration::from_millis(200)
}

/// Runs the grid; `check` names what is wrong with an outcome, if anything.
fn sweep(check: &dyn Fn(&Outcome, Duration) -> Option<String>) {
    let mut failures = Vec::new();
    let mut worst = Duration::ZERO;
    let mut worst_srtt = 0.0f64;
    let mut worst_rto = Duration::ZERO;
    let mut runs = 0;
    for loss in [0.05, 0.1, 0.2] {
        for delay_ms in [1, 20, 100] {
            for seed in 0..seeds() {
                let seed = seed * 1000 + delay_ms + (loss * 100.0) as u64;
                let delay = Duration::from_millis(delay_ms);
                let o = run(seed, loss, delay);
                runs += 1;
                worst = worst.max(o.longest_stall);
                worst_rto = worst_rto.max(o.rto_max);
                worst_srtt =
                    worst_srtt.max(o.srtt_max.as_secs_f64() / path_rtt(delay).as_secs_f64());
                if let Some(why) = check(&o, delay) {
                    failures.push(format!(
                        "loss {loss} delay {delay_ms} ms seed {seed}: {why}: {o:?}"
                    ));
                }
            }
        }
    }
    println!(
        "{runs} runs, longest time without progress {worst:?}, largest RTO {worst_rto:?}, \
         largest SRTT {worst_srtt:.2}x the path's longest round trip"
    );
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn lossy_connections_progress_and_fin_retransmissions_end_within_time_wait() {
    sweep(&|o, _| {
        if o.stalled.is_some() {
            Some("60 s without progress".into())
        } else if !o.fin_after_time_wait.is_empty() {
            Some("FIN retransmitted after the peer's TIME-WAIT".into())
        } else if !o.data_ok {
            Some("data lost or corrupted".into())
        } else if o.client_reason != Some(CloseReason::Normal)
            || o.server_reason != Some(CloseReason::Normal)
        {
            Some("not a graceful close on both sides".into())
        } else {
            None
        }
    });
}

#[test]
fn srtt_stays_within_a_few_path_round_trips_under_loss() {
    sweep(&|o, delay| {
        (o.srtt_max > srtt_bound(delay)).then(|| {
            format!(
                "SRTT {:?} above {:?} (path round trip at most {:?})",
                o.srtt_max,
                srtt_bound(delay),
                path_rtt(delay)
            )
        })
    });
}

/// Issue 9, item 5: no sample includes a retransmission wait. At 20 % loss
/// on a 1 ms path (no real round trip above 45 ms) SRTT once reached
/// 381 ms (seed 24021, before the stale-echo rule). The cause: the ACK of
/// a needless retransmission (the original had arrived, its ACK was lost)
/// echoes the TSval of the *original* transmission, since a receiver takes
/// no TSval from a duplicate (RFC 7323 §4.3); timing the ACK by that echo
/// charged the whole retransmission wait to the round trip. Samples are
/// taken only from an echo at least as new as the latest transmission of
/// what the ACK covers (`take_rtt_sample`). Seeds 79021 and 89021 inflate
/// SRTT to 285× and 13× the path's round trip without that rule.
#[test]
fn srtt_is_not_inflated_by_a_retransmission_wait() {
    let delay = Duration::from_millis(1);
    for seed in [24021, 79021, 89021] {
        let o = run(seed, 0.2, delay);
        assert!(
            o.srtt_max <= srtt_bound(delay),
            "seed {seed}: SRTT {:?} above {:?}",
            o.srtt_max,
            srtt_bound(delay)
        );
    }
}
