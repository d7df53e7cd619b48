//! A deterministic network simulator for tests (feature `sim`): a virtual
//! clock and seeded links with delay, loss, duplication and reordering in
//! each direction, driving any number of connections until quiet.
//!
//! Options for tests and benches: [`Sim::wire`] sends every segment through
//! the codec (encode, checksum, decode); [`Sim::set_observer`] shows each
//! segment sent or delivered with its connection (with `tracing` off too);
//! [`Sim::manual_delivery`] with [`Sim::deliver_now`], [`Sim::drop_in_flight`],
//! [`Sim::duplicate_in_flight`] and [`Sim::delay_in_flight`] script the link.
//!
//! A [`Bottleneck`] ([`Sim::set_bottleneck`]) adds a rate limit with a
//! drop-tail queue to a direction, after its random loss and before its
//! propagation delay: the path of a real network whose slowest hop fills.
//! [`Pipe`] is the same direction of a link as a standalone queue of any
//! packet type, for harnesses that drive other stacks (benches/goodput.rs
//! runs smoltcp through it).
//!
//! ```
//! use tcp_proto::{Config, Connection, Instant, SeqNum, State};
//! use tcp_proto::sim::{Link, Sim};
//!
//! let mut sim = Sim::new(7);
//! let server = sim.add(Connection::listen(Config::default(), 80, SeqNum(1000)).unwrap());
//! let client = sim.add(Connection::connect(Config::default(), 4000, 80, SeqNum(u32::MAX - 10), sim.now()).unwrap());
//! sim.set_link(client, server, Link { loss: 0.1, ..Link::default() });
//! sim.run_until_quiet(100_000);
//! assert_eq!(sim.conn(client).state(), State::Established);
//! assert_eq!(sim.conn(server).state(), State::Established);
//! ```

mod net;
pub use net::{HostId, Net};

use crate::connection::Connection;
use crate::event::Event;
use crate::plot::{Column, Ladder, Tsg};
use crate::time::Instant;
use crate::wire::{ChecksumMode, IpPair, Segment};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::time::Duration;

/// Handle of a connection inside a [`Sim`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Id(pub usize);

/// One direction of a link.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Link {
    /// One-way delay.
    pub delay: Duration,
    /// Extra random delay in `[0, jitter)`; this reorders segments.
    pub jitter: Duration,
    /// Probability that a segment is lost.
    pub loss: f64,
    /// Probability that a segment is delivered twice.
    pub duplicate: f64,
    /// Probability that a segment is held back by an extra `reorder_delay`.
    pub reorder: f64,
    /// How long a reordered segment is held back.
    pub reorder_delay: Duration,
}

impl Default for Link {
    fn default() -> Self {
        Link {
            delay: Duration::from_millis(1),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(3),
        }
    }
}

/// A rate limit with a drop-tail queue on one direction of a link.
///
/// A packet entering the direction (after the link's random loss) joins the
/// queue of the bottleneck's transmitter, which sends `rate_bps` bits per
/// second; when the octets already waiting plus the packet exceed
/// `queue_bytes`, the packet is dropped (drop-tail). A packet reaches the
/// far side its serialization time after the transmitter frees up, plus the
/// link's `delay` (and jitter, reordering). Sizes are IP packet lengths:
/// the TCP segment plus a 20-octet IPv4 (40-octet IPv6) header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Bottleneck {
    /// Bits per second the bottleneck transmits.
    pub rate_bps: u64,
    /// The most octets the queue holds (including the packet in service).
    pub queue_bytes: usize,
}

impl Bottleneck {
    /// A bottleneck of `rate_bps` whose queue holds one bandwidth-delay
    /// product of a path with round-trip time `rtt` (at least one 1500-octet packet).
    pub fn with_bdp_queue(rate_bps: u64, rtt: Duration) -> Bottleneck {
        Bottleneck {
            rate_bps,
            queue_bytes: Bottleneck::bdp_bytes(rate_bps, rtt).max(1500),
        }
    }

    /// The bandwidth-delay product, octets.
    pub fn bdp_bytes(rate_bps: u64, rtt: Duration) -> usize {
        (rate_bps as u128 * rtt.as_nanos() / 8 / 1_000_000_000) as usize
    }
}

