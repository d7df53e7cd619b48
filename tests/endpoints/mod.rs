//! Shared by the `Endpoint` tests: addresses, a lossless link between two
//! endpoints, and their events.
#![allow(dead_code)]

use std::net::SocketAddr;
use tcp_proto::endpoint::{ConnectionHandle, Endpoint, EndpointConfig};
use tcp_proto::{Event, Instant, Segment};

pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Moves every segment between `a` and `b` until both are quiet; returns
/// every segment moved, with its direction (true: a → b).
pub fn pump(now: Instant, a: &mut Endpoint, b: &mut Endpoint) -> Vec<(bool, Segment)> {
    let mut moved = Vec::new();
    for _ in 0..100_000 {
        let mut any = false;
        while let Some(t) = a.poll_transmit(now) {
            moved.push((true, t.segment.clone()));
            b.handle_segment(now, t.src, t.dst, t.segment);
            any = true;
        }
        while let Some(t) = b.poll_transmit(now) {
            moved.push((false, t.segment.clone()));
            a.handle_segment(now, t.src, t.dst, t.segment);
            any = true;
        }
        if !any {
            return moved;
        }
    }
    panic!("pump did not settle");
}

pub fn events(e: &mut Endpoint) -> Vec<(ConnectionHandle, Event)> {
    std::iter::from_fn(|| e.poll_event()).collect()
}

/// Two endpoints with `cfg` and secrets of their own.
pub fn pair(cfg: EndpointConfig) -> (Endpoint, Endpoint) {
    (
        Endpoint::new(cfg, [1; 16]).unwrap(),
        Endpoint::new(cfg, [2; 16]).unwrap(),
    )
}

/// A connection from `a` (192.0.2.1:4000, the active closer) to `b`
/// (192.0.2.2:80), closed both ways at `now`: `a` holds a compact
/// TIME-WAIT entry. Returns both endpoints and every segment the closing
/// exchange moved (true: a → b).
pub fn into_time_wait(
    cfg: EndpointConfig,
    now: Instant,
) -> (Endpoint, Endpoint, Vec<(bool, Segment)>) {
    let (mut a, mut b) = pair(cfg);
    let l = b.listen(None, 80, 8).unwrap();
    let c = a
        .connect(now, sa("192.0.2.1:4000"), sa("192.0.2.2:80"))
        .unwrap();
    pump(now, &mut a, &mut b);
    let s = b.accept(l).unwrap();
    a.close(now, c).unwrap();
    pump(now, &mut a, &mut b);
    b.close(now, s).unwrap();
    let moved = pump(now, &mut a, &mut b);
    assert_eq!(a.counts().time_wait, 1);
    (a, b, moved)
}
