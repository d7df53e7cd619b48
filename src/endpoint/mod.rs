//! A whole host's TCP: many connections behind one front door, sans-IO.
//!
//! An [`Endpoint`] takes segments with their IP addresses (IPv4 and IPv6
//! side by side) and the caller's `now`, and gives back segments with their
//! addresses, events tagged with a [`ConnectionHandle`], and one deadline
//! for everything. It owns its connections, and does what happens before a
//! connection exists and after it ends:
//!
//! - **demux** by the full 4-tuple, through a hash keyed with the caller's
//!   secret (a remote host cannot aim collisions), O(1);
//! - **listening** with a bounded SYN queue of compact half-open entries
//!   (72 octets each, no buffers; SYN-ACK retransmission per
//!   `synack_retries`) and a bounded accept queue: a connection is made when
//!   the handshake-completing ACK arrives, and a full accept queue drops that
//!   ACK so the client retries (as Linux); the most specific listener
//!   (address, port) wins over a wildcard one;
//! - **SYN cookies** (RFC 4987 §3.6, Linux's scheme, see [`SynCookies`]);
//! - **ISNs per RFC 6528**: ISN = M + F(4-tuple, secret), M the 4 µs clock
//!   of `now`, F SipHash-2-4; per-connection timestamp offsets likewise;
//! - **no TCB**: the §3.10.7.1 RST ([`reset_reply`](crate::reset_reply)),
//!   never one for a RST, optionally rate-limited;
//! - **TIME-WAIT** in a compact entry of 64 octets: the `Connection` is
//!   freed when it enters TIME-WAIT; the entry ACKs a retransmitted FIN and
//!   restarts 2·MSL, follows the RFC 1337 setting, and lets a new SYN reopen
//!   the 4-tuple per RFC 6191 (the rules are those a `Connection` uses,
//!   from one module);
//! - **limits**: connections, half-open entries, TIME-WAIT entries, and a
//!   budget for all buffers together (see [`EndpointConfig`]);
//! - **timers** in one binary heap: [`Endpoint::poll_timeout`] is the
//!   earliest deadline of all, [`Endpoint::handle_timeout`] touches only
//!   what expired.
//!
//! The crate draws nothing: the caller passes a 16-octet secret once, from
//! its operating system's random source.
//!
//! # The API
//!
//! - Input: [`Endpoint::handle_segment`] (a decoded segment with its source
//!   and destination address), [`Endpoint::handle_packet`] (raw TCP octets,
//!   checksum verified), [`Endpoint::handle_icmp`] (an ICMP or ICMPv6
//!   error about a segment we sent, e.g. from
//!   [`ip::parse_icmp`]), [`Endpoint::handle_timeout`].
//! - Output: [`Endpoint::poll_transmit`] (a [`Transmit`]: addresses and
//!   segment) or [`Endpoint::poll_transmit_into`] (encoded with its checksum
//!   into the caller's buffer, no allocation), [`Endpoint::poll_timeout`],
//!   [`Endpoint::poll_event`] (`(handle, event)`).
//! - Connections: [`Endpoint::listen`] + [`Endpoint::accept`],
//!   [`Endpoint::connect`]; then by handle: [`Endpoint::send`],
//!   [`Endpoint::recv`], [`Endpoint::close`], [`Endpoint::abort`], or borrow
//!   the whole [`Connection`] with [`Endpoint::connection`]. A handle is an
//!   index and a generation: once its connection is gone every call with it
//!   is [`EndpointError::StaleHandle`], never another connection.
//! - Life cycle: a connection's handle stays valid until the connection has
//!   sent everything, the application has read everything, and it is CLOSED
//!   or in TIME-WAIT; then its last events (ending with
//!   [`Event::Closed`]) are delivered by [`Endpoint::poll_event`] and the
//!   handle becomes stale. A connection that enters TIME-WAIT reports
//!   `Closed(Normal)` there: the endpoint keeps the 4-tuple in TIME-WAIT itself.
//!
//! Call `poll_transmit` until `None` and `poll_event` until `None` after
//! each input, then sleep until `poll_timeout`.
//!
//! ```
//! use tcp_proto::endpoint::{Endpoint, EndpointConfig};
//! use tcp_proto::{Event, Instant};
//! use std::net::{IpAddr, SocketAddr};
//!
//! let now = Instant::ZERO;
//! let mut server = Endpoint::new(EndpointConfig::default(), [1; 16]).unwrap();
//! let mut client = Endpoint::new(EndpointConfig::default(), [2; 16]).unwrap();
//! let server_ip: IpAddr = "192.0.2.1".parse().unwrap();
//! let client_ip: IpAddr = "192.0.2.2".parse().unwrap();
//! let listener = server.listen(None, 80, 128).unwrap();
//! let c = client
//!     .connect(now, SocketAddr::new(client_ip, 0), SocketAddr::new(server_ip, 80))
//!     .unwrap();
//!
//! // An in-memory link: move every segment across until both are quiet.
//! fn pump(now: Instant, a: &mut Endpoint, b: &mut Endpoint) {
//!     loop {
//!         let mut moved = false;
//!         while let Some(t) = a.poll_transmit(now) { b.handle_segment(now, t.src, t.dst, t.segment); moved = true; }
//!         while let Some(t) = b.poll_transmit(now) { a.handle_segment(now, t.src, t.dst, t.segment); moved = true; }
//!         if !moved { break; }
//!     }
//! }
//! pump(now, &mut client, &mut server);
//! let s = server.accept(listener).expect("handshake done");
//!
//! client.send(c, b"hello").unwrap();
//! pump(now, &mut client, &mut server);
//! let mut buf = [0u8; 16];
//! let n = server.recv(s, &mut buf).unwrap();
//! assert_eq!(&buf[..n], b"hello");
//! assert!(std::iter::from_fn(|| client.poll_event()).any(|(h, e)| h == c && e == Event::Connected));
//!
//! client.close(now, c).unwrap();
//! pump(now, &mut client, &mut server);
//! server.close(now, s).unwrap();
//! pump(now, &mut client, &mut server);
//! // The client holds TIME-WAIT in a compact entry; both handles are gone.
//! assert_eq!(client.counts().time_wait, 1);
//! assert!(server.connection(s).is_err());
//! ```

mod config;
mod cookie;
mod demux;
mod entries;
mod hash;
mod timers;

pub use config::{EndpointConfig, SynCookies};

use crate::config::{Config, ConfigError};
use crate::connection::Connection;
use crate::event::{CloseReason, Error, Event};
use crate::icmp::IcmpError;
use crate::ip::{self, IpFields};
use crate::listen::{self, ListenAction};
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::Instant;
use crate::timewait::{self, TimeWaitAction};
use crate::wire::{ChecksumMode, Ecn, Flags, IpPair, Segment, Timestamps, WireError};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use bytes::Bytes;
use core::net::{IpAddr, SocketAddr};
use demux::{FourTuple, Slot, Table};
use entries::{HalfOpen, TimeWait};
use hash::Keys;
use timers::TimerHeap;

/// Names one connection of an [`Endpoint`]: a slot index and the slot's
/// generation, so a handle outlived by its connection never reaches another.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ConnectionHandle {
    index: u32,
    generation: u32,
}

impl ConnectionHandle {
    /// The slot index (dense, small: usable to index the caller's own tables).
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// Names one listener of an [`Endpoint`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ListenerHandle {
    index: u32,
    generation: u32,
}

/// Why an [`Endpoint`] call failed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, thiserror::Error)]
pub enum EndpointError {
    /// The handle's connection is gone (closed, or moved to TIME-WAIT).
    #[error("stale connection handle")]
    StaleHandle,
    /// The listener handle's listener is gone.
    #[error("stale listener handle")]
    StaleListener,
    /// `max_connections` reached.
    #[error("too many connections")]
    TooManyConnections,
    /// The buffer budget is under pressure: no new connections.
    #[error("buffer memory under pressure")]
    MemoryPressure,
    /// The 4-tuple (or listening address and port) is in use.
    #[error("address in use")]
    AddressInUse,
    /// Every ephemeral port to that destination is in use.
    #[error("no ephemeral port available")]
    NoEphemeralPort,
    /// Local and remote addresses are of different families.
    #[error("local and remote address families differ")]
    AddressFamilyMismatch,
    /// An address TCP cannot use: multicast, broadcast, or (as the remote
    /// end) unspecified (MUST-46).
    #[error("not a unicast address")]
    NotUnicast,
    /// A bad configuration.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// The connection refused the call.
    #[error("connection: {0}")]
    Connection(#[from] Error),
}

/// A segment to send, with its addresses (the ports are in the segment).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Transmit {
    /// Source address (ours).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The segment.
    pub segment: Segment,
}