/// The state of one [`Bottleneck`]: when its transmitter is next free, in
/// nanoseconds, so that rounding to the clock's microseconds does not add
/// up over many packets.
#[derive(Clone, Debug)]
pub struct BottleneckQueue {
    config: Bottleneck,
    free_at_ns: u64,
    drops: u64,
}

impl BottleneckQueue {
    /// An empty queue.
    pub fn new(config: Bottleneck) -> BottleneckQueue {
        BottleneckQueue {
            config,
            free_at_ns: 0,
            drops: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> Bottleneck {
        self.config
    }

    /// Octets waiting (or in service) at `now`.
    pub fn backlog(&self, now: Instant) -> usize {
        let now_ns = now.total_micros().saturating_mul(1000);
        let wait_ns = self.free_at_ns.saturating_sub(now_ns);
        (wait_ns as u128 * self.config.rate_bps as u128 / 8 / 1_000_000_000) as usize
    }

    /// Offers a packet of `len` octets at `now`: the instant its last bit
    /// leaves the bottleneck, or `None` if the full queue drops it.
    pub fn offer(&mut self, now: Instant, len: usize) -> Option<Instant> {
        let backlog = self.backlog(now);
        if backlog > 0 && backlog + len > self.config.queue_bytes {
            self.drops += 1;
            return None;
        }
        let now_ns = now.total_micros().saturating_mul(1000);
        let rate = self.config.rate_bps.max(1) as u128;
        let tx_ns = ((len as u128 * 8 * 1_000_000_000).div_ceil(rate)) as u64;
        self.free_at_ns = self.free_at_ns.max(now_ns) + tx_ns;
        Some(Instant::from_micros(self.free_at_ns.div_ceil(1000)))
    }

    /// Packets dropped because the queue was full.
    pub fn drops(&self) -> u64 {
        self.drops
    }
}

/// What one direction of a link did with a packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Fate {
    /// Lost at random ([`Link::loss`]).
    pub lost: bool,
    /// Dropped by a full bottleneck queue.
    pub queue_drop: bool,
    /// When the copies that survive arrive (two if duplicated).
    pub arrivals: [Option<Instant>; 2],
}

/// Decides what one direction of a link does with a packet of `len`
/// octets sent at `now`: random loss, duplication, the bottleneck queue,
/// then delay, jitter and reordering. The one place the link model lives;
/// [`Sim`] and [`Pipe`] both use it.
fn fate(
    link: &Link,
    queue: Option<&mut BottleneckQueue>,
    rng: &mut Rng,
    now: Instant,
    len: usize,
) -> Fate {
    let mut f = Fate {
        lost: false,
        queue_drop: false,
        arrivals: [None, None],
    };
    if rng.chance(link.loss) {
        f.lost = true;
        return f;
    }
    let copies = if rng.chance(link.duplicate) { 2 } else { 1 };
    let mut queue = queue;
    for slot in f.arrivals.iter_mut().take(copies) {
        let leaves = match queue.as_deref_mut() {
            Some(q) => match q.offer(now, len) {
                Some(t) => t,
                None => {
                    f.queue_drop = true;
                    continue;
                }
            },
            None => now,
        };
        let mut at = leaves + link.delay;
        if !link.jitter.is_zero() {
            let j = (rng.unit() * link.jitter.as_micros() as f64) as u64;
            at += Duration::from_micros(j);
        }
        if rng.chance(link.reorder) {
            at += link.reorder_delay;
        }
        *slot = Some(at);
    }
    f
}

/// Counters of a [`Pipe`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PipeStats {
    /// Packets offered.
    pub sent: u64,
    /// Packets lost at random.
    pub lost: u64,
    /// Packets (copies) dropped by the bottleneck queue.
    pub queue_drops: u64,
    /// Packets handed out by [`Pipe::pop_due`].
    pub delivered: u64,
}

struct Queued<T> {
    at: Instant,
    order: u64,
    item: T,
}

