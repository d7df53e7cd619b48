//! # tcp-proto
//!
//! A complete TCP (RFC 9293) in sans-IO form: segments, timer ticks and
//! application calls go in; segments, events and the next deadline come out.
//! The crate opens no socket, reads no clock and draws no random number:
//! `now` is an argument, and the caller supplies secrets and addresses.
//!
//! ## A host: the [`Endpoint`](endpoint::Endpoint)
//!
//! An [`endpoint::Endpoint`] is a whole host's TCP: it takes segments with
//! their IP addresses (IPv4 and IPv6 side by side), finds the connection by
//! the full 4-tuple, listens with a backlog (compact SYN queue, SYN cookies),
//! picks RFC 6528 ISNs from the caller's secret, answers strangers with RST,
//! keeps TIME-WAIT in 64-octet entries, and runs every timer from one heap.
//! Two endpoints over an in-memory link:
//!
//! ```
//! use tcp_proto::endpoint::{Endpoint, EndpointConfig};
//! use tcp_proto::Instant;
//! use std::net::SocketAddr;
//!
//! let now = Instant::ZERO;
//! // The secret comes from the OS (getrandom); fixed here for the example.
//! let mut server = Endpoint::new(EndpointConfig::default(), [1; 16]).unwrap();
//! let mut client = Endpoint::new(EndpointConfig::default(), [2; 16]).unwrap();
//! let listener = server.listen(None, 80, 128).unwrap();
//! let local: SocketAddr = "[2001:db8::2]:0".parse().unwrap(); // port 0: ephemeral
//! let remote: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
//! let c = client.connect(now, local, remote).unwrap();
//!
//! fn pump(now: Instant, a: &mut Endpoint, b: &mut Endpoint) {
//!     loop {
//!         let mut moved = false;
//!         while let Some(t) = a.poll_transmit(now) { b.handle_segment(now, t.src, t.dst, t.segment); moved = true; }
//!         while let Some(t) = b.poll_transmit(now) { a.handle_segment(now, t.src, t.dst, t.segment); moved = true; }
//!         if !moved { break; }
//!     }
//! }
//! pump(now, &mut client, &mut server);
//! let s = server.accept(listener).unwrap();
//! client.send(c, b"GET /").unwrap();
//! pump(now, &mut client, &mut server);
//! let mut buf = [0u8; 64];
//! let n = server.recv(s, &mut buf).unwrap();
//! assert_eq!(&buf[..n], b"GET /");
//! while let Some((handle, event)) = server.poll_event() {
//!     println!("{handle:?}: {event:?}");
//! }
//! // Sleep until the earliest deadline of every connection, then:
//! if let Some(t) = server.poll_timeout() { server.handle_timeout(t); }
//! ```
//!
//! ## Driving tcp-proto from your event loop
//!
//! The crate does no IO and keeps no time, so whatever runs an `Endpoint`
//! (a blocking loop, epoll, tokio, an embedded superloop) does the same
//! four things, over and over:
//!
//! 1. **feed segments**: each IP packet from the network goes to
//!    [`Endpoint::handle_packet`](endpoint::Endpoint::handle_packet) with its
//!    addresses ([`ip::parse`] finds them and the TCP octets in a raw IPv4 or
//!    IPv6 packet). Read into a [`bytes::BytesMut`] and `split().freeze()`
//!    it: received payloads are then slices of your buffer, never copies;
//! 2. **poll transmits**: after any input (a packet, a timeout, an
//!    application call such as `send`, `recv`, `close`), call
//!    [`poll_transmit_into`](endpoint::Endpoint::poll_transmit_into) until
//!    `None`, each segment encoded straight into your send buffer behind
//!    room for its IP header ([`ip::write_header`]);
//! 3. **poll events**: [`poll_event`](endpoint::Endpoint::poll_event) until
//!    `None`, and wake whoever waits on that connection (`Readable`,
//!    `Writable`, `Connected`, `Closed`, or an `accept` for a new one);
//! 4. **sleep until [`poll_timeout`](endpoint::Endpoint::poll_timeout)**, or
//!    until a packet arrives or the application acts, whichever is first;
//!    then [`handle_timeout`](endpoint::Endpoint::handle_timeout) with the
//!    current time (it does only what is due, so calling it early is fine).
//!
//! `now` is any monotonic clock as an [`Instant`] (microseconds from an
//! epoch you choose); it must not go backwards. The loop, with the device
//! and clock left to you:
//!
//! ```
//! use bytes::BytesMut;
//! use tcp_proto::endpoint::{ConnectionHandle, Endpoint};
//! use tcp_proto::{Event, Instant, ip};
//!
//! /// What the loop needs from the world.
//! trait Io {
//!     fn now(&self) -> Instant;
//!     /// Blocks until a packet is in `buf` (its length returned), the
//!     /// application wakes the loop (`Some(0)`), or `deadline` passes (`None`).
//!     fn wait(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> Option<usize>;
//!     fn send(&mut self, packet: &[u8]);
//! }
//!
//! fn run(ep: &mut Endpoint, io: &mut impl Io, mut wake: impl FnMut(ConnectionHandle, Event)) {
//!     let mut rx = BytesMut::new();
//!     let mut tx = vec![0u8; ip::MAX_HEADER_LEN + 65_535];
//!     loop {
//!         // 4. Sleep until a packet, the application or the next deadline.
//!         rx.resize(65_535, 0);
//!         let got = io.wait(&mut rx, ep.poll_timeout());
//!         let now = io.now();
//!         // 1. Feed segments (the payload stays in `rx`'s storage).
//!         if let Some(n) = got.filter(|&n| n > 0) {
//!             rx.truncate(n);
//!             let packet = rx.split().freeze();
//!             if let Some(t) = ip::parse(&packet) {
//!                 let _ = ep.handle_packet(now, t.src, t.dst, &packet.slice(t.tcp));
//!             }
//!         }
//!         ep.handle_timeout(now);
//!         // 2. Poll transmits, each behind its IP header.
//!         while let Some(r) = ep.poll_transmit_into(now, &mut tx[ip::MAX_HEADER_LEN..]) {
//!             let Ok(e) = r else { continue };
//!             let at = ip::MAX_HEADER_LEN - ip::header_len(&e.ip_pair());
//!             ip::write_header(&mut tx[at..], &e.ip_pair(), e.len);
//!             io.send(&tx[at..ip::MAX_HEADER_LEN + e.len]);
//!         }
//!         // 3. Poll events: wake the readers, writers and acceptors.
//!         while let Some((h, event)) = ep.poll_event() {
//!             wake(h, event);
//!         }
//!     }
//! }
//! ```
//!
//! The application's own calls (`send`, `recv`, `accept`, `close`) go to the
//! same `Endpoint` between rounds, and then wake the loop so that step 2
//! runs: a `recv` may owe the peer a window update, a `send` new segments.
//!
//! **The worked example is the tokio driver**, the `tcp-proto-tokio` crate
//! in this repository ([its docs](../tcp_proto_tokio/index.html) when built
//! with `cargo doc -p tcp-proto -p tcp-proto-tokio`): one task owns the TUN
//! device and runs this loop with `tokio::select!` over a packet, a
//! `Notify` from the streams and `sleep_until(poll_timeout)`, and its
//! `TcpStream` is `AsyncRead` + `AsyncWrite` with backpressure from the
//! send buffer. `examples/tun.rs` is the same loop on blocking `poll(2)`.
//!
//! ## One connection: [`Connection`]
//!
//! [`Connection`] is one TCB as a pure state machine, for callers that
//! demultiplex themselves (the `Endpoint` is built on it):
//!
//! ```
//! use tcp_proto::{Config, Connection, Event, Instant, SeqNum, State};
//!
//! let mut now = Instant::ZERO;
//! let mut client = Connection::connect(Config::default(), 40000, 80, SeqNum(7), now).unwrap();
//! let mut server = Connection::listen(Config::default(), 80, SeqNum(4_000_000_000)).unwrap();
//!
//! // A perfect wire: move every segment across until both sides are quiet.
//! fn pump(now: Instant, a: &mut Connection, b: &mut Connection) {
//!     loop {
//!         let mut moved = false;
//!         while let Some(seg) = a.poll_transmit(now) { b.handle_segment(now, seg); moved = true; }
//!         while let Some(seg) = b.poll_transmit(now) { a.handle_segment(now, seg); moved = true; }
//!         if !moved { break; }
//!     }
//! }
//!
//! pump(now, &mut client, &mut server);
//! assert_eq!((client.state(), server.state()), (State::Established, State::Established));
//!
//! client.send(b"hello").unwrap();
//! pump(now, &mut client, &mut server);
//! let mut buf = [0u8; 16];
//! let n = server.recv(&mut buf).unwrap();
//! assert_eq!(&buf[..n], b"hello");
//!
//! // Four-way close; the client waits out TIME-WAIT on the virtual clock.
//! client.close(now).unwrap();
//! pump(now, &mut client, &mut server);
//! server.close(now).unwrap();
//! pump(now, &mut client, &mut server);
//! assert_eq!((client.state(), server.state()), (State::TimeWait, State::Closed));
//! now = client.poll_timeout().unwrap();
//! client.handle_timeout(now);
//! assert_eq!(client.state(), State::Closed);
//! assert!(std::iter::from_fn(|| client.poll_event()).any(|e| matches!(e, Event::Closed(_))));
//! ```
//!
//! Layout: [`endpoint`] is the host (demux, listeners, cookies, TIME-WAIT
//! table, timers), [`wire`] is the codec (segments, options, checksum), [`seq`] the
//! modular sequence numbers, [`state`] the states and the legal-edge table,
//! [`config`] the settings with Linux and RFC presets, [`Connection`] the
//! state machine, [`cc`] congestion control, [`ip`] IPv4/IPv6 framing for
//! drivers that move raw packets, [`pcap`] captures for Wireshark (written
//! and read), `plot` (feature `plot`) ladder diagrams and time-sequence
//! graphs as SVG, and `sim` (feature `sim`) a deterministic lossy network
//! for tests.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

extern crate alloc;

mod buffer;
pub mod cc;
pub mod config;
mod connection;
pub mod endpoint;
pub mod event;
pub mod icmp;
pub mod ip;
mod listen;
pub mod pcap;
#[cfg(feature = "plot")]
pub mod plot;
mod recovery;
pub mod seq;
#[cfg(feature = "sim")]
pub mod sim;
pub mod state;
pub mod time;
mod timewait;
pub mod wire;

pub use config::{
    CLOCK_RESOLUTION, Config, ConfigError, CongestionAlgorithm, EcnMode, Keepalive, ValidConfig,
};
pub use connection::{Connection, Stats, TcpInfo, reset_reply};
pub use event::{CloseReason, Error, Event};
pub use icmp::{IcmpCause, IcmpError};
pub use seq::SeqNum;
pub use state::State;
pub use time::Instant;
pub use wire::{ChecksumMode, Ecn, Flags, IpPair, Options, Segment, WireError};
