//! Shared by the `Endpoint` tests: addresses, a lossless link between two
//! endpoints, and their events.
#![allow(dead_code)]

use std::net::SocketAddr;
use tcp_proto::endpoint::{ConnectionHandle, Endpoint};
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