impl<T> PartialEq for Queued<T> {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.order) == (o.at, o.order)
    }
}
impl<T> Eq for Queued<T> {}
impl<T> PartialOrd for Queued<T> {
    fn partial_cmp(&self, o: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Queued<T> {
    // Reversed: the heap's top is the earliest arrival, first sent first.
    fn cmp(&self, o: &Self) -> core::cmp::Ordering {
        (o.at, o.order).cmp(&(self.at, self.order))
    }
}

/// One direction of a link as a standalone seeded queue of packets of any
/// type: the same model as [`Sim`]'s links ([`Link`] plus an optional
/// [`Bottleneck`]), for harnesses that carry other stacks' packets.
///
/// ```
/// use core::time::Duration;
/// use tcp_proto::Instant;
/// use tcp_proto::sim::{Bottleneck, Link, Pipe};
///
/// let link = Link { delay: Duration::from_millis(10), ..Link::default() };
/// let mut pipe = Pipe::new(link, Some(Bottleneck { rate_bps: 12_000_000, queue_bytes: 3000 }), 1);
/// for i in 0..3 {
///     pipe.send(Instant::ZERO, 1500, i); // the third overflows the queue
/// }
/// // 1500 octets at 12 Mbit/s take 1 ms; then 10 ms of propagation.
/// assert_eq!(pipe.next_arrival(), Some(Instant::from_micros(11_000)));
/// assert_eq!(pipe.pop_due(Instant::from_micros(12_000)), Some(0));
/// assert_eq!(pipe.pop_due(Instant::from_micros(12_000)), Some(1));
/// assert_eq!(pipe.pop_due(Instant::from_secs(1)), None);
/// assert_eq!(pipe.stats().queue_drops, 1);
/// ```
pub struct Pipe<T> {
    link: Link,
    queue: Option<BottleneckQueue>,
    rng: Rng,
    heap: alloc::collections::BinaryHeap<Queued<T>>,
    order: u64,
    stats: PipeStats,
}

impl<T: Clone> Pipe<T> {
    /// An empty direction with its own seeded generator.
    pub fn new(link: Link, bottleneck: Option<Bottleneck>, seed: u64) -> Pipe<T> {
        Pipe {
            link,
            queue: bottleneck.map(BottleneckQueue::new),
            rng: Rng(seed),
            heap: alloc::collections::BinaryHeap::new(),
            order: 0,
            stats: PipeStats::default(),
        }
    }

    /// Sends `item`, an IP packet of `len` octets, at `now`. Returns
    /// whether at least one copy is on its way.
    pub fn send(&mut self, now: Instant, len: usize, item: T) -> bool {
        self.stats.sent += 1;
        let f = fate(&self.link, self.queue.as_mut(), &mut self.rng, now, len);
        if f.lost {
            self.stats.lost += 1;
        }
        if f.queue_drop {
            self.stats.queue_drops += 1;
        }
        let mut any = false;
        match f.arrivals {
            [Some(a), Some(b)] => {
                self.push(a, item.clone());
                self.push(b, item);
                any = true;
            }
            [Some(a), None] | [None, Some(a)] => {
                self.push(a, item);
                any = true;
            }
            [None, None] => {}
        }
        any
    }

    fn push(&mut self, at: Instant, item: T) {
        self.order += 1;
        self.heap.push(Queued {
            at,
            order: self.order,
            item,
        });
    }

    /// When the next packet arrives, if any is on its way.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.heap.peek().map(|q| q.at)
    }

    /// The next packet due by `now`, earliest first.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.heap.peek()?.at > now {
            return None;
        }
        self.stats.delivered += 1;
        self.heap.pop().map(|q| q.item)
    }

    /// Packets on their way.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is on its way.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Counters so far.
    pub fn stats(&self) -> PipeStats {
        self.stats
    }
}

/// What happened, for traces and ladder diagrams.
#[derive(Clone, Debug, PartialEq)]
pub enum Trace {
    /// A segment left `from` for `to` (`lost` if the link dropped it).
    Sent {
        /// When.
        at: Instant,
        /// Sender.
        from: Id,
        /// Receiver (None if no connection matches its ports).
        to: Option<Id>,
        /// The segment.
        seg: Segment,
        /// Dropped by the link.
        lost: bool,
        /// Delivered twice.
        duplicated: bool,
    },
    /// A segment arrived at `to`.
    Delivered {
        /// When.
        at: Instant,
        /// Receiver.
        to: Id,
        /// The segment.
        seg: Segment,
    },
    /// A connection reported an event.
    Event {
        /// When.
        at: Instant,
        /// Which connection.
        id: Id,
        /// The event.
        event: Event,
    },
}