impl Transmit {
    /// The addresses as the checksum pseudo-header wants them.
    pub fn ip_pair(&self) -> IpPair {
        ip_pair(self.src, self.dst)
    }
}

/// A segment encoded by [`Endpoint::poll_transmit_into`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Encoded {
    /// Source address (ours).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Octets written at the front of the buffer (TCP header and payload).
    pub len: usize,
}

impl Encoded {
    /// The addresses as the checksum pseudo-header and
    /// [`ip::write_header`] want them.
    pub fn ip_pair(&self) -> IpPair {
        ip_pair(self.src, self.dst)
    }
}

fn ip_pair(src: IpAddr, dst: IpAddr) -> IpPair {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => IpPair::V4 {
            src: s.octets(),
            dst: d.octets(),
        },
        (s, d) => IpPair::V6 {
            src: to_v6(s),
            dst: to_v6(d),
        },
    }
}

fn to_v6(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// Counters of an endpoint.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct EndpointStats {
    /// Segments handed to the endpoint.
    pub segments_in: u64,
    /// Segments given out by `poll_transmit`.
    pub segments_out: u64,
    /// Packets that failed to decode (bad checksum, malformed header).
    pub malformed: u64,
    /// Segments whose source and destination families differ.
    pub wrong_family: u64,
    /// Segments to or from a multicast, broadcast or unspecified address,
    /// dropped silently (MUST-57, MUST-63).
    pub not_unicast: u64,
    /// RSTs sent for segments with no connection (§3.10.7.1).
    pub resets_sent: u64,
    /// Replies (RSTs, TIME-WAIT ACKs) suppressed by `reply_rate_limit`.
    pub replies_rate_limited: u64,
    /// Endpoint-made segments dropped because the caller did not poll.
    pub replies_dropped: u64,
    /// SYNs that reached a listener.
    pub syns_received: u64,
    /// SYNs dropped: SYN queue full and cookies off.
    pub syns_dropped_queue_full: u64,
    /// SYNs dropped: the listener's accept queue is full.
    pub syns_dropped_accept_full: u64,
    /// SYNs dropped: connection limit or memory pressure.
    pub syns_dropped_limit: u64,
    /// SYN-ACKs retransmitted from half-open entries.
    pub synack_retransmits: u64,
    /// Half-open entries that expired after `synack_retries`.
    pub half_open_expired: u64,
    /// SYN-ACKs sent with a cookie.
    pub cookies_sent: u64,
    /// Handshakes completed by a valid cookie.
    pub cookies_accepted: u64,
    /// ACKs whose cookie did not validate.
    pub cookies_rejected: u64,
    /// Handshake-completing ACKs dropped because the accept queue was full.
    pub acks_dropped_accept_full: u64,
    /// Handshakes completed (connections made by a listener).
    pub handshakes_completed: u64,
    /// Connections that moved into a compact TIME-WAIT entry.
    pub time_wait_entered: u64,
    /// Connections closed instead, `max_time_wait` being reached.
    pub time_wait_overflow: u64,
    /// 4-tuples reopened from TIME-WAIT by a new SYN (RFC 6191).
    pub time_wait_reopened: u64,
    /// Payload octets dropped before buffering: the buffer budget was spent.
    pub payload_dropped_budget: u64,
    /// Final events dropped because the application did not poll.
    pub events_dropped: u64,
    /// ICMP errors handed to a connection ([`Connection::handle_icmp`]
    /// then applies its own checks; its [`Stats`](crate::Stats) count
    /// what it ignored).
    pub icmp_to_connections: u64,
    /// Half-open entries dropped by an ICMP error about their SYN-ACK.
    pub icmp_half_open_dropped: u64,
    /// ICMP errors the endpoint ignored: no connection for the 4-tuple (a
    /// SYN cookie's included), a TIME-WAIT entry, a half-open entry the
    /// error does not end, addresses of two families.
    pub icmp_ignored: u64,
}

/// How many of each thing an endpoint holds now.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Counts {
    /// Connections (with a `Connection`).
    pub connections: usize,
    /// Half-open entries (SYN queue, all listeners).
    pub half_open: usize,
    /// TIME-WAIT entries.
    pub time_wait: usize,
    /// Octets in all connections' buffers.
    pub buffered: usize,
    /// Entries in the timer heap (live and stale).
    pub timers: usize,
}

const DIRTY: u8 = 1;
const IN_TX: u8 = 2;
const IN_EV: u8 = 4;
/// The receive buffer is shrunk for memory pressure.
const SHRUNK: u8 = 8;

/// Most final events (of connections already freed) held for the application.
const MAX_FINAL_EVENTS: usize = 65536;

#[derive(Debug)]
struct ConnSlot {
    generation: u32,
    flags: u8,
    hash: u32,
    tuple: FourTuple,
    /// The deadline registered in the heap, µs; [`NO_TIMER`] if none
    /// (8 octets instead of an `Option<Instant>`'s 16, per connection).
    timer: u64,
    /// Buffered octets last counted into the endpoint's total.
    accounted: usize,
    conn: Option<Box<Connection>>,
}

/// `ConnSlot::timer` when no deadline is registered (a connection's
/// deadlines are always earlier: its timer table keeps them below this).
const NO_TIMER: u64 = u64::MAX;

#[derive(Debug)]
struct Listener {
    generation: u32,
    addr: Option<IpAddr>,
    port: u16,
    backlog: usize,
    /// Half-open entries of this listener.
    syn_queue: usize,
    accept: VecDeque<ConnectionHandle>,
    open: bool,
}

/// Many TCP connections behind one front door; see the [module docs](self).
#[derive(Debug)]
pub struct Endpoint {
    cfg: EndpointConfig,
    /// The connection settings every IPv4 / IPv6 connection shares (the
    /// per-4-tuple timestamp offset is set on each connection).
    conn_v4: Arc<Config>,
    conn_v6: Arc<Config>,
    keys: Keys,
    conns: Vec<ConnSlot>,
    conn_free: Vec<u32>,
    conn_count: usize,
    half: Vec<Option<HalfOpen>>,
    half_free: Vec<u32>,
    half_count: usize,
    tw: Vec<Option<TimeWait>>,
    tw_free: Vec<u32>,
    tw_count: usize,
    table: Table,
    listeners: Vec<Listener>,
    timers: TimerHeap,
    replies: VecDeque<Transmit>,
    dirty: Vec<u32>,
    tx: VecDeque<u32>,
    ev: VecDeque<u32>,
    final_events: VecDeque<(ConnectionHandle, Event)>,
    reply_second: u64,
    replies_this_second: u32,
    buffered: usize,
    port_counter: u32,
    /// The IP ECN field of the segment being handled (RFC 3168).
    incoming_ecn: Ecn,
    /// The IP header fields for the segment last given out.
    outgoing_ip: IpFields,
    stats: EndpointStats,
}

/// The connection settings shared by the IPv4 and by the IPv6 connections
/// (IPv6 advertises MSS − 20 unless `ipv6_mss` says otherwise).
fn family_configs(cfg: &EndpointConfig) -> (Arc<Config>, Arc<Config>) {
    let mut v6 = cfg.connection;
    v6.mss = cfg.advertised_mss().1;
    v6.default_peer_mss = v6.default_peer_mss.max(1220).min(v6.mss);
    (Arc::new(cfg.connection), Arc::new(v6))
}

