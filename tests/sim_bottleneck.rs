//! The simulator's bottleneck: a rate limit with a drop-tail queue between
//! the random loss and the propagation delay of a direction.

use std::time::Duration;
use tcp_proto::sim::{Bottleneck, BottleneckQueue, Id, Link, Sim};
use tcp_proto::{Config, Connection, Instant, SeqNum, State};

fn pair(seed: u64) -> (Sim, Id, Id) {
    let mut sim = Sim::new(seed);
    sim.tracing = false;
    let s = sim.add(Connection::listen(Config::linux(), 80, SeqNum(5000)).unwrap());
    let c =
        sim.add(Connection::connect(Config::linux(), 40000, 80, SeqNum(1000), sim.now()).unwrap());
    (sim, c, s)
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + i / 7) as u8) ^ 0x5a).collect()
}

/// Sends `data` from `from` to `to`; returns what `to` read and when the last octet came.
fn transfer(sim: &mut Sim, from: Id, to: Id, data: &[u8]) -> (Vec<u8>, Instant) {
    let mut off = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut last = sim.now();
    for _ in 0..2_000_000 {
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
            last = sim.now();
        }
        if got.len() == data.len() || !sim.step() {
            break;
        }
    }
    (got, last)
}

#[test]
fn queue_serialises_at_the_rate_and_drops_at_the_tail() {
    // 1500 octets at 12 Mbit/s: 1 ms each; the queue holds two packets.
    let mut q = BottleneckQueue::new(Bottleneck {
        rate_bps: 12_000_000,
        queue_bytes: 3000,
    });
    let t0 = Instant::from_secs(1);
    assert_eq!(q.offer(t0, 1500), Some(t0 + Duration::from_millis(1)));
    assert_eq!(q.offer(t0, 1500), Some(t0 + Duration::from_millis(2)));
    assert_eq!(q.backlog(t0), 3000);
    assert_eq!(q.offer(t0, 1500), None, "a third packet overflows");
    assert_eq!(q.drops(), 1);
    // Half a millisecond later 750 octets have left: room for 750 more, not 1500.
    let t1 = t0 + Duration::from_micros(500);
    assert_eq!(q.backlog(t1), 2250);
    assert_eq!(q.offer(t1, 1500), None);
    assert_eq!(q.offer(t1, 700), Some(t0 + Duration::from_micros(2467)));
    // Once idle, a packet leaves its serialisation time after it came.
    let t2 = Instant::from_secs(2);
    assert_eq!(q.backlog(t2), 0);
    assert_eq!(q.offer(t2, 1500), Some(t2 + Duration::from_millis(1)));
}

#[test]
fn bdp_queue_is_one_bandwidth_delay_product() {
    let b = Bottleneck::with_bdp_queue(100_000_000, Duration::from_millis(20));
    assert_eq!(b.queue_bytes, 250_000);
    assert_eq!(
        Bottleneck::with_bdp_queue(1_000_000, Duration::from_micros(10)).queue_bytes,
        1500,
        "never smaller than one packet"
    );
}

#[test]
fn transfer_through_a_bottleneck_takes_at_least_its_serialisation_time() {
    let (mut sim, c, s) = pair(3);
    let rate = 10_000_000;
    let rtt = Duration::from_millis(4);
    sim.set_links(
        c,
        s,
        Link {
            delay: rtt / 2,
            ..Link::default()
        },
    );
    sim.set_bottlenecks(c, s, Some(Bottleneck::with_bdp_queue(rate, rtt)));
    assert!(sim.run_until(1000, |sim| sim.conn(c).state() == State::Established));
    let start = sim.now();
    let data = pattern(2 << 20);
    let (got, last) = transfer(&mut sim, c, s, &data);
    assert!(got == data, "every octet arrives intact");
    let secs = (last - start).as_secs_f64();
    let mbps = data.len() as f64 * 8.0 / secs / 1e6;
    // Payload is at most 1448/1500 of the rate; slow start and the
    // recovery from queue overflow cost some, a broken queue would not.
    assert!(
        mbps <= 10.0 * 1448.0 / 1500.0,
        "faster than the link: {mbps:.2} Mbit/s"
    );
    assert!(mbps > 5.0, "bottleneck too slow: {mbps:.2} Mbit/s");
    let drops = sim.bottleneck(c, s).unwrap().drops();
    assert!(drops > 0, "slow start overflows a 1-BDP queue");
    assert_eq!(
        sim.bottleneck(s, c).unwrap().drops(),
        0,
        "ACKs never fill the return queue"
    );
}

#[test]
fn a_queue_of_one_packet_still_delivers_every_octet() {
    let (mut sim, c, s) = pair(4);
    sim.set_links(
        c,
        s,
        Link {
            delay: Duration::from_millis(5),
            loss: 0.01,
            ..Link::default()
        },
    );
    sim.set_bottleneck(
        c,
        s,
        Some(Bottleneck {
            rate_bps: 50_000_000,
            queue_bytes: 1500,
        }),
    );
    assert!(sim.bottleneck(s, c).is_none(), "one direction only");
    let data = pattern(300_000);
    let (got, _) = transfer(&mut sim, c, s, &data);
    assert!(got == data);
    assert!(sim.bottleneck(c, s).unwrap().drops() > 10);
    // Removing it leaves the plain link.
    sim.set_bottleneck(c, s, None);
    assert!(sim.bottleneck(c, s).is_none());
}