/// SplitMix64: a small, seeded, deterministic generator.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }
}

/// What an observer (see [`Sim::set_observer`]) is shown, as it happens,
/// with the connection concerned. Nothing is cloned for it.
#[derive(Debug)]
pub enum Observed<'a> {
    /// `from` just produced `seg` from `poll_transmit`; `conn` is `from`
    /// right after the call (before the link decides its fate).
    Sent {
        /// When.
        at: Instant,
        /// Sender.
        from: Id,
        /// The sender, after `poll_transmit`.
        conn: &'a Connection,
        /// The segment.
        seg: &'a Segment,
    },
    /// `to` has nothing more to send at this moment (its output is drained).
    Drained {
        /// When.
        at: Instant,
        /// Which connection.
        id: Id,
        /// The connection.
        conn: &'a Connection,
    },
    /// `seg` was handed to `to`; `conn` is `to` after `handle_segment`.
    Delivered {
        /// When.
        at: Instant,
        /// Receiver.
        to: Id,
        /// The receiver, after handling the segment.
        conn: &'a Connection,
        /// The segment (as it arrived: after the wire round trip in wire mode).
        seg: &'a Segment,
    },
    /// `id` reported `event` (drained from `poll_event`).
    Event {
        /// When.
        at: Instant,
        /// Which connection.
        id: Id,
        /// The connection.
        conn: &'a Connection,
        /// The event.
        event: Event,
    },
}

/// A callback shown every [`Observed`] happening.
pub type Observer = Box<dyn FnMut(Observed<'_>)>;

/// One segment on a link, as [`Sim::in_flight`] lists it.
#[derive(Clone, Debug)]
pub struct Pending<'a> {
    /// When it is due.
    pub at: Instant,
    /// Its receiver.
    pub to: Id,
    /// The segment.
    pub seg: &'a Segment,
}

struct InFlight {
    at: Instant,
    order: u64,
    to: Id,
    seg: Segment,
}

/// The simulator: connections, links between them, a virtual clock.
pub struct Sim {
    now: Instant,
    rng: Rng,
    conns: Vec<Connection>,
    links: Vec<(Id, Id, Link)>,
    bottlenecks: Vec<(Id, Id, BottleneckQueue)>,
    in_flight: Vec<InFlight>,
    order: u64,
    trace: Vec<Trace>,
    /// Keep a trace of every segment and event (on by default).
    pub tracing: bool,
    /// Wire mode: every segment sent is encoded with [`Segment::encode`]
    /// (checksum over the pseudo-header of [`Sim::addrs`]) and decoded back
    /// with [`Segment::decode`] (checksum verified) before it enters the
    /// link. A segment that fails to encode, decode or round-trip equal
    /// panics: the codec and the connection disagree. Off by default.
    pub wire: bool,
    /// With wire mode, use IPv6 pseudo-headers instead of IPv4.
    pub wire_v6: bool,
    /// Manual delivery: segments stay on the link until the caller hands
    /// them over with [`Sim::deliver_now`] (or drops, duplicates them); the
    /// clock and timers still run. Off by default; turning it off lets
    /// everything overdue arrive at the next step.
    pub manual_delivery: bool,
    wire_buf: Vec<u8>,
    due: Vec<InFlight>,
    observer: Option<Observer>,
}

impl Sim {
    /// An empty simulation at time zero with a seeded generator.
    pub fn new(seed: u64) -> Sim {
        Sim {
            now: Instant::ZERO,
            rng: Rng(seed),
            conns: Vec::new(),
            links: Vec::new(),
            bottlenecks: Vec::new(),
            in_flight: Vec::new(),
            order: 0,
            trace: Vec::new(),
            tracing: true,
            wire: false,
            wire_v6: false,
            manual_delivery: false,
            wire_buf: Vec::new(),
            due: Vec::new(),
            observer: None,
        }
    }

    /// Shows `observer` every segment sent and delivered, every drained
    /// output and every event, with the connection concerned (works with
    /// `tracing` off). Replaces any earlier observer.
    pub fn set_observer(&mut self, observer: Observer) {
        self.observer = Some(observer);
    }

