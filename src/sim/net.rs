//! Endpoints on a simulated network: hosts (each an [`Endpoint`] with its
//! addresses) joined by one seeded link model (delay, jitter, loss) on the
//! virtual clock. Segments to an address no host owns vanish (the SYN-ACKs
//! of a spoofed flood). `inject` puts any segment on the wire (an attacker).
//!
//! ```
//! use tcp_proto::endpoint::{Endpoint, EndpointConfig};
//! use tcp_proto::sim::{Link, Net};
//! use std::net::{IpAddr, SocketAddr};
//!
//! let mut net = Net::new(1, Link::default());
//! let s_ip: IpAddr = "192.0.2.1".parse().unwrap();
//! let c_ip: IpAddr = "192.0.2.2".parse().unwrap();
//! let server = net.add(Endpoint::new(EndpointConfig::default(), [1; 16]).unwrap(), &[s_ip]);
//! let client = net.add(Endpoint::new(EndpointConfig::default(), [2; 16]).unwrap(), &[c_ip]);
//! let l = net.host(server).listen(None, 80, 16).unwrap();
//! let now = net.now();
//! net.host(client).connect(now, SocketAddr::new(c_ip, 0), SocketAddr::new(s_ip, 80)).unwrap();
//! net.run_until_quiet(1000);
//! assert!(net.host(server).accept(l).is_some());
//! ```

use super::{Link, Rng};
use crate::endpoint::{Endpoint, Transmit};
use crate::time::Instant;
use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::net::IpAddr;

/// Names a host of a [`Net`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct HostId(pub usize);

/// A segment on the wire, ordered by delivery time then by sending order.
#[derive(Debug)]
struct InFlight {
    at: Instant,
    order: u64,
    t: Transmit,
}

impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.order) == (o.at, o.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
    fn cmp(&self, o: &Self) -> core::cmp::Ordering {
        (self.at, self.order).cmp(&(o.at, o.order))
    }
}

/// Hosts on one simulated network.
#[derive(Debug)]
pub struct Net {
    now: Instant,
    link: Link,
    rng: Rng,
    hosts: Vec<(Endpoint, Vec<IpAddr>)>,
    wire: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    /// Segments delivered to a host.
    pub delivered: u64,
    /// Segments lost by the link or sent to an address no host owns.
    pub vanished: u64,
}

impl Net {
    /// An empty network whose every path follows `link`.
    pub fn new(seed: u64, link: Link) -> Net {
        Net {
            now: Instant::ZERO,
            link,
            rng: Rng(seed),
            hosts: Vec::new(),
            wire: BinaryHeap::new(),
            order: 0,
            delivered: 0,
            vanished: 0,
        }
    }

    /// Adds a host that owns `addrs`.
    pub fn add(&mut self, e: Endpoint, addrs: &[IpAddr]) -> HostId {
        self.hosts.push((e, addrs.to_vec()));
        HostId(self.hosts.len() - 1)
    }

    /// The endpoint of host `h`. After calling into it, [`flush`](Self::flush)
    /// (or any `run_*`) collects what it sends.
    pub fn host(&mut self, h: HostId) -> &mut Endpoint {
        &mut self.hosts[h.0].0
    }

    /// The virtual clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Segments on the wire.
    pub fn in_flight(&self) -> usize {
        self.wire.len()
    }

    /// Puts `t` on the wire as if a host had sent it (source spoofing allowed).
    pub fn inject(&mut self, t: Transmit) {
        self.send(t);
    }

    fn send(&mut self, t: Transmit) {
        if self.rng.chance(self.link.loss) {
            self.vanished += 1;
            return;
        }
        let mut at = self.now + self.link.delay;
        if !self.link.jitter.is_zero() {
            let j = self.link.jitter.as_nanos() as u64;
            at += core::time::Duration::from_nanos(self.rng.next_u64() % j.max(1));
        }
        self.order += 1;
        self.wire.push(Reverse(InFlight {
            at,
            order: self.order,
            t,
        }));
    }

    /// Collects every host's output onto the wire.
    pub fn flush(&mut self) {
        let now = self.now;
        let mut out = Vec::new();
        for (e, _) in &mut self.hosts {
            while let Some(t) = e.poll_transmit(now) {
                out.push(t);
            }
            while e.poll_event().is_some() {}
        }
        for t in out {
            self.send(t);
        }
    }

    /// The next time something happens: a delivery or a host's deadline.
    pub fn next_time(&mut self) -> Option<Instant> {
        let wire = self.wire.peek().map(|Reverse(f)| f.at);
        let timers = self
            .hosts
            .iter_mut()
            .filter_map(|(e, _)| e.poll_timeout())
            .min();
        [wire, timers].into_iter().flatten().min()
    }

    /// Advances to the next event, delivers what is due, fires what
    /// expired, and collects the output. `false` when nothing is left.
    pub fn step(&mut self) -> bool {
        self.flush();
        let Some(t) = self.next_time() else {
            return false;
        };
        self.now = self.now.max(t);
        self.advance_to(self.now);
        true
    }

    /// Delivers every segment due by `t` and fires every timer due by `t`
    /// (the clock moves to `t`).
    pub fn advance_to(&mut self, t: Instant) {
        self.now = self.now.max(t);
        while let Some(Reverse(f)) = self.wire.peek() {
            if f.at > self.now {
                break;
            }
            let Some(Reverse(f)) = self.wire.pop() else {
                break;
            };
            let dst = f.t.dst;
            match self.hosts.iter_mut().find(|(_, a)| a.contains(&dst)) {
                Some((e, _)) => {
                    self.delivered += 1;
                    e.handle_segment(self.now, f.t.src, f.t.dst, f.t.segment);
                }
                None => self.vanished += 1,
            }
        }
        let now = self.now;
        for (e, _) in &mut self.hosts {
            e.handle_timeout(now);
        }
        self.flush();
    }

    /// Steps until nothing is left or `max_steps` ran; returns the steps.
    pub fn run_until_quiet(&mut self, max_steps: usize) -> usize {
        let mut n = 0;
        while n < max_steps && self.step() {
            n += 1;
        }
        n
    }
}
