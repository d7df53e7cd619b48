//! # tcp-proto
//!
//! A complete TCP (RFC 9293) in sans-IO form: segments, timer ticks and
//! application calls go in; segments, events and the next deadline come out.
//! The crate opens no socket, reads no clock and draws no random number:
//! `now` is an argument, and the caller picks initial sequence numbers.
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
//! Layout: [`wire`] is the codec (segments, options, checksum), [`seq`] the
//! modular sequence numbers, [`state`] the states and the legal-edge table,
//! [`config`] the settings with Linux and RFC presets, [`Connection`] the
//! state machine, [`cc`] congestion control, [`pcap`] captures for
//! Wireshark, and `sim` (feature `sim`) a deterministic lossy network for
//! tests.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

extern crate alloc;

mod buffer;
pub mod cc;
pub mod config;
mod connection;
pub mod event;
pub mod pcap;
pub mod seq;
#[cfg(feature = "sim")]
pub mod sim;
pub mod state;
pub mod time;
pub mod wire;

pub use config::{CLOCK_RESOLUTION, Config, ConfigError, CongestionAlgorithm, Keepalive};
pub use connection::{Connection, Stats, reset_reply};
pub use event::{CloseReason, Error, Event};
pub use seq::SeqNum;
pub use state::State;
pub use time::Instant;
pub use wire::{ChecksumMode, Flags, IpPair, Options, Segment, WireError};