    /// Removes the observer.
    pub fn clear_observer(&mut self) {
        self.observer = None;
    }

    /// The IP addresses wire mode uses for a segment from `from` to `to`:
    /// `10.0.0.(id+1)` (IPv4) or `fd00::(id+1)` (IPv6).
    pub fn addrs(&self, from: Id, to: Id) -> IpPair {
        let a = |id: Id| (id.0 as u8).wrapping_add(1);
        if self.wire_v6 {
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src[0] = 0xfd;
            dst[0] = 0xfd;
            src[15] = a(from);
            dst[15] = a(to);
            IpPair::V6 { src, dst }
        } else {
            IpPair::V4 {
                src: [10, 0, 0, a(from)],
                dst: [10, 0, 0, a(to)],
            }
        }
    }

    /// Number of connections.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether the simulation has no connection.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// The segments on the links, in the order they were sent.
    pub fn in_flight(&self) -> impl Iterator<Item = Pending<'_>> + '_ {
        self.in_flight.iter().map(|f| Pending {
            at: f.at,
            to: f.to,
            seg: &f.seg,
        })
    }

    /// How many segments are on the links.
    pub fn in_flight_len(&self) -> usize {
        self.in_flight.len()
    }

    /// Removes the `i`-th segment on the links (in [`Sim::in_flight`]
    /// order) and returns it: a loss.
    pub fn drop_in_flight(&mut self, i: usize) -> Option<Segment> {
        if i < self.in_flight.len() {
            Some(self.in_flight.remove(i).seg)
        } else {
            None
        }
    }

    /// Puts a second copy of the `i`-th segment on the link, due at the same time.
    pub fn duplicate_in_flight(&mut self, i: usize) {
        if let Some(f) = self.in_flight.get(i) {
            self.order += 1;
            let copy = InFlight {
                at: f.at,
                order: self.order,
                to: f.to,
                seg: f.seg.clone(),
            };
            self.in_flight.push(copy);
        }
    }

    /// Holds the `i`-th segment back by `d` (and moves it to the end of
    /// the list): a reordering.
    pub fn delay_in_flight(&mut self, i: usize, d: Duration) {
        if i < self.in_flight.len() {
            let mut f = self.in_flight.remove(i);
            f.at += d;
            self.order += 1;
            f.order = self.order;
            self.in_flight.push(f);
        }
    }

    /// Hands the `i`-th segment to its receiver now, whatever its due time,
    /// then flushes every connection's output. Returns whether there was one.
    pub fn deliver_now(&mut self, i: usize) -> bool {
        if i >= self.in_flight.len() {
            return false;
        }
        let f = self.in_flight.remove(i);
        self.deliver(f.to, f.seg);
        self.flush();
        true
    }

    /// Moves the clock to `t` (if later) without delivering or firing anything.
    pub fn set_now(&mut self, t: Instant) {
        if t > self.now {
            self.now = t;
        }
    }

    /// The virtual clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Adds a connection; segments are routed to it by port.
    pub fn add(&mut self, c: Connection) -> Id {
        self.conns.push(c);
        Id(self.conns.len() - 1)
    }

    /// A connection, to inspect.
    pub fn conn(&self, id: Id) -> &Connection {
        &self.conns[id.0]
    }

    /// A connection, for application calls (send, recv, close...).
    pub fn conn_mut(&mut self, id: Id) -> &mut Connection {
        &mut self.conns[id.0]
    }

    /// Sets the link from `from` to `to` (one direction).
    pub fn set_link(&mut self, from: Id, to: Id, link: Link) {
        self.links.retain(|(f, t, _)| !(*f == from && *t == to));
        self.links.push((from, to, link));
    }

    /// Sets both directions between `a` and `b`.
    pub fn set_links(&mut self, a: Id, b: Id, link: Link) {
        self.set_link(a, b, link);
        self.set_link(b, a, link);
    }

    /// Puts a [`Bottleneck`] on the direction from `from` to `to` (an
    /// empty queue), or removes it with `None`.
    pub fn set_bottleneck(&mut self, from: Id, to: Id, bottleneck: Option<Bottleneck>) {
        self.bottlenecks
            .retain(|(f, t, _)| !(*f == from && *t == to));
        if let Some(b) = bottleneck {
            self.bottlenecks.push((from, to, BottleneckQueue::new(b)));
        }
    }

