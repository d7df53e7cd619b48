//! # tcp-proto
//!
//! A complete TCP (RFC 9293) in sans-IO form.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
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

pub use config::{Config, ConfigError, CongestionAlgorithm, Keepalive};
pub use connection::{Connection, Stats};
pub use event::{CloseReason, Error, Event};
pub use seq::SeqNum;
pub use state::State;
pub use time::Instant;
pub use wire::{ChecksumMode, Flags, IpPair, Options, Segment, WireError};