impl Endpoint {
    /// An endpoint with `cfg` and the caller's `secret` (16 random octets
    /// from the operating system: they key the demux hash, ISNs, timestamp
    /// offsets, ephemeral ports and SYN cookies).
    pub fn new(cfg: EndpointConfig, secret: [u8; 16]) -> Result<Endpoint, ConfigError> {
        cfg.validate()?;
        let (conn_v4, conn_v6) = family_configs(&cfg);
        Ok(Endpoint {
            conn_v4,
            conn_v6,
            cfg,
            keys: Keys::new(secret),
            conns: Vec::new(),
            conn_free: Vec::new(),
            conn_count: 0,
            half: Vec::new(),
            half_free: Vec::new(),
            half_count: 0,
            tw: Vec::new(),
            tw_free: Vec::new(),
            tw_count: 0,
            table: Table::new(),
            listeners: Vec::new(),
            timers: TimerHeap::default(),
            replies: VecDeque::new(),
            dirty: Vec::new(),
            tx: VecDeque::new(),
            ev: VecDeque::new(),
            final_events: VecDeque::new(),
            reply_second: u64::MAX,
            replies_this_second: 0,
            buffered: 0,
            port_counter: 0,
            incoming_ecn: Ecn::NotEct,
            outgoing_ip: IpFields::default(),
            stats: EndpointStats::default(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// Replaces the configuration of the connections opened or accepted
    /// from now on, as a socket option set on a Linux listening socket
    /// (`TCP_MAXSEG`, buffer sizes, ...) applies to the connections it
    /// accepts later. Connections already open keep theirs; a SYN already
    /// answered completes with what its SYN-ACK offered.
    pub fn set_connection_config(&mut self, cfg: Config) -> Result<(), ConfigError> {
        cfg.validate()?;
        self.cfg.connection = cfg;
        (self.conn_v4, self.conn_v6) = family_configs(&self.cfg);
        Ok(())
    }

    /// Counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// What the endpoint holds now.
    pub fn counts(&self) -> Counts {
        Counts {
            connections: self.conn_count,
            half_open: self.half_count,
            time_wait: self.tw_count,
            buffered: self.buffered,
            timers: self.timers.len(),
        }
    }

    /// Heap octets the endpoint's own structures hold (slabs, table, heap,
    /// queues, the boxed connections and the state each allocated when
    /// something rare happened to it), not counting buffered data (see
    /// [`Counts::buffered`]). It visits every connection: a figure for
    /// reports, not for every event.
    pub fn heap_bytes(&self) -> usize {
        use core::mem::size_of;
        self.conns.capacity() * size_of::<ConnSlot>()
            + self.conn_count * size_of::<Connection>()
            + self
                .conns
                .iter()
                .filter_map(|s| s.conn.as_deref())
                .map(Connection::cold_heap_bytes)
                .sum::<usize>()
            + (self.conn_free.capacity() + self.half_free.capacity() + self.tw_free.capacity()) * 4
            + self.half.capacity() * size_of::<Option<HalfOpen>>()
            + self.tw.capacity() * size_of::<Option<TimeWait>>()
            + self.table.heap_bytes()
            + self.timers.heap_bytes()
            + self.replies.capacity() * size_of::<Transmit>()
            + self.dirty.capacity() * 4
            + (self.tx.capacity() + self.ev.capacity()) * 4
            + self.final_events.capacity() * size_of::<(ConnectionHandle, Event)>()
    }

    // ---- listeners ------------------------------------------------------

    /// Listens on `port` at `addr` (`None`: every address, both families;
    /// `0.0.0.0` or `::`: every address of that family). A listener on a
    /// specific address wins over a family wildcard, which wins over `None`.
    /// At most `backlog` established connections wait for [`accept`](Self::accept)
    /// (and SYNs are dropped while they do, as Linux).
    pub fn listen(
        &mut self,
        addr: Option<IpAddr>,
        port: u16,
        backlog: usize,
    ) -> Result<ListenerHandle, EndpointError> {
        if addr.is_some_and(|a| a.is_multicast() || matches!(a, IpAddr::V4(v) if v.is_broadcast()))
        {
            return Err(EndpointError::NotUnicast);
        }
        if self
            .listeners
            .iter()
            .any(|l| l.open && l.port == port && l.addr == addr)
        {
            return Err(EndpointError::AddressInUse);
        }
        let l = Listener {
            generation: 0,
            addr,
            port,
            backlog: backlog.max(1),
            syn_queue: 0,
            accept: VecDeque::new(),
            open: true,
        };
        let index = match self.listeners.iter().position(|l| !l.open) {
            Some(i) => {
                let generation = self.listeners[i].generation.wrapping_add(1);
                self.listeners[i] = Listener { generation, ..l };
                i
            }
            None => {
                if self.listeners.len() >= usize::from(u16::MAX) {
                    return Err(EndpointError::AddressInUse);
                }
                self.listeners.push(l);
                self.listeners.len() - 1
            }
        };
        Ok(ListenerHandle {
            index: index as u32,
            generation: self.listeners[index].generation,
        })
    }

    /// Stops listening: half-open entries are forgotten and connections
    /// not yet accepted are aborted (RST), as Linux does on `close`.
    pub fn unlisten(&mut self, l: ListenerHandle) -> Result<(), EndpointError> {
        let li = self.listener_index(l)?;
        let pending: Vec<ConnectionHandle> = self.listeners[li].accept.drain(..).collect();
        self.listeners[li].open = false;
        self.listeners[li].syn_queue = 0;
        for h in pending {
            let _ = self.abort(h);
        }
        for j in 0..self.half.len() {
            if let Some(e) = self.half[j]
                && usize::from(e.listener) == li
            {
                self.remove_half_open(j as u32);
            }
        }
        Ok(())
    }

    /// The next established connection of listener `l`, if any. A
    /// connection that closed while it waited (reset by its peer) is skipped;
    /// its last events still come out of [`poll_event`](Self::poll_event)
    /// under a handle `accept` never returned: ignore unknown handles there.
    pub fn accept(&mut self, l: ListenerHandle) -> Option<ConnectionHandle> {
        let li = self.listener_index(l).ok()?;
        while let Some(h) = self.listeners[li].accept.pop_front() {
            if self.slot(h).is_ok() {
                return Some(h);
            }
        }
        None
    }

    fn listener_index(&self, l: ListenerHandle) -> Result<usize, EndpointError> {
        match self.listeners.get(l.index as usize) {
            Some(x) if x.open && x.generation == l.generation => Ok(l.index as usize),
            _ => Err(EndpointError::StaleListener),
        }
    }

    /// The listener for a segment to `t`'s local side: an exact address
    /// match wins over a wildcard one.
    fn find_listener(&self, t: &FourTuple) -> Option<usize> {
        let local = t.local().ip();
        let mut wildcard = None;
        for (i, l) in self.listeners.iter().enumerate() {
            if !l.open || l.port != t.local_port {
                continue;
            }
            match l.addr {
                Some(a) if a == local => return Some(i),
                // 0.0.0.0 and :: are wildcards for their own family.
                Some(a) if a.is_unspecified() && a.is_ipv4() == local.is_ipv4() => {
                    wildcard = Some(i)
                }
                None if wildcard.is_none() => wildcard = Some(i),
                _ => {}
            }
        }
        wildcard
    }

    // ---- active open ----------------------------------------------------

    /// Opens a connection from `local` to `remote` (port 0 in `local`: an
    /// ephemeral port, chosen per RFC 6056 §3.3.3 from the keyed hash). The
    /// SYN comes out of [`poll_transmit`](Self::poll_transmit).
    pub fn connect(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<ConnectionHandle, EndpointError> {
        self.settle_dirty();
        if local.is_ipv4() != remote.is_ipv4() {
            return Err(EndpointError::AddressFamilyMismatch);
        }
        // MUST-46: no OPEN to broadcast or multicast; from an unspecified
        // local address neither (the caller picks the source, MUST-44).
        if !ip::is_unicast(remote.ip()) || !ip::is_unicast(local.ip()) {
            return Err(EndpointError::NotUnicast);
        }
        if self.conn_count >= self.cfg.max_connections {
            return Err(EndpointError::TooManyConnections);
        }
        if self.under_pressure() {
            return Err(EndpointError::MemoryPressure);
        }
        let tuple = if local.port() == 0 {
            self.ephemeral(local, remote)?
        } else {
            let t = FourTuple::new(local, remote).ok_or(EndpointError::AddressFamilyMismatch)?;
            if self.lookup(self.hash(&t), &t).is_some() {
                return Err(EndpointError::AddressInUse);
            }
            t
        };
        let cfg = self.conn_config(&tuple);
        let iss = self.isn(now, &tuple);
        let mut conn = Connection::connect(cfg, tuple.local_port, tuple.remote_port, iss, now)?;
        conn.set_ts_offset(self.ts_offset(&tuple));
        Ok(self.insert_conn(tuple, conn))
    }

    fn ephemeral(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<FourTuple, EndpointError> {
        let mut t = FourTuple::new(local, remote).ok_or(EndpointError::AddressFamilyMismatch)?;
        let (lo, hi) = self.cfg.ephemeral_ports;
        let range = u32::from(hi - lo) + 1;
        t.local_port = 0;
        let offset = self.keys.port.tuple(&t, 0) as u32;
        for k in 0..range {
            let port =
                lo + ((offset.wrapping_add(self.port_counter).wrapping_add(k)) % range) as u16;
            t.local_port = port;
            if self.lookup(self.hash(&t), &t).is_none() {
                self.port_counter = self.port_counter.wrapping_add(k + 1);
                return Ok(t);
            }
        }
        Err(EndpointError::NoEphemeralPort)
    }

    // ---- application calls by handle ------------------------------------

    /// Borrows the connection of `h`. Whatever the caller does with it, the
    /// endpoint takes note (deadline, output, events) at its next call.
    pub fn connection(&mut self, h: ConnectionHandle) -> Result<&mut Connection, EndpointError> {
        let i = self.slot(h)?;
        self.mark_dirty(i);
        match self.conns.get_mut(i).and_then(|s| s.conn.as_deref_mut()) {
            Some(c) => Ok(c),
            None => Err(EndpointError::StaleHandle),
        }
    }

    /// Reads the connection of `h`.
    pub fn connection_ref(&self, h: ConnectionHandle) -> Result<&Connection, EndpointError> {
        let i = self.slot(h)?;
        self.conns
            .get(i)
            .and_then(|s| s.conn.as_deref())
            .ok_or(EndpointError::StaleHandle)
    }

    /// Local and remote socket addresses of `h`.
    pub fn addresses(
        &self,
        h: ConnectionHandle,
    ) -> Result<(SocketAddr, SocketAddr), EndpointError> {
        let i = self.slot(h)?;
        let t = &self.conns[i].tuple;
        Ok((t.local(), t.remote()))
    }

    /// [`Connection::send`] by handle.
    pub fn send(&mut self, h: ConnectionHandle, data: &[u8]) -> Result<usize, EndpointError> {
        self.with(h, |c| c.send(data))
    }

    /// [`Connection::send_bytes`] by handle.
    pub fn send_bytes(&mut self, h: ConnectionHandle, data: Bytes) -> Result<usize, EndpointError> {
        self.with(h, |c| c.send_bytes(data))
    }

    /// [`Connection::recv`] by handle.
    pub fn recv(&mut self, h: ConnectionHandle, buf: &mut [u8]) -> Result<usize, EndpointError> {
        self.with(h, |c| c.recv(buf))
    }

    /// [`Connection::recv_bytes`] by handle.
    pub fn recv_bytes(&mut self, h: ConnectionHandle, max: usize) -> Result<Bytes, EndpointError> {
        self.with(h, |c| c.recv_bytes(max))
    }

    /// [`Connection::shutdown_write`] by handle.
    pub fn shutdown_write(&mut self, h: ConnectionHandle) -> Result<(), EndpointError> {
        self.with(h, |c| c.shutdown_write())
    }

    /// [`Connection::close`] by handle.
    pub fn close(&mut self, now: Instant, h: ConnectionHandle) -> Result<(), EndpointError> {
        self.with(h, |c| c.close(now))
    }

    /// [`Connection::abort`] by handle.
    pub fn abort(&mut self, h: ConnectionHandle) -> Result<(), EndpointError> {
        self.with(h, |c| {
            c.abort();
            Ok(())
        })
    }

    /// Runs `f` on the connection of `h`, then takes note of what changed.
    fn with<T>(
        &mut self,
        h: ConnectionHandle,
        f: impl FnOnce(&mut Connection) -> Result<T, Error>,
    ) -> Result<T, EndpointError> {
        self.settle_dirty();
        let i = self.slot(h)?;
        let c = self
            .conns
            .get_mut(i)
            .and_then(|s| s.conn.as_deref_mut())
            .ok_or(EndpointError::StaleHandle)?;
        let r = f(c);
        self.settle(i, false);
        Ok(r?)
    }

    fn slot(&self, h: ConnectionHandle) -> Result<usize, EndpointError> {
        match self.conns.get(h.index as usize) {
            Some(s) if s.generation == h.generation && s.conn.is_some() => Ok(h.index as usize),
            _ => Err(EndpointError::StaleHandle),
        }
    }

    fn handle_of(&self, i: usize) -> ConnectionHandle {
        ConnectionHandle {
            index: i as u32,
            generation: self.conns.get(i).map_or(0, |s| s.generation),
        }
    }

    // ---- input ----------------------------------------------------------

    /// Decodes raw TCP octets (header and payload) that arrived from `src`
    /// to `dst`, verifies the checksum, and handles the segment. The payload
    /// shares `packet`'s storage.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        src: IpAddr,
        dst: IpAddr,
        packet: &Bytes,
    ) -> Result<(), WireError> {
        self.handle_packet_ecn(now, src, dst, packet, Ecn::NotEct)
    }

    /// [`handle_packet`](Self::handle_packet) for a packet whose IP header
    /// carried the ECN codepoint `ecn` ([`ip::parse`] reads it).
    pub fn handle_packet_ecn(
        &mut self,
        now: Instant,
        src: IpAddr,
        dst: IpAddr,
        packet: &Bytes,
        ecn: Ecn,
    ) -> Result<(), WireError> {
        match Segment::decode(packet, &ip_pair(src, dst), ChecksumMode::Verify) {
            Ok(seg) => {
                self.handle_segment_ecn(now, src, dst, seg, ecn);
                Ok(())
            }
            Err(e) => {
                self.stats.malformed += 1;
                Err(e)
            }
        }
    }

    /// [`handle_segment`](Self::handle_segment) for a segment whose IP
    /// header carried the ECN codepoint `ecn` (RFC 3168 §5; see
    /// [`Connection::handle_segment_ecn`]).
    pub fn handle_segment_ecn(
        &mut self,
        now: Instant,
        src: IpAddr,
        dst: IpAddr,
        seg: Segment,
        ecn: Ecn,
    ) {
        self.incoming_ecn = ecn;
        self.handle_segment(now, src, dst, seg);
        self.incoming_ecn = Ecn::NotEct;
    }

    /// The ECN codepoint for the IP header of the segment last returned by
    /// [`poll_transmit`](Self::poll_transmit) or
    /// [`poll_transmit_into`](Self::poll_transmit_into) (see
    /// [`Connection::transmit_ecn`]): ECT(0) on new data of connections
    /// that negotiated ECN, Not-ECT on everything else.
    pub fn transmit_ecn(&self) -> Ecn {
        self.outgoing_ip.ecn
    }

    /// All the IP header fields for the segment last returned by
    /// [`poll_transmit`](Self::poll_transmit) or
    /// [`poll_transmit_into`](Self::poll_transmit_into), for
    /// [`ip::write_header_with`]: its connection's
    /// [`Connection::transmit_ip`]; for the endpoint's own replies (RSTs,
    /// SYN-ACKs, TIME-WAIT ACKs) the connection configuration's DSCP and
    /// hop limit, Not-ECT.
    pub fn transmit_ip(&self) -> IpFields {
        self.outgoing_ip
    }

    /// Handles one segment that arrived from `src` to `dst` (one of our
    /// addresses). Never fails: what has no place is a counted drop or gets
    /// the RST of §3.10.7.1. The IP ECN field counts as Not-ECT; see
    /// [`handle_segment_ecn`](Self::handle_segment_ecn).
    pub fn handle_segment(&mut self, now: Instant, src: IpAddr, dst: IpAddr, seg: Segment) {
        self.stats.segments_in += 1;
        self.settle_dirty();
        // MUST-57, MUST-63: a segment to or from a multicast, broadcast or
        // unspecified address is dropped without a word (no RST either).
        if !ip::is_unicast(src) || !ip::is_unicast(dst) {
            self.stats.not_unicast += 1;
            return;
        }
        let local = SocketAddr::new(dst, seg.dst_port);
        let remote = SocketAddr::new(src, seg.src_port);
        let Some(tuple) = FourTuple::new(local, remote) else {
            self.stats.wrong_family += 1;
            return;
        };
        let hash = self.hash(&tuple);
        match self.lookup(hash, &tuple) {
            Some(Slot::Conn(i)) => self.segment_to_connection(now, i as usize, seg),
            Some(Slot::HalfOpen(j)) => self.segment_to_half_open(now, j, seg),
            Some(Slot::TimeWait(j)) => self.segment_to_time_wait(now, j, hash, tuple, seg),
            None => self.segment_to_listener(now, tuple, hash, seg, None),
        }
        self.maybe_purge_timers();
    }

    /// An ICMP or ICMPv6 error about a segment this endpoint sent from
    /// `local` to `remote` (the addresses and ports the message quotes:
    /// ours first), with the quoted sequence number `seq` (RFC 9293
    /// §3.9.2.2, MUST-54). [`ip::parse_icmp`] finds
    /// all of them in a raw packet.
    ///
    /// - A connection gets it through [`Connection::handle_icmp`], which
    ///   holds every rule about connections (sequence check, handshake
    ///   abort, events, path MTU); a handshake it ends closes as after a
    ///   RST ([`Event::Closed`] with [`CloseReason::Unreachable`] or
    ///   `Refused`, and the handle goes stale).
    /// - A half-open entry (SYN queue) is dropped when the error quotes its
    ///   SYN-ACK and says the client cannot be reached (Linux's
    ///   `tcp_req_err`; see `listen::icmp_ends_half_open`); otherwise kept.
    /// - SYN cookies keep no state, TIME-WAIT has nothing left to send, and
    ///   an unknown 4-tuple is no one's: ignored.
    ///
    /// Counted in [`EndpointStats`] (`icmp_*`).
    pub fn handle_icmp(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seq: SeqNum,
        err: IcmpError,
    ) {
        self.settle_dirty();
        let Some(tuple) = FourTuple::new(local, remote) else {
            self.stats.icmp_ignored += 1;
            return;
        };
        let hash = self.hash(&tuple);
        match self.lookup(hash, &tuple) {
            Some(Slot::Conn(i)) => {
                let i = i as usize;
                self.stats.icmp_to_connections += 1;
                if let Some(c) = self.conns.get_mut(i).and_then(|s| s.conn.as_deref_mut()) {
                    c.handle_icmp(now, err, seq);
                }
                // As after a segment: events queued, timers re-armed, a
                // connection the error closed freed.
                self.settle(i, false);
            }
            Some(Slot::HalfOpen(j)) => {
                let ends = self
                    .half
                    .get(j as usize)
                    .copied()
                    .flatten()
                    .is_some_and(|e| listen::icmp_ends_half_open(err, seq, e.iss));
                if ends {
                    self.stats.icmp_half_open_dropped += 1;
                    self.remove_half_open(j);
                } else {
                    self.stats.icmp_ignored += 1;
                }
            }
            Some(Slot::TimeWait(_)) | None => self.stats.icmp_ignored += 1,
        }
        self.maybe_purge_timers();
    }

    fn segment_to_connection(&mut self, now: Instant, i: usize, mut seg: Segment) {
        if !seg.payload.is_empty() && self.buffered >= self.cfg.buffer_budget {
            // tcp_mem's hard limit: nothing is buffered past the budget. The
            // ACK still counts; the data (and a FIN after it) come again.
            self.stats.payload_dropped_budget += seg.payload.len() as u64;
            seg.payload = Bytes::new();
            seg.flags = seg.flags.without(crate::wire::Flags::FIN);
        }
        if let Some(c) = self.conns.get_mut(i).and_then(|s| s.conn.as_deref_mut()) {
            c.handle_segment_ecn(now, seg, self.incoming_ecn);
        }
        self.settle(i, false);
    }

    /// A segment for a half-open entry: SYN-RECEIVED before a connection exists.
    fn segment_to_half_open(&mut self, now: Instant, j: u32, seg: Segment) {
        let Some(e) = self.half.get(j as usize).copied().flatten() else {
            return;
        };
        let f = seg.flags;
        if f.rst() {
            // R2: only an exact RST ends the half-open connection (RFC 5961 §3.2).
            if seg.seq == e.irs.add(1) {
                self.remove_half_open(j);
            }
            return;
        }
        if f.syn() {
            if !f.ack() && seg.seq == e.irs {
                // R1: the SYN again: answer with the SYN-ACK again.
                self.send_syn_ack(now, &e);
            }
            return;
        }
        if !f.ack() {
            return;
        }
        if seg.ack != e.iss.add(1) {
            // R8: an unacceptable ACK gets <SEQ=SEG.ACK><CTL=RST>.
            self.no_tcb(now, &e.tuple, &seg);
            return;
        }
        let li = usize::from(e.listener);
        if !self.room_to_complete(li) {
            return;
        }
        let syn = e.syn();
        self.remove_half_open(j);
        // Karn (RFC 6298 §3): a SYN-ACK never retransmitted times the
        // handshake, as Linux's tcp_synack_rtt_meas; it went out one
        // initial RTO before the entry's first deadline.
        let c = &self.cfg.connection;
        let rto = crate::time::duration_micros(c.initial_rto.min(c.max_rto));
        let sent = (e.retries == 0).then(|| Instant::from_micros(e.deadline.saturating_sub(rto)));
        self.complete(now, li, e.tuple, &syn, e.iss, seg, sent);
    }

    /// Whether listener `li` can take one more established connection; counts the drop if not.
    fn room_to_complete(&mut self, li: usize) -> bool {
        let full = self
            .listeners
            .get(li)
            .is_none_or(|l| !l.open || l.accept.len() >= l.backlog);
        if full {
            // Linux: the completing ACK is dropped; the client retries.
            self.stats.acks_dropped_accept_full += 1;
            return false;
        }
        if self.conn_count >= self.cfg.max_connections {
            self.stats.syns_dropped_limit += 1;
            return false;
        }
        true
    }

    /// The handshake completed: a connection from `syn` (through the
    /// connection's own LISTEN code) takes the completing `ack`, timed from
    /// `syn_ack_sent` when the SYN-ACK was never retransmitted.
    #[allow(clippy::too_many_arguments)] // the handshake's parts, all needed once
    fn complete(
        &mut self,
        now: Instant,
        li: usize,
        tuple: FourTuple,
        syn: &Segment,
        iss: SeqNum,
        ack: Segment,
        syn_ack_sent: Option<Instant>,
    ) {
        let cfg = self.conn_config(&tuple);
        let Ok(mut conn) = Connection::accept(cfg, syn, iss, now) else {
            return;
        };
        conn.set_ts_offset(self.ts_offset(&tuple));
        if let Some(at) = syn_ack_sent {
            conn.syn_ack_sent_at(at);
        }
        conn.handle_segment(now, ack);
        self.stats.handshakes_completed += 1;
        let h = self.insert_conn(tuple, conn);
        if let Some(l) = self.listeners.get_mut(li) {
            l.accept.push_back(h);
        }
    }

    /// No connection and no half-open entry: a listener, or no TCB.
    fn segment_to_listener(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        hash: u32,
        seg: Segment,
        iss: Option<SeqNum>,
    ) {
        let Some(li) = self.find_listener(&tuple) else {
            self.no_tcb(now, &tuple, &seg);
            return;
        };
        match listen::on_segment(&seg) {
            ListenAction::Ignore | ListenAction::Drop => {}
            ListenAction::Reset => {
                if !self.cookie_ack(now, li, tuple, &seg) {
                    self.no_tcb(now, &tuple, &seg);
                }
            }
            ListenAction::Syn => self.on_syn(now, li, tuple, hash, &seg, iss),
        }
    }

    fn on_syn(
        &mut self,
        now: Instant,
        li: usize,
        tuple: FourTuple,
        hash: u32,
        syn: &Segment,
        iss: Option<SeqNum>,
    ) {
        self.stats.syns_received += 1;
        let Some(l) = self.listeners.get(li) else {
            return;
        };
        if l.accept.len() >= l.backlog {
            self.stats.syns_dropped_accept_full += 1;
            return;
        }
        if self.conn_count >= self.cfg.max_connections || self.under_pressure() {
            self.stats.syns_dropped_limit += 1;
            return;
        }
        let queue_full =
            l.syn_queue >= self.cfg.max_syn_backlog || self.half_count >= self.cfg.max_half_open;
        let cookie = match self.cfg.syn_cookies {
            SynCookies::Always => true,
            SynCookies::WhenFull => queue_full,
            SynCookies::Off => {
                if queue_full {
                    self.stats.syns_dropped_queue_full += 1;
                    return;
                }
                false
            }
        };
        let iss = iss.unwrap_or_else(|| self.isn(now, &tuple));
        if cookie {
            self.send_cookie(now, tuple, syn);
            return;
        }
        let rto = self.cfg.connection.initial_rto;
        let e = HalfOpen::from_syn(tuple, syn, iss, li as u16, now + rto);
        let j = match self.half_free.pop() {
            Some(j) => {
                self.half[j as usize] = Some(e);
                j
            }
            None => {
                self.half.push(Some(e));
                (self.half.len() - 1) as u32
            }
        };
        self.half_count += 1;
        if let Some(l) = self.listeners.get_mut(li) {
            l.syn_queue += 1;
        }
        self.table.insert(hash, Slot::HalfOpen(j));
        self.timers.push(now + rto, Slot::HalfOpen(j));
        self.send_syn_ack(now, &e);
    }

    fn send_syn_ack(&mut self, now: Instant, e: &HalfOpen) {
        let cfg = self.conn_config(&e.tuple);
        let ts = self.ts_offset(&e.tuple);
        if let Some(s) = Connection::syn_ack_for(cfg, ts, &e.syn(), e.iss, now) {
            self.push_reply(&e.tuple, s);
        }
    }

    /// RFC 4987 §3.6: answer with a cookie SYN-ACK and keep nothing.
    fn send_cookie(&mut self, now: Instant, tuple: FourTuple, syn: &Segment) {
        let cfg = self.conn_config(&tuple);
        let idx = cookie::mss_index(&tuple, syn.options.mss.unwrap_or(536));
        let mut s = syn.clone();
        s.payload = Bytes::new();
        s.options.mss = Some(cookie::mss_table(&tuple)[idx as usize]);
        let ts = cfg.timestamps && s.options.timestamps.is_some();
        if !ts {
            // Without timestamps a cookie cannot carry these (as Linux).
            s.options.window_scale = None;
            s.options.sack_permitted = false;
            s.flags = s.flags.without(Flags::ECE).without(Flags::CWR);
        }
        let ecn_setup = s.flags.contains(Flags::ECE.with(Flags::CWR));
        let iss = cookie::make(&self.keys, &tuple, syn.seq, now, idx);
        let ts = self.ts_offset(&tuple);
        let Some(mut synack) = Connection::syn_ack_for(cfg, ts, &s, iss, now) else {
            return;
        };
        if let Some(t) = synack.options.timestamps.as_mut() {
            t.val = cookie::encode_ts(
                t.val,
                cookie::TsOptions {
                    wscale: s.options.window_scale,
                    sack: s.options.sack_permitted,
                    // The SYN-ACK agreed to ECN iff it carries ECE.
                    ecn: ecn_setup && synack.flags.contains(Flags::ECE),
                },
            );
        }
        self.stats.cookies_sent += 1;
        self.push_reply(&tuple, synack);
    }

    /// An ACK to a listener: a cookie handshake completing, if it validates.
    fn cookie_ack(&mut self, now: Instant, li: usize, tuple: FourTuple, seg: &Segment) -> bool {
        let f = seg.flags;
        if self.cfg.syn_cookies == SynCookies::Off || f.syn() || f.rst() || !f.ack() {
            return false;
        }
        let irs = seg.seq.sub(1);
        let iss = seg.ack.sub(1);
        let Some(idx) = cookie::check(&self.keys, &tuple, irs, iss, now) else {
            self.stats.cookies_rejected += 1;
            return false;
        };
        let cfg = self.conn_config(&tuple);
        let mut syn = Segment {
            src_port: seg.src_port,
            dst_port: seg.dst_port,
            seq: irs,
            flags: Flags::SYN,
            window: seg.window,
            ..Segment::default()
        };
        syn.options.mss = Some(cookie::mss_table(&tuple)[idx as usize]);
        if let Some(t) = seg.options.timestamps.filter(|_| cfg.timestamps) {
            let Some(o) = cookie::decode_ts(t.ecr) else {
                self.stats.cookies_rejected += 1;
                return false;
            };
            syn.options.timestamps = Some(Timestamps { val: t.val, ecr: 0 });
            syn.options.window_scale = o.wscale;
            syn.options.sack_permitted = o.sack;
            if o.ecn {
                syn.flags = syn.flags.with(Flags::ECE).with(Flags::CWR);
            }
        }
        if !self.room_to_complete(li) {
            return true; // dropped, and counted; no RST
        }
        self.stats.cookies_accepted += 1;
        self.complete(now, li, tuple, &syn, iss, seg.clone(), None);
        true
    }

    fn remove_half_open(&mut self, j: u32) {
        let Some(e) = self.half.get_mut(j as usize).and_then(Option::take) else {
            return;
        };
        let hash = self.hash(&e.tuple);
        self.table.remove(hash, Slot::HalfOpen(j));
        self.half_free.push(j);
        self.half_count -= 1;
        if let Some(l) = self.listeners.get_mut(usize::from(e.listener)) {
            l.syn_queue = l.syn_queue.saturating_sub(1);
        }
    }

    /// A segment for a compact TIME-WAIT entry: [`crate::timewait`] decides.
    fn segment_to_time_wait(
        &mut self,
        now: Instant,
        j: u32,
        hash: u32,
        tuple: FourTuple,
        seg: Segment,
    ) {
        let Some(e) = self.tw.get(j as usize).copied().flatten() else {
            return;
        };
        let c = &self.cfg.connection;
        match timewait::on_segment(&e.view(), &seg, c.rfc1337, c.rfc5961) {
            // A new SYN with no listener to take it: TIME-WAIT stays and
            // answers with its ACK (as Linux).
            TimeWaitAction::Reopen if self.find_listener(&tuple).is_none() => {
                self.time_wait_ack(now, &e)
            }
            TimeWaitAction::Reopen => {
                let iss = timewait::reincarnation_iss(&e.view());
                self.remove_time_wait(j, hash);
                self.stats.time_wait_reopened += 1;
                self.segment_to_listener(now, tuple, hash, seg, Some(iss));
            }
            TimeWaitAction::Ack { restart } => {
                if restart {
                    let at = now + c.time_wait;
                    if let Some(Some(x)) = self.tw.get_mut(j as usize) {
                        x.deadline = at.total_micros();
                    }
                    self.timers.push(at, Slot::TimeWait(j));
                }
                self.time_wait_ack(now, &e);
            }
            TimeWaitAction::ChallengeAck => self.time_wait_ack(now, &e),
            TimeWaitAction::Close => self.remove_time_wait(j, hash),
            TimeWaitAction::ResetAndClose => {
                if self.reply_allowed(now) {
                    self.push_reply(&tuple, e.reset());
                }
                self.remove_time_wait(j, hash);
            }
            TimeWaitAction::Drop { .. } => {}
        }
    }

    fn time_wait_ack(&mut self, now: Instant, e: &TimeWait) {
        if self.reply_allowed(now) {
            let ts = self.ts_offset(&e.tuple);
            let ts_now = (now.total_millis() as u32).wrapping_add(ts);
            self.push_reply(&e.tuple, e.ack(ts_now));
        }
    }

    fn remove_time_wait(&mut self, j: u32, hash: u32) {
        if self.tw.get_mut(j as usize).and_then(Option::take).is_some() {
            self.table.remove(hash, Slot::TimeWait(j));
            self.tw_free.push(j);
            self.tw_count -= 1;
        }
    }

    /// §3.10.7.1: no TCB. A RST for anything but a RST, within the rate limit.
    fn no_tcb(&mut self, now: Instant, tuple: &FourTuple, seg: &Segment) {
        let Some(rst) = crate::reset_reply(seg) else {
            return;
        };
        if self.reply_allowed(now) {
            self.stats.resets_sent += 1;
            self.push_reply(tuple, rst);
        }
    }

    fn reply_allowed(&mut self, now: Instant) -> bool {
        let Some(limit) = self.cfg.reply_rate_limit else {
            return true;
        };
        let sec = now.total_micros() / 1_000_000;
        if sec != self.reply_second {
            self.reply_second = sec;
            self.replies_this_second = 0;
        }
        if self.replies_this_second >= limit {
            self.stats.replies_rate_limited += 1;
            return false;
        }
        self.replies_this_second += 1;
        true
    }

    fn push_reply(&mut self, tuple: &FourTuple, segment: Segment) {
        if self.replies.len() >= self.cfg.max_pending_replies {
            self.stats.replies_dropped += 1;
            return;
        }
        self.replies.push_back(Transmit {
            src: tuple.local().ip(),
            dst: tuple.remote().ip(),
            segment,
        });
    }

    // ---- output ---------------------------------------------------------

    /// The next segment to send, from the endpoint itself (RSTs, SYN-ACKs,
    /// TIME-WAIT ACKs) or from any connection with something due.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        self.settle_dirty();
        self.outgoing_ip = IpFields {
            ecn: Ecn::NotEct,
            dscp: self.cfg.connection.dscp,
            hop_limit: self.cfg.connection.hop_limit,
        };
        if let Some(t) = self.replies.pop_front() {
            self.stats.segments_out += 1;
            return Some(t);
        }
        while let Some(&i) = self.tx.front() {
            let iu = i as usize;
            if let Some(s) = self.conns.get_mut(iu)
                && let Some(c) = s.conn.as_deref_mut()
                && let Some(segment) = c.poll_transmit(now)
            {
                // Sending arms timers (RTO): register at once.
                register_timer(&mut self.timers, &mut s.timer, c, iu);
                self.outgoing_ip = c.transmit_ip();
                self.stats.segments_out += 1;
                let (src, dst) = (s.tuple.local().ip(), s.tuple.remote().ip());
                return Some(Transmit { src, dst, segment });
            }
            self.tx.pop_front();
            if let Some(s) = self.conns.get_mut(iu) {
                s.flags &= !IN_TX;
            }
            self.settle(iu, true);
        }
        None
    }

    /// Like [`poll_transmit`](Self::poll_transmit), encoding the segment
    /// (header, options, payload, checksum over the pseudo-header) into the
    /// front of `buf`: no allocation. `buf` must hold MSS + 60 octets; a
    /// segment that does not fit is lost (counted by the error).
    pub fn poll_transmit_into(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<Result<Encoded, WireError>> {
        let t = self.poll_transmit(now)?;
        Some(
            t.segment
                .encode(buf, &t.ip_pair(), ChecksumMode::Verify)
                .map(|len| Encoded {
                    src: t.src,
                    dst: t.dst,
                    len,
                }),
        )
    }

    /// The next event of any connection, with its handle. Events of
    /// connections not yet accepted come out too (and of ones that closed
    /// before `accept`: their handles are already stale).
    pub fn poll_event(&mut self) -> Option<(ConnectionHandle, Event)> {
        self.settle_dirty();
        if let Some(e) = self.final_events.pop_front() {
            return Some(e);
        }
        while let Some(&i) = self.ev.front() {
            let iu = i as usize;
            let h = self.handle_of(iu);
            if let Some(c) = self.conns.get_mut(iu).and_then(|s| s.conn.as_deref_mut())
                && let Some(e) = c.poll_event()
            {
                return Some((h, e));
            }
            self.ev.pop_front();
            if let Some(s) = self.conns.get_mut(iu) {
                s.flags &= !IN_EV;
            }
        }
        None
    }

    // ---- timers ---------------------------------------------------------

    /// The earliest deadline of every connection and entry: call
    /// [`handle_timeout`](Self::handle_timeout) then. `None` when nothing waits.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.settle_dirty();
        while let Some((at, owner)) = self.timers.peek() {
            if self.timer_live(at, owner) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// Handles everything whose deadline is at or before `now`, and nothing else.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.settle_dirty();
        while let Some((at, owner)) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if !self.timer_live(at, owner) {
                continue;
            }
            match owner {
                Slot::Conn(i) => {
                    let iu = i as usize;
                    if let Some(s) = self.conns.get_mut(iu) {
                        s.timer = NO_TIMER;
                        if let Some(c) = s.conn.as_deref_mut() {
                            c.handle_timeout(now);
                        }
                    }
                    self.settle(iu, false);
                }
                Slot::HalfOpen(j) => self.half_open_timeout(now, j),
                Slot::TimeWait(j) => {
                    if let Some(Some(e)) = self.tw.get(j as usize) {
                        let hash = self.hash(&e.tuple);
                        self.remove_time_wait(j, hash);
                    }
                }
            }
        }
        self.maybe_purge_timers();
    }

    /// Drops stale heap entries once they outnumber the live owners: the
    /// heap stays within twice the entries (plus a constant), whatever the
    /// caller's pattern of calls.
    fn maybe_purge_timers(&mut self) {
        let live = self.conn_count + self.half_count + self.tw_count;
        if self.timers.len() > 2 * live + 1024 {
            let (conns, half, tw) = (&self.conns, &self.half, &self.tw);
            self.timers
                .purge(|at, owner| timer_live(conns, half, tw, at, owner));
        }
    }

    fn timer_live(&self, at: Instant, owner: Slot) -> bool {
        timer_live(&self.conns, &self.half, &self.tw, at, owner)
    }

    fn half_open_timeout(&mut self, now: Instant, j: u32) {
        let Some(mut e) = self.half.get(j as usize).copied().flatten() else {
            return;
        };
        let c = &self.cfg.connection;
        if u32::from(e.retries) >= c.synack_retries {
            self.stats.half_open_expired += 1;
            self.remove_half_open(j);
            return;
        }
        e.retries += 1;
        let backoff = c
            .initial_rto
            .saturating_mul(1 << u32::from(e.retries).min(16))
            .min(c.max_rto);
        let at = now + backoff;
        e.deadline = at.total_micros();
        self.half[j as usize] = Some(e);
        self.timers.push(at, Slot::HalfOpen(j));
        self.stats.synack_retransmits += 1;
        self.send_syn_ack(now, &e);
    }

    // ---- bookkeeping ------------------------------------------------------

    fn hash(&self, t: &FourTuple) -> u32 {
        self.keys.demux.tuple_fast(t) as u32
    }

    fn lookup(&self, hash: u32, t: &FourTuple) -> Option<Slot> {
        let (conns, half, tw) = (&self.conns, &self.half, &self.tw);
        self.table.find(hash, |s| match s {
            Slot::Conn(i) => conns.get(i as usize).is_some_and(|c| c.tuple == *t),
            Slot::HalfOpen(j) => half
                .get(j as usize)
                .is_some_and(|e| e.is_some_and(|e| e.tuple == *t)),
            Slot::TimeWait(j) => tw
                .get(j as usize)
                .is_some_and(|e| e.is_some_and(|e| e.tuple == *t)),
        })
    }

    /// RFC 6528: ISN = M + F(4-tuple, secret), M a 4 µs clock.
    fn isn(&self, now: Instant, t: &FourTuple) -> SeqNum {
        let m = (now.total_micros() / 4) as u32;
        SeqNum(m.wrapping_add(self.keys.isn.tuple(t, 0) as u32))
    }

    /// The connection settings for `t`'s family (shared, not copied).
    fn conn_config(&self, t: &FourTuple) -> Arc<Config> {
        if t.v6 {
            self.conn_v6.clone()
        } else {
            self.conn_v4.clone()
        }
    }

    /// `t`'s own timestamp offset (RFC 7323 §7.1).
    fn ts_offset(&self, t: &FourTuple) -> u32 {
        self.keys.ts.tuple(t, 0) as u32
    }

    fn under_pressure(&self) -> bool {
        let limit = self.cfg.buffer_budget / 100 * usize::from(self.cfg.buffer_pressure_percent);
        self.buffered > limit
    }

    fn insert_conn(&mut self, tuple: FourTuple, conn: Connection) -> ConnectionHandle {
        let hash = self.hash(&tuple);
        let conn = Box::new(conn);
        let i = match self.conn_free.pop() {
            Some(i) => {
                let s = &mut self.conns[i as usize];
                s.hash = hash;
                s.tuple = tuple;
                s.timer = NO_TIMER;
                s.accounted = 0;
                s.flags &= !SHRUNK;
                s.conn = Some(conn);
                i as usize
            }
            None => {
                self.conns.push(ConnSlot {
                    generation: 0,
                    flags: 0,
                    hash,
                    tuple,
                    timer: NO_TIMER,
                    accounted: 0,
                    conn: Some(conn),
                });
                self.conns.len() - 1
            }
        };
        self.conn_count += 1;
        self.table.insert(hash, Slot::Conn(i as u32));
        self.settle(i, false);
        self.handle_of(i)
    }

    fn mark_dirty(&mut self, i: usize) {
        if let Some(s) = self.conns.get_mut(i)
            && s.flags & DIRTY == 0
        {
            s.flags |= DIRTY;
            self.dirty.push(i as u32);
        }
    }

    fn settle_dirty(&mut self) {
        while let Some(i) = self.dirty.pop() {
            if let Some(s) = self.conns.get_mut(i as usize) {
                s.flags &= !DIRTY;
            }
            self.settle(i as usize, false);
        }
    }

    /// Takes note of what changed in connection `i`: its deadline, whether
    /// it has output or events, its buffers; frees it, or moves it to a
    /// TIME-WAIT entry, once it is done. `drained`: `poll_transmit` just
    /// returned `None` for it.
    fn settle(&mut self, i: usize, drained: bool) {
        let pressure = self.under_pressure();
        let full = self.cfg.connection.recv_buffer;
        let Some(s) = self.conns.get_mut(i) else {
            return;
        };
        let ConnSlot {
            conn,
            timer,
            accounted,
            flags,
            ..
        } = s;
        let Some(c) = conn.as_deref_mut() else {
            return;
        };
        // tcp_mem pressure: receive buffers shrink to a few segments (the
        // window already advertised is kept, SHLD-14), and grow back after.
        // (The connection keeps its buffer at least as large as what it
        // holds plus the window advertised: it reaches the target as the
        // peer uses that window up, so the target is applied on every touch.)
        if pressure {
            let target = (4 * usize::from(c.config().mss)).min(full);
            if c.recv_buffer() > target {
                c.resize_recv_buffer(target);
            }
            *flags |= SHRUNK;
        } else if *flags & SHRUNK != 0 {
            c.resize_recv_buffer(full);
            *flags &= !SHRUNK;
        }
        let c = &*c;
        let b = c.buffered();
        self.buffered = self.buffered - *accounted + b;
        *accounted = b;
        register_timer(&mut self.timers, timer, c, i);
        let output = !drained && c.may_transmit();
        if output && *flags & IN_TX == 0 {
            *flags |= IN_TX;
            self.tx.push_back(i as u32);
        }
        if c.has_events() && *flags & IN_EV == 0 {
            *flags |= IN_EV;
            self.ev.push_back(i as u32);
        }
        // Done: nothing left to send, nothing left to read.
        let done = (drained || !c.may_transmit()) && c.unread() == 0;
        match c.state() {
            State::TimeWait if done => self.enter_time_wait(i),
            State::Closed if done => self.free_conn(i, None),
            _ => {}
        }
    }

    fn enter_time_wait(&mut self, i: usize) {
        let Some(s) = self.conns.get(i) else { return };
        let Some(c) = s.conn.as_deref() else { return };
        if self.tw_count >= self.cfg.max_time_wait {
            self.stats.time_wait_overflow += 1;
            self.free_conn(i, Some(Event::Closed(CloseReason::Normal)));
            return;
        }
        let Some(deadline) = c.poll_timeout() else {
            // TIME-WAIT always runs its 2·MSL timer; without one, just close.
            self.free_conn(i, Some(Event::Closed(CloseReason::Normal)));
            return;
        };
        let e = TimeWait::new(s.tuple, c.time_wait_view(), c.rcv_wscale_in_use(), deadline);
        let hash = s.hash;
        let j = match self.tw_free.pop() {
            Some(j) => {
                self.tw[j as usize] = Some(e);
                j
            }
            None => {
                self.tw.push(Some(e));
                (self.tw.len() - 1) as u32
            }
        };
        self.tw_count += 1;
        self.stats.time_wait_entered += 1;
        self.timers.push(deadline, Slot::TimeWait(j));
        self.table
            .replace(hash, Slot::Conn(i as u32), Slot::TimeWait(j));
        self.release_slot(i, Some(Event::Closed(CloseReason::Normal)));
    }

    /// Frees connection `i`: out of the table, its events kept for the application.
    fn free_conn(&mut self, i: usize, last: Option<Event>) {
        let Some(s) = self.conns.get(i) else { return };
        let (hash, slot) = (s.hash, Slot::Conn(i as u32));
        self.table.remove(hash, slot);
        self.release_slot(i, last);
    }

    fn release_slot(&mut self, i: usize, last: Option<Event>) {
        let h = self.handle_of(i);
        let Some(s) = self.conns.get_mut(i) else {
            return;
        };
        let Some(mut c) = s.conn.take() else { return };
        self.buffered -= s.accounted;
        s.accounted = 0;
        s.timer = NO_TIMER;
        s.generation = s.generation.wrapping_add(1);
        self.conn_free.push(i as u32);
        self.conn_count -= 1;
        let mut saw_closed = false;
        while let Some(e) = c.poll_event() {
            saw_closed |= matches!(e, Event::Closed(_));
            self.push_final(h, e);
        }
        if let Some(e) = last
            && !saw_closed
        {
            self.push_final(h, e);
        }
    }

    fn push_final(&mut self, h: ConnectionHandle, e: Event) {
        if self.final_events.len() >= MAX_FINAL_EVENTS {
            self.final_events.pop_front();
            self.stats.events_dropped += 1;
        }
        self.final_events.push_back((h, e));
    }
}

/// Registers connection `i`'s deadline in the heap: an earlier deadline is
/// pushed; a later one waits for the registered entry to fire (one spurious
/// wake instead of a push per segment); no deadline makes the registered
/// entry stale.
#[inline]
fn register_timer(timers: &mut TimerHeap, timer: &mut u64, c: &Connection, i: usize) {
    match c.poll_timeout() {
        Some(d) if d.total_micros() < *timer => {
            *timer = d.total_micros();
            timers.push(d, Slot::Conn(i as u32));
        }
        Some(_) => {}
        None => *timer = NO_TIMER,
    }
}

fn timer_live(
    conns: &[ConnSlot],
    half: &[Option<HalfOpen>],
    tw: &[Option<TimeWait>],
    at: Instant,
    owner: Slot,
) -> bool {
    match owner {
        Slot::Conn(i) => conns
            .get(i as usize)
            .is_some_and(|s| s.conn.is_some() && s.timer == at.total_micros()),
        Slot::HalfOpen(j) => half
            .get(j as usize)
            .is_some_and(|e| e.is_some_and(|e| e.deadline == at.total_micros())),
        Slot::TimeWait(j) => tw
            .get(j as usize)
            .is_some_and(|e| e.is_some_and(|e| e.deadline == at.total_micros())),
    }
}