    /// Puts the same [`Bottleneck`] on both directions between `a` and `b`
    /// (each direction with its own queue).
    pub fn set_bottlenecks(&mut self, a: Id, b: Id, bottleneck: Option<Bottleneck>) {
        self.set_bottleneck(a, b, bottleneck);
        self.set_bottleneck(b, a, bottleneck);
    }

    /// The bottleneck queue on the direction from `from` to `to`, if any.
    pub fn bottleneck(&self, from: Id, to: Id) -> Option<&BottleneckQueue> {
        self.bottlenecks
            .iter()
            .find(|(f, t, _)| *f == from && *t == to)
            .map(|b| &b.2)
    }

    /// Everything traced so far.
    pub fn trace(&self) -> &[Trace] {
        &self.trace
    }

    /// The time-sequence graph ([`Tsg`]) of the data `sender` sent to its
    /// peer, drawn from the trace (so `tracing` must have been on) as seen
    /// at the sender: each data segment when it left (lost ones marked),
    /// each ACK when it arrived back. `svg.to_svg()` renders it.
    ///
    /// ```
    /// use tcp_proto::sim::{Link, Sim};
    /// use tcp_proto::{Config, Connection, SeqNum};
    ///
    /// let mut sim = Sim::new(3);
    /// let s = sim.add(Connection::listen(Config::default(), 80, SeqNum(1)).unwrap());
    /// let c = sim.add(Connection::connect(Config::default(), 4000, 80, SeqNum(9), sim.now()).unwrap());
    /// sim.run_until_quiet(1000);
    /// sim.conn_mut(c).send(&[7; 5000]).unwrap();
    /// sim.run_until_quiet(1000);
    /// let g = sim.tsg(c);
    /// assert_eq!(g.seq_span(), Some((0, 5001)));
    /// let svg = g.to_svg(); // std::fs::write("tsg.svg", svg)
    /// assert!(svg.starts_with("<svg"));
    /// # let _ = s;
    /// ```
    pub fn tsg(&self, sender: Id) -> Tsg {
        let me = &self.conns[sender.0];
        let mut g = Tsg::new(&alloc::format!(
            "connection {} (port {}) → port {}",
            sender.0,
            me.local_port(),
            me.remote_port()
        ));
        g.caption("time-sequence graph of a simulated run, seen at the sender");
        for t in &self.trace {
            match t {
                Trace::Sent {
                    at,
                    from,
                    seg,
                    lost,
                    ..
                } if *from == sender => g.data(*at, seg, *lost),
                Trace::Delivered { at, to, seg }
                    if *to == sender
                        && seg.dst_port == me.local_port()
                        && seg.src_port == me.remote_port() =>
                {
                    g.ack(*at, seg)
                }
                _ => {}
            }
        }
        g
    }

    /// The ladder diagram ([`Ladder`]) of the exchange between `left` and
    /// `right`, drawn from the trace (so `tracing` must have been on): one
    /// arrow per segment either sent to the other (lost ones end in a
    /// cross), and their state changes.
    pub fn ladder(&self, left: Id, right: Id) -> Ladder {
        let name = |id: Id| alloc::format!("{} (port {})", id.0, self.conns[id.0].local_port());
        let mut l = Ladder::new(Instant::ZERO, &name(left), &name(right));
        l.caption("ladder diagram of a simulated run");
        let col = |id: Id| {
            if id == left {
                Some(Column::Left)
            } else if id == right {
                Some(Column::Right)
            } else {
                None
            }
        };
        // The simulator drains a connection's events after its segments of
        // the same moment; the state changes that caused them go first.
        enum Item<'a> {
            Seg(Instant, Column, &'a Segment, bool),
            State(Instant, Column, crate::state::State),
        }
        let mut items: Vec<Item<'_>> = Vec::new();
        for t in &self.trace {
            match t {
                Trace::Sent {
                    at,
                    from,
                    to: Some(to),
                    seg,
                    lost,
                    ..
                } => {
                    if let (Some(c), Some(_)) = (col(*from), col(*to)) {
                        items.push(Item::Seg(*at, c, seg, *lost));
                    }
                }
                Trace::Event {
                    at,
                    id,
                    event: Event::StateChanged { to, .. },
                } => {
                    if let Some(c) = col(*id) {
                        let mut i = items.len();
                        while i > 0
                            && matches!(items[i - 1], Item::Seg(t, sc, ..) if t == *at && sc == c)
                        {
                            i -= 1;
                        }
                        items.insert(i, Item::State(*at, c, *to));
                    }
                }
                _ => {}
            }
        }
        for item in items {
            match item {
                Item::Seg(at, c, seg, lost) => l.segment(at, c, seg, lost),
                Item::State(at, c, state) => l.state(at, c, state),
            }
        }
        l
    }

    /// Takes the trace, leaving it empty.
    pub fn take_trace(&mut self) -> Vec<Trace> {
        core::mem::take(&mut self.trace)
    }

    fn link(&self, from: Id, to: Id) -> Link {
        self.links
            .iter()
            .find(|(f, t, _)| *f == from && *t == to)
            .map(|l| l.2)
            .unwrap_or_default()
    }

    fn route(&self, from: Id, seg: &Segment) -> Option<Id> {
        let exact = self.conns.iter().enumerate().position(|(i, c)| {
            i != from.0 && c.local_port() == seg.dst_port && c.remote_port() == seg.src_port
        });
        exact
            .or_else(|| {
                self.conns.iter().enumerate().position(|(i, c)| {
                    i != from.0 && c.local_port() == seg.dst_port && c.remote_port() == 0
                })
            })
            .map(Id)
    }

    /// Injects a segment as if `from` had sent it (for tests of odd input).
    pub fn inject(&mut self, from: Id, seg: Segment) {
        self.send_one(from, seg);
    }

    fn send_one(&mut self, from: Id, seg: Segment) {
        let to = self.route(from, &seg);
        let Some(to) = to else {
            if self.tracing {
                self.trace.push(Trace::Sent {
                    at: self.now,
                    from,
                    to: None,
                    seg,
                    lost: true,
                    duplicated: false,
                });
            }
            return;
        };
        let seg = if self.wire {
            self.wire_round_trip(from, to, seg)
        } else {
            seg
        };
        let link = self.link(from, to);
        let ip_header = if self.wire_v6 { 40 } else { 20 };
        let len = ip_header + seg.encoded_len().unwrap_or(seg.payload.len() + 60);
        let queue = self
            .bottlenecks
            .iter_mut()
            .find(|(f, t, _)| *f == from && *t == to)
            .map(|b| &mut b.2);
        let f = fate(&link, queue, &mut self.rng, self.now, len);
        let lost = f.arrivals.iter().all(Option::is_none);
        let duplicated = f.arrivals.iter().all(Option::is_some);
        if self.tracing {
            self.trace.push(Trace::Sent {
                at: self.now,
                from,
                to: Some(to),
                seg: seg.clone(),
                lost,
                duplicated,
            });
        }
        match f.arrivals {
            [Some(a), Some(b)] => {
                self.put_in_flight(a, to, seg.clone());
                self.put_in_flight(b, to, seg);
            }
            [Some(a), None] | [None, Some(a)] => self.put_in_flight(a, to, seg),
            [None, None] => {}
        }
    }

    fn put_in_flight(&mut self, at: Instant, to: Id, seg: Segment) {
        self.order += 1;
        self.in_flight.push(InFlight {
            at,
            order: self.order,
            to,
            seg,
        });
    }

    /// Encodes `seg` as `from` would put it on the wire and decodes it as
    /// `to` would take it off, checking that nothing changed on the way.
    fn wire_round_trip(&mut self, from: Id, to: Id, seg: Segment) -> Segment {
        let addrs = self.addrs(from, to);
        let len = match seg.encoded_len() {
            Ok(n) => n,
            Err(e) => panic!("sim wire mode: cannot encode {seg}: {e}"),
        };
        self.wire_buf.clear();
        self.wire_buf.resize(len, 0);
        if let Err(e) = seg.encode(&mut self.wire_buf, &addrs, ChecksumMode::Verify) {
            panic!("sim wire mode: cannot encode {seg}: {e}");
        }
        let packet = bytes::Bytes::copy_from_slice(&self.wire_buf);
        let back = match Segment::decode(&packet, &addrs, ChecksumMode::Verify) {
            Ok(s) => s,
            Err(e) => panic!("sim wire mode: {seg} does not decode: {e}"),
        };
        assert_eq!(back, seg, "sim wire mode: the segment changed on the wire");
        back
    }

    fn deliver(&mut self, to: Id, seg: Segment) {
        let now = self.now;
        if self.tracing {
            self.trace.push(Trace::Delivered {
                at: now,
                to,
                seg: seg.clone(),
            });
        }
        match self.observer.as_mut() {
            Some(o) => {
                let kept = seg.clone();
                self.conns[to.0].handle_segment(now, seg);
                o(Observed::Delivered {
                    at: now,
                    to,
                    conn: &self.conns[to.0],
                    seg: &kept,
                });
            }
            None => self.conns[to.0].handle_segment(now, seg),
        }
    }

    /// Drains every connection's output and events at the current time.
    pub fn flush(&mut self) {
        for i in 0..self.conns.len() {
            let now = self.now;
            while let Some(seg) = self.conns[i].poll_transmit(now) {
                if let Some(o) = self.observer.as_mut() {
                    o(Observed::Sent {
                        at: now,
                        from: Id(i),
                        conn: &self.conns[i],
                        seg: &seg,
                    });
                }
                self.send_one(Id(i), seg);
            }
            if let Some(o) = self.observer.as_mut() {
                o(Observed::Drained {
                    at: now,
                    id: Id(i),
                    conn: &self.conns[i],
                });
            }
            while let Some(event) = self.conns[i].poll_event() {
                if let Some(o) = self.observer.as_mut() {
                    o(Observed::Event {
                        at: now,
                        id: Id(i),
                        conn: &self.conns[i],
                        event,
                    });
                }
                if self.tracing {
                    self.trace.push(Trace::Event {
                        at: now,
                        id: Id(i),
                        event,
                    });
                }
            }
        }
    }

    /// The next moment something happens: a delivery or a connection deadline.
    pub fn next_time(&self) -> Option<Instant> {
        let d = if self.manual_delivery {
            None
        } else {
            self.in_flight.iter().map(|f| f.at).min()
        };
        let t = self.conns.iter().filter_map(|c| c.poll_timeout()).min();
        match (d, t) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances to the next moment, delivers what is due, fires timers, and
    /// flushes output. Returns `false` when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        self.flush();
        let Some(t) = self.next_time() else {
            return false;
        };
        if t > self.now {
            self.now = t;
        }
        self.deliver_due();
        let now = self.now;
        for c in &mut self.conns {
            if c.poll_timeout().is_some_and(|d| d <= now) {
                c.handle_timeout(now);
            }
        }
        self.flush();
        true
    }

    fn deliver_due(&mut self) {
        if self.manual_delivery {
            return;
        }
        let now = self.now;
        // Reuse one buffer and keep the rest in sending order.
        let mut due = core::mem::take(&mut self.due);
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight[i].at <= now {
                due.push(self.in_flight.remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|f| (f.at, f.order));
        for f in due.drain(..) {
            self.deliver(f.to, f.seg);
        }
        self.due = due;
    }

    /// Steps until nothing is left to happen or `max_steps` steps ran.
    /// Returns the steps taken.
    pub fn run_until_quiet(&mut self, max_steps: usize) -> usize {
        let mut n = 0;
        while n < max_steps && self.step() {
            n += 1;
        }
        n
    }

    /// Steps until `done(self)` holds, nothing is left, or `max_steps` ran.
    /// Returns whether `done` held.
    pub fn run_until(&mut self, max_steps: usize, mut done: impl FnMut(&mut Sim) -> bool) -> bool {
        for _ in 0..max_steps {
            if done(self) {
                return true;
            }
            if !self.step() {
                return done(self);
            }
        }
        done(self)
    }

    /// Steps until the virtual clock passes `until` (or nothing is left).
    pub fn run_for(&mut self, d: Duration, max_steps: usize) {
        let until = self.now + d;
        for _ in 0..max_steps {
            match self.next_time() {
                Some(t) if t <= until => {
                    self.step();
                }
                _ => break,
            }
        }
        if self.now < until {
            self.now = until;
        }
        self.flush();
    }
}
